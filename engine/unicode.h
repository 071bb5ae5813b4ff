#pragma once
// UTF-8 and Unicode helpers shared by the tokenizers: lenient decoding (invalid bytes become
// U+FFFD, as llama.cpp does), code point categories and white space as llama.cpp's
// pre-tokenizers see them, and the GPT-2 byte <-> printable-character map of byte-level BPE.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ponder::unicode {

inline constexpr char32_t kReplacement = 0xFFFD;

// Major general category (Unicode's first letter); `other` is C*, unassigned code points
// included.
enum class Category : uint8_t { other, letter, number, punctuation, symbol, mark, separator };

Category category(char32_t cpt);
// Unicode White_Space (what Python's `regex` \s matches), e.g. U+0085, U+00A0, U+3000.
bool is_whitespace(char32_t cpt);

// The length a UTF-8 sequence announces by its first byte (1 for continuation bytes and for
// bytes that cannot start a sequence, 4 for F8..FF), judged by the high nibble only.
size_t sequence_length(uint8_t lead);

// Decodes one code point at `offset` and advances it. Malformed input (a stray or missing
// continuation byte, a byte F8..FF) gives U+FFFD and advances by one byte. Overlong forms are
// accepted; values above U+10FFFF become U+FFFD.
char32_t decode_one(std::string_view text, size_t& offset);
std::vector<char32_t> decode(std::string_view text);

void append_utf8(std::string& out, char32_t cpt);
std::string to_utf8(char32_t cpt);

// Strict UTF-8 (RFC 3629) at `pos`: the length of the well-formed character there, 0 when the
// bytes there can never form one, or -1 when they are the start of one that `text` cuts off.
int strict_char_length(std::string_view text, size_t pos);

// Byte-level BPE: each byte is shown as one printable character (e.g. ' ' -> 'Ġ').
std::string_view byte_to_char(uint8_t byte);
std::optional<uint8_t> char_to_byte(char32_t cpt);

}  // namespace ponder::unicode
