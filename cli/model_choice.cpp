#include "cli/model_choice.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <vector>

#include "cli/paths.h"
#include "engine/error.h"

namespace ponder::cli {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

[[noreturn]] void not_found(const std::string& spec, const std::string& origin) {
    fail("model '", spec, "' (from ", origin, ") not found: it is not a file or directory, and ",
         models_dir().string(),
         " has no model of that name. Give a path to a GGUF file, or download one with `ponder "
         "pull REPO`");
}

}  // namespace

std::optional<fs::path> find_model(const std::string& spec) {
    fs::path direct = expand_home(spec);
    std::error_code ec;
    if (fs::exists(direct, ec)) return direct;
    // A bare name: look in the models directory.
    if (spec.find('/') != std::string::npos) return std::nullopt;
    fs::path dir = models_dir();
    for (const fs::path& candidate : {dir / spec, dir / (spec + ".gguf")}) {
        if (fs::exists(candidate, ec)) return candidate;
    }
    std::vector<fs::path> matches;
    if (fs::is_directory(dir, ec)) {
        for (const auto& entry : fs::recursive_directory_iterator(
                 dir, fs::directory_options::skip_permission_denied, ec)) {
            if (entry.path().extension() != ".gguf") continue;
            if (lower(entry.path().filename().string()).find(lower(spec)) != std::string::npos) {
                matches.push_back(entry.path());
            }
        }
    }
    if (matches.size() == 1) return matches.front();
    if (matches.size() > 1) {
        std::string names;
        for (const auto& m : matches) names += "\n  " + m.filename().string();
        fail("model name '", spec, "' matches several models; be more specific:", names);
    }
    return std::nullopt;
}

ModelChoice choose_model(const std::string& flag, const std::optional<std::string>& config_value,
                         const std::string& config_path) {
    auto pick = [](const std::string& spec, std::string origin) {
        auto path = find_model(spec);
        if (!path) not_found(spec, origin);
        return ModelChoice{spec, std::move(origin), *path};
    };
    if (!flag.empty()) return pick(flag, "--model");
    if (const char* env = std::getenv("PONDER_MODEL"); env && *env)
        return pick(env, "$PONDER_MODEL");
    if (config_value && !config_value->empty())
        return pick(*config_value, "config file " + config_path);
    if (!bundled_model_bytes().empty()) return ModelChoice{"", "bundled", {}};
    fail("no model: none given with -m/--model, $PONDER_MODEL or `model` in ",
         (config_dir() / "config.toml").string(),
         ", and this ponder was built without its bundled model. Download one with `ponder pull "
         "REPO` or pass -m FILE.gguf");
}

std::shared_ptr<LanguageModel> load_model(const ModelChoice& choice) {
    if (choice.path.empty())
        return LanguageModel::from_memory(bundled_model_bytes(), kBundledModelName);
    return LanguageModel::load(choice.path);
}

}  // namespace ponder::cli
