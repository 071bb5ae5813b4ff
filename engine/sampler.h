#pragma once
// Picking the next token from logits, in llama.cpp's default chain order:
//   logit bias → penalties (repetition, frequency, presence over the last N tokens) → top-k →
//   top-p → min-p → temperature → draw from the softmax.
// Temperature 0 (or below) keeps only the most likely token: greedy decoding after penalties.
// Each Sampler has its own seeded random generator, so the same seed gives the same tokens.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <vector>

namespace ponder {

using TokenId = int32_t;

struct SamplerOptions {
    float temperature = 0.8f;        // <= 0: greedy
    int32_t top_k = 40;              // <= 0: off
    float top_p = 0.95f;             // >= 1: off
    float min_p = 0.05f;             // <= 0: off
    int32_t penalty_last_n = 64;     // tokens of history the penalties look at; 0: off
    float repeat_penalty = 1.0f;     // 1: off; divides positive logits, multiplies negative ones
    float frequency_penalty = 0.0f;  // subtracted once per occurrence
    float presence_penalty = 0.0f;   // subtracted once if the token occurred at all
    std::map<TokenId, float> logit_bias;  // added to the logits; -INFINITY bans a token
    std::optional<uint64_t> seed;         // nullopt: a random seed

    static SamplerOptions greedy() {
        SamplerOptions o;
        o.temperature = 0;
        return o;
    }
};

struct TokenProbability {
    TokenId id;
    float logit;  // after the chain's transformations
    float p;      // softmax over the surviving candidates
};

class Sampler {
  public:
    explicit Sampler(SamplerOptions options = {});

    // Picks a token; does not record it (call accept).
    TokenId sample(std::span<const float> logits);
    // Records a token in the penalty history (prompt tokens too, if they should count).
    void accept(TokenId token);
    TokenId sample_and_accept(std::span<const float> logits) {
        const TokenId t = sample(logits);
        accept(t);
        return t;
    }
    // Clears the history and restarts the random generator from the seed.
    void reset();

    // The candidates that survive the chain up to (not including) the draw, most likely
    // first, with their probabilities. For inspection and tests.
    std::vector<TokenProbability> candidates(std::span<const float> logits);

    const SamplerOptions& options() const { return options_; }
    uint64_t seed() const { return seed_; }

    struct Candidate {
        float logit;
        TokenId id;
    };

  private:
    void run_chain(std::span<const float> logits);
    TokenId greedy_pick(std::span<const float> logits);
    // The logits, or a copy with the bias and the penalties applied when there are any.
    std::span<const float> biased_and_penalised(std::span<const float> logits);

    SamplerOptions options_;
    uint64_t seed_;
    std::mt19937_64 rng_;
    std::deque<TokenId> history_;
    std::vector<Candidate> cand_;  // reused between calls
    std::vector<float> adjusted_;  // the logits with bias and penalties, when there are any
    bool sorted_ = false;
};

}  // namespace ponder
