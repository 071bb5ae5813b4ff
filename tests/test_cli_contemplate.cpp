// Contemplation and `ponder eval` as a shell user meets them: the real binary in a subprocess,
// on the bundled model (no -m), with the JSON a script would read.
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "tests/support.h"

namespace ponder::test {
namespace {

constexpr const char* kQuestion = "Tom has 3 boxes of 8 pens and gives away 7. How many are left?";
// A question the bundled model splits its answers on, so that verdicts on both agreeing and
// disagreeing candidates are checked.
constexpr const char* kSplit =
    "Hugo has 7 boxes of 10 cookies. He sells 9 cookies and then gives away 4 boxes of 6 "
    "cookies. How many cookies does he have left?";

TEST(CliContemplate, JsonTraceHasEveryChainAndTheSolutionEachCandidateWasJudgedBy) {
    auto r = run_ponder({"--contemplate", "--chains", "3", "--rounds", "0", "--json", kQuestion});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["chains"].size(), 3u);
    ASSERT_FALSE(j["votes"].empty());
    // Every candidate carries the one-line reasoning of its heaviest chain: the text the
    // verifier and a refinement round were shown.
    for (const auto& vote : j["votes"]) {
        std::string solution = vote["solution"];
        EXPECT_EQ(solution.find('\n'), std::string::npos) << solution;
        bool opens_a_chain = false;
        for (int index : vote["chains"]) {
            const auto& chain = j["chains"][static_cast<size_t>(index)];
            EXPECT_EQ(chain["answer"], vote["answer"]);
            std::string text = chain["text"];
            std::string first_step = text.substr(0, text.find('\n'));
            opens_a_chain |= solution.rfind(first_step, 0) == 0;
        }
        EXPECT_TRUE(opens_a_chain || solution.empty()) << solution;  // empty: an answer alone
    }
    EXPECT_FALSE(j["votes"][0]["solution"].get<std::string>().empty());
    EXPECT_EQ(j["answer"], j["votes"][0]["answer"]);
}

TEST(CliContemplate, TheVerifiersOwnSolutionIsGreedyAndShownWithTheChains) {
    auto solution_with_seed = [](const char* seed) {
        auto r = run_ponder({"--contemplate", "--chains", "2", "--rounds", "0", "--seed", seed,
                             "--json", kQuestion});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return nlohmann::json::parse(r.out)["verifier_solution"];
    };
    const auto one = solution_with_seed("1"), two = solution_with_seed("2");
    ASSERT_TRUE(one.is_object()) << one;
    EXPECT_EQ(one["text"], two["text"]) << "greedy, whatever the chains' seed";
    EXPECT_FALSE(one["answer"].get<std::string>().empty()) << one["text"];
    EXPECT_GT(one["tokens"].get<int>(), 0);

    auto shown =
        run_ponder({"--contemplate", "--chains", "2", "--rounds", "0", "--show-chains", kQuestion});
    ASSERT_EQ(shown.exit_code, 0) << shown.err;
    EXPECT_NE(shown.out.find("--- the verifier's own solution: answer"), std::string::npos)
        << shown.out;
    auto one_pass = run_ponder({"--contemplate", "--chains", "2", "--rounds", "0",
                                "--verifier-solves", "off", "--json", kQuestion});
    ASSERT_EQ(one_pass.exit_code, 0) << one_pass.err;
    EXPECT_TRUE(nlohmann::json::parse(one_pass.out)["verifier_solution"].is_null());
}

TEST(CliContemplate, TheVerdictWeighsYesAndAgreementWithTheVerifiersOwnAnswerAlike) {
    auto r = run_ponder(
        {"--contemplate", "--chains", "6", "--rounds", "0", "--seed", "1", "--json", kSplit});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_TRUE(j["verifier_solution"].is_object());
    const std::string own = j["verifier_solution"]["answer"];
    int agreeing = 0;
    for (const auto& vote : j["votes"]) {
        const bool agrees = vote["answer"] == own;
        agreeing += agrees;
        EXPECT_EQ(vote["agrees_with_verifier"], agrees) << vote;
        const double yes = vote["verifier_yes"];
        EXPECT_GT(yes, 0.0);
        EXPECT_LT(yes, 1.0);
        EXPECT_DOUBLE_EQ(vote["verifier"].get<double>(), (yes + (agrees ? 1.0 : 0.0)) / 2) << vote;
        EXPECT_DOUBLE_EQ(vote["score"].get<double>(), vote["vote_share"].get<double>() *
                                                          (0.25 + vote["verifier"].get<double>()));
    }
    EXPECT_LE(agreeing, 1);
    EXPECT_GE(j["votes"].size(), 2u) << "a split vote";

    // Judging in one pass, without an answer of its own, the verdict is the "yes" alone.
    auto one_pass = run_ponder({"--contemplate", "--chains", "6", "--rounds", "0", "--seed", "1",
                                "--verifier-solves", "off", "--json", kSplit});
    ASSERT_EQ(one_pass.exit_code, 0) << one_pass.err;
    const auto judged_in_one_pass = nlohmann::json::parse(one_pass.out);
    for (const auto& vote : judged_in_one_pass["votes"]) {
        EXPECT_TRUE(vote["agrees_with_verifier"].is_null()) << vote;
        EXPECT_EQ(vote["verifier"], vote["verifier_yes"]) << vote;
    }
}

TEST(CliContemplate, CandidatesBeyondTheVerifiersBatchAreJudgedByItsOwnAnswerAlone) {
    // Hot chains scatter over more candidates than the model is asked about (8).
    const std::vector<std::string> args = {
        "--contemplate", "--chains", "16",     "--chain-temp", "1.5", "--rounds", "0",
        "--seed",        "1",        "--json", kSplit};
    auto r = run_ponder(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto votes = nlohmann::json::parse(r.out)["votes"];
    ASSERT_GT(votes.size(), 8u);
    int asked = 0;
    for (const auto& vote : votes) {
        ASSERT_FALSE(vote["agrees_with_verifier"].is_null()) << vote;
        const double equal = vote["agrees_with_verifier"].get<bool>() ? 1.0 : 0.0;
        if (vote["verifier_yes"].is_null()) {
            EXPECT_EQ(vote["verifier"].get<double>(), equal) << vote;
        } else {
            ++asked;
        }
        EXPECT_DOUBLE_EQ(vote["score"].get<double>(), vote["vote_share"].get<double>() *
                                                          (0.25 + vote["verifier"].get<double>()));
    }
    EXPECT_EQ(asked, 8);

    // Judging in one pass, the candidates it was not asked about count as no opinion (0.5).
    auto one_pass_args = args;
    one_pass_args.insert(one_pass_args.begin() + 1, {"--verifier-solves", "off"});
    auto one_pass = run_ponder(one_pass_args);
    ASSERT_EQ(one_pass.exit_code, 0) << one_pass.err;
    int unjudged = 0;
    const auto judged_in_one_pass = nlohmann::json::parse(one_pass.out);
    for (const auto& vote : judged_in_one_pass["votes"]) {
        if (!vote["verifier"].is_null()) continue;
        ++unjudged;
        EXPECT_DOUBLE_EQ(vote["score"].get<double>(), vote["vote_share"].get<double>() * 0.75);
    }
    EXPECT_GT(unjudged, 0);
}

TEST(CliContemplate, ASplitVoteThatTheVerifiersOwnAnswerLeadsNeedsNoRefinement) {
    // The bundled model splits 2:2:1 on this one with seed 1, its greedy solution on a leader.
    constexpr const char* kQ =
        "Max had 3 baskets of 8 tomatoes and then received 14 tomatoes. "
        "How many tomatoes does he have after that?";
    auto rounds_and_top = [&](const char* verifier) {
        auto r = run_ponder({"--contemplate", "--seed", "1", "--verifier", verifier, "--json", kQ});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return nlohmann::json::parse(r.out);
    };
    const auto with = rounds_and_top("on");
    const auto& top = with["votes"][0];
    ASSERT_LT(top["vote_share"].get<double>(), 0.6) << "a split vote (under --agreement)";
    ASSERT_EQ(top["agrees_with_verifier"], true);
    EXPECT_EQ(with["rounds"], 1);
    // The vote alone refines.
    EXPECT_GT(rounds_and_top("off")["rounds"].get<int>(), 1);
}

// The confidence is the vote and the verdict combined, times the weight of the chain the
// justification comes from: an answer that only reasoning with slips reached is not a sure one.
TEST(CliContemplate, ConfidenceIsScaledByTheSoundnessOfTheJustifyingChain) {
    constexpr const char* kHard =
        "A shop sells 17 pens a day for 23 days and then 5 more. How many pens?";
    int scaled = 0;
    for (const char* seed : {"1", "2"}) {
        for (const char* question : {kQuestion, kHard}) {
            auto r = run_ponder({"--contemplate", "--chains", "3", "--rounds", "0", "--seed", seed,
                                 "--json", question});
            ASSERT_EQ(r.exit_code, 0) << r.err;
            const auto j = nlohmann::json::parse(r.out);
            ASSERT_TRUE(j["justified_by"].is_number()) << r.out;
            const auto& chain = j["chains"][j["justified_by"].get<size_t>()];
            const auto& top = j["votes"][0];
            EXPECT_EQ(chain["answer"], j["answer"]);
            const double weight = chain["weight"].get<double>();
            const double combined =
                (top["vote_share"].get<double>() + top["verifier"].get<double>()) / 2;
            EXPECT_NEAR(j["confidence"].get<double>(), combined * std::min(1.0, weight), 1e-9)
                << question << ", seed " << seed;
            if (weight < 1) ++scaled;
            if (chain["false_steps"].get<int>() > 0) {
                auto shown = run_ponder(
                    {"--contemplate", "--chains", "3", "--rounds", "0", "--seed", seed, question});
                EXPECT_NE(shown.out.find("Caution: this reasoning has"), std::string::npos)
                    << shown.out;
            }
        }
    }
    EXPECT_GT(scaled, 0) << "the hard question's best reasoning has slips at some seed";
}

TEST(CliEval, EachAblationDisablesWhatItsNameSays) {
    TempDir dir;
    write_file(dir.path() / "q.jsonl",
               std::string("{\"question\": \"") + kQuestion + "\", \"answer\": \"17\"}\n");
    auto r = run_ponder({"eval", "--data", (dir.path() / "q.jsonl").string(), "--mode",
                         "contemplate", "--ablations", "--chains", "2", "--rounds", "0", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // Mode name -> the settings that must be off in it (on in the full run).
    const std::vector<std::pair<std::string, std::vector<std::string>>> expected = {
        {"contemplate (2 chains)", {}},
        {"without arithmetic check", {"arithmetic-check"}},
        {"without verifier", {"verifier"}},
        {"verifier without its own solution", {"verifier-solves"}},
        {"without vote (best chain)", {"vote"}},
        {"without verifier or vote", {"verifier", "vote"}},
        {"without any check or vote", {"arithmetic-check", "verifier", "vote"}}};
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["modes"].size(), expected.size()) << j["modes"];
    for (size_t i = 0; i < expected.size(); ++i) {
        const auto& mode = j["modes"][i];
        std::string name = mode["mode"];
        EXPECT_EQ(name.substr(name.find_first_not_of(' ')), expected[i].first);
        for (const char* key : {"arithmetic-check", "verifier", "verifier-solves", "vote"}) {
            const auto& off = expected[i].second;
            const bool on = std::find(off.begin(), off.end(), key) == off.end();
            EXPECT_EQ(mode["settings"][key], on ? "on" : "off") << name << ": " << key;
        }
        const auto& trace = mode["results"][0]["trace"];
        const bool judged = mode["settings"]["verifier"] == "on";
        for (const auto& vote : trace["votes"])
            EXPECT_EQ(vote["verifier"].is_null(), !judged) << name;
    }
}

TEST(CliEval, JsonHasTheTextOfQuickAnswersAndTheTraceOfContemplations) {
    TempDir dir;
    write_file(dir.path() / "q.jsonl", std::string("{\"question\": \"") + kQuestion +
                                           "\", \"answer\": \"17\"}\n\n" +
                                           "{\"question\": \"What is 6 * 7?\", \"answer\": 42}\n");
    auto r = run_ponder({"eval", "--data", (dir.path() / "q.jsonl").string(), "--mode", "quick",
                         "--mode", "contemplate", "--chains", "2", "--rounds", "0", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["questions"], 2);
    ASSERT_EQ(j["modes"].size(), 2u);
    for (const auto& mode : j["modes"]) {
        ASSERT_EQ(mode["results"].size(), 2u);
        int correct = 0;
        for (const auto& result : mode["results"]) correct += result["correct"].get<bool>();
        EXPECT_EQ(mode["correct"], correct);
        EXPECT_DOUBLE_EQ(mode["accuracy"].get<double>(), correct / 2.0);
    }
    EXPECT_EQ(j["modes"][1]["results"][1]["expected"], "42");  // a JSON number is read as text
    for (const auto& quick : j["modes"][0]["results"]) {
        ASSERT_TRUE(quick.contains("text"));
        // The answer reported is the one the reply's text ends with.
        if (!quick["answer"].get<std::string>().empty()) {
            EXPECT_NE(quick["text"].get<std::string>().find(quick["answer"].get<std::string>()),
                      std::string::npos);
        }
    }
    double squared_misses = 0;
    std::vector<std::pair<double, bool>> graded;
    for (const auto& contemplated : j["modes"][1]["results"]) {
        ASSERT_TRUE(contemplated.contains("trace"));
        EXPECT_EQ(contemplated["trace"]["chains"].size(), 2u);
        EXPECT_EQ(contemplated["trace"]["answer"], contemplated["answer"]);
        const double confidence = contemplated["trace"]["confidence"].get<double>();
        const bool correct = contemplated["correct"].get<bool>();
        squared_misses += (confidence - correct) * (confidence - correct);
        graded.emplace_back(confidence, correct);
    }
    // How well the confidence matched the outcomes: only contemplation reports one.
    EXPECT_TRUE(j["modes"][0]["brier_score"].is_null());
    EXPECT_TRUE(j["modes"][0]["confidence_auroc"].is_null());
    EXPECT_NEAR(j["modes"][1]["brier_score"].get<double>(), squared_misses / 2, 1e-9);
    if (graded[0].second == graded[1].second) {
        EXPECT_TRUE(j["modes"][1]["confidence_auroc"].is_null());
    } else {
        const auto& [right, wrong] =
            graded[0].second ? std::pair(graded[0], graded[1]) : std::pair(graded[1], graded[0]);
        const double expected = right.first > wrong.first    ? 1.0
                                : right.first == wrong.first ? 0.5
                                                             : 0.0;
        EXPECT_DOUBLE_EQ(j["modes"][1]["confidence_auroc"].get<double>(), expected);
    }
}

TEST(CliEval, BadSetsAreOneLineErrorsNamingTheFile) {
    TempDir dir;
    write_file(dir.path() / "bad.jsonl", "{\"question\": \"What is 1 + 1?\"}\n");
    auto r = run_ponder({"eval", "--data", (dir.path() / "bad.jsonl").string()});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("bad.jsonl:1"), std::string::npos) << r.err;
    r = run_ponder({"eval", "--data", (dir.path() / "missing.jsonl").string()});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("missing.jsonl"), std::string::npos) << r.err;
    write_file(dir.path() / "empty.jsonl", "\n");
    r = run_ponder({"eval", "--data", (dir.path() / "empty.jsonl").string()});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("no questions"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ponder::test
