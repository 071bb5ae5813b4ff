#pragma once
// JSON <-> Lua values (nlohmann-json). Arrays become sequences 1..n; JSON null inside arrays and
// objects becomes the sentinel `ponder.json.null` so that keys and positions survive.
#include <nlohmann/json.hpp>

struct lua_State;

namespace ponder::lua {

// Pushes `value` onto the stack.
void push_json(lua_State* L, const nlohmann::json& value);

// Converts the value at `index`. Throws ponder::Error for values JSON cannot hold (functions,
// cycles, mixed keys) — callers turn that into a Lua error outside any C++ scope.
nlohmann::json to_json(lua_State* L, int index);

// Pushes the null sentinel (a light userdata shared by the state).
void push_null(lua_State* L);

}  // namespace ponder::lua
