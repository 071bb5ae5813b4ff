// Contemplation and `ponder eval` as a shell user meets them: the real binary in a subprocess,
// on the bundled model (no -m), with the JSON a script would read.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support.h"

namespace ponder::test {
namespace {

constexpr const char* kQuestion = "Tom has 3 boxes of 8 pens and gives away 7. How many are left?";

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
    for (const auto& contemplated : j["modes"][1]["results"]) {
        ASSERT_TRUE(contemplated.contains("trace"));
        EXPECT_EQ(contemplated["trace"]["chains"].size(), 2u);
        EXPECT_EQ(contemplated["trace"]["answer"], contemplated["answer"]);
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
