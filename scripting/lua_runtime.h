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

struct lua_State;
struct lua_Debug;

namespace ponder {

struct ScriptPolicy {
    bool allow_shell = false;  // os.execute, io.popen, package.loadlib, C modules
    bool allow_write = false;  // creating, changing or removing files outside the working directory
    std::vector<std::filesystem::path> readable_dirs;  // for the `files` tool; the working directory always
    double timeout_seconds = 0;                        // 0: no limit
    size_t memory_limit = size_t{1} << 30;             // bytes the Lua heap may use
};

// A script failed: syntax error, runtime error (with its file:line and a traceback), a refused
// call, the timeout, or an interrupt.
class ScriptError : public Error {
public:
    using Error::Error;
};

class LuaRuntime {
public:
    explicit LuaRuntime(ScriptPolicy policy);
    ~LuaRuntime();
    LuaRuntime(const LuaRuntime&) = delete;
    LuaRuntime& operator=(const LuaRuntime&) = delete;

    // Runs a script with `args` as the global `arg` (arg[0] is the script's path). Returns the
    // status the script asked for with os.exit (0 otherwise). Throws ScriptError.
    int run_file(const std::filesystem::path& script, const std::vector<std::string>& args);
    // Runs a chunk of code; `chunk_name` appears in messages ("=(command line)", "=/lua").
    int run_string(std::string_view code, std::string_view chunk_name);

    // Asks the running script to stop at its next instruction check; safe from a signal handler.
    void interrupt() { interrupted_.store(true, std::memory_order_relaxed); }
    bool interrupted() const { return interrupted_.load(std::memory_order_relaxed); }
    const std::atomic<bool>& interrupt_flag() const { return interrupted_; }

    lua_State* state() { return L_; }
    const ScriptPolicy& policy() const { return policy_; }

    // True when the policy lets scripts write `path`; otherwise pushes an error message onto the
    // Lua stack and returns false, so that the caller can `return lua_error(L)` once no C++
    // object is alive in its frame (Lua errors unwind with longjmp, skipping destructors).
    bool permit_write(lua_State* L, const char* path) const;
    // True when `path` (after resolving symlinks and "..") lies inside an allowed directory.
    bool readable(const std::filesystem::path& path) const;

    // The runtime that owns a state, for C functions registered on it.
    static LuaRuntime& of(lua_State* L);

private:
    int run_loaded(int status, std::string_view what);
    void install_sandbox();
    static void* allocate(void* ud, void* ptr, size_t old_size, size_t new_size);
    static void hook(lua_State* L, lua_Debug* ar);
    static int script_exit(lua_State* L);

    ScriptPolicy policy_;
    lua_State* L_ = nullptr;
    std::filesystem::path working_dir_;
    std::atomic<bool> interrupted_{false};
    std::chrono::steady_clock::time_point deadline_{};
    bool has_deadline_ = false;
    size_t memory_used_ = 0;
    std::optional<int> exit_status_;  // set by os.exit
};


}  // namespace ponder
