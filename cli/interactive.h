#pragma once
// `ponder` with no prompt on a terminal: the main options become the REPL's setup.
#include <memory>
#include <string>

#include "cli/main_options.h"
#include "engine/language_model.h"

namespace ponder::cli {

// Runs the interactive session with the loaded model; returns the exit code.
int run_interactive(const MainOptions& options, std::shared_ptr<LanguageModel> model,
                    const std::string& model_label);

}  // namespace ponder::cli
