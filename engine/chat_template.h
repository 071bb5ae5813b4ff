#pragma once
// Chat templates: the Jinja template a model ships in its GGUF metadata
// (tokenizer.chat_template) turns a conversation into the prompt text the model was trained on.
// Rendering follows Hugging Face transformers (apply_chat_template) byte for byte: trim_blocks and
// lstrip_blocks on, its tojson (Python json.dumps, keys in given order, no HTML escaping),
// raise_exception, strftime_now, and the variables messages, tools, documents,
// add_generation_prompt, bos_token and eos_token.
//
//   auto tmpl = ponder::ChatTemplate::parse(gguf_chat_template);
//   ponder::ChatTemplateOptions opts;
//   opts.bos_token = "<s>";
//   std::string prompt = tmpl.render(messages, opts);
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/jinja.h"

namespace ponder {

struct ChatTemplateOptions {
    // Append the header that opens the assistant's reply.
    bool add_generation_prompt = true;
    // Tool definitions (a JSON array, usually {"type": "function", "function": {...}}); null means
    // no tools, which templates see as `tools` = None.
    nlohmann::ordered_json tools;
    std::string bos_token;
    std::string eos_token;
    // What strftime_now() formats (local time); the system clock when absent.
    std::optional<std::chrono::system_clock::time_point> now;
    // More template variables, a JSON object (e.g. date_string, builtin_tools, documents).
    // It may not redefine messages, tools or add_generation_prompt.
    nlohmann::ordered_json extra_context;
    jinja::Limits limits;
};

class ChatTemplate {
  public:
    // Throws Error ("chat template syntax error at line L:C: ...") if the template is invalid.
    static ChatTemplate parse(std::string_view source);

    // The ChatML template (<|im_start|>role\ncontent<|im_end|>\n per message), a fallback for
    // models that ship no template; callers decide when to use it.
    static ChatTemplate chatml();

    // `messages` is the Hugging Face form: an array of objects with "role" and "content", and any
    // other fields ("tool_calls", "name", ...), all visible to the template. Key order is kept
    // and shows in tojson output, which is why this takes nlohmann::ordered_json (a
    // nlohmann::json converts, but has already sorted its keys). Throws Error with the template
    // position on runtime errors, including the template's own raise_exception ("chat template
    // raised an error at line L:C: ...").
    std::string render(const nlohmann::ordered_json& messages,
                       const ChatTemplateOptions& options = {}) const;

    const std::string& source() const { return source_; }

  private:
    ChatTemplate(std::string source, jinja::Template compiled);

    std::string source_;
    jinja::Template compiled_;
};

// The source of ChatTemplate::chatml().
std::string_view chatml_template_source();

}  // namespace ponder
