#pragma once
// Splits Jinja source into text and tag tokens, applying jinja2's whitespace rules: `{%- -%}`,
// `{{- -}}`, `{#- -#}` strip whitespace beside a tag, `+` keeps it, trim_blocks drops the newline
// after a block tag or comment, lstrip_blocks drops spaces before one on its own line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"

namespace ponder::jinja {

enum class TokenKind {
    text,
    variable_begin,  // {{
    variable_end,    // }}
    block_begin,     // {%
    block_end,       // %}
    name,
    string,  // value holds the decoded string
    integer,
    floating,
    op,  // value holds the operator: "+", "//", "(", ...
    end,
};

struct Token {
    TokenKind kind = TokenKind::end;
    std::string value;
    std::int64_t int_value = 0;
    double float_value = 0;
    std::size_t offset = 0;  // byte offset into the normalized source
};

struct LexerOptions {
    bool trim_blocks = true;
    bool lstrip_blocks = true;
};

// jinja2 reads "\r\n" and "\r" as "\n" and, unless told to keep it, drops one trailing newline.
std::string normalize_source(std::string_view source, bool keep_trailing_newline);

// Tokens of a normalized source, ending with a TokenKind::end token. Throws Error on lexical
// errors (unterminated comment or string, unbalanced brackets), with line:column.
std::vector<Token> tokenize(std::string_view normalized, const LexerOptions& options);

struct SourceLocation {
    std::size_t line = 1;    // 1-based
    std::size_t column = 1;  // 1-based, in code points
};
SourceLocation locate(std::string_view source, std::size_t offset);

// "line 3:14"
std::string describe_location(std::string_view source, std::size_t offset);

template <typename... Parts>
[[noreturn]] void syntax_error(std::string_view source, std::size_t offset, Parts&&... parts) {
    fail("template syntax error at ", describe_location(source, offset), ": ",
         std::forward<Parts>(parts)...);
}

}  // namespace ponder::jinja
