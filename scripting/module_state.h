#pragma once
// Internals of the `ponder` module shared by its binding files: the per-state module data, and
// reading option tables. Not for use outside scripting/.
#include <lua.hpp>

#include <optional>
#include <string>
#include <vector>

#include "reason/settings.h"
#include "reason/tool_use.h"
#include "scripting/lua_runtime.h"
#include "scripting/lua_support.h"
#include "scripting/script_host.h"

namespace ponder::lua {

// A tool scripts registered: a built-in one (run is set), or one whose Lua function is kept in
// the registry's tool-function table under its name.
struct ScriptTool {
    ToolDefinition definition;
    ToolFunction builtin;
};

struct ModuleState {
    LuaRuntime* runtime = nullptr;
    ScriptHost* host = nullptr;
    std::vector<ScriptTool> tools;  // in registration order; names unique
};

// The module data of the state (set up by open_ponder_module).
ModuleState& module_state(lua_State* L);

// Which options a function takes besides the settings.
enum OptionKinds : unsigned {
    kJsonOption = 1,   // json = true
    kToolsOption = 2,  // tools = false | true | {"name", ...}, steps = N
    kCheckOption = 4,  // check = function(chain) ... end
};

struct CallOptions {
    Settings settings;
    bool json = false;
    bool tools_off = false;
    std::optional<std::vector<std::string>> tool_names;  // nullopt: every registered tool
    int tool_steps = 5;
    bool has_check = false;
};

// Reads the option table at `index` (nil or absent: none) over the host's settings. A check
// function is copied to `check_slot` (a stack slot the caller reserved). Throws
// std::runtime_error naming the bad option; never raises a Lua error.
CallOptions read_options(lua_State* L, int index, const Settings& defaults, const char* function,
                         unsigned kinds, int check_slot = 0);

// The tools a call offers the model: the registered ones its options select.
std::vector<Tool> tools_for_call(lua_State* L, ModuleState& state, const CallOptions& options);

// Conversions shared by the bindings.
nlohmann::json tool_exchanges_json(const std::vector<ToolExchange>& exchanges);
// Throws ScriptStopped when the runtime is stopping (after a cancelled model call).
void check_not_stopping(const ModuleState& state);

// Registration of each group of functions into the module table at the top of the stack (run
// inside lua::protect).
void add_generation_functions(lua_State* L);
void add_chat_functions(lua_State* L);
void add_tool_functions(lua_State* L);
void add_utility_functions(lua_State* L);

}  // namespace ponder::lua
