#include "cli/interactive.h"

#include "cli/ask.h"
#include "cli/commands.h"
#include "cli/model_choice.h"
#include "cli/paths.h"
#include "engine/error.h"
#include "ponder_version.h"
#include "repl/repl.h"

namespace ponder::cli {

int run_interactive(const MainOptions& options, std::shared_ptr<LanguageModel> model,
                    const std::string& model_label) {
    repl::ReplSetup setup;
    setup.model = {std::move(model), model_label};
    setup.settings = options.settings;
    setup.data_dir = data_dir();
    if (!options.no_log) setup.log.emplace(open_conversation_log());
    if (options.continue_conversation) {
        if (!setup.log)
            fail("--continue needs the conversation log; it cannot be combined with --no-log");
        EarlierConversation earlier = last_logged_conversation(*setup.log);
        setup.conversation_id = earlier.id;
        if (setup.settings.system.empty()) setup.settings.system = earlier.system;
        setup.earlier_turns = std::move(earlier.turns);
    }
    setup.contemplate = options.contemplate;
    setup.show_chains = options.show_chains;
    setup.raw = options.raw;
    setup.quiet = options.quiet;
    setup.stats = options.stats;
    setup.version = PONDER_VERSION;
    setup.load_model = [](const std::string& spec) {
        std::optional<std::filesystem::path> path = find_model(spec);
        if (!path) {
            fail("model '", spec, "' not found: it is not a file or directory, and ",
                 models_dir().string(), " has no model of that name");
        }
        return repl::LoadedModel{LanguageModel::load(*path), path->string()};
    };
    return repl::run_repl(std::move(setup));
}

}  // namespace ponder::cli
