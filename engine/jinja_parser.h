#pragma once
// Jinja source to syntax tree, following jinja2's grammar and operator precedence.
#include <memory>
#include <string_view>

#include "engine/jinja_ast.h"
#include "engine/jinja_lexer.h"

namespace ponder::jinja {

struct ParseOptions {
    LexerOptions lexer;
    bool keep_trailing_newline = false;
    int max_nesting = 100;  // blocks inside blocks, brackets inside brackets
};

// Throws Error with "template syntax error at line L:C: ..." on invalid templates, including
// unknown tags, filters and tests (jinja2 rejects an unknown filter at compile time unless it
// sits inside an {% if %} or a conditional expression; so does this).
std::unique_ptr<const Program> parse_program(std::string_view source, const ParseOptions& options);

}  // namespace ponder::jinja
