// The interactive session. Its parts (completion, history encoding, saved sessions, result
// display) are tested directly; the session itself is driven as a person at a terminal would
// drive it: the real binary on a pseudo-terminal, keys in, screen output out.
//
// The chat model has random weights (its answers are gibberish), so the tests bound answers
// with greedy sampling and a token limit and check structure, never words.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "reason/conversation_log.h"
#include "repl/commands.h"
#include "repl/completion.h"
#include "repl/line_editor.h"
#include "repl/script_bridge.h"
#include "repl/session_store.h"
#include "repl/terminal.h"
#include "tests/pty_session.h"
#include "tests/support.h"

namespace ponder::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kChatModel = "models/rand-llama-q8_0.gguf";
constexpr const char* kStoryModel = "models/TinyStories-656K-Q8_0.gguf";
constexpr const char* kPrompt = "ponder> ";

std::string shared(const char* relative) {
    return (shared_dir() / relative).string();
}
fs::path data_dir(const TempDir& home) {
    return home.path() / ".local/share/ponder";
}

// Starts a session on the chat model with greedy answers of at most `max_tokens` tokens and
// waits for its first prompt.
std::unique_ptr<PtySession> start_chat(const TempDir& home, std::vector<std::string> extra = {},
                                       int max_tokens = 6) {
    std::vector<std::string> args = {"-m", shared(kChatModel),        "--temp", "0",
                                     "-n", std::to_string(max_tokens)};
    args.insert(args.end(), extra.begin(), extra.end());
    auto session = std::make_unique<PtySession>(args, home.path().string());
    EXPECT_TRUE(session->expect(kPrompt)) << session->output();
    return session;
}

// Asks a question and waits for the next prompt; returns what was shown in between. Call it at
// a prompt: text typed ahead is echoed by the terminal before the prompt it belongs after.
std::string ask(PtySession& session, const std::string& question,
                const std::string& prompt = kPrompt) {
    session.send_line(question);
    EXPECT_TRUE(session.expect(question)) << session.output();
    const size_t from = session.output().size() - session.recent().size();
    EXPECT_TRUE(session.expect(prompt)) << session.output();
    std::string shown = session.output().substr(from);
    return shown.substr(0, shown.rfind(prompt));
}

// True when the output holds something visible: escape sequences (readline turning bracketed
// paste on and off) and white space do not count.
bool has_text(std::string_view s) {
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
            i += 2;
            while (i < s.size() && !(s[i] >= 0x40 && s[i] <= 0x7E)) ++i;
            continue;
        }
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return true;
    }
    return false;
}

nlohmann::json saved_session(const TempDir& home, const std::string& name) {
    return nlohmann::json::parse(read_file(data_dir(home) / "sessions" / (name + ".json")));
}

// Ends a session with /exit: unlike Ctrl-D, typed text survives being typed ahead of the prompt
// (the terminal drops an end-of-file typed while it is not in readline's mode).
void leave(PtySession& session) {
    session.send_line("/exit");
    EXPECT_EQ(session.wait_exit(), 0) << session.output();
}

// ---------------------------------------------------------------------------------------------
// Parts

TEST(ReplParts, CompletesCommandsSettingsSessionsAndValues) {
    auto c = repl::complete_input("", "/co", {});
    EXPECT_EQ(c.candidates, std::vector<std::string>{"/contemplate"});
    EXPECT_FALSE(c.paths);
    EXPECT_GE(repl::complete_input("", "/", {}).candidates.size(), repl::command_table().size());
    EXPECT_TRUE(
        repl::complete_input("", "hello", {}).candidates.empty());  // questions are not completed

    EXPECT_EQ(repl::complete_input("/set ", "te", {}).candidates, std::vector<std::string>{"temp"});
    EXPECT_EQ(repl::complete_input("/set ", "think", {}).candidates,
              std::vector<std::string>{"think-tokens"});
    EXPECT_EQ(repl::complete_input("/set vote ", "o", {}).candidates,
              (std::vector<std::string>{"on", "off"}));
    EXPECT_TRUE(repl::complete_input("/set temp ", "", {}).candidates.empty());
    EXPECT_EQ(repl::complete_input("/think ", "of", {}).candidates,
              std::vector<std::string>{"off"});
    EXPECT_EQ(repl::complete_input("/load ", "al", {"alpha", "beta", "alps"}).candidates,
              (std::vector<std::string>{"alpha", "alps"}));
    EXPECT_EQ(repl::complete_input("/help ", "sy", {}).candidates,
              std::vector<std::string>{"system"});
    EXPECT_TRUE(repl::complete_input("/nosuch ", "x", {}).candidates.empty());
}

TEST(ReplParts, CompletesPathsAfterFileCommands) {
    TempDir dir;
    write_file(dir.path() / "notes.txt", "x");
    write_file(dir.path() / "nothing.lua", "x");
    write_file(dir.path() / ".hidden", "x");
    fs::create_directory(dir.path() / "nested");
    const std::string base = dir.path().string() + "/";

    auto c = repl::complete_input("/read ", base + "no", {});
    EXPECT_TRUE(c.paths);
    EXPECT_EQ(c.candidates, (std::vector<std::string>{base + "notes.txt", base + "nothing.lua"}));
    EXPECT_EQ(repl::complete_input("/model ", base + "ne", {}).candidates,
              std::vector<std::string>{base + "nested/"});
    EXPECT_EQ(repl::complete_input("/run script.lua ", base + "note", {}).candidates,
              std::vector<std::string>{base + "notes.txt"});  // script arguments too
    EXPECT_EQ(repl::complete_path(base).size(), 3u);          // no hidden files...
    EXPECT_EQ(repl::complete_path(base + ".h"),
              std::vector<std::string>{base + ".hidden"});                       // ...unless asked
    EXPECT_TRUE(repl::complete_input("/read a ", base, {}).candidates.empty());  // one file only
}

TEST(ReplParts, HistoryEntriesRoundTripOnOneLine) {
    for (std::string entry : {"plain", "two\nlines", "back\\slash\\n literal",
                              "\"\"\"block\n\nend\"\"\"", "trailing\\"}) {
        std::string line = repl::encode_history_entry(entry);
        EXPECT_EQ(line.find('\n'), std::string::npos) << entry;
        EXPECT_EQ(repl::decode_history_entry(line), entry);
    }
}

TEST(ReplParts, BlocksDropBlankEdges) {
    EXPECT_EQ(repl::join_block({"", "one", "", "two", "  "}), "one\n\ntwo");
    EXPECT_EQ(repl::join_block({""}), "");
}

TEST(ReplParts, SessionStoreWritesAtomicallyAndRefusesOddNames) {
    TempDir dir;
    repl::SessionStore store(dir.path() / "sessions");
    EXPECT_TRUE(store.names().empty());  // no directory yet
    store.save("first", {{"format", "ponder-session-1"}, {"turns", nlohmann::json::array()}});
    store.save("second.v2", {{"n", 2}});
    store.save("first", {{"n", 3}});  // replaced
    EXPECT_EQ(store.load("first")["n"], 3);
    EXPECT_EQ(store.names(), (std::vector<std::string>{"first", "second.v2"}));
    for (const auto& entry : fs::directory_iterator(store.dir())) {
        EXPECT_EQ(entry.path().extension(), ".json") << "left behind: " << entry.path();
        EXPECT_EQ(fs::status(entry.path()).permissions() & fs::perms::others_read, fs::perms::none);
    }
    for (std::string bad : {"", "../x", ".hidden", "a/b", "sp ace"}) {
        EXPECT_FALSE(repl::valid_session_name(bad)) << bad;
        EXPECT_THROW(store.save(bad, nlohmann::json::object()), Error) << bad;
    }
    EXPECT_THROW(store.load("missing"), Error);
    write_file(store.dir() / "broken.json", "{not json");
    EXPECT_THROW(store.load("broken"), Error);
}

TEST(ReplParts, ModelTextCannotDriveTheTerminal) {
    EXPECT_EQ(repl::printable("plain\ttext\n"), "plain\ttext\n");
    EXPECT_EQ(repl::printable("a\x1b]0;title\x07z"), "a\xEF\xBF\xBD]0;title\xEF\xBF\xBDz");
    EXPECT_EQ(repl::printable("line\r\n"), "line\n");
    EXPECT_EQ(repl::printable("\xC2\x9B"
                              "31m"),
              "\xEF\xBF\xBD"
              "31m");  // C1 CSI
    EXPECT_EQ(repl::printable("caf\xC3\xA9"), "caf\xC3\xA9");
    EXPECT_EQ(repl::fit_width("h\xC3\xA9llo", 2), "h");  // never half a character
}

TEST(ReplParts, LuaErrorsAreOneLine) {
    EXPECT_EQ(repl::first_line_of_error("/lua:1: boom\nstack traceback:\n\t[C]: in ?"),
              "/lua:1: boom");
    EXPECT_EQ(repl::first_line_of_error("plain"), "plain");
}

// ---------------------------------------------------------------------------------------------
// The session on a terminal

TEST(Repl, AnswersStreamAndTheConversationGoesOn) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    auto s = start_chat(home);
    EXPECT_NE(s->output().find("/help"), std::string::npos) << s->output();  // the banner
    EXPECT_TRUE(has_text(ask(*s, "Hello there")));
    EXPECT_TRUE(has_text(ask(*s, "And again?")));
    s->send_line("/save two");
    EXPECT_TRUE(s->expect("2 exchanges")) << s->output();
    leave(*s);

    nlohmann::json saved = saved_session(home, "two");
    ASSERT_EQ(saved["turns"].size(), 4u) << saved;
    EXPECT_EQ(saved["turns"][0]["content"], "Hello there");
    EXPECT_EQ(saved["turns"][1]["role"], "assistant");
    EXPECT_EQ(saved["turns"][2]["content"], "And again?");

    // Every exchange is logged, in one conversation, as the command line logs them.
    ConversationLog log =
        ConversationLog::open(data_dir(home) / "conversations.db", [](const std::string&) {});
    auto exchanges = log.recent(10);
    ASSERT_EQ(exchanges.size(), 2u);
    EXPECT_EQ(exchanges[0].conversation_id, exchanges[1].conversation_id);
    EXPECT_EQ(exchanges[1].prompt, "Hello there");
    EXPECT_EQ(exchanges[0].mode, "quick");
    EXPECT_EQ(exchanges[0].options["interface"], "repl");
    EXPECT_EQ(exchanges[0].options["temp"], "0");
    EXPECT_GT(exchanges[0].answer_tokens, 0);
    EXPECT_EQ(exchanges[0].model, shared(kChatModel));
}

TEST(Repl, CtrlCStopsAnAnswerAndTheSessionGoesOn) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    auto s = start_chat(home, {}, 1000000);
    s->send_line("Tell me everything");
    ASSERT_TRUE(s->expect("Tell me everything\r\n")) << s->output();
    ASSERT_TRUE(s->wait_until([](std::string_view out) { return has_text(out); })) << s->output();
    s->ctrl_c();
    ASSERT_TRUE(s->expect("stopped")) << s->output();
    ASSERT_TRUE(s->expect(kPrompt)) << s->output();
    s->send_line("/set max-tokens 4");
    ASSERT_TRUE(s->expect("max-tokens = 4")) << s->output();
    ASSERT_TRUE(s->expect(kPrompt));
    EXPECT_TRUE(has_text(ask(*s, "Shorter, please")));
    s->send_line("/save cut");
    ASSERT_TRUE(s->expect("2 exchanges")) << s->output();
    leave(*s);
    nlohmann::json saved = saved_session(home, "cut");
    ASSERT_EQ(saved["turns"].size(), 4u);
    EXPECT_FALSE(
        saved["turns"][1]["content"].get<std::string>().empty());  // the partial answer stays
}

TEST(Repl, HistoryPersistsAndUpRecalls) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    {
        auto s = start_chat(home);
        s->send_line("/set top-k 7");
        ASSERT_TRUE(s->expect("top-k = 7")) << s->output();
        ASSERT_TRUE(s->expect(kPrompt));
        s->send_line(" /set top-k 8");  // a leading space keeps it out of the history
        ASSERT_TRUE(s->expect("top-k = 8")) << s->output();
        ASSERT_TRUE(s->expect(kPrompt));
        s->ctrl_d();
        ASSERT_EQ(s->wait_exit(), 0) << s->output();
    }
    std::string history = read_file(data_dir(home) / "history");
    EXPECT_EQ(history, "/set top-k 7\n");
    EXPECT_EQ(fs::status(data_dir(home) / "history").permissions() & fs::perms::group_read,
              fs::perms::none);

    auto s = start_chat(home);
    s->send("\x1b[A");  // Up
    ASSERT_TRUE(s->expect("/set top-k 7")) << s->output();
    s->send("\r");
    ASSERT_TRUE(s->expect("top-k = 7")) << s->output();
    ASSERT_TRUE(s->expect(kPrompt));
    s->send_line("/show");
    ASSERT_TRUE(s->expect("top-k")) << s->output();
    ASSERT_TRUE(s->expect("7")) << s->output();
    leave(*s);
}

TEST(Repl, SaveAndLoadWholeSessions) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    auto s = start_chat(home, {"--system", "Be brief."});
    ask(*s, "First question");
    s->send_line("/set temp 0.5");
    ASSERT_TRUE(s->expect("temp = 0.5")) << s->output();
    s->send_line("/contemplate 3");
    ASSERT_TRUE(s->expect("ponder[contemplate 3]> ")) << s->output();
    s->send_line("/save s1");
    ASSERT_TRUE(s->expect("Saved session s1 (1 exchange)")) << s->output();

    nlohmann::json saved = saved_session(home, "s1");
    EXPECT_EQ(saved["format"], "ponder-session-1");
    EXPECT_EQ(saved["system"], "Be brief.");
    EXPECT_EQ(saved["settings"]["temp"], "0.5");
    EXPECT_EQ(saved["settings"]["chains"], "3");
    EXPECT_EQ(saved["repl"]["mode"], "contemplate");
    ASSERT_EQ(saved["turns"].size(), 2u);
    EXPECT_EQ(saved["turns"][0]["content"], "First question");

    s->send_line("/quick");
    ASSERT_TRUE(s->expect(kPrompt));
    s->send_line("/clear");
    ASSERT_TRUE(s->expect("forgotten")) << s->output();
    s->send_line("/set temp 0");
    ASSERT_TRUE(s->expect("temp = 0"));
    s->send_line("/save empty");
    ASSERT_TRUE(s->expect("(0 exchanges)")) << s->output();
    s->send_line("/load s1");
    ASSERT_TRUE(s->expect("Loaded session s1 (1 exchange)")) << s->output();
    ASSERT_TRUE(s->expect("ponder[contemplate 3]> ")) << s->output();  // its mode came back too
    s->send_line("/save again");
    ASSERT_TRUE(s->expect("Saved session again")) << s->output();
    s->send_line("/load nosuch");
    ASSERT_TRUE(s->expect("no saved session 'nosuch'")) << s->output();
    s->send_line("/save ../escape");
    ASSERT_TRUE(s->expect("not a session name")) << s->output();
    leave(*s);

    nlohmann::json again = saved_session(home, "again");
    EXPECT_EQ(again["turns"], saved["turns"]);
    EXPECT_EQ(again["settings"], saved["settings"]);
    EXPECT_TRUE(saved_session(home, "empty")["turns"].empty());
    EXPECT_FALSE(fs::exists(data_dir(home) / "escape.json"));
}

TEST(Repl, SetAndShowUseTheSettingsTable) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    auto s = start_chat(home);
    s->send_line("/set temp 0.25");
    ASSERT_TRUE(s->expect("temp = 0.25")) << s->output();
    s->send_line("/set top_p 0.5");  // '_' for '-', as everywhere
    ASSERT_TRUE(s->expect("top-p = 0.5")) << s->output();
    s->send_line("/set stop END|STOP");
    ASSERT_TRUE(s->expect("stop = END|STOP")) << s->output();
    s->send_line("/set temp");
    ASSERT_TRUE(s->expect("temp = 0.25")) << s->output();
    s->send_line("/set nosuch 1");
    ASSERT_TRUE(s->expect("unknown setting 'nosuch'")) << s->output();
    s->send_line("/set temp hot");
    ASSERT_TRUE(s->expect("is not a number")) << s->output();
    s->send_line("/set ctx 256");  // a new context; the session goes on
    ASSERT_TRUE(s->expect("ctx = 256")) << s->output();
    s->send_line("/show");
    ASSERT_TRUE(s->expect("context 256 tokens")) << s->output();
    for (const char* name : {"temp", "top-p", "max-tokens", "chains", "verifier", "threads"}) {
        EXPECT_TRUE(s->expect(name)) << name << "\n" << s->output();
    }
    ASSERT_TRUE(s->expect(kPrompt));
    EXPECT_TRUE(has_text(ask(*s, "Still answering?")));
    leave(*s);
}

TEST(Repl, ClearRetryStatsAndHelp) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    auto s = start_chat(home);
    s->send_line("/retry");
    ASSERT_TRUE(s->expect("nothing to retry")) << s->output();
    ASSERT_TRUE(s->expect(kPrompt));
    ask(*s, "Question one");
    EXPECT_TRUE(has_text(ask(*s, "/retry")));
    s->send_line("/stats");
    ASSERT_TRUE(s->expect("tokens/s")) << s->output();
    ASSERT_TRUE(s->expect("context: ")) << s->output();
    s->send_line("/save retried");
    ASSERT_TRUE(s->expect("(1 exchange)")) << s->output();  // the retry replaced the answer
    s->send_line("/clear");
    ASSERT_TRUE(s->expect("forgotten")) << s->output();
    s->send_line("/save cleared");
    ASSERT_TRUE(s->expect("(0 exchanges)")) << s->output();
    s->send_line("/help");
    ASSERT_TRUE(s->expect("Commands:")) << s->output();
    ASSERT_TRUE(s->expect("/contemplate [N]")) << s->output();
    ASSERT_TRUE(s->expect("Ctrl-C")) << s->output();
    s->send_line("/help set");
    ASSERT_TRUE(s->expect("think-tokens")) << s->output();
    s->send_line("/frobnicate");
    ASSERT_TRUE(s->expect("unknown command /frobnicate")) << s->output();
    ASSERT_TRUE(s->expect(kPrompt));
    leave(*s);
    EXPECT_EQ(saved_session(home, "retried")["turns"][0]["content"], "Question one");
}

TEST(Repl, MultiLineInput) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    auto s = start_chat(home);
    s->send_line("\"\"\"");
    ASSERT_TRUE(s->expect("...> ")) << s->output();
    s->send_line("line one");
    ASSERT_TRUE(s->expect("...> ")) << s->output();
    s->send_line("line two\"\"\"");
    ASSERT_TRUE(s->expect(kPrompt)) << s->output();
    s->send_line("first\\");
    ASSERT_TRUE(s->expect("...> ")) << s->output();
    s->send_line("second");
    ASSERT_TRUE(s->expect(kPrompt)) << s->output();
    // Ctrl-C inside a block abandons it.
    s->send_line("\"\"\"");
    ASSERT_TRUE(s->expect("...> ")) << s->output();
    s->send("never sent");
    ASSERT_TRUE(s->expect("never sent")) << s->output();
    s->ctrl_c();
    ASSERT_TRUE(s->expect(kPrompt)) << s->output();
    s->send_line("/save lines");
    ASSERT_TRUE(s->expect("(2 exchanges)")) << s->output();
    leave(*s);
    nlohmann::json saved = saved_session(home, "lines");
    EXPECT_EQ(saved["turns"][0]["content"], "line one\nline two");
    EXPECT_EQ(saved["turns"][2]["content"], "first\nsecond");
    // The history keeps a block as one entry.
    EXPECT_NE(read_file(data_dir(home) / "history").find("\"\"\"line one\\nline two\"\"\""),
              std::string::npos);
}

TEST(Repl, ModesShowInThePrompt) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    auto s = start_chat(home);
    s->send_line("/contemplate");
    ASSERT_TRUE(s->expect("ponder[contemplate 5]> ")) << s->output();
    s->send_line("/contemplate 3");
    ASSERT_TRUE(s->expect("ponder[contemplate 3]> ")) << s->output();
    s->send_line("/contemplate 0");
    ASSERT_TRUE(s->expect("out of range")) << s->output();
    s->send_line("/think on");
    ASSERT_TRUE(s->expect("Every chain")) << s->output();
    s->send_line("/set think-tokens 24");
    ASSERT_TRUE(s->expect("ponder[contemplate 3]> ")) << s->output();
    s->send_line("What is 2+3?");
    // Random weights rarely reach an answer; either way the result is reported, chains first.
    ASSERT_TRUE(s->expect("--- chain 1")) << s->output();
    // The result, then the prompt again (one wait: both may arrive in one read).
    ASSERT_TRUE(s->wait_until([](std::string_view out) {
        size_t result = std::min(out.find("Confidence: "), out.find("No answer"));
        return result != std::string_view::npos &&
               out.find("ponder[contemplate 3]> ", result) != std::string_view::npos;
    })) << s->output();
    s->send_line("/quick");
    ASSERT_TRUE(s->expect(kPrompt)) << s->output();
    // A question after the command: that question only, contemplated; the mode stays quick.
    // A leading number is still the chains setting.
    s->send_line("/think off");
    ASSERT_TRUE(s->expect(kPrompt)) << s->output();
    // A contemplation's result after the last `line`, then the quick prompt again.
    const auto contemplated_after = [](std::string line) {
        return [line](std::string_view out) {
            const size_t asked = out.rfind(line);
            const size_t result =
                std::min(out.find("Confidence: ", asked), out.find("No answer", asked));
            return result != std::string_view::npos &&
                   out.find(kPrompt, result) != std::string_view::npos;
        };
    };
    s->send_line("/contemplate 2 What is 4+4?");
    ASSERT_TRUE(s->wait_until(contemplated_after("/contemplate 2 What is 4+4?"))) << s->output();
    // /retry answers that question again as it was answered: contemplated.
    s->send_line("/retry");
    ASSERT_TRUE(s->wait_until(contemplated_after("/retry"))) << s->output();
    s->send_line("/set chains");
    ASSERT_TRUE(s->expect("chains = 2")) << s->output();
    s->send_line("/contemplate");
    ASSERT_TRUE(s->expect("ponder[contemplate 2]> ")) << s->output();
    s->send_line("/quick What is 1+1?");
    ASSERT_TRUE(s->wait_until([](std::string_view out) {
        const size_t asked = out.rfind("/quick What is 1+1?");
        return out.find("ponder[contemplate 2]> ", asked) != std::string_view::npos;
    })) << s->output();
    EXPECT_EQ(s->output().find("Confidence: ", s->output().rfind("/quick What is 1+1?")),
              std::string::npos)
        << "a quick answer has no confidence";
    // And quickly again, although the session contemplates.
    s->send_line("/retry");
    ASSERT_TRUE(s->wait_until([](std::string_view out) {
        return out.find("ponder[contemplate 2]> ", out.rfind("/retry")) != std::string_view::npos;
    })) << s->output();
    EXPECT_EQ(s->output().find("Confidence: ", s->output().rfind("/retry")), std::string::npos)
        << "/retry after /quick QUESTION answers quickly";
    EXPECT_EQ(s->output().find("No answer", s->output().rfind("/retry")), std::string::npos)
        << "/retry after /quick QUESTION answers quickly";
    leave(*s);

    // Starting in contemplation: --contemplate and --chains apply to the session.
    auto c = std::make_unique<PtySession>(
        std::vector<std::string>{"-m", shared(kChatModel), "--contemplate", "--chains", "4"},
        home.path().string());
    ASSERT_TRUE(c->expect("ponder[contemplate 4]> ")) << c->output();
    leave(*c);
}

TEST(Repl, CtrlDAndDoubleCtrlCLeaveWithZero) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    auto s = start_chat(home);
    s->send("some text");
    // Ctrl-C flushes the terminal's input queue: wait until readline has the text.
    ASSERT_TRUE(s->expect("some text")) << s->output();
    s->ctrl_c();  // clears the line, does not leave
    ASSERT_TRUE(s->expect(kPrompt)) << s->output();
    s->ctrl_c();
    ASSERT_TRUE(s->expect("Ctrl-C again")) << s->output();
    s->ctrl_c();
    EXPECT_EQ(s->wait_exit(), 0) << s->output();

    auto d = start_chat(home);
    d->send_line("/exit");
    EXPECT_EQ(d->wait_exit(), 0) << d->output();

    auto e = start_chat(home);  // at the prompt
    e->ctrl_d();
    EXPECT_EQ(e->wait_exit(), 0) << e->output();
}

TEST(Repl, NeverStartsWithoutATerminalOnBothSides) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    PtySession no_stdin({"-m", shared(kChatModel)}, home.path().string(), {},
                        {.stdin_file = "/dev/null", .stdout_file = ""});
    EXPECT_EQ(no_stdin.wait_exit(), 2) << no_stdin.output();
    EXPECT_NE(no_stdin.output().find("the prompt is empty"), std::string::npos)
        << no_stdin.output();
    EXPECT_EQ(no_stdin.output().find(kPrompt), std::string::npos);

    PtySession no_stdout({"-m", shared(kChatModel)}, home.path().string(), {},
                         {.stdin_file = "", .stdout_file = (home.path() / "out.txt").string()});
    EXPECT_EQ(no_stdout.wait_exit(), 2) << no_stdout.output();
    EXPECT_NE(no_stdout.output().find("no prompt"), std::string::npos) << no_stdout.output();
    EXPECT_EQ(read_file(home.path() / "out.txt"), "");

    auto piped = run_ponder({"-m", shared(kChatModel)});
    EXPECT_EQ(piped.exit_code, 2) << piped.err;
}

TEST(Repl, TabCompletes) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    write_file(home.path() / "notes.txt", "alpha beta\n");
    auto s = start_chat(home);
    s->send("/he\t");
    ASSERT_TRUE(s->expect("lp ")) << s->output();
    s->send("\r");
    ASSERT_TRUE(s->expect("Commands:")) << s->output();
    ASSERT_TRUE(s->expect(kPrompt));
    s->send("/set te\t");
    ASSERT_TRUE(s->expect("mp ")) << s->output();
    s->send("0.5\r");
    ASSERT_TRUE(s->expect("temp = 0.5")) << s->output();
    s->send_line("/save alpha");
    ASSERT_TRUE(s->expect("Saved")) << s->output();
    s->send("/load al\t");
    ASSERT_TRUE(s->expect("pha ")) << s->output();
    s->send("\r");
    ASSERT_TRUE(s->expect("Loaded session alpha")) << s->output();
    s->send("/read " + home.path().string() + "/no\t");
    ASSERT_TRUE(s->expect("tes.txt ")) << s->output();
    s->send("\r");
    ASSERT_TRUE(s->expect("Attached")) << s->output();
    leave(*s);
}

TEST(Repl, ReadAttachesAFileToTheNextQuestion) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    write_file(home.path() / "notes.md", "alpha beta\n");
    write_file(home.path() / "blob.bin", std::string("\0\1\2", 3));
    auto s = start_chat(home);
    const std::string notes = (home.path() / "notes.md").string();
    s->send_line("/read " + notes);
    ASSERT_TRUE(s->expect("Attached")) << s->output();
    s->send_line("/read " + (home.path() / "blob.bin").string());
    ASSERT_TRUE(s->expect("binary")) << s->output();
    s->send_line("/read /no/such/file");
    ASSERT_TRUE(s->expect("cannot read")) << s->output();
    ASSERT_TRUE(s->expect(kPrompt));
    ask(*s, "Summarize it");
    ask(*s, "Without the file");
    s->send_line("/save files");
    ASSERT_TRUE(s->expect("Saved")) << s->output();
    leave(*s);
    nlohmann::json saved = saved_session(home, "files");
    const std::string first = saved["turns"][0]["content"];
    EXPECT_EQ(first.rfind("File: " + notes + "\n```\nalpha beta\n```\n", 0), 0u) << first;
    EXPECT_TRUE(first.ends_with("Summarize it")) << first;
    EXPECT_EQ(saved["turns"][2]["content"], "Without the file");  // attached once only
}

TEST(Repl, LuaRunsInsideTheSession) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    write_file(home.path() / "hello.lua",
               "print('script says ' .. arg[1] .. ' ' .. (counter or 'none'))\n");
    auto s = start_chat(home);
    s->send_line("/lua print(6 * 7)");
    ASSERT_TRUE(s->expect("42")) << s->output();
    s->send_line("/lua counter = 10");
    ASSERT_TRUE(s->expect(kPrompt));
    s->send_line("/lua = counter + 1");  // globals persist from one /lua to the next
    ASSERT_TRUE(s->expect("11")) << s->output();
    // The ponder module works on the session's model.
    s->send_line(
        "/lua print('module', ponder.model().layers > 0, ponder.count_tokens('hello') > 0)");
    ASSERT_TRUE(s->expect("module\ttrue\ttrue")) << s->output();
    s->send_line("/lua error('boom')");
    ASSERT_TRUE(s->expect("boom")) << s->output();
    ASSERT_TRUE(s->expect(kPrompt));
    EXPECT_EQ(s->output().find("stack traceback"), std::string::npos) << s->output();
    s->send_line("/lua os.execute('true')");
    ASSERT_TRUE(s->expect("not allowed")) << s->output();
    s->send_line("/run " + (home.path() / "hello.lua").string() + " there");
    ASSERT_TRUE(s->expect("script says there 10")) << s->output();
    s->send_line("/run /no/such.lua");
    ASSERT_TRUE(s->expect("no such script")) << s->output();
    ASSERT_TRUE(s->expect(kPrompt));  // Ctrl-C would drop text typed ahead of it
    // Ctrl-C ends a runaway script, not the session.
    s->send_line("/lua while true do end");
    ASSERT_TRUE(s->expect("/lua while true do end\r\n")) << s->output();
    s->ctrl_c();
    ASSERT_TRUE(s->expect("interrupted")) << s->output();
    ASSERT_TRUE(s->expect(kPrompt));
    EXPECT_TRUE(has_text(ask(*s, "Still here?")));
    leave(*s);
}

TEST(Repl, AFullContextDropsTheOldestExchanges) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    // 96 tokens hold an exchange or two; answers of up to 24 tokens.
    auto s = start_chat(home, {"--ctx", "96"}, 24);
    bool dropped = false;
    for (int i = 0; i < 6 && !dropped; ++i) {
        std::string shown = ask(*s, "Question number " + std::to_string(i));
        dropped = s->output().find("dropped the oldest") != std::string::npos;
    }
    EXPECT_TRUE(dropped) << s->output();
    // With no token limit, an answer runs into the end of the context and is cut short.
    s->send_line("/clear");
    s->send_line("/set max-tokens -1");
    ASSERT_TRUE(s->expect("max-tokens = -1")) << s->output();
    ASSERT_TRUE(s->expect(kPrompt));
    ask(*s, "Go on and on");
    EXPECT_NE(s->output().find("is full: the answer was cut short"), std::string::npos)
        << s->output();
    EXPECT_TRUE(has_text(ask(*s, "And now?")));
    // A question that cannot fit at all is refused; the session goes on.
    std::string huge;
    for (int i = 0; i < 200; ++i) huge += "word ";
    s->send_line(huge);
    ASSERT_TRUE(s->expect("does not fit")) << s->output();
    ASSERT_TRUE(s->expect(kPrompt));
    leave(*s);
}

TEST(Repl, ModelWithoutChatTemplateRunsRaw) {
    PONDER_REQUIRE_SHARED(kStoryModel);
    TempDir home;
    PtySession s({"-m", shared(kStoryModel), "--temp", "0", "-n", "8"}, home.path().string());
    ASSERT_TRUE(s.expect("no chat template")) << s.output();
    ASSERT_TRUE(s.expect("ponder[raw]> ")) << s.output();
    s.send_line("Once upon a time");
    ASSERT_TRUE(s.expect("Once upon a time\r\n")) << s.output();
    ASSERT_TRUE(s.expect("ponder[raw]> ")) << s.output();
    s.send_line("/contemplate");
    ASSERT_TRUE(s.expect("raw")) << s.output();
    ASSERT_TRUE(s.expect("ponder[raw]> ")) << s.output();
    s.send_line("/retry");
    ASSERT_TRUE(s.expect("ponder[raw]> ")) << s.output();
    s.send_line("/exit");
    EXPECT_EQ(s.wait_exit(), 0) << s.output();
}

TEST(Repl, ModelSwitchKeepsTheConversation) {
    PONDER_REQUIRE_SHARED(kChatModel);
    PONDER_REQUIRE_SHARED("models/rand-qwen2-q6_k.gguf");
    TempDir home;
    auto s = start_chat(home);
    ask(*s, "Before the switch");
    s->send_line("/model /no/such/model.gguf");
    ASSERT_TRUE(s->expect("not found")) << s->output();
    s->send_line("/model " + shared("models/rand-qwen2-q6_k.gguf"));
    ASSERT_TRUE(s->expect("the conversation goes on")) << s->output();
    ASSERT_TRUE(s->expect(kPrompt));
    ask(*s, "After the switch");
    s->send_line("/save switched");
    ASSERT_TRUE(s->expect("(2 exchanges)")) << s->output();
    leave(*s);
    EXPECT_EQ(saved_session(home, "switched")["model"], shared("models/rand-qwen2-q6_k.gguf"));
}

TEST(Repl, ContinueAndNoLog) {
    PONDER_REQUIRE_SHARED(kChatModel);
    TempDir home;
    {
        auto s = start_chat(home, {"--system", "Remember me."});
        ask(*s, "Earlier question");
        leave(*s);
    }
    {
        auto s = start_chat(home, {"-c"});
        EXPECT_NE(s->output().find("Continuing conversation"), std::string::npos) << s->output();
        ask(*s, "Later question");
        s->send_line("/save continued");
        ASSERT_TRUE(s->expect("(2 exchanges)")) << s->output();
        leave(*s);
    }
    nlohmann::json saved = saved_session(home, "continued");
    EXPECT_EQ(saved["turns"][0]["content"], "Earlier question");
    EXPECT_EQ(saved["system"], "Remember me.");
    {
        auto s = start_chat(home, {"--no-log"});
        ask(*s, "Unlogged question");
        leave(*s);
    }
    ConversationLog log =
        ConversationLog::open(data_dir(home) / "conversations.db", [](const std::string&) {});
    auto exchanges = log.recent(10);
    ASSERT_EQ(exchanges.size(), 2u);
    EXPECT_EQ(exchanges[0].prompt, "Later question");
    EXPECT_EQ(exchanges[0].conversation_id, exchanges[1].conversation_id);  // -c went on with it
}

}  // namespace
}  // namespace ponder::test
