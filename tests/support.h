#pragma once
// Helpers shared by the test files: where the shared data lives, and running the real binary.
#include <filesystem>
#include <string>
#include <vector>

namespace ponder::test {

// ../shared beside the clone, where the reference models and vectors live.
std::filesystem::path shared_dir();

// Skips the calling test (GTEST_SKIP semantics are up to the caller) when a shared file is absent.
bool have_shared(const std::filesystem::path& relative);

struct ProcessResult {
    int exit_code = -1;
    std::string out;  // stdout
    std::string err;  // stderr
};

// Runs the built `ponder` binary with `args`, feeding `input` on stdin (closed when empty and
// `stdin_null` is set). Environment additions are "NAME=value" strings; HOME and XDG dirs are
// pointed at a private temporary directory so tests never touch the user's files.
ProcessResult run_ponder(const std::vector<std::string>& args, const std::string& input = {},
                         const std::vector<std::string>& env = {});

// A fresh, empty temporary directory removed when the object goes away.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& contents);

}  // namespace ponder::test

#define PONDER_REQUIRE_SHARED(rel)                                                             \
    do {                                                                                       \
        if (!::ponder::test::have_shared(rel))                                                 \
            GTEST_SKIP() << "shared data missing: " << (::ponder::test::shared_dir() / (rel)); \
    } while (0)
