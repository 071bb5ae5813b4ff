#pragma once
// A multi-turn conversation with a model: the messages so far, the settings it runs with, and
// the operations a chat needs (say, retry, clear, drop the oldest turns, save and load). Used by
// the REPL and by Lua's ponder.chat; the Assistant underneath keeps the processed prefix cached,
// so each turn costs only its new tokens.
#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reason/assistant.h"
#include "reason/settings.h"

namespace ponder {

class ChatSession {
  public:
    ChatSession(Assistant& assistant, Settings settings);

    Settings& settings() { return settings_; }
    const Settings& settings() const { return settings_; }
    Assistant& assistant() { return *assistant_; }
    // Switches to another model (the REPL's /model); the conversation stays.
    void set_assistant(Assistant& assistant) { assistant_ = &assistant; }

    // The conversation as the model sees it: the system prompt (if any), then the turns.
    std::vector<Message> messages() const;
    const std::vector<Message>& turns() const { return turns_; }

    // Adds the user's turn and the model's answer. An interrupted answer is kept as far as it
    // got (stop_reason cancelled), so the conversation stays consistent with what was shown.
    // Throws ponder::Error (and changes nothing) when the conversation no longer fits in the
    // context; drop_oldest_turns() or clear() make room.
    Reply say(const std::string& user_text, const TextCallback& on_text = {},
              const std::atomic<bool>* cancel = nullptr);
    // Answers the last user turn again (a new sample). Throws when there is no turn yet.
    Reply retry(const TextCallback& on_text = {}, const std::atomic<bool>* cancel = nullptr);

    // Records an exchange answered some other way (contemplation, a tool-use loop, an earlier
    // logged conversation), so that later turns see it.
    void add_exchange(std::string user_text, std::string answer);
    // Removes the last user/assistant pair (e.g. to answer it again another way); false when the
    // conversation does not end with one.
    bool drop_last_exchange();

    // Tokens the conversation takes now, with the next answer's header.
    int64_t token_count() const;
    // Forgets every turn (the system prompt and settings stay).
    void clear() { turns_.clear(); }
    // Drops the oldest user/assistant pair; false when there is none.
    bool drop_oldest_turn();

    // The whole session: model path, settings, system prompt and turns.
    nlohmann::json to_json(const std::string& model_path) const;
    // Restores turns, system prompt and settings from to_json() output; throws ponder::Error
    // naming what is malformed. Returns the model path recorded in it.
    std::string load_json(const nlohmann::json& session);

  private:
    Assistant* assistant_;
    Settings settings_;
    std::vector<Message> turns_;
};

}  // namespace ponder
