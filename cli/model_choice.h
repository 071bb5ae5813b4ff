#pragma once
// Which model to use: -m/--model (a path, or the name of a model under ~/.cache/ponder/models),
// then $PONDER_MODEL, then the config file's `model`, then the model bundled with ponder.
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "engine/language_model.h"

namespace ponder::cli {

struct ModelChoice {
    std::string spec;            // what the user named ("" for the bundled model)
    std::string origin;          // "--model", "$PONDER_MODEL", "config file ...", "bundled"
    std::filesystem::path path;  // resolved file or directory; empty for the bundled model
};

// Throws ponder::Error explaining where ponder looked and how to get a model.
ModelChoice choose_model(const std::string& flag, const std::optional<std::string>& config_value,
                         const std::string& config_path);

// Finds a model by path or by name under models_dir(): exact file name, name + ".gguf", or a
// unique case-insensitive substring of a file name. nullopt when nothing matches.
std::optional<std::filesystem::path> find_model(const std::string& spec);

// The GGUF bytes linked into ponder (empty when it was built without a bundled model).
std::span<const uint8_t> bundled_model_bytes();
inline constexpr const char* kBundledModelName = "ponder-tiny (bundled)";

// Loads the chosen model.
std::shared_ptr<LanguageModel> load_model(const ModelChoice& choice);

}  // namespace ponder::cli
