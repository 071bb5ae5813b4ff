#pragma once
// The main job: answer the user's turn, quickly (streamed) or after contemplating.
#include <memory>
#include <string>
#include <vector>

#include "cli/main_options.h"
#include "engine/language_model.h"
#include "reason/assistant.h"
#include "reason/conversation_log.h"

namespace ponder::cli {

struct AskRequest {
    const MainOptions* options = nullptr;
    std::string user_text;  // the gathered user turn
    std::vector<std::string> attached_files;
    std::string model_label;  // as logged and shown
};

// Returns the process exit code (0, 1, or 130 when interrupted).
int run_ask(const AskRequest& request, const std::shared_ptr<LanguageModel>& model);

// The last logged conversation, for -c/--continue: its id, system prompt and turns. Throws
// ponder::Error when the log holds none.
struct EarlierConversation {
    int64_t id = 0;
    std::string system;
    std::vector<Message> turns;  // user, assistant, user, assistant, ...
};
EarlierConversation last_logged_conversation(const ConversationLog& log);

// Prints "ponder: ..." on stderr unless quiet; for notes, warnings and progress.
void note(bool quiet, const std::string& message);

}  // namespace ponder::cli
