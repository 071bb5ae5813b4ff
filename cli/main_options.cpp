#include "cli/main_options.h"

#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace ponder::cli {

namespace {

const char* group_of(std::string_view setting) {
    for (std::string_view s : {"chains", "rounds", "think-tokens", "chain-temp", "agreement",
                               "arithmetic-check", "verifier", "verifier-solves", "vote"}) {
        if (s == setting) return "Contemplating";
    }
    if (setting == "ctx" || setting == "threads") return "Model";
    if (setting == "system") return "Input";
    return "Sampling";
}

std::string flag_names(std::string_view setting) {
    std::string long_name = "--" + std::string(setting);
    if (setting == "max-tokens") return "-n," + long_name;
    if (setting == "threads") return "-t," + long_name;
    if (setting == "system") return "-s," + long_name;
    return long_name;
}

}  // namespace

void add_main_options(CLI::App& app, MainOptions& o) {
    app.add_option(
           "-m,--model", o.model,
           "GGUF file, Hugging Face directory, or name of a model in ~/.cache/ponder/models "
           "(default: $PONDER_MODEL, the config file's model, else the bundled model)")
        ->type_name("PATH|NAME")
        ->group("Model");
    app.add_option("--chat-template", o.chat_template_file,
                   "Jinja chat template file to use instead of the model's")
        ->type_name("FILE")
        ->group("Model");

    app.add_option("prompt", o.prompt, "The question (words are joined with spaces)")
        ->group("Input");
    app.add_option("-f,--file", o.files, "Attach a file (repeatable; - for stdin)")
        ->type_name("FILE")
        ->allow_extra_args(false)
        ->group("Input");
    app.add_flag("--recursive", o.recursive,
                 "Allow directories with -f (their text files are attached)")
        ->group("Input");
    app.add_option("--system-file", o.system_file, "Read the system prompt from a file")
        ->type_name("FILE")
        ->group("Input");

    const Settings defaults;
    for (const SettingInfo& info : setting_table()) {
        if (info.name == "stop") continue;  // repeatable on the command line, below
        const SettingInfo* entry = &info;
        Settings* settings = &o.settings;
        app.add_option_function<std::string>(
               flag_names(info.name),
               [entry, settings](const std::string& value) {
                   try {
                       entry->set(*settings, value);
                   } catch (const Error& e) {
                       throw CLI::ValidationError("--" + std::string(entry->name), e.what());
                   }
               },
               std::string(info.help))
            ->default_str(info.get(defaults))
            ->type_name(std::string(info.value_kind))
            ->group(group_of(info.name));
        if (info.get(defaults) == "on") {
            std::string flag = "--no-" + std::string(info.name);
            app.add_flag_callback(
                   flag, [entry, settings] { entry->set(*settings, "off"); },
                   "Same as --" + std::string(info.name) + " off")
                ->group(group_of(info.name));
        }
    }
    app.add_option("--stop", o.stop, "Stop generating at this text (repeatable)")
        ->allow_extra_args(false)
        ->group("Sampling");

    app.add_flag("--raw", o.raw, "Send the prompt as it is, without the chat template")
        ->group("Mode");
    app.add_flag("--contemplate", o.contemplate,
                 "Think in several parallel chains, check them, then answer")
        ->group("Mode");
    app.add_flag("--show-chains", o.show_chains, "With --contemplate: print every chain")
        ->group("Mode");
    app.add_flag("-c,--continue", o.continue_conversation, "Continue the last logged conversation")
        ->group("Mode");

    app.add_flag("--json", o.json, "Print one JSON object instead of streaming text")
        ->group("Output");
    app.add_flag("--stats", o.stats, "Print prompt and generation speed to stderr")
        ->group("Output");
    app.add_flag("-q,--quiet", o.quiet, "No progress or notes on stderr, only errors")
        ->group("Output");
    app.add_flag("--no-log", o.no_log, "Do not record this exchange in the conversation log")
        ->group("Output");

    app.add_option("-e,--eval", o.eval, "Run Lua code (the prompt words become its `arg`)")
        ->type_name("CODE")
        ->group("Scripting");
    app.add_option("--tool", o.tools,
                   "Let the model call a built-in tool: calculator, files (repeatable)")
        ->type_name("NAME")
        ->check(CLI::IsMember({"calculator", "files"}))
        ->group("Scripting");
    app.add_option(
           "--allow-dir", o.allow_dirs,
           "Let the files tool read this directory too, besides the working directory (repeatable)")
        ->type_name("DIR")
        ->check(CLI::ExistingDirectory)
        ->group("Scripting");
    app.add_flag("--allow-shell", o.allow_shell,
                 "Let scripts run programs (os.execute, io.popen) and load C modules")
        ->group("Scripting");
    app.add_flag("--allow-write", o.allow_write,
                 "Let scripts write files outside the working directory")
        ->group("Scripting");
    app.add_option("--timeout", o.timeout, "Stop a script after this many seconds (0: no limit)")
        ->type_name("SECONDS")
        ->check(CLI::NonNegativeNumber)
        ->group("Scripting");
}

void finish_main_options(MainOptions& o) {
    if (!o.stop.empty()) o.settings.sampling.stop = o.stop;
    if (!o.system_file.empty()) {
        std::ifstream in(o.system_file, std::ios::binary);
        if (!in) fail(o.system_file, ": cannot read the system prompt file");
        std::stringstream s;
        s << in.rdbuf();
        o.settings.system = s.str();
        while (!o.settings.system.empty() && o.settings.system.back() == '\n')
            o.settings.system.pop_back();
    }
}

}  // namespace ponder::cli
