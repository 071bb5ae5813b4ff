#include "engine/jinja.h"

#include "engine/jinja_interpreter.h"
#include "engine/jinja_lexer.h"
#include "engine/jinja_parser.h"

namespace ponder::jinja {

Template::Template(std::shared_ptr<const Program> program, TemplateOptions options)
    : program_(std::move(program)), options_(std::move(options)) {}

Template Template::parse(std::string_view source, const TemplateOptions& options) {
    ParseOptions parse_options;
    parse_options.lexer.trim_blocks = options.trim_blocks;
    parse_options.lexer.lstrip_blocks = options.lstrip_blocks;
    parse_options.keep_trailing_newline = options.keep_trailing_newline;
    return Template(parse_program(source, parse_options), options);
}

std::string Template::render(const nlohmann::ordered_json& context,
                             const RenderOptions& options) const {
    if (!context.is_object() && !context.is_null())
        fail("template context must be a JSON object, not ", context.type_name());
    try {
        ValueLimits limits;
        limits.max_nesting = options.limits.max_nesting;
        limits.max_string_bytes = options.limits.max_output_bytes;
        Value variables = context.is_null() ? Value::dict({}) : from_json(context, limits);
        Renderer renderer(*program_, options_, options);
        return renderer.render(variables);
    } catch (const TemplateFault& f) {
        const bool raised = f.origin() == TemplateFault::Origin::raised_by_template;
        if (f.offset() == TemplateFault::kNoOffset)
            fail(raised ? "template raised an error: " : "template error: ", f.what());
        fail(raised ? "template raised an error at " : "template error at ",
             describe_location(program_->source, f.offset()), ": ", f.what());
    }
}

}  // namespace ponder::jinja
