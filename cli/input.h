#pragma once
// The user's turn, gathered from what a shell user hands ponder: prompt words, piped standard
// input, and attached files (-f), in that spirit: attachments and piped text first, the
// instruction last.
#include <cstddef>
#include <istream>
#include <string>
#include <vector>

namespace ponder::cli {

struct InputSources {
    std::vector<std::string> prompt_words;
    std::vector<std::string> files;  // "-" is standard input
    bool recursive = false;          // allow directories in `files`
    bool stdin_is_terminal = true;   // a terminal is never read as input
};

struct GatheredInput {
    std::string text;                   // the whole user turn
    std::vector<std::string> attached;  // names of attached files, for the log
    bool used_stdin = false;
    std::vector<std::string> warnings;  // files skipped in directories, ...
};

// Largest input ponder reads from one file or stdin; beyond it the input is refused rather than
// read into memory.
inline constexpr size_t kMaxInputBytes = 256u << 20;

// Throws ponder::Error naming the file for directories (without `recursive`), binary files,
// unreadable files and oversized input.
GatheredInput gather_input(const InputSources& sources, std::istream& stdin_stream);

// Wraps a file's text in a Markdown fence labelled with its name; the fence is longer than any
// run of backticks inside the text, so the text cannot close it.
std::string fence_file(const std::string& name, const std::string& text);

// True when the bytes look like a binary file: a NUL byte or invalid UTF-8.
bool looks_binary(std::string_view bytes);

}  // namespace ponder::cli
