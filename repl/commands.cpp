#include "repl/commands.h"

namespace ponder::repl {

namespace {

constexpr CommandInfo kCommands[] = {
    {"/help", "[COMMAND]", "Show the commands, or one command's help", ArgumentKind::command},
    {"/quick", "[Q]", "Answer quickly, streaming (the default mode); with Q, just Q",
     ArgumentKind::text},
    {"/contemplate", "[N] [Q]", "Contemplate with N parallel reasoning chains; with Q, just Q",
     ArgumentKind::number},
    {"/think", "on|off", "Show every reasoning chain when contemplating", ArgumentKind::on_off},
    {"/system", "[TEXT|-]", "Show or set the system prompt (- removes it)", ArgumentKind::text},
    {"/set", "PARAM [VALUE]", "Change a setting (without VALUE: show it)", ArgumentKind::setting},
    {"/show", "", "Show the model, the mode and every setting", ArgumentKind::none},
    {"/read", "FILE", "Attach a text file to your next question", ArgumentKind::path},
    {"/save", "NAME", "Save the whole session (turns, settings) as NAME", ArgumentKind::session},
    {"/load", "NAME", "Load a saved session, replacing this one's turns and settings",
     ArgumentKind::session},
    {"/clear", "", "Forget the conversation (system prompt and settings stay)", ArgumentKind::none},
    {"/retry", "",
     "Answer the last question again (a one-off /quick or /contemplate one, so again)",
     ArgumentKind::none},
    {"/stats", "", "Speed of the last answer and how full the context is", ArgumentKind::none},
    {"/model", "PATH|NAME", "Load another model; the conversation stays", ArgumentKind::path},
    {"/lua", "CODE", "Run Lua code against this session", ArgumentKind::text},
    {"/run", "FILE [ARGS...]", "Run a Lua script against this session", ArgumentKind::path},
    {"/exit", "", "Leave (also Ctrl-D, or Ctrl-C twice)", ArgumentKind::none},
};

struct Alias {
    std::string_view alias, name;
};
constexpr Alias kAliases[] = {{"/quit", "/exit"}, {"/q", "/exit"}, {"/?", "/help"}};

}  // namespace

std::span<const CommandInfo> command_table() {
    return kCommands;
}

const CommandInfo* find_command(std::string_view name) {
    for (const Alias& a : kAliases) {
        if (a.alias == name) name = a.name;
    }
    for (const CommandInfo& c : kCommands) {
        if (c.name == name) return &c;
    }
    return nullptr;
}

}  // namespace ponder::repl
