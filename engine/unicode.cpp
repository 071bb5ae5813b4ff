#include "engine/unicode.h"

#include <algorithm>
#include <array>

#include "engine/unicode_data.h"

namespace ponder::unicode {

namespace {

// The GPT-2 alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes (control
// characters, space, DEL, NBSP, soft hyphen, ...) take the code points from U+0100 upwards, in
// byte order.
constexpr bool is_printable_latin1(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct ByteAlphabet {
    std::array<char32_t, 256> char_of_byte{};
    std::array<int16_t, 0x144> byte_of_char{};  // indexed by code point, -1 where none
    std::array<std::array<char, 2>, 256> utf8_of_byte{};
};

constexpr ByteAlphabet make_byte_alphabet() {
    ByteAlphabet a;
    for (auto& b : a.byte_of_char) b = -1;
    char32_t next = 0x100;
    for (unsigned b = 0; b < 256; ++b) {
        char32_t c = is_printable_latin1(b) ? char32_t(b) : next++;
        a.char_of_byte[b] = c;
        a.byte_of_char[c] = int16_t(b);
        // Every character of the alphabet is below U+0800: one or two UTF-8 bytes.
        if (c < 0x80) {
            a.utf8_of_byte[b] = {char(c), 0};
        } else {
            a.utf8_of_byte[b] = {char(0xC0 | (c >> 6)), char(0x80 | (c & 0x3F))};
        }
    }
    return a;
}

constexpr ByteAlphabet kByteAlphabet = make_byte_alphabet();

Category lookup_category(char32_t cpt) {
    auto ranges = data::category_ranges();
    auto it =
        std::upper_bound(ranges.begin(), ranges.end(), uint32_t(cpt),
                         [](uint32_t c, const data::CategoryRange& r) { return c < r.first; });
    return std::prev(it)->category;
}

}  // namespace

Category category(char32_t cpt) {
    static const std::array<Category, 128> ascii = [] {
        std::array<Category, 128> table{};
        for (char32_t c = 0; c < 128; ++c) table[c] = lookup_category(c);
        return table;
    }();
    if (cpt < 128) return ascii[cpt];
    if (cpt > 0x10FFFF) return Category::other;
    return lookup_category(cpt);
}

bool is_whitespace(char32_t cpt) {
    if (cpt < 0x80) return (cpt >= 0x09 && cpt <= 0x0D) || cpt == 0x20;
    switch (cpt) {
        case 0x85:
        case 0xA0:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x202F:
        case 0x205F:
        case 0x3000:
            return true;
        default:
            return cpt >= 0x2000 && cpt <= 0x200A;
    }
}

size_t sequence_length(uint8_t lead) {
    static constexpr uint8_t by_high_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return by_high_nibble[lead >> 4];
}

char32_t decode_one(std::string_view text, size_t& offset) {
    const auto byte = [&](size_t i) { return uint8_t(text[i]); };
    const auto is_continuation = [&](size_t i) {
        return i < text.size() && (byte(i) & 0xC0) == 0x80;
    };
    const uint8_t b0 = byte(offset);
    size_t length = 0;
    char32_t cpt = 0;
    if (b0 < 0x80) {
        length = 1;
        cpt = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
        length = 2;
        cpt = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
        length = 3;
        cpt = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
        length = 4;
        cpt = b0 & 0x07;
    } else {
        ++offset;  // a continuation byte where a character should start, or F8..FF
        return kReplacement;
    }
    for (size_t i = 1; i < length; ++i) {
        if (!is_continuation(offset + i)) {
            ++offset;
            return kReplacement;
        }
        cpt = (cpt << 6) | (byte(offset + i) & 0x3F);
    }
    offset += length;
    return cpt > 0x10FFFF ? kReplacement : cpt;
}

std::vector<char32_t> decode(std::string_view text) {
    std::vector<char32_t> out;
    out.reserve(text.size());
    for (size_t offset = 0; offset < text.size();) out.push_back(decode_one(text, offset));
    return out;
}

void append_utf8(std::string& out, char32_t cpt) {
    if (cpt > 0x10FFFF) cpt = kReplacement;
    if (cpt < 0x80) {
        out += char(cpt);
    } else if (cpt < 0x800) {
        out += char(0xC0 | (cpt >> 6));
        out += char(0x80 | (cpt & 0x3F));
    } else if (cpt < 0x10000) {
        out += char(0xE0 | (cpt >> 12));
        out += char(0x80 | ((cpt >> 6) & 0x3F));
        out += char(0x80 | (cpt & 0x3F));
    } else {
        out += char(0xF0 | (cpt >> 18));
        out += char(0x80 | ((cpt >> 12) & 0x3F));
        out += char(0x80 | ((cpt >> 6) & 0x3F));
        out += char(0x80 | (cpt & 0x3F));
    }
}

std::string to_utf8(char32_t cpt) {
    std::string out;
    append_utf8(out, cpt);
    return out;
}

int strict_char_length(std::string_view text, size_t pos) {
    const uint8_t lead = uint8_t(text[pos]);
    if (lead < 0x80) return 1;
    int length = 0;
    uint8_t low = 0x80, high = 0xBF;  // allowed range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0)
            low = 0xA0;  // no overlong forms
        else if (lead == 0xED)
            high = 0x9F;  // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0)
            low = 0x90;
        else if (lead == 0xF4)
            high = 0x8F;  // nothing above U+10FFFF
    } else {
        return 0;
    }
    for (int i = 1; i < length; ++i) {
        if (pos + i >= text.size()) return -1;
        const uint8_t b = uint8_t(text[pos + i]);
        const uint8_t lo = i == 1 ? low : 0x80, hi = i == 1 ? high : 0xBF;
        if (b < lo || b > hi) return 0;
    }
    return length;
}

std::string_view byte_to_char(uint8_t byte) {
    const auto& utf8 = kByteAlphabet.utf8_of_byte[byte];
    return {utf8.data(), kByteAlphabet.char_of_byte[byte] < 0x80 ? size_t(1) : size_t(2)};
}

std::optional<uint8_t> char_to_byte(char32_t cpt) {
    if (cpt >= kByteAlphabet.byte_of_char.size()) return std::nullopt;
    int16_t b = kByteAlphabet.byte_of_char[cpt];
    if (b < 0) return std::nullopt;
    return uint8_t(b);
}

}  // namespace ponder::unicode
