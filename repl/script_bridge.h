#pragma once
// Lua inside the REPL (/lua, /run): scripts reach the live session through a ScriptHost, run in
// one runtime kept for the whole session (so globals survive from one /lua to the next), and stop
// on Ctrl-C. A failing script reports one error and leaves the session as it was.
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "scripting/lua_runtime.h"
#include "scripting/script_host.h"

namespace ponder::repl {

// What scripts started from the REPL reach: the REPL's own chat session, its model and settings.
class ReplScriptHost : public ScriptHost {
  public:
    ReplScriptHost(ChatSession& session, ConversationLog* log) : session_(session), log_(log) {}
    Assistant& assistant() override { return session_.assistant(); }
    const Settings& settings() const override { return session_.settings(); }
    ConversationLog* log() override { return log_; }

  private:
    ChatSession& session_;
    ConversationLog* log_;
};

class ScriptRunner {
  public:
    ScriptRunner(ScriptHost& host, ScriptPolicy policy) : host_(host), policy_(std::move(policy)) {}
    ~ScriptRunner();
    ScriptRunner(const ScriptRunner&) = delete;
    ScriptRunner& operator=(const ScriptRunner&) = delete;

    // Both throw ScriptError when the script fails or is interrupted; the message is one line
    // (the traceback is left out).
    void run_code(std::string_view code);
    // Returns the status the script gave os.exit (0 otherwise).
    int run_file(const std::filesystem::path& script, const std::vector<std::string>& args);

  private:
    LuaRuntime& runtime();
    template <typename Run>
    int guarded(Run&& run);

    ScriptHost& host_;
    ScriptPolicy policy_;
    std::unique_ptr<LuaRuntime> runtime_;  // created on first use
};

// A script error's message without Lua's "stack traceback:" part.
std::string first_line_of_error(std::string_view message);

}  // namespace ponder::repl
