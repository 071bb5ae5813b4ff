// Tool use: parsing tool calls in the formats real chat templates teach (checked against what
// the shared templates themselves render for a call), the tool-call loop driven by a fake
// generator, rendering tools through templates, the streaming filter, and the built-in tools.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/chat_template.h"
#include "engine/error.h"
#include "reason/builtin_tools.h"
#include "reason/path_access.h"
#include "reason/tool_calls.h"
#include "reason/tool_use.h"
#include "tests/support.h"

namespace ponder {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

ParsedToolCalls parse(std::string_view text, std::vector<std::string> known = {}) {
    return parse_tool_calls(text, known);
}

// ---- the parser on each format --------------------------------------------------------------

TEST(ToolCallParser, QwenAndHermesToolCallTags) {
    auto p = parse(
        "Let me compute that.\n<tool_call>\n{\"name\": \"calculator\", \"arguments\": "
        "{\"expression\": \"17*23\"}}\n</tool_call>");
    ASSERT_EQ(p.calls.size(), 1u);
    EXPECT_EQ(p.calls[0].name, "calculator");
    EXPECT_EQ(p.calls[0].arguments["expression"], "17*23");
    EXPECT_EQ(p.content, "Let me compute that.");
    EXPECT_TRUE(p.malformed.empty());

    // Several calls, arguments as a JSON string, braces inside strings, no closing tag at the end.
    p = parse(
        "<tool_call>{\"name\": \"a\", \"arguments\": \"{\\\"x\\\": 1}\"}</tool_call>\n"
        "<tool_call>{\"name\": \"b\", \"arguments\": {\"s\": \"} not the end {\"}}</tool_call>"
        "<tool_call>{\"name\": \"c\", \"arguments\": {}}");
    ASSERT_EQ(p.calls.size(), 3u);
    EXPECT_EQ(p.calls[0].arguments["x"], 1);
    EXPECT_EQ(p.calls[1].arguments["s"], "} not the end {");
    EXPECT_EQ(p.calls[2].name, "c");
    EXPECT_EQ(p.content, "");
}

TEST(ToolCallParser, LlamaJsonPythonTagAndFunctionTags) {
    auto p = parse("{\"name\": \"calculator\", \"parameters\": {\"expression\": \"2+2\"}}");
    ASSERT_EQ(p.calls.size(), 1u);
    EXPECT_EQ(p.calls[0].arguments["expression"], "2+2");

    p = parse(
        "<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": "
        "{\"k\": 2}}");
    ASSERT_EQ(p.calls.size(), 2u);
    EXPECT_EQ(p.calls[1].name, "b");
    EXPECT_EQ(p.calls[1].arguments["k"], 2);

    // Builtin tools: <|python_tag|>name.call(key="value")
    p = parse("<|python_tag|>brave_search.call(query=\"weather in Paris\", count=3)");
    ASSERT_EQ(p.calls.size(), 1u);
    EXPECT_EQ(p.calls[0].name, "brave_search");
    EXPECT_EQ(p.calls[0].arguments["query"], "weather in Paris");
    EXPECT_EQ(p.calls[0].arguments["count"], 3);

    p = parse("Checking.<function=calculator>{\"expression\": \"1/3\"}</function>");
    ASSERT_EQ(p.calls.size(), 1u);
    EXPECT_EQ(p.calls[0].arguments["expression"], "1/3");
    EXPECT_EQ(p.content, "Checking.");

    // A JSON answer is no call when it names no known tool.
    p = parse("{\"name\": \"Ada\", \"parameters\": {}}", {"calculator"});
    EXPECT_TRUE(p.calls.empty());
    EXPECT_EQ(p.content, "{\"name\": \"Ada\", \"parameters\": {}}");
    p = parse("```json\n{\"name\": \"calculator\", \"parameters\": {\"expression\": \"1\"}}\n```",
              {"calculator"});
    EXPECT_EQ(p.calls.size(), 1u);
}

TEST(ToolCallParser, MistralAndCommandR) {
    auto p = parse(
        "[TOOL_CALLS][{\"name\": \"calculator\", \"arguments\": {\"expression\": \"3*4\"}, \"id\": "
        "\"abcDEF123\"}]");
    ASSERT_EQ(p.calls.size(), 1u);
    EXPECT_EQ(p.calls[0].id, "abcDEF123");
    // [TOOL_CALLS] is a special token that plain decoding drops: the bare list still counts.
    p = parse(" [{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": {}}]");
    EXPECT_EQ(p.calls.size(), 2u);
    // The newer Mistral form.
    p = parse("[TOOL_CALLS]calculator[ARGS]{\"expression\": \"5-1\"}");
    ASSERT_EQ(p.calls.size(), 1u);
    EXPECT_EQ(p.calls[0].arguments["expression"], "5-1");

    p = parse(
        "Action: ```json\n[\n    {\n        \"tool_name\": \"calculator\",\n        "
        "\"parameters\": {\"expression\": \"9/3\"}\n    }\n]\n```");
    ASSERT_EQ(p.calls.size(), 1u);
    EXPECT_EQ(p.calls[0].name, "calculator");
    p = parse("Action: ```json\n[{\"tool_name\": \"directly-answer\", \"parameters\": {}}]\n```");
    EXPECT_TRUE(p.calls.empty());
    // A name that is not a string is a malformed call, not an exception (found by fuzz_tool_calls).
    p = parse("Action: ```json\n[{\"tool_name\":{\"tool_name\": \"BBB\"}}]\n```");
    EXPECT_TRUE(p.calls.empty());
    EXPECT_EQ(p.malformed.size(), 1u);
    // "Action:" in prose is prose.
    p = parse("Action: none needed, the answer is 4.");
    EXPECT_TRUE(p.calls.empty());
    EXPECT_EQ(p.content, "Action: none needed, the answer is 4.");
}

TEST(ToolCallParser, ProseAndMalformedCalls) {
    auto p = parse("The answer is {probably} 4.");
    EXPECT_TRUE(p.calls.empty());
    EXPECT_EQ(p.content, "The answer is {probably} 4.");
    p = parse("<tool_call>{\"name\": \"calc\", \"arguments\": {\"x\": </tool_call> so");
    EXPECT_TRUE(p.calls.empty());
    ASSERT_EQ(p.malformed.size(), 1u);
    p = parse("<tool_call>{\"arguments\": {}}</tool_call>");
    EXPECT_TRUE(p.calls.empty());
    EXPECT_NE(p.malformed.at(0).find("name"), std::string::npos);
    p = parse("<tool_call>{\"name\": \"a\", \"arguments\": [1]}</tool_call>");
    EXPECT_TRUE(p.calls.empty());
    EXPECT_EQ(p.malformed.size(), 1u);
    p = parse("");
    EXPECT_TRUE(p.calls.empty());
    // Deep nesting and unbalanced input stay bounded.
    p = parse("<tool_call>" + std::string(10000, '['));
    EXPECT_TRUE(p.calls.empty());
}

// ---- the parser on what real templates render ---------------------------------------------

Tool calculator_definition() {
    Tool t = calculator_tool();
    return t;
}

ChatTemplate load_template(const std::string& name) {
    return ChatTemplate::parse(test::read_file(test::shared_dir() / "templates" / name));
}

ChatTemplateOptions plain_options() {
    ChatTemplateOptions o;
    o.bos_token = "<s>";
    o.eos_token = "</s>";
    o.now = std::chrono::system_clock::from_time_t(1795000000);
    return o;
}

// What the model generates for a call, as the template shows the call in a conversation: the
// text between the generation prompt and the end-of-turn token (which generation stops at).
std::string rendered_call(const ChatTemplate& tmpl, const json& call_message) {
    std::vector<Tool> tools{calculator_definition()};
    json messages = json::array({{{"role", "user"}, {"content", "What is 17*23?"}}});
    ChatTemplateOptions with_prompt = plain_options();
    with_prompt.tools = tool_schemas(tools);
    std::string prefix = tmpl.render(messages, with_prompt);
    messages.push_back(call_message);
    ChatTemplateOptions without = with_prompt;
    without.add_generation_prompt = false;
    std::string full = tmpl.render(messages, without);
    EXPECT_EQ(full.substr(0, prefix.size()), prefix);
    std::string generated = full.substr(std::min(prefix.size(), full.size()));
    for (std::string_view end : {"<|im_end|>", "<|eot_id|>", "<|eom_id|>", "</s>"}) {
        if (size_t at = generated.find(end); at != std::string::npos) generated.resize(at);
    }
    return generated;
}

TEST(ToolCallParser, ReadsTheCallsRealTemplatesRender) {
    PONDER_REQUIRE_SHARED("templates/Qwen-Qwen2.5-7B-Instruct.jinja");
    const json call_message = {
        {"role", "assistant"},
        {"content", ""},
        {"tool_calls",
         json::array({{{"id", "call00001"},
                       {"type", "function"},
                       {"function",
                        {{"name", "calculator"}, {"arguments", {{"expression", "17*23"}}}}}}})}};
    int checked = 0;
    for (const char* name :
         {"Qwen-Qwen2.5-7B-Instruct.jinja", "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja",
          "meta-llama-Llama-3.1-8B-Instruct.jinja", "meta-llama-Llama-3.2-3B-Instruct.jinja",
          "mistralai-Mistral-Nemo-Instruct-2407.jinja"}) {
        SCOPED_TRACE(name);
        const std::string generated = rendered_call(load_template(name), call_message);
        const ParsedToolCalls p =
            parse_tool_calls(generated, std::vector<std::string>{"calculator"});
        ASSERT_EQ(p.calls.size(), 1u) << generated;
        EXPECT_EQ(p.calls[0].name, "calculator");
        EXPECT_EQ(p.calls[0].arguments, json({{"expression", "17*23"}}));
        EXPECT_TRUE(p.content.empty()) << p.content;
        ++checked;
    }
    EXPECT_EQ(checked, 5);
}

// ---- rendering tools ---------------------------------------------------------------------

json conversation_with_call() {
    return json::array(
        {{{"role", "system"}, {"content", "Use tools when useful."}},
         {{"role", "user"}, {"content", "What is 17*23?"}},
         {{"role", "assistant"},
          {"content", ""},
          {"tool_calls",
           json::array({{{"id", "call00001"},
                         {"type", "function"},
                         {"function",
                          {{"name", "calculator"}, {"arguments", {{"expression", "17*23"}}}}}}})}},
         {{"role", "tool"},
          {"tool_call_id", "call00001"},
          {"name", "calculator"},
          {"content", "391"}}});
}

TEST(ToolRendering, TemplatesWithToolsGetThemAsTheyAre) {
    PONDER_REQUIRE_SHARED("templates/expected.json");
    // The shared reference rendering of the "tools" conversation, through render_with_tools.
    auto expected =
        nlohmann::json::parse(test::read_file(test::shared_dir() / "templates/expected.json"));
    auto conversations =
        nlohmann::json::parse(test::read_file(test::shared_dir() / "templates/conversations.json"));
    json messages;
    for (const auto& c : conversations) {
        if (c["name"] == "tools") messages = c["messages"];
    }
    std::vector<Tool> tools{calculator_tool()};
    tools[0].definition.description = "Evaluate an arithmetic expression exactly.";
    tools[0].definition.parameters["properties"]["expression"]["description"] = "e.g. 17*23";
    int checked = 0;
    for (const auto& e : expected) {
        if (e["case"] != "tools" || !e.contains("rendered")) continue;
        const std::string name = e["template"];
        if (name.find("Qwen2.5") == std::string::npos &&
            name.find("Mistral") == std::string::npos &&
            name.find("Llama-3.1") == std::string::npos &&
            name.find("Hermes") == std::string::npos) {
            continue;
        }
        SCOPED_TRACE(name);
        EXPECT_EQ(render_with_tools(load_template(name), plain_options(), messages, tools),
                  e["rendered"].get<std::string>());
        ++checked;
    }
    EXPECT_EQ(checked, 4);

    // A whole exchange, call and result, renders in every tool-using template.
    for (const char* name :
         {"Qwen-Qwen2.5-7B-Instruct.jinja", "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja",
          "meta-llama-Llama-3.1-8B-Instruct.jinja", "mistralai-Mistral-Nemo-Instruct-2407.jinja"}) {
        SCOPED_TRACE(name);
        std::string text;
        ASSERT_NO_THROW(text = render_with_tools(load_template(name), plain_options(),
                                                 conversation_with_call(), tools));
        EXPECT_NE(text.find("391"), std::string::npos) << text;
        EXPECT_NE(text.find("17*23"), std::string::npos) << text;
    }
}

TEST(ToolRendering, TemplatesWithoutToolsGetAHermesSection) {
    std::vector<Tool> tools{calculator_tool()};
    const std::string text =
        render_with_tools(ChatTemplate::chatml(), plain_options(), conversation_with_call(), tools);
    EXPECT_NE(text.find("<|im_start|>system\nUse tools when useful.\n\n# Tools"), std::string::npos)
        << text;
    EXPECT_NE(text.find("\"name\": \"calculator\""), std::string::npos) << text;
    // The call and its result become text the template can show.
    EXPECT_NE(text.find("<|im_start|>assistant\n<tool_call>\n{\"name\": \"calculator\", "
                        "\"arguments\": {\"expression\": \"17*23\"}}\n</tool_call><|im_end|>"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("<|im_start|>user\n<tool_response>\n391\n</tool_response><|im_end|>"),
              std::string::npos)
        << text;

    // No system role (Gemma): the section opens the first user turn.
    PONDER_REQUIRE_SHARED("templates/google-gemma-2-2b-it.jinja");
    json no_system = conversation_with_call();
    no_system.erase(no_system.begin());
    const std::string gemma = render_with_tools(load_template("google-gemma-2-2b-it.jinja"),
                                                plain_options(), no_system, tools);
    EXPECT_NE(gemma.find("<start_of_turn>user\n# Tools"), std::string::npos) << gemma;
}

// ---- the loop ----------------------------------------------------------------------------

// A generator that replays scripted outputs (piece by piece, as a model streams) and records
// the conversations it was shown.
struct ScriptedModel {
    std::vector<std::vector<std::string>> outputs;
    std::vector<json> seen;
    size_t next = 0;

    ChatGenerator generator() {
        return [this](const json& messages, const TextCallback& on_text) {
            seen.push_back(messages);
            const auto& pieces = outputs.at(std::min(next++, outputs.size() - 1));
            Reply reply;
            for (const auto& piece : pieces) {
                if (on_text) on_text(piece);
                reply.text += piece;
            }
            reply.timings.generated_tokens = static_cast<int64_t>(pieces.size());
            return reply;
        };
    }
};

json user_question() {
    return json::array({{{"role", "user"}, {"content", "What is 17*23?"}}});
}

TEST(ToolLoop, CallsTheToolAndFeedsTheResultBack) {
    ScriptedModel model;
    model.outputs = {{"Let me check. <tool_", "call>\n{\"name\": \"calculator\", \"arguments\": ",
                      "{\"expression\": \"17*23\"}}\n</tool_call>"},
                     {"17*23 is ", "391."}};
    std::vector<Tool> tools{calculator_tool()};
    std::string shown;
    std::vector<std::string> tool_notes;
    ToolLoopOptions options;
    options.on_text = [&](std::string_view t) { shown += t; };
    options.on_tool = [&](const ToolExchange& e) {
        tool_notes.push_back(e.call.name + "=" + e.result);
    };
    ToolLoopResult r = run_tool_loop(user_question(), tools, model.generator(), options);

    EXPECT_EQ(r.reply.text, "17*23 is 391.");
    ASSERT_EQ(r.exchanges.size(), 1u);
    EXPECT_EQ(r.exchanges[0].result, "391");
    EXPECT_FALSE(r.exchanges[0].failed);
    EXPECT_EQ(tool_notes, std::vector<std::string>{"calculator=391"});
    EXPECT_FALSE(r.step_limit_reached);
    EXPECT_EQ(r.generated_tokens, 5);
    // The markup never reached the user; the prose did.
    EXPECT_EQ(shown, "Let me check. 17*23 is 391.");
    // The second generation saw the call and its result as messages.
    ASSERT_EQ(model.seen.size(), 2u);
    const json& second = model.seen[1];
    ASSERT_EQ(second.size(), 3u);
    EXPECT_EQ(second[1]["role"], "assistant");
    EXPECT_EQ(second[1]["content"], "Let me check.");
    EXPECT_EQ(second[1]["tool_calls"][0]["function"]["name"], "calculator");
    const std::string id = second[1]["tool_calls"][0]["id"];
    EXPECT_EQ(id.size(), 9u);  // Mistral's rule
    EXPECT_EQ(
        second[2],
        json({{"role", "tool"}, {"tool_call_id", id}, {"name", "calculator"}, {"content", "391"}}));
    EXPECT_EQ(r.messages.back(), json({{"role", "assistant"}, {"content", "17*23 is 391."}}));
}

TEST(ToolLoop, SeveralCallsInOneAnswerAreSeparateMessages) {
    ScriptedModel model;
    model.outputs = {{"<tool_call>{\"name\": \"calculator\", \"arguments\": {\"expression\": "
                      "\"1+1\"}}</tool_call>"
                      "<tool_call>{\"name\": \"calculator\", \"arguments\": {\"expression\": "
                      "\"2*3\"}}</tool_call>"},
                     {"2 and 6"}};
    std::vector<Tool> tools{calculator_tool()};
    ToolLoopResult r = run_tool_loop(user_question(), tools, model.generator());
    ASSERT_EQ(r.exchanges.size(), 2u);
    EXPECT_EQ(r.exchanges[1].result, "6");
    EXPECT_NE(r.exchanges[0].call.id, r.exchanges[1].call.id);
    // user, (assistant call, tool result) x 2, final answer
    ASSERT_EQ(r.messages.size(), 6u);
    EXPECT_EQ(r.messages[3]["role"], "assistant");
    EXPECT_EQ(r.messages[3]["tool_calls"].size(), 1u);
}

TEST(ToolLoop, ErrorsGoBackToTheModel) {
    ScriptedModel model;
    model.outputs = {{"<tool_call>{\"name\": \"nope\", \"arguments\": {}}</tool_call>"},
                     {"<tool_call>{\"name\": \"calculator\", \"arguments\": {\"expression\": "
                      "\"1/0\"}}</tool_call>"},
                     {"<tool_call>{\"name\": \"calculator\", \"arguments\": {}}</tool_call>"},
                     {"I give up."}};
    std::vector<Tool> tools{calculator_tool()};
    ToolLoopResult r = run_tool_loop(user_question(), tools, model.generator());
    ASSERT_EQ(r.exchanges.size(), 3u);
    for (const auto& e : r.exchanges) EXPECT_TRUE(e.failed);
    EXPECT_NE(r.exchanges[0].result.find("unknown tool 'nope' (available: calculator)"),
              std::string::npos);
    EXPECT_NE(r.exchanges[1].result.find("error:"), std::string::npos);
    EXPECT_NE(r.exchanges[2].result.find("missing argument \"expression\""), std::string::npos);
    EXPECT_EQ(r.reply.text, "I give up.");
}

TEST(ToolLoop, StopsAtTheStepLimit) {
    ScriptedModel model;
    model.outputs = {
        {"Again. <tool_call>{\"name\": \"calculator\", \"arguments\": {\"expression\": "
         "\"1\"}}</tool_call>"}};
    std::vector<Tool> tools{calculator_tool()};
    ToolLoopOptions options;
    options.max_steps = 2;
    ToolLoopResult r = run_tool_loop(user_question(), tools, model.generator(), options);
    EXPECT_EQ(r.exchanges.size(), 2u);
    EXPECT_EQ(model.seen.size(), 3u);
    EXPECT_TRUE(r.step_limit_reached);
    EXPECT_EQ(r.reply.text, "Again.");
}

TEST(ToolLoop, NoToolsMeansOneGenerationAndExceptionsPropagate) {
    ScriptedModel model;
    model.outputs = {{"<tool_call>{\"name\": \"calculator\", \"arguments\": {}}</tool_call>"}};
    ToolLoopResult r = run_tool_loop(user_question(), {}, model.generator());
    EXPECT_EQ(model.seen.size(), 1u);
    EXPECT_TRUE(r.exchanges.empty());

    // A tool that throws something other than ponder::Error (a script being stopped) ends the loop.
    Tool stopper;
    stopper.definition.name = "calculator";
    stopper.run = [](const json&) -> std::string { throw std::runtime_error("stopped"); };
    std::vector<Tool> tools{stopper};
    ScriptedModel again;
    again.outputs = model.outputs;
    EXPECT_THROW(run_tool_loop(user_question(), tools, again.generator()), std::runtime_error);
}

TEST(ToolLoop, CancelledGenerationIsFinal) {
    std::vector<Tool> tools{calculator_tool()};
    int calls = 0;
    ChatGenerator cancelled = [&](const json&, const TextCallback&) {
        ++calls;
        Reply r;
        r.text =
            "<tool_call>{\"name\": \"calculator\", \"arguments\": {\"expression\": "
            "\"1\"}}</tool_call>";
        r.stop_reason = StopReason::cancelled;
        return r;
    };
    ToolLoopResult r = run_tool_loop(user_question(), tools, cancelled);
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(r.exchanges.empty());
}

// ---- the streaming filter ----------------------------------------------------------------

TEST(ToolCallFilter, HoldsBackMarkupAndJson) {
    ToolCallFilter f;
    std::string shown;
    for (const char* piece : {"Hello ", "<", "tool", "_call>", "{\"name\"", ": 1}"})
        shown += f.push(piece);
    EXPECT_EQ(shown, "Hello ");
    EXPECT_TRUE(f.holding());

    ToolCallFilter prose;
    shown.clear();
    for (const char* piece : {"a <b>", " < c", " Action", ": go"}) shown += prose.push(piece);
    shown += prose.finish();
    EXPECT_EQ(shown, "a <b> < c Action: go");

    ToolCallFilter json_start;
    EXPECT_EQ(json_start.push("  {\"name\": "), "");
    EXPECT_EQ(json_start.push("\"x\"}"), "");
    EXPECT_EQ(json_start.finish(), "  {\"name\": \"x\"}");
}

// ---- built-in tools and paths ------------------------------------------------------------

// Runs the test body with the working directory set to a fresh temporary directory.
class InTempDir : public ::testing::Test {
  protected:
    void SetUp() override {
        previous_ = fs::current_path();
        fs::create_directories(dir_.path() / "work" / "docs");
        fs::current_path(dir_.path() / "work");
    }
    void TearDown() override { fs::current_path(previous_); }
    fs::path work() const { return dir_.path() / "work"; }
    fs::path outside() const { return dir_.path(); }

    test::TempDir dir_;
    fs::path previous_;
};

using BuiltinTools = InTempDir;

TEST_F(BuiltinTools, CalculatorIsExact) {
    Tool calc = calculator_tool();
    EXPECT_EQ(calc.run({{"expression", "17*23"}}), "391");
    EXPECT_EQ(calc.run({{"expression", "0.1 + 0.2"}}), "0.3");
    EXPECT_EQ(calc.run({{"expression", "1/3"}}), "1/3 (about 0.3333333333)");
    EXPECT_THROW(calc.run({{"expression", "1/0"}}), Error);
    EXPECT_THROW(calc.run({{"expression", 5}}), Error);
}

TEST_F(BuiltinTools, FilesReadOnlyInsideAllowedDirectories) {
    test::write_file(work() / "notes.txt", "hello");
    test::write_file(work() / "docs" / "a.md", "# A");
    test::write_file(outside() / "secret.txt", "secret");
    fs::create_directories(outside() / "extra");
    test::write_file(outside() / "extra" / "ok.txt", "ok");
    fs::create_symlink(outside() / "secret.txt", work() / "link.txt");
    fs::create_symlink(outside(), work() / "up");

    std::vector<Tool> tools = builtin_tools("files", ReadableDirs({outside() / "extra"}));
    ASSERT_EQ(tools.size(), 2u);
    const Tool& list = tools[0];
    const Tool& read = tools[1];
    EXPECT_EQ(list.definition.name, "list_files");
    EXPECT_EQ(read.definition.name, "read_file");

    EXPECT_EQ(list.run(json::object()), "docs/\nlink.txt\nnotes.txt\nup/\n");
    EXPECT_EQ(list.run({{"path", "docs"}}), "a.md\n");
    EXPECT_EQ(read.run({{"path", "notes.txt"}}), "hello");
    EXPECT_EQ(read.run({{"path", "./docs/../docs/a.md"}}), "# A");
    EXPECT_EQ(read.run({{"path", (outside() / "extra" / "ok.txt").string()}}), "ok");
    for (const std::string& bad : std::vector<std::string>{
             "../secret.txt", "link.txt", "up/secret.txt", "docs/../../secret.txt",
             (outside() / "secret.txt").string(), "/etc/passwd"}) {
        SCOPED_TRACE(bad);
        try {
            read.run({{"path", bad}});
            ADD_FAILURE() << "read " << bad;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("outside the readable directories"),
                      std::string::npos)
                << e.what();
        }
    }
    EXPECT_THROW(list.run({{"path", ".."}}), Error);
    EXPECT_THROW(list.run({{"path", "up"}}), Error);
    EXPECT_THROW(read.run({{"path", "missing.txt"}}), Error);
    EXPECT_THROW(read.run({{"path", "docs"}}), Error);
    EXPECT_THROW(builtin_tools("shell", ReadableDirs()), Error);

    // Long files are cut.
    test::write_file(work() / "big.txt", std::string(kReadFileLimit + 10, 'x'));
    EXPECT_NE(read.run({{"path", "big.txt"}}).find("[... cut at 64 KiB]"), std::string::npos);
}

using PathAccess = InTempDir;

TEST_F(PathAccess, ResolvesLinksDanglingLinksAndDots) {
    fs::create_symlink(outside() / "nowhere" / "file", work() / "dangling");
    fs::create_symlink("docs", work() / "relative");
    fs::create_symlink(work() / "loop1", work() / "loop2");
    fs::create_symlink(work() / "loop2", work() / "loop1");
    const fs::path real_work = fs::canonical(work());
    EXPECT_EQ(resolve_path("dangling"), fs::canonical(outside()) / "nowhere" / "file");
    EXPECT_EQ(resolve_path("relative/x/../y"), real_work / "docs" / "y");
    EXPECT_EQ(resolve_path("a/b/../../c"), real_work / "c");
    EXPECT_EQ(resolve_path("/.."), fs::path("/"));
    EXPECT_THROW(resolve_path("loop1/x"), Error);
    ReadableDirs dirs;
    EXPECT_TRUE(dirs.allows("new/file.txt"));
    EXPECT_FALSE(dirs.allows("dangling"));
    EXPECT_FALSE(dirs.allows("loop1"));
    EXPECT_TRUE(path_inside("/a/b/c", "/a/b"));
    EXPECT_TRUE(path_inside("/a/b", "/a/b"));
    EXPECT_FALSE(path_inside("/a/bc", "/a/b"));
    EXPECT_FALSE(path_inside("/a", "/a/b"));
}

}  // namespace
}  // namespace ponder
