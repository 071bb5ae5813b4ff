#pragma once
// Files attached to a user's turn: read as text (binary files and oversized input are refused),
// then wrapped in a Markdown fence labelled with the file's name. Shared by the command line's
// -f and the REPL's /read, so an attachment reads the same to the model either way.
#include <cstddef>
#include <filesystem>
#include <istream>
#include <string>
#include <string_view>

namespace ponder {

// Largest input ponder reads from one file or stdin; beyond it the input is refused rather than
// read into memory.
inline constexpr size_t kMaxInputBytes = 256u << 20;

// Reads a whole stream; throws ponder::Error naming `name` when it exceeds kMaxInputBytes.
std::string read_bounded(std::istream& in, const std::string& name);

// Reads a text file; throws ponder::Error naming it when it cannot be read, is too large or
// looks binary.
std::string read_text_file(const std::filesystem::path& path);

// Wraps a file's text in a Markdown fence labelled with its name; the fence is longer than any
// run of backticks inside the text, so the text cannot close it.
std::string fence_file(const std::string& name, const std::string& text);

// True when the bytes look like a binary file: a NUL byte or invalid UTF-8.
bool looks_binary(std::string_view bytes);

}  // namespace ponder
