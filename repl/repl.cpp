#include "repl/repl.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "engine/error.h"
#include "engine/thread_pool.h"
#include "reason/attachment.h"
#include "reason/chat_session.h"
#include "reason/contemplate.h"
#include "reason/interrupt.h"
#include "repl/chain_progress.h"
#include "repl/commands.h"
#include "repl/completion.h"
#include "repl/line_editor.h"
#include "repl/script_bridge.h"
#include "repl/session_store.h"
#include "repl/terminal.h"

namespace ponder::repl {

namespace {

enum class Mode { quick, contemplate, raw };

std::string_view trim(std::string_view s) {
    const size_t first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    const size_t last = s.find_last_not_of(" \t\r\n");
    return s.substr(first, last - first + 1);
}

// "word rest of line" -> {"word", "rest of line"}.
std::pair<std::string, std::string> split_word(std::string_view s) {
    s = trim(s);
    size_t end = s.find_first_of(" \t");
    if (end == std::string_view::npos) return {std::string(s), {}};
    return {std::string(s.substr(0, end)), std::string(trim(s.substr(end)))};
}

std::vector<std::string> split_words(std::string_view s) {
    std::vector<std::string> out;
    while (!(s = trim(s)).empty()) {
        auto [word, rest] = split_word(s);
        out.push_back(word);
        s = s.substr(s.find(word) + word.size());
    }
    return out;
}

// Errors and notes go to stderr with ponder's prefix; stdout is flushed first so that they
// appear after what was printed before them.
void report(const std::string& message) {
    std::fflush(stdout);
    std::fprintf(stderr, "ponder: %s\n", message.c_str());
}

void say_line(const std::string& text) {
    std::fputs(text.c_str(), stdout);
    std::fputs("\n", stdout);
    std::fflush(stdout);
}

std::string plural(int64_t n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

std::string expand_home(const std::string& path) {
    if (path.rfind("~/", 0) != 0) return path;
    const char* home = std::getenv("HOME");
    return std::string(home ? home : "") + path.substr(1);
}

// Streams an answer to the terminal, and ends it on a line of its own.
class AnswerPrinter {
  public:
    void operator()(std::string_view text) {
        std::string shown = printable(text);
        if (shown.empty()) return;
        write_now(shown);
        at_line_start_ = shown.back() == '\n';
    }
    void finish() {
        if (!at_line_start_) write_now("\n");
        at_line_start_ = true;
    }

  private:
    bool at_line_start_ = true;
};

std::string speed_line(const Reply& reply) {
    char line[256];
    std::snprintf(
        line, sizeof line,
        "answer: %lld tokens at %.1f tokens/s (stopped: %s)\nprompt: %lld tokens, %lld new at %.1f "
        "tokens/s, %lld reused",
        static_cast<long long>(reply.timings.generated_tokens),
        reply.timings.generated_tokens_per_second(),
        std::string(stop_reason_name(reply.stop_reason)).c_str(),
        static_cast<long long>(reply.prompt_tokens),
        static_cast<long long>(reply.timings.prompt_tokens),
        reply.timings.prompt_tokens_per_second(), static_cast<long long>(reply.reused_tokens));
    return line;
}

std::string contemplation_speed_line(const ContemplationResult& r) {
    char line[256];
    std::snprintf(
        line, sizeof line,
        "contemplation: %zu chains, %d round%s, %lld tokens generated in %.2f s (%.1f tokens/s)\n"
        "prompt: %lld tokens; confidence %.0f%%",
        r.chains.size(), r.rounds, r.rounds == 1 ? "" : "s",
        static_cast<long long>(r.generated_tokens), r.seconds,
        r.seconds > 0 ? static_cast<double>(r.generated_tokens) / r.seconds : 0.0,
        static_cast<long long>(r.prompt_tokens), r.confidence * 100);
    return line;
}

bool parse_on_off(std::string_view what, std::string_view value) {
    if (value == "on" || value == "yes" || value == "true" || value == "1") return true;
    if (value == "off" || value == "no" || value == "false" || value == "0") return false;
    fail(what, ": '", value, "' is not on or off");
}

// What the conversation keeps as the assistant's turn after contemplating: the reasoning that
// reached the chosen answer, so that later questions can build on it.
std::string answer_turn(const ContemplationResult& result) {
    if (!result.justification.empty()) return result.justification;
    if (!result.answer.empty()) return "Answer: " + result.answer.display;
    return {};
}

struct Attachment {
    std::string name;
    std::string fenced;
};

constexpr std::string_view kHelpIntro =
    "Type a question and press Enter: the answer streams, and the conversation goes on from it.\n"
    "Several lines: start with \"\"\" and end with \"\"\" (or Ctrl-D), or end a line with \\.\n"
    "A line that starts with // sends a question beginning with /.\n";

constexpr std::string_view kHelpKeys =
    "Keys: Up/Down walk the history (kept across sessions; lines starting with a space stay out),\n"
    "  Ctrl-R searches it, Tab completes commands, settings, file names and session names.\n"
    "  Ctrl-C stops an answer (the session goes on) or clears the line; Ctrl-C twice or Ctrl-D\n"
    "  at an empty prompt leaves.\n"
    "When the conversation outgrows the context, the oldest exchanges are dropped, with a note;\n"
    "  /clear starts afresh.\n";

class Repl {
  public:
    explicit Repl(ReplSetup setup);
    int run();

  private:
    // Input.
    std::string prompt() const;
    void handle(const std::string& input);
    void run_command(const CommandInfo& command, const std::string& args);

    // Answering.
    void ask(const std::string& question);
    void ask_quick(const std::string& text, const std::vector<std::string>& files);
    void ask_contemplating(const std::string& text, const std::vector<std::string>& files);
    void ask_raw(const std::string& text, const std::vector<std::string>& files);
    void retry();
    void after_reply(const Reply& reply);
    void make_room(const std::string& user_text, int64_t reserve);
    std::optional<int64_t> tokens_with(const std::string& user_text) const;
    int64_t answer_reserve() const;

    // The model and its context.
    AssistantOptions wanted_options() const;
    void ensure_assistant();
    void replace_assistant(const LoadedModel& model, const AssistantOptions& options);
    void settle_mode_for_model();

    // Commands.
    void show_help(const std::string& topic) const;
    void show_settings() const;
    void show_stats() const;
    void set_setting(const std::string& args);
    void apply_settings(const Settings& changed);
    void set_contemplate(const std::string& args);
    void ask_once(Mode mode, const std::string& question);
    void switch_chat_mode(Mode mode);
    template <typename Answer>
    void in_mode(Mode mode, Answer answer);
    void attach(const std::string& path);
    void save_session(const std::string& name);
    void load_session(const std::string& name);
    void switch_model(const std::string& spec);
    void run_lua(const std::string& code);
    void run_script(const std::string& args);

    void log_exchange(LoggedExchange exchange, const std::vector<std::string>& files);
    void log_reply(const char* mode, const std::string& prompt, const Reply& reply,
                   const std::vector<std::string>& files);

    ReplSetup setup_;
    LoadedModel model_;
    AssistantOptions built_options_;
    std::unique_ptr<Assistant> assistant_;
    ChatSession session_;
    Mode mode_ = Mode::quick;
    Mode chat_mode_ = Mode::quick;  // quick or contemplate: what /quick or /contemplate chose
    // The mode of the last answer when it was not the session's (/contemplate QUESTION): /retry
    // answers again as it was answered. A mode switch clears it.
    std::optional<Mode> retry_mode_;
    bool show_chains_ = false;
    std::vector<Attachment> attachments_;
    std::string last_raw_input_;
    std::string last_stats_;
    int64_t last_raw_tokens_ = 0;
    int64_t conversation_id_ = 0;
    bool warned_about_log_ = false;
    bool leaving_ = false;
    SessionStore sessions_;
    LineEditor editor_;
    ReplScriptHost script_host_;
    ScriptRunner scripts_;
};

Repl::Repl(ReplSetup setup)
    : setup_(std::move(setup)),
      model_(setup_.model),
      built_options_{.context = setup_.settings.context,
                     .extra_cells = setup_.contemplate
                                        ? setup_.settings.contemplate.chains *
                                              setup_.settings.contemplate.think_tokens
                                        : 0},
      assistant_(std::make_unique<Assistant>(model_.model, built_options_)),
      session_(*assistant_, setup_.settings),
      show_chains_(setup_.show_chains),
      conversation_id_(setup_.conversation_id),
      sessions_(setup_.data_dir / "sessions"),
      editor_(LineEditorOptions{.history_file = setup_.data_dir / "history",
                                .history_size = 1000,
                                .complete =
                                    [this](std::string_view before, std::string_view word) {
                                        return complete_input(before, word, sessions_.names());
                                    }}),
      script_host_(session_, setup_.log ? &*setup_.log : nullptr),
      scripts_(script_host_, setup_.script_policy) {
    chat_mode_ = setup_.contemplate ? Mode::contemplate : Mode::quick;
    mode_ = chat_mode_;
    for (size_t i = 0; i + 1 < setup_.earlier_turns.size(); i += 2) {
        session_.add_exchange(setup_.earlier_turns[i].content, setup_.earlier_turns[i + 1].content);
    }
    settle_mode_for_model();
}

int Repl::run() {
    if (!setup_.quiet) {
        say_line("ponder " + setup_.version + ": " + model_.model->name() + " (context " +
                 std::to_string(assistant_->context_size()) + " tokens)");
        if (!setup_.earlier_turns.empty()) {
            say_line("Continuing conversation " + std::to_string(conversation_id_) + " (" +
                     plural(static_cast<int64_t>(setup_.earlier_turns.size() / 2), "exchange") +
                     ").");
        }
        say_line("Type a question; /help lists the commands; Ctrl-D leaves.");
    }
    while (!leaving_) {
        std::optional<std::string> input = editor_.read(prompt(), "...> ");
        if (!input) break;
        try {
            handle(*input);
        } catch (const Error& e) {
            report(e.what());
        } catch (const std::exception& e) {
            report(std::string("internal error: ") + e.what());
        }
        clear_interrupt();
    }
    return 0;
}

std::string Repl::prompt() const {
    switch (mode_) {
        case Mode::quick:
            return "ponder> ";
        case Mode::contemplate:
            return "ponder[contemplate " + std::to_string(session_.settings().contemplate.chains) +
                   "]> ";
        case Mode::raw:
            return "ponder[raw]> ";
    }
    return "ponder> ";
}

void Repl::handle(const std::string& input) {
    std::string_view text = trim(input);
    if (text.empty()) return;
    if (text.substr(0, 2) == "//") return ask(std::string(text.substr(1)));
    if (text[0] != '/') return ask(std::string(text));
    auto [name, args] = split_word(text);
    const CommandInfo* command = find_command(name);
    if (!command)
        fail("unknown command ", name,
             " (/help lists the commands; start with // to ask about it)");
    run_command(*command, args);
}

void Repl::run_command(const CommandInfo& command, const std::string& args) {
    const std::string_view name = command.name;
    auto no_arguments = [&] {
        if (!args.empty()) fail(name, " takes no arguments");
    };
    if (name == "/help") return show_help(args);
    if (name == "/exit") {
        no_arguments();
        leaving_ = true;
        return;
    }
    if (name == "/quick") {
        if (mode_ == Mode::raw)
            fail("the session is raw (--raw, or a model without a chat template)");
        if (!args.empty()) return ask_once(Mode::quick, args);
        switch_chat_mode(Mode::quick);
        return say_line("Quick answers, streamed.");
    }
    if (name == "/contemplate") return set_contemplate(args);
    if (name == "/think") {
        if (args.empty()) return say_line(std::string("think ") + (show_chains_ ? "on" : "off"));
        show_chains_ = parse_on_off("/think", args);
        return say_line(show_chains_ ? "Every chain will be shown when contemplating."
                                     : "Only the answer will be shown when contemplating.");
    }
    if (name == "/system") {
        if (args.empty()) {
            const std::string& system = session_.settings().system;
            return say_line(system.empty() ? "(no system prompt)" : "system: " + system);
        }
        Settings changed = session_.settings();
        changed.system = args == "-" ? std::string() : args;
        apply_settings(changed);
        return say_line(changed.system.empty() ? "System prompt removed." : "System prompt set.");
    }
    if (name == "/set") return set_setting(args);
    if (name == "/show") {
        no_arguments();
        return show_settings();
    }
    if (name == "/read") {
        if (args.empty()) fail("/read FILE: which file?");
        return attach(args);
    }
    if (name == "/save") return save_session(args);
    if (name == "/load") return load_session(args);
    if (name == "/clear") {
        no_arguments();
        session_.clear();
        last_raw_input_.clear();
        const bool had_files = !attachments_.empty();
        attachments_.clear();
        return say_line(had_files ? "Conversation and attached files forgotten."
                                  : "Conversation forgotten.");
    }
    if (name == "/retry") {
        no_arguments();
        return retry();
    }
    if (name == "/stats") {
        no_arguments();
        return show_stats();
    }
    if (name == "/model") return switch_model(args);
    if (name == "/lua") return run_lua(args);
    if (name == "/run") return run_script(args);
    fail(name, " is not implemented");
}

// ---------------------------------------------------------------------------------------------
// Answering

void Repl::ask(const std::string& question) {
    retry_mode_.reset();
    std::string text;
    std::vector<std::string> files;
    for (const Attachment& a : attachments_) {
        text += a.fenced + "\n";
        files.push_back(a.name);
    }
    text += question;
    switch (mode_) {
        case Mode::quick:
            ask_quick(text, files);
            break;
        case Mode::contemplate:
            ask_contemplating(text, files);
            break;
        case Mode::raw:
            ask_raw(text, files);
            break;
    }
    attachments_.clear();  // they went with this question (and stay in the conversation)
}

int64_t Repl::answer_reserve() const {
    const int64_t ctx = assistant_->context_size();
    if (mode_ == Mode::contemplate) return 0;  // chains think in cells of their own
    const int max_tokens = session_.settings().sampling.max_tokens;
    return max_tokens > 0 ? std::min<int64_t>(max_tokens, ctx / 2) : ctx / 4;
}

std::optional<int64_t> Repl::tokens_with(const std::string& user_text) const {
    std::vector<Message> messages = session_.messages();
    messages.push_back({"user", user_text});
    const std::string rendered = assistant_->render(messages);  // template errors propagate
    try {
        return static_cast<int64_t>(assistant_->tokenize_prompt(rendered).size());
    } catch (const Error&) {
        return std::nullopt;  // longer than the context
    }
}

// Drops the oldest exchanges until the conversation, the new question and room for the answer
// fit in the context. When even the question alone is too long, the conversation is left as it
// is and answering reports the error.
void Repl::make_room(const std::string& user_text, int64_t reserve) {
    const int64_t ctx = assistant_->context_size();
    const std::vector<Message> kept = session_.turns();
    int dropped = 0;
    for (;;) {
        std::optional<int64_t> tokens = tokens_with(user_text);
        if (tokens && *tokens + reserve <= ctx) break;
        if (!session_.drop_oldest_turn()) {
            if (!tokens) {
                // The question alone does not fit: dropping did not help, so keep the
                // conversation as it was and let answering report the error.
                session_.clear();
                for (size_t i = 0; i + 1 < kept.size(); i += 2) {
                    session_.add_exchange(kept[i].content, kept[i + 1].content);
                }
                dropped = 0;
            }
            break;
        }
        ++dropped;
    }
    if (dropped > 0) {
        report("the context (" + std::to_string(ctx) + " tokens) is full: dropped the oldest " +
               plural(dropped, "exchange") + " to make room (/clear forgets them all)");
    }
}

void Repl::ask_quick(const std::string& text, const std::vector<std::string>& files) {
    ensure_assistant();
    make_room(text, answer_reserve());
    AnswerPrinter printer;
    Reply reply;
    try {
        reply = session_.say(text, std::ref(printer), &interrupt_flag());
    } catch (...) {
        printer.finish();
        throw;
    }
    printer.finish();
    log_reply("quick", text, reply, files);
    after_reply(reply);
}

void Repl::after_reply(const Reply& reply) {
    last_stats_ = speed_line(reply);
    if (setup_.stats) report(last_stats_);
    if (reply.stop_reason == StopReason::cancelled) {
        report(
            mode_ == Mode::raw
                ? "stopped"
                : "stopped; the partial answer stays in the conversation (/retry answers again)");
    } else if (reply.stop_reason == StopReason::context_full) {
        report("the context (" + std::to_string(assistant_->context_size()) +
               " tokens) is full: the answer was cut short. The oldest exchanges make room for the "
               "next "
               "question; /clear starts afresh, /set ctx N gives more room");
    }
}

void Repl::ask_contemplating(const std::string& text, const std::vector<std::string>& files) {
    ensure_assistant();
    make_room(text, answer_reserve());
    std::vector<Message> conversation = session_.messages();
    conversation.push_back({"user", text});
    ContemplationResult result;
    {
        ChainProgressView view(stdout, isatty(STDOUT_FILENO) != 0);
        ContemplationHooks hooks;
        hooks.on_stage = [&](int round, std::string_view stage) { view.stage(round, stage); };
        hooks.on_progress = [&](std::span<const ChainProgress> chains) { view.update(chains); };
        result =
            contemplate(*assistant_, conversation, session_.settings(), hooks, &interrupt_flag());
    }
    LoggedExchange e = logged_contemplation(text, result, model_.model->load_seconds());
    e.options["confidence"] = result.confidence;
    log_exchange(std::move(e), files);
    last_stats_ = contemplation_speed_line(result);
    if (setup_.stats) report(last_stats_);
    if (result.cancelled) {
        report("stopped; nothing was added to the conversation");
        return;
    }
    write_now(printable(describe_contemplation(result, show_chains_)));
    session_.add_exchange(text, answer_turn(result));
}

void Repl::ask_raw(const std::string& text, const std::vector<std::string>& files) {
    AnswerPrinter printer;
    last_raw_input_ = text;
    Reply reply;
    try {
        reply = assistant_->complete(text, session_.settings().sampling, std::ref(printer),
                                     &interrupt_flag());
    } catch (...) {
        printer.finish();
        throw;
    }
    printer.finish();
    last_raw_tokens_ = reply.prompt_tokens + reply.timings.generated_tokens;
    log_reply("raw", text, reply, files);
    after_reply(reply);
}

void Repl::retry() {
    if (mode_ == Mode::raw) {
        if (last_raw_input_.empty()) fail("nothing to retry yet");
        return ask_raw(last_raw_input_, {});
    }
    const std::vector<Message>& turns = session_.turns();
    if (turns.size() < 2 || turns.back().role != "assistant")
        fail("nothing to retry: no answer yet");
    const std::string question = turns[turns.size() - 2].content;
    const std::string answer = turns.back().content;
    session_.drop_last_exchange();
    const size_t turns_before = session_.turns().size();
    try {
        in_mode(retry_mode_.value_or(mode_), [&] {
            if (mode_ == Mode::contemplate) {
                ask_contemplating(question, {});
            } else {
                ask_quick(question, {});
            }
        });
    } catch (...) {
        session_.add_exchange(question, answer);
        throw;
    }
    // A cancelled contemplation adds nothing: the earlier answer stays.
    if (session_.turns().size() == turns_before) session_.add_exchange(question, answer);
}

// ---------------------------------------------------------------------------------------------
// The model and its context

AssistantOptions Repl::wanted_options() const {
    const Settings& s = session_.settings();
    AssistantOptions options{.context = s.context, .extra_cells = 0};
    if (mode_ == Mode::contemplate)
        options.extra_cells = s.contemplate.chains * s.contemplate.think_tokens;
    return options;
}

// Contemplation needs room for its chains, and /set ctx a context of another size: both need a
// new Assistant (the conversation stays; its cached prefix is recomputed on the next answer).
void Repl::ensure_assistant() {
    AssistantOptions wanted = wanted_options();
    if (wanted.context == built_options_.context &&
        wanted.extra_cells <= built_options_.extra_cells)
        return;
    replace_assistant(model_, wanted);
}

void Repl::replace_assistant(const LoadedModel& model, const AssistantOptions& options) {
    auto fresh = std::make_unique<Assistant>(model.model, options);
    session_.set_assistant(*fresh);
    assistant_ = std::move(fresh);
    built_options_ = options;
}

void Repl::settle_mode_for_model() {
    if (setup_.raw || !model_.model->has_chat_template()) {
        if (mode_ != Mode::raw && !setup_.raw) {
            std::string why;
            try {
                model_.model->chat_template();
            } catch (const Error& e) {
                why = e.what();
            }
            // A template that exists but cannot be used is worth its own explanation.
            const bool broken = why.find("cannot be used") != std::string::npos;
            report((broken ? why + "; so" : model_.model->name() + " has no chat template, so") +
                   " the session runs raw: each input is continued as plain text, without earlier "
                   "turns "
                   "(--chat-template FILE gives it a chat format)");
        }
        mode_ = Mode::raw;
        return;
    }
    mode_ = chat_mode_;
}

// ---------------------------------------------------------------------------------------------
// Commands

void Repl::show_help(const std::string& topic) const {
    if (!topic.empty()) {
        const CommandInfo* c = find_command(topic[0] == '/' ? topic : "/" + topic);
        if (!c) fail("no command ", topic, " (/help lists them)");
        say_line(std::string(c->name) + (c->arguments.empty() ? "" : " ") +
                 std::string(c->arguments) + "\n  " + std::string(c->help));
        if (c->name == "/set") {
            for (const SettingInfo& s : setting_table()) {
                char line[200];
                std::snprintf(line, sizeof line, "  %-18s %-9s %s", std::string(s.name).c_str(),
                              std::string(s.value_kind).c_str(), std::string(s.help).c_str());
                say_line(line);
            }
        }
        return;
    }
    std::string out(kHelpIntro);
    out += "Commands:\n";
    for (const CommandInfo& c : command_table()) {
        std::string usage =
            std::string(c.name) + (c.arguments.empty() ? "" : " " + std::string(c.arguments));
        char line[200];
        std::snprintf(line, sizeof line, "  %-22s %s\n", usage.c_str(),
                      std::string(c.help).c_str());
        out += line;
    }
    out += kHelpKeys;
    write_now(out);
}

void Repl::show_settings() const {
    std::string mode =
        mode_ == Mode::quick ? "quick"
        : mode_ == Mode::contemplate
            ? "contemplate (" + plural(session_.settings().contemplate.chains, "chain") + ")"
            : "raw (no chat template)";
    const std::string& system = session_.settings().system;
    std::string out =
        "model   " + model_.label + " (context " + std::to_string(assistant_->context_size()) +
        " tokens)\nmode    " + mode + "; think " + (show_chains_ ? "on" : "off") + "\nsystem  " +
        (system.empty() ? "(none)" : printable(system)) + "\nturns   " +
        plural(static_cast<int64_t>(session_.turns().size() / 2), "exchange") +
        (attachments_.empty() ? ""
                              : "; " + plural(static_cast<int64_t>(attachments_.size()), "file") +
                                    " attached to the next question") +
        "\nsettings:\n";
    for (const SettingInfo& s : setting_table()) {
        if (s.name == "system") continue;
        char line[200];
        std::snprintf(line, sizeof line, "  %-18s %s\n", std::string(s.name).c_str(),
                      s.get(session_.settings()).c_str());
        out += line;
    }
    write_now(out);
}

void Repl::show_stats() const {
    say_line(last_stats_.empty() ? "No answer yet." : last_stats_);
    const int64_t ctx = assistant_->context_size();
    int64_t used = last_raw_tokens_;
    if (mode_ != Mode::raw) {
        try {
            used = session_.token_count();
        } catch (const Error&) {
            return say_line("context: the conversation no longer fits in " + std::to_string(ctx) +
                            " tokens");
        }
    }
    char line[160];
    std::snprintf(line, sizeof line, "context: %lld of %lld tokens used (%.0f%%), ",
                  static_cast<long long>(used), static_cast<long long>(ctx),
                  ctx > 0 ? 100.0 * static_cast<double>(used) / static_cast<double>(ctx) : 0.0);
    say_line(line + plural(static_cast<int64_t>(session_.turns().size() / 2), "exchange"));
}

void Repl::set_setting(const std::string& args) {
    auto [name, value] = split_word(args);
    if (name.empty()) fail("/set PARAM VALUE: which setting? (/show lists them)");
    const SettingInfo* info = find_setting(name);
    if (!info) fail("unknown setting '", name, "' (/show lists them)");
    if (value.empty())
        return say_line(std::string(info->name) + " = " + info->get(session_.settings()));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
    Settings changed = session_.settings();
    info->set(changed, value);
    apply_settings(changed);
    say_line(std::string(info->name) + " = " + info->get(session_.settings()));
}

// Takes new settings in, rebuilding what depends on them.
void Repl::apply_settings(const Settings& changed) {
    const Settings before = session_.settings();
    session_.settings() = changed;
    try {
        ensure_assistant();
    } catch (...) {
        session_.settings() = before;
        throw;
    }
    if (changed.threads != before.threads) set_global_thread_count(changed.threads);
}

void Repl::set_contemplate(const std::string& args) {
    if (mode_ == Mode::raw)
        fail(
            "contemplating needs a chat, and the session is raw (--raw, or a model without a chat "
            "template)");
    // "/contemplate [N] [QUESTION]": a leading number is the chains setting; a question is
    // contemplated at once, the session staying in the mode it was in.
    auto [first, rest] = split_word(args);
    const bool number =
        !first.empty() && first.find_first_not_of("0123456789") == std::string::npos;
    if (number) {
        Settings changed = session_.settings();
        find_setting("chains")->set(changed, first);
        apply_settings(changed);
    }
    const std::string question = number ? rest : std::string(trim(args));
    if (!question.empty()) return ask_once(Mode::contemplate, question);
    switch_chat_mode(Mode::contemplate);
    say_line("Contemplating with " + plural(session_.settings().contemplate.chains, "chain") +
             " (/think on shows them; /quick goes back).");
}

// The session's mode from now on; /retry, too, answers in it.
void Repl::switch_chat_mode(Mode mode) {
    chat_mode_ = mode_ = mode;
    retry_mode_.reset();
}

// One question in the given mode; the session's mode stays as it was.
void Repl::ask_once(Mode mode, const std::string& question) {
    in_mode(mode, [&] { ask(question); });
    retry_mode_ = mode;
}

// Runs `answer` with mode_ set to `mode` (what sizes the context and picks the answer path),
// then puts the session's mode back.
template <typename Answer>
void Repl::in_mode(Mode mode, Answer answer) {
    const Mode before = mode_;
    mode_ = mode;
    try {
        answer();
    } catch (...) {
        mode_ = before;
        throw;
    }
    mode_ = before;
}

void Repl::attach(const std::string& path) {
    const std::string file = expand_home(path);
    std::string text = read_text_file(file);
    attachments_.push_back({path, fence_file(path, text)});
    int64_t lines =
        std::count(text.begin(), text.end(), '\n') + (text.empty() || text.back() == '\n' ? 0 : 1);
    say_line("Attached " + path + " (" + plural(lines, "line") +
             "); it goes with your next question.");
}

void Repl::save_session(const std::string& name) {
    if (name.empty()) fail("/save NAME: which name?");
    nlohmann::json json = session_.to_json(model_.label);
    json["repl"] = {{"mode", chat_mode_ == Mode::contemplate ? "contemplate" : "quick"},
                    {"think", show_chains_}};
    sessions_.save(name, json);
    say_line("Saved session " + name + " (" +
             plural(static_cast<int64_t>(session_.turns().size() / 2), "exchange") + ") to " +
             sessions_.path_of(name).string());
}

void Repl::load_session(const std::string& name) {
    if (name.empty()) fail("/load NAME: which session?");
    nlohmann::json json = sessions_.load(name);
    const Settings before = session_.settings();
    const std::vector<Message> turns_before = session_.turns();
    std::string saved_model;
    try {
        saved_model = session_.load_json(json);
        apply_settings(session_.settings());
    } catch (...) {
        session_.settings() = before;
        session_.clear();
        for (size_t i = 0; i + 1 < turns_before.size(); i += 2) {
            session_.add_exchange(turns_before[i].content, turns_before[i + 1].content);
        }
        throw;
    }
    retry_mode_.reset();  // its last answer was not given here
    if (session_.settings().threads != before.threads)
        set_global_thread_count(session_.settings().threads);
    if (json.contains("repl") && json["repl"].is_object()) {
        const nlohmann::json& repl = json["repl"];
        if (repl.value("mode", "") == "contemplate") chat_mode_ = Mode::contemplate;
        if (repl.value("mode", "") == "quick") chat_mode_ = Mode::quick;
        if (repl.contains("think") && repl["think"].is_boolean())
            show_chains_ = repl["think"].get<bool>();
        if (mode_ != Mode::raw) mode_ = chat_mode_;
    }
    attachments_.clear();
    say_line("Loaded session " + name + " (" +
             plural(static_cast<int64_t>(session_.turns().size() / 2), "exchange") + ").");
    if (!saved_model.empty() && saved_model != model_.label) {
        say_line("It was saved with " + saved_model + "; it goes on with " + model_.label +
                 " (/model switches).");
    }
}

void Repl::switch_model(const std::string& spec) {
    if (spec.empty()) {
        return say_line(model_.label + " (context " + std::to_string(assistant_->context_size()) +
                        " tokens)");
    }
    if (!setup_.load_model) fail("/model is not available here");
    write_now("loading " + spec + "...");
    LoadedModel loaded;
    try {
        loaded = setup_.load_model(spec);
        replace_assistant(loaded, wanted_options());
    } catch (...) {
        write_now("\r\033[K");
        throw;
    }
    write_now("\r\033[K");
    model_ = std::move(loaded);
    settle_mode_for_model();
    say_line("Model: " + model_.label + " (context " + std::to_string(assistant_->context_size()) +
             " tokens); the conversation goes on.");
}

void Repl::run_lua(const std::string& code) {
    if (code.empty()) fail("/lua CODE: which code? (/lua = EXPR prints a value)");
    // "= EXPR" prints the value, as Lua's own interpreter once did.
    if (code[0] == '=') return scripts_.run_code("print(" + code.substr(1) + ")");
    scripts_.run_code(code);
}

void Repl::run_script(const std::string& args) {
    std::vector<std::string> words = split_words(args);
    if (words.empty()) fail("/run FILE [ARGS...]: which script?");
    std::string script = expand_home(words[0]);
    words.erase(words.begin());
    int status = scripts_.run_file(script, words);
    if (status != 0) report("the script exited with status " + std::to_string(status));
}

void Repl::log_reply(const char* mode, const std::string& prompt, const Reply& reply,
                     const std::vector<std::string>& files) {
    log_exchange(logged_reply(mode, prompt, reply, reply.timings.generated_tokens,
                              model_.model->load_seconds()),
                 files);
}

void Repl::log_exchange(LoggedExchange e, const std::vector<std::string>& files) {
    if (!setup_.log) return;
    try {
        if (conversation_id_ == 0) conversation_id_ = setup_.log->start_conversation();
        e.conversation_id = conversation_id_;
        e.model = model_.label;
        e.system = session_.settings().system;
        nlohmann::json extra = e.options;
        e.options = settings_to_json(session_.settings());
        for (const auto& [key, value] : extra.items()) e.options[key] = value;
        e.options["interface"] = "repl";
        if (!files.empty()) e.options["files"] = files;
        setup_.log->append(std::move(e));
    } catch (const Error& error) {
        // The answer was shown; a log that cannot be written must not end the session.
        if (!warned_about_log_)
            report(std::string("warning: the exchange was not logged: ") + error.what());
        warned_about_log_ = true;
    }
}

}  // namespace

int run_repl(ReplSetup setup) {
    Repl repl(std::move(setup));
    return repl.run();
}

}  // namespace ponder::repl
