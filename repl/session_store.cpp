#include "repl/session_store.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "engine/error.h"
#include "repl/atomic_file.h"

namespace ponder::repl {

namespace {
constexpr std::string_view kExtension = ".json";
}

bool valid_session_name(std::string_view name) {
    if (name.empty() || name.size() > 100 || name[0] == '.') return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
}

std::filesystem::path SessionStore::path_of(std::string_view name) const {
    if (!valid_session_name(name)) {
        fail("'", name, "' is not a session name: use letters, digits, '.', '_' and '-'");
    }
    return dir_ / (std::string(name) + std::string(kExtension));
}

void SessionStore::save(std::string_view name, const nlohmann::json& session) const {
    write_file_atomically(
        path_of(name),
        session.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

nlohmann::json SessionStore::load(std::string_view name) const {
    std::filesystem::path path = path_of(name);
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("no saved session '", name, "' (", path.string(), ")");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail(path.string(), ": not valid JSON: ", e.what());
    }
}

std::vector<std::string> SessionStore::names() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
        const std::string file = entry.path().filename().string();
        if (file.size() <= kExtension.size() || !file.ends_with(kExtension)) continue;
        std::string name = file.substr(0, file.size() - kExtension.size());
        if (valid_session_name(name)) out.push_back(std::move(name));
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace ponder::repl
