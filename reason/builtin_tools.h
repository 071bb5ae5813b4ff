#pragma once
// The tools ponder brings along, for `--tool NAME` and ponder.tool("NAME") in Lua:
//   calculator  exact arithmetic (+ - * / ^, parentheses, fractions) over rationals
//   files       list_files and read_file, read-only, inside the working directory and the
//               directories given with --allow-dir (no way out through ".." or symlinks)
#include <string>
#include <string_view>
#include <vector>

#include "reason/path_access.h"
#include "reason/tool_use.h"

namespace ponder {

Tool calculator_tool();
// list_files and read_file.
std::vector<Tool> file_tools(ReadableDirs access);

// The tools of a built-in tool set by name ("calculator", "files"); throws ponder::Error naming
// the known ones for any other name.
std::vector<Tool> builtin_tools(std::string_view name, const ReadableDirs& access);
inline constexpr std::string_view kBuiltinToolNames = "calculator, files";

// The most of a file read_file returns (the rest is cut, with a note).
inline constexpr size_t kReadFileLimit = 64 * 1024;

}  // namespace ponder
