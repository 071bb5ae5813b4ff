#include "engine/jinja_lexer.h"

#include <array>
#include <charconv>
#include <limits>

#include "engine/jinja_text.h"

namespace ponder::jinja {

namespace {

bool starts_with_at(std::string_view s, std::size_t pos, std::string_view prefix) {
    return pos <= s.size() && s.substr(pos).starts_with(prefix);
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) {
    return is_name_start(c) || is_digit(c);
}

// Python whitespace (str.isspace) at `pos`; advances past it.
bool skip_one_space(std::string_view s, std::size_t& pos) {
    if (pos >= s.size()) return false;
    std::size_t next = pos;
    if (!text::is_space(text::decode(s, next))) return false;
    pos = next;
    return true;
}

std::size_t skip_spaces(std::string_view s, std::size_t pos) {
    while (skip_one_space(s, pos)) {
    }
    return pos;
}

bool all_spaces(std::string_view s) {
    std::size_t pos = 0;
    while (pos < s.size())
        if (!skip_one_space(s, pos)) return false;
    return true;
}

std::string_view rstrip_spaces(std::string_view s) {
    return text::strip(s, std::nullopt, false, true);
}

constexpr std::array<std::string_view, 6> kTwoCharOperators = {"//", "**", "==", "!=", "<=", ">="};
constexpr std::string_view kOneCharOperators = "+-/*%~[](){}<>=.:|,;";

class Lexer {
  public:
    Lexer(std::string_view source, const LexerOptions& options) : src_(source), options_(options) {}

    std::vector<Token> run() {
        while (pos_ < src_.size()) {
            std::size_t open = find_opener(pos_);
            if (open == std::string_view::npos) {
                emit_text(pos_, src_.substr(pos_));
                break;
            }
            lex_tag_at(open);
        }
        Token end;
        end.kind = TokenKind::end;
        end.offset = src_.size();
        tokens_.push_back(std::move(end));
        return std::move(tokens_);
    }

  private:
    std::size_t find_opener(std::size_t from) const {
        for (std::size_t i = src_.find('{', from); i != std::string_view::npos;
             i = src_.find('{', i + 1)) {
            if (i + 1 < src_.size() &&
                (src_[i + 1] == '%' || src_[i + 1] == '{' || src_[i + 1] == '#'))
                return i;
        }
        return std::string_view::npos;
    }

    void emit_text(std::size_t offset, std::string_view text) {
        if (text.empty()) return;
        Token t;
        t.kind = TokenKind::text;
        t.value = std::string(text);
        t.offset = offset;
        tokens_.push_back(std::move(t));
    }

    void emit(TokenKind kind, std::size_t offset, std::string value = {}) {
        Token t;
        t.kind = kind;
        t.offset = offset;
        t.value = std::move(value);
        tokens_.push_back(std::move(t));
    }

    // Text before a tag, with the tag's whitespace control applied. `strips_line` says whether
    // lstrip_blocks applies to this kind of tag (blocks and comments, not {{ }}).
    std::string_view controlled_text(std::string_view text, char sign, bool strips_line) const {
        if (sign == '-') return rstrip_spaces(text);
        if (sign == '+' || !options_.lstrip_blocks || !strips_line) return text;
        std::size_t line_start = text.rfind('\n');
        line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
        if (line_start == 0 && !line_starting_) return text;
        std::string_view tail = text.substr(line_start);
        if (!tail.empty() && all_spaces(tail)) return text.substr(0, line_start);
        return text;
    }

    // `{% raw %}` (with optional - or + after {%); returns the end of the match or npos.
    std::size_t match_raw_begin(std::size_t after_sign) const {
        std::size_t p = skip_spaces(src_, after_sign);
        if (!starts_with_at(src_, p, "raw")) return std::string_view::npos;
        p = skip_spaces(src_, p + 3);
        if (starts_with_at(src_, p, "-%}")) return skip_spaces(src_, p + 3);
        if (starts_with_at(src_, p, "%}")) return p + 2;
        return std::string_view::npos;
    }

    void lex_tag_at(std::size_t open) {
        char kind = src_[open + 1];
        std::size_t after = open + 2;
        char sign = 0;
        if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) sign = src_[after];
        std::size_t after_sign = after + (sign != 0 ? 1 : 0);
        std::string_view before = src_.substr(pos_, open - pos_);

        if (kind == '%') {
            std::size_t raw_end = match_raw_begin(after_sign);
            if (raw_end != std::string_view::npos) {
                emit_text(pos_, controlled_text(before, sign, true));
                line_starting_ = src_[raw_end - 1] == '\n';
                lex_raw_body(open, raw_end);
                return;
            }
        }
        emit_text(pos_, controlled_text(before, sign, kind != '{'));
        line_starting_ = false;
        pos_ = after_sign;
        if (kind == '#') {
            lex_comment(open);
        } else {
            lex_tag_contents(open, kind == '%');
        }
    }

    void lex_comment(std::size_t open) {
        // jinja2 quietly drops a comment opener that ends the template.
        if (pos_ >= src_.size()) return;
        for (std::size_t i = pos_; i < src_.size(); ++i) {
            std::size_t end = std::string_view::npos;
            if (src_[i] == '+' && starts_with_at(src_, i + 1, "#}")) {
                end = i + 3;
            } else if (src_[i] == '-' && starts_with_at(src_, i + 1, "#}")) {
                end = skip_spaces(src_, i + 3);
            } else if (starts_with_at(src_, i, "#}")) {
                end = i + 2;
                if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
            }
            if (end != std::string_view::npos) {
                line_starting_ = src_[end - 1] == '\n';
                pos_ = end;
                return;
            }
        }
        syntax_error(src_, open, "missing end of comment tag");
    }

    void lex_raw_body(std::size_t open, std::size_t body_start) {
        for (std::size_t i = src_.find("{%", body_start); i != std::string_view::npos;
             i = src_.find("{%", i + 1)) {
            std::size_t p = i + 2;
            char sign = 0;
            if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
            p = skip_spaces(src_, p);
            if (!starts_with_at(src_, p, "endraw")) continue;
            p = skip_spaces(src_, p + 6);
            std::size_t end = std::string_view::npos;
            if (starts_with_at(src_, p, "+%}")) {
                end = p + 3;
            } else if (starts_with_at(src_, p, "-%}")) {
                end = skip_spaces(src_, p + 3);
            } else if (starts_with_at(src_, p, "%}")) {
                end = p + 2;
                if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
            }
            if (end == std::string_view::npos) continue;
            emit_text(body_start,
                      controlled_text(src_.substr(body_start, i - body_start), sign, true));
            line_starting_ = src_[end - 1] == '\n';
            pos_ = end;
            return;
        }
        syntax_error(src_, open, "missing end of raw directive");
    }

    // The tokens of a {% %} or {{ }} tag up to and including its end.
    void lex_tag_contents(std::size_t open, bool block) {
        emit(block ? TokenKind::block_begin : TokenKind::variable_begin, open);
        std::string brackets;  // closing brackets still expected
        while (true) {
            if (pos_ >= src_.size())
                syntax_error(src_, open,
                             "unexpected end of template, the tag opened here was not closed by '",
                             block ? "%}" : "}}", "'");
            if (brackets.empty() && lex_tag_end(block)) return;
            std::size_t start = pos_;
            if (skip_one_space(src_, pos_)) {
                pos_ = skip_spaces(src_, pos_);
                continue;
            }
            char c = src_[pos_];
            if (is_digit(c)) {
                lex_number();
            } else if (is_name_start(c)) {
                std::size_t end = pos_;
                while (end < src_.size() && is_name_char(src_[end])) {
                    // Non-ASCII letters may appear in names, non-ASCII spaces (U+00A0...) not.
                    std::size_t probe = end;
                    if (text::is_space(text::decode(src_, probe))) break;
                    end = probe;
                }
                emit(TokenKind::name, start, std::string(src_.substr(pos_, end - pos_)));
                pos_ = end;
            } else if (c == '\'' || c == '"') {
                lex_string();
            } else {
                lex_operator(brackets);
            }
        }
    }

    bool lex_tag_end(bool block) {
        std::size_t end = std::string_view::npos;
        if (block) {
            if (src_[pos_] == '+' && starts_with_at(src_, pos_ + 1, "%}")) {
                end = pos_ + 3;
            } else if (src_[pos_] == '-' && starts_with_at(src_, pos_ + 1, "%}")) {
                end = skip_spaces(src_, pos_ + 3);
            } else if (starts_with_at(src_, pos_, "%}")) {
                end = pos_ + 2;
                if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
            }
        } else {
            if (src_[pos_] == '-' && starts_with_at(src_, pos_ + 1, "}}")) {
                end = skip_spaces(src_, pos_ + 3);
            } else if (starts_with_at(src_, pos_, "}}")) {
                end = pos_ + 2;
            }
        }
        if (end == std::string_view::npos) return false;
        emit(block ? TokenKind::block_end : TokenKind::variable_end, pos_);
        line_starting_ = src_[end - 1] == '\n';
        pos_ = end;
        return true;
    }

    // Digits with optional single underscores between them; returns the end.
    std::size_t digits_end(std::size_t p, bool (*accept)(char)) const {
        if (p >= src_.size() || !accept(src_[p])) return std::string_view::npos;
        ++p;
        while (p < src_.size()) {
            if (accept(src_[p])) {
                ++p;
            } else if (src_[p] == '_' && p + 1 < src_.size() && accept(src_[p + 1])) {
                p += 2;
            } else {
                break;
            }
        }
        return p;
    }

    void lex_number() {
        std::size_t start = pos_;
        auto dec = [](char c) { return is_digit(c); };
        std::size_t int_end = digits_end(start, dec);
        // Floats: digits then a fraction and/or exponent; never right after a '.', so that
        // `a.0.1` reads as item lookups.
        bool after_dot = start > 0 && src_[start - 1] == '.';
        if (!after_dot) {
            std::size_t p = int_end;
            bool is_float = false;
            if (p < src_.size() && src_[p] == '.') {
                std::size_t frac = digits_end(p + 1, dec);
                if (frac != std::string_view::npos) {
                    p = frac;
                    is_float = true;
                }
            }
            if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
                std::size_t q = p + 1;
                if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
                std::size_t exp = digits_end(q, dec);
                if (exp != std::string_view::npos) {
                    p = exp;
                    is_float = true;
                }
            }
            if (is_float) {
                std::string digits;
                for (std::size_t i = start; i < p; ++i)
                    if (src_[i] != '_') digits += src_[i];
                Token t;
                t.kind = TokenKind::floating;
                t.offset = start;
                std::from_chars(digits.data(), digits.data() + digits.size(), t.float_value);
                t.value = std::move(digits);
                tokens_.push_back(std::move(t));
                pos_ = p;
                return;
            }
        }
        int base = 10;
        std::size_t digits_start = start;
        std::size_t end = int_end;
        if (src_[start] == '0' && start + 1 < src_.size()) {
            char prefix = static_cast<char>(src_[start + 1] | 0x20);
            bool (*accept)(char) = nullptr;
            if (prefix == 'x') {
                base = 16;
                accept = [](char c) {
                    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
                };
            } else if (prefix == 'o') {
                base = 8;
                accept = [](char c) { return c >= '0' && c <= '7'; };
            } else if (prefix == 'b') {
                base = 2;
                accept = [](char c) { return c == '0' || c == '1'; };
            }
            if (accept != nullptr) {
                std::size_t p = start + 2;
                if (p < src_.size() && src_[p] == '_') ++p;
                std::size_t e = digits_end(p, accept);
                if (e != std::string_view::npos) {
                    digits_start = start + 2;
                    end = e;
                } else {
                    base = 10;
                }
            }
        }
        if (base == 10 && src_[start] == '0') {
            // Python allows no leading zeros: "0", "00", "0_0" only.
            end = start + 1;
            while (end < src_.size() &&
                   (src_[end] == '0' ||
                    (src_[end] == '_' && end + 1 < src_.size() && src_[end + 1] == '0')))
                end += src_[end] == '_' ? 2 : 1;
        }
        std::string digits;
        for (std::size_t i = digits_start; i < end; ++i)
            if (src_[i] != '_') digits += src_[i];
        Token t;
        t.kind = TokenKind::integer;
        t.offset = start;
        auto [ptr, ec] =
            std::from_chars(digits.data(), digits.data() + digits.size(), t.int_value, base);
        if (ec != std::errc() || ptr != digits.data() + digits.size())
            syntax_error(src_, start, "integer literal too large");
        t.value = std::string(src_.substr(start, end - start));
        tokens_.push_back(std::move(t));
        pos_ = end;
    }

    static int hex_value(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    // A quoted string, decoded with Python's escape sequences.
    void lex_string() {
        std::size_t start = pos_;
        char quote = src_[pos_++];
        std::string value;
        while (true) {
            if (pos_ >= src_.size()) syntax_error(src_, start, "unterminated string literal");
            char c = src_[pos_++];
            if (c == quote) break;
            if (c != '\\') {
                value += c;
                continue;
            }
            if (pos_ >= src_.size()) syntax_error(src_, start, "unterminated string literal");
            char e = src_[pos_++];
            switch (e) {
                case '\n':
                    break;  // line continuation
                case '\\':
                    value += '\\';
                    break;
                case '\'':
                    value += '\'';
                    break;
                case '"':
                    value += '"';
                    break;
                case 'a':
                    value += '\a';
                    break;
                case 'b':
                    value += '\b';
                    break;
                case 'f':
                    value += '\f';
                    break;
                case 'n':
                    value += '\n';
                    break;
                case 'r':
                    value += '\r';
                    break;
                case 't':
                    value += '\t';
                    break;
                case 'v':
                    value += '\v';
                    break;
                case 'x':
                case 'u':
                case 'U': {
                    int width = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
                    char32_t cp = 0;
                    for (int i = 0; i < width; ++i) {
                        int h = pos_ < src_.size() ? hex_value(src_[pos_]) : -1;
                        if (h < 0)
                            syntax_error(src_, pos_, "truncated \\", e,
                                         " escape in string literal");
                        cp = cp * 16 + static_cast<char32_t>(h);
                        ++pos_;
                    }
                    if (cp > 0x10FFFF)
                        syntax_error(src_, start, "illegal Unicode character in string literal");
                    text::append_utf8(value, cp);
                    break;
                }
                case 'N':
                    syntax_error(src_, pos_ - 2, "\\N{...} escapes are not supported");
                default:
                    if (e >= '0' && e <= '7') {
                        char32_t cp = static_cast<char32_t>(e - '0');
                        for (int i = 0;
                             i < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7';
                             ++i)
                            cp = cp * 8 + static_cast<char32_t>(src_[pos_++] - '0');
                        text::append_utf8(value, cp);
                    } else {
                        value += '\\';
                        value += e;
                    }
            }
        }
        emit(TokenKind::string, start, std::move(value));
    }

    void lex_operator(std::string& brackets) {
        std::size_t start = pos_;
        std::string_view op;
        for (std::string_view two : kTwoCharOperators)
            if (starts_with_at(src_, pos_, two)) op = two;
        if (op.empty() && kOneCharOperators.find(src_[pos_]) != std::string_view::npos)
            op = src_.substr(pos_, 1);
        if (op.empty()) {
            std::size_t probe = pos_;
            std::string shown;
            text::append_utf8(shown, text::decode(src_, probe));
            syntax_error(src_, start, "unexpected character '", shown, "'");
        }
        if (op == "(" || op == "[" || op == "{") {
            brackets += op == "(" ? ')' : (op == "[" ? ']' : '}');
        } else if (op == ")" || op == "]" || op == "}") {
            if (brackets.empty()) syntax_error(src_, start, "unexpected '", op, "'");
            if (brackets.back() != op[0])
                syntax_error(src_, start, "unexpected '", op, "', expected '", brackets.back(),
                             "'");
            brackets.pop_back();
        }
        emit(TokenKind::op, start, std::string(op));
        pos_ += op.size();
    }

    std::string_view src_;
    LexerOptions options_;
    std::vector<Token> tokens_;
    std::size_t pos_ = 0;
    // Whether the last thing lexed ended a line; lstrip_blocks then applies to a tag whose
    // preceding text has no newline of its own.
    bool line_starting_ = true;
};

}  // namespace

std::string normalize_source(std::string_view source, bool keep_trailing_newline) {
    std::string out;
    out.reserve(source.size());
    for (std::size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
            out += '\n';
            if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
        } else {
            out += source[i];
        }
    }
    if (!keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

std::vector<Token> tokenize(std::string_view normalized, const LexerOptions& options) {
    return Lexer(normalized, options).run();
}

SourceLocation locate(std::string_view source, std::size_t offset) {
    SourceLocation loc;
    offset = std::min(offset, source.size());
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < offset; ++i) {
        if (source[i] == '\n') {
            ++loc.line;
            line_start = i + 1;
        }
    }
    loc.column = text::length(source.substr(line_start, offset - line_start)) + 1;
    return loc;
}

std::string describe_location(std::string_view source, std::size_t offset) {
    SourceLocation loc = locate(source, offset);
    return cat("line ", loc.line, ":", loc.column);
}

}  // namespace ponder::jinja
