#include "reason/chat_session.h"

#include "engine/error.h"

namespace ponder {

ChatSession::ChatSession(Assistant& assistant, Settings settings)
    : assistant_(&assistant), settings_(std::move(settings)) {}

std::vector<Message> ChatSession::messages() const {
    std::vector<Message> out;
    if (!settings_.system.empty()) out.push_back({"system", settings_.system});
    out.insert(out.end(), turns_.begin(), turns_.end());
    return out;
}

Reply ChatSession::say(const std::string& user_text, const TextCallback& on_text,
                       const std::atomic<bool>* cancel) {
    turns_.push_back({"user", user_text});
    Reply reply;
    try {
        reply = assistant_->reply(messages(), settings_.sampling, on_text, cancel);
    } catch (...) {
        turns_.pop_back();
        throw;
    }
    turns_.push_back({"assistant", reply.text});
    return reply;
}

Reply ChatSession::retry(const TextCallback& on_text, const std::atomic<bool>* cancel) {
    if (!turns_.empty() && turns_.back().role == "assistant") {
        Message answer = turns_.back();
        turns_.pop_back();
        if (turns_.empty() || turns_.back().role != "user") {
            turns_.push_back(answer);
            fail("nothing to retry: the conversation has no question yet");
        }
        std::string question = turns_.back().content;
        turns_.pop_back();
        try {
            return say(question, on_text, cancel);
        } catch (...) {
            turns_.push_back({"user", question});
            turns_.push_back(answer);
            throw;
        }
    }
    fail("nothing to retry: the conversation has no answer yet");
}

void ChatSession::add_exchange(std::string user_text, std::string answer) {
    turns_.push_back({"user", std::move(user_text)});
    turns_.push_back({"assistant", std::move(answer)});
}

bool ChatSession::drop_last_exchange() {
    const size_t n = turns_.size();
    if (n < 2 || turns_[n - 1].role != "assistant" || turns_[n - 2].role != "user") return false;
    turns_.resize(n - 2);
    return true;
}

int64_t ChatSession::token_count() const {
    return static_cast<int64_t>(assistant_->tokenize_prompt(assistant_->render(messages())).size());
}

bool ChatSession::drop_oldest_turn() {
    if (turns_.size() < 2) return false;
    turns_.erase(turns_.begin(), turns_.begin() + 2);
    return true;
}

nlohmann::json ChatSession::to_json(const std::string& model_path) const {
    nlohmann::json turns = nlohmann::json::array();
    for (const auto& m : turns_) turns.push_back({{"role", m.role}, {"content", m.content}});
    return {{"format", "ponder-session-1"},
            {"model", model_path},
            {"system", settings_.system},
            {"settings", settings_to_json(settings_)},
            {"turns", turns}};
}

std::string ChatSession::load_json(const nlohmann::json& session) {
    if (!session.is_object() || session.value("format", "") != "ponder-session-1") {
        fail("not a ponder session (expected \"format\": \"ponder-session-1\")");
    }
    Settings restored = settings_;
    if (session.contains("settings")) {
        if (!session["settings"].is_object()) fail("session: \"settings\" must be an object");
        for (const auto& [name, value] : session["settings"].items()) {
            const SettingInfo* info = find_setting(name);
            if (!info || !value.is_string())
                fail("session: unknown or malformed setting '", name, "'");
            info->set(restored, value.get<std::string>());
        }
    }
    restored.system = session.value("system", std::string());
    std::vector<Message> turns;
    if (!session.contains("turns") || !session["turns"].is_array())
        fail("session: \"turns\" must be an array");
    for (const auto& t : session["turns"]) {
        if (!t.is_object() || !t.contains("role") || !t.contains("content") ||
            !t["role"].is_string() || !t["content"].is_string()) {
            fail("session: every turn needs a \"role\" and a \"content\" string");
        }
        turns.push_back({t["role"].get<std::string>(), t["content"].get<std::string>()});
    }
    settings_ = std::move(restored);
    turns_ = std::move(turns);
    return session.value("model", std::string());
}

}  // namespace ponder
