#pragma once
// Writing a file so that readers see either the old contents or the new, never a torn mix: the
// text goes to a temporary file beside it, is flushed to disk, and is renamed over the old one.
#include <filesystem>
#include <string_view>

namespace ponder::repl {

// Creates the parent directories as needed. Private files (history, saved sessions) are created
// readable by their owner only. Throws ponder::Error naming the file.
void write_file_atomically(const std::filesystem::path& path, std::string_view contents,
                           bool private_file = true);

}  // namespace ponder::repl
