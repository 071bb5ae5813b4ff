// Turning a contemplation into the text a user reads.
#include <cstdio>
#include <string>
#include <string_view>

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

// A worked solution under a heading (its answer, `details`, corrections and false steps),
// then its text: a chain, or the verifier's own solution.
void append_solution(std::string& out, std::string_view title, std::string_view details,
                     const ChainReport& c) {
    out += "--- ";
    out += title;
    out += ": answer ";
    out += c.answer.empty() ? std::string("none") : c.answer.display;
    out += details;
    if (c.corrections) out += ", " + std::to_string(c.corrections) + " correction(s)";
    if (c.false_claims) out += ", " + std::to_string(c.false_claims) + " false step(s)";
    out += " ---\n";
    out += c.text;
    if (c.text.empty() || c.text.back() != '\n') out += '\n';
}

// A line under the justification when slips remain in it (false results, numbers from nowhere)
// that the corrections did not remove, with the right value of each false result.
std::string caution(const ChainReport& c) {
    if (c.false_claims == 0) return {};
    std::string fixes;
    for (const ArithmeticClaim& a : c.claims)
        if (!a.correct)
            fixes += (fixes.empty() ? "" : "; ") + a.expression + " is " + a.actual + ", not " +
                     a.claimed;
    std::string out = "Caution: this reasoning has ";
    out += c.false_claims == 1 ? "a slip" : std::to_string(c.false_claims) + " slips";
    out += " the checks could not put right";
    if (!fixes.empty()) out += " (" + fixes + ")";
    return out + ".\n";
}

}  // namespace

std::string describe_contemplation(const ContemplationResult& r, bool show_chains) {
    std::string out;
    if (show_chains) {
        for (const auto& c : r.chains) {
            char title[64], weight[32];
            std::snprintf(title, sizeof title, "chain %d (round %d)", c.index + 1, c.round + 1);
            std::snprintf(weight, sizeof weight, ", weight %.2f", c.weight);
            append_solution(out, title, weight, c);
        }
        if (r.verifier_solution)
            append_solution(out, "the verifier's own solution", "", *r.verifier_solution);
        out += "---\n";
    }
    if (r.answer.empty()) {
        out += "No answer: none of the " + std::to_string(r.chains.size()) +
               " chains reached a final answer.\n";
        return out;
    }
    out += "Answer: " + r.answer.display + "\n";
    if (!r.justification.empty()) out += "Why:\n" + indent(r.justification, "  ") + "\n";
    if (r.justified_by >= 0) out += caution(r.chains[static_cast<size_t>(r.justified_by)]);
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
