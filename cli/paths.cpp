#include "cli/paths.h"

#include <cstdlib>
#include <string>

namespace ponder::cli {

namespace {

std::filesystem::path home() {
    const char* h = std::getenv("HOME");
    return h && *h ? std::filesystem::path(h) : std::filesystem::path("/tmp");
}

// An XDG variable must hold an absolute path to count; otherwise the default applies.
std::filesystem::path xdg(const char* variable, const char* fallback_under_home) {
    const char* v = std::getenv(variable);
    if (v && *v == '/') return std::filesystem::path(v);
    return home() / fallback_under_home;
}

}  // namespace

std::filesystem::path config_dir() {
    return xdg("XDG_CONFIG_HOME", ".config") / "ponder";
}
std::filesystem::path data_dir() {
    return xdg("XDG_DATA_HOME", ".local/share") / "ponder";
}
std::filesystem::path models_dir() {
    return xdg("XDG_CACHE_HOME", ".cache") / "ponder" / "models";
}

std::filesystem::path expand_home(const std::string& path) {
    if (path == "~") return home();
    if (path.rfind("~/", 0) == 0) return home() / path.substr(2);
    return path;
}

}  // namespace ponder::cli
