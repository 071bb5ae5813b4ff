#include "scripting/lua_runtime.h"

#include <lua.hpp>

#include <cstdlib>
#include <cstring>
#include <utility>

namespace ponder {

namespace {

constexpr const char* kRuntimeKey = "ponder.runtime";
constexpr const char* kExitMarker = "ponder: script called os.exit";
constexpr int kHookInstructions = 1000;

bool inside(const std::filesystem::path& path, const std::filesystem::path& dir) {
    auto p = path.begin(), d = dir.begin();
    for (; d != dir.end(); ++d, ++p) {
        if (d->empty()) continue;  // a trailing slash
        if (p == path.end() || *p != *d) return false;
    }
    return true;
}

// Resolves symlinks and ".." for the part of the path that exists.
std::filesystem::path resolve(const std::filesystem::path& path) {
    std::error_code ec;
    auto absolute = std::filesystem::absolute(path, ec);
    auto resolved = std::filesystem::weakly_canonical(absolute, ec);
    return ec ? absolute.lexically_normal() : resolved;
}

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
    return luaL_error(L, "%s is not allowed: run ponder with --allow-shell to let scripts start processes",
                      lua_tostring(L, lua_upvalueindex(1)));
}

// io.open / io.output / io.lines wrappers that check where a file may be written.
bool writes(const char* mode) { return mode && (std::strpbrk(mode, "wa+") != nullptr); }

int checked_io_open(lua_State* L) {
    const char* path = luaL_checkstring(L, 1);
    const char* mode = luaL_optstring(L, 2, "r");
    if (writes(mode) && !LuaRuntime::of(L).permit_write(L, path)) return lua_error(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

int checked_io_output(lua_State* L) {
    if (lua_type(L, 1) == LUA_TSTRING && !LuaRuntime::of(L).permit_write(L, lua_tostring(L, 1))) {
        return lua_error(L);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

int checked_os_remove(lua_State* L) {
    if (!LuaRuntime::of(L).permit_write(L, luaL_checkstring(L, 1))) return lua_error(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

int checked_os_rename(lua_State* L) {
    LuaRuntime& runtime = LuaRuntime::of(L);
    if (!runtime.permit_write(L, luaL_checkstring(L, 1))) return lua_error(L);
    if (!runtime.permit_write(L, luaL_checkstring(L, 2))) return lua_error(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

// load/loadfile/dofile accept text only: binary chunks can crash the VM.
int text_only_load(lua_State* L) {
    lua_settop(L, 4);
    lua_pushstring(L, "t");
    lua_replace(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 4, LUA_MULTRET);
    return lua_gettop(L);
}

int text_only_loadfile(lua_State* L) {
    lua_settop(L, 3);
    lua_pushstring(L, "t");
    lua_replace(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 3, LUA_MULTRET);
    return lua_gettop(L);
}

int text_only_dofile(lua_State* L) {
    const char* name = luaL_optstring(L, 1, nullptr);
    lua_settop(L, 1);
    if (luaL_loadfilex(L, name, "t") != LUA_OK) return lua_error(L);
    lua_call(L, 0, LUA_MULTRET);
    return lua_gettop(L) - 1;
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

}  // namespace

LuaRuntime::LuaRuntime(ScriptPolicy policy) : policy_(std::move(policy)) {
    std::error_code ec;
    working_dir_ = resolve(std::filesystem::current_path(ec));
    L_ = lua_newstate(&LuaRuntime::allocate, this);
    if (!L_) fail("cannot create a Lua state");
    lua_pushlightuserdata(L_, this);
    lua_setfield(L_, LUA_REGISTRYINDEX, kRuntimeKey);
    luaL_openlibs(L_);
    install_sandbox();
    lua_sethook(L_, &LuaRuntime::hook, LUA_MASKCOUNT, kHookInstructions);
}

LuaRuntime::~LuaRuntime() {
    if (L_) lua_close(L_);
}

LuaRuntime& LuaRuntime::of(lua_State* L) {
    lua_getfield(L, LUA_REGISTRYINDEX, kRuntimeKey);
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
    if (new_size > old_size && self->memory_used_ - old_size + new_size > self->policy_.memory_limit) {
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
    if (lua_isboolean(L, 1)) status = lua_toboolean(L, 1) ? 0 : 1;
    else status = static_cast<int>(luaL_optinteger(L, 1, 0));
    LuaRuntime& self = of(L);
    self.exit_status_ = status;
    return luaL_error(L, "%s", kExitMarker);
}

void LuaRuntime::hook(lua_State* L, lua_Debug*) {
    LuaRuntime& self = of(L);
    if (self.exit_status_) luaL_error(L, "%s", kExitMarker);
    if (self.interrupted()) luaL_error(L, "script interrupted");
    if (self.has_deadline_ && std::chrono::steady_clock::now() > self.deadline_) {
        luaL_error(L, "script stopped: it ran past its --timeout of %f seconds", self.policy_.timeout_seconds);
    }
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

    wrap(L, "io", "open", checked_io_open);
    wrap(L, "io", "output", checked_io_output);
    wrap(L, "os", "remove", checked_os_remove);
    wrap(L, "os", "rename", checked_os_rename);

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
        lua_pushnil(L);
        lua_setfield(L, LUA_REGISTRYINDEX, "_CLIBS");
    }
    // The debug library can reach the original functions behind the wrappers above; scripts
    // keep only its traceback.
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
    if (policy_.allow_write || inside(resolve(path), working_dir_)) return true;
    std::string message = cat("writing ", path, " is not allowed: it is outside the working directory ",
                              working_dir_.string(), " (run ponder with --allow-write)");
    lua_pushlstring(L, message.data(), message.size());
    return false;
}

bool LuaRuntime::readable(const std::filesystem::path& path) const {
    auto resolved = resolve(path);
    if (inside(resolved, working_dir_)) return true;
    for (const auto& dir : policy_.readable_dirs) {
        if (inside(resolved, resolve(dir))) return true;
    }
    return false;
}

int LuaRuntime::run_loaded(int status, std::string_view what) {
    if (status != LUA_OK) {
        std::string message = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "unknown error";
        lua_pop(L_, 1);
        throw ScriptError(cat(what, ": ", message));
    }
    interrupted_.store(false);
    exit_status_.reset();
    has_deadline_ = policy_.timeout_seconds > 0;
    if (has_deadline_) {
        deadline_ = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(policy_.timeout_seconds));
    }
    int base = lua_gettop(L_) - 1;  // below the chunk
    lua_pushcfunction(L_, message_handler);
    lua_insert(L_, base + 1);
    status = lua_pcall(L_, 0, 0, base + 1);
    lua_remove(L_, base + 1);
    has_deadline_ = false;
    if (status == LUA_OK) return 0;

    std::string message = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "unknown error";
    lua_pop(L_, 1);
    if (exit_status_) return *std::exchange(exit_status_, std::nullopt);
    throw ScriptError(message);
}

int LuaRuntime::run_file(const std::filesystem::path& script, const std::vector<std::string>& args) {
    lua_createtable(L_, static_cast<int>(args.size()), 1);
    lua_pushstring(L_, script.c_str());
    lua_seti(L_, -2, 0);
    for (size_t i = 0; i < args.size(); ++i) {
        lua_pushlstring(L_, args[i].data(), args[i].size());
        lua_seti(L_, -2, static_cast<lua_Integer>(i + 1));
    }
    lua_setglobal(L_, "arg");
    if (!std::filesystem::exists(script)) throw ScriptError(cat(script.string(), ": no such script"));
    return run_loaded(luaL_loadfilex(L_, script.c_str(), "t"), script.string());
}

int LuaRuntime::run_string(std::string_view code, std::string_view chunk_name) {
    std::string name(chunk_name);
    return run_loaded(luaL_loadbufferx(L_, code.data(), code.size(), name.c_str(), "t"),
                      name.size() > 1 && name[0] == '=' ? name.substr(1) : name);
}

}  // namespace ponder
