#pragma once
// Contemplation: instead of one quick answer, several chains of thought are sampled in parallel
// (one batched decode over a shared prompt prefix), each chain's final answer is extracted and
// normalised, the chains are checked (agreement, exact re-checking of their arithmetic, and the
// model judging each distinct candidate), a weighted vote picks the answer, and a split vote
// triggers a refinement round that shows the model the competing candidates.
#include <atomic>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/generate.h"
#include "reason/answer.h"
#include "reason/arithmetic_check.h"
#include "reason/assistant.h"
#include "reason/settings.h"

namespace ponder {

// The system prompt that asks for step-by-step reasoning and a final-answer line. The bundled
// model is trained on exactly this text.
inline constexpr std::string_view kReasoningPrompt =
    "Think step by step. Write each calculation as an equation, then give the final answer on a "
    "last line that starts with \"Answer:\".";

struct ChainReport {
    int index = 0;  // across rounds
    int round = 0;
    uint64_t seed = 0;
    std::string text;
    Answer answer;
    std::vector<ArithmeticClaim> claims;
    int false_claims =
        0;  // slips: false results and numbers found neither in the question nor earlier
    // Times the arithmetic check cut the chain at a slip (a false result, a number from nowhere),
    // put it right and let the model go on.
    int corrections = 0;
    StopReason stop_reason = StopReason::eos;
    int64_t tokens = 0;
    double custom_check = 1.0;  // what a custom check (e.g. a Lua hook) said, 1 = no opinion
    double weight = 0;          // its weight in the vote after all checks
};

struct CandidateReport {
    Answer answer;            // the representative form
    std::vector<int> chains;  // indices of the chains that reached it
    double vote_share = 0;    // weighted share of the vote, in [0, 1]
    // The verifier's verdict in [0, 1], -1 when not asked: its probability of "yes"; after a
    // solution of its own, the mean of that and whether the candidate equals its own answer.
    double verifier = -1;
    double verifier_yes = -1;                  // the probability of "yes" alone
    std::optional<bool> agrees_with_verifier;  // equals the verifier's own answer (when it has one)
    double score = 0;                          // what the final choice compares
};

struct ContemplationResult {
    Answer answer;              // the chosen answer (empty when no chain gave one)
    std::string justification;  // the reasoning of the best chain that reached it
    int justified_by = -1;      // that chain's index in `chains` (-1: no answer)
    // In [0, 1]: vote share and verifier combined, times the weight of that best chain (at most
    // 1), so an answer that only reasoning with slips reached is not reported as a sure one.
    double confidence = 0;
    int rounds = 0;
    bool cancelled = false;
    std::vector<ChainReport> chains;
    // The verifier's own greedy solution, sampled beside the first round's chains; it judges the
    // candidates after it (absent when the verifier is off or judges without one).
    std::optional<ChainReport> verifier_solution;
    std::vector<CandidateReport> candidates;  // best first
    double seconds = 0;
    int64_t prompt_tokens = 0;
    int64_t generated_tokens = 0;

    nlohmann::json to_json() const;
    nlohmann::json verifier_solution_json() const;  // null without one
};

// Live state of one chain, for progress displays.
struct ChainProgress {
    int index = 0;
    int round = 0;
    int64_t tokens = 0;
    bool finished = false;
    std::string answer;  // extracted so far (empty until the chain states one)
};

struct ContemplationHooks {
    // Called as chains grow (often: keep it cheap).
    std::function<void(std::span<const ChainProgress>)> on_progress;
    // A custom check: a factor for the chain's weight (0 rejects it, 1 is neutral).
    std::function<double(const ChainReport&)> check;
    // Called when a round starts ("sampling", "verifying", "refining").
    std::function<void(int round, std::string_view stage)> on_stage;
};

// Contemplates the last user turn of `conversation` (whose system prompt, if any, is replaced by
// the reasoning prompt). Throws ponder::Error when the prompt does not fit in the context.
ContemplationResult contemplate(Assistant& assistant, std::span<const Message> conversation,
                                const Settings& settings, const ContemplationHooks& hooks = {},
                                const std::atomic<bool>* cancel = nullptr);

}  // namespace ponder

namespace ponder {

// The final response as text: the answer, a short justification from the best chain, the
// confidence (vote share and verifier), and every chain when `show_chains`.
std::string describe_contemplation(const ContemplationResult& result, bool show_chains);

}  // namespace ponder
