// The quick mode as a shell user meets it: the real binary in a subprocess, with pipes, files,
// JSON, config files, the conversation log, exit codes and errors.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "tests/pty_session.h"
#include "tests/support.h"

namespace ponder::test {
namespace {

std::string chat_model() {
    return (shared_dir() / "models/rand-llama-q8_0.gguf").string();
}
std::string story_model() {
    return (shared_dir() / "models/stories260K.gguf").string();
}

nlohmann::json last_logged(const std::vector<std::string>& env = {}) {
    auto r = run_ponder({"logs", "-n", "1", "--json"}, "", env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    return j.empty() ? nlohmann::json() : j[0];
}

TEST(Quick, RawGreedyContinuationMatchesLlamaCpp) {
    PONDER_REQUIRE_SHARED("reference/stories260K.story.json");
    auto reference =
        nlohmann::json::parse(read_file(shared_dir() / "reference/stories260K.story.json"));
    auto r =
        run_ponder({"-m", story_model(), "--raw", "--temp", "0", "-n", "32", "Once upon a time"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, reference[0]["greedy_text"].get<std::string>() + "\n");
    EXPECT_EQ(r.err, "");  // nothing but the answer, and only on stdout
}

TEST(Quick, AnswerGoesToStdoutStatsToStderr) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    auto r = run_ponder({"-m", chat_model(), "--temp", "0", "-n", "6", "--stats", "Hello"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(r.out.empty());
    EXPECT_NE(r.err.find("t/s"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("t/s"), std::string::npos);
}

TEST(Quick, JsonHasAnswerTokensTimingsAndMatchesStreamedText) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    auto streamed = run_ponder({"-m", chat_model(), "--seed", "5", "-n", "8", "Hi there"});
    auto r = run_ponder({"-m", chat_model(), "--seed", "5", "-n", "8", "--json", "Hi there"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["answer"].get<std::string>() + "\n", streamed.out);
    EXPECT_EQ(j["tokens"]["answer"], 8);
    EXPECT_GT(j["tokens"]["prompt"].get<int>(), 3);
    EXPECT_EQ(j["stop_reason"], "max_tokens");
    EXPECT_GT(j["timings"]["generated_tokens_per_second"].get<double>(), 0);
    EXPECT_NE(j["model"].get<std::string>().find("rand-llama"), std::string::npos);
}

TEST(Quick, PipedStdinIsCombinedWithThePromptAndLogged) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    auto r = run_ponder({"-m", chat_model(), "-n", "2", "summarize"}, "line one\nline two\n");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto e = last_logged();
    std::string prompt = e["prompt"];
    EXPECT_NE(prompt.find("line two"), std::string::npos) << prompt;
    EXPECT_GT(prompt.find("summarize"), prompt.find("line two")) << prompt;
    EXPECT_EQ(e["mode"], "quick");
    EXPECT_EQ(e["options"]["max-tokens"], "2");
}

TEST(Quick, StdinAloneIsThePrompt) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    auto r = run_ponder({"-m", chat_model(), "-n", "2"}, "What is the capital of France?");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(last_logged()["prompt"], "What is the capital of France?");
}

TEST(Quick, AttachedFilesCarryTheirNames) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    TempDir dir;
    write_file(dir.path() / "a.c", "int main() { return 0; }\n");
    write_file(dir.path() / "b.c", "int helper(void);\n");
    auto r = run_ponder({"-m", chat_model(), "-n", "2", "-f", (dir.path() / "a.c").string(), "-f",
                         (dir.path() / "b.c").string(), "compare"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::string prompt = last_logged()["prompt"];
    EXPECT_NE(prompt.find("a.c"), std::string::npos);
    EXPECT_NE(prompt.find("int helper(void);"), std::string::npos);
    EXPECT_EQ(last_logged()["options"]["files"].size(), 2u);
}

TEST(Quick, DirectoriesBinaryAndMissingFilesAreRefusedClearly) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    TempDir dir;
    auto r = run_ponder({"-m", chat_model(), "-f", dir.path().string(), "x"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("--recursive"), std::string::npos) << r.err;
    write_file(dir.path() / "blob.bin", std::string("\x7f"
                                                    "ELF\0\0\1",
                                                    7));
    r = run_ponder({"-m", chat_model(), "-f", (dir.path() / "blob.bin").string(), "x"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("binary"), std::string::npos) << r.err;
    r = run_ponder({"-m", chat_model(), "-f", (dir.path() / "nope.txt").string(), "x"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("nope.txt"), std::string::npos) << r.err;
    write_file(dir.path() / "sub.txt", "text inside");
    r = run_ponder({"-m", chat_model(), "-n", "1", "--recursive", "-f", dir.path().string(), "x"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("blob.bin"), std::string::npos) << "skipped files are mentioned";
}

TEST(Quick, ExitCodesAndOneLineErrors) {
    PONDER_REQUIRE_SHARED("models/stories260K.gguf");
    auto r = run_ponder({"--bogus-flag"});
    EXPECT_EQ(r.exit_code, 2);
    r = run_ponder({"-m", chat_model(), "--temp", "hot", "x"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    r = run_ponder({"-m", chat_model()}, "   \n");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("empty"), std::string::npos);
    r = run_ponder({"-m", "/no/such/model.gguf", "hi"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("/no/such/model.gguf"), std::string::npos);
    EXPECT_NE(r.err.find("ponder pull"), std::string::npos) << "says how to get a model";
    r = run_ponder({"-m", story_model(), "hi"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("--raw"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(Quick, PromptLongerThanTheContextIsAClearError) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    std::string long_prompt;
    for (int i = 0; i < 200; ++i) long_prompt += "word" + std::to_string(i) + " ";
    auto r = run_ponder({"-m", chat_model(), "--ctx", "64", "-n", "4", long_prompt});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("context of 64 tokens"), std::string::npos) << r.err;
    // A 100 MB stdin is refused quickly, without tokenizing it all.
    std::string huge(100u << 20, 'a');
    r = run_ponder({"-m", chat_model(), "--ctx", "256", "x"}, huge);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("longer than the context"), std::string::npos) << r.err;
}

TEST(Quick, GenerationAtTheContextLimitStopsWithANote) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    auto r = run_ponder({"-m", chat_model(), "--ctx", "48", "--temp", "0", "--json", "Hi"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["stop_reason"], "context_full");
    EXPECT_NE(r.err.find("context"), std::string::npos);
}

TEST(Quick, ConfigFileEnvironmentAndFlagPrecedence) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    TempDir config_home;
    std::string xdg = "XDG_CONFIG_HOME=" + config_home.path().string();
    std::filesystem::create_directories(config_home.path() / "ponder");
    write_file(config_home.path() / "ponder/config.toml",
               "model = \"" + chat_model() + "\"\nmax_tokens = 3\ntemp = 0\n");
    auto r = run_ponder({"--json", "hello"}, "", {xdg});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["tokens"]["answer"], 3);
    // The flag beats the config file.
    r = run_ponder({"--json", "-n", "2", "hello"}, "", {xdg});
    EXPECT_EQ(nlohmann::json::parse(r.out)["tokens"]["answer"], 2);
    // $PONDER_MODEL beats the config file's model.
    r = run_ponder({"hello"}, "", {xdg, "PONDER_MODEL=/no/such.gguf"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("$PONDER_MODEL"), std::string::npos) << r.err;
    // A malformed config file is an error naming the file and line.
    write_file(config_home.path() / "ponder/config.toml", "temp = 0\nbroken line\n");
    r = run_ponder({"hello"}, "", {xdg});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("config.toml:2"), std::string::npos) << r.err;
}

TEST(Quick, ContinueCarriesTheConversationAndNoLogLogsNothing) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    TempDir data;
    std::string xdg = "XDG_DATA_HOME=" + data.path().string();
    auto r = run_ponder({"-m", chat_model(), "-n", "2", "first question"}, "", {xdg});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_ponder({"-m", chat_model(), "-n", "2", "-c", "second question"}, "", {xdg});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto logs = nlohmann::json::parse(run_ponder({"logs", "--json"}, "", {xdg}).out);
    ASSERT_EQ(logs.size(), 2u);
    EXPECT_EQ(logs[0]["conversation"], logs[1]["conversation"]);
    EXPECT_GT(logs[0]["prompt_tokens"].get<int>(), logs[1]["prompt_tokens"].get<int>())
        << "the continued prompt holds the first exchange";
    r = run_ponder({"-m", chat_model(), "-n", "2", "--no-log", "third"}, "", {xdg});
    ASSERT_EQ(r.exit_code, 0);
    EXPECT_EQ(nlohmann::json::parse(run_ponder({"logs", "--json"}, "", {xdg}).out).size(), 2u);
    auto search =
        nlohmann::json::parse(run_ponder({"logs", "--json", "--search", "FIRST"}, "", {xdg}).out);
    ASSERT_EQ(search.size(), 1u);
    EXPECT_EQ(search[0]["prompt"], "first question");
}

TEST(Quick, CtrlCStopsTheAnswerWithExitCode130AndKeepsIt) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    TempDir home;
    PtySession p({"-m", chat_model(), "-n", "100000", "--ctx", "4096", "tell me everything"},
                 home.path().string());
    // The loading note is erased once the model is there; then wait for some of the answer.
    ASSERT_TRUE(p.expect("\r\033[K", std::chrono::seconds(60))) << p.output();
    ASSERT_TRUE(p.expect_more(20, std::chrono::seconds(60))) << p.output();
    p.ctrl_c();
    EXPECT_EQ(p.wait_exit(std::chrono::seconds(30)), 130) << p.output();
    auto logs = run_ponder({"logs", "--json"}, "",
                           {"XDG_DATA_HOME=" + home.path().string() + "/.local/share"});
    auto j = nlohmann::json::parse(logs.out);
    ASSERT_EQ(j.size(), 1u);
    EXPECT_EQ(j[0]["stop_reason"], "cancelled");
}

}  // namespace
}  // namespace ponder::test
