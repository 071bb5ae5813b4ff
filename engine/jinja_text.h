#pragma once
// Python string semantics over UTF-8, as the Jinja interpreter needs them: templates index, slice,
// strip, split and case-map strings by code point, and print numbers and strings the way Python's
// str() and repr() do. Bytes that are not valid UTF-8 are kept as they are: each becomes one
// "code point" in 0xDC80..0xDCFF (Python's surrogateescape), so nothing is lost on the way back.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ponder::jinja::text {

// Decodes the code point at `pos` and advances `pos` past it.
char32_t decode(std::string_view s, std::size_t& pos);
void append_utf8(std::string& out, char32_t cp);
std::vector<char32_t> decode_all(std::string_view s);
std::string encode_all(const std::vector<char32_t>& cps);

bool is_ascii(std::string_view s);
std::size_t length(std::string_view s);  // in code points

// Python's str.isspace() for one code point.
bool is_space(char32_t cp);
// Python's str.splitlines() line boundaries (\n, \r, \v, \f, \x1c-\x1e, \x85, U+2028, U+2029).
bool is_line_break(char32_t cp);

char32_t to_upper(char32_t cp);
char32_t to_lower(char32_t cp);
bool is_cased(char32_t cp);
bool is_alpha(char32_t cp);
bool is_digit(char32_t cp);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);  // str.capitalize(): first upper, rest lower
std::string title(std::string_view s);       // str.title()
std::string swapcase(std::string_view s);

// str.strip() family; `chars` empty means whitespace.
std::string_view strip(std::string_view s, std::optional<std::string_view> chars, bool left,
                       bool right);

std::vector<std::string> split_whitespace(std::string_view s, long max_split);
std::vector<std::string> split(std::string_view s, std::string_view sep, long max_split);
std::vector<std::string> rsplit_whitespace(std::string_view s, long max_split);
std::vector<std::string> rsplit(std::string_view s, std::string_view sep, long max_split);
std::vector<std::string> splitlines(std::string_view s, bool keep_ends);

// Number of non-overlapping occurrences, as str.count().
std::size_t count(std::string_view s, std::string_view needle);
std::string replace(std::string_view s, std::string_view old_text, std::string_view new_text,
                    long max_count);

// Python's repr() of a str: quotes chosen as Python does, escapes for unprintable characters.
void append_repr(std::string& out, std::string_view s);
// Python's repr() of a float: shortest round-trip digits, "1e+16", "0.0001", "inf", "nan".
std::string float_repr(double value);

}  // namespace ponder::jinja::text
