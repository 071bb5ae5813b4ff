#pragma once
// Every exchange with a model — prompt, answer, model, options, timings and, for contemplation,
// every chain — recorded in a SQLite database (WAL mode). Each exchange is committed as soon as
// it is answered, so a crash or Ctrl-C later loses nothing already answered.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace ponder {

struct LoggedExchange {
    int64_t id = 0;
    int64_t conversation_id = 0;
    std::string created_at;  // UTC, ISO 8601; filled in by append()
    std::string mode;        // "quick", "contemplate", "repl", "lua"
    std::string model;
    std::string system;
    std::string prompt;
    std::string answer;
    std::string stop_reason;
    int64_t prompt_tokens = 0;
    int64_t answer_tokens = 0;
    nlohmann::json options = nlohmann::json::object();
    nlohmann::json timings = nlohmann::json::object();
    nlohmann::json chains;  // null unless contemplated
};

struct Reply;
struct ContemplationResult;

// An exchange with the fields that come from what the model did: a quick reply (mode "quick",
// "raw", "repl", "lua"; answer_tokens counts what the user saw), or a contemplation (its whole
// trace as `chains`). Callers add the conversation, model, system prompt and options.
LoggedExchange logged_reply(std::string mode, std::string prompt, const Reply& reply,
                            int64_t answer_tokens, double load_seconds);
LoggedExchange logged_contemplation(std::string prompt, const ContemplationResult& result,
                                    double load_seconds);

class ConversationLog {
  public:
    using Warn = std::function<void(const std::string&)>;

    // Opens or creates the database. A file that is not a usable database is moved aside to
    // "<file>.corrupt-<time>" (never overwritten), `warn` is told where, and a new one starts.
    static ConversationLog open(const std::filesystem::path& file, const Warn& warn);

    ConversationLog(ConversationLog&&) noexcept;
    ConversationLog& operator=(ConversationLog&&) noexcept;
    ~ConversationLog();

    int64_t start_conversation();
    std::optional<int64_t> last_conversation() const;
    std::vector<LoggedExchange> conversation(int64_t id) const;

    // Records an exchange in its own transaction; returns its id.
    int64_t append(LoggedExchange exchange);

    // Most recent first; `search` matches prompt or answer text (case-insensitive substring).
    std::vector<LoggedExchange> recent(int limit, const std::string& search = {}) const;

    const std::filesystem::path& path() const { return path_; }

  private:
    ConversationLog(sqlite3* db, std::filesystem::path path);
    sqlite3* db_ = nullptr;
    std::filesystem::path path_;
};

}  // namespace ponder
