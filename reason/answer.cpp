#include "reason/answer.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <regex>
#include <vector>

#include "reason/rational.h"

namespace ponder {

namespace {

constexpr size_t kTailBytes = 3000;
constexpr size_t kMaxAnswerBytes = 400;

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string trim(std::string_view s, std::string_view chars = " \t\r\n") {
    size_t b = s.find_first_not_of(chars);
    if (b == std::string_view::npos) return {};
    size_t e = s.find_last_not_of(chars);
    return std::string(s.substr(b, e - b + 1));
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
        s.replace(at, from.size(), to);
    }
}

// Markup that decorates answers without changing them.
std::string strip_decoration(std::string_view raw) {
    std::string s(raw);
    for (std::string_view mark : {"**", "__", "$", "`", "\\(", "\\)", "\\[", "\\]"})
        replace_all(s, mark, "");
    replace_all(s, "\\,", "");
    replace_all(s, "\\!", "");
    replace_all(s, "\\%", "%");
    s = trim(s, " \t\r\n.;:!*");
    return s;
}

// \frac{a}{b} and \dfrac{a}{b} → a/b
std::string unlatex_fractions(std::string s) {
    static const std::regex frac(R"(\\d?frac\s*\{\s*(-?[0-9.,]+)\s*\}\s*\{\s*(-?[0-9.,]+)\s*\})");
    return std::regex_replace(s, frac, "$1/$2");
}

// The content of the last \boxed{...}, braces balanced.
std::optional<std::string> last_boxed(std::string_view text) {
    size_t at = text.rfind("\\boxed");
    while (at != std::string_view::npos) {
        size_t open = text.find('{', at);
        if (open != std::string_view::npos && open <= at + 8) {
            int depth = 0;
            for (size_t i = open; i < text.size(); ++i) {
                if (text[i] == '{')
                    ++depth;
                else if (text[i] == '}' && --depth == 0)
                    return std::string(text.substr(open + 1, i - open - 1));
            }
        }
        if (at == 0) break;
        at = text.rfind("\\boxed", at - 1);
    }
    return std::nullopt;
}

struct NumberMatch {
    std::string text;
    size_t end = 0;
};

// Numbers as people write them: -1,234.5, 3/4, 0.75, 12%.
const std::regex& number_pattern() {
    static const std::regex re(
        R"((-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?(?:\s*/\s*\d+)?)(%?))");
    return re;
}

std::optional<std::string> number_key(const std::string& text) {
    std::string compact;
    for (char c : text) {
        if (c != ' ') compact += c;
    }
    auto r = Rational::parse(compact);
    if (!r) return std::nullopt;
    return r->to_string(false);
}

std::optional<std::string> number_display(const std::string& text) {
    std::string compact;
    for (char c : text) {
        if (c != ' ') compact += c;
    }
    auto r = Rational::parse(compact);
    if (!r) return std::nullopt;
    return r->to_string(true);
}

}  // namespace

std::string_view answer_kind_name(AnswerKind kind) {
    switch (kind) {
        case AnswerKind::none:
            return "none";
        case AnswerKind::number:
            return "number";
        case AnswerKind::yes_no:
            return "yes/no";
        case AnswerKind::option:
            return "option";
        case AnswerKind::text:
            return "text";
    }
    return "none";
}

Answer normalize_answer(std::string_view raw_in) {
    if (raw_in.size() > kMaxAnswerBytes) raw_in = raw_in.substr(0, kMaxAnswerBytes);
    Answer a;
    a.raw = trim(raw_in);
    std::string s = unlatex_fractions(strip_decoration(raw_in));
    if (s.empty()) return a;
    std::string low = lower(s);

    // yes / no, possibly followed by a reason: "Yes, because ..."
    static const std::regex yes_no(R"(^(yes|no|true|false|correct|incorrect)\b.*)",
                                   std::regex::icase);
    std::smatch m;
    if (std::regex_match(low, m, yes_no)) {
        std::string word = m[1];
        bool yes = word == "yes" || word == "true" || word == "correct";
        a.kind = AnswerKind::yes_no;
        a.key = a.display = yes ? "yes" : "no";
        return a;
    }

    // Option letters: "B", "(B)", "B)", "B.", "Option B", "choice (c)"
    static const std::regex option(R"(^(?:option|choice)?\s*\(?([a-e])\)?(?:[.:)]\s.*|[.:)])?$)",
                                   std::regex::icase);
    if (s.size() <= 80 && std::regex_match(s, m, option)) {
        a.kind = AnswerKind::option;
        a.key = a.display = std::string(
            1, static_cast<char>(std::toupper(static_cast<unsigned char>(m[1].str()[0]))));
        return a;
    }

    // A number, possibly with a currency sign before it or a unit after it: "$29", "29 pens",
    // "3/4 cup". The number must start the answer (after an optional sign or currency).
    static const std::regex leading_number(
        R"(^(?:approximately|about|roughly|exactly|=)?\s*[€£¥]?\s*(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?(?:\s*/\s*\d+)?)\s*(%?)(?:\s*[A-Za-z][A-Za-z .'-]*)?$)",
        std::regex::icase);
    if (std::regex_match(s, m, leading_number)) {
        auto key = number_key(m[1]);
        if (key) {
            a.kind = AnswerKind::number;
            a.key = *key + m[2].str();
            a.display = *number_display(m[1]) + m[2].str();
            return a;
        }
    }

    // Anything else: a short string, compared without case, articles or punctuation.
    std::string key;
    for (char c : low) {
        if (std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80)
            key += c;
        else if (!key.empty() && key.back() != ' ')
            key += ' ';
    }
    key = trim(key);
    for (std::string_view article : {"the ", "a ", "an "}) {
        if (key.rfind(article, 0) == 0) key = key.substr(article.size());
    }
    if (key.empty()) return a;
    a.kind = AnswerKind::text;
    a.key = key;
    a.display = s;
    return a;
}

Answer extract_answer(std::string_view chain) {
    // The answer sits at the end; looking at the tail only keeps the regexes (whose matching
    // recurses per character in libstdc++) bounded on long chains.
    if (chain.size() > kTailBytes) chain = chain.substr(chain.size() - kTailBytes);
    auto with_source = [](Answer a, const char* source) {
        a.source = source;
        return a;
    };
    if (auto boxed = last_boxed(chain)) {
        Answer a = normalize_answer(*boxed);
        if (!a.empty()) return with_source(a, "boxed");
    }

    // The last line that announces the answer: "Answer: 29", "Final answer: 29",
    // "**Answer:** 29", "#### 29".
    std::string text(chain);
    static const std::regex answer_line(
        R"((?:^|\n)[ \t>*_#-]*(?:the\s+)?(?:final\s+)?answer\s*(?:is)?\s*[*_]*\s*[:：=]\s*[*_]*([^\n]*))",
        std::regex::icase);
    static const std::regex hashes(R"((?:^|\n)\s*####\s*([^\n]+))");
    std::optional<std::string> found;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), answer_line);
         it != std::sregex_iterator(); ++it) {
        if (!trim((*it)[1].str()).empty()) found = (*it)[1].str();
    }
    if (!found) {
        for (auto it = std::sregex_iterator(text.begin(), text.end(), hashes);
             it != std::sregex_iterator(); ++it) {
            found = (*it)[1].str();
        }
    }
    if (found) {
        Answer a = normalize_answer(*found);
        if (!a.empty()) return with_source(a, "answer-line");
    }

    // "... the answer is 29." within a sentence.
    static const std::regex answer_is(R"(answer\s+is\s*:?\s*([^\n.,;]+(?:\.\d+)?))",
                                      std::regex::icase);
    std::optional<std::string> sentence;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), answer_is);
         it != std::sregex_iterator(); ++it) {
        sentence = (*it)[1].str();
    }
    if (sentence) {
        Answer a = normalize_answer(*sentence);
        if (!a.empty()) return with_source(a, "answer-is");
    }

    // Fallback: the last number in the text that is not part of a name: the digits of
    // "Qwen2.5", "SmolLM2" or "GPT-4" are no answer (a refusal that names models once came out
    // as the answer 2.5).
    std::optional<std::string> last;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), number_pattern());
         it != std::sregex_iterator(); ++it) {
        const auto at = static_cast<size_t>(it->position(0));
        if (at > 0 && std::isalpha(static_cast<unsigned char>(text[at - 1]))) continue;
        last = (*it)[0].str();
    }
    if (last) {
        Answer a = normalize_answer(*last);
        if (a.kind == AnswerKind::number) return with_source(a, "last-number");
    }
    return {};
}

}  // namespace ponder
