#include "scripting/lua_json.h"

#include <lua.hpp>

#include <cmath>
#include <string>

#include "engine/error.h"

namespace ponder::lua {

namespace {

constexpr int kMaxDepth = 200;
char null_sentinel;  // its address is the sentinel; never written

bool is_null(lua_State* L, int index) {
    return lua_islightuserdata(L, index) && lua_touserdata(L, index) == &null_sentinel;
}

nlohmann::json convert(lua_State* L, int index, int depth) {
    if (depth > kMaxDepth) fail("value nested more than ", kMaxDepth, " levels deep (a cycle?)");
    if (!lua_checkstack(L, 3)) fail("value nested too deeply");
    index = lua_absindex(L, index);
    switch (lua_type(L, index)) {
        case LUA_TNIL:
            return nullptr;
        case LUA_TBOOLEAN:
            return lua_toboolean(L, index) != 0;
        case LUA_TNUMBER:
            if (lua_isinteger(L, index))
                return lua_tointeger(L, index);
            else {
                double d = lua_tonumber(L, index);
                if (!std::isfinite(d)) fail("JSON cannot hold ", d);
                return d;
            }
        case LUA_TSTRING: {
            size_t n = 0;
            const char* s = lua_tolstring(L, index, &n);
            return std::string(s, n);
        }
        case LUA_TLIGHTUSERDATA:
            if (is_null(L, index)) return nullptr;
            break;
        case LUA_TTABLE: {
            // A sequence 1..n with nothing else is an array; string keys make an object.
            lua_Integer length = static_cast<lua_Integer>(lua_rawlen(L, index));
            size_t count = 0;
            bool string_keys = false, other_keys = false;
            lua_pushnil(L);
            while (lua_next(L, index) != 0) {
                ++count;
                if (lua_type(L, -2) == LUA_TSTRING)
                    string_keys = true;
                else if (!lua_isinteger(L, -2))
                    other_keys = true;
                lua_pop(L, 1);
            }
            if (count == 0) return nlohmann::json::object();
            if (!string_keys && !other_keys && static_cast<size_t>(length) == count) {
                nlohmann::json array = nlohmann::json::array();
                for (lua_Integer i = 1; i <= length; ++i) {
                    lua_rawgeti(L, index, i);
                    array.push_back(convert(L, -1, depth + 1));
                    lua_pop(L, 1);
                }
                return array;
            }
            if (other_keys || (string_keys && count != 0 && length > 0)) {
                fail("a table with mixed or non-string keys cannot become JSON");
            }
            nlohmann::json object = nlohmann::json::object();
            lua_pushnil(L);
            while (lua_next(L, index) != 0) {
                size_t n = 0;
                const char* key = lua_tolstring(L, -2, &n);
                object[std::string(key, n)] = convert(L, -1, depth + 1);
                lua_pop(L, 1);
            }
            return object;
        }
        default:
            break;
    }
    fail("a ", luaL_typename(L, index), " cannot become JSON");
}

}  // namespace

void push_null(lua_State* L) {
    lua_pushlightuserdata(L, &null_sentinel);
}

void push_json(lua_State* L, const nlohmann::json& value) {
    luaL_checkstack(L, 4, "JSON nested too deeply");
    switch (value.type()) {
        case nlohmann::json::value_t::null:
            push_null(L);
            return;
        case nlohmann::json::value_t::boolean:
            lua_pushboolean(L, value.get<bool>());
            return;
        case nlohmann::json::value_t::number_integer:
            lua_pushinteger(L, value.get<int64_t>());
            return;
        case nlohmann::json::value_t::number_unsigned:
            lua_pushinteger(L, static_cast<lua_Integer>(value.get<uint64_t>()));
            return;
        case nlohmann::json::value_t::number_float:
            lua_pushnumber(L, value.get<double>());
            return;
        case nlohmann::json::value_t::string: {
            const auto& s = value.get_ref<const std::string&>();
            lua_pushlstring(L, s.data(), s.size());
            return;
        }
        case nlohmann::json::value_t::array: {
            lua_createtable(L, static_cast<int>(value.size()), 0);
            lua_Integer i = 1;
            for (const auto& item : value) {
                push_json(L, item);
                lua_rawseti(L, -2, i++);
            }
            return;
        }
        case nlohmann::json::value_t::object: {
            lua_createtable(L, 0, static_cast<int>(value.size()));
            // Plain iterators: items() keeps a std::string per step, which a Lua error (out of
            // memory) would skip destroying.
            for (auto it = value.begin(); it != value.end(); ++it) {
                const std::string& key = it.key();
                lua_pushlstring(L, key.data(), key.size());
                push_json(L, *it);
                lua_rawset(L, -3);
            }
            return;
        }
        default:
            lua_pushnil(L);
            return;
    }
}

nlohmann::json to_json(lua_State* L, int index) {
    return convert(L, index, 0);
}

}  // namespace ponder::lua
