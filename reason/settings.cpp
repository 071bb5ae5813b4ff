#include "reason/settings.h"

#include <charconv>
#include <cmath>
#include <string>

#include "engine/error.h"

namespace ponder {

namespace {

template <typename T>
T parse_number(std::string_view name, std::string_view text, T min, T max) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
        fail("setting '", name, "': '", text, "' is not a number");
    }
    if (!(value >= min && value <= max)) {
        fail("setting '", name, "': ", text, " is out of range [", min, ", ", max, "]");
    }
    return value;
}

bool parse_bool(std::string_view name, std::string_view text) {
    if (text == "on" || text == "true" || text == "yes" || text == "1") return true;
    if (text == "off" || text == "false" || text == "no" || text == "0") return false;
    fail("setting '", name, "': '", text, "' is not on/off");
}

std::string show(float v) {
    std::string s = std::to_string(v);
    while (s.size() > 1 && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}
std::string show(int v) {
    return std::to_string(v);
}
std::string show(bool v) {
    return v ? "on" : "off";
}

#define PONDER_FLOAT(NAME, FIELD, MIN, MAX, HELP)                         \
    SettingInfo {                                                         \
        NAME, HELP, "X", [](const Settings& s) { return show(s.FIELD); }, \
            [](Settings& s, std::string_view v) {                         \
                s.FIELD = parse_number<float>(NAME, v, MIN, MAX);         \
            }                                                             \
    }
#define PONDER_INT(NAME, FIELD, MIN, MAX, HELP)                           \
    SettingInfo {                                                         \
        NAME, HELP, "N", [](const Settings& s) { return show(s.FIELD); }, \
            [](Settings& s, std::string_view v) {                         \
                s.FIELD = parse_number<int>(NAME, v, MIN, MAX);           \
            }                                                             \
    }
#define PONDER_BOOL(NAME, FIELD, HELP)                                             \
    SettingInfo {                                                                  \
        NAME, HELP, "on|off", [](const Settings& s) { return show(s.FIELD); },     \
            [](Settings& s, std::string_view v) { s.FIELD = parse_bool(NAME, v); } \
    }

const SettingInfo kSettings[] = {
    PONDER_FLOAT("temp", sampling.temperature, 0.0f, 10.0f, "Sampling temperature (0: greedy)"),
    PONDER_INT("top-k", sampling.top_k, 0, 1 << 20, "Keep the k most likely tokens (0: off)"),
    PONDER_FLOAT("top-p", sampling.top_p, 0.0f, 1.0f,
                 "Keep the smallest set with this much probability (1: off)"),
    PONDER_FLOAT("min-p", sampling.min_p, 0.0f, 1.0f,
                 "Drop tokens below this fraction of the best one's probability (0: off)"),
    PONDER_FLOAT("repeat-penalty", sampling.repeat_penalty, 0.0f, 10.0f,
                 "Penalise tokens seen in the last repeat-last-n (1: off)"),
    PONDER_INT("repeat-last-n", sampling.repeat_last_n, 0, 1 << 20,
               "How far back the penalties look"),
    PONDER_FLOAT("frequency-penalty", sampling.frequency_penalty, -2.0f, 2.0f,
                 "Penalty per earlier occurrence"),
    PONDER_FLOAT("presence-penalty", sampling.presence_penalty, -2.0f, 2.0f,
                 "Penalty for any earlier occurrence"),
    SettingInfo{"seed", "Random seed (\"random\": a new one each time)", "N|random",
                [](const Settings& s) {
                    return s.sampling.seed ? std::to_string(*s.sampling.seed)
                                           : std::string("random");
                },
                [](Settings& s, std::string_view v) {
                    if (v == "random" || v == "-1")
                        s.sampling.seed.reset();
                    else
                        s.sampling.seed = parse_number<uint64_t>("seed", v, 0, UINT64_MAX);
                }},
    PONDER_INT("max-tokens", sampling.max_tokens, -1, 1 << 24,
               "Most tokens to generate (-1: no limit)"),
    SettingInfo{"stop", "Stop strings, separated by '|' (empty: none)", "TEXT",
                [](const Settings& s) {
                    std::string out;
                    for (const auto& x : s.sampling.stop) out += (out.empty() ? "" : "|") + x;
                    return out;
                },
                [](Settings& s, std::string_view v) {
                    s.sampling.stop.clear();
                    size_t start = 0;
                    while (start <= v.size() && !v.empty()) {
                        size_t bar = v.find('|', start);
                        if (bar == std::string_view::npos) bar = v.size();
                        if (bar > start) s.sampling.stop.emplace_back(v.substr(start, bar - start));
                        start = bar + 1;
                    }
                }},
    PONDER_INT("chains", contemplate.chains, 1, 64, "Parallel reasoning chains when contemplating"),
    PONDER_INT("rounds", contemplate.rounds, 0, 8, "Refinement rounds when the vote is split"),
    PONDER_INT("think-tokens", contemplate.think_tokens, 16, 1 << 20,
               "Most tokens per reasoning chain"),
    PONDER_FLOAT("chain-temp", contemplate.temperature, 0.0f, 10.0f,
                 "Sampling temperature of the chains"),
    PONDER_FLOAT("agreement", contemplate.agreement_threshold, 0.0f, 1.0f,
                 "Vote share that settles an answer without more rounds"),
    PONDER_BOOL("arithmetic-check", contemplate.arithmetic_check,
                "Re-check arithmetic claims in chains exactly"),
    PONDER_BOOL("verifier", contemplate.verifier, "Let the model judge each candidate answer"),
    PONDER_BOOL("verifier-solves", contemplate.verifier_solves,
                "The verifier solves the question itself before judging (off: it judges each "
                "candidate's best chain)"),
    PONDER_BOOL("vote", contemplate.vote, "Weighted vote across chains (off: best single chain)"),
    SettingInfo{"system", "System prompt", "TEXT", [](const Settings& s) { return s.system; },
                [](Settings& s, std::string_view v) { s.system = std::string(v); }},
    PONDER_INT("ctx", context, 0, 1 << 22, "Context size in tokens (0: the model's, at most 4096)"),
    PONDER_INT("threads", threads, 0, 1024, "CPU threads (0: all cores)"),
};

#undef PONDER_FLOAT
#undef PONDER_INT
#undef PONDER_BOOL

}  // namespace

std::span<const SettingInfo> setting_table() {
    return kSettings;
}

nlohmann::json settings_to_json(const Settings& settings) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& s : kSettings) out[std::string(s.name)] = s.get(settings);
    return out;
}

const SettingInfo* find_setting(std::string_view name) {
    std::string normal(name);
    for (char& c : normal) {
        if (c == '_') c = '-';
    }
    if (normal == "temperature") normal = "temp";
    for (const auto& s : kSettings) {
        if (s.name == normal) return &s;
    }
    return nullptr;
}

}  // namespace ponder
