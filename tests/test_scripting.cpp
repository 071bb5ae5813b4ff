// Lua scripting: scripts run through the real binary (`ponder run`, `ponder -e`) with the
// shared models, the sandbox, errors and exit codes, timeouts and Ctrl-C, the `ponder` module,
// and the examples/. The runtime's own guarantees (interrupts from another thread, the memory
// limit, Lua tools called from C++) are checked on a LuaRuntime directly.
#include <gtest/gtest.h>
#include <lua.hpp>

#include <filesystem>
#include <thread>

#include "engine/error.h"
#include "reason/tool_use.h"
#include "scripting/lua_runtime.h"
#include "scripting/module_state.h"
#include "scripting/ponder_module.h"
#include "tests/pty_session.h"
#include "tests/support.h"

namespace ponder {
namespace {

namespace fs = std::filesystem;
using test::ProcessResult;
using test::read_file;
using test::run_ponder;
using test::write_file;

std::string model_path() {
    return (test::shared_dir() / "models/rand-llama-q8_0.gguf").string();
}

// Runs the binary with its working directory set to `dir` (restored afterwards).
ProcessResult run_in(const fs::path& dir, const std::vector<std::string>& args) {
    const fs::path previous = fs::current_path();
    fs::current_path(dir);
    ProcessResult r = run_ponder(args);
    fs::current_path(previous);
    return r;
}

class Scripting : public ::testing::Test {
  protected:
    void SetUp() override { fs::create_directories(work()); }
    fs::path work() const { return dir_.path() / "work"; }
    // Writes a script into the working directory and runs it with `options` before `run`.
    ProcessResult script(const std::string& code, const std::vector<std::string>& options = {},
                         const std::vector<std::string>& args = {}) {
        write_file(work() / "s.lua", code);
        std::vector<std::string> all = options;
        all.push_back("run");
        all.push_back("s.lua");
        all.insert(all.end(), args.begin(), args.end());
        return run_in(work(), all);
    }
    ProcessResult with_model(const std::string& code, std::vector<std::string> options = {}) {
        options.insert(options.begin(), {"-m", model_path(), "--no-log"});
        return script(code, options);
    }
    test::TempDir dir_;
};

// ---- running scripts ----------------------------------------------------------------------

TEST_F(Scripting, RunPassesArgumentsAndEvalRunsCode) {
    auto r = script("print(#arg, arg[0], arg[1], arg[2], arg[3], select('#', ...), ...)", {},
                    {"a", "-x", "--model"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "3\ts.lua\ta\t-x\t--model\t3\ta\t-x\t--model\n");

    r = run_in(work(), {"-e", "print(1 + 1, arg[0], arg[1], ...)", "one"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "2\t(command line)\tone\tone\n");

    r = run_in(work(), {"run", "missing.lua"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "ponder: missing.lua: no such script\n");
}

TEST_F(Scripting, ErrorsShowFileLineAndTraceback) {
    auto r = script("local x = 1\nx = = 2\n");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("ponder: s.lua:2: unexpected symbol near '='", 0), 0u) << r.err;

    r = script("local function f()\n  error('boom')\nend\nf()\n");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("ponder: s.lua:2: boom\nstack traceback:", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("s.lua:4: in main chunk"), std::string::npos) << r.err;

    // Errors raised by the ponder module name the script's line and the function.
    r = script("\nponder.ask(nil)\n");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(
        r.err.rfind("ponder: s.lua:2: ponder.ask: bad argument #1 (string expected, got nil)", 0),
        0u)
        << r.err;
    r = script("print(pcall(ponder.ask, 'x', {bogus = 1}))");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("false\ts.lua:1: ponder.ask: unknown option 'bogus'"), std::string::npos)
        << r.out;

    r = run_in(work(), {"-e", "error('bad')"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("ponder: (command line):1: bad", 0), 0u) << r.err;
}

TEST_F(Scripting, OsExitSetsTheExitCodeEvenThroughPcall) {
    EXPECT_EQ(script("os.exit(3)").exit_code, 3);
    EXPECT_EQ(script("os.exit(true)").exit_code, 0);
    EXPECT_EQ(script("os.exit(false)").exit_code, 1);
    auto r = script("print(pcall(os.exit, 4))\nprint('after')");
    EXPECT_EQ(r.exit_code, 4);
    EXPECT_EQ(r.out, "");
    r = script(
        "local co = coroutine.create(function() os.exit(5) "
        "end)\nprint(coroutine.resume(co))\nprint('after')");
    EXPECT_EQ(r.exit_code, 5);
    EXPECT_EQ(r.out, "");
    // Yields inside pcall still work.
    r = script(
        "local co = coroutine.wrap(function() pcall(function() coroutine.yield(7) end) return 8 "
        "end)\n"
        "print(co(), co())");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "7\t8\n");
}

// ---- the sandbox --------------------------------------------------------------------------

TEST_F(Scripting, ShellNeedsAllowShell) {
    for (const char* code : {"os.execute('true')", "io.popen('ls')", "package.loadlib('x', 'y')"}) {
        SCOPED_TRACE(code);
        auto r = script(code);
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_NE(r.err.find("is not allowed: run ponder with --allow-shell"), std::string::npos)
            << r.err;
        EXPECT_NE(r.err.find("s.lua:1:"), std::string::npos) << r.err;
    }
    auto r = script("print(os.execute('true'))", {"--allow-shell"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "true\texit\t0\n");
    // C modules cannot be found without it.
    r = script("print(pcall(require, 'lfs'))");
    EXPECT_NE(r.out.find("false"), std::string::npos);
}

TEST_F(Scripting, WritesStayInsideTheWorkingDirectory) {
    fs::create_directories(work() / "sub");
    fs::create_symlink(dir_.path(), work() / "up");
    fs::create_symlink(dir_.path() / "target.txt", work() / "dangling");
    auto r = script(
        "local f = assert(io.open('sub/out.txt', 'w'))\nf:write('inside')\nf:close()\n"
        "assert(os.rename('sub/out.txt', "
        "'sub/moved.txt'))\nprint(io.open('sub/moved.txt'):read('a'))\n"
        "assert(os.remove('sub/moved.txt'))");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "inside\n");
    for (const std::string& code : std::vector<std::string>{
             "io.open('../x.txt', 'w')", "io.open('sub/../../x.txt', 'a')",
             "io.open('up/x.txt', 'w')", "io.open('dangling', 'w')",
             "io.open('" + (dir_.path() / "x.txt").string() + "', 'r+')", "io.output('../x.txt')",
             "os.remove('../x.txt')", "os.rename('s.lua', '../x.lua')", "os.tmpname()"}) {
        SCOPED_TRACE(code);
        r = script(code);
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_NE(r.err.find("is not allowed"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("--allow-write"), std::string::npos) << r.err;
        EXPECT_EQ(r.err.rfind("ponder: s.lua:1: ", 0), 0u) << r.err;
    }
    EXPECT_FALSE(fs::exists(dir_.path() / "x.txt"));
    EXPECT_FALSE(fs::exists(dir_.path() / "target.txt"));
    EXPECT_TRUE(fs::exists(work() / "s.lua"));

    r = script("local f = assert(io.open('../x.txt', 'w'))\nf:write('out')\nf:close()",
               {"--allow-write"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_file(dir_.path() / "x.txt"), "out");
    // Reading is not restricted.
    r = script("print(io.open('../x.txt'):read('a'))");
    EXPECT_EQ(r.out, "out\n");
}

TEST_F(Scripting, BinaryChunksAndDebugEscapesAreRefused) {
    auto r = script("print(load(string.dump(function() end)))");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("nil\tattempt to load a binary chunk"), std::string::npos) << r.out;
    r = script(
        "local f = io.open('bin.lua', 'wb') f:write(string.dump(function() return 1 end)) "
        "f:close()\n"
        "print(loadfile('bin.lua'))\nprint(pcall(dofile, 'bin.lua'))\n"
        "package.path = './?.lua'\nprint(pcall(require, 'bin'))");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    size_t refusals = 0;
    for (size_t at = 0;
         (at = r.out.find("attempt to load a binary chunk", at)) != std::string::npos; ++at)
        ++refusals;
    EXPECT_EQ(refusals, 3u) << r.out;
    // A text module loads.
    r = script(
        "local f = io.open('mod.lua', 'w') f:write('return 42') f:close()\npackage.path = "
        "'./?.lua'\n"
        "print((require('mod')))");
    EXPECT_EQ(r.out, "42\n") << r.err;

    r = script(
        "print(debug.getupvalue, debug.sethook, debug.getregistry, debug.setupvalue, "
        "type(debug.traceback))\n"
        "print(require('debug') == debug)");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "nil\tnil\tnil\tnil\tfunction\ntrue\n");
    r = script("debug.sethook()");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("attempt to call a nil value (field 'sethook')"), std::string::npos)
        << r.err;
}

TEST_F(Scripting, TimeoutStopsLoopsEvenInsidePcallAndCoroutines) {
    for (const char* code :
         {"while true do end", "while true do pcall(function() while true do end end) end",
          "coroutine.wrap(function() while true do end end)()"}) {
        SCOPED_TRACE(code);
        const auto start = std::chrono::steady_clock::now();
        auto r = script(code, {"--timeout", "0.3"});
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_NE(r.err.find("ran past its --timeout of 0.3 s"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("s.lua:1"), std::string::npos) << r.err;
        EXPECT_LT(seconds, 10);
    }
}

TEST_F(Scripting, TimeoutStopsAModelCall) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    const auto start = std::chrono::steady_clock::now();
    auto r =
        with_model("for i = 1, 1000 do ponder.ask('Tell me a long story', {max_tokens = 3000}) end",
                   {"--timeout", "1"});
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("--timeout of 1 s"), std::string::npos) << r.err;
    EXPECT_LT(seconds, 30);
}

TEST_F(Scripting, CtrlCStopsTheScriptCleanly) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    for (const char* code : {"print('ready') io.stdout:flush() while true do end",
                             "print('ready') io.stdout:flush() for i = 1, 1000 do ponder.ask('hi', "
                             "{max_tokens = 3000}) end"}) {
        SCOPED_TRACE(code);
        write_file(work() / "s.lua", code);
        const fs::path previous = fs::current_path();
        fs::current_path(work());
        test::PtySession session({"-m", model_path(), "--no-log", "run", "s.lua"},
                                 dir_.path().string());
        fs::current_path(previous);
        ASSERT_TRUE(session.expect("ready"));
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        session.ctrl_c();
        EXPECT_EQ(session.wait_exit(std::chrono::seconds(20)), 130) << session.output();
        EXPECT_NE(session.output().find("interrupted"), std::string::npos) << session.output();
    }
}

// ---- the ponder module, with a real model -----------------------------------------------------

TEST_F(Scripting, AskStreamAndOptions) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    auto r = with_model(R"(
local answer, info = ponder.ask("Say hi", {max_tokens = 8, seed = 1, temp = 0})
assert(type(answer) == "string")
print("ask", info.stop_reason, info.answer_tokens <= 8, info.prompt_tokens > 0, #info.tool_calls)
local pieces = {}
local streamed = ponder.stream("Say hi", function(p) pieces[#pieces + 1] = p end, {max_tokens = 8, temp = 0})
print("stream", table.concat(pieces) == streamed, streamed == answer, #pieces > 0)
print(pcall(ponder.ask, "x", {temp = "hot"}))
print(pcall(ponder.ask, "x", {stop = {"a", 3}}))
local ok, err = pcall(ponder.ask, "Reply in JSON", {max_tokens = 4, json = true, system = "Be terse", stop = "}"})
print(ok, err)
local ok2, err2 = pcall(ponder.stream, "x", function() error("from the callback") end, {max_tokens = 4})
print(ok2, err2)
)");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("ask\tmax_tokens\ttrue\ttrue\t0\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("stream\ttrue\ttrue\ttrue\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("false\ts.lua:8: ponder.ask: setting 'temp': 'hot' is not a number"),
              std::string::npos)
        << r.out;
    EXPECT_NE(
        r.out.find(
            "false\ts.lua:9: ponder.ask: option 'stop' must be a string or a list of strings"),
        std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("false\ts.lua:10: ponder.ask: the answer is not JSON (json = true)"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("false\ts.lua:12: from the callback"), std::string::npos) << r.out;
}

TEST_F(Scripting, ChatSessionsKeepTheirHistory) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    auto r = with_model(R"(
local chat = ponder.chat{system = "Be brief.", max_tokens = 4, temp = 0}
local a = chat:say("Hello")
local pieces = {}
local b = chat:say("Again", function(p) pieces[#pieces + 1] = p end)
local h = chat:history()
print(#h, h[1].role, h[2].role, h[3].role, h[4].role, h[5].role, h[3].content == a, h[5].content == b)
print(table.concat(pieces) == b, h[4].content)
chat:reset()
print(#chat:history(), tostring(chat):match("^ponder.chat") ~= nil)
print(pcall(chat.say, {}, "x"))
print(pcall(ponder.chat, {json = true}))
)");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("5\tsystem\tuser\tassistant\tuser\tassistant\ttrue\ttrue\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("true\tAgain\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("1\ttrue\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("false\ts.lua:11: chat:say: bad self (a chat expected, got table)"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("unknown option 'json'"), std::string::npos) << r.out;
}

TEST_F(Scripting, TokensAndModelFacts) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    auto r = with_model(R"(
local ids = ponder.tokenize("Hello world")
print(#ids > 0, ponder.count_tokens("Hello world") == #ids, ponder.detokenize(ids))
print(#ponder.tokenize("<|im_start|>", {special = true}), #ponder.tokenize("<|im_start|>") > 1)
local m = ponder.model()
print(m.architecture, m.vocab_size, m.parameters > 1000000, m.context, m.has_chat_template, m.layers)
print(pcall(ponder.detokenize, {-1}))
)",
                        {"--ctx", "512"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.substr(0, r.out.find("false")),
              "true\ttrue\tHello world\n1\ttrue\nllama\t49152\ttrue\t512\ttrue\t2\n");
    EXPECT_NE(r.out.find("item 1 is not a token id of this model"), std::string::npos) << r.out;
}

TEST_F(Scripting, ContemplateWithACustomCheck) {
    PONDER_REQUIRE_SHARED("models/TinyStories-656K-Q8_0.gguf");
    // The check runs for chains that reached an answer. A story model given a run of digits
    // through a plain template reliably writes a number; seeds are tried until some chain does.
    write_file(
        work() / "plain.jinja",
        "{% for m in messages %}{% if m.role != 'system' %}{{ m.content }}{% endif %}{% endfor %}");
    auto r = script(R"(
local checked, factor_of = 0, {}
local options = {chains = 4, rounds = 0, ["think-tokens"] = 16, verifier = false,
                 check = function(chain)
                   assert(type(chain.text) == "string" and chain.answer ~= "" and type(chain.claims) == "table")
                   checked = checked + 1
                   factor_of[chain.index] = chain.index % 2 == 0 and 0 or 0.5
                   return factor_of[chain.index]
                 end}
local result
for seed = 1, 10 do
  options.seed = seed
  result = ponder.contemplate("One, two, three. 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", options)
  if checked > 0 then break end
end
print("shape", type(result.answer), result.confidence >= 0 and result.confidence <= 1, #result.chains, type(result.votes))
local answered = 0
for _, chain in ipairs(result.chains) do
  if chain.answer ~= "" then
    answered = answered + 1
    assert(chain.custom_check == factor_of[chain.index], "factor of chain " .. chain.index)
    if factor_of[chain.index] == 0 then assert(chain.weight == 0) end
  end
end
print("checked", checked > 0, checked == answered)
print(pcall(ponder.contemplate, "x", {check = 5}))
print(pcall(ponder.contemplate, "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
            {chains = 2, rounds = 0, ["think-tokens"] = 16, verifier = false, seed = 1,
             check = function() error("in check") end}))
local short = {chains = 2, rounds = 0, ["think-tokens"] = 16, seed = 1}
local v = ponder.contemplate("1 2 3", short)
print("verifier", type(v.verifier_solution.text), v.verifier_solution.tokens > 0)
short.verifier = false
print("no verifier", ponder.contemplate("1 2 3", short).verifier_solution == nil)
)",
                    {"-m", (test::shared_dir() / "models/TinyStories-656K-Q8_0.gguf").string(),
                     "--chat-template", "plain.jinja", "--no-log"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("shape\tstring\ttrue\t4\ttable\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("checked\ttrue\ttrue\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("option 'check' must be a function (got number)"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("false\ts.lua:29: in check"), std::string::npos) << r.out;
    // The verifier's own greedy solution comes back with the result, when there is a verifier.
    EXPECT_NE(r.out.find("verifier\tstring\ttrue\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("no verifier\ttrue\n"), std::string::npos) << r.out;
}

TEST_F(Scripting, ExchangesAreLoggedAsLua) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    auto r = script(
        "ponder.ask('lua log probe 7', {max_tokens = 2})\n"
        "local chat = ponder.chat{max_tokens = 2}\nchat:say('lua log probe 7 "
        "chat')\nchat:say('again')",
        {"-m", model_path()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_ponder({"logs", "--json", "--search", "lua log probe 7"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto logged = nlohmann::json::parse(r.out);
    ASSERT_EQ(logged.size(), 2u) << r.out;
    for (const auto& e : logged) EXPECT_EQ(e["mode"], "lua") << e;
    r = run_ponder({"logs", "--json", "--search", "again"});
    auto again = nlohmann::json::parse(r.out);
    ASSERT_GE(again.size(), 1u);
    // The chat's two turns share a conversation.
    EXPECT_EQ(again[0]["conversation"], logged[0]["conversation"]) << r.out;
}

TEST_F(Scripting, ModelLoadsOnlyWhenNeeded) {
    // No model is touched by a script that does not ask for one.
    auto r = script("print(ponder.json.encode({1, 2}))", {"-m", "/nonexistent/model.gguf"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "[1,2]\n");
    r = script("print('before')\nponder.ask('x')", {"-m", "/nonexistent/model.gguf"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "before\n");
    EXPECT_NE(
        r.err.find("s.lua:2: ponder.ask: model '/nonexistent/model.gguf' (from --model) not found"),
        std::string::npos)
        << r.err;

    PONDER_REQUIRE_SHARED("models/stories260K.gguf");
    r = script("print(#ponder.tokenize('Once upon a time') > 0)\nponder.ask('x')",
               {"-m", (test::shared_dir() / "models/stories260K.gguf").string(), "--no-log"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "true\n");
    EXPECT_NE(r.err.find("s.lua:2: ponder.ask:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("chat template"), std::string::npos) << r.err;
}

TEST_F(Scripting, JsonFilesAndGlob) {
    write_file(work() / "data.txt", "line 1\nline 2\n");
    write_file(work() / "b.txt", "");
    fs::create_directories(work() / "docs" / "deep");
    write_file(work() / "docs" / "a.md", "");
    write_file(work() / "docs" / "deep" / "b.md", "");
    auto r = script(R"(
local v = ponder.json.decode('{"a":[1,2,{"b":null}],"c":"x","d":1.5}')
print(v.a[2], v.a[3].b == ponder.json.null, v.c, v.d)
print(ponder.json.encode({x = {1, 2, 3}}))
print(ponder.json.encode({k = "v"}, {indent = 2}))
print(pcall(ponder.json.decode, "{bad"))
print(pcall(ponder.json.encode, {f = print}))
io.write(ponder.read_file("data.txt"))
print(pcall(ponder.read_file, "missing.txt"))
print(table.concat(ponder.glob("*.txt"), " "))
print(table.concat(ponder.glob("docs/**/*.md"), " "))
print(table.concat(ponder.glob("**/*.md"), " "))
print(#ponder.glob("*.none"))
)");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(
        r.out,
        "2\ttrue\tx\t1.5\n"
        "{\"x\":[1,2,3]}\n"
        "{\n  \"k\": \"v\"\n}\n"
        "false\ts.lua:6: ponder.json.decode: not valid JSON: parse error at line 1, column 2: "
        "syntax error "
        "while parsing object key - invalid literal; last read: '{b'; expected string literal\n"
        "false\ts.lua:7: ponder.json.encode: a function cannot become JSON\n"
        "line 1\nline 2\n"
        "false\ts.lua:9: ponder.read_file: cannot read missing.txt: no such file or no permission\n"
        "b.txt data.txt\n"
        "docs/a.md docs/deep/b.md\n"
        "docs/a.md docs/deep/b.md\n"
        "0\n");
}

TEST_F(Scripting, ToolsRegisterAndJoinModelCalls) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    auto r = with_model(R"(
print(ponder.tool{name = "add", description = "Add two numbers",
                  params = {a = "number", b = {type = "number", description = "second", optional = true}},
                  fn = function(args) return args.a + (args.b or 0) end})
print(ponder.tool("calculator"), ponder.tool("files"))
print(table.concat(ponder.tools(), ","))
print(pcall(ponder.tool, {name = "bad name", fn = print}))
print(pcall(ponder.tool, {name = "nofn"}))
print(pcall(ponder.tool, "shell"))
local answer, info = ponder.ask("What is 2+3?", {max_tokens = 6, temp = 0})
print(type(answer), type(info.tool_calls))
print(pcall(ponder.ask, "x", {tools = {"missing"}}))
local a2 = ponder.ask("x", {tools = false, max_tokens = 2})
local a3 = ponder.ask("x", {tools = {"add"}, steps = 1, max_tokens = 2})
print(type(a2), type(a3))
)");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("add\ncalculator\tfiles\nadd,calculator,list_files,read_file\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("false\ts.lua:7: ponder.tool: a tool needs a name of letters"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("tool 'nofn' needs fn = function(args) ... end"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("unknown tool 'shell' (built-in tools: calculator, files)"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("string\ttable\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("no tool named 'missing'"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("string\tstring\n"), std::string::npos) << r.out;
}

TEST_F(Scripting, QuickModeWithTools) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    auto r = run_in(work(), {"-m", model_path(), "--no-log", "--tool", "calculator", "--tool",
                             "files", "-n", "6", "--temp", "0", "--json", "What is 17*23?"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto out = nlohmann::json::parse(r.out);
    EXPECT_TRUE(out["answer"].is_string());
    EXPECT_TRUE(out["tool_calls"].is_array());
    r = run_in(work(), {"-m", model_path(), "--tool", "shell", "x"});
    EXPECT_EQ(r.exit_code, 2);
    r = run_in(work(), {"-m", model_path(), "--no-log", "--tool", "calculator", "--raw", "x"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("--tool needs the chat template"), std::string::npos) << r.err;
}

// ---- the examples ------------------------------------------------------------------------

TEST_F(Scripting, ExamplesRun) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    const fs::path examples = fs::path(PONDER_SOURCE_DIR) / "examples";
    fs::create_directories(work() / "notes");
    write_file(work() / "notes" / "a.txt", "Cats sleep a lot.\n");
    write_file(work() / "notes" / "b.md", "Dogs like walks.\n");
    // Longer than the context: the example must cut it to fit, not fail.
    std::string long_notes;
    for (int i = 0; i < 4000; ++i) long_notes += "Line " + std::to_string(i) + " of the notes.\n";
    write_file(work() / "notes" / "c.md", long_notes);
    write_file(work() / "questions.csv",
               "question,expected\nWhat is 2+2?,4\n\"Capital of France, please?\",Paris\n");
    struct Example {
        const char* file;
        std::vector<std::string> args;
        const char* expect;                     // in stdout
        std::vector<std::string> options = {};  // before `run`
    };
    const std::vector<Example> cases = {
        {"summarize_folder.lua", {"notes", "8"}, "== summary of 3 files ==", {"--ctx", "512"}},
        {"self_refine.lua", {"Write a haiku about rain", "8"}, "== final =="},
        {"csv_to_json.lua",
         {"questions.csv", "answers.json", "8"},
         "wrote 2 answers to answers.json"},
        {"calculator_agent.lua", {"What is 17*23?", "8"}, "== answer =="},
        {"contemplate_check.lua", {"What is 6*7?", "16"}, "confidence"},
        {"extract_fields.lua", {"Ada Lovelace was born in London in 1815.", "8"}, "\"name\""},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.file);
        const std::string source = read_file(examples / c.file);
        EXPECT_EQ(source.rfind("--", 0), 0u) << "header comment";
        EXPECT_NE(source.find("run examples/" + std::string(c.file)), std::string::npos)
            << "how to run it";
        std::vector<std::string> args = {"-m",  model_path(), "--no-log", "--temp",
                                         "0.7", "--seed",     "1"};
        args.insert(args.end(), c.options.begin(), c.options.end());
        args.insert(args.end(), {"run", (examples / c.file).string()});
        args.insert(args.end(), c.args.begin(), c.args.end());
        auto r = run_in(work(), args);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_NE(r.out.find(c.expect), std::string::npos) << r.out;
    }
    auto written = nlohmann::json::parse(read_file(work() / "answers.json"));
    ASSERT_EQ(written.size(), 2u);
    EXPECT_EQ(written[1]["question"], "Capital of France, please?");
    EXPECT_EQ(written[1]["expected"], "Paris");
    EXPECT_TRUE(written[1]["answer"].is_string());
}

// ---- the runtime directly ------------------------------------------------------------------

// A host without a model: for scripts that need none.
class NoModelHost : public ScriptHost {
  public:
    Assistant& assistant() override { fail("no model in this test"); }
    const Settings& settings() const override { return settings_; }
    ConversationLog* log() override { return nullptr; }

  private:
    Settings settings_;
};

TEST(LuaRuntime, InterruptFromAnotherThread) {
    ScriptPolicy policy;
    policy.stop_on_interrupt = false;
    LuaRuntime runtime(policy);
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        runtime.interrupt();
    });
    EXPECT_THROW(runtime.run_string("while true do end", "=loop"), ScriptInterrupted);
    stopper.join();
    // The runtime is usable afterwards.
    EXPECT_EQ(runtime.run_string("return", "=again"), 0);
}

TEST(LuaRuntime, MemoryLimit) {
    ScriptPolicy policy;
    policy.memory_limit = 8 << 20;
    LuaRuntime runtime(policy);
    try {
        runtime.run_string("local t = {} for i = 1, 1e8 do t[i] = ('x'):rep(100) .. i end", "=hog");
        ADD_FAILURE() << "no error";
    } catch (const ScriptError& e) {
        EXPECT_NE(std::string(e.what()).find("not enough memory"), std::string::npos) << e.what();
    }
    EXPECT_EQ(runtime.run_string("local s = ('x'):rep(1000)", "=small"), 0);
}

TEST(LuaRuntime, LuaToolsRunFromTheToolLoop) {
    NoModelHost host;
    LuaRuntime runtime(ScriptPolicy{});
    open_ponder_module(runtime, host);
    runtime.run_string(R"(
ponder.tool{name = "add", params = {a = "number", b = "number"}, fn = function(args) return args.a + args.b end}
ponder.tool{name = "fail", fn = function(args) error("no luck") end}
ponder.tool{name = "table", fn = function(args) return {sum = 3, items = {1, 2}} end}
ponder.tool{name = "quit", fn = function(args) os.exit(9) end}
)",
                       "=setup");
    lua_State* L = runtime.state();
    lua::ModuleState& state = lua::module_state(L);
    std::vector<Tool> tools = lua::tools_for_call(L, state, lua::CallOptions{});
    ASSERT_EQ(tools.size(), 4u);
    EXPECT_EQ(tools[0].definition.parameters["required"], nlohmann::ordered_json({"a", "b"}));
    EXPECT_EQ(tools[0].run({{"a", 2}, {"b", 3}}), "5");
    try {
        tools[1].run(nlohmann::ordered_json::object());
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("no luck"), std::string::npos) << e.what();
    }
    EXPECT_EQ(tools[2].run(nlohmann::ordered_json::object()), "{\"items\":[1,2],\"sum\":3}");
    EXPECT_EQ(lua_gettop(L), 0);

    // Through the loop: a failing Lua tool is reported to the model, os.exit stops everything.
    int step = 0;
    ChatGenerator model = [&](const nlohmann::ordered_json&, const TextCallback&) {
        Reply r;
        r.text =
            ++step == 1
                ? "<tool_call>{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}</tool_call>"
                  "<tool_call>{\"name\": \"fail\", \"arguments\": {}}</tool_call>"
                : "done";
        return r;
    };
    ToolLoopResult result = run_tool_loop(
        nlohmann::ordered_json::array({{{"role", "user"}, {"content", "x"}}}), tools, model);
    ASSERT_EQ(result.exchanges.size(), 2u);
    EXPECT_EQ(result.exchanges[0].result, "3");
    EXPECT_TRUE(result.exchanges[1].failed);
    EXPECT_NE(result.exchanges[1].result.find("no luck"), std::string::npos);
    EXPECT_THROW(tools[3].run(nlohmann::ordered_json::object()), lua::ScriptStopped);
}

}  // namespace
}  // namespace ponder
