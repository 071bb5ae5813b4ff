// ponder.tool: tools a script offers the model (its own Lua functions or the built-in ones), and
// the Tool objects a model call runs them through.
#include <algorithm>
#include <cctype>

#include "engine/error.h"
#include "reason/builtin_tools.h"
#include "scripting/lua_json.h"
#include "scripting/module_state.h"
#include "scripting/ponder_module.h"

namespace ponder::lua {

namespace {

char tool_functions_key;  // registry[&tool_functions_key]: {name = function}

bool valid_tool_name(std::string_view name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
}

// {type = "object", properties = ..., required = ...} as given, or the short form
// {name = "string" | {type = ..., description = ..., optional = true}, ...}.
nlohmann::ordered_json parameter_schema(lua_State* L, int index) {
    nlohmann::json given = to_json(L, index);
    if (given.is_object() && given.value("type", "") == "object" && given.contains("properties"))
        return given;
    if (!given.is_object()) fail("'params' must be a table of parameters");
    nlohmann::ordered_json schema = {{"type", "object"},
                                     {"properties", nlohmann::ordered_json::object()},
                                     {"required", nlohmann::ordered_json::array()}};
    // nlohmann::json keeps keys sorted: the schema lists parameters in a stable order.
    for (auto it = given.begin(); it != given.end(); ++it) {
        nlohmann::ordered_json property;
        bool optional = false;
        if (it->is_string()) {
            property = {{"type", *it}};
        } else if (it->is_object()) {
            if (it->contains("type")) property["type"] = (*it)["type"];
            for (auto field = it->begin(); field != it->end(); ++field) {
                if (field.key() == "optional")
                    optional = field->is_boolean() && field->get<bool>();
                else if (field.key() != "type")
                    property[field.key()] = *field;
            }
            if (!property.contains("type")) property["type"] = "string";
        } else {
            fail("parameter '", it.key(),
                 "' must be a type name or a table like {type = \"string\", description = ...}");
        }
        schema["properties"][it.key()] = std::move(property);
        if (!optional) schema["required"].push_back(it.key());
    }
    return schema;
}

void add_or_replace(ModuleState& state, ScriptTool tool) {
    auto same = std::find_if(state.tools.begin(), state.tools.end(), [&](const ScriptTool& t) {
        return t.definition.name == tool.definition.name;
    });
    if (same != state.tools.end())
        *same = std::move(tool);
    else
        state.tools.push_back(std::move(tool));
}

// ponder.tool{name = ..., description = ..., params = {...}, fn = function(args) ... end}
// ponder.tool("calculator") / ponder.tool("files")
int register_tool(lua_State* L) {
    return guarded(L, "ponder.tool", [](lua_State* L) {
        ModuleState& state = module_state(L);
        if (lua_type(L, 1) == LUA_TSTRING) {
            const std::string name(string_view_at(L, 1));
            std::vector<Tool> tools = builtin_tools(name, state.runtime->readable_dirs());
            for (Tool& t : tools)
                add_or_replace(state, ScriptTool{std::move(t.definition), std::move(t.run)});
            return protect(L, 0,
                           [&](lua_State* S) { lua_pushlstring(S, name.data(), name.size()); });
        }
        if (lua_type(L, 1) != LUA_TTABLE)
            argument_error(L, 1, "tool", "table or built-in tool name");
        lua_settop(L, 1);
        need_stack(L, 4);
        lua_pushnil(L);  // slot 2: the function, once found
        ScriptTool tool;
        bool has_fn = false;
        lua_pushnil(L);
        while (lua_next(L, 1) != 0) {
            const std::string key(string_view_at(L, -2));
            const int type = lua_type(L, -1);
            if (key == "name" && type == LUA_TSTRING) {
                tool.definition.name = std::string(string_view_at(L, -1));
            } else if (key == "description" && type == LUA_TSTRING) {
                tool.definition.description = std::string(string_view_at(L, -1));
            } else if ((key == "params" || key == "parameters") && type == LUA_TTABLE) {
                tool.definition.parameters = parameter_schema(L, -1);
            } else if (key == "fn" && type == LUA_TFUNCTION) {
                lua_pushvalue(L, -1);
                lua_replace(L,
                            2);  // slot 2 holds the function (the table's key/value are above it)
                has_fn = true;
            } else {
                lua_pop(L, 2);
                throw std::runtime_error("unexpected field '" + key +
                                         "' (fields: name (string), description (string), params "
                                         "(table), fn (function))");
            }
            lua_pop(L, 1);
        }
        if (!valid_tool_name(tool.definition.name)) {
            throw std::runtime_error(
                "a tool needs a name of letters, digits, '_' or '-' (at most 64)");
        }
        if (!has_fn)
            throw std::runtime_error("tool '" + tool.definition.name +
                                     "' needs fn = function(args) ... end");
        const std::string name = tool.definition.name;
        protect(L, 1, [&](lua_State* S) {  // S's stack: the function
            lua_rawgetp(S, LUA_REGISTRYINDEX, &tool_functions_key);
            lua_insert(S, 1);
            lua_setfield(S, 1, name.c_str());
            lua_pop(S, 1);
        });
        add_or_replace(state, std::move(tool));
        return protect(L, 0, [&](lua_State* S) { lua_pushlstring(S, name.data(), name.size()); });
    });
}

// ponder.tools() -> {"calculator", "weather", ...}
int list_tools(lua_State* L) {
    return guarded(L, "ponder.tools", [](lua_State* L) {
        nlohmann::json names = nlohmann::json::array();
        for (const auto& t : module_state(L).tools) names.push_back(t.definition.name);
        return protect(L, 0, [&](lua_State* S) { push_json(S, names); });
    });
}

// The result of a tool's Lua function as text for the model: strings as they are, tables as JSON.
std::string result_text(lua_State* L, int index) {
    switch (lua_type(L, index)) {
        case LUA_TNIL:
            return "";
        case LUA_TBOOLEAN:
            return lua_toboolean(L, index) ? "true" : "false";
        case LUA_TSTRING:
        case LUA_TNUMBER:
            return check_string(L, index, "tool");
        default:
            return to_json(L, index).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
}

std::string run_lua_tool(lua_State* L, ModuleState& state, const std::string& name,
                         const nlohmann::ordered_json& arguments) {
    check_not_stopping(state);
    const nlohmann::json args = arguments;
    try {
        protect(L, 0, [&](lua_State* S) {
            lua_rawgetp(S, LUA_REGISTRYINDEX, &tool_functions_key);
            lua_getfield(S, -1, name.c_str());
            lua_remove(S, -2);
            push_json(S, args);
            lua_call(S, 1, 1);
        });
    } catch (const LuaError& e) {
        // A script being stopped must not look like a failed tool the model may work around.
        if (state.runtime->stopping()) throw ScriptStopped(e.what());
        throw Error(e.what());
    }
    struct PopResult {
        lua_State* L;
        ~PopResult() { lua_pop(L, 1); }  // lua_pop never raises
    } pop{L};
    return result_text(L, -1);
}

}  // namespace

std::vector<Tool> tools_for_call(lua_State* L, ModuleState& state, const CallOptions& options) {
    std::vector<Tool> tools;
    if (options.tools_off) return tools;
    if (options.tool_names) {
        for (const auto& name : *options.tool_names) {
            auto found =
                std::find_if(state.tools.begin(), state.tools.end(),
                             [&](const ScriptTool& t) { return t.definition.name == name; });
            if (found == state.tools.end()) {
                fail("option 'tools': no tool named '", name,
                     "' (register it with ponder.tool first)");
            }
        }
    }
    for (const auto& t : state.tools) {
        if (options.tool_names && std::find(options.tool_names->begin(), options.tool_names->end(),
                                            t.definition.name) == options.tool_names->end()) {
            continue;
        }
        Tool tool{t.definition, t.builtin};
        if (!tool.run) {
            const std::string name = t.definition.name;
            ModuleState* s = &state;
            tool.run = [L, s, name](const nlohmann::ordered_json& arguments) {
                return run_lua_tool(L, *s, name, arguments);
            };
        }
        tools.push_back(std::move(tool));
    }
    return tools;
}

nlohmann::json tool_exchanges_json(const std::vector<ToolExchange>& exchanges) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : exchanges) {
        nlohmann::json entry = {{"name", e.call.name},
                                {"arguments", nlohmann::json(e.call.arguments)},
                                {"result", e.result}};
        if (e.failed) entry["failed"] = true;
        out.push_back(std::move(entry));
    }
    return out;
}

void add_tool_functions(lua_State* L) {
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &tool_functions_key);
    static const luaL_Reg functions[] = {
        {"tool", register_tool}, {"tools", list_tools}, {nullptr, nullptr}};
    luaL_setfuncs(L, functions, 0);
}

}  // namespace ponder::lua
