#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "engine/error.h"
#include "engine/kernels.h"

namespace ponder {

namespace {

uint64_t pick_seed(const std::optional<uint64_t>& seed) {
    if (seed) return *seed;
    std::random_device rd;
    return (uint64_t{rd()} << 32) ^ rd();
}

}  // namespace

Sampler::Sampler(SamplerOptions options)
    : options_(std::move(options)), seed_(pick_seed(options_.seed)), rng_(seed_) {}

void Sampler::reset() {
    history_.clear();
    rng_.seed(seed_);
}

void Sampler::accept(TokenId token) {
    if (options_.penalty_last_n == 0) return;
    history_.push_back(token);
    const auto limit = static_cast<size_t>(std::max(options_.penalty_last_n, 0));
    if (options_.penalty_last_n > 0)
        while (history_.size() > limit) history_.pop_front();
}

std::span<const float> Sampler::biased_and_penalised(std::span<const float> logits) {
    // Logit bias, then penalties over the recent history: they change a few tokens, which are
    // written into a copy of the logits (none is made when there are none).
    const SamplerOptions& o = options_;
    const bool penalise =
        !history_.empty() &&
        (o.repeat_penalty != 1.0f || o.frequency_penalty != 0.0f || o.presence_penalty != 0.0f);
    if (o.logit_bias.empty() && !penalise) return logits;
    adjusted_.assign(logits.begin(), logits.end());
    for (const auto& [id, bias] : o.logit_bias)
        if (id >= 0 && static_cast<size_t>(id) < adjusted_.size())
            adjusted_[static_cast<size_t>(id)] += bias;
    if (penalise) {
        std::unordered_map<TokenId, int> counts;
        for (TokenId t : history_) ++counts[t];
        for (const auto& [id, count] : counts) {
            if (id < 0 || static_cast<size_t>(id) >= adjusted_.size()) continue;
            float& l = adjusted_[static_cast<size_t>(id)];
            l = l <= 0 ? l * o.repeat_penalty : l / o.repeat_penalty;
            l -= static_cast<float>(count) * o.frequency_penalty + o.presence_penalty;
        }
    }
    return adjusted_;
}

namespace {

// Most likely first; among equal logits, the lower id.
bool more_likely(const Sampler::Candidate& a, const Sampler::Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// The k most likely of `logits` (all, when there are fewer), most likely first, into `out`.
// One pass that looks only at logits reaching the least of the best k found so far: after the
// first few thousand tokens almost none do, so a 150k-token vocabulary costs tens of
// microseconds, where sorting candidate records cost 100 more.
void top_k(std::span<const float> logits, size_t k, std::vector<Sampler::Candidate>& out) {
    out.clear();
    // Candidates gather up to this many before the best k are kept and the bar is raised.
    const size_t gather = 2 * k + 16;
    float threshold = -INFINITY;
    auto keep_best_k = [&] {
        std::nth_element(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(k) - 1, out.end(),
                         more_likely);
        out.resize(k);
        threshold = out[k - 1].logit;  // the least likely of those kept
    };
    const auto n = static_cast<int64_t>(logits.size());
    const float* x = logits.data();
    const int64_t first = std::min(n, static_cast<int64_t>(gather));
    for (int64_t i = 0; i < first; ++i)
        if (x[i] >= threshold) out.push_back({x[i], static_cast<TokenId>(i)});  // not NaN
    if (out.size() > k) keep_best_k();
    for (int64_t i = next_at_least(x, first, n, threshold); i < n;
         i = next_at_least(x, i + 1, n, threshold)) {
        out.push_back({x[i], static_cast<TokenId>(i)});
        if (out.size() >= gather) keep_best_k();
    }
    if (out.size() > k) keep_best_k();
    std::sort(out.begin(), out.end(), more_likely);
}

}  // namespace

void Sampler::run_chain(std::span<const float> logits) {
    if (logits.empty()) fail("cannot sample from empty logits");
    const SamplerOptions& o = options_;

    const std::span<const float> scores = biased_and_penalised(logits);

    // Top-k.
    if (o.top_k > 0 && static_cast<size_t>(o.top_k) < scores.size()) {
        top_k(scores, static_cast<size_t>(o.top_k), cand_);
        sorted_ = true;
    } else {
        cand_.resize(scores.size());
        for (size_t i = 0; i < scores.size(); ++i) cand_[i] = {scores[i], static_cast<TokenId>(i)};
        sorted_ = false;
    }
    // Top-p: the smallest most-likely prefix whose probability reaches p.
    if (o.top_p < 1.0f && cand_.size() > 1) {
        if (!sorted_) std::sort(cand_.begin(), cand_.end(), more_likely), sorted_ = true;
        const float max = cand_[0].logit;
        double total = 0;
        for (const auto& c : cand_) total += std::exp(static_cast<double>(c.logit - max));
        double cum = 0;
        size_t keep = cand_.size();
        for (size_t i = 0; i < cand_.size(); ++i) {
            cum += std::exp(static_cast<double>(cand_[i].logit - max)) / total;
            if (cum >= o.top_p) {
                keep = i + 1;
                break;
            }
        }
        cand_.resize(keep);
    }

    // Min-p: tokens at least min_p times as likely as the most likely one.
    if (o.min_p > 0.0f && cand_.size() > 1) {
        float max = -INFINITY;
        for (const auto& c : cand_) max = std::max(max, c.logit);
        const float threshold = max + std::log(o.min_p);
        std::erase_if(cand_, [&](const Candidate& c) { return c.logit < threshold; });
    }

    // Temperature; zero keeps the single most likely token.
    if (o.temperature <= 0.0f) {
        auto best = std::max_element(
            cand_.begin(), cand_.end(),
            [](const Candidate& a, const Candidate& b) { return a.logit < b.logit; });
        const Candidate top = *best;
        cand_.assign(1, top);
        sorted_ = true;
    } else if (o.temperature != 1.0f) {
        for (auto& c : cand_) c.logit /= o.temperature;
    }
}

TokenId Sampler::greedy_pick(std::span<const float> logits) {
    // Top-k, top-p and min-p never drop the most likely token, so greedy decoding is the most
    // likely of the biased, penalised logits (the lowest id among equals).
    top_k(biased_and_penalised(logits), 1, cand_);
    if (cand_.empty() || cand_[0].logit == -INFINITY)
        fail("every token is banned: no token can be sampled");
    return cand_[0].id;
}

TokenId Sampler::sample(std::span<const float> logits) {
    if (logits.empty()) fail("cannot sample from empty logits");
    if (options_.temperature <= 0.0f) return greedy_pick(logits);
    run_chain(logits);
    if (cand_.size() == 1) return cand_[0].id;
    float max = -INFINITY;
    for (const auto& c : cand_) max = std::max(max, c.logit);
    if (max == -INFINITY) fail("every token is banned: no token can be sampled");
    double total = 0;
    for (const auto& c : cand_) total += std::exp(static_cast<double>(c.logit - max));
    // 53 random bits: a uniform double in [0, 1), the same on every platform.
    const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
    double cum = 0;
    for (const auto& c : cand_) {
        cum += std::exp(static_cast<double>(c.logit - max));
        if (u < cum) return c.id;
    }
    // Rounding left u at the very end: the last token with non-zero probability.
    for (auto it = cand_.rbegin(); it != cand_.rend(); ++it)
        if (it->logit > -INFINITY) return it->id;
    return cand_.back().id;
}

std::vector<TokenProbability> Sampler::candidates(std::span<const float> logits) {
    run_chain(logits);
    std::vector<Candidate> sorted = cand_;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; });
    std::vector<TokenProbability> out;
    if (sorted.empty()) return out;
    const float max = sorted[0].logit;
    double total = 0;
    for (const auto& c : sorted) total += std::exp(static_cast<double>(c.logit - max));
    for (const auto& c : sorted)
        out.push_back({c.id, c.logit,
                       static_cast<float>(std::exp(static_cast<double>(c.logit - max)) / total)});
    return out;
}

}  // namespace ponder
