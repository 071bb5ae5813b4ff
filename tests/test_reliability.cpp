// Resource bounds and data safety, through the real binary: inputs too large for the machine or
// the context get a clear one-line error in bounded time, and killing ponder loses nothing that
// was already logged. (Hostile file contents are covered by the GGUF, tokenizer, template and
// scripting tests, and by the fuzz targets in tests/fuzz.)
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/pty_session.h"
#include "tests/support.h"

#if defined(__SANITIZE_ADDRESS__)
#define PONDER_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PONDER_TEST_ASAN 1
#endif
#endif

namespace ponder::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kChatModel = "models/rand-llama-q8_0.gguf";

std::string chat_model() {
    return (shared_dir() / kChatModel).string();
}

bool one_line(const std::string& text) {
    return !text.empty() && text.find('\n') == text.size() - 1;
}

// Runs a shell command line; returns its exit status and what it wrote on stdout and stderr.
ProcessResult run_shell(const std::string& command) {
    ProcessResult result;
    std::FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (!pipe) return result;
    std::array<char, 4096> buffer;
    size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
        result.out.append(buffer.data(), n);
    const int status = ::pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

TEST(Reliability, ModelLargerThanMemoryIsRefusedByName) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir dir;
    // A real model file, made (sparsely) twice as large as the machine's memory.
    const fs::path huge = dir.path() / "huge.gguf";
    fs::copy_file(chat_model(), huge);
    const uint64_t memory = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) *
                            static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    std::error_code ec;
    fs::resize_file(huge, memory * 2, ec);
    if (ec) GTEST_SKIP() << "no sparse files here: " << ec.message();

    auto r = run_ponder({"-m", huge.string(), "--no-log", "hello"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find(huge.string() + ": the model takes"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("of memory"), std::string::npos) << r.err;
    EXPECT_TRUE(one_line(r.err)) << r.err;
}

TEST(Reliability, ContextTooLargeForMemoryIsRefused) {
    PONDER_REQUIRE_SHARED(kChatModel);
#ifdef PONDER_TEST_ASAN
    GTEST_SKIP() << "AddressSanitizer reserves more address space than the limit this test sets";
#endif
    // 2 GiB of address space; the largest context of this model needs a 4 GiB KV cache.
    auto r = run_shell("ulimit -v 2097152 && exec '" + std::string(PONDER_BINARY) + "' -m '" +
                       chat_model() + "' --ctx 4194304 --no-log -n 1 hello");
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.out.find("a context of 4194304 tokens needs 4.00 GiB for its KV cache"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("use a smaller context"), std::string::npos) << r.out;
}

TEST(Reliability, HundredMegabytesOnStdinEndsWithAContextError) {
    PONDER_REQUIRE_SHARED(kChatModel);
    std::string input;
    const std::string line = "the quick brown fox jumps over the lazy dog 12345\n";
    while (input.size() < (size_t{100} << 20)) input += line;
    auto r = run_ponder({"-m", chat_model(), "--no-log", "summarize"}, input);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("longer than the context of 2048 tokens"), std::string::npos) << r.err;
    EXPECT_TRUE(one_line(r.err)) << r.err;
}

TEST(Reliability, MillionTokenPromptFromLuaIsAnErrorTheScriptCanCatch) {
    PONDER_REQUIRE_SHARED(kChatModel);
    auto r = run_ponder(
        {"-m", chat_model(), "--no-log", "-e",
         "local ok, err = pcall(ponder.ask, string.rep('word ', 1000000))\n"
         "print(ok, (tostring(err):gsub('\\n', ' ')))\n"
         "print('counted', ponder.count_tokens(string.rep('word ', 1000000)) >= 500000)"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("false\t"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("longer than the context"), std::string::npos) << r.out;
    // Counting them is fine: it is the context, not the tokenizer, that has a limit.
    EXPECT_NE(r.out.find("counted\ttrue"), std::string::npos) << r.out;
}

TEST(Reliability, KillingPonderMidAnswerLosesNothingLogged) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    const std::vector<std::string> env = {
        "XDG_DATA_HOME=" + (home.path() / ".local/share").string(),
        "XDG_CONFIG_HOME=" + (home.path() / ".config").string()};
    auto first = run_ponder({"-m", chat_model(), "-n", "4", "first question"}, "", env);
    ASSERT_EQ(first.exit_code, 0) << first.err;

    // An answer of up to 2000 tokens, killed as it streams.
    PtySession session({"-m", chat_model(), "--temp", "1", "second question"},
                       home.path().string());
    ASSERT_TRUE(session.expect_more(200)) << session.output();
    session.signal(SIGKILL);
    EXPECT_EQ(session.wait_exit(), 128 + SIGKILL);

    auto logs = run_ponder({"logs", "--json"}, "", env);
    ASSERT_EQ(logs.exit_code, 0) << logs.err;
    auto logged = nlohmann::json::parse(logs.out);
    ASSERT_EQ(logged.size(), 1u) << logs.out;
    EXPECT_EQ(logged[0]["prompt"], "first question");
    EXPECT_EQ(logs.err, "");  // nothing to repair or set aside

    // The log goes on working.
    auto third = run_ponder({"-m", chat_model(), "-n", "4", "third question"}, "", env);
    ASSERT_EQ(third.exit_code, 0) << third.err;
    logs = run_ponder({"logs", "--json"}, "", env);
    EXPECT_EQ(nlohmann::json::parse(logs.out).size(), 2u) << logs.out;
}

}  // namespace
}  // namespace ponder::test
