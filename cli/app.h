#pragma once
// The command-line front end: parses argv with CLI11 and dispatches to the quick mode,
// contemplation, the REPL or a subcommand. Returns the process exit code:
// 0 success, 1 runtime error, 2 usage error, 130 interrupted.
namespace ponder::cli {

int run(int argc, char** argv);

}  // namespace ponder::cli
