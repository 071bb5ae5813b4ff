#include "scripting/lua_runtime.h"

#include <lua.hpp>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stop_token>
#include <thread>
#include <utility>

#include "reason/interrupt.h"
#include "scripting/lua_support.h"

namespace ponder {

namespace {

// Registry keys: addresses, so that looking them up allocates nothing.
char runtime_key;
constexpr const char* kExitMarker = "ponder: script called os.exit";
constexpr int kHookInstructions = 1000;

int message_handler(lua_State* L) {
    const char* message = lua_tostring(L, 1);
    if (!message) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        message = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, message, 1);
    return 1;
}

int refused_shell(lua_State* L) {
    return luaL_error(
        L, "%s is not allowed: run ponder with --allow-shell to let scripts start processes",
        lua_tostring(L, lua_upvalueindex(1)));
}

// Calls the original function (upvalue 1) with this call's arguments.
int call_original(lua_State* L) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

// io.open / io.output / os.remove / os.rename wrappers that check where a file may be written.
// No C++ object lives in these frames, so the Lua errors they raise unwind nothing of ours.
bool writes(const char* mode) {
    return mode && (std::strpbrk(mode, "wa+") != nullptr);
}

int checked_io_open(lua_State* L) {
    const char* path = luaL_checkstring(L, 1);
    const char* mode = luaL_optstring(L, 2, "r");
    if (writes(mode) && !LuaRuntime::of(L).permit_write(L, path)) return lua_error(L);
    return call_original(L);
}

int checked_io_output(lua_State* L) {
    if (lua_type(L, 1) == LUA_TSTRING && !LuaRuntime::of(L).permit_write(L, lua_tostring(L, 1))) {
        return lua_error(L);
    }
    return call_original(L);
}

int checked_os_remove(lua_State* L) {
    if (!LuaRuntime::of(L).permit_write(L, luaL_checkstring(L, 1))) return lua_error(L);
    return call_original(L);
}

int checked_os_rename(lua_State* L) {
    LuaRuntime& runtime = LuaRuntime::of(L);
    if (!runtime.permit_write(L, luaL_checkstring(L, 1))) return lua_error(L);
    if (!runtime.permit_write(L, luaL_checkstring(L, 2))) return lua_error(L);
    return call_original(L);
}

// os.tmpname creates a file in the system's temporary directory.
int checked_os_tmpname(lua_State* L) {
    if (!LuaRuntime::of(L).policy().allow_write) {
        return luaL_error(
            L,
            "os.tmpname is not allowed: it creates a file outside the working directory "
            "(run ponder with --allow-write)");
    }
    return call_original(L);
}

// pcall, xpcall and coroutine.resume that do not swallow the error that stops a script
// (Ctrl-C, --timeout, os.exit): it goes on up at once, as if nothing caught it.
int stop_aware_finish(lua_State* L, int, lua_KContext) {
    const int results = lua_gettop(L);
    if (results >= 2 && !lua_toboolean(L, 1) && LuaRuntime::of(L).stopping()) {
        lua_pushvalue(L, 2);
        return lua_error(L);
    }
    return results;
}

int stop_aware_call(lua_State* L) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    // With a continuation, so that code inside pcall may still yield its coroutine.
    lua_callk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, stop_aware_finish);
    return stop_aware_finish(L, LUA_OK, 0);
}

// load/loadfile/dofile/require accept text only: binary chunks can crash the VM.
int text_only_load(lua_State* L) {
    lua_settop(L, 4);
    lua_pushstring(L, "t");
    lua_replace(L, 3);
    return call_original(L);
}

int text_only_loadfile(lua_State* L) {
    lua_settop(L, 3);
    lua_pushstring(L, "t");
    lua_replace(L, 2);
    return call_original(L);
}

int text_only_dofile(lua_State* L) {
    const char* name = luaL_optstring(L, 1, nullptr);
    lua_settop(L, 1);
    if (luaL_loadfilex(L, name, "t") != LUA_OK) return lua_error(L);
    lua_call(L, 0, LUA_MULTRET);
    return lua_gettop(L) - 1;
}

// package.searchers[2] with text-only loading (Lua's own loads binary chunks too).
int text_only_searcher(lua_State* L) {
    const char* name = luaL_checkstring(L, 1);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchpath");
    lua_pushstring(L, name);
    lua_getfield(L, -3, "path");
    if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "'package.path' must be a string");
    lua_call(L, 2, 2);
    if (lua_isnil(L, -2)) return 1;  // the reason it was not found
    const char* filename = lua_tostring(L, -2);
    if (luaL_loadfilex(L, filename, "t") != LUA_OK) {
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, filename,
                          lua_tostring(L, -1));
    }
    lua_pushstring(L, filename);
    return 2;
}

void wrap(lua_State* L, const char* table, const char* name, lua_CFunction wrapper) {
    lua_getglobal(L, table);
    lua_getfield(L, -1, name);
    lua_pushcclosure(L, wrapper, 1);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

void wrap_global(lua_State* L, const char* name, lua_CFunction wrapper) {
    lua_getglobal(L, name);
    lua_pushcclosure(L, wrapper, 1);
    lua_setglobal(L, name);
}

void refuse(lua_State* L, const char* table, const char* name, const char* shown) {
    lua_getglobal(L, table);
    lua_pushstring(L, shown);
    lua_pushcclosure(L, refused_shell, 1);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

std::string seconds_text(double seconds) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", seconds);
    return buf;
}

}  // namespace

// Watches, while a script runs, for Ctrl-C and for the deadline, and then sets the runtime's
// interrupt flag: the next instruction check ends the script, and a model call in progress sees
// the flag between tokens.
class LuaRuntime::Watchdog {
  public:
    Watchdog(LuaRuntime& runtime, std::optional<std::chrono::steady_clock::time_point> deadline)
        : thread_([this, &runtime, deadline](std::stop_token stop) {
              watch(runtime, deadline, stop);
          }) {}

  private:
    void watch(LuaRuntime& runtime, std::optional<std::chrono::steady_clock::time_point> deadline,
               std::stop_token stop) {
        std::unique_lock lock(mutex_);
        while (!stop.stop_requested()) {
            if (runtime.policy_.stop_on_interrupt && ponder::interrupted()) runtime.interrupt();
            if (deadline && std::chrono::steady_clock::now() >= *deadline) {
                runtime.timed_out_.store(true);
                runtime.interrupt();
                return;
            }
            wake_.wait_for(lock, stop, std::chrono::milliseconds(20), [] { return false; });
        }
    }

    std::mutex mutex_;
    std::condition_variable_any wake_;
    std::jthread thread_;  // last: starts once the members above exist
};

LuaRuntime::LuaRuntime(ScriptPolicy policy)
    : policy_(std::move(policy)), readable_(policy_.readable_dirs) {
    working_dir_ = readable_.working_dir();
    L_ = lua_newstate(&LuaRuntime::allocate, this);
    if (!L_) fail("cannot create a Lua state");
    lua_pushlightuserdata(L_, this);
    lua_rawsetp(L_, LUA_REGISTRYINDEX, &runtime_key);
    luaL_openlibs(L_);
    install_sandbox();
    lua_sethook(L_, &LuaRuntime::hook, LUA_MASKCOUNT, kHookInstructions);
}

LuaRuntime::~LuaRuntime() {
    if (L_) lua_close(L_);
}

LuaRuntime& LuaRuntime::of(lua_State* L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &runtime_key);
    auto* runtime = static_cast<LuaRuntime*>(lua_touserdata(L, -1));
    lua_pop(L, 1);
    return *runtime;
}

void* LuaRuntime::allocate(void* ud, void* ptr, size_t old_size, size_t new_size) {
    auto* self = static_cast<LuaRuntime*>(ud);
    if (ptr == nullptr) old_size = 0;  // Lua passes the object type here for new blocks
    if (new_size == 0) {
        std::free(ptr);
        self->memory_used_ -= old_size;
        return nullptr;
    }
    if (new_size > old_size &&
        self->memory_used_ - old_size + new_size > self->policy_.memory_limit) {
        return nullptr;  // Lua raises "not enough memory"
    }
    void* grown = std::realloc(ptr, new_size);
    if (grown) self->memory_used_ = self->memory_used_ - old_size + new_size;
    return grown;
}

// os.exit inside a script ends the script, not ponder: it unwinds (again at every hook, should
// a pcall catch it) and the runtime returns the status.
int LuaRuntime::script_exit(lua_State* L) {
    int status = 0;
    if (lua_isboolean(L, 1))
        status = lua_toboolean(L, 1) ? 0 : 1;
    else
        status = static_cast<int>(luaL_optinteger(L, 1, 0));
    LuaRuntime& self = of(L);
    self.exit_status_ = status;
    return luaL_error(L, "%s", kExitMarker);
}

std::string LuaRuntime::stop_message() const {
    if (exit_status_) return kExitMarker;
    if (timed_out_)
        return "script stopped: it ran past its --timeout of " +
               seconds_text(policy_.timeout_seconds) + " s";
    return "script interrupted";
}

void LuaRuntime::hook(lua_State* L, lua_Debug*) {
    LuaRuntime& self = of(L);
    if (!self.stopping()) return;
    // The message is built in a fixed buffer: no C++ object may be alive when luaL_error jumps.
    char message[160];
    if (self.exit_status_)
        std::snprintf(message, sizeof message, "%s", kExitMarker);
    else if (self.timed_out_) {
        std::snprintf(message, sizeof message, "script stopped: it ran past its --timeout of %g s",
                      self.policy_.timeout_seconds);
    } else {
        std::snprintf(message, sizeof message, "script interrupted");
    }
    // Level 0: in a hook, the function being run is where the script was stopped.
    luaL_where(L, 0);
    lua_pushstring(L, message);
    lua_concat(L, 2);
    lua_error(L);
}

void LuaRuntime::install_sandbox() {
    lua_State* L = L_;
    lua_pushcfunction(L, &LuaRuntime::script_exit);
    lua_getglobal(L, "os");
    lua_insert(L, -2);
    lua_setfield(L, -2, "exit");
    lua_pop(L, 1);

    wrap_global(L, "load", text_only_load);
    wrap_global(L, "loadfile", text_only_loadfile);
    lua_pushcfunction(L, text_only_dofile);
    lua_setglobal(L, "dofile");
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchers");
    lua_pushcfunction(L, text_only_searcher);
    lua_seti(L, -2, 2);
    lua_pop(L, 2);

    wrap_global(L, "pcall", stop_aware_call);
    wrap_global(L, "xpcall", stop_aware_call);
    wrap(L, "coroutine", "resume", stop_aware_call);

    wrap(L, "io", "open", checked_io_open);
    wrap(L, "io", "output", checked_io_output);
    wrap(L, "os", "remove", checked_os_remove);
    wrap(L, "os", "rename", checked_os_rename);
    wrap(L, "os", "tmpname", checked_os_tmpname);

    if (!policy_.allow_shell) {
        refuse(L, "os", "execute", "os.execute");
        refuse(L, "io", "popen", "io.popen");
        refuse(L, "package", "loadlib", "package.loadlib");
        // Searchers 3 and 4 load C libraries; keep the preload and Lua-file searchers.
        lua_getglobal(L, "package");
        lua_getfield(L, -1, "searchers");
        lua_pushnil(L);
        lua_seti(L, -2, 4);
        lua_pushnil(L);
        lua_seti(L, -2, 3);
        lua_pop(L, 2);
    }
    // The debug library can reach the original functions behind the wrappers above, and remove
    // the hook that enforces the timeout; scripts keep only its traceback.
    lua_getglobal(L, "debug");
    lua_getfield(L, -1, "traceback");
    lua_newtable(L);
    lua_insert(L, -2);
    lua_setfield(L, -2, "traceback");
    lua_setglobal(L, "debug");
    lua_pop(L, 1);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    lua_getglobal(L, "debug");
    lua_setfield(L, -2, "debug");
    lua_pop(L, 2);
}

bool LuaRuntime::permit_write(lua_State* L, const char* path) const {
    bool allowed = false;
    try {
        std::string refusal;
        try {
            allowed = policy_.allow_write || path_inside(resolve_path(path), working_dir_);
            if (!allowed) {
                refusal =
                    cat("writing ", path, " is not allowed: it is outside the working directory ",
                        working_dir_.string(), " (run ponder with --allow-write)");
            }
        } catch (const Error& e) {
            refusal = cat("writing ", path, " is not allowed: ", e.what());
        }
        if (!allowed) lua::push_string(L, lua::caller_position(L) + refusal);
    } catch (const std::exception&) {
        // Out of memory: Lua's own message is on the stack (see lua::protect).
        if (lua_type(L, -1) != LUA_TSTRING) lua_pushliteral(L, "not enough memory");
    }
    return allowed;
}

int LuaRuntime::run_loaded(int status, int nargs) {
    if (status != LUA_OK) {
        // A syntax error: Lua's message already names the file and line.
        std::string message = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "unknown error";
        lua_pop(L_, 1);
        throw ScriptError(message);
    }
    interrupted_.store(false);
    timed_out_.store(false);
    exit_status_.reset();
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (policy_.timeout_seconds > 0) {
        deadline = std::chrono::steady_clock::now() +
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       std::chrono::duration<double>(policy_.timeout_seconds));
    }
    const int base = lua_gettop(L_) - nargs;  // the chunk
    lua_pushcfunction(L_, message_handler);
    lua_insert(L_, base);
    {
        std::optional<Watchdog> watchdog;
        if (deadline || policy_.stop_on_interrupt) watchdog.emplace(*this, deadline);
        status = lua_pcall(L_, nargs, 0, base);
    }
    lua_remove(L_, base);

    std::string message;
    if (status != LUA_OK) {
        message = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "unknown error";
        lua_pop(L_, 1);
    }
    if (exit_status_) return *std::exchange(exit_status_, std::nullopt);
    if (timed_out_) throw ScriptError(status != LUA_OK ? message : stop_message());
    if (interrupted()) throw ScriptInterrupted(status != LUA_OK ? message : stop_message());
    if (status != LUA_OK) throw ScriptError(message);
    return 0;
}

namespace {

// Pushes the arguments, as strings, for the chunk's `...`; returns how many.
int push_arguments(lua_State* L, const std::vector<std::string>& args) {
    if (!lua_checkstack(L, static_cast<int>(args.size()) + 8))
        throw ScriptError("too many script arguments");
    try {
        return lua::protect(L, 0, [&](lua_State* S) {
            for (const auto& a : args) lua_pushlstring(S, a.data(), a.size());
        });
    } catch (const lua::LuaError& e) {
        lua_pop(L, 1);  // the chunk
        throw ScriptError(e.what());
    }
}

void set_arg_table(lua_State* L, const std::string& zero, const std::vector<std::string>& args) {
    lua_createtable(L, static_cast<int>(args.size()), 1);
    lua_pushlstring(L, zero.data(), zero.size());
    lua_seti(L, -2, 0);
    for (size_t i = 0; i < args.size(); ++i) {
        lua_pushlstring(L, args[i].data(), args[i].size());
        lua_seti(L, -2, static_cast<lua_Integer>(i + 1));
    }
    lua_setglobal(L, "arg");
}

}  // namespace

// Setting up arguments allocates on the Lua heap outside any pcall: a memory error there would
// call Lua's panic handler, so it runs protected.
int LuaRuntime::run_file(const std::filesystem::path& script,
                         const std::vector<std::string>& args) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(script, ec))
        throw ScriptError(cat(script.string(), ": no such script"));
    const std::string name = script.string();
    try {
        lua::protect(L_, 0, [&](lua_State* L) { set_arg_table(L, name, args); });
    } catch (const lua::LuaError& e) {
        throw ScriptError(e.what());
    }
    int status = luaL_loadfilex(L_, name.c_str(), "t");
    return run_loaded(status, status == LUA_OK ? push_arguments(L_, args) : 0);
}

int LuaRuntime::run_string(std::string_view code, std::string_view chunk_name,
                           const std::vector<std::string>& args) {
    const std::string name(chunk_name);
    const std::string shown =
        name.size() > 1 && (name[0] == '=' || name[0] == '@') ? name.substr(1) : name;
    try {
        lua::protect(L_, 0, [&](lua_State* L) { set_arg_table(L, shown, args); });
    } catch (const lua::LuaError& e) {
        throw ScriptError(e.what());
    }
    int status = luaL_loadbufferx(L_, code.data(), code.size(), name.c_str(), "t");
    return run_loaded(status, status == LUA_OK ? push_arguments(L_, args) : 0);
}

}  // namespace ponder
