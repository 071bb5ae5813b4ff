#pragma once
// What Lua scripts reach through the `ponder` module: the model (loaded lazily, once per script
// run, and shared by every call), the settings that calls default to, and — inside the REPL — the
// live chat session.
#include "reason/assistant.h"
#include "reason/chat_session.h"
#include "reason/conversation_log.h"
#include "reason/settings.h"

namespace ponder {

class ScriptHost {
  public:
    virtual ~ScriptHost() = default;
    // The model, loaded on first use. Throws ponder::Error when it cannot be loaded.
    virtual Assistant& assistant() = 0;
    // Defaults for ask/stream/contemplate options.
    virtual const Settings& settings() const = 0;
    // Where exchanges are logged; null when logging is off.
    virtual ConversationLog* log() = 0;
};

}  // namespace ponder
