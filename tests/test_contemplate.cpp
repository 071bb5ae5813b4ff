// Contemplation mechanics on a real model file: chains sampled in parallel with their own seeds,
// checks and votes recorded, rounds bounded, reproducible with a seed, interruptible.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "engine/language_model.h"
#include "reason/arithmetic_check.h"
#include "reason/assistant.h"
#include "reason/contemplate.h"
#include "tests/support.h"

namespace ponder {
namespace {

class Contemplate : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!test::have_shared("models/rand-llama-q8_0.gguf"))
            GTEST_SKIP() << "shared models missing";
        model = LanguageModel::load(test::shared_dir() / "models/rand-llama-q8_0.gguf");
        settings.sampling.seed = 42;
        settings.contemplate.chains = 4;
        settings.contemplate.rounds = 1;
        settings.contemplate.think_tokens = 12;
        assistant = std::make_unique<Assistant>(
            model, AssistantOptions{.context = 512, .extra_cells = 4 * 12 * 2});
    }
    std::shared_ptr<LanguageModel> model;
    std::unique_ptr<Assistant> assistant;
    Settings settings;
    std::vector<Message> question{{"user", "What is 6 times 7?"}};
};

TEST_F(Contemplate, SamplesEveryChainWithItsOwnSeedWithinTheTokenBudget) {
    ContemplationResult r = contemplate(*assistant, question, settings);
    // Random weights never state an answer, so every round runs.
    EXPECT_EQ(r.rounds, 2);
    ASSERT_EQ(r.chains.size(), 8u);
    std::set<uint64_t> seeds;
    std::set<std::string> texts;
    for (size_t i = 0; i < r.chains.size(); ++i) {
        const auto& c = r.chains[i];
        EXPECT_EQ(c.index, static_cast<int>(i));
        EXPECT_EQ(c.round, static_cast<int>(i / 4));
        EXPECT_LE(c.tokens, 12);
        seeds.insert(c.seed);
        texts.insert(c.text);
    }
    EXPECT_EQ(seeds.size(), 8u);
    EXPECT_GE(texts.size(), 7u) << "chains differ";
    ASSERT_TRUE(r.verifier_solution.has_value());
    EXPECT_EQ(r.generated_tokens, [&] {
        int64_t n = r.verifier_solution->tokens;
        for (const auto& c : r.chains) n += c.tokens;
        return n;
    }());
}

TEST_F(Contemplate, TheVerifierSolvesGreedilyBesideTheFirstRoundsChains) {
    auto a = contemplate(*assistant, question, settings);
    ASSERT_TRUE(a.verifier_solution.has_value());
    EXPECT_EQ(a.verifier_solution->index, -1) << "not a chain";
    EXPECT_EQ(a.verifier_solution->round, 0);
    EXPECT_GT(a.verifier_solution->tokens, 0);
    EXPECT_LE(a.verifier_solution->tokens, 12);
    EXPECT_EQ(a.chains.size(), 8u) << "it does not vote";
    // Greedy: another seed changes the chains, not the verifier's solution.
    settings.sampling.seed = 43;
    auto b = contemplate(*assistant, question, settings);
    ASSERT_TRUE(b.verifier_solution.has_value());
    EXPECT_EQ(a.verifier_solution->text, b.verifier_solution->text);
    EXPECT_NE(a.chains[0].text, b.chains[0].text);
    EXPECT_EQ(a.to_json()["verifier_solution"]["text"], a.verifier_solution->text);

    settings.contemplate.verifier_solves = false;
    EXPECT_FALSE(contemplate(*assistant, question, settings).verifier_solution.has_value());
    settings.contemplate.verifier_solves = true;
    settings.contemplate.verifier = false;
    auto off = contemplate(*assistant, question, settings);
    EXPECT_FALSE(off.verifier_solution.has_value());
    EXPECT_TRUE(off.to_json()["verifier_solution"].is_null());
}

TEST_F(Contemplate, SameSeedSameChains) {
    auto a = contemplate(*assistant, question, settings);
    auto b = contemplate(*assistant, question, settings);
    ASSERT_EQ(a.chains.size(), b.chains.size());
    for (size_t i = 0; i < a.chains.size(); ++i) EXPECT_EQ(a.chains[i].text, b.chains[i].text);
    settings.sampling.seed = 43;
    auto c = contemplate(*assistant, question, settings);
    EXPECT_NE(a.chains[0].text, c.chains[0].text);
}

TEST_F(Contemplate, ProgressStagesAndCustomCheckAreCalled) {
    int progress_calls = 0, checks = 0;
    std::vector<std::string> stages;
    ContemplationHooks hooks;
    hooks.on_progress = [&](std::span<const ChainProgress> chains) {
        ++progress_calls;
        EXPECT_EQ(chains.size(), 4u);
    };
    hooks.on_stage = [&](int, std::string_view stage) { stages.emplace_back(stage); };
    hooks.check = [&](const ChainReport&) {
        ++checks;
        return 1.0;
    };
    settings.contemplate.rounds = 0;
    auto r = contemplate(*assistant, question, settings, hooks);
    EXPECT_GT(progress_calls, 4);
    ASSERT_FALSE(stages.empty());
    EXPECT_EQ(stages.front(), "sampling");
    // Chains without an answer are not worth checking.
    EXPECT_EQ(checks, 0);
    EXPECT_TRUE(r.answer.empty());
    EXPECT_NE(describe_contemplation(r, false).find("No answer"), std::string::npos);
}

TEST_F(Contemplate, AnInterruptStopsAtOnce) {
    std::atomic<bool> cancel{true};
    settings.contemplate.think_tokens = 400;
    auto r = contemplate(*assistant, question, settings, {}, &cancel);
    EXPECT_TRUE(r.cancelled);
    EXPECT_EQ(r.rounds, 1);
    for (const auto& c : r.chains) EXPECT_LE(c.tokens, 1);
}

TEST_F(Contemplate, TraceJsonHasChainsVotesAndTimings) {
    auto j = contemplate(*assistant, question, settings).to_json();
    for (const char* key :
         {"answer", "confidence", "rounds", "chains", "votes", "seconds", "generated_tokens"}) {
        EXPECT_TRUE(j.contains(key)) << key;
    }
    ASSERT_EQ(j["chains"].size(), 8u);
    EXPECT_TRUE(j["chains"][0].contains("arithmetic"));
    EXPECT_TRUE(j["chains"][0].contains("seed"));
}

// The bundled demo model slips in its arithmetic, so its chains get put right, all that slipped
// together. With room, each goes on from the cells it holds and reads only its corrected line;
// without, they start afresh from their common prompt, in groups that fit. Either way each chain
// ends as it would alone.
TEST(ContemplateCorrections, ChainsPutRightInGroupsEndAsWithRoomForAll) {
    auto model = LanguageModel::load(std::filesystem::path(PONDER_SOURCE_DIR) / "models" /
                                     "ponder-tiny.gguf");
    Settings settings;
    settings.sampling.seed = 1;
    settings.contemplate.chains = 8;
    settings.contemplate.rounds = 0;
    settings.contemplate.think_tokens = 128;
    const std::vector<Message> question{
        {"user",
         "David saves 16 dollars a week for 8 weeks. Then he pays for 7 cakes at 10 dollars "
         "each. How many dollars does David have in the end?"}};
    // 600 cells hold the prompt (78 tokens) and every chain as sampled, but not the corrections
    // beside them: they start afresh, and in two of the three passes go in two groups.
    Assistant roomy(model, AssistantOptions{.context = 2048, .extra_cells = 0});
    Assistant tight(model, AssistantOptions{.context = 600, .extra_cells = 0});
    const ContemplationResult a = contemplate(roomy, question, settings);
    const ContemplationResult b = contemplate(tight, question, settings);
    int corrections = 0;
    ASSERT_EQ(a.chains.size(), b.chains.size());
    for (size_t i = 0; i < a.chains.size(); ++i) {
        corrections += a.chains[i].corrections;
        EXPECT_EQ(a.chains[i].text, b.chains[i].text) << "chain " << i;
        EXPECT_EQ(a.chains[i].tokens, b.chains[i].tokens) << "chain " << i;
        EXPECT_EQ(a.chains[i].corrections, b.chains[i].corrections) << "chain " << i;
    }
    EXPECT_GE(corrections, 4) << "the chains slipped and were put right";
    ASSERT_TRUE(a.verifier_solution && b.verifier_solution);
    EXPECT_EQ(a.verifier_solution->text, b.verifier_solution->text);
    EXPECT_EQ(a.answer.display, b.answer.display);
}

TEST(ContemplateReport, DescribesAnswerConfidenceAndChains) {
    ContemplationResult r;
    r.answer = normalize_answer("29");
    r.justification = "3 * 12 = 36\n36 - 7 = 29";
    r.confidence = 0.85;
    r.rounds = 1;
    for (int i = 0; i < 3; ++i) {
        ChainReport c;
        c.index = i;
        c.text = "3 * 12 = 36\n36 - 7 = 29\nAnswer: " + std::string(i == 2 ? "30" : "29");
        c.answer = normalize_answer(i == 2 ? "30" : "29");
        r.chains.push_back(c);
    }
    CandidateReport top;
    top.answer = r.answer;
    top.chains = {0, 1};
    top.vote_share = 0.8;
    top.verifier = 0.9;
    CandidateReport other;
    other.answer = normalize_answer("30");
    other.chains = {2};
    other.vote_share = 0.2;
    r.candidates = {top, other};
    std::string text = describe_contemplation(r, false);
    EXPECT_NE(text.find("Answer: 29"), std::string::npos) << text;
    EXPECT_NE(text.find("36 - 7 = 29"), std::string::npos);
    EXPECT_NE(text.find("85%"), std::string::npos);
    EXPECT_NE(text.find("2 of 3 chains"), std::string::npos);
    EXPECT_NE(text.find("verifier 90%"), std::string::npos);
    EXPECT_NE(text.find("30 (20%)"), std::string::npos);
    EXPECT_EQ(text.find("chain 3"), std::string::npos);
    EXPECT_NE(describe_contemplation(r, true).find("chain 3"), std::string::npos);

    ChainReport own;
    own.index = -1;
    own.text = "3 * 12 = 36\n36 - 7 = 29\nAnswer: 29";
    own.answer = normalize_answer("29");
    r.verifier_solution = own;
    EXPECT_EQ(describe_contemplation(r, false).find("verifier's own solution"), std::string::npos);
    text = describe_contemplation(r, true);
    const size_t at = text.find("--- the verifier's own solution: answer 29 ---\n3 * 12 = 36");
    EXPECT_NE(at, std::string::npos) << text;
    EXPECT_LT(text.find("chain 3"), at) << "after the chains";
}

// Slips that the corrections did not remove are named under the justification, with the right
// value of each false result; a sound justification gets no such line.
TEST(ContemplateReport, CautionsWhenTheJustificationStillHasSlips) {
    ContemplationResult r;
    r.answer = normalize_answer("50");
    r.justification = "52 + 4 = 50";
    r.confidence = 0.17;
    r.rounds = 1;
    ChainReport c;
    c.text = "52 + 4 = 50\nAnswer: 50";
    c.answer = r.answer;
    c.claims = check_arithmetic(c.text);
    c.false_claims = 2;  // the false sum, and 52, which the question does not give
    r.chains.push_back(c);
    CandidateReport top;
    top.answer = r.answer;
    top.chains = {0};
    top.vote_share = 1.0;
    r.candidates = {top};

    EXPECT_EQ(describe_contemplation(r, false).find("Caution"), std::string::npos)
        << "without a chain to justify it, no caution";
    r.justified_by = 0;
    std::string text = describe_contemplation(r, false);
    EXPECT_NE(text.find("Why:\n  52 + 4 = 50\nCaution: this reasoning has 2 slips the checks "
                        "could not put right (52 + 4 is 56, not 50).\n"),
              std::string::npos)
        << text;

    r.chains[0].false_claims = 0;
    r.chains[0].text = r.justification = "52 + 4 = 56";
    r.chains[0].claims = check_arithmetic(r.chains[0].text);
    EXPECT_EQ(describe_contemplation(r, false).find("Caution"), std::string::npos);
}

}  // namespace
}  // namespace ponder
