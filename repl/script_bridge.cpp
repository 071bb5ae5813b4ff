#include "repl/script_bridge.h"

#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "reason/interrupt.h"

namespace ponder::repl {

namespace {

// While a script runs, Ctrl-C (which only sets ponder's interrupt flag) must reach the Lua
// runtime, whose hook checks its own flag: a watcher thread passes it on.
class InterruptForwarder {
  public:
    explicit InterruptForwarder(LuaRuntime& runtime) : runtime_(runtime) {
        if (::pipe(stop_) != 0) return;  // no forwarding; the script still ends on its own
        watcher_ = std::thread([this] { watch(); });
    }
    ~InterruptForwarder() {
        if (watcher_.joinable()) {
            char byte = 1;
            [[maybe_unused]] ssize_t n = ::write(stop_[1], &byte, 1);
            watcher_.join();
        }
        for (int fd : stop_) {
            if (fd >= 0) ::close(fd);
        }
    }
    InterruptForwarder(const InterruptForwarder&) = delete;
    InterruptForwarder& operator=(const InterruptForwarder&) = delete;

  private:
    void watch() {
        for (;;) {
            // Passed on again and again while the flag is set: the runtime clears its own flag
            // when the script starts, which may be after the first Ctrl-C.
            if (interrupted()) runtime_.interrupt();
            pollfd fds[2] = {{stop_[0], POLLIN, 0}, {interrupt_fd(), POLLIN, 0}};
            if (::poll(fds, 2, interrupted() ? 50 : -1) < 0) continue;
            if (fds[0].revents) return;
            if (fds[1].revents) drain_interrupt_fd();  // the flag stays set for the check above
        }
    }

    LuaRuntime& runtime_;
    int stop_[2] = {-1, -1};
    std::thread watcher_;
};

}  // namespace

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
        (void)host_;  // the `ponder` module (scripting/) will be opened on it here
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
    try {
        InterruptForwarder forwarder(lua);
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
