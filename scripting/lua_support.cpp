#include "scripting/lua_support.h"

#include <cmath>
#include <cstdio>

namespace ponder::lua {

namespace detail {

namespace {

int trampoline(lua_State* L) {
    auto* body = static_cast<ProtectedBody*>(lua_touserdata(L, 1));
    lua_remove(L, 1);
    body->call(body->body, L);
    return lua_gettop(L);
}

}  // namespace

int run_protected(lua_State* L, int nargs, ProtectedBody& body) {
    need_stack(L, 2);
    const int base = lua_gettop(L) - nargs;  // the slot below the arguments
    lua_pushcfunction(L, trampoline);
    lua_pushlightuserdata(L, &body);
    lua_rotate(L, base + 1, 2);  // function, body, arguments...
    const int status = lua_pcall(L, nargs + 1, LUA_MULTRET, 0);
    if (status != LUA_OK) {
        std::string message = lua_type(L, -1) == LUA_TSTRING ? std::string(string_view_at(L, -1))
                                                             : std::string("(error object is a ") +
                                                                   luaL_typename(L, -1) + " value)";
        lua_pop(L, 1);
        throw LuaError(message);
    }
    return lua_gettop(L) - base;
}

void push_error_message(lua_State* L, const char* message, const char* function) {
    try {
        std::string text =
            function ? caller_position(L) + function + ": " + message : std::string(message);
        protect(L, 0, [&](lua_State* S) { lua_pushlstring(S, text.data(), text.size()); });
    } catch (const std::exception&) {
        // Out of memory even for the message: the pcall left Lua's own memory error message
        // on the stack; if not even that, push what needs no allocation.
        if (lua_gettop(L) == 0 || lua_type(L, -1) != LUA_TSTRING) lua_pushnil(L);
    }
}

}  // namespace detail

std::string caller_position(lua_State* L) {
    lua_Debug ar;
    // lua_getinfo with "Sl" fills fixed fields only: it neither allocates nor raises.
    for (int level = 1; lua_getstack(L, level, &ar); ++level) {
        if (!lua_getinfo(L, "Sl", &ar)) break;
        if (ar.currentline > 0)
            return std::string(ar.short_src) + ":" + std::to_string(ar.currentline) + ": ";
        if (std::string_view(ar.what) != "C") break;
    }
    return {};
}

void need_stack(lua_State* L, int n) {
    if (!lua_checkstack(L, n)) throw LuaError("Lua stack overflow (calls nested too deeply)");
}

std::string_view string_view_at(lua_State* L, int index) {
    if (lua_type(L, index) != LUA_TSTRING) return {};
    size_t size = 0;
    const char* data = lua_tolstring(L, index, &size);  // a string: no conversion, no allocation
    return {data, size};
}

void argument_error(lua_State* L, int index, const char* /*function*/, const char* expected) {
    // guarded() puts the function's name in front.
    throw std::runtime_error("bad argument #" + std::to_string(index) + " (" + expected +
                             " expected, got " + luaL_typename(L, index) + ")");
}

namespace {

std::string number_text(lua_State* L, int index) {
    if (lua_isinteger(L, index)) return std::to_string(lua_tointeger(L, index));
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", lua_tonumber(L, index));
    return buf;
}

}  // namespace

std::string check_string(lua_State* L, int index, const char* function) {
    switch (lua_type(L, index)) {
        case LUA_TSTRING:
            return std::string(string_view_at(L, index));
        case LUA_TNUMBER:
            return number_text(L, index);
        default:
            argument_error(L, index, function, "string");
    }
}

std::optional<std::string> optional_string(lua_State* L, int index, const char* function) {
    if (lua_isnoneornil(L, index)) return std::nullopt;
    return check_string(L, index, function);
}

std::optional<std::string> setting_text(lua_State* L, int index) {
    switch (lua_type(L, index)) {
        case LUA_TSTRING:
            return std::string(string_view_at(L, index));
        case LUA_TNUMBER: {
            if (lua_isinteger(L, index)) return std::to_string(lua_tointeger(L, index));
            // The shortest text that reads back as the same float (settings are floats).
            const double value = lua_tonumber(L, index);
            char buf[64];
            for (int precision = 6; precision <= 17; ++precision) {
                std::snprintf(buf, sizeof buf, "%.*g", precision, value);
                if (static_cast<float>(std::strtod(buf, nullptr)) == static_cast<float>(value))
                    break;
            }
            return std::string(buf);
        }
        case LUA_TBOOLEAN:
            return std::string(lua_toboolean(L, index) ? "on" : "off");
        default:
            return std::nullopt;
    }
}

void push_string(lua_State* L, std::string_view text) {
    protect(L, 0, [&](lua_State* S) { lua_pushlstring(S, text.data(), text.size()); });
}

}  // namespace ponder::lua
