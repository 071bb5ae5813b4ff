#include "engine/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

#include "engine/error.h"
#include "engine/unicode.h"

namespace ponder {

namespace {

using unicode::Category;

// Patterns as llama.cpp spells them: two of them run as hand-written scanners there (and
// here), recognised by their exact text.
constexpr std::string_view kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
constexpr std::string_view kLlama3Pattern =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kLlama3PatternOriginal =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kQwen2Pattern =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kCjkRun = "[一-龥ࠀ-一가-퟿]+";

// ---------------------------------------------------------------------------------------------
// Code point classes as llama.cpp's scanners test them.

struct Flags {
    bool valid = false;  // inside the piece being scanned
    bool whitespace = false;
    bool letter = false;
    bool number = false;
};

Flags flags_of(char32_t cpt) {
    Category c = unicode::category(cpt);
    return {true, unicode::is_whitespace(cpt), c == Category::letter, c == Category::number};
}

char32_t ascii_lower(char32_t c) {
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

// Scans one piece [begin, end) of `cpts`, appending word lengths.
class Scanner {
  public:
    static constexpr char32_t kOutside = 0xFFFFFFFF;

    Scanner(std::span<const char32_t> cpts, size_t begin, size_t end, std::vector<size_t>& out)
        : cpts_(cpts), begin_(begin), end_(end), out_(out), prev_end_(begin) {}

    char32_t at(size_t pos) const { return pos >= begin_ && pos < end_ ? cpts_[pos] : kOutside; }
    Flags flags(size_t pos) const {
        return pos >= begin_ && pos < end_ ? flags_of(cpts_[pos]) : Flags{};
    }
    size_t end() const { return end_; }
    // Ends a word at `pos` (nothing when empty).
    void cut(size_t pos) {
        if (pos > prev_end_) out_.push_back(pos - prev_end_);
        prev_end_ = pos;
    }

  private:
    std::span<const char32_t> cpts_;
    size_t begin_, end_;
    std::vector<size_t>& out_;
    size_t prev_end_;
};

// 's|'t|'re|'ve|'m|'ll|'d (optionally case-insensitive): the length matched at `pos`, or 0.
size_t contraction_at(const Scanner& s, size_t pos, bool ignore_case) {
    if (s.at(pos) != '\'' || pos + 1 >= s.end()) return 0;
    auto lower = [&](char32_t c) { return ignore_case ? ascii_lower(c) : c; };
    char32_t next = lower(s.at(pos + 1));
    if (next == 's' || next == 't' || next == 'm' || next == 'd') return 2;
    if (pos + 2 >= s.end()) return 0;
    char32_t after = lower(s.at(pos + 2));
    if ((next == 'r' && after == 'e') || (next == 'v' && after == 'e') ||
        (next == 'l' && after == 'l')) {
        return 3;
    }
    return 0;
}

// After letters, numbers or symbols: the shared white-space tail of both scanners.
// Returns false when there is no white space at `pos`.
bool scan_whitespace(Scanner& s, size_t& pos, bool newline_runs) {
    size_t count = 0;
    size_t after_last_newline = 0;
    while (s.flags(pos + count).whitespace) {
        char32_t c = s.at(pos + count);
        if (c == '\r' || c == '\n') after_last_newline = pos + count + 1;
        ++count;
    }
    if (newline_runs && after_last_newline > 0) {  // \s*[\r\n]+
        pos = after_last_newline;
    } else if (count > 1 && s.at(pos + count) != Scanner::kOutside) {  // \s+(?!\S)
        pos += count - 1;
    } else if (count > 0) {  // \s+
        pos += count;
    } else {
        return false;
    }
    s.cut(pos);
    return true;
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
void scan_gpt2(Scanner& s, size_t begin) {
    for (size_t pos = begin; pos < s.end();) {
        const char32_t c = s.at(pos);
        if (size_t n = contraction_at(s, pos, false)) {
            pos += n;
            s.cut(pos);
            continue;
        }
        Flags f = c == ' ' ? s.flags(pos + 1) : s.flags(pos);
        if (f.letter || f.number) {
            const bool letters = f.letter;
            pos += (c == ' ');
            while (letters ? s.flags(pos).letter : s.flags(pos).number) ++pos;
            s.cut(pos);
            continue;
        }
        if (f.valid && !f.whitespace) {
            pos += (c == ' ');
            for (Flags g = s.flags(pos); g.valid && !g.whitespace && !g.letter && !g.number;) {
                g = s.flags(++pos);
            }
            s.cut(pos);
            continue;
        }
        if (scan_whitespace(s, pos, false)) continue;
        s.cut(++pos);
    }
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+
void scan_llama3(Scanner& s, size_t begin) {
    for (size_t pos = begin; pos < s.end();) {
        const char32_t c = s.at(pos);
        const Flags f = s.flags(pos);
        if (size_t n = contraction_at(s, pos, true)) {
            pos += n;
            s.cut(pos);
            continue;
        }
        if (!(c == '\r' || c == '\n' || f.number) && (f.letter || s.flags(pos + 1).letter)) {
            ++pos;
            while (s.flags(pos).letter) ++pos;
            s.cut(pos);
            continue;
        }
        if (f.number) {
            size_t run_start = pos;
            while (s.flags(pos).number) {
                if (++pos - run_start >= 3) {
                    s.cut(pos);
                    run_start = pos;
                }
            }
            s.cut(pos);
            continue;
        }
        // llama.cpp tests the current character's validity here, not the next one's: a lone
        // space at the end of a piece is taken by this branch.
        Flags g = c == ' ' ? s.flags(pos + 1) : f;
        if (!(g.whitespace || g.letter || g.number)) {
            pos += (c == ' ');
            while (g.valid && !g.whitespace && !g.letter && !g.number) g = s.flags(++pos);
            while (s.at(pos) == '\r' || s.at(pos) == '\n') ++pos;
            s.cut(pos);
            continue;
        }
        if (scan_whitespace(s, pos, true)) continue;
        s.cut(++pos);
    }
}

// ---------------------------------------------------------------------------------------------
// Regular expressions on PCRE2.

// The byte that stands for a non-ASCII code point in the collapsed text, and what each \p{..}
// class becomes in a collapsed pattern (the category byte plus the class's ASCII members).
constexpr char kCollapsedWhitespace = 0x0B;

char collapsed_byte(char32_t cpt) {
    if (cpt < 0x80) return char(cpt);
    if (unicode::is_whitespace(cpt)) return kCollapsedWhitespace;
    switch (unicode::category(cpt)) {
        case Category::number:
            return char(0xD1);
        case Category::letter:
            return char(0xD2);
        case Category::punctuation:
            return char(0xD3);
        case Category::mark:
            return char(0xD4);
        case Category::symbol:
            return char(0xD5);
        default:
            return char(0xD0);
    }
}

std::optional<std::string_view> collapsed_class(std::string_view property) {
    if (property == "\\p{N}") return "\\x{D1}0-9";
    if (property == "\\p{L}" || property == "\\p{Lu}" || property == "\\p{Ll}" ||
        property == "\\p{Lt}" || property == "\\p{Lm}" || property == "\\p{Lo}") {
        return "\\x{D2}A-Za-z";
    }
    if (property == "\\p{P}") return "\\x{D3}!-#%-*,-/:-;?-@\\[-\\]_\\{\\}";
    if (property == "\\p{M}") return "\\x{D4}";
    if (property == "\\p{S}") return "\\x{D5}\\$\\+<->\\^`\\|";
    return std::nullopt;
}

// The pattern rewritten for the collapsed text, or nullopt when it uses no \p{..} class (then
// it runs on the code points themselves).
std::optional<std::string> collapse_pattern(std::string_view pattern) {
    std::string out;
    bool uses_classes = false;
    bool in_brackets = false;
    for (size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            if (pattern[i + 1] == 'p' && i + 2 < pattern.size() && pattern[i + 2] == '{') {
                size_t close = pattern.find('}', i + 3);
                if (close == std::string_view::npos) fail("pre-tokenizer pattern: unclosed \\p{");
                std::string_view property = pattern.substr(i, close - i + 1);
                auto members = collapsed_class(property);
                if (!members) fail("pre-tokenizer pattern: unsupported class ", property);
                if (!in_brackets) out += '[';
                out += *members;
                if (!in_brackets) out += ']';
                uses_classes = true;
                i = close;
                continue;
            }
            out += c;
            out += pattern[++i];
            continue;
        }
        if (c == '[' && !in_brackets)
            in_brackets = true;
        else if (c == ']' && in_brackets)
            in_brackets = false;
        out += c;
    }
    if (!uses_classes) return std::nullopt;
    for (char c : pattern) {
        if (uint8_t(c) >= 0x80)
            fail("pre-tokenizer pattern mixes \\p{..} classes and non-ASCII text");
    }
    return out;
}

struct CodeDeleter {
    void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
struct MatchDataDeleter {
    void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

// The text of one split() call in the forms the steps match against, built when first needed.
struct Subject {
    std::span<const char32_t> cpts;
    std::optional<std::string> collapsed;  // one byte per code point
    std::optional<std::string> utf8;       // non-ASCII white space as U+000B
    std::vector<uint32_t> utf8_offset;     // byte offset of each code point, and of the end

    const std::string& get_collapsed() {
        if (!collapsed) {
            collapsed.emplace(cpts.size(), '\0');
            for (size_t i = 0; i < cpts.size(); ++i) (*collapsed)[i] = collapsed_byte(cpts[i]);
        }
        return *collapsed;
    }
    const std::string& get_utf8() {
        if (!utf8) {
            utf8.emplace();
            utf8->reserve(cpts.size() * 2);
            utf8_offset.reserve(cpts.size() + 1);
            for (char32_t c : cpts) {
                utf8_offset.push_back(uint32_t(utf8->size()));
                if (c >= 0x80 && unicode::is_whitespace(c)) c = kCollapsedWhitespace;
                if (c >= 0xD800 && c <= 0xDFFF)
                    c = unicode::kReplacement;  // PCRE2 needs valid UTF-8
                unicode::append_utf8(*utf8, c);
            }
            utf8_offset.push_back(uint32_t(utf8->size()));
        }
        return *utf8;
    }
};

}  // namespace

struct PreTokenizer::Step {
    enum class Kind { gpt2, llama3, collapsed_regex, utf8_regex } kind;
    std::string pattern;
    std::unique_ptr<pcre2_code, CodeDeleter> code;

    explicit Step(std::string_view text) : pattern(text) {
        if (text == kGpt2Pattern) {
            kind = Kind::gpt2;
            return;
        }
        if (text == kLlama3Pattern || text == kLlama3PatternOriginal) {
            kind = Kind::llama3;
            return;
        }
        std::optional<std::string> collapsed = collapse_pattern(text);
        kind = collapsed ? Kind::collapsed_regex : Kind::utf8_regex;
        const std::string& source = collapsed ? *collapsed : pattern;
        // $ means the end of the piece only, as in ECMAScript.
        uint32_t options = PCRE2_DOLLAR_ENDONLY;
        if (!collapsed) options |= PCRE2_UTF;
        int error = 0;
        PCRE2_SIZE error_offset = 0;
        code.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                                 options, &error, &error_offset, nullptr));
        if (!code) {
            std::array<PCRE2_UCHAR, 256> message{};
            pcre2_get_error_message(error, message.data(), message.size());
            fail("pre-tokenizer pattern '", pattern, "' does not compile at offset ", error_offset,
                 ": ", reinterpret_cast<const char*>(message.data()));
        }
        // JIT is only a speed-up: without it the interpreter gives the same matches.
        pcre2_jit_compile(code.get(), PCRE2_JIT_COMPLETE);
    }

    std::vector<size_t> apply(Subject& subject, const std::vector<size_t>& pieces) const {
        std::vector<size_t> out;
        out.reserve(pieces.size() * 2);
        size_t start = 0;
        for (size_t length : pieces) {
            if (kind == Kind::gpt2 || kind == Kind::llama3) {
                Scanner scanner(subject.cpts, start, start + length, out);
                if (kind == Kind::gpt2)
                    scan_gpt2(scanner, start);
                else
                    scan_llama3(scanner, start);
            } else {
                match_piece(subject, start, length, out);
            }
            start += length;
        }
        return out;
    }

  private:
    void match_piece(Subject& subject, size_t start, size_t length,
                     std::vector<size_t>& out) const {
        const bool collapsed = kind == Kind::collapsed_regex;
        const std::string& text = collapsed ? subject.get_collapsed() : subject.get_utf8();
        auto byte_of = [&](size_t cpt) -> size_t {
            return collapsed ? cpt : subject.utf8_offset[cpt];
        };
        auto cpt_of = [&](size_t byte) -> size_t {
            if (collapsed) return byte;
            auto it =
                std::lower_bound(subject.utf8_offset.begin(), subject.utf8_offset.end(), byte);
            return size_t(it - subject.utf8_offset.begin());
        };
        const size_t piece_byte = byte_of(start);
        const auto piece = reinterpret_cast<PCRE2_SPTR>(text.data() + piece_byte);
        const size_t piece_bytes = byte_of(start + length) - piece_byte;

        std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(
            pcre2_match_data_create_from_pattern(code.get(), nullptr));
        const uint32_t options = collapsed ? 0 : PCRE2_NO_UTF_CHECK;
        size_t search_from = 0;  // bytes into the piece
        size_t done = start;     // code points of the piece already emitted
        while (search_from <= piece_bytes) {
            int rc = pcre2_match(code.get(), piece, piece_bytes, search_from, options, match.get(),
                                 nullptr);
            if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
                rc = pcre2_match(code.get(), piece, piece_bytes, search_from,
                                 options | PCRE2_NO_JIT, match.get(), nullptr);
            }
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0)
                fail("pre-tokenizer pattern '", pattern, "' failed to match (PCRE2 error ", rc,
                     ")");
            const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
            const size_t match_begin = ovector[0], match_end = ovector[1];
            if (match_end == match_begin) {
                // An empty match splits nothing; step over one character.
                const size_t next = cpt_of(piece_byte + match_end) + 1;
                if (next > start + length) break;
                search_from = byte_of(next) - piece_byte;
                continue;
            }
            const size_t first = cpt_of(piece_byte + match_begin);
            const size_t last = cpt_of(piece_byte + match_end);
            if (first > done) out.push_back(first - done);
            out.push_back(last - first);
            done = last;
            search_from = match_end;
        }
        if (done < start + length) out.push_back(start + length - done);
    }
};

PreTokenizer::PreTokenizer(const std::vector<std::string>& patterns) {
    steps_.reserve(patterns.size());
    for (const auto& p : patterns) steps_.push_back(std::make_shared<const Step>(p));
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(const PreTokenizer&) = default;
PreTokenizer& PreTokenizer::operator=(const PreTokenizer&) = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

void PreTokenizer::split(std::string_view text, std::vector<std::string>& words) const {
    const std::vector<char32_t> cpts = unicode::decode(text);
    if (cpts.empty()) return;
    Subject subject{cpts, {}, {}, {}};
    std::vector<size_t> pieces{cpts.size()};
    for (const auto& step : steps_) pieces = step->apply(subject, pieces);

    size_t start = 0;
    for (size_t length : pieces) {
        std::string& word = words.emplace_back();
        word.reserve(length);
        for (size_t i = start; i < start + length; ++i) unicode::append_utf8(word, cpts[i]);
        start += length;
    }
}

std::string_view gpt2_pattern() {
    return kGpt2Pattern;
}

std::optional<BpePreset> bpe_preset(std::string_view name) {
    auto is = [&](std::initializer_list<std::string_view> names) {
        return std::find(names.begin(), names.end(), name) != names.end();
    };
    const std::string gpt2(kGpt2Pattern);
    const std::string starcoder_digits = "\\p{N}";
    BpePreset p;
    p.name = name;
    if (name == "default") {
        p.patterns = {"[\\p{P}\\$\\+<=>\\^~\\|]+", gpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
    } else if (is({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
                   "lfm2", "jina-v5-nano"})) {
        p.patterns = {std::string(kLlama3Pattern)};
        p.ignore_merges = true;
        p.add_bos = true;
    } else if (is({"dbrx", "smaug-bpe"})) {
        p.patterns = {std::string(kLlama3Pattern)};
    } else if (name == "tekken") {
        p.patterns = {
            "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}"
            "\\p{N}]?"
            "((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|"
            "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
        p.ignore_merges = true;
        p.add_bos = true;
        p.clean_spaces = false;
    } else if (name == "deepseek-llm") {
        // The letters are as in llama.cpp; the few whose Unicode normalisation would change them
        // (e.g. U+2126 OHM SIGN, U+212A KELVIN SIGN) are written as escapes.
        p.patterns = {
            "[\r\n]",
            "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-"
            "ᏽᲐ-"
            "ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\\x{1F7D}ᾀ-ᾴᾶ-ᾼ\\x{1FBE}ῂ-ῄῆ-ῌῐ-\\x{1FD3}ῖ-"
            "\\x{"
            "1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\\x{2126}ℨ\\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-"
            "ꞇꞋ-"
            "ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-"
            "𞥃]"
            "+",
            "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
            "\\s+$",
            std::string(kCjkRun),
            "\\p{N}+",
        };
        p.clean_spaces = false;
    } else if (name == "deepseek-coder") {
        p.patterns = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", std::string(kCjkRun), "\\p{N}"};
        p.clean_spaces = false;
    } else if (name == "deepseek-v3") {
        p.patterns = {
            "\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
            "[!\"#$%&'()*+,\\-./"
            ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
            "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"};
        p.clean_spaces = false;
    } else if (name == "falcon") {
        p.patterns = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", gpt2, "[0-9][0-9][0-9]"};
    } else if (is({"starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2"})) {
        p.patterns = {starcoder_digits, gpt2};
    } else if (is({"smollm", "command-r"})) {
        p.patterns = {starcoder_digits, gpt2};
        p.clean_spaces = false;
    } else if (is({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de",
                   "a.x-4.0", "mellum", "modern-bert", "exaone4", "mpt", "olmo"})) {
        p.patterns = {gpt2};
    } else if (is({"trillion", "granite-docling"})) {
        p.patterns = {gpt2};
        p.clean_spaces = false;
    } else if (is({"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2"})) {
        p.patterns = {std::string(kQwen2Pattern)};
        p.clean_spaces = false;
    } else if (is({"stablelm2", "megrez"})) {
        p.patterns = {std::string(kQwen2Pattern)};
    } else if (is({"gpt-4o", "llama4", "kanana2", "talkie"})) {
        p.patterns = {
            "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'["
            "rR][eE]|"
            "'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=["
            "\\p{L}])("
            "[^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| "
            "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
        p.clean_spaces = false;
    } else if (is({"poro-chat", "bloom", "gpt3-finnish"})) {
        p.patterns = {" ?[^(\\s|.,!?…。，、।۔،)]+"};
        p.clean_spaces = name != "poro-chat";
    } else {
        return std::nullopt;
    }
    return p;
}

}  // namespace ponder
