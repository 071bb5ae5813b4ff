#pragma once
// The user's settings file: ~/.config/ponder/config.toml (or config.json). Its keys are the
// long option names without dashes ("temp", "max-tokens" or "max_tokens", "model", ...), and
// each sets that option unless the command line already did.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ponder::cli {

struct ConfigEntry {
    std::string key;                  // normalised: dashes, no leading "--"
    std::vector<std::string> values;  // as the command line would spell them; arrays give several
    int line = 0;                     // for messages (0 for JSON)
};

struct Config {
    std::filesystem::path path;
    std::vector<ConfigEntry> entries;

    const ConfigEntry* find(std::string_view key) const;
};

// Parsers; both throw ponder::Error naming the file (and line) on malformed input.
Config parse_toml_config(std::string_view text, const std::filesystem::path& path);
Config parse_json_config(std::string_view text, const std::filesystem::path& path);

// Reads config.toml or config.json from `dir`; nullopt when neither exists. Having both is an
// error, since which one wins would be a guess.
std::optional<Config> load_config(const std::filesystem::path& dir);

// Gives every option the command line left unset its value from the config. Keys listed in
// `handled_elsewhere` are skipped; an unknown key is an error naming the file and line.
void apply_config(const Config& config, CLI::App& app,
                  const std::vector<std::string>& handled_elsewhere);

}  // namespace ponder::cli
