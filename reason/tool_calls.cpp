#include "reason/tool_calls.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace ponder {

namespace {

using json = nlohmann::ordered_json;
constexpr size_t npos = std::string_view::npos;

constexpr std::string_view kToolCallOpen = "<tool_call>";
constexpr std::string_view kToolCallClose = "</tool_call>";
constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kMistralCalls = "[TOOL_CALLS]";
constexpr std::string_view kMistralArgs = "[ARGS]";
constexpr std::string_view kFunctionOpen = "<function=";
constexpr std::string_view kFunctionClose = "</function>";
constexpr std::string_view kAction = "Action:";
// What the streaming filter holds back from.
constexpr std::array<std::string_view, 5> kMarkers = {kToolCallOpen, kPythonTag, kMistralCalls,
                                                      kFunctionOpen, kAction};

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t skip_space(std::string_view text, size_t pos) {
    while (pos < text.size() && is_space(text[pos])) ++pos;
    return pos;
}

std::string_view trim(std::string_view text) {
    size_t begin = skip_space(text, 0), end = text.size();
    while (end > begin && is_space(text[end - 1])) --end;
    return text.substr(begin, end - begin);
}

bool starts_with_at(std::string_view text, size_t pos, std::string_view prefix) {
    return text.substr(pos, prefix.size()) == prefix;
}

// One past the end of the JSON object or array that starts at text[start], found by matching
// brackets outside strings; npos when it is not closed.
size_t json_end(std::string_view text, size_t start) {
    int depth = 0;
    bool in_string = false, escaped = false;
    for (size_t i = start; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) return i + 1;
        }
    }
    return npos;
}

// The JSON object or array at text[pos] (after spaces); advances pos past it. Null on failure.
json read_json(std::string_view text, size_t& pos) {
    size_t start = skip_space(text, pos);
    if (start >= text.size() || (text[start] != '{' && text[start] != '[')) return nullptr;
    size_t end = json_end(text, start);
    if (end == npos) return nullptr;
    json value = json::parse(text.substr(start, end - start), nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) return nullptr;
    pos = end;
    return value;
}

// A call object in any of the shapes above; false (with the reason) when it is not one.
bool to_call(const json& object, ToolCall& call, std::string& why) {
    if (!object.is_object()) {
        why = "a tool call must be a JSON object";
        return false;
    }
    const json* body = &object;
    if (auto f = object.find("function"); f != object.end() && f->is_object()) body = &*f;
    const json* name = nullptr;
    for (const char* key : {"name", "tool_name"}) {
        if (auto it = body->find(key); it != body->end() && it->is_string()) name = &*it;
    }
    if (!name || name->get_ref<const std::string&>().empty()) {
        why = "a tool call needs a \"name\"";
        return false;
    }
    call.name = name->get<std::string>();
    call.arguments = json::object();
    for (const char* key : {"arguments", "parameters", "args"}) {
        auto it = body->find(key);
        if (it == body->end() || it->is_null()) continue;
        json arguments = *it;
        if (arguments.is_string()) {
            // OpenAI-style: the arguments object serialised as a string.
            const std::string& text = it->get_ref<const std::string&>();
            arguments = trim(text).empty() ? json::object() : json::parse(text, nullptr, false);
            if (arguments.is_discarded()) {
                why = "the arguments of " + call.name + " are not valid JSON";
                return false;
            }
        }
        if (!arguments.is_object()) {
            why = "the arguments of " + call.name + " must be a JSON object";
            return false;
        }
        call.arguments = std::move(arguments);
        break;
    }
    if (auto it = object.find("id"); it != object.end() && it->is_string())
        call.id = it->get<std::string>();
    return true;
}

// Adds the calls in a JSON value (an object, or an array of them) to `out`.
void add_calls(const json& value, ParsedToolCalls& out) {
    ToolCall call;
    std::string why;
    if (value.is_array()) {
        for (const auto& item : value) add_calls(item, out);
    } else if (to_call(value, call, why)) {
        out.calls.push_back(std::move(call));
    } else {
        out.malformed.push_back(std::move(why));
    }
}

// JSON values separated by spaces, ';' or ',' from pos to the end (Llama's several calls).
// Returns false, leaving `values` partial, when something else is in between.
bool read_json_sequence(std::string_view text, size_t pos, std::vector<json>& values) {
    for (;;) {
        pos = skip_space(text, pos);
        while (pos < text.size() && (text[pos] == ';' || text[pos] == ','))
            pos = skip_space(text, pos + 1);
        if (pos >= text.size()) return !values.empty();
        json value = read_json(text, pos);
        if (value.is_null()) return false;
        values.push_back(std::move(value));
    }
}

// Strips a Markdown code fence (```json ... ```) around the whole text.
std::string_view unfence(std::string_view text) {
    text = trim(text);
    if (!text.starts_with("```")) return text;
    size_t line_end = text.find('\n');
    if (line_end == npos) return text;
    std::string_view body = text.substr(line_end + 1);
    body = trim(body);
    if (body.ends_with("```")) body.remove_suffix(3);
    return trim(body);
}

// Llama's builtin-tool form after <|python_tag|>: name.call(key="value", n=3).
bool read_python_call(std::string_view text, size_t& pos, ToolCall& call) {
    size_t start = skip_space(text, pos);
    size_t dot = text.find(".call(", start);
    if (dot == npos || dot == start) return false;
    std::string_view name = text.substr(start, dot - start);
    if (!std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
        })) {
        return false;
    }
    call.name = std::string(name);
    call.arguments = json::object();
    size_t i = dot + 6;
    for (;;) {
        i = skip_space(text, i);
        if (i >= text.size()) return false;
        if (text[i] == ')') break;
        size_t eq = text.find('=', i);
        if (eq == npos) return false;
        std::string key(trim(text.substr(i, eq - i)));
        i = skip_space(text, eq + 1);
        if (i < text.size() && (text[i] == '"' || text[i] == '\'')) {
            const char quote = text[i++];
            std::string value;
            while (i < text.size() && text[i] != quote) {
                if (text[i] == '\\' && i + 1 < text.size()) ++i;
                value += text[i++];
            }
            if (i >= text.size()) return false;
            ++i;
            call.arguments[key] = value;
        } else {
            size_t end = text.find_first_of(",)", i);
            if (end == npos) return false;
            std::string raw(trim(text.substr(i, end - i)));
            json number = json::parse(raw, nullptr, false);
            if (raw == "True" || raw == "False")
                call.arguments[key] = raw == "True";
            else if (!number.is_discarded())
                call.arguments[key] = number;
            else
                call.arguments[key] = raw;
            i = end;
        }
        i = skip_space(text, i);
        if (i < text.size() && text[i] == ',') ++i;
    }
    pos = i + 1;
    return true;
}

// The earliest tool-call marker at or after `from`; npos when none.
size_t find_marker(std::string_view text, size_t from, std::string_view& which) {
    size_t best = npos;
    for (std::string_view marker : kMarkers) {
        size_t at = text.find(marker, from);
        // "Action:" is ordinary prose unless a JSON list (Command R's actions) follows.
        while (at != npos && marker == kAction) {
            std::string_view rest = unfence(text.substr(at + marker.size()));
            if (rest.starts_with("[")) break;
            at = text.find(marker, at + 1);
        }
        if (at < best) {
            best = at;
            which = marker;
        }
    }
    return best;
}

bool all_known(const ParsedToolCalls& parsed, std::span<const std::string> known) {
    if (known.empty()) return true;
    return std::all_of(parsed.calls.begin(), parsed.calls.end(), [&](const ToolCall& c) {
        return std::find(known.begin(), known.end(), c.name) != known.end();
    });
}

// Output that is nothing but JSON calls (Llama 3.x, or Mistral's with [TOOL_CALLS] dropped).
ParsedToolCalls parse_bare_json(std::string_view output, std::span<const std::string> known) {
    ParsedToolCalls none;
    none.content = std::string(trim(output));
    std::string_view body = unfence(output);
    if (body.empty() || (body.front() != '{' && body.front() != '[')) return none;
    std::vector<json> values;
    if (!read_json_sequence(body, 0, values)) return none;
    ParsedToolCalls parsed;
    for (const auto& v : values) add_calls(v, parsed);
    if (!parsed.malformed.empty() || parsed.calls.empty() || !all_known(parsed, known)) return none;
    return parsed;
}

}  // namespace

ParsedToolCalls parse_tool_calls(std::string_view output,
                                 std::span<const std::string> known_tools) {
    ParsedToolCalls parsed;
    std::string content;
    bool any_marker = false;
    size_t pos = 0;
    for (;;) {
        std::string_view marker;
        size_t at = find_marker(output, pos, marker);
        content.append(output.substr(pos, at == npos ? npos : at - pos));
        if (at == npos) break;
        any_marker = true;
        pos = at + marker.size();

        if (marker == kToolCallOpen) {
            json value = read_json(output, pos);
            if (value.is_null())
                parsed.malformed.push_back("<tool_call> without a JSON object");
            else
                add_calls(value, parsed);
            size_t close = output.find(kToolCallClose, pos);
            size_t next_open = output.find(kToolCallOpen, pos);
            if (close != npos && close < next_open)
                pos = close + kToolCallClose.size();
            else if (value.is_null())
                pos = std::min(next_open, output.size());
        } else if (marker == kFunctionOpen) {
            size_t name_end = output.find('>', pos);
            ToolCall call;
            if (name_end != npos) {
                call.name = std::string(trim(output.substr(pos, name_end - pos)));
                pos = name_end + 1;
                json arguments = read_json(output, pos);
                if (arguments.is_object() && !call.name.empty()) {
                    call.arguments = std::move(arguments);
                    parsed.calls.push_back(std::move(call));
                } else {
                    parsed.malformed.push_back("<function=...> without a JSON object of arguments");
                }
                size_t close = output.find(kFunctionClose, pos);
                if (close != npos) pos = close + kFunctionClose.size();
            } else {
                parsed.malformed.push_back("<function= without a closing '>'");
                pos = output.size();
            }
        } else if (marker == kPythonTag) {
            // The rest of the output: JSON calls, or builtin-tool calls name.call(...).
            std::vector<json> values;
            if (read_json_sequence(output, pos, values)) {
                for (const auto& v : values) add_calls(v, parsed);
                pos = output.size();
            } else {
                ToolCall call;
                bool any = false;
                while (read_python_call(output, pos, call)) {
                    parsed.calls.push_back(std::move(call));
                    any = true;
                    pos = skip_space(output, pos);
                    if (pos < output.size() && output[pos] == ';') ++pos;
                }
                if (!any) {
                    parsed.malformed.push_back("<|python_tag|> without a call");
                    pos = output.size();
                }
            }
        } else if (marker == kMistralCalls) {
            size_t start = skip_space(output, pos);
            size_t args = output.find(kMistralArgs, start);
            if (start < output.size() && (output[start] == '[' || output[start] == '{')) {
                json value = read_json(output, pos);
                if (value.is_null())
                    parsed.malformed.push_back("[TOOL_CALLS] without a JSON list of calls");
                else
                    add_calls(value, parsed);
                if (value.is_null()) pos = output.size();
            } else if (args != npos) {
                // The newer form: [TOOL_CALLS]name[ARGS]{...}
                ToolCall call;
                call.name = std::string(trim(output.substr(start, args - start)));
                pos = args + kMistralArgs.size();
                json arguments = read_json(output, pos);
                if (arguments.is_object() && !call.name.empty()) {
                    call.arguments = std::move(arguments);
                    parsed.calls.push_back(std::move(call));
                } else {
                    parsed.malformed.push_back("[TOOL_CALLS] without JSON arguments");
                    pos = output.size();
                }
            } else {
                parsed.malformed.push_back("[TOOL_CALLS] without a JSON list of calls");
                pos = output.size();
            }
        } else {  // Command R's "Action: ```json [...] ```"
            size_t fence_end = npos;
            size_t start = skip_space(output, pos);
            if (starts_with_at(output, start, "```")) {
                size_t line_end = output.find('\n', start);
                if (line_end != npos) start = line_end + 1;
                fence_end = output.find("```", start);
            }
            pos = start;
            json value = read_json(output, pos);
            if (value.is_array()) {
                for (const auto& action : value) {
                    // "directly-answer" is Command R's way of saying: no tool.
                    if (action.is_object()) {
                        // value() would throw on a name that is not a string (found by fuzzing).
                        auto name = action.find("tool_name");
                        if (name != action.end() && *name == "directly-answer") continue;
                    }
                    add_calls(action, parsed);
                }
            } else {
                parsed.malformed.push_back("Action: without a JSON list");
                pos = output.size();
            }
            if (fence_end != npos && fence_end >= pos) pos = fence_end + 3;
        }
        if (pos > output.size()) pos = output.size();
    }
    if (!any_marker) return parse_bare_json(output, known_tools);
    parsed.content = std::string(trim(content));
    return parsed;
}

std::string ToolCallFilter::push(std::string_view text) {
    held_.append(text);
    if (holding_) return {};
    if (!started_) {
        size_t first = held_.find_first_not_of(" \t\r\n");
        if (first == std::string::npos) return {};
        started_ = true;
        // JSON (a bare call) or a code fence around it: hold everything until the end.
        if (held_[first] == '{' || held_[first] == '[' || held_[first] == '`') {
            holding_ = true;
            return {};
        }
    }
    size_t keep = held_.size();
    std::string_view which;
    if (size_t at = find_marker(held_, 0, which); at != npos) {
        keep = at;
        holding_ = true;
    } else {
        // A tail that may still grow into a marker stays back.
        for (std::string_view marker : kMarkers) {
            for (size_t n = std::min(marker.size() - 1, held_.size()); n > 0; --n) {
                if (std::string_view(held_).substr(held_.size() - n) == marker.substr(0, n)) {
                    keep = std::min(keep, held_.size() - n);
                    break;
                }
            }
        }
        // "Action:" is held until what follows shows whether it opens a list of calls.
        if (size_t at = held_.rfind(kAction); at != std::string::npos) {
            std::string_view rest = trim(std::string_view(held_).substr(at + kAction.size()));
            if (rest.empty() || rest.front() == '`' || rest.front() == '[')
                keep = std::min(keep, at);
        }
    }
    std::string out = held_.substr(0, keep);
    held_.erase(0, keep);
    return out;
}

std::string ToolCallFilter::finish() {
    std::string out = std::move(held_);
    held_.clear();
    holding_ = false;
    started_ = false;
    return out;
}

}  // namespace ponder
