// `ponder logs [-n N] [--search TEXT] [--json]`: the conversation log, most recent first.
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/paths.h"
#include "reason/conversation_log.h"

namespace ponder::cli {

namespace {

struct LogsOptions {
    int limit = 10;
    std::string search;
    bool json = false;
};

nlohmann::json to_json(const LoggedExchange& e) {
    return {{"id", e.id},
            {"conversation", e.conversation_id},
            {"time", e.created_at},
            {"mode", e.mode},
            {"model", e.model},
            {"system", e.system},
            {"prompt", e.prompt},
            {"answer", e.answer},
            {"stop_reason", e.stop_reason},
            {"prompt_tokens", e.prompt_tokens},
            {"answer_tokens", e.answer_tokens},
            {"options", e.options},
            {"timings", e.timings},
            {"chains", e.chains}};
}

int run_logs(const LogsOptions& opt) {
    ConversationLog log = open_conversation_log();
    auto exchanges = log.recent(opt.limit, opt.search);
    if (opt.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& e : exchanges) out.push_back(to_json(e));
        std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return 0;
    }
    if (exchanges.empty()) {
        std::fprintf(stderr, "ponder: no exchanges logged%s (%s)\n",
                     opt.search.empty() ? "" : " match the search", log.path().c_str());
        return 0;
    }
    for (const auto& e : exchanges) {
        std::printf("#%lld  %s  %s  %s  (conversation %lld)\n", static_cast<long long>(e.id),
                    e.created_at.c_str(), e.mode.c_str(), e.model.c_str(),
                    static_cast<long long>(e.conversation_id));
        if (!e.system.empty()) std::printf("system: %s\n", e.system.c_str());
        std::printf("> %s\n%s\n\n", e.prompt.c_str(), e.answer.c_str());
    }
    return 0;
}

}  // namespace

ConversationLog open_conversation_log() {
    return ConversationLog::open(data_dir() / "conversations.db", [](const std::string& warning) {
        std::fprintf(stderr, "ponder: warning: %s\n", warning.c_str());
    });
}

void add_logs_command(CLI::App& app, CommandAction& action) {
    auto opt = std::make_shared<LogsOptions>();
    CLI::App* cmd = app.add_subcommand("logs", "Show logged exchanges, most recent first");
    cmd->add_option("-n,--limit", opt->limit, "How many exchanges")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_option("--search", opt->search, "Only exchanges whose prompt or answer contains TEXT");
    cmd->add_flag("--json", opt->json, "Print a JSON array");
    cmd->callback([opt, &action] { action = [opt] { return run_logs(*opt); }; });
}

}  // namespace ponder::cli
