#include "engine/chat_template.h"

#include <array>

#include "engine/error.h"

namespace ponder {

namespace {

// The environment Hugging Face transformers renders chat templates in.
jinja::TemplateOptions huggingface_options() {
    jinja::TemplateOptions options;
    options.trim_blocks = true;
    options.lstrip_blocks = true;
    options.keep_trailing_newline = false;
    options.tojson = jinja::TojsonStyle::python_json_dumps;
    return options;
}

// Interpreter errors start "template ..."; say which template this is.
[[noreturn]] void rethrow_as_chat_template_error(const Error& e) {
    fail("chat ", e.what());
}

// nlohmann::json copies recursively; input nested deeper than templates may see is refused before
// it is copied, so that hostile input cannot exhaust the stack.
bool nested_deeper_than(const nlohmann::ordered_json& json, int levels) {
    if (levels < 0) return true;
    if (json.is_array() || json.is_object()) {
        for (const auto& item : json)
            if (nested_deeper_than(item, levels - 1)) return true;
    }
    return false;
}

void check_nesting(const nlohmann::ordered_json& json, std::string_view what, int max_nesting) {
    if (nested_deeper_than(json, max_nesting))
        fail("chat template: ", what, " nested more than ", max_nesting, " levels deep");
}

constexpr std::array<std::string_view, 3> kReservedVariables = {"messages", "tools",
                                                                "add_generation_prompt"};

}  // namespace

std::string_view chatml_template_source() {
    return "{% for message in messages %}"
           "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
           "'\\n' }}"
           "{% endfor %}"
           "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
}

ChatTemplate::ChatTemplate(std::string source, jinja::Template compiled)
    : source_(std::move(source)), compiled_(std::move(compiled)) {}

ChatTemplate ChatTemplate::parse(std::string_view source) {
    try {
        return ChatTemplate(std::string(source),
                            jinja::Template::parse(source, huggingface_options()));
    } catch (const Error& e) {
        rethrow_as_chat_template_error(e);
    }
}

ChatTemplate ChatTemplate::chatml() {
    return parse(chatml_template_source());
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages,
                                 const ChatTemplateOptions& options) const {
    if (!messages.is_array())
        fail("chat template: messages must be a JSON array, not ", messages.type_name());
    if (!options.tools.is_null() && !options.tools.is_array())
        fail("chat template: tools must be a JSON array or null, not ", options.tools.type_name());
    if (!options.extra_context.is_null() && !options.extra_context.is_object())
        fail("chat template: extra_context must be a JSON object, not ",
             options.extra_context.type_name());

    const int max_nesting = options.limits.max_nesting;
    check_nesting(messages, "messages", max_nesting);
    check_nesting(options.tools, "tools", max_nesting);
    check_nesting(options.extra_context, "extra_context", max_nesting);

    // What transformers passes to template.render(): messages, tools, documents,
    // add_generation_prompt, the tokenizer's special tokens, then any extra keyword arguments.
    nlohmann::ordered_json context = nlohmann::ordered_json::object();
    context["messages"] = messages;
    context["tools"] = options.tools;
    context["documents"] = nullptr;
    context["add_generation_prompt"] = options.add_generation_prompt;
    context["bos_token"] = options.bos_token;
    context["eos_token"] = options.eos_token;
    if (options.extra_context.is_object()) {
        for (const auto& [key, value] : options.extra_context.items()) {
            for (std::string_view reserved : kReservedVariables)
                if (key == reserved)
                    fail("chat template: extra_context may not set '", key,
                         "'; use its own option");
            context[key] = value;
        }
    }

    jinja::RenderOptions render_options;
    render_options.limits = options.limits;
    render_options.now = options.now;
    try {
        return compiled_.render(context, render_options);
    } catch (const Error& e) {
        rethrow_as_chat_template_error(e);
    }
}

}  // namespace ponder
