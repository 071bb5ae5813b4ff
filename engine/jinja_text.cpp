#include "engine/jinja_text.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace ponder::jinja::text {

namespace {

constexpr char32_t kEscapedByteBase = 0xDC00;  // surrogateescape: byte b becomes U+DC00+b

bool is_continuation(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

// Letter pairs laid out as (upper, lower) alternating, upper on the given parity.
bool in_pair_range(char32_t cp, char32_t lo, char32_t hi) {
    return cp >= lo && cp <= hi;
}

char32_t upper_simple(char32_t cp) {
    if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
    if (cp == 0xB5) return 0x39C;
    if ((cp >= 0xE0 && cp <= 0xFE && cp != 0xF7)) return cp - 32;
    if (cp == 0xFF) return 0x178;
    if (cp == 0x131) return 'I';
    if (cp == 0x17F) return 'S';
    if (in_pair_range(cp, 0x100, 0x137) || in_pair_range(cp, 0x14A, 0x177))
        return (cp % 2 == 1) ? cp - 1 : cp;
    if (in_pair_range(cp, 0x139, 0x148) || in_pair_range(cp, 0x179, 0x17E))
        return (cp % 2 == 0) ? cp - 1 : cp;
    if (cp >= 0x3B1 && cp <= 0x3C9) return cp == 0x3C2 ? 0x3A3 : cp - 32;
    if (cp == 0x3AC) return 0x386;
    if (cp >= 0x3AD && cp <= 0x3AF) return cp - 37;
    if (cp == 0x3CC) return 0x38C;
    if (cp == 0x3CD || cp == 0x3CE) return cp - 63;
    if (cp >= 0x430 && cp <= 0x44F) return cp - 32;
    if (cp >= 0x450 && cp <= 0x45F) return cp - 80;
    if (in_pair_range(cp, 0x460, 0x481) || in_pair_range(cp, 0x48A, 0x4BF) ||
        in_pair_range(cp, 0x1E00, 0x1E95) || in_pair_range(cp, 0x1EA0, 0x1EFF))
        return (cp % 2 == 1) ? cp - 1 : cp;
    if (cp >= 0x561 && cp <= 0x586) return cp - 48;
    if (cp >= 0xFF41 && cp <= 0xFF5A) return cp - 32;
    return cp;
}

char32_t lower_simple(char32_t cp) {
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;
    if (cp == 0x178) return 0xFF;
    if (cp == 0x130) return 'i';
    if (in_pair_range(cp, 0x100, 0x137) || in_pair_range(cp, 0x14A, 0x177))
        return (cp % 2 == 0) ? cp + 1 : cp;
    if (in_pair_range(cp, 0x139, 0x148) || in_pair_range(cp, 0x179, 0x17E))
        return (cp % 2 == 1) ? cp + 1 : cp;
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;
    if (cp == 0x386) return 0x3AC;
    if (cp >= 0x388 && cp <= 0x38A) return cp + 37;
    if (cp == 0x38C) return 0x3CC;
    if (cp == 0x38E || cp == 0x38F) return cp + 63;
    if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
    if (in_pair_range(cp, 0x460, 0x481) || in_pair_range(cp, 0x48A, 0x4BF) ||
        in_pair_range(cp, 0x1E00, 0x1E95) || in_pair_range(cp, 0x1EA0, 0x1EFF))
        return (cp % 2 == 0) ? cp + 1 : cp;
    if (cp >= 0x531 && cp <= 0x556) return cp + 48;
    if (cp >= 0xFF21 && cp <= 0xFF3A) return cp + 32;
    return cp;
}

// Full upper-case mappings that produce more than one code point.
bool append_special_upper(std::string& out, char32_t cp, bool title_case) {
    switch (cp) {
        case 0xDF:
            out += title_case ? "Ss" : "SS";
            return true;
        case 0xFB00:
            out += title_case ? "Ff" : "FF";
            return true;
        case 0xFB01:
            out += title_case ? "Fi" : "FI";
            return true;
        case 0xFB02:
            out += title_case ? "Fl" : "FL";
            return true;
        case 0xFB03:
            out += title_case ? "Ffi" : "FFI";
            return true;
        case 0xFB04:
            out += title_case ? "Ffl" : "FFL";
            return true;
        default:
            return false;
    }
}

void append_upper(std::string& out, char32_t cp, bool title_case) {
    if (!append_special_upper(out, cp, title_case)) append_utf8(out, upper_simple(cp));
}

void append_lower(std::string& out, char32_t cp) {
    if (cp == 0x130) {  // İ lowers to i + combining dot above
        out += "i\xCC\x87";
        return;
    }
    append_utf8(out, lower_simple(cp));
}

bool is_printable(char32_t cp) {
    if (cp < 0x20 || cp == 0x7F) return false;
    if (cp < 0x7F) return true;
    if (cp <= 0xA0 || cp == 0xAD) return false;
    if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
        (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF)
        return false;
    if (cp >= 0xD800 && cp <= 0xF8FF) return false;  // surrogates and private use
    if (cp >= 0xFFF0 && cp <= 0xFFFF) return false;
    if (cp >= 0xF0000) return false;  // supplementary private use
    return true;
}

std::vector<std::string> whitespace_words(std::string_view s) {
    std::vector<std::string> words;
    std::size_t pos = 0;
    while (pos < s.size()) {
        std::size_t start = pos;
        char32_t cp = decode(s, pos);
        if (is_space(cp)) continue;
        std::size_t end = pos;
        while (end < s.size()) {
            std::size_t next = end;
            if (is_space(decode(s, next))) break;
            end = next;
        }
        words.emplace_back(s.substr(start, end - start));
        pos = end;
    }
    return words;
}

}  // namespace

char32_t decode(std::string_view s, std::size_t& pos) {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    unsigned char lead = byte(pos);
    if (lead < 0x80) {
        ++pos;
        return lead;
    }
    int extra = 0;
    char32_t cp = 0;
    char32_t minimum = 0;
    if ((lead & 0xE0) == 0xC0) {
        extra = 1, cp = lead & 0x1F, minimum = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
        extra = 2, cp = lead & 0x0F, minimum = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
        extra = 3, cp = lead & 0x07, minimum = 0x10000;
    } else {
        ++pos;
        return kEscapedByteBase + lead;
    }
    if (pos + static_cast<std::size_t>(extra) >= s.size()) {  // truncated sequence
        ++pos;
        return kEscapedByteBase + lead;
    }
    for (int i = 1; i <= extra; ++i) {
        if (!is_continuation(byte(pos + i))) {
            ++pos;
            return kEscapedByteBase + lead;
        }
        cp = (cp << 6) | (byte(pos + i) & 0x3F);
    }
    if (cp < minimum || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        ++pos;
        return kEscapedByteBase + lead;
    }
    pos += extra + 1;
    return cp;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp >= kEscapedByteBase + 0x80 && cp <= kEscapedByteBase + 0xFF) {
        out += static_cast<char>(cp - kEscapedByteBase);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::vector<char32_t> decode_all(std::string_view s) {
    std::vector<char32_t> cps;
    cps.reserve(s.size());
    for (std::size_t pos = 0; pos < s.size();) cps.push_back(decode(s, pos));
    return cps;
}

std::string encode_all(const std::vector<char32_t>& cps) {
    std::string out;
    out.reserve(cps.size());
    for (char32_t cp : cps) append_utf8(out, cp);
    return out;
}

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::size_t length(std::string_view s) {
    if (is_ascii(s)) return s.size();
    std::size_t n = 0;
    for (std::size_t pos = 0; pos < s.size(); ++n) decode(s, pos);
    return n;
}

bool is_space(char32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_line_break(char32_t cp) {
    return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1E) ||
           cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

char32_t to_upper(char32_t cp) {
    return upper_simple(cp);
}
char32_t to_lower(char32_t cp) {
    return lower_simple(cp);
}

bool is_cased(char32_t cp) {
    return upper_simple(cp) != cp || lower_simple(cp) != cp || cp == 0xDF || cp == 0x138 ||
           (cp >= 0xFB00 && cp <= 0xFB04);
}

bool is_alpha(char32_t cp) {
    if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    if (is_cased(cp) || cp == 0xAA || cp == 0xBA) return true;
    return (cp >= 0x05D0 && cp <= 0x05EA) || (cp >= 0x0620 && cp <= 0x064A) ||
           (cp >= 0x0E01 && cp <= 0x0E30) || (cp >= 0x3041 && cp <= 0x30FF) ||
           (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
           (cp >= 0xAC00 && cp <= 0xD7A3);
}

bool is_digit(char32_t cp) {
    return (cp >= '0' && cp <= '9') || (cp >= 0xFF10 && cp <= 0xFF19);
}

std::string upper(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t pos = 0; pos < s.size();) append_upper(out, decode(s, pos), false);
    return out;
}

std::string lower(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t pos = 0; pos < s.size();) append_lower(out, decode(s, pos));
    return out;
}

std::string capitalize(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    bool first = true;
    for (std::size_t pos = 0; pos < s.size(); first = false) {
        char32_t cp = decode(s, pos);
        if (first) {
            append_upper(out, cp, true);
        } else {
            append_lower(out, cp);
        }
    }
    return out;
}

std::string title(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    bool previous_cased = false;
    for (std::size_t pos = 0; pos < s.size();) {
        char32_t cp = decode(s, pos);
        if (previous_cased) {
            append_lower(out, cp);
        } else {
            append_upper(out, cp, true);
        }
        previous_cased = is_cased(cp);
    }
    return out;
}

std::string swapcase(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t pos = 0; pos < s.size();) {
        char32_t cp = decode(s, pos);
        if (lower_simple(cp) != cp) {
            append_lower(out, cp);
        } else {
            append_upper(out, cp, false);
        }
    }
    return out;
}

std::string_view strip(std::string_view s, std::optional<std::string_view> chars, bool left,
                       bool right) {
    std::vector<char32_t> set;
    if (chars) set = decode_all(*chars);
    auto strippable = [&](char32_t cp) {
        return chars ? std::find(set.begin(), set.end(), cp) != set.end() : is_space(cp);
    };
    std::size_t begin = 0;
    std::size_t end = s.size();
    if (left) {
        while (begin < end) {
            std::size_t next = begin;
            if (!strippable(decode(s, next))) break;
            begin = next;
        }
    }
    if (right) {
        while (end > begin) {
            std::size_t start = end - 1;
            while (start > begin && is_continuation(static_cast<unsigned char>(s[start]))) --start;
            std::size_t probe = start;
            char32_t cp = decode(s, probe);
            if (probe != end) {  // not a clean code point boundary: treat the byte alone
                start = end - 1;
                probe = start;
                cp = decode(s, probe);
            }
            if (!strippable(cp)) break;
            end = start;
        }
    }
    return s.substr(begin, end - begin);
}

std::vector<std::string> split_whitespace(std::string_view s, long max_split) {
    if (max_split < 0) return whitespace_words(s);
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < s.size()) {
        std::size_t start = pos;
        if (is_space(decode(s, pos))) continue;
        pos = start;
        if (static_cast<long>(out.size()) == max_split) {
            out.emplace_back(s.substr(start));
            return out;
        }
        std::size_t end = start;
        while (end < s.size()) {
            std::size_t next = end;
            if (is_space(decode(s, next))) break;
            end = next;
        }
        out.emplace_back(s.substr(start, end - start));
        pos = end;
    }
    return out;
}

std::vector<std::string> rsplit_whitespace(std::string_view s, long max_split) {
    if (max_split < 0) return whitespace_words(s);
    std::vector<char32_t> cps = decode_all(s);
    std::vector<std::string> out;
    std::ptrdiff_t end = static_cast<std::ptrdiff_t>(cps.size());
    while (end > 0) {
        while (end > 0 && is_space(cps[end - 1])) --end;
        if (end == 0) break;
        if (static_cast<long>(out.size()) == max_split) {
            out.push_back(encode_all({cps.begin(), cps.begin() + end}));
            break;
        }
        std::ptrdiff_t start = end;
        while (start > 0 && !is_space(cps[start - 1])) --start;
        out.push_back(encode_all({cps.begin() + start, cps.begin() + end}));
        end = start;
    }
    std::reverse(out.begin(), out.end());
    return out;
}

std::vector<std::string> split(std::string_view s, std::string_view sep, long max_split) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (max_split < 0 || static_cast<long>(out.size()) < max_split) {
        std::size_t at = s.find(sep, start);
        if (at == std::string_view::npos) break;
        out.emplace_back(s.substr(start, at - start));
        start = at + sep.size();
    }
    out.emplace_back(s.substr(start));
    return out;
}

std::vector<std::string> rsplit(std::string_view s, std::string_view sep, long max_split) {
    std::vector<std::string> out;
    std::size_t end = s.size();
    while (max_split < 0 || static_cast<long>(out.size()) < max_split) {
        if (end < sep.size()) break;
        std::size_t at = s.rfind(sep, end - sep.size());
        if (at == std::string_view::npos) break;
        out.emplace_back(s.substr(at + sep.size(), end - at - sep.size()));
        end = at;
    }
    out.emplace_back(s.substr(0, end));
    std::reverse(out.begin(), out.end());
    return out;
}

std::vector<std::string> splitlines(std::string_view s, bool keep_ends) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    std::size_t pos = 0;
    while (pos < s.size()) {
        std::size_t at = pos;
        char32_t cp = decode(s, pos);
        if (!is_line_break(cp)) continue;
        std::size_t end_of_break = pos;
        if (cp == '\r' && pos < s.size() && s[pos] == '\n') end_of_break = ++pos;
        lines.emplace_back(s.substr(start, (keep_ends ? end_of_break : at) - start));
        start = end_of_break;
    }
    if (start < s.size()) lines.emplace_back(s.substr(start));
    return lines;
}

std::size_t count(std::string_view s, std::string_view needle) {
    if (needle.empty()) return length(s) + 1;
    std::size_t n = 0;
    for (std::size_t at = s.find(needle); at != std::string_view::npos;
         at = s.find(needle, at + needle.size()))
        ++n;
    return n;
}

std::string replace(std::string_view s, std::string_view old_text, std::string_view new_text,
                    long max_count) {
    std::string out;
    long done = 0;
    if (old_text.empty()) {
        // Python inserts the replacement before every code point and at the end.
        std::size_t pos = 0;
        while (pos < s.size()) {
            if (max_count < 0 || done < max_count) {
                out += new_text;
                ++done;
            }
            std::size_t start = pos;
            decode(s, pos);
            out += s.substr(start, pos - start);
        }
        if (max_count < 0 || done < max_count) out += new_text;
        return out;
    }
    std::size_t start = 0;
    while (max_count < 0 || done < max_count) {
        std::size_t at = s.find(old_text, start);
        if (at == std::string_view::npos) break;
        out += s.substr(start, at - start);
        out += new_text;
        start = at + old_text.size();
        ++done;
    }
    out += s.substr(start);
    return out;
}

void append_repr(std::string& out, std::string_view s) {
    bool has_single = s.find('\'') != std::string_view::npos;
    bool has_double = s.find('"') != std::string_view::npos;
    char quote = (has_single && !has_double) ? '"' : '\'';
    out += quote;
    for (std::size_t pos = 0; pos < s.size();) {
        char32_t cp = decode(s, pos);
        char buf[16];
        if (cp == static_cast<char32_t>(quote) || cp == '\\') {
            out += '\\';
            out += static_cast<char>(cp);
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (is_printable(cp)) {
            append_utf8(out, cp);
        } else if (cp >= kEscapedByteBase + 0x80 && cp <= kEscapedByteBase + 0xFF) {
            std::snprintf(buf, sizeof buf, "\\udc%02x", static_cast<unsigned>(cp & 0xFF));
            out += buf;
        } else if (cp <= 0xFF) {
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
            out += buf;
        } else if (cp <= 0xFFFF) {
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
            out += buf;
        } else {
            std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(cp));
            out += buf;
        }
    }
    out += quote;
}

std::string float_repr(double value) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
    // Shortest round-trip digits, then laid out as Python's repr does: positional notation when
    // the decimal exponent is in [-4, 16), scientific otherwise.
    std::array<char, 64> buf{};
    auto [end, ec] =
        std::to_chars(buf.data(), buf.data() + buf.size(), value, std::chars_format::scientific);
    std::string_view sci(buf.data(), static_cast<std::size_t>(end - buf.data()));
    std::string out;
    std::size_t i = 0;
    if (sci[0] == '-') {
        out += '-';
        i = 1;
    }
    std::size_t e_at = sci.find('e');
    std::string digits;
    for (std::size_t k = i; k < e_at; ++k)
        if (sci[k] != '.') digits += sci[k];
    int exponent = 0;
    std::from_chars(sci.data() + e_at + (sci[e_at + 1] == '+' ? 2 : 1), sci.data() + sci.size(),
                    exponent);
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    int point = exponent + 1;  // digits are 0.DIGITS x 10^point
    int n = static_cast<int>(digits.size());
    if (point > -4 && point <= 16) {
        if (point <= 0) {
            out += "0.";
            out.append(static_cast<std::size_t>(-point), '0');
            out += digits;
        } else if (point >= n) {
            out += digits;
            out.append(static_cast<std::size_t>(point - n), '0');
            out += ".0";
        } else {
            out += digits.substr(0, static_cast<std::size_t>(point));
            out += '.';
            out += digits.substr(static_cast<std::size_t>(point));
        }
        return out;
    }
    out += digits[0];
    if (n > 1) {
        out += '.';
        out += digits.substr(1);
    }
    char exp_buf[16];
    std::snprintf(exp_buf, sizeof exp_buf, "e%c%02d", exponent < 0 ? '-' : '+',
                  exponent < 0 ? -exponent : exponent);
    out += exp_buf;
    return out;
}

}  // namespace ponder::jinja::text
