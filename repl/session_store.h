#pragma once
// Saved REPL sessions: one JSON file per name under DATA_DIR/sessions, written atomically.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ponder::repl {

// Letters, digits, '.', '_' and '-', not starting with '.', at most 100 characters: a name that
// is one file name and nothing else.
bool valid_session_name(std::string_view name);

class SessionStore {
  public:
    explicit SessionStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
    const std::filesystem::path& dir() const { return dir_; }

    // Throws ponder::Error for a name that valid_session_name() refuses.
    std::filesystem::path path_of(std::string_view name) const;
    void save(std::string_view name, const nlohmann::json& session) const;
    // Throws ponder::Error when there is no such session or it is not valid JSON.
    nlohmann::json load(std::string_view name) const;
    // Names of the saved sessions, sorted.
    std::vector<std::string> names() const;

  private:
    std::filesystem::path dir_;
};

}  // namespace ponder::repl
