#include "cli/lua_host.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "cli/ask.h"
#include "cli/commands.h"
#include "cli/model_choice.h"
#include "engine/thread_pool.h"
#include "reason/interrupt.h"
#include "scripting/lua_runtime.h"
#include "scripting/ponder_module.h"

namespace ponder::cli {

CliScriptHost::CliScriptHost(const MainOptions& options, const std::optional<Config>& config)
    : options_(options) {
    if (config) {
        config_path_ = config->path.string();
        if (const ConfigEntry* e = config->find("model"); e && !e->values.empty())
            config_model_ = e->values.front();
    }
}

CliScriptHost::~CliScriptHost() = default;

Assistant& CliScriptHost::assistant() {
    if (assistant_) return *assistant_;
    ModelChoice choice = choose_model(options_.model, config_model_, config_path_);
    const bool progress = !options_.quiet && isatty(STDERR_FILENO);
    if (progress) {
        std::fprintf(stderr, "ponder: loading %s...",
                     choice.path.empty() ? kBundledModelName : choice.path.filename().c_str());
        std::fflush(stderr);
    }
    try {
        model_ = load_model(choice);
    } catch (...) {
        if (progress) std::fputs("\r\033[K", stderr);
        throw;
    }
    if (progress) std::fputs("\r\033[K", stderr);
    if (!options_.chat_template_file.empty())
        model_->override_chat_template(text_or_file(options_.chat_template_file));
    // Room for ponder.contemplate's parallel chains with the settings the script starts from.
    const ContemplateSettings& c = options_.settings.contemplate;
    assistant_ = std::make_unique<Assistant>(
        model_, AssistantOptions{.context = options_.settings.context,
                                 .extra_cells = c.chains * c.think_tokens});
    return *assistant_;
}

ConversationLog* CliScriptHost::log() {
    if (options_.no_log) return nullptr;
    if (!log_) log_.emplace(open_conversation_log());
    return &*log_;
}

int run_lua(const LuaJob& job, MainOptions& options, const std::optional<Config>& config) {
    if (options.settings.threads > 0) set_global_thread_count(options.settings.threads);
    ScriptPolicy policy;
    policy.allow_shell = options.allow_shell;
    policy.allow_write = options.allow_write;
    policy.readable_dirs.assign(options.allow_dirs.begin(), options.allow_dirs.end());
    policy.timeout_seconds = options.timeout;

    // The host outlives the runtime: chat objects the script still holds refer to its model.
    CliScriptHost host(options, config);
    LuaRuntime runtime(policy);
    open_ponder_module(runtime, host);
    for (const auto& name : options.tools) enable_builtin_tool(runtime, name);

    install_interrupt_handler();
    clear_interrupt();
    int status = 0;
    try {
        status = job.script.empty() ? runtime.run_string(job.code, "=(command line)", job.args)
                                    : runtime.run_file(job.script, job.args);
    } catch (const ScriptInterrupted&) {
        std::fflush(stdout);
        note(options.quiet, "interrupted");
        return 130;
    }
    std::fflush(stdout);
    return status;
}

}  // namespace ponder::cli
