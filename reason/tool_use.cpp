#include "reason/tool_use.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "engine/error.h"

namespace ponder {

namespace {

using json = nlohmann::ordered_json;

constexpr std::string_view kProbeName = "ponder_probe_tool";

ChatTemplateOptions template_options(const LanguageModel& model) {
    ChatTemplateOptions options;
    const Tokenizer& tok = model.tokenizer();
    if (auto bos = tok.bos()) options.bos_token = std::string(tok.token_text(*bos));
    if (auto eos = tok.eos()) options.eos_token = std::string(tok.token_text(*eos));
    return options;
}

// Whether the template shows the tools it is given (many plain chat templates ignore them).
bool shows_tools(const ChatTemplate& tmpl, ChatTemplateOptions options) {
    options.tools =
        json::array({{{"type", "function"},
                      {"function",
                       {{"name", kProbeName},
                        {"description", "probe"},
                        {"parameters", {{"type", "object"}, {"properties", json::object()}}}}}}});
    try {
        return tmpl.render(json::array({{{"role", "user"}, {"content", "hello"}}}), options)
                   .find(kProbeName) != std::string::npos;
    } catch (const Error&) {
        return false;
    }
}

// JSON as Python's json.dumps writes it (", " and ": "), the form templates' tojson gives and
// models are trained on.
std::string python_json(const json& value) {
    if (value.is_object()) {
        std::string out = "{";
        for (auto it = value.begin(); it != value.end(); ++it) {
            if (it != value.begin()) out += ", ";
            out += json(it.key()).dump();
            out += ": ";
            out += python_json(*it);
        }
        return out + "}";
    }
    if (value.is_array()) {
        std::string out = "[";
        for (auto it = value.begin(); it != value.end(); ++it) {
            if (it != value.begin()) out += ", ";
            out += python_json(*it);
        }
        return out + "]";
    }
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The Hermes/Qwen convention, for templates that know no tools: the definitions and how to call.
std::string tool_section(const json& schemas) {
    std::string out =
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
    for (const auto& s : schemas) {
        out += '\n';
        out += python_json(s);
    }
    out +=
        "\n</tools>\n\nFor each function call, return a json object with function name and "
        "arguments "
        "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
        "\"arguments\": "
        "<args-json-object>}\n</tool_call>";
    return out;
}

// The conversation with calls and results as text, for a template that knows no tools.
json as_plain_text(const json& messages, const json& schemas, bool system_first) {
    json out = json::array();
    const std::string section = tool_section(schemas);
    for (const auto& m : messages) {
        const std::string role = m.value("role", "");
        std::string content = m.contains("content") && m["content"].is_string()
                                  ? m["content"].get<std::string>()
                                  : "";
        if (role == "assistant" && m.contains("tool_calls")) {
            for (const auto& call : m["tool_calls"]) {
                const json& f = call.contains("function") ? call["function"] : call;
                json shown = {{"name", f.value("name", "")},
                              {"arguments", f.value("arguments", json::object())}};
                if (!content.empty()) content += '\n';
                content.append("<tool_call>\n").append(python_json(shown)).append("\n</tool_call>");
            }
            out.push_back({{"role", "assistant"}, {"content", content}});
        } else if (role == "tool") {
            std::string response = "<tool_response>\n" + content + "\n</tool_response>";
            // Results of consecutive calls share one user turn, keeping turns alternating.
            if (!out.empty() && out.back()["role"] == "user" &&
                out.back()["content"].get<std::string>().starts_with("<tool_response>")) {
                out.back()["content"] = out.back()["content"].get<std::string>() + "\n" + response;
            } else {
                out.push_back({{"role", "user"}, {"content", response}});
            }
        } else {
            out.push_back({{"role", role}, {"content", content}});
        }
    }
    if (system_first) {
        if (!out.empty() && out[0]["role"] == "system") {
            out[0]["content"] = out[0]["content"].get<std::string>() + "\n\n" + section;
        } else {
            out.insert(out.begin(), json{{"role", "system"}, {"content", section}});
        }
    } else {
        // A template with no system role: the section opens the first user turn.
        for (auto& m : out) {
            if (m["role"] == "user") {
                m["content"] = section + "\n\n" + m["content"].get<std::string>();
                break;
            }
        }
    }
    return out;
}

// Mistral's template insists on ids of nine letters and digits; others show them or not.
std::string call_id(const ToolCall& call, int counter) {
    if (call.id.size() == 9 && std::all_of(call.id.begin(), call.id.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c));
        })) {
        return call.id;
    }
    char id[16];
    std::snprintf(id, sizeof id, "call%05d", counter % 100000);
    return id;
}

std::string available(std::span<const Tool> tools) {
    std::string names;
    for (const auto& t : tools) names += (names.empty() ? "" : ", ") + t.definition.name;
    return names.empty() ? "none" : names;
}

}  // namespace

json tool_schemas(std::span<const Tool> tools) {
    json out = json::array();
    for (const auto& t : tools) {
        out.push_back({{"type", "function"},
                       {"function",
                        {{"name", t.definition.name},
                         {"description", t.definition.description},
                         {"parameters", t.definition.parameters}}}});
    }
    return out;
}

json chat_messages(std::span<const Message> messages) {
    json out = json::array();
    for (const auto& m : messages) out.push_back({{"role", m.role}, {"content", m.content}});
    return out;
}

std::string render_with_tools(const LanguageModel& model, const json& messages,
                              std::span<const Tool> tools) {
    return render_with_tools(model.chat_template(), template_options(model), messages, tools);
}

std::string render_with_tools(const ChatTemplate& tmpl, ChatTemplateOptions options,
                              const json& messages, std::span<const Tool> tools) {
    if (tools.empty()) return tmpl.render(messages, options);
    const json schemas = tool_schemas(tools);
    if (shows_tools(tmpl, options)) {
        options.tools = schemas;
        return tmpl.render(messages, options);
    }
    try {
        return tmpl.render(as_plain_text(messages, schemas, true), options);
    } catch (const Error&) {
        // Some templates refuse a system message; retry with the tools in the first user turn.
        return tmpl.render(as_plain_text(messages, schemas, false), options);
    }
}

ChatGenerator assistant_generator(Assistant& assistant, std::span<const Tool> tools,
                                  const SamplingSettings& settings,
                                  const std::atomic<bool>* cancel) {
    return
        [&assistant, tools, settings, cancel](const json& messages, const TextCallback& on_text) {
            GenerateOptions options = generate_options(settings);
            options.cancel = cancel;
            std::string prompt = render_with_tools(assistant.model(), messages, tools);
            return assistant.generate_from(assistant.tokenize_prompt(prompt), options, on_text);
        };
}

ToolLoopResult run_tool_loop(json messages, std::span<const Tool> tools,
                             const ChatGenerator& generate, const ToolLoopOptions& options) {
    std::vector<std::string> names;
    for (const auto& t : tools) names.push_back(t.definition.name);
    ToolLoopResult result;
    int calls_made = 0;
    for (int step = 0;; ++step) {
        ToolCallFilter filter;
        TextCallback on_text;
        if (options.on_text) {
            on_text = [&](std::string_view text) {
                std::string shown = tools.empty() ? std::string(text) : filter.push(text);
                if (!shown.empty()) options.on_text(shown);
            };
        }
        Reply reply = generate(messages, on_text);
        result.generated_tokens += reply.timings.generated_tokens;
        ParsedToolCalls parsed;
        if (!tools.empty() && reply.stop_reason != StopReason::cancelled)
            parsed = parse_tool_calls(reply.text, names);
        const bool calls = !parsed.calls.empty();
        if (!calls || step >= options.max_steps) {
            if (calls) {
                // The model still wants tools, but the steps are used up: its prose is the answer.
                result.step_limit_reached = true;
                reply.text = parsed.content;
            } else if (options.on_text) {
                std::string rest = filter.finish();
                if (!rest.empty()) options.on_text(rest);
            }
            messages.push_back({{"role", "assistant"}, {"content", reply.text}});
            result.reply = std::move(reply);
            result.messages = std::move(messages);
            return result;
        }
        // One call per assistant message: Llama 3.x templates accept no more, and every template
        // accepts this shape.
        for (size_t i = 0; i < parsed.calls.size(); ++i) {
            ToolExchange exchange;
            exchange.call = parsed.calls[i];
            exchange.call.id = call_id(exchange.call, ++calls_made);
            messages.push_back(
                {{"role", "assistant"},
                 {"content", i == 0 ? parsed.content : std::string()},
                 {"tool_calls", json::array({{{"id", exchange.call.id},
                                              {"type", "function"},
                                              {"function",
                                               {{"name", exchange.call.name},
                                                {"arguments", exchange.call.arguments}}}}})}});
            auto tool = std::find_if(tools.begin(), tools.end(), [&](const Tool& t) {
                return t.definition.name == exchange.call.name;
            });
            if (tool == tools.end()) {
                exchange.failed = true;
                exchange.result = "error: unknown tool '" + exchange.call.name +
                                  "' (available: " + available(tools) + ")";
            } else {
                try {
                    exchange.result = tool->run(exchange.call.arguments);
                } catch (const Error& e) {
                    exchange.failed = true;
                    exchange.result = std::string("error: ") + e.what();
                }
            }
            messages.push_back({{"role", "tool"},
                                {"tool_call_id", exchange.call.id},
                                {"name", exchange.call.name},
                                {"content", exchange.result}});
            if (options.on_tool) options.on_tool(exchange);
            result.exchanges.push_back(std::move(exchange));
        }
    }
}

}  // namespace ponder
