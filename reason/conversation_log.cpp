#include "reason/conversation_log.h"

#include <sqlite3.h>

#include <chrono>
#include <ctime>

#include "engine/error.h"
#include "engine/generate.h"
#include "reason/assistant.h"
#include "reason/contemplate.h"

namespace ponder {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS conversations (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS exchanges (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    created_at      TEXT NOT NULL,
    mode            TEXT NOT NULL,
    model           TEXT NOT NULL,
    system          TEXT NOT NULL,
    prompt          TEXT NOT NULL,
    answer          TEXT NOT NULL,
    stop_reason     TEXT NOT NULL,
    prompt_tokens   INTEGER NOT NULL,
    answer_tokens   INTEGER NOT NULL,
    options         TEXT NOT NULL,
    timings         TEXT NOT NULL,
    chains          TEXT
);
CREATE INDEX IF NOT EXISTS exchanges_by_conversation ON exchanges(conversation_id, id);
)sql";

std::string now_utc() {
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// A prepared statement that finalizes itself.
class Statement {
  public:
    Statement(sqlite3* db, const char* sql, const std::filesystem::path& path)
        : db_(db), path_(path) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
            fail(path.string(), ": ", sqlite3_errmsg(db));
        }
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    void bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
    void bind(int i, const std::string& v) {
        sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    }
    void bind_null(int i) { sqlite3_bind_null(stmt_, i); }

    // True while a row is available.
    bool step() {
        int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        fail(path_.string(), ": ", sqlite3_errmsg(db_));
    }
    int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
    std::string text(int col) const {
        auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
        return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
                 : std::string();
    }
    bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

  private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
    const std::filesystem::path& path_;
};

void exec(sqlite3* db, const char* sql, const std::filesystem::path& path) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message ? message : "unknown error";
        sqlite3_free(message);
        fail(path.string(), ": ", text);
    }
}

nlohmann::json parse_json_column(const std::string& text) {
    if (text.empty()) return nullptr;
    return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

constexpr const char* kSelectColumns =
    "SELECT id, conversation_id, created_at, mode, model, system, prompt, answer, stop_reason, "
    "prompt_tokens, answer_tokens, options, timings, chains FROM exchanges ";

LoggedExchange read_row(const Statement& s) {
    LoggedExchange e;
    e.id = s.integer(0);
    e.conversation_id = s.integer(1);
    e.created_at = s.text(2);
    e.mode = s.text(3);
    e.model = s.text(4);
    e.system = s.text(5);
    e.prompt = s.text(6);
    e.answer = s.text(7);
    e.stop_reason = s.text(8);
    e.prompt_tokens = s.integer(9);
    e.answer_tokens = s.integer(10);
    e.options = parse_json_column(s.text(11));
    e.timings = parse_json_column(s.text(12));
    e.chains = s.is_null(13) ? nlohmann::json() : parse_json_column(s.text(13));
    return e;
}

// Opens the database and makes sure the schema is there; throws on any failure.
sqlite3* open_database(const std::filesystem::path& path) {
    sqlite3* db = nullptr;
    int rc =
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc != SQLITE_OK) {
        std::string message = db ? sqlite3_errmsg(db) : "out of memory";
        sqlite3_close(db);
        fail(path.string(), ": cannot open the conversation log: ", message);
    }
    try {
        sqlite3_busy_timeout(db, 5000);  // a REPL and a one-shot ponder may share the log
        exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", path);
        exec(db, kSchema, path);
        exec(db, "PRAGMA quick_check;", path);
    } catch (...) {
        sqlite3_close(db);
        throw;
    }
    return db;
}

}  // namespace

ConversationLog::ConversationLog(sqlite3* db, std::filesystem::path path)
    : db_(db), path_(std::move(path)) {}

ConversationLog::ConversationLog(ConversationLog&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

ConversationLog& ConversationLog::operator=(ConversationLog&& other) noexcept {
    if (this != &other) {
        sqlite3_close(db_);
        db_ = std::exchange(other.db_, nullptr);
        path_ = std::move(other.path_);
    }
    return *this;
}

ConversationLog::~ConversationLog() {
    sqlite3_close(db_);
}

ConversationLog ConversationLog::open(const std::filesystem::path& file, const Warn& warn) {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    try {
        return ConversationLog(open_database(file), file);
    } catch (const Error& first) {
        if (!std::filesystem::exists(file)) throw;
        // Keep the damaged file for the user; start a new log beside it.
        std::string stamp = now_utc();
        auto aside = file;
        aside += ".corrupt-" + stamp;
        std::filesystem::rename(file, aside, ec);
        if (ec) throw;
        for (const char* suffix : {"-wal", "-shm"}) {
            auto side = file;
            side += suffix;
            auto side_aside = aside;
            side_aside += suffix;
            if (std::filesystem::exists(side)) std::filesystem::rename(side, side_aside, ec);
        }
        if (warn) {
            warn(cat(first.what(), "; moved it aside to ", aside.string(),
                     " and started a new log"));
        }
        return ConversationLog(open_database(file), file);
    }
}

int64_t ConversationLog::start_conversation() {
    Statement s(db_, "INSERT INTO conversations(started_at) VALUES (?)", path_);
    s.bind(1, now_utc());
    s.step();
    return sqlite3_last_insert_rowid(db_);
}

std::optional<int64_t> ConversationLog::last_conversation() const {
    Statement s(db_, "SELECT conversation_id FROM exchanges ORDER BY id DESC LIMIT 1", path_);
    if (s.step()) return s.integer(0);
    return std::nullopt;
}

std::vector<LoggedExchange> ConversationLog::conversation(int64_t id) const {
    Statement s(db_,
                (std::string(kSelectColumns) + "WHERE conversation_id = ? ORDER BY id").c_str(),
                path_);
    s.bind(1, id);
    std::vector<LoggedExchange> out;
    while (s.step()) out.push_back(read_row(s));
    return out;
}

int64_t ConversationLog::append(LoggedExchange e) {
    if (e.conversation_id == 0) e.conversation_id = start_conversation();
    e.created_at = now_utc();
    Statement s(
        db_,
        "INSERT INTO exchanges(conversation_id, created_at, mode, model, system, prompt, answer, "
        "stop_reason, prompt_tokens, answer_tokens, options, timings, chains) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        path_);
    s.bind(1, e.conversation_id);
    s.bind(2, e.created_at);
    s.bind(3, e.mode);
    s.bind(4, e.model);
    s.bind(5, e.system);
    s.bind(6, e.prompt);
    s.bind(7, e.answer);
    s.bind(8, e.stop_reason);
    s.bind(9, e.prompt_tokens);
    s.bind(10, e.answer_tokens);
    s.bind(11, e.options.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    s.bind(12, e.timings.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (e.chains.is_null())
        s.bind_null(13);
    else
        s.bind(13, e.chains.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    s.step();  // autocommit: durable once this returns
    return sqlite3_last_insert_rowid(db_);
}

std::vector<LoggedExchange> ConversationLog::recent(int limit, const std::string& search) const {
    std::string sql = kSelectColumns;
    if (!search.empty())
        sql += "WHERE instr(lower(prompt), lower(?1)) > 0 OR instr(lower(answer), lower(?1)) > 0 ";
    sql += "ORDER BY id DESC LIMIT ?2";
    Statement s(db_, sql.c_str(), path_);
    if (!search.empty()) s.bind(1, search);
    s.bind(2, static_cast<int64_t>(limit));
    std::vector<LoggedExchange> out;
    while (s.step()) out.push_back(read_row(s));
    return out;
}

LoggedExchange logged_reply(std::string mode, std::string prompt, const Reply& reply,
                            int64_t answer_tokens, double load_seconds) {
    LoggedExchange e;
    e.mode = std::move(mode);
    e.prompt = std::move(prompt);
    e.answer = reply.text;
    e.stop_reason = std::string(stop_reason_name(reply.stop_reason));
    e.prompt_tokens = reply.prompt_tokens;
    e.answer_tokens = answer_tokens;
    e.timings = timings_json(reply, load_seconds);
    return e;
}

LoggedExchange logged_contemplation(std::string prompt, const ContemplationResult& result,
                                    double load_seconds) {
    LoggedExchange e;
    e.mode = "contemplate";
    e.prompt = std::move(prompt);
    e.answer = result.answer.display;
    e.stop_reason = result.cancelled        ? "cancelled"
                    : result.answer.empty() ? "no_answer"
                                            : "answered";
    e.prompt_tokens = result.prompt_tokens;
    e.answer_tokens = result.generated_tokens;
    e.timings = {{"seconds", result.seconds}, {"load_seconds", load_seconds}};
    e.chains = result.to_json();
    return e;
}

}  // namespace ponder
