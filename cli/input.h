#pragma once
// The user's turn, gathered from what a shell user hands ponder: prompt words, piped standard
// input, and attached files (-f), in that spirit: attachments and piped text first, the
// instruction last.
#include <cstddef>
#include <istream>
#include <string>
#include <vector>

#include "reason/attachment.h"

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

// Throws ponder::Error naming the file for directories (without `recursive`), binary files,
// unreadable files and oversized input.
GatheredInput gather_input(const InputSources& sources, std::istream& stdin_stream);

// The attachment helpers -f shares with the REPL's /read.
using ponder::fence_file;
using ponder::kMaxInputBytes;
using ponder::looks_binary;

}  // namespace ponder::cli
