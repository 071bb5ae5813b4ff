// ponder.chat: a multi-turn conversation object for scripts (a ChatSession in a userdata).
//
//   local chat = ponder.chat{system = "Be brief.", temp = 0.2}
//   local answer = chat:say("Hello")
//   for _, m in ipairs(chat:history()) do print(m.role, m.content) end
//   chat:reset()
#include <memory>

#include "reason/chat_session.h"
#include "scripting/lua_json.h"
#include "scripting/module_state.h"

namespace ponder::lua {

namespace {

char chat_metatable_key;  // registry[&chat_metatable_key]: the metatable of chat objects

struct ChatHandle {
    ChatHandle(Assistant& assistant, CallOptions call_options)
        : session(assistant, call_options.settings), options(std::move(call_options)) {}
    ChatSession session;
    CallOptions options;          // tool choice and step limit for every turn
    int64_t conversation_id = 0;  // in the conversation log, once the first turn is logged
};

// The chat object at `index`; throws when it is something else (or already collected).
ChatHandle& check_chat(lua_State* L, int index, const char* method) {
    need_stack(L, 2);
    bool is_chat = false;
    if (lua_type(L, index) == LUA_TUSERDATA && lua_getmetatable(L, index)) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &chat_metatable_key);
        is_chat = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    if (!is_chat) {
        throw std::runtime_error(std::string("bad self (a chat expected, got ") +
                                 luaL_typename(L, index) + "); call it as chat:" + method +
                                 "(...)");
    }
    auto** slot = static_cast<ChatHandle**>(lua_touserdata(L, index));
    if (!*slot) throw std::runtime_error("this chat was closed");
    return **slot;
}

int collect_chat(lua_State* L) {
    auto** slot = static_cast<ChatHandle**>(lua_touserdata(L, 1));
    if (slot && *slot) {
        delete *slot;
        *slot = nullptr;
    }
    return 0;
}

// ponder.chat([options]) -> chat
int new_chat(lua_State* L) {
    return guarded(L, "ponder.chat", [](lua_State* L) {
        ModuleState& state = module_state(L);
        CallOptions options =
            read_options(L, 1, state.host->settings(), "ponder.chat", kToolsOption);
        auto handle = std::make_unique<ChatHandle>(state.host->assistant(), std::move(options));
        ChatHandle* raw = handle.get();
        protect(L, 0, [&](lua_State* S) {
            auto** slot = static_cast<ChatHandle**>(lua_newuserdatauv(S, sizeof(ChatHandle*), 0));
            *slot = nullptr;
            lua_rawgetp(S, LUA_REGISTRYINDEX, &chat_metatable_key);
            lua_setmetatable(S, -2);
            *slot = raw;  // last: from here the userdata owns the chat
        });
        handle.release();
        return 1;
    });
}

// chat:say(text [, function(piece) ... end]) -> answer, info
int chat_say(lua_State* L) {
    return guarded(L, "chat:say", [](lua_State* L) {
        ModuleState& state = module_state(L);
        ChatHandle& chat = check_chat(L, 1, "say");
        const std::string text = check_string(L, 2, "say");
        const bool streaming = lua_type(L, 3) == LUA_TFUNCTION;
        if (!streaming && !lua_isnoneornil(L, 3)) argument_error(L, 3, "say", "function");
        TextCallback on_text;
        if (streaming) {
            on_text = [L](std::string_view piece) {
                need_stack(L, 2);
                lua_pushvalue(L, 3);
                protect(L, 1, [&](lua_State* S) {
                    lua_pushlstring(S, piece.data(), piece.size());
                    lua_call(S, 1, 0);
                });
            };
        }
        const std::atomic<bool>* cancel = &state.runtime->interrupt_flag();
        const std::vector<Tool> tools = tools_for_call(L, state, chat.options);
        Reply reply;
        std::vector<ToolExchange> exchanges;
        int64_t generated = 0;
        if (tools.empty()) {
            reply = chat.session.say(text, on_text, cancel);
            generated = reply.timings.generated_tokens;
        } else {
            nlohmann::ordered_json messages = chat_messages(chat.session.messages());
            messages.push_back({{"role", "user"}, {"content", text}});
            ToolLoopOptions loop;
            loop.max_steps = chat.options.tool_steps;
            loop.on_text = on_text;
            ToolLoopResult result =
                run_tool_loop(std::move(messages), tools,
                              assistant_generator(chat.session.assistant(), tools,
                                                  chat.session.settings().sampling, cancel),
                              loop);
            reply = std::move(result.reply);
            exchanges = std::move(result.exchanges);
            generated = result.generated_tokens;
            chat.session.add_exchange(text, reply.text);
        }
        check_not_stopping(state);

        if (ConversationLog* log = state.host->log()) {
            if (chat.conversation_id == 0) chat.conversation_id = log->start_conversation();
            const LanguageModel& model = chat.session.assistant().model();
            LoggedExchange e = logged_reply("lua", text, reply, generated, model.load_seconds());
            e.conversation_id = chat.conversation_id;
            e.model = model.path().empty() ? model.name() : model.path();
            e.system = chat.session.settings().system;
            e.options = settings_to_json(chat.session.settings());
            if (!exchanges.empty()) e.options["tool_calls"] = tool_exchanges_json(exchanges);
            log->append(std::move(e));
        }
        const nlohmann::json info = {{"stop_reason", stop_reason_name(reply.stop_reason)},
                                     {"prompt_tokens", reply.prompt_tokens},
                                     {"answer_tokens", generated},
                                     {"tool_calls", tool_exchanges_json(exchanges)}};
        return protect(L, 0, [&](lua_State* S) {
            lua_pushlstring(S, reply.text.data(), reply.text.size());
            push_json(S, info);
        });
    });
}

// chat:history() -> {{role = "user", content = "..."}, ...} (the system prompt first, if any)
int chat_history(lua_State* L) {
    return guarded(L, "chat:history", [](lua_State* L) {
        ChatHandle& chat = check_chat(L, 1, "history");
        nlohmann::json turns = nlohmann::json::array();
        for (const auto& m : chat.session.messages())
            turns.push_back({{"role", m.role}, {"content", m.content}});
        return protect(L, 0, [&](lua_State* S) { push_json(S, turns); });
    });
}

// chat:reset(): forgets every turn; the system prompt and settings stay.
int chat_reset(lua_State* L) {
    return guarded(L, "chat:reset", [](lua_State* L) {
        check_chat(L, 1, "reset").session.clear();
        return 0;
    });
}

int chat_tostring(lua_State* L) {
    return guarded(L, "chat:__tostring", [](lua_State* L) {
        ChatHandle& chat = check_chat(L, 1, "__tostring");
        push_string(L,
                    "ponder.chat (" + std::to_string(chat.session.turns().size()) + " messages)");
        return 1;
    });
}

}  // namespace

void add_chat_functions(lua_State* L) {
    static const luaL_Reg methods[] = {
        {"say", chat_say}, {"history", chat_history}, {"reset", chat_reset}, {nullptr, nullptr}};
    lua_createtable(L, 0, 4);  // the metatable
    lua_createtable(L, 0, 3);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, collect_chat);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, chat_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "ponder.chat");
    lua_setfield(L, -2, "__name");
    // getmetatable() shows this instead of the table, so scripts cannot unhook __gc.
    lua_pushliteral(L, "ponder.chat");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &chat_metatable_key);
    lua_pushcfunction(L, new_chat);
    lua_setfield(L, -2, "chat");
}

}  // namespace ponder::lua
