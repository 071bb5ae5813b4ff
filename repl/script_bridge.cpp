#include "repl/script_bridge.h"

#include <cstdio>

#include "reason/interrupt.h"
#include "scripting/ponder_module.h"

namespace ponder::repl {

std::string first_line_of_error(std::string_view message) {
    size_t cut = message.find("\nstack traceback:");
    std::string out(message.substr(0, cut));
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    for (char& c : out) {
        if (c == '\n') c = ' ';
    }
    return out;
}

ScriptRunner::~ScriptRunner() = default;

LuaRuntime& ScriptRunner::runtime() {
    if (!runtime_) {
        runtime_ = std::make_unique<LuaRuntime>(policy_);
        open_ponder_module(*runtime_, host_);
    }
    return *runtime_;
}

template <typename Run>
int ScriptRunner::guarded(Run&& run) {
    LuaRuntime& lua = runtime();
    install_interrupt_handler();
    // The interrupt flag is not cleared here: a Ctrl-C pressed since the command was entered
    // already counts against this script.
    int status = 0;
    // The runtime's own watchdog passes Ctrl-C on to the script and to its model calls.
    try {
        status = run(lua);
    } catch (const ScriptError& e) {
        std::fflush(stdout);
        clear_interrupt();
        throw ScriptError(first_line_of_error(e.what()));
    }
    std::fflush(stdout);
    clear_interrupt();
    return status;
}

void ScriptRunner::run_code(std::string_view code) {
    guarded([&](LuaRuntime& lua) { return lua.run_string(code, "=/lua"); });
}

int ScriptRunner::run_file(const std::filesystem::path& script,
                           const std::vector<std::string>& args) {
    return guarded([&](LuaRuntime& lua) { return lua.run_file(script, args); });
}

}  // namespace ponder::repl
