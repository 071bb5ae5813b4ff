#pragma once
// The options of `ponder [options] [PROMPT...]`: the quick answer, contemplation and the REPL.
// Settings (sampling, contemplation, context, threads, system prompt) come from reason's one
// table of settings, so they are spelled the same on the command line, in the config file, in
// the REPL's /set and in Lua.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "reason/settings.h"

namespace ponder::cli {

struct MainOptions {
    std::string model;
    std::string chat_template_file;
    std::vector<std::string> prompt;
    std::vector<std::string> files;
    bool recursive = false;
    std::string system_file;
    std::vector<std::string> stop;
    Settings settings;

    bool raw = false;
    bool contemplate = false;
    bool show_chains = false;
    bool json = false;
    bool stats = false;
    bool quiet = false;
    bool continue_conversation = false;
    bool no_log = false;

    // Lua scripts (-e and `ponder run`) and tools.
    std::string eval;                     // -e CODE
    std::vector<std::string> tools;       // --tool NAME: built-in tools the model may call
    std::vector<std::string> allow_dirs;  // --allow-dir DIR: readable by the files tool
    bool allow_shell = false;
    bool allow_write = false;
    double timeout = 0;  // seconds; 0: none
};

// Adds every option of the main command to `app`, bound to `options`.
void add_main_options(CLI::App& app, MainOptions& options);

// Applies what CLI11 collected but could not bind directly (stop strings, --system-file).
void finish_main_options(MainOptions& options);

}  // namespace ponder::cli
