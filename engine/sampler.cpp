#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "engine/error.h"

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

void Sampler::run_chain(std::span<const float> logits) {
    if (logits.empty()) fail("cannot sample from empty logits");
    const SamplerOptions& o = options_;
    cand_.resize(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) cand_[i] = {logits[i], static_cast<TokenId>(i)};
    sorted_ = false;

    // Logit bias.
    for (const auto& [id, bias] : o.logit_bias)
        if (id >= 0 && static_cast<size_t>(id) < cand_.size())
            cand_[static_cast<size_t>(id)].logit += bias;

    // Penalties over the recent history.
    const bool penalise =
        !history_.empty() &&
        (o.repeat_penalty != 1.0f || o.frequency_penalty != 0.0f || o.presence_penalty != 0.0f);
    if (penalise) {
        std::unordered_map<TokenId, int> counts;
        for (TokenId t : history_) ++counts[t];
        for (const auto& [id, count] : counts) {
            if (id < 0 || static_cast<size_t>(id) >= cand_.size()) continue;
            float& l = cand_[static_cast<size_t>(id)].logit;
            l = l <= 0 ? l * o.repeat_penalty : l / o.repeat_penalty;
            l -= static_cast<float>(count) * o.frequency_penalty + o.presence_penalty;
        }
    }

    auto by_logit = [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; };

    // Top-k.
    if (o.top_k > 0 && static_cast<size_t>(o.top_k) < cand_.size()) {
        std::partial_sort(cand_.begin(), cand_.begin() + o.top_k, cand_.end(), by_logit);
        cand_.resize(static_cast<size_t>(o.top_k));
        sorted_ = true;
    }

    // Top-p: the smallest most-likely prefix whose probability reaches p.
    if (o.top_p < 1.0f && cand_.size() > 1) {
        if (!sorted_) std::sort(cand_.begin(), cand_.end(), by_logit), sorted_ = true;
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

TokenId Sampler::greedy_pick(std::span<const float> logits) const {
    // Top-k, top-p and min-p never drop the most likely token, so greedy decoding is the argmax
    // of the biased, penalised logits; only the few tokens in the bias map or the history
    // differ from the raw logits.
    const SamplerOptions& o = options_;
    std::unordered_map<TokenId, float> adjusted;
    for (const auto& [id, bias] : o.logit_bias)
        if (id >= 0 && static_cast<size_t>(id) < logits.size())
            adjusted[id] = logits[static_cast<size_t>(id)] + bias;
    const bool penalise =
        o.repeat_penalty != 1.0f || o.frequency_penalty != 0.0f || o.presence_penalty != 0.0f;
    if (penalise && !history_.empty()) {
        std::unordered_map<TokenId, int> counts;
        for (TokenId t : history_) ++counts[t];
        for (const auto& [id, count] : counts) {
            if (id < 0 || static_cast<size_t>(id) >= logits.size()) continue;
            auto it = adjusted.find(id);
            float l = it != adjusted.end() ? it->second : logits[static_cast<size_t>(id)];
            l = l <= 0 ? l * o.repeat_penalty : l / o.repeat_penalty;
            l -= static_cast<float>(count) * o.frequency_penalty + o.presence_penalty;
            adjusted[id] = l;
        }
    }
    TokenId best = -1;
    float best_value = -INFINITY;
    for (size_t i = 0; i < logits.size(); ++i) {
        const float v = logits[i];
        if (v > best_value && (adjusted.empty() || !adjusted.count(static_cast<TokenId>(i))))
            best_value = v, best = static_cast<TokenId>(i);
    }
    for (const auto& [id, v] : adjusted)
        if (v > best_value || (v == best_value && id < best)) best_value = v, best = id;
    if (best < 0 || best_value == -INFINITY) fail("every token is banned: no token can be sampled");
    return best;
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
