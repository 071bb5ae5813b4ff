#pragma once
// The `ponder` module for Lua scripts: ask, stream, contemplate, chat sessions, tools, tokens,
// model facts, JSON and file helpers. See README.md ("Scripting with Lua") for the API.
//
//   ponder::LuaRuntime runtime(policy);
//   ponder::open_ponder_module(runtime, host);   // sets the global `ponder`
//   runtime.run_file("script.lua", args);
#include <string_view>

#include "scripting/lua_runtime.h"
#include "scripting/script_host.h"

namespace ponder {

// Installs the module as the global `ponder` (and package.loaded.ponder). `runtime` and `host`
// must outlive the runtime's Lua state (destroy the runtime first). Throws ponder::Error.
void open_ponder_module(LuaRuntime& runtime, ScriptHost& host);

// Offers a built-in tool set ("calculator", "files") to the script's model calls, as
// ponder.tool("NAME") in the script would (the command line's --tool). Call after
// open_ponder_module. Throws ponder::Error for an unknown name.
void enable_builtin_tool(LuaRuntime& runtime, std::string_view name);

}  // namespace ponder
