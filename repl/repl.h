#pragma once
// The interactive session (`ponder` on a terminal with no prompt): a multi-turn chat with the
// model, streamed, in quick or contemplating mode, with slash commands, persistent history, tab
// completion, saved sessions, Lua against the live conversation, and every exchange logged.
//
// The front end (cli/) hands over everything the session needs through ReplSetup, so that this
// part never depends on the command-line code.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/language_model.h"
#include "reason/assistant.h"
#include "reason/conversation_log.h"
#include "reason/settings.h"
#include "scripting/lua_runtime.h"

namespace ponder::repl {

struct LoadedModel {
    std::shared_ptr<LanguageModel> model;
    std::string label;  // as shown and logged: the path, or the bundled model's name
};

struct ReplSetup {
    LoadedModel model;
    Settings settings;                   // from the command line and the config file
    std::filesystem::path data_dir;      // history and saved sessions live here
    std::optional<ConversationLog> log;  // empty with --no-log
    // Going on with an earlier conversation (-c): its id in the log and its turns.
    int64_t conversation_id = 0;
    std::vector<Message> earlier_turns;

    bool contemplate = false;  // start contemplating instead of answering quickly
    bool show_chains = false;  // /think on
    bool raw = false;          // no chat template: continue each input as plain text
    bool quiet = false;        // no banner
    bool stats = false;        // print speed figures after every answer
    std::string version;       // for the banner
    ScriptPolicy script_policy;

    // Loads the model /model names (a path, or a name the front end knows how to find).
    // Throws ponder::Error naming what is wrong.
    std::function<LoadedModel(const std::string& spec)> load_model;
};

// Runs the session until the user leaves (/exit, Ctrl-D, Ctrl-C twice); returns the exit code.
// Standard input and output must be terminals.
int run_repl(ReplSetup setup);

}  // namespace ponder::repl
