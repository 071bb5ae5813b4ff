#pragma once
// Lua 5.4 for automation scripts: a sandboxed state (no process spawning, no writing outside the
// working directory, no binary chunks or C modules unless allowed), bounded by time and memory,
// interruptible from another thread or a signal handler, with errors reported as file:line and
// a traceback.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"
#include "reason/path_access.h"

struct lua_State;
struct lua_Debug;

namespace ponder {

struct ScriptPolicy {
    bool allow_shell = false;  // os.execute, io.popen, package.loadlib, C modules
    bool allow_write = false;  // creating, changing or removing files outside the working directory
    std::vector<std::filesystem::path>
        readable_dirs;                      // for the `files` tool; the working directory always
    double timeout_seconds = 0;             // 0: no limit
    size_t memory_limit = size_t{1} << 30;  // bytes the Lua heap may use
    // Ctrl-C (the process-wide flag of reason/interrupt.h) stops a running script. Callers clear
    // that flag before running.
    bool stop_on_interrupt = true;
};

// A script failed: syntax error, runtime error (with its file:line and a traceback), a refused
// call, or the timeout.
class ScriptError : public Error {
  public:
    using Error::Error;
};

// The script was stopped by Ctrl-C or interrupt().
class ScriptInterrupted : public ScriptError {
  public:
    using ScriptError::ScriptError;
};

class LuaRuntime {
  public:
    explicit LuaRuntime(ScriptPolicy policy);
    ~LuaRuntime();
    LuaRuntime(const LuaRuntime&) = delete;
    LuaRuntime& operator=(const LuaRuntime&) = delete;

    // Runs a script with `args` as the global `arg` (arg[0] is the script's path) and as the
    // chunk's `...`. Returns the status the script asked for with os.exit (0 otherwise). Throws
    // ScriptError (ScriptInterrupted when stopped by Ctrl-C).
    int run_file(const std::filesystem::path& script, const std::vector<std::string>& args);
    // Runs a chunk of code; `chunk_name` appears in messages ("=(command line)", "=/lua").
    int run_string(std::string_view code, std::string_view chunk_name,
                   const std::vector<std::string>& args = {});

    // Asks the running script to stop at its next instruction check; safe from a signal handler
    // or another thread. Model calls made by the script see it through interrupt_flag().
    void interrupt() { interrupted_.store(true, std::memory_order_relaxed); }
    bool interrupted() const { return interrupted_.load(std::memory_order_relaxed); }
    // Set on interrupt() and when the timeout expires: the cancel flag for model calls.
    const std::atomic<bool>& interrupt_flag() const { return interrupted_; }
    // True once the script must end: interrupted, out of time, or os.exit called.
    bool stopping() const { return interrupted() || exit_status_.has_value(); }
    // Why the script is stopping ("script interrupted", "script stopped: ...").
    std::string stop_message() const;

    lua_State* state() { return L_; }
    const ScriptPolicy& policy() const { return policy_; }
    const ReadableDirs& readable_dirs() const { return readable_; }

    // True when the policy lets scripts write `path`; otherwise pushes an error message (with
    // the calling script's file:line) onto the Lua stack and returns false, so that the caller
    // can `return lua_error(L)` once no C++ object is alive in its frame (Lua errors unwind with
    // longjmp, skipping destructors).
    bool permit_write(lua_State* L, const char* path) const;
    // True when `path` (after resolving symlinks and "..") lies inside an allowed directory.
    bool readable(const std::filesystem::path& path) const { return readable_.allows(path); }

    // The runtime that owns a state, for C functions registered on it.
    static LuaRuntime& of(lua_State* L);

  private:
    class Watchdog;
    int run_loaded(int status, int nargs);
    void install_sandbox();
    static void* allocate(void* ud, void* ptr, size_t old_size, size_t new_size);
    static void hook(lua_State* L, lua_Debug* ar);
    static int script_exit(lua_State* L);

    ScriptPolicy policy_;
    ReadableDirs readable_;
    std::filesystem::path working_dir_;
    lua_State* L_ = nullptr;
    std::atomic<bool> interrupted_{false};
    std::atomic<bool> timed_out_{false};
    size_t memory_used_ = 0;
    std::optional<int> exit_status_;  // set by os.exit
};

}  // namespace ponder
