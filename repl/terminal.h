#pragma once
// Small pieces of terminal output for the REPL.
#include <string>
#include <string_view>

namespace ponder::repl {

// Model text made safe to print on a terminal: control characters other than newline and tab
// (escape sequences could move the cursor, retitle the window or worse) become U+FFFD, and
// carriage returns are dropped.
std::string printable(std::string_view text);

// Columns of the terminal on standard output (80 when unknown).
int terminal_columns();

// Cuts text to at most `columns` bytes without splitting a UTF-8 character.
std::string fit_width(std::string_view text, size_t columns);

// Writes text to stdout now (streaming needs no buffering between tokens).
void write_now(std::string_view text);

}  // namespace ponder::repl
