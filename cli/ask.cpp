#include "cli/ask.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "engine/error.h"
#include "reason/builtin_tools.h"
#include "reason/contemplate.h"
#include "reason/conversation_log.h"
#include "reason/interrupt.h"
#include "reason/tool_use.h"
#include "repl/chain_progress.h"

namespace ponder::cli {

namespace {

void write_out(std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

int run_contemplate(const AskRequest& request, const std::shared_ptr<LanguageModel>& model,
                    Assistant& assistant, const std::vector<Message>& conversation,
                    const std::string& system, int64_t conversation_id,
                    std::optional<ConversationLog>& log) {
    const MainOptions& opt = *request.options;
    repl::ChainProgressView view(stderr, !opt.quiet && !opt.json && isatty(STDERR_FILENO));
    ContemplationHooks hooks;
    hooks.on_stage = [&](int round, std::string_view stage) { view.stage(round, stage); };
    hooks.on_progress = [&](std::span<const ChainProgress> chains) { view.update(chains); };
    ContemplationResult result =
        contemplate(assistant, conversation, opt.settings, hooks, &interrupt_flag());
    view.clear();

    nlohmann::json trace = result.to_json();
    if (log) {
        LoggedExchange e = logged_contemplation(request.user_text, result, model->load_seconds());
        e.conversation_id = conversation_id;
        e.model = request.model_label;
        e.system = system;
        e.options = settings_to_json(opt.settings);
        log->append(std::move(e));
    }
    if (opt.json) {
        trace["model"] = request.model_label;
        trace["mode"] = "contemplate";
        std::cout << trace.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                  << std::endl;
    } else {
        write_out(describe_contemplation(result, opt.show_chains));
    }
    if (opt.stats) {
        char line[200];
        std::snprintf(
            line, sizeof line,
            "%zu chains, %d round(s), %lld tokens generated in %.2f s (%.1f t/s in total)",
            result.chains.size(), result.rounds, static_cast<long long>(result.generated_tokens),
            result.seconds, result.seconds > 0 ? result.generated_tokens / result.seconds : 0.0);
        std::fprintf(stderr, "ponder: %s\n", line);
    }
    if (result.cancelled) {
        note(opt.quiet, "interrupted");
        return 130;
    }
    return 0;
}

}  // namespace

void note(bool quiet, const std::string& message) {
    if (!quiet) std::fprintf(stderr, "ponder: %s\n", message.c_str());
}

EarlierConversation last_logged_conversation(const ConversationLog& log) {
    auto last = log.last_conversation();
    if (!last) fail("--continue: no earlier conversation in ", log.path().string());
    EarlierConversation earlier;
    earlier.id = *last;
    for (const auto& e : log.conversation(earlier.id)) {
        if (earlier.turns.empty()) earlier.system = e.system;
        earlier.turns.push_back({"user", e.prompt});
        earlier.turns.push_back({"assistant", e.answer});
    }
    return earlier;
}

int run_ask(const AskRequest& request, const std::shared_ptr<LanguageModel>& model) {
    const MainOptions& opt = *request.options;
    const ContemplateSettings& cs = opt.settings.contemplate;
    Assistant assistant(
        model, AssistantOptions{.context = opt.settings.context,
                                .extra_cells = opt.contemplate ? cs.chains * cs.think_tokens : 0});

    std::optional<ConversationLog> log;
    if (!opt.no_log) log.emplace(open_conversation_log());

    std::vector<Message> conversation;
    std::string system = opt.settings.system;
    int64_t conversation_id = 0;
    if (opt.continue_conversation) {
        if (!log)
            fail("--continue needs the conversation log; it cannot be combined with --no-log");
        EarlierConversation earlier = last_logged_conversation(*log);
        conversation_id = earlier.id;
        if (system.empty()) system = earlier.system;
        conversation = std::move(earlier.turns);
    }
    if (!system.empty()) conversation.insert(conversation.begin(), Message{"system", system});
    conversation.push_back({"user", request.user_text});

    if (opt.contemplate) {
        if (opt.raw)
            fail("--contemplate needs the chat template; it cannot be combined with --raw");
        return run_contemplate(request, model, assistant, conversation, system, conversation_id,
                               log);
    }
    const bool stream = !opt.json;
    auto on_text = [&](std::string_view text) {
        if (stream) write_out(text);
    };
    // --tool: the model may call the built-in tools while answering.
    std::vector<Tool> tools;
    if (!opt.tools.empty()) {
        if (opt.raw) fail("--tool needs the chat template; it cannot be combined with --raw");
        ReadableDirs access(
            std::vector<std::filesystem::path>(opt.allow_dirs.begin(), opt.allow_dirs.end()));
        for (const auto& name : opt.tools) {
            for (Tool& t : builtin_tools(name, access)) tools.push_back(std::move(t));
        }
    }
    Reply reply;
    std::vector<ToolExchange> exchanges;
    int64_t answer_tokens = 0;
    if (opt.raw) {
        reply = assistant.complete(request.user_text, opt.settings.sampling, on_text,
                                   &interrupt_flag());
        answer_tokens = reply.timings.generated_tokens;
    } else if (tools.empty()) {
        reply = assistant.reply(conversation, opt.settings.sampling, on_text, &interrupt_flag());
        answer_tokens = reply.timings.generated_tokens;
    } else {
        ToolLoopOptions loop;
        loop.on_text = on_text;
        loop.on_tool = [&](const ToolExchange& e) {
            note(opt.quiet,
                 "tool " + e.call.name + " " + e.call.arguments.dump() + " -> " +
                     (e.result.size() > 200 ? e.result.substr(0, 200) + "..." : e.result));
        };
        ToolLoopResult result = run_tool_loop(
            chat_messages(conversation), tools,
            assistant_generator(assistant, tools, opt.settings.sampling, &interrupt_flag()), loop);
        reply = std::move(result.reply);
        exchanges = std::move(result.exchanges);
        answer_tokens = result.generated_tokens;
        if (result.step_limit_reached)
            note(opt.quiet, "the model still asked for tools after the step limit");
    }
    if (stream && !reply.text.empty() && reply.text.back() != '\n') write_out("\n");
    nlohmann::json tool_calls = nlohmann::json::array();
    for (const auto& e : exchanges) {
        tool_calls.push_back({{"name", e.call.name},
                              {"arguments", nlohmann::json(e.call.arguments)},
                              {"result", e.result}});
    }

    if (log) {
        LoggedExchange e = logged_reply(opt.raw ? "raw" : "quick", request.user_text, reply,
                                        answer_tokens, model->load_seconds());
        e.conversation_id = conversation_id;
        e.model = request.model_label;
        e.system = system;
        e.options = settings_to_json(opt.settings);
        if (!tool_calls.empty()) e.options["tool_calls"] = tool_calls;
        if (!request.attached_files.empty()) e.options["files"] = request.attached_files;
        log->append(std::move(e));
    }

    if (opt.json) {
        nlohmann::json out = {
            {"answer", reply.text},
            {"model", request.model_label},
            {"mode", opt.raw ? "raw" : "quick"},
            {"stop_reason", stop_reason_name(reply.stop_reason)},
            {"tokens", {{"prompt", reply.prompt_tokens}, {"answer", answer_tokens}}},
            {"timings", timings_json(reply, model->load_seconds())}};
        if (!opt.tools.empty()) out["tool_calls"] = tool_calls;
        std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
    }
    if (reply.stop_reason == StopReason::context_full) {
        note(opt.quiet,
             "the context (" + std::to_string(assistant.context_size()) +
                 " tokens) is full: the answer was cut short; a larger --ctx gives more room");
    }
    if (opt.stats) {
        char line[256];
        std::snprintf(line, sizeof line,
                      "prompt %lld tokens (%lld new) at %.1f t/s; answer %lld tokens at %.1f t/s; "
                      "load %.2f s",
                      static_cast<long long>(reply.prompt_tokens),
                      static_cast<long long>(reply.timings.prompt_tokens),
                      reply.timings.prompt_tokens_per_second(),
                      static_cast<long long>(reply.timings.generated_tokens),
                      reply.timings.generated_tokens_per_second(), model->load_seconds());
        std::fprintf(stderr, "ponder: %s\n", line);
    }
    if (reply.stop_reason == StopReason::cancelled) {
        note(opt.quiet, "interrupted");
        return 130;
    }
    return 0;
}

}  // namespace ponder::cli
