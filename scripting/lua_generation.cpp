// ponder.ask, ponder.stream and ponder.contemplate: one question to the model, answered at once,
// piece by piece, or after contemplating; tools the script registered may be called meanwhile.
#include <cmath>

#include "engine/error.h"
#include "reason/contemplate.h"
#include "reason/tool_use.h"
#include "scripting/lua_json.h"
#include "scripting/module_state.h"

namespace ponder::lua {

namespace {

constexpr std::string_view kJsonInstruction =
    "Reply with JSON only: one JSON value and no other text.";

struct Outcome {
    Reply reply;
    std::vector<ToolExchange> exchanges;
    bool step_limit_reached = false;
    int64_t generated_tokens = 0;
};

std::vector<Message> conversation_for(const std::string& prompt, const CallOptions& options) {
    std::string system = options.settings.system;
    if (options.json) system += (system.empty() ? "" : "\n\n") + std::string(kJsonInstruction);
    std::vector<Message> conversation;
    if (!system.empty()) conversation.push_back({"system", system});
    conversation.push_back({"user", prompt});
    return conversation;
}

Outcome generate_answer(lua_State* L, ModuleState& state, const std::vector<Message>& conversation,
                        const CallOptions& options, const TextCallback& on_text) {
    Assistant& assistant = state.host->assistant();
    const std::vector<Tool> tools = tools_for_call(L, state, options);
    const std::atomic<bool>* cancel = &state.runtime->interrupt_flag();
    Outcome out;
    if (tools.empty()) {
        out.reply = assistant.reply(conversation, options.settings.sampling, on_text, cancel);
        out.generated_tokens = out.reply.timings.generated_tokens;
    } else {
        ToolLoopOptions loop;
        loop.max_steps = options.tool_steps;
        loop.on_text = on_text;
        ToolLoopResult result = run_tool_loop(
            chat_messages(conversation), tools,
            assistant_generator(assistant, tools, options.settings.sampling, cancel), loop);
        out.reply = std::move(result.reply);
        out.exchanges = std::move(result.exchanges);
        out.step_limit_reached = result.step_limit_reached;
        out.generated_tokens = result.generated_tokens;
    }
    check_not_stopping(state);
    return out;
}

void log_answer(ModuleState& state, const std::vector<Message>& conversation, const Outcome& out,
                const Settings& settings) {
    ConversationLog* log = state.host->log();
    if (!log) return;
    const LanguageModel& model = state.host->assistant().model();
    LoggedExchange e = logged_reply("lua", conversation.back().content, out.reply,
                                    out.generated_tokens, model.load_seconds());
    e.model = model.path().empty() ? model.name() : model.path();
    if (conversation.front().role == "system") e.system = conversation.front().content;
    e.options = settings_to_json(settings);
    if (!out.exchanges.empty()) e.options["tool_calls"] = tool_exchanges_json(out.exchanges);
    log->append(std::move(e));
}

nlohmann::json info_json(const Outcome& out) {
    nlohmann::json info = {{"stop_reason", stop_reason_name(out.reply.stop_reason)},
                           {"prompt_tokens", out.reply.prompt_tokens},
                           {"answer_tokens", out.generated_tokens},
                           {"tool_calls", tool_exchanges_json(out.exchanges)}};
    if (out.step_limit_reached) info["step_limit_reached"] = true;
    return info;
}

std::string_view trim(std::string_view text) {
    const size_t begin = text.find_first_not_of(" \t\r\n");
    if (begin == std::string_view::npos) return {};
    return text.substr(begin, text.find_last_not_of(" \t\r\n") - begin + 1);
}

// The JSON value an answer holds: the whole answer, a fenced block, or its outermost {...} or
// [...] (models like to add a sentence around it).
nlohmann::json parse_json_answer(const std::string& answer) {
    std::string_view body = trim(answer);
    if (body.starts_with("```")) {
        const size_t line_end = body.find('\n');
        const size_t fence_end = body.rfind("```");
        if (line_end != std::string_view::npos && fence_end > line_end) {
            body = trim(body.substr(line_end + 1, fence_end - line_end - 1));
        }
    }
    nlohmann::json value = nlohmann::json::parse(body, nullptr, false);
    if (!value.is_discarded()) return value;
    const size_t open = body.find_first_of("{[");
    if (open != std::string_view::npos) {
        const char close = body[open] == '{' ? '}' : ']';
        const size_t end = body.rfind(close);
        if (end != std::string_view::npos && end > open) {
            value = nlohmann::json::parse(body.substr(open, end - open + 1), nullptr, false);
            if (!value.is_discarded()) return value;
        }
    }
    std::string excerpt(body.substr(0, 80));
    for (char& c : excerpt) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    throw std::runtime_error("the answer is not JSON (json = true): \"" + excerpt +
                             (body.size() > 80 ? "...\"" : "\""));
}

// Calls the Lua function at stack slot `function_slot` with one string.
void call_with_piece(lua_State* L, int function_slot, std::string_view piece) {
    need_stack(L, 2);
    lua_pushvalue(L, function_slot);
    protect(L, 1, [&](lua_State* S) {
        lua_pushlstring(S, piece.data(), piece.size());
        lua_call(S, 1, 0);
    });
}

// ponder.ask(prompt [, options]) -> answer (a table with json = true), info
int ask(lua_State* L) {
    return guarded(L, "ponder.ask", [](lua_State* L) {
        ModuleState& state = module_state(L);
        const std::string prompt = check_string(L, 1, "ask");
        const CallOptions options =
            read_options(L, 2, state.host->settings(), "ponder.ask", kJsonOption | kToolsOption);
        const std::vector<Message> conversation = conversation_for(prompt, options);
        const Outcome out = generate_answer(L, state, conversation, options, {});
        log_answer(state, conversation, out, options.settings);
        const nlohmann::json info = info_json(out);
        if (options.json) {
            const nlohmann::json value = parse_json_answer(out.reply.text);
            return protect(L, 0, [&](lua_State* S) {
                push_json(S, value);
                push_json(S, info);
            });
        }
        return protect(L, 0, [&](lua_State* S) {
            lua_pushlstring(S, out.reply.text.data(), out.reply.text.size());
            push_json(S, info);
        });
    });
}

// ponder.stream(prompt, function(piece) ... end [, options]) -> answer, info
int stream(lua_State* L) {
    return guarded(L, "ponder.stream", [](lua_State* L) {
        ModuleState& state = module_state(L);
        const std::string prompt = check_string(L, 1, "stream");
        if (lua_type(L, 2) != LUA_TFUNCTION) argument_error(L, 2, "stream", "function");
        const CallOptions options =
            read_options(L, 3, state.host->settings(), "ponder.stream", kToolsOption);
        const std::vector<Message> conversation = conversation_for(prompt, options);
        const Outcome out =
            generate_answer(L, state, conversation, options,
                            [L](std::string_view piece) { call_with_piece(L, 2, piece); });
        log_answer(state, conversation, out, options.settings);
        const nlohmann::json info = info_json(out);
        return protect(L, 0, [&](lua_State* S) {
            lua_pushlstring(S, out.reply.text.data(), out.reply.text.size());
            push_json(S, info);
        });
    });
}

nlohmann::json chain_json(const ChainReport& chain) {
    nlohmann::json claims = nlohmann::json::array();
    for (const auto& c : chain.claims) {
        claims.push_back({{"expression", c.expression},
                          {"claimed", c.claimed},
                          {"actual", c.actual},
                          {"correct", c.correct}});
    }
    return {{"index", chain.index + 1},
            {"round", chain.round},
            {"text", chain.text},
            {"answer", chain.answer.display},
            {"answer_kind", answer_kind_name(chain.answer.kind)},
            {"claims", claims},
            {"false_claims", chain.false_claims},
            {"corrections", chain.corrections},
            {"tokens", chain.tokens},
            {"stop_reason", stop_reason_name(chain.stop_reason)},
            {"seed", chain.seed},
            {"custom_check", chain.custom_check},
            {"weight", chain.weight}};
}

nlohmann::json contemplation_json(const ContemplationResult& result) {
    nlohmann::json chains = nlohmann::json::array();
    for (const auto& c : result.chains) chains.push_back(chain_json(c));
    nlohmann::json votes = nlohmann::json::array();
    for (const auto& v : result.candidates) {
        nlohmann::json indices = nlohmann::json::array();
        for (int i : v.chains) indices.push_back(i + 1);
        nlohmann::json vote = {{"answer", v.answer.display},
                               {"share", v.vote_share},
                               {"chains", indices},
                               {"score", v.score}};
        if (v.verifier >= 0) vote["verifier"] = v.verifier;
        if (v.verifier_yes >= 0) vote["verifier_yes"] = v.verifier_yes;
        if (v.agrees_with_verifier) vote["agrees_with_verifier"] = *v.agrees_with_verifier;
        votes.push_back(std::move(vote));
    }
    nlohmann::json out = {{"answer", result.answer.display},
                          {"confidence", result.confidence},
                          {"justification", result.justification},
                          {"rounds", result.rounds},
                          {"chains", chains},
                          {"votes", votes},
                          {"prompt_tokens", result.prompt_tokens},
                          {"generated_tokens", result.generated_tokens},
                          {"seconds", result.seconds}};
    if (result.verifier_solution) out["verifier_solution"] = result.verifier_solution_json();
    return out;
}

// What a custom check said: nil means no opinion (1), false rejects (0), a number is a factor.
double check_factor(lua_State* L, int index) {
    switch (lua_type(L, index)) {
        case LUA_TNIL:
            return 1.0;
        case LUA_TBOOLEAN:
            return lua_toboolean(L, index) ? 1.0 : 0.0;
        case LUA_TNUMBER: {
            const double factor = lua_tonumber(L, index);
            if (std::isfinite(factor) && factor >= 0) return factor;
            break;
        }
        default:
            break;
    }
    throw std::runtime_error(
        "option 'check': the function must return a number >= 0, true, false or nil (got " +
        std::string(luaL_typename(L, index)) + ")");
}

// Tool results gathered before contemplating, told to every chain as part of the question.
std::string with_tool_results(const std::string& prompt,
                              const std::vector<ToolExchange>& exchanges) {
    if (exchanges.empty()) return prompt;
    std::string out = prompt + "\n\nResults of tools called for this question:";
    for (const auto& e : exchanges)
        out += "\n- " + e.call.name + "(" + e.call.arguments.dump() + ") = " + e.result;
    return out;
}

// ponder.contemplate(prompt [, options]) -> {answer, confidence, chains, votes, ...}
int contemplate_prompt(lua_State* L) {
    return guarded(L, "ponder.contemplate", [](lua_State* L) {
        ModuleState& state = module_state(L);
        const std::string prompt = check_string(L, 1, "contemplate");
        lua_settop(L, 2);
        lua_pushnil(L);  // slot 3: the check function
        const CallOptions options = read_options(L, 2, state.host->settings(), "ponder.contemplate",
                                                 kToolsOption | kCheckOption, 3);
        Assistant& assistant = state.host->assistant();

        // Tools first: the model may call them, and their results join the question.
        Outcome tool_phase;
        if (!tools_for_call(L, state, options).empty()) {
            tool_phase = generate_answer(L, state, conversation_for(prompt, options), options, {});
        }
        std::vector<Message> conversation =
            conversation_for(with_tool_results(prompt, tool_phase.exchanges), options);

        ContemplationHooks hooks;
        if (options.has_check) {
            hooks.check = [L, &state](const ChainReport& chain) {
                check_not_stopping(state);
                const nlohmann::json report = chain_json(chain);
                need_stack(L, 2);
                lua_pushvalue(L, 3);
                protect(L, 1, [&](lua_State* S) {
                    push_json(S, report);
                    lua_call(S, 1, 1);
                });
                struct PopResult {
                    lua_State* L;
                    ~PopResult() { lua_pop(L, 1); }
                } pop{L};
                return check_factor(L, -1);
            };
        }
        const ContemplationResult result = contemplate(assistant, conversation, options.settings,
                                                       hooks, &state.runtime->interrupt_flag());
        check_not_stopping(state);

        nlohmann::json table = contemplation_json(result);
        table["tool_calls"] = tool_exchanges_json(tool_phase.exchanges);
        if (ConversationLog* log = state.host->log()) {
            const LanguageModel& model = assistant.model();
            LoggedExchange e =
                logged_contemplation(conversation.back().content, result, model.load_seconds());
            e.mode = "lua";
            e.model = model.path().empty() ? model.name() : model.path();
            e.system = options.settings.system;
            e.options = settings_to_json(options.settings);
            log->append(std::move(e));
        }
        return protect(L, 0, [&](lua_State* S) { push_json(S, table); });
    });
}

}  // namespace

void add_generation_functions(lua_State* L) {
    static const luaL_Reg functions[] = {
        {"ask", ask}, {"stream", stream}, {"contemplate", contemplate_prompt}, {nullptr, nullptr}};
    luaL_setfuncs(L, functions, 0);
}

}  // namespace ponder::lua
