#include "repl/line_editor.h"

// readline's headers need stdio first.
#include <readline/history.h>
#include <readline/readline.h>
#include <cstdio>

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "engine/error.h"
#include "reason/interrupt.h"
#include "repl/atomic_file.h"

namespace ponder::repl {

namespace {

// readline keeps its state in globals and calls back through plain function pointers; this
// connects its callbacks to the one LineEditor reading at a time. It is the only mutable global
// of the REPL, and exists because readline forces it.
struct ReadlineBridge {
    const LineEditorOptions* options = nullptr;
    bool handler_installed = false;
    bool line_done = false;
    std::optional<std::string> line;  // nullopt after end of input
    std::vector<std::string> candidates;
    size_t next_candidate = 0;
};
ReadlineBridge g_bridge;

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}
bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void remove_handler() {
    if (g_bridge.handler_installed) rl_callback_handler_remove();
    g_bridge.handler_installed = false;
}

void on_line(char* line) {
    g_bridge.line_done = true;
    if (line) {
        g_bridge.line = std::string(line);
        std::free(line);
    } else {
        g_bridge.line.reset();
    }
    remove_handler();  // readline allows this inside the handler; it restores the terminal
}

char* next_candidate(const char*, int state) {
    if (state == 0) g_bridge.next_candidate = 0;
    if (g_bridge.next_candidate >= g_bridge.candidates.size()) return nullptr;
    return strdup(g_bridge.candidates[g_bridge.next_candidate++].c_str());
}

char** complete(const char* word, int start, int) {
    rl_attempted_completion_over = 1;  // never fall back to readline's own file names
    if (!g_bridge.options || !g_bridge.options->complete) return nullptr;
    std::string before(rl_line_buffer, static_cast<size_t>(start));
    Completion completion = g_bridge.options->complete(before, word);
    g_bridge.candidates = std::move(completion.candidates);
    if (g_bridge.candidates.empty()) return nullptr;
    rl_filename_completion_desired = completion.paths ? 1 : 0;
    return rl_completion_matches(word, next_candidate);
}

}  // namespace

std::string encode_history_entry(std::string_view entry) {
    std::string out;
    for (char c : entry) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string decode_history_entry(std::string_view line) {
    std::string out;
    for (size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) {
            char next = line[++i];
            out += next == 'n' ? '\n' : next;
        } else {
            out += line[i];
        }
    }
    return out;
}

std::vector<std::string> read_history_file(const std::filesystem::path& file) {
    std::vector<std::string> entries;
    std::ifstream in(file, std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty()) entries.push_back(decode_history_entry(line));
    }
    return entries;
}

std::string join_block(const std::vector<std::string>& lines) {
    size_t first = 0, last = lines.size();
    auto blank = [](const std::string& s) {
        return s.find_first_not_of(" \t\r") == std::string::npos;
    };
    while (first < last && blank(lines[first])) ++first;
    while (last > first && blank(lines[last - 1])) --last;
    std::string out;
    for (size_t i = first; i < last; ++i) out += (i > first ? "\n" : "") + lines[i];
    return out;
}

LineEditor::LineEditor(LineEditorOptions options) : options_(std::move(options)) {
    rl_readline_name = "ponder";  // for $if ponder in ~/.inputrc
    rl_attempted_completion_function = complete;
    rl_catch_signals = 0;  // ponder's own SIGINT handler decides what Ctrl-C means
    rl_catch_sigwinch = 1;
    rl_persistent_signal_handlers = 1;  // keep the SIGWINCH handler between keys in callback mode
    // Before readline reads ~/.inputrc (on first use), so the user's settings still win.
    rl_variable_bind("enable-bracketed-paste", "on");
    using_history();
    stifle_history(static_cast<int>(options_.history_size));
    load_history();
    install_interrupt_handler();
}

LineEditor::~LineEditor() {
    remove_handler();
    g_bridge.options = nullptr;
}

void LineEditor::load_history() {
    if (options_.history_file.empty()) return;
    for (const auto& entry : read_history_file(options_.history_file)) ::add_history(entry.c_str());
}

void LineEditor::add_history(const std::string& entry) {
    if (entry.empty() || entry[0] == ' ' || entry.size() > kMaxHistoryEntryBytes) return;
    HIST_ENTRY* last =
        history_length > 0 ? history_get(history_base + history_length - 1) : nullptr;
    if (last && entry == last->line) return;  // no consecutive duplicates
    ::add_history(entry.c_str());
    save_history_entry(entry);
}

void LineEditor::save_history_entry(const std::string& entry) {
    if (options_.history_file.empty()) return;
    try {
        // Re-read the file, so entries that another session saved meanwhile are kept.
        std::vector<std::string> entries = read_history_file(options_.history_file);
        if (entries.empty() || entries.back() != entry) entries.push_back(entry);
        size_t first =
            entries.size() > options_.history_size ? entries.size() - options_.history_size : 0;
        std::string text;
        for (size_t i = first; i < entries.size(); ++i)
            text += encode_history_entry(entries[i]) + "\n";
        write_file_atomically(options_.history_file, text);
    } catch (const Error& e) {
        if (!warned_about_history_)
            std::fprintf(stderr, "ponder: warning: history not saved: %s\n", e.what());
        warned_about_history_ = true;
    }
}

LineEditor::LineResult LineEditor::read_line(const std::string& prompt, bool at_main_prompt) {
    g_bridge.options = &options_;
    g_bridge.line_done = false;
    g_bridge.line.reset();
    std::fflush(stdout);
    std::fflush(stderr);
    clear_interrupt();
    rl_callback_handler_install(prompt.c_str(), on_line);
    g_bridge.handler_installed = true;

    while (!g_bridge.line_done) {
        pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {interrupt_fd(), POLLIN, 0}};
        int ready = poll(fds, 2, -1);
        if (ready < 0 && errno != EINTR) {
            remove_handler();
            return {Status::end_of_input, {}};
        }
        if (interrupted()) {
            clear_interrupt();
            const bool empty = rl_end == 0;
            rl_callback_sigcleanup();  // leaves an incremental search or a half-typed key sequence
            rl_point = rl_end;         // "^C" goes after the text, as in a shell
            rl_redisplay();
            rl_free_line_state();
            rl_replace_line("", 0);
            rl_point = rl_mark = 0;
            if (!at_main_prompt) {  // abandons the multi-line input
                std::fputs("^C\n", stdout);
                remove_handler();
                return {Status::interrupted, {}};
            }
            if (empty && last_was_interrupt_) {
                std::fputs("^C\n", stdout);
                remove_handler();
                return {Status::end_of_input, {}};
            }
            std::fputs("^C", stdout);
            if (empty) std::fprintf(stdout, " %s", kExitHint.data());
            std::fputs("\n", stdout);
            last_was_interrupt_ = empty;
            rl_on_new_line();
            rl_redisplay();
            continue;
        }
        if (ready < 0) {
            rl_check_signals();  // a window resize: readline redraws for the new width
            continue;
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            last_was_interrupt_ = false;
            rl_callback_read_char();
        }
    }
    if (!g_bridge.line) {
        std::fputs("\n", stdout);  // Ctrl-D leaves the cursor on the prompt line
        return {Status::end_of_input, {}};
    }
    last_was_interrupt_ = false;
    return {Status::line, std::move(*g_bridge.line)};
}

std::optional<std::string> LineEditor::read(const std::string& prompt,
                                            const std::string& continuation) {
    for (;;) {
        LineResult first = read_line(prompt, true);
        if (first.status != Status::line) return std::nullopt;
        std::string text = std::move(first.text);

        // """ opens a block that runs until a line ending in """ (or Ctrl-D).
        if (starts_with(text, "\"\"\"")) {
            std::vector<std::string> lines{text.substr(3)};
            bool closed = lines[0].size() >= 3 && ends_with(lines[0], "\"\"\"");
            if (closed) lines[0].resize(lines[0].size() - 3);
            bool abandoned = false;
            while (!closed) {
                LineResult more = read_line(continuation, false);
                if (more.status == Status::interrupted) {
                    abandoned = true;
                    break;
                }
                if (more.status == Status::end_of_input) break;
                if (ends_with(more.text, "\"\"\"")) {
                    more.text.resize(more.text.size() - 3);
                    closed = true;
                }
                lines.push_back(std::move(more.text));
            }
            if (abandoned) continue;
            std::string block = join_block(lines);
            add_history("\"\"\"" + block + "\"\"\"");
            return block;
        }

        // A trailing backslash continues on the next line.
        bool abandoned = false;
        while (ends_with(text, "\\")) {
            text.pop_back();
            LineResult more = read_line(continuation, false);
            if (more.status == Status::interrupted) {
                abandoned = true;
                break;
            }
            if (more.status == Status::end_of_input) break;
            text += "\n" + more.text;
        }
        if (abandoned) continue;
        add_history(text);
        return text;
    }
}

}  // namespace ponder::repl
