#pragma once
// Tool calls in a model's output, in the formats real chat templates teach their models:
//   Qwen2.5 / Hermes 2 Pro:  <tool_call>{"name": "f", "arguments": {...}}</tool_call> (repeatable)
//   Llama 3.1 / 3.2:         {"name": "f", "parameters": {...}}, alone or after <|python_tag|>,
//                            several separated by ';'; builtin tools as <|python_tag|>f.call(k="v")
//   Llama 3.1 (alternative): <function=f>{...}</function>
//   Mistral:                 [TOOL_CALLS][{"name": "f", "arguments": {...}, "id": "..."}]
//   Command R:               Action: ```json [{"tool_name": "f", "parameters": {...}}] ```
// Special tokens such as <|python_tag|> and [TOOL_CALLS] are usually dropped from generated
// text, so their bare JSON is recognised too. Arguments given as a JSON string are decoded.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ponder {

struct ToolCall {
    std::string name;
    nlohmann::ordered_json arguments = nlohmann::ordered_json::object();
    std::string id;  // as the model gave it (Mistral), else empty
};

struct ParsedToolCalls {
    std::string content;                 // the output with the calls taken out, trimmed
    std::vector<ToolCall> calls;         // in the order written
    std::vector<std::string> malformed;  // call markup that could not be read, one reason each
};

// Finds the tool calls in `output`. Markup that only tools use (<tool_call>, [TOOL_CALLS], ...)
// always counts; JSON with no markup around it counts when the whole output is calls and, if
// `known_tools` is not empty, every call names one of them (so that a JSON answer is not taken
// for a call).
ParsedToolCalls parse_tool_calls(std::string_view output,
                                 std::span<const std::string> known_tools = {});

// Holds back streamed text that may be tool-call markup, so that a user watching the answer sees
// the prose and not the calls. Text that starts like JSON is held to the end.
class ToolCallFilter {
  public:
    // Adds generated text; returns what can be shown now.
    std::string push(std::string_view text);
    // The held-back rest, to show when the output turned out to hold no call.
    std::string finish();
    // True once markup (or a JSON start) has been seen: the rest is being held.
    bool holding() const { return holding_; }

  private:
    std::string held_;
    bool started_ = false;  // non-space text has been seen
    bool holding_ = false;
};

}  // namespace ponder
