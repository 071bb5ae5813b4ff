#pragma once
// Lua scripts from the command line (`ponder run FILE`, `ponder -e CODE`): the ScriptHost that
// loads the model the way quick mode does (-m, $PONDER_MODEL, config, bundled) — lazily, on the
// first call that needs it — and runs the script under the main options' policy.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/config.h"
#include "cli/main_options.h"
#include "scripting/script_host.h"

namespace ponder::cli {

class CliScriptHost : public ScriptHost {
  public:
    CliScriptHost(const MainOptions& options, const std::optional<Config>& config);
    ~CliScriptHost() override;

    Assistant& assistant() override;
    const Settings& settings() const override { return options_.settings; }
    ConversationLog* log() override;

  private:
    const MainOptions& options_;
    std::optional<std::string> config_model_;
    std::string config_path_;
    std::shared_ptr<LanguageModel> model_;
    std::unique_ptr<Assistant> assistant_;
    std::optional<ConversationLog> log_;
};

struct LuaJob {
    std::string script;  // a file to run; empty: run `code`
    std::string code;
    std::vector<std::string> args;
};

// Runs the job; returns the exit code (the script's os.exit status, 0, or 130 when
// interrupted). Throws ponder::Error (ScriptError) for a failed script.
int run_lua(const LuaJob& job, MainOptions& options, const std::optional<Config>& config);

}  // namespace ponder::cli
