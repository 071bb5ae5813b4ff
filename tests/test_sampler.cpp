// The sampling chain on small hand-made logit vectors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "engine/error.h"
#include "engine/sampler.h"

namespace {

using namespace ponder;

// Options with every filter off, so a test can switch on the one it is about.
SamplerOptions plain(uint64_t seed = 1) {
    SamplerOptions o;
    o.temperature = 1.0f;
    o.top_k = 0;
    o.top_p = 1.0f;
    o.min_p = 0.0f;
    o.seed = seed;
    return o;
}

std::vector<float> logits_for(const std::vector<double>& probs) {
    std::vector<float> l;
    for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
    return l;
}

std::set<TokenId> ids(const std::vector<TokenProbability>& c) {
    std::set<TokenId> s;
    for (const auto& t : c) s.insert(t.id);
    return s;
}

TEST(Sampler, GreedyIsArgmaxWhateverTheSeed) {
    const std::vector<float> logits = {0.1f, 2.5f, -1.0f, 2.4f, 0.0f};
    for (uint64_t seed : {1u, 2u, 99u}) {
        SamplerOptions o = SamplerOptions::greedy();
        o.seed = seed;
        Sampler s(o);
        for (int i = 0; i < 10; ++i) EXPECT_EQ(s.sample(logits), 1);
    }
}

TEST(Sampler, GreedyAppliesBiasAndPenaltiesFirst) {
    const std::vector<float> logits = {0.1f, 2.5f, -1.0f, 2.4f, 0.0f};
    SamplerOptions o = SamplerOptions::greedy();
    o.logit_bias[4] = 3.0f;  // 0.0 + 3.0 beats 2.5
    Sampler s(o);
    EXPECT_EQ(s.sample(logits), 4);
    SamplerOptions p = SamplerOptions::greedy();
    p.presence_penalty = 0.2f;
    Sampler t(p);
    t.accept(1);  // 2.5 - 0.2 < 2.4
    EXPECT_EQ(t.sample(logits), 3);
    SamplerOptions ban = SamplerOptions::greedy();
    for (TokenId i = 0; i < 5; ++i) ban.logit_bias[i] = -INFINITY;
    Sampler b(ban);
    EXPECT_THROW(b.sample(logits), Error);
}

TEST(Sampler, SameSeedSameTokens) {
    const auto logits = logits_for({0.2, 0.2, 0.2, 0.2, 0.2});
    auto draw = [&](uint64_t seed) {
        Sampler s(plain(seed));
        std::vector<TokenId> out;
        for (int i = 0; i < 64; ++i) out.push_back(s.sample(logits));
        return out;
    };
    EXPECT_EQ(draw(7), draw(7));
    EXPECT_NE(draw(7), draw(8));
    // reset() restarts the generator.
    Sampler s(plain(7));
    std::vector<TokenId> first, again;
    for (int i = 0; i < 16; ++i) first.push_back(s.sample(logits));
    s.reset();
    for (int i = 0; i < 16; ++i) again.push_back(s.sample(logits));
    EXPECT_EQ(first, again);
}

TEST(Sampler, DrawsFollowTheProbabilities) {
    const auto logits = logits_for({0.6, 0.3, 0.1});
    Sampler s(plain(3));
    std::map<TokenId, int> counts;
    const int n = 20000;
    for (int i = 0; i < n; ++i) ++counts[s.sample(logits)];
    EXPECT_NEAR(counts[0] / double(n), 0.6, 0.02);
    EXPECT_NEAR(counts[1] / double(n), 0.3, 0.02);
    EXPECT_NEAR(counts[2] / double(n), 0.1, 0.02);
}

TEST(Sampler, TopKKeepsTheKBest) {
    const std::vector<float> logits = {1.0f, 5.0f, 3.0f, 4.0f, 2.0f};
    SamplerOptions o = plain();
    o.top_k = 2;
    Sampler s(o);
    auto c = s.candidates(logits);
    EXPECT_EQ(ids(c), (std::set<TokenId>{1, 3}));
    EXPECT_NEAR(c[0].p + c[1].p, 1.0, 1e-6);
    for (int i = 0; i < 200; ++i) {
        const TokenId t = s.sample(logits);
        EXPECT_TRUE(t == 1 || t == 3);
    }
}

TEST(Sampler, TopKOfAWholeVocabularyIsTheKBestInOrderTiesToTheLowerId) {
    // A vocabulary's worth of logits, in few distinct values so that ties cross the k-th place,
    // rising overall so that the bar rises often, with NaNs and banned tokens among them.
    std::mt19937 rng(11);
    for (int round = 0; round < 20; ++round) {
        const size_t n = 1000 + 7919 * static_cast<size_t>(round);
        std::vector<float> logits(n);
        std::uniform_int_distribution<int> level(0, 40);
        for (size_t i = 0; i < n; ++i)
            logits[i] = 0.25f * static_cast<float>(level(rng)) + (round % 2 ? 1e-4f * i : 0.0f);
        logits[n / 3] = NAN;
        logits[n / 2] = -INFINITY;
        std::vector<TokenId> order;
        for (size_t i = 0; i < n; ++i)
            if (!std::isnan(logits[i])) order.push_back(static_cast<TokenId>(i));
        std::stable_sort(order.begin(), order.end(), [&](TokenId a, TokenId b) {
            return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)];
        });
        for (int k : {1, 40, 200}) {
            SamplerOptions o = plain();
            o.top_k = k;
            Sampler s(o);
            const auto got = s.candidates(logits);
            ASSERT_EQ(got.size(), static_cast<size_t>(k));
            for (int r = 0; r < k; ++r)
                ASSERT_EQ(got[static_cast<size_t>(r)].id, order[static_cast<size_t>(r)])
                    << "n " << n << " k " << k << " rank " << r;
        }
        Sampler greedy(SamplerOptions::greedy());
        EXPECT_EQ(greedy.sample(logits), order[0]);
    }
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
    const auto logits = logits_for({0.5, 0.3, 0.15, 0.05});
    auto kept = [&](float p) {
        SamplerOptions o = plain();
        o.top_p = p;
        Sampler s(o);
        return ids(s.candidates(logits));
    };
    EXPECT_EQ(kept(0.4f), (std::set<TokenId>{0}));
    EXPECT_EQ(kept(0.7f), (std::set<TokenId>{0, 1}));
    EXPECT_EQ(kept(0.81f), (std::set<TokenId>{0, 1, 2}));
    EXPECT_EQ(kept(1.0f).size(), 4u);
}

TEST(Sampler, MinPIsRelativeToTheBest) {
    const auto logits = logits_for({0.5, 0.3, 0.12, 0.08});
    auto kept = [&](float p) {
        SamplerOptions o = plain();
        o.min_p = p;
        Sampler s(o);
        return ids(s.candidates(logits));
    };
    EXPECT_EQ(kept(0.2f), (std::set<TokenId>{0, 1, 2}));  // threshold 0.1
    EXPECT_EQ(kept(0.5f), (std::set<TokenId>{0, 1}));     // threshold 0.25
    EXPECT_EQ(kept(0.9f), (std::set<TokenId>{0}));
    EXPECT_EQ(kept(0.0f).size(), 4u);
}

TEST(Sampler, TemperatureScalesLogits) {
    const std::vector<float> logits = {2.0f, 1.0f, 0.0f};
    SamplerOptions o = plain();
    o.temperature = 0.5f;
    Sampler s(o);
    auto c = s.candidates(logits);
    ASSERT_EQ(c.size(), 3u);
    EXPECT_FLOAT_EQ(c[0].logit, 4.0f);
    EXPECT_FLOAT_EQ(c[1].logit, 2.0f);
    // Sharper than at temperature 1.
    Sampler one(plain());
    EXPECT_GT(c[0].p, one.candidates(logits)[0].p);
}

TEST(Sampler, RepetitionFrequencyAndPresencePenalties) {
    const std::vector<float> logits = {2.0f, -2.0f, 1.0f, 0.5f};
    SamplerOptions o = plain();
    o.repeat_penalty = 2.0f;
    o.frequency_penalty = 0.25f;
    o.presence_penalty = 0.1f;
    o.penalty_last_n = 4;
    Sampler s(o);
    for (TokenId t : {9, 0, 1, 1, 1}) s.accept(t);  // 9 falls out of the window of 4
    std::map<TokenId, float> got;
    for (const auto& c : s.candidates(logits)) got[c.id] = c.logit;
    EXPECT_FLOAT_EQ(got[0], 2.0f / 2 - 0.25f * 1 - 0.1f);   // positive: divided
    EXPECT_FLOAT_EQ(got[1], -2.0f * 2 - 0.25f * 3 - 0.1f);  // negative: multiplied
    EXPECT_FLOAT_EQ(got[2], 1.0f);                          // not in the history
    EXPECT_FLOAT_EQ(got[3], 0.5f);
}

TEST(Sampler, PenaltiesComeBeforeTopK) {
    // Token 0 is best but was just used; with a strong penalty top-1 must pick token 2.
    const std::vector<float> logits = {3.0f, 0.0f, 2.0f};
    SamplerOptions o = SamplerOptions::greedy();
    o.top_k = 1;
    o.repeat_penalty = 2.0f;
    Sampler s(o);
    EXPECT_EQ(s.sample(logits), 0);
    s.accept(0);
    EXPECT_EQ(s.sample(logits), 2);
}

TEST(Sampler, LogitBiasBansAndForces) {
    const std::vector<float> logits = {1.0f, 1.0f, 1.0f};
    SamplerOptions o = plain(5);
    o.logit_bias[0] = -INFINITY;
    o.logit_bias[2] = 100.0f;
    Sampler s(o);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(s.sample(logits), 2);
    SamplerOptions ban = plain(5);
    ban.logit_bias[1] = -INFINITY;
    Sampler b(ban);
    for (int i = 0; i < 200; ++i) EXPECT_NE(b.sample(logits), 1);
    SamplerOptions all = plain();
    for (TokenId t = 0; t < 3; ++t) all.logit_bias[t] = -INFINITY;
    Sampler none(all);
    EXPECT_THROW(none.sample(logits), Error);
}

TEST(Sampler, DefaultChainOrder) {
    // top-k 3 → {0,1,2}; top-p 0.8 over those → {0,1}; min-p 0.5 → {0} only when p1 < p0/2.
    const auto logits = logits_for({0.45, 0.25, 0.2, 0.1});
    SamplerOptions o = plain();
    o.top_k = 3;
    o.top_p = 0.8f;
    o.min_p = 0.5f;
    Sampler s(o);
    EXPECT_EQ(ids(s.candidates(logits)), (std::set<TokenId>{0, 1}));
    o.min_p = 0.6f;
    Sampler t(o);
    EXPECT_EQ(ids(t.candidates(logits)), (std::set<TokenId>{0}));
}

}  // namespace
