#pragma once
// Tool use: the model is shown tool definitions (through its chat template's `tools`, or a
// Hermes-style system section when the template ignores them), may answer with tool calls, the
// calls run, their results go back as `tool` messages, and the model continues — until it
// answers without a call or the step limit is reached.
#include <atomic>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reason/assistant.h"
#include "reason/tool_calls.h"

namespace ponder {

struct ToolDefinition {
    std::string name;
    std::string description;
    // JSON schema of the arguments: {"type": "object", "properties": {...}, "required": [...]}
    nlohmann::ordered_json parameters = {{"type", "object"},
                                         {"properties", nlohmann::ordered_json::object()}};
};

// Runs a tool on the arguments the model gave; returns the result text. Throws ponder::Error
// for a failure the model should be told about (bad arguments, a file it may not read, ...).
using ToolFunction = std::function<std::string(const nlohmann::ordered_json& arguments)>;

struct Tool {
    ToolDefinition definition;
    ToolFunction run;
};

// The definitions in the JSON-schema function format templates expect:
// [{"type": "function", "function": {"name", "description", "parameters"}}, ...]
nlohmann::ordered_json tool_schemas(std::span<const Tool> tools);

// Messages (role/content) in the Hugging Face form templates take.
nlohmann::ordered_json chat_messages(std::span<const Message> messages);

// The prompt for `messages` (Hugging Face form, tool calls and tool results included) with
// `tools` offered. Templates that render `tools` get them as they are; for a template that ignores
// them, the definitions and the Hermes <tool_call> convention go into the system message, and
// calls and results become plain text the template can show.
std::string render_with_tools(const ChatTemplate& chat_template, ChatTemplateOptions options,
                              const nlohmann::ordered_json& messages, std::span<const Tool> tools);
// The same with the model's template, BOS and EOS.
std::string render_with_tools(const LanguageModel& model, const nlohmann::ordered_json& messages,
                              std::span<const Tool> tools);

// One generation: the conversation so far to the model's next message, streamed to `on_text`.
using ChatGenerator =
    std::function<Reply(const nlohmann::ordered_json& messages, const TextCallback& on_text)>;

// The generator that runs `assistant` (rendering with render_with_tools).
ChatGenerator assistant_generator(Assistant& assistant, std::span<const Tool> tools,
                                  const SamplingSettings& settings,
                                  const std::atomic<bool>* cancel = nullptr);

struct ToolExchange {
    ToolCall call;
    std::string result;   // what the model was given
    bool failed = false;  // the tool threw, was unknown, or the call was malformed
};

struct ToolLoopOptions {
    int max_steps = 5;     // rounds of tool calls; the answer after the last is final
    TextCallback on_text;  // the answer's text, with tool-call markup held back
    std::function<void(const ToolExchange&)> on_tool;  // after each call
};

struct ToolLoopResult {
    Reply reply;                          // the last generation; text without call markup
    std::vector<ToolExchange> exchanges;  // every call, in order
    nlohmann::ordered_json messages;      // the conversation with calls and results appended
    bool step_limit_reached = false;      // the last answer still asked for tools
    int64_t generated_tokens = 0;         // over every step
};

// Runs the conversation `messages` with `tools` until the model answers without calling one.
// Exceptions from `generate` propagate; a tool's ponder::Error becomes an error result for the
// model. Other exceptions from a tool (e.g. a script being stopped) propagate.
ToolLoopResult run_tool_loop(nlohmann::ordered_json messages, std::span<const Tool> tools,
                             const ChatGenerator& generate, const ToolLoopOptions& options = {});

}  // namespace ponder
