#include "cli/app.h"

#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "cli/ask.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/input.h"
#include "cli/interactive.h"
#include "cli/lua_host.h"
#include "cli/main_options.h"
#include "cli/model_choice.h"
#include "cli/paths.h"
#include "engine/error.h"
#include "engine/thread_pool.h"
#include "ponder_version.h"
#include "reason/interrupt.h"

namespace ponder::cli {

namespace {

constexpr int kUsageError = 2;

std::string version_line() {
    return std::string("ponder ") + PONDER_VERSION + " (" + PONDER_GIT_REVISION + ")";
}

// A usage problem found after parsing: reported like CLI11's own, exit code 2.
class UsageError : public Error {
  public:
    using Error::Error;
};

// "loading NAME..." on a terminal, erased once the model is there.
class LoadProgress {
  public:
    LoadProgress(bool quiet, const std::string& what) : shown_(!quiet && isatty(STDERR_FILENO)) {
        if (shown_) {
            std::fprintf(stderr, "ponder: loading %s...", what.c_str());
            std::fflush(stderr);
        }
    }
    ~LoadProgress() {
        if (shown_) std::fputs("\r\033[K", stderr);
    }

  private:
    bool shown_;
};

}  // namespace

ModelChoice choose_configured_model(const std::string& flag, const std::optional<Config>& config) {
    std::optional<std::string> config_model;
    if (config) {
        if (const ConfigEntry* e = config->find("model"); e && !e->values.empty())
            config_model = e->values.front();
    }
    return choose_model(flag, config_model, config ? config->path.string() : "");
}

namespace {

struct MainModel {
    std::shared_ptr<LanguageModel> model;
    std::string label;  // as logged and shown
};

MainModel load_main_model(const MainOptions& options, const std::optional<Config>& config) {
    const ModelChoice choice = choose_configured_model(options.model, config);
    install_interrupt_handler();  // Ctrl-C during loading ends ponder cleanly too
    MainModel loaded;
    loaded.label = choice.path.empty() ? kBundledModelName : choice.path.string();
    {
        LoadProgress progress(options.quiet, choice.path.empty() ? kBundledModelName
                                                                 : choice.path.filename().string());
        loaded.model = load_model(choice);
    }
    if (!options.chat_template_file.empty()) {
        loaded.model->override_chat_template(text_or_file(options.chat_template_file));
    }
    return loaded;
}

int run_main(CLI::App& app, MainOptions& options, const std::optional<Config>& config) {
    finish_main_options(options);
    if (!options.eval.empty())
        return run_lua(LuaJob{{}, options.eval, options.prompt}, options, config);
    if (options.settings.threads > 0) set_global_thread_count(options.settings.threads);

    const bool stdin_tty = isatty(STDIN_FILENO), stdout_tty = isatty(STDOUT_FILENO);
    if (options.prompt.empty() && options.files.empty() && stdin_tty) {
        // Only a person at a terminal gets the interactive session: never a pipe on either side.
        if (!stdout_tty) {
            throw UsageError(
                "no prompt: give a question as an argument, pipe text in, or attach files with -f");
        }
        if (options.json)
            throw UsageError("--json needs a prompt; the interactive session prints text");
        MainModel main_model = load_main_model(options, config);
        if (interrupted()) return 130;
        return run_interactive(options, std::move(main_model.model), main_model.label);
    }
    InputSources sources;
    sources.prompt_words = options.prompt;
    sources.files = options.files;
    sources.recursive = options.recursive;
    sources.stdin_is_terminal = stdin_tty;
    GatheredInput input = gather_input(sources, std::cin);
    for (const auto& w : input.warnings) note(options.quiet, w);
    if (input.text.find_first_not_of(" \t\r\n") == std::string::npos) {
        throw UsageError("the prompt is empty");
    }

    MainModel main_model = load_main_model(options, config);
    if (interrupted()) return 130;
    (void)app;
    AskRequest request{&options, std::move(input.text), std::move(input.attached),
                       main_model.label};
    return run_ask(request, main_model.model);
}

}  // namespace

std::string text_or_stdin(const std::string& argument) {
    if (argument != "-") return argument;
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

std::string text_or_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, ": cannot read file");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int run(int argc, char** argv) {
    CLI::App app{
        "ponder: ask a local language model, quickly or after contemplating.\n"
        "  ponder \"question\"            answer (streamed)\n"
        "  ponder --contemplate \"...\"   think in parallel chains, check them, then answer\n"
        "  cat notes.md | ponder \"summarize\"\n"
        "  ponder --tool calculator \"...\" let the model call tools (calculator, files)\n"
        "  ponder run script.lua [args]  run a Lua script (see README: Scripting with Lua)\n"
        "  ponder -e 'print(ponder.ask(\"hi\"))'\n"
        "  ponder                       an interactive session (on a terminal)",
        "ponder"};
    app.set_version_flag("-V,--version", version_line());
    app.get_formatter()->column_width(36);
    app.require_subcommand(0, 1);
    app.positionals_at_end(false);

    MainOptions options;
    add_main_options(app, options);

    CommandAction action;
    std::optional<Config> config;  // read after parsing, before any command runs
    add_info_command(app, action, config);
    add_logs_command(app, action);
    add_tokenize_command(app, action);
    add_template_command(app, action);
    add_logits_command(app, action);
    add_eval_command(app, action, config);
    add_convert_command(app, action);
    add_bench_command(app, action);
    add_make_model_command(app, action);
    add_pull_command(app, action);
    add_run_command(app, action, options, config);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : kUsageError;
    }
    try {
        config = load_config(config_dir());
        if (config) apply_config(*config, app, {"model"});
        if (action) return action();
        return run_main(app, options, config);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "ponder: %s\nRun with --help for more information.\n", e.what());
        return kUsageError;
    } catch (const Error& e) {
        std::fprintf(stderr, "ponder: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ponder: internal error: %s\n", e.what());
        return 1;
    }
}

}  // namespace ponder::cli
