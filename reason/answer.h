#pragma once
// Final answers: found in a reasoning chain ("Answer: 29", "\boxed{29}", "the answer is 29",
// or the last number) and normalised so that equal answers written differently cluster
// together: "29", "29 pens", "$29.00" and "twenty-nine"... at least the first three; "3/4" and
// "0.75"; "Yes." and "yes"; "(B)" and "Option B".
#include <string>
#include <string_view>

namespace ponder {

enum class AnswerKind { none, number, yes_no, option, text };

struct Answer {
    AnswerKind kind = AnswerKind::none;
    std::string raw;      // as the chain wrote it
    std::string key;      // equal for equal answers: "29", "3/4", "yes", "B", "paris"
    std::string display;  // how to show it: "29", "0.75", "yes", "B", "Paris"
    std::string source;   // where it was found: "boxed", "answer-line", "answer-is", "last-number"

    bool empty() const { return kind == AnswerKind::none; }
};

// The final answer of a chain of reasoning; kind none when the chain gives none.
Answer extract_answer(std::string_view chain);

// Classifies and normalises an answer that is already isolated.
Answer normalize_answer(std::string_view raw);

std::string_view answer_kind_name(AnswerKind kind);

}  // namespace ponder
