#pragma once
// Subcommands. Each file cli/cmd_NAME.cpp adds one subcommand to the parser; when the user
// picks it, its parse callback stores what to run in `action`, and app.cpp runs that after
// parsing, turning ponder::Error into a one-line message and exit code 1.
#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <string>

#include "cli/config.h"
#include "cli/main_options.h"
#include "cli/model_choice.h"
#include "engine/gguf.h"
#include "reason/conversation_log.h"

namespace ponder::cli {

using CommandAction = std::function<int()>;

// `info` and `eval` use the config file's model when -m is not given, as questions do; the
// config is read after parsing, before any command runs.
void add_info_command(CLI::App& app, CommandAction& action, const std::optional<Config>& config);
void add_logs_command(CLI::App& app, CommandAction& action);
void add_tokenize_command(CLI::App& app, CommandAction& action);
void add_template_command(CLI::App& app, CommandAction& action);
void add_logits_command(CLI::App& app, CommandAction& action);
void add_eval_command(CLI::App& app, CommandAction& action, const std::optional<Config>& config);
void add_convert_command(CLI::App& app, CommandAction& action);
void add_bench_command(CLI::App& app, CommandAction& action);
void add_make_model_command(CLI::App& app, CommandAction& action);
void add_pull_command(CLI::App& app, CommandAction& action);
// `run` uses the main options and the config file, which is read after parsing.
void add_run_command(CLI::App& app, CommandAction& action, MainOptions& options,
                     const std::optional<Config>& config);

// The conversation log under the data directory (warnings go to stderr).
ConversationLog open_conversation_log();

// The model to use: -m/--model, $PONDER_MODEL, the config file's `model`, else the bundled one.
ModelChoice choose_configured_model(const std::string& flag, const std::optional<Config>& config);

// Reads a whole argument that may be "-" for standard input.
std::string text_or_stdin(const std::string& argument);
// Reads a whole file; throws ponder::Error naming it.
std::string text_or_file(const std::string& path);

// How many tensors of each type a model file holds, by type name.
std::map<std::string, int> tensor_type_counts(const GgufFile& file);
// The same as text: "f32 x9, q8_0 x29".
std::string tensor_types_text(const GgufFile& file);

}  // namespace ponder::cli
