#pragma once
// Where ponder keeps its files, following the XDG base directories.
#include <filesystem>

namespace ponder::cli {

std::filesystem::path config_dir();  // $XDG_CONFIG_HOME/ponder or ~/.config/ponder
std::filesystem::path data_dir();    // $XDG_DATA_HOME/ponder or ~/.local/share/ponder
std::filesystem::path models_dir();  // $XDG_CACHE_HOME/ponder/models or ~/.cache/ponder/models

// Expands a leading "~/" to $HOME.
std::filesystem::path expand_home(const std::string& path);

}  // namespace ponder::cli
