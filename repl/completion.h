#pragma once
// Tab completion of REPL input: slash commands, then each command's argument — file paths after
// /read, /run and /model, setting names (and on|off values) after /set, saved session names
// after /load and /save.
#include <filesystem>
#include <string_view>
#include <vector>

#include "repl/line_editor.h"

namespace ponder::repl {

// `before` is the line up to the word being completed.
Completion complete_input(std::string_view before, std::string_view word,
                          const std::vector<std::string>& session_names);

// Files and directories whose path starts with `word` (relative to the working directory; a
// leading "~/" means the home directory and stays in the candidates). Directories end in '/';
// hidden entries appear only when the word's last component starts with '.'.
std::vector<std::string> complete_path(std::string_view word);

}  // namespace ponder::repl
