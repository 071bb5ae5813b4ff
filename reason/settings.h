#pragma once
// Every user-tunable setting of a generation or contemplation, with one table that names them.
// The command line, the REPL's /set and /show, config files and Lua's option tables all go
// through this table, so a setting is spelled and checked the same way everywhere.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ponder {

struct SamplingSettings {
    float temperature = 0.8f;     // 0: greedy
    int top_k = 40;               // 0: off
    float top_p = 0.95f;          // 1: off
    float min_p = 0.05f;          // 0: off
    float repeat_penalty = 1.0f;  // 1: off
    int repeat_last_n = 64;       // tokens the penalties look back over
    float frequency_penalty = 0.0f;
    float presence_penalty = 0.0f;
    std::optional<uint64_t> seed;   // unset: a fresh random seed each time
    int max_tokens = -1;            // -1: until the model stops or the context is full
    std::vector<std::string> stop;  // stop strings
};

struct ContemplateSettings {
    int chains = 5;                    // parallel reasoning chains per round
    int rounds = 2;                    // refinement rounds allowed when the vote is split
    int think_tokens = 512;            // most tokens per chain
    float temperature = 0.7f;          // sampling temperature of the chains
    float agreement_threshold = 0.6f;  // vote share that ends contemplation early
    bool arithmetic_check = true;      // re-check "a op b = c" claims exactly
    bool verifier = true;              // ask the model to judge each candidate
    // The verifier first solves the question itself (greedily, beside the chains) and judges the
    // candidates after its own solution; off: it judges each beside that candidate's best chain.
    bool verifier_solves = true;
    bool vote = true;  // weighted vote (off: take the best-scored single chain)
};

struct Settings {
    SamplingSettings sampling;
    ContemplateSettings contemplate;
    std::string system;  // system prompt; empty: none (the template's default applies)
    int context = 0;     // tokens; 0: the model's training context, capped at 4096
    int threads = 0;     // 0: every core
};

// One named setting: how to show it and how to set it from text.
struct SettingInfo {
    std::string_view name;  // "temp", "top-k", "chains", ...
    std::string_view help;
    std::string_view
        value_kind;  // for help texts: "X" (a number), "N" (a whole number), "on|off", ...
    std::string (*get)(const Settings&);
    // Throws ponder::Error naming the setting for a value it cannot take.
    void (*set)(Settings&, std::string_view value);
};

std::span<const SettingInfo> setting_table();

// Every setting by name, as text ({"temp": "0.8", ...}), for logs and JSON output.
nlohmann::json settings_to_json(const Settings& settings);
const SettingInfo* find_setting(std::string_view name);  // accepts '_' for '-'

}  // namespace ponder
