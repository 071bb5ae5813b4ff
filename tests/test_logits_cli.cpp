// `ponder logits`, driven as a user would: the real binary, text and --tokens input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "tests/support.h"

namespace {

using ponder::test::run_ponder;
using ponder::test::shared_dir;

nlohmann::json reference(const std::string& file) {
    std::string text = ponder::test::read_file(shared_dir() / "reference" / file);
    for (char& c : text)
        if (static_cast<unsigned char>(c) >= 0x80) c = '?';  // greedy_text may be broken UTF-8
    return nlohmann::json::parse(text);
}

// The first story prompt, as the reference files were made from it.
std::string first_prompt(const std::string& file) {
    std::string all = ponder::test::read_file(shared_dir() / "reference" / file);
    return all.substr(0, all.find("\n---"));
}

void expect_close(const nlohmann::json& ours, const nlohmann::json& ref, double tol) {
    ASSERT_EQ(ours.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i) {
        EXPECT_EQ(ours[i][0][0], ref[i][0][0]) << "top-1 at position " << i;
        for (size_t j = 0; j < ref[i].size(); ++j)
            EXPECT_NEAR(ours[i][j][1].get<double>(), ref[i][j][1].get<double>(), tol)
                << "position " << i << " rank " << j;
    }
}

TEST(LogitsCli, TextInputMatchesTheReference) {
    PONDER_REQUIRE_SHARED("models/stories260K.gguf");
    const auto ref = reference("stories260K.story.json");
    auto r = run_ponder({"logits", "--model", (shared_dir() / "models/stories260K.gguf").string(),
                         "--top", "5", "--json", first_prompt("prompts.story.txt")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["tokens"], ref[0]["tokens"]);
    expect_close(j["top_logits"], ref[0]["top_logits"], 2e-3);
    EXPECT_EQ(j["pieces"].size(), j["tokens"].size());
}

TEST(LogitsCli, StdinAndHuggingFaceDirectory) {
    PONDER_REQUIRE_SHARED("models/tinystories-656k-hf/tokenizer.json");
    const auto ref = reference("TinyStories-656K-F32.story.json");
    auto r = run_ponder(
        {"logits", "-m", (shared_dir() / "models/tinystories-656k-hf").string(), "--json", "-"},
        first_prompt("prompts.story.txt"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["tokens"], ref[0]["tokens"]);
    expect_close(j["top_logits"], ref[0]["top_logits"], 2e-2);
}

TEST(LogitsCli, TokenIdsNeedNoTokenizer) {
    PONDER_REQUIRE_SHARED("models/rand-qwen2-q6_k.gguf");
    const auto ref = reference("rand-qwen2-q6_k.chat.json");
    std::string list;
    for (const auto& t : ref[3]["tokens"]) {
        if (!list.empty()) list += ',';
        list += std::to_string(t.get<int>());
    }
    auto r = run_ponder({"logits", "-m", (shared_dir() / "models/rand-qwen2-q6_k.gguf").string(),
                         "--tokens", list, "--json", "-k", "3"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["tokens"], ref[3]["tokens"]);
    EXPECT_EQ(j["top_logits"][0].size(), 3u);
    EXPECT_FALSE(j.contains("pieces"));
    // Human-readable form: one block per position.
    auto h = run_ponder({"logits", "-m", (shared_dir() / "models/rand-qwen2-q6_k.gguf").string(),
                         "--tokens", "1,2"});
    ASSERT_EQ(h.exit_code, 0) << h.err;
    EXPECT_NE(h.out.find("[1] token 2"), std::string::npos) << h.out;
}

TEST(LogitsCli, BadInputIsAClearError) {
    PONDER_REQUIRE_SHARED("models/stories260K.gguf");
    const std::string model = (shared_dir() / "models/stories260K.gguf").string();
    auto r = run_ponder({"logits", "-m", model, "--tokens", "1,x,3"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("'x' is not a token id"), std::string::npos) << r.err;
    r = run_ponder({"logits", "-m", model, "--tokens", "1,99999"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("outside the vocabulary"), std::string::npos) << r.err;
    r = run_ponder({"logits", "-m", "/nonexistent/model.gguf", "--tokens", "1"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("/nonexistent/model.gguf"), std::string::npos) << r.err;
}

}  // namespace
