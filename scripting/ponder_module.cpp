// The `ponder` module: setting it up, option tables, and the utility functions (JSON, files,
// tokens, model facts). Generation, chats and tools have their own files.
#include "scripting/ponder_module.h"

#include <glob.h>

#include <fnmatch.h>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>

#include "engine/error.h"
#include "reason/builtin_tools.h"
#include "scripting/lua_json.h"
#include "scripting/module_state.h"

namespace ponder {

namespace lua {

namespace {

char module_key;  // registry[&module_key]: userdata holding the ModuleState*

int collect_state(lua_State* L) {
    auto** slot = static_cast<ModuleState**>(lua_touserdata(L, 1));
    if (slot && *slot) {
        delete *slot;
        *slot = nullptr;
    }
    return 0;
}

const char* kStopOptionHelp = "a string or a list of strings";

void read_stop(lua_State* L, int index, Settings& settings) {
    settings.sampling.stop.clear();
    if (lua_type(L, index) == LUA_TSTRING) {
        settings.sampling.stop.emplace_back(string_view_at(L, index));
        return;
    }
    if (lua_type(L, index) != LUA_TTABLE) {
        throw std::runtime_error(std::string("option 'stop' must be ") + kStopOptionHelp);
    }
    need_stack(L, 2);
    const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, index));
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_rawgeti(L, index, i);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            throw std::runtime_error(std::string("option 'stop' must be ") + kStopOptionHelp);
        }
        settings.sampling.stop.emplace_back(string_view_at(L, -1));
        lua_pop(L, 1);
    }
}

void read_tool_names(lua_State* L, int index, CallOptions& options) {
    if (lua_type(L, index) == LUA_TBOOLEAN) {
        options.tools_off = !lua_toboolean(L, index);
        return;
    }
    if (lua_type(L, index) != LUA_TTABLE) {
        throw std::runtime_error("option 'tools' must be true, false or a list of tool names");
    }
    need_stack(L, 2);
    std::vector<std::string> names;
    const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, index));
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_rawgeti(L, index, i);
        const bool is_string = lua_type(L, -1) == LUA_TSTRING;
        if (is_string) names.emplace_back(string_view_at(L, -1));
        lua_pop(L, 1);
        if (!is_string) throw std::runtime_error("option 'tools' must list tool names");
    }
    options.tool_names = std::move(names);
}

std::string option_names(unsigned kinds) {
    std::string names;
    if (kinds & kJsonOption) names += "json, ";
    if (kinds & kToolsOption) names += "tools, steps, ";
    if (kinds & kCheckOption) names += "check, ";
    return names + "stop, or a setting of `ponder --help` (temp, max_tokens, seed, system, ...)";
}

// Reads one key/value pair (key at -2, value at -1) into `options`.
void read_option(lua_State* L, CallOptions& options, unsigned kinds, int check_slot) {
    if (lua_type(L, -2) != LUA_TSTRING) {
        throw std::runtime_error("option names must be strings");
    }
    const std::string key(string_view_at(L, -2));
    const int value = lua_absindex(L, -1);
    auto bad = [&](const char* expected) {
        return std::runtime_error("option '" + key + "' must be " + expected + " (got " +
                                  luaL_typename(L, value) + ")");
    };
    if (key == "json" && (kinds & kJsonOption)) {
        if (lua_type(L, value) != LUA_TBOOLEAN) throw bad("true or false");
        options.json = lua_toboolean(L, value);
    } else if (key == "tools" && (kinds & kToolsOption)) {
        read_tool_names(L, value, options);
    } else if (key == "steps" && (kinds & kToolsOption)) {
        if (!lua_isinteger(L, value) || lua_tointeger(L, value) < 0 ||
            lua_tointeger(L, value) > 100) {
            throw bad("a whole number from 0 to 100");
        }
        options.tool_steps = static_cast<int>(lua_tointeger(L, value));
    } else if (key == "check" && (kinds & kCheckOption)) {
        if (lua_type(L, value) != LUA_TFUNCTION) throw bad("a function");
        lua_pushvalue(L, value);
        lua_replace(L, check_slot);
        options.has_check = true;
    } else if (key == "stop") {
        read_stop(L, value, options.settings);
    } else if (const SettingInfo* setting = find_setting(key)) {
        std::optional<std::string> text = setting_text(L, value);
        if (!text) throw bad("a string, number or boolean");
        try {
            setting->set(options.settings, *text);
        } catch (const Error& e) {
            throw std::runtime_error(e.what());
        }
    } else {
        throw std::runtime_error("unknown option '" + key + "' (options: " + option_names(kinds) +
                                 ")");
    }
}

// Parameter count: every weight matrix, norm and bias.
int64_t parameter_count(const Model& model) {
    auto matrix = [](const WeightMatrix& m) { return m.empty() ? int64_t{0} : m.rows * m.cols; };
    auto vec = [](const std::vector<float>& v) { return static_cast<int64_t>(v.size()); };
    int64_t total = matrix(model.token_embedding()) + vec(model.output_norm());
    if (model.output().data != model.token_embedding().data) total += matrix(model.output());
    for (const LayerWeights& l : model.layers()) {
        total += vec(l.attn_norm) + matrix(l.wq) + matrix(l.wk) + matrix(l.wv) + matrix(l.wo) +
                 vec(l.bq) + vec(l.bk) + vec(l.bv) + vec(l.bo) + vec(l.q_norm) + vec(l.k_norm) +
                 vec(l.ffn_norm) + matrix(l.gate) + matrix(l.up) + matrix(l.down);
    }
    return total;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; the rest says it all.
std::string plain_json_error(const std::exception& e) {
    std::string message = e.what();
    if (message.starts_with("[json.exception.")) {
        if (size_t end = message.find("] "); end != std::string::npos) message.erase(0, end + 2);
    }
    return message;
}

// ---- utility functions --------------------------------------------------------------------

int json_encode(lua_State* L) {
    return guarded(L, "ponder.json.encode", [](lua_State* L) {
        int indent = -1;
        if (lua_type(L, 2) == LUA_TTABLE) {
            need_stack(L, 1);
            lua_pushnil(L);
            while (lua_next(L, 2) != 0) {
                const bool is_indent = string_view_at(L, -2) == "indent" && lua_isinteger(L, -1);
                if (is_indent)
                    indent =
                        static_cast<int>(std::clamp<lua_Integer>(lua_tointeger(L, -1), -1, 16));
                lua_pop(L, 1);
            }
        } else if (!lua_isnoneornil(L, 2)) {
            argument_error(L, 2, "encode", "table");
        }
        const std::string text =
            to_json(L, 1).dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
        push_string(L, text);
        return 1;
    });
}

int json_decode(lua_State* L) {
    return guarded(L, "ponder.json.decode", [](lua_State* L) {
        const std::string text = check_string(L, 1, "decode");
        nlohmann::json value;
        try {
            value = nlohmann::json::parse(text);
        } catch (const nlohmann::json::exception& e) {
            throw std::runtime_error("not valid JSON: " + plain_json_error(e));
        }
        return protect(L, 0, [&](lua_State* S) { push_json(S, value); });
    });
}

int read_file(lua_State* L) {
    return guarded(L, "ponder.read_file", [](lua_State* L) {
        const std::string path = check_string(L, 1, "read_file");
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) fail(path, " is a directory");
        std::ifstream in(path, std::ios::binary);
        if (!in) fail("cannot read ", path, ": no such file or no permission");
        // Read in chunks up to the script's memory limit: devices and pipes have no size.
        const size_t limit = module_state(L).runtime->policy().memory_limit;
        std::string text;
        char chunk[65536];
        while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
            text.append(chunk, static_cast<size_t>(in.gcount()));
            if (text.size() > limit) fail(path, " is larger than a script's memory limit");
        }
        if (in.bad()) fail("error reading ", path);
        push_string(L, text);
        return 1;
    });
}

// Paths matching a pattern where "**" also crosses directories ("docs/**/*.md").
std::vector<std::string> deep_glob(const std::string& pattern, const ModuleState& state) {
    namespace fs = std::filesystem;
    const size_t star = pattern.find("**");
    std::string prefix = pattern.substr(0, star);
    const size_t slash = prefix.rfind('/');
    fs::path root =
        slash == std::string::npos ? fs::path(".") : fs::path(prefix.substr(0, slash + 1));
    std::string without = pattern;  // "**/" may stand for no directory at all
    for (size_t at; (at = without.find("**/")) != std::string::npos;) without.erase(at, 3);
    std::vector<std::string> out;
    std::error_code ec;
    for (fs::recursive_directory_iterator
             it(root, fs::directory_options::skip_permission_denied, ec),
         end;
         !ec && it != end; it.increment(ec)) {
        check_not_stopping(state);  // a big tree takes a while: Ctrl-C and --timeout still apply
        std::string path = it->path().string();
        if (slash == std::string::npos && path.starts_with("./")) path.erase(0, 2);
        if (fnmatch(pattern.c_str(), path.c_str(), FNM_PERIOD) == 0 ||
            fnmatch(without.c_str(), path.c_str(), FNM_PERIOD) == 0) {
            out.push_back(std::move(path));
        }
    }
    return out;
}

int glob_files(lua_State* L) {
    return guarded(L, "ponder.glob", [](lua_State* L) {
        const std::string pattern = check_string(L, 1, "glob");
        std::vector<std::string> paths;
        if (pattern.find("**") != std::string::npos) {
            paths = deep_glob(pattern, module_state(L));
        } else {
            glob_t found{};
            const int status = ::glob(pattern.c_str(), GLOB_BRACE | GLOB_TILDE, nullptr, &found);
            if (status == 0) {
                for (size_t i = 0; i < found.gl_pathc; ++i) paths.emplace_back(found.gl_pathv[i]);
            }
            globfree(&found);
            if (status != 0 && status != GLOB_NOMATCH) fail("cannot search for ", pattern);
        }
        std::sort(paths.begin(), paths.end());
        return protect(L, 0, [&](lua_State* S) {
            lua_createtable(S, static_cast<int>(paths.size()), 0);
            for (size_t i = 0; i < paths.size(); ++i) {
                lua_pushlstring(S, paths[i].data(), paths[i].size());
                lua_rawseti(S, -2, static_cast<lua_Integer>(i + 1));
            }
        });
    });
}

int tokenize(lua_State* L) {
    return guarded(L, "ponder.tokenize", [](lua_State* L) {
        const std::string text = check_string(L, 1, "tokenize");
        bool special = false, bos = false;
        if (lua_type(L, 2) == LUA_TTABLE) {
            need_stack(L, 2);
            lua_pushnil(L);
            while (lua_next(L, 2) != 0) {
                std::string_view key = string_view_at(L, -2);
                if (key == "special")
                    special = lua_toboolean(L, -1);
                else if (key == "bos")
                    bos = lua_toboolean(L, -1);
                else
                    throw std::runtime_error("unknown option '" + std::string(key) +
                                             "' (options: special, bos)");
                lua_pop(L, 1);
            }
        } else if (!lua_isnoneornil(L, 2)) {
            argument_error(L, 2, "tokenize", "table");
        }
        const Tokenizer& tokenizer = module_state(L).host->assistant().model().tokenizer();
        const std::vector<TokenId> ids = tokenizer.encode(text, bos, special);
        return protect(L, 0, [&](lua_State* S) {
            lua_createtable(S, static_cast<int>(ids.size()), 0);
            for (size_t i = 0; i < ids.size(); ++i) {
                lua_pushinteger(S, ids[i]);
                lua_rawseti(S, -2, static_cast<lua_Integer>(i + 1));
            }
        });
    });
}

int detokenize(lua_State* L) {
    return guarded(L, "ponder.detokenize", [](lua_State* L) {
        if (lua_type(L, 1) != LUA_TTABLE) argument_error(L, 1, "detokenize", "table");
        const Tokenizer& tokenizer = module_state(L).host->assistant().model().tokenizer();
        std::vector<TokenId> ids;
        need_stack(L, 1);
        const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, 1));
        for (lua_Integer i = 1; i <= n; ++i) {
            lua_rawgeti(L, 1, i);
            const bool valid = lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0 &&
                               lua_tointeger(L, -1) < tokenizer.vocab_size();
            const lua_Integer id = lua_tointeger(L, -1);
            lua_pop(L, 1);
            if (!valid)
                throw std::runtime_error("item " + std::to_string(i) +
                                         " is not a token id of this model");
            ids.push_back(static_cast<TokenId>(id));
        }
        push_string(L, tokenizer.decode(ids, false));
        return 1;
    });
}

int count_tokens(lua_State* L) {
    return guarded(L, "ponder.count_tokens", [](lua_State* L) {
        const std::string text = check_string(L, 1, "count_tokens");
        const Tokenizer& tokenizer = module_state(L).host->assistant().model().tokenizer();
        lua_pushinteger(L, static_cast<lua_Integer>(tokenizer.encode(text, false, false).size()));
        return 1;
    });
}

int model_info(lua_State* L) {
    return guarded(L, "ponder.model", [](lua_State* L) {
        Assistant& assistant = module_state(L).host->assistant();
        const LanguageModel& model = assistant.model();
        const ModelConfig& config = model.model().config();
        const nlohmann::json info = {{"name", model.name()},
                                     {"path", model.path()},
                                     {"architecture", config.architecture},
                                     {"context", assistant.context_size()},
                                     {"trained_context", config.n_ctx_train},
                                     {"vocab_size", model.tokenizer().vocab_size()},
                                     {"parameters", parameter_count(model.model())},
                                     {"layers", config.n_layer},
                                     {"embedding_size", config.n_embd},
                                     {"has_chat_template", model.has_chat_template()}};
        return protect(L, 0, [&](lua_State* S) { push_json(S, info); });
    });
}

}  // namespace

ModuleState& module_state(lua_State* L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &module_key);
    auto** slot = static_cast<ModuleState**>(lua_touserdata(L, -1));
    lua_pop(L, 1);
    if (!slot || !*slot) throw std::logic_error("the ponder module is not set up");
    return **slot;
}

CallOptions read_options(lua_State* L, int index, const Settings& defaults, const char* function,
                         unsigned kinds, int check_slot) {
    CallOptions options;
    options.settings = defaults;
    if (lua_isnoneornil(L, index)) return options;
    if (lua_type(L, index) != LUA_TTABLE) argument_error(L, index, function, "table of options");
    index = lua_absindex(L, index);
    need_stack(L, 4);
    lua_pushnil(L);
    while (lua_next(L, index) != 0) {
        try {
            read_option(L, options, kinds, check_slot);
        } catch (...) {
            lua_pop(L, 2);
            throw;
        }
        lua_pop(L, 1);
    }
    return options;
}

void check_not_stopping(const ModuleState& state) {
    if (state.runtime->stopping())
        throw ScriptStopped(caller_position(state.runtime->state()) +
                            state.runtime->stop_message());
}

void add_utility_functions(lua_State* L) {
    static const luaL_Reg functions[] = {
        {"read_file", read_file},   {"glob", glob_files},           {"tokenize", tokenize},
        {"detokenize", detokenize}, {"count_tokens", count_tokens}, {"model", model_info},
        {nullptr, nullptr}};
    luaL_setfuncs(L, functions, 0);
    static const luaL_Reg json_functions[] = {
        {"encode", json_encode}, {"decode", json_decode}, {nullptr, nullptr}};
    lua_createtable(L, 0, 3);
    luaL_setfuncs(L, json_functions, 0);
    push_null(L);
    lua_setfield(L, -2, "null");
    lua_setfield(L, -2, "json");
}

}  // namespace lua

void open_ponder_module(LuaRuntime& runtime, ScriptHost& host) {
    auto state = std::make_unique<lua::ModuleState>();
    state->runtime = &runtime;
    state->host = &host;
    lua::ModuleState* raw = state.get();
    try {
        lua::protect(runtime.state(), 0, [&](lua_State* L) {
            auto** slot =
                static_cast<lua::ModuleState**>(lua_newuserdatauv(L, sizeof(lua::ModuleState*), 0));
            *slot = nullptr;
            lua_createtable(L, 0, 1);
            lua_pushcfunction(L, lua::collect_state);
            lua_setfield(L, -2, "__gc");
            lua_setmetatable(L, -2);
            lua_rawsetp(L, LUA_REGISTRYINDEX, &lua::module_key);

            lua_createtable(L, 0, 16);
            lua::add_generation_functions(L);
            lua::add_chat_functions(L);
            lua::add_tool_functions(L);
            lua::add_utility_functions(L);
            lua_pushvalue(L, -1);
            lua_setglobal(L, "ponder");
            luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
            lua_insert(L, -2);
            lua_setfield(L, -2, "ponder");
            lua_pop(L, 1);

            // Last, once nothing can fail: from here the userdata owns the state.
            lua_rawgetp(L, LUA_REGISTRYINDEX, &lua::module_key);
            *static_cast<lua::ModuleState**>(lua_touserdata(L, -1)) = raw;
            lua_pop(L, 1);
        });
    } catch (const lua::LuaError& e) {
        fail("cannot set up the ponder module: ", e.what());
    }
    state.release();
}

void enable_builtin_tool(LuaRuntime& runtime, std::string_view name) {
    lua::ModuleState& state = lua::module_state(runtime.state());
    for (Tool& tool : builtin_tools(name, runtime.readable_dirs())) {
        auto same = std::find_if(
            state.tools.begin(), state.tools.end(),
            [&](const lua::ScriptTool& t) { return t.definition.name == tool.definition.name; });
        lua::ScriptTool entry{std::move(tool.definition), std::move(tool.run)};
        if (same != state.tools.end())
            *same = std::move(entry);
        else
            state.tools.push_back(std::move(entry));
    }
}

}  // namespace ponder
