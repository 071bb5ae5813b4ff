// `ponder [options] run SCRIPT.lua [ARGS...]`: runs a Lua script with the `ponder` module. The
// main options (model, settings, --tool, --allow-*, --timeout) come before `run`; everything
// after the script's name is the script's own (the global `arg`, and `...`).
#include <memory>

#include "cli/commands.h"
#include "cli/lua_host.h"

namespace ponder::cli {

void add_run_command(CLI::App& app, CommandAction& action, MainOptions& options,
                     const std::optional<Config>& config) {
    auto script = std::make_shared<std::string>();
    CLI::App* cmd =
        app.add_subcommand("run", "Run a Lua script; arguments after it go to the script (`arg`)");
    cmd->add_option("script", *script, "The Lua script")->required()->type_name("FILE.lua");
    // The script's arguments may look like options: everything after the script is its own.
    cmd->prefix_command();
    cmd->callback([cmd, script, &action, &options, &config] {
        action = [cmd, script, &options, &config] {
            finish_main_options(options);
            return run_lua(LuaJob{*script, {}, cmd->remaining()}, options, config);
        };
    });
}

}  // namespace ponder::cli
