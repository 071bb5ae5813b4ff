// Turning a contemplation into the text a user reads.
#include <cstdio>

#include "reason/contemplate.h"

namespace ponder {

namespace {

std::string percent(double x) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.0f%%", x * 100);
    return buf;
}

std::string indent(const std::string& text, const std::string& pad) {
    std::string out;
    bool line_start = true;
    for (char c : text) {
        if (line_start) out += pad;
        out += c;
        line_start = c == '\n';
    }
    return out;
}

}  // namespace

std::string describe_contemplation(const ContemplationResult& r, bool show_chains) {
    std::string out;
    if (show_chains) {
        for (const auto& c : r.chains) {
            char head[160];
            std::snprintf(head, sizeof head, "--- chain %d (round %d): answer %s, weight %.2f",
                          c.index + 1, c.round + 1,
                          c.answer.empty() ? "none" : c.answer.display.c_str(), c.weight);
            out += head;
            if (c.corrections) out += ", " + std::to_string(c.corrections) + " correction(s)";
            if (c.false_claims) out += ", " + std::to_string(c.false_claims) + " false step(s)";
            out += " ---\n";
            out += c.text;
            if (c.text.empty() || c.text.back() != '\n') out += '\n';
        }
        if (r.verifier_solution) {
            const ChainReport& v = *r.verifier_solution;
            out += "--- the verifier's own solution: answer " +
                   (v.answer.empty() ? std::string("none") : v.answer.display);
            if (v.corrections) out += ", " + std::to_string(v.corrections) + " correction(s)";
            out += " ---\n" + v.text;
            if (v.text.empty() || v.text.back() != '\n') out += '\n';
        }
        out += "---\n";
    }
    if (r.answer.empty()) {
        out += "No answer: none of the " + std::to_string(r.chains.size()) +
               " chains reached a final answer.\n";
        return out;
    }
    out += "Answer: " + r.answer.display + "\n";
    if (!r.justification.empty()) out += "Why:\n" + indent(r.justification, "  ") + "\n";
    const CandidateReport& top = r.candidates.front();
    size_t answered = 0;
    for (const auto& c : r.chains) answered += c.answer.empty() ? 0 : 1;
    out += "Confidence: " + percent(r.confidence) + " (" + std::to_string(top.chains.size()) +
           " of " + std::to_string(r.chains.size()) + " chains";
    if (answered != r.chains.size())
        out += ", " + std::to_string(r.chains.size() - answered) + " without an answer";
    out += "; vote " + percent(top.vote_share);
    if (top.verifier >= 0) out += ", verifier " + percent(top.verifier);
    if (r.rounds > 1) out += "; " + std::to_string(r.rounds) + " rounds";
    out += ")\n";
    if (r.candidates.size() > 1) {
        out += "Other answers:";
        for (size_t i = 1; i < r.candidates.size() && i < 4; ++i) {
            out += " " + r.candidates[i].answer.display + " (" +
                   percent(r.candidates[i].vote_share) + ")";
        }
        out += "\n";
    }
    return out;
}

}  // namespace ponder
