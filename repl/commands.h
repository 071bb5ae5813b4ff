#pragma once
// The REPL's slash commands: one table that /help prints and tab completion reads.
#include <span>
#include <string_view>

namespace ponder::repl {

// What a command's first argument is, for completion.
enum class ArgumentKind { none, text, number, path, setting, session, on_off, command };

struct CommandInfo {
    std::string_view name;       // with the slash: "/set"
    std::string_view arguments;  // as shown in /help: "PARAM VALUE"
    std::string_view help;
    ArgumentKind argument = ArgumentKind::none;
};

std::span<const CommandInfo> command_table();

// By name, with the slash; also accepts aliases ("/quit", "/?"). Null when unknown.
const CommandInfo* find_command(std::string_view name);

}  // namespace ponder::repl
