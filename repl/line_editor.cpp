#include "repl/line_editor.h"

// readline's headers need stdio first.
#include <cstdio>
#include <readline/history.h>
#include <readline/readline.h>

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "reason/interrupt.h"

namespace ponder::repl {

namespace {

// readline keeps its state in globals and calls back through plain function pointers; these
// connect its callbacks to the one LineEditor reading at a time.
LineEditor* g_active = nullptr;
const LineEditorOptions* g_options = nullptr;
std::optional<std::string> g_line;
bool g_line_done = false;
bool g_eof = false;
std::vector<std::string> g_candidates;

void on_line(char* line) {
    g_line_done = true;
    if (!line) {
        g_eof = true;
        g_line.reset();
    } else {
        g_line = std::string(line);
        std::free(line);
    }
    rl_callback_handler_remove();
}

char* next_candidate(const char*, int state) {
    if (state == 0) std::reverse(g_candidates.begin(), g_candidates.end());
    if (g_candidates.empty()) return nullptr;
    std::string c = std::move(g_candidates.back());
    g_candidates.pop_back();
    return strdup(c.c_str());
}

char** complete(const char* word, int start, int) {
    rl_attempted_completion_over = 1;  // no filename fallback unless we ask for it
    if (!g_options || !g_options->complete) return nullptr;
    std::string line(rl_line_buffer, static_cast<size_t>(start));
    g_candidates = g_options->complete(line, word);
    if (g_candidates.empty()) return nullptr;
    // Paths: no trailing space after a directory, so completion can continue into it.
    if (g_candidates.size() == 1 && !g_candidates[0].empty() && g_candidates[0].back() == '/') {
        rl_completion_append_character = '\0';
    }
    return rl_completion_matches(word, next_candidate);
}

}  // namespace

std::string encode_history_entry(std::string_view entry) {
    std::string out;
    for (char c : entry) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else out += c;
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

LineEditor::LineEditor(LineEditorOptions options) : options_(std::move(options)) {
    rl_readline_name = "ponder";
    rl_attempted_completion_function = complete;
    rl_catch_signals = 0;  // ponder's own SIGINT handler decides what Ctrl-C means
    rl_catch_sigwinch = 1;
    rl_variable_bind("enable-bracketed-paste", "on");
    rl_variable_bind("editing-mode", "emacs");
    using_history();
    stifle_history(static_cast<int>(options_.history_size));
    load_history();
    install_interrupt_handler();
}

LineEditor::~LineEditor() {
    try {
        save_history();
    } catch (...) {
    }
}

void LineEditor::load_history() {
    if (options_.history_file.empty()) return;
    std::ifstream in(options_.history_file);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty()) ::add_history(decode_history_entry(line).c_str());
    }
}

void LineEditor::add_history(const std::string& entry) {
    if (entry.empty()) return;
    HIST_ENTRY* last = history_length > 0 ? history_get(history_base + history_length - 1) : nullptr;
    if (last && entry == last->line) return;  // no consecutive duplicates
    ::add_history(entry.c_str());
}

void LineEditor::save_history() const {
    if (options_.history_file.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(options_.history_file.parent_path(), ec);
    auto temp = options_.history_file;
    temp += ".tmp";
    {
        std::ofstream out(temp, std::ios::trunc);
        if (!out) return;
        HIST_ENTRY** list = history_list();
        int n = history_length;
        int first = n > static_cast<int>(options_.history_size) ? n - static_cast<int>(options_.history_size) : 0;
        for (int i = first; list && i < n; ++i) out << encode_history_entry(list[i]->line) << '\n';
        out.flush();
        if (!out) return;
    }
    std::filesystem::rename(temp, options_.history_file, ec);
}

std::optional<std::string> LineEditor::read_line(const std::string& prompt, bool allow_exit) {
    g_active = this;
    g_options = &options_;
    g_line.reset();
    g_line_done = false;
    g_eof = false;
    clear_interrupt();
    rl_callback_handler_install(prompt.c_str(), on_line);
    while (!g_line_done) {
        pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {interrupt_fd(), POLLIN, 0}};
        int ready = poll(fds, 2, -1);
        if (ready < 0 && errno != EINTR) break;
        if (interrupted()) {
            bool empty = rl_end == 0;
            clear_interrupt();
            // Abandon the current line and start a fresh prompt.
            rl_free_line_state();
            rl_callback_sigcleanup();
            rl_replace_line("", 0);
            rl_point = rl_end = 0;
            if (empty && allow_exit && last_was_interrupt_) {
                rl_callback_handler_remove();
                std::fputs("\n", stdout);
                g_active = nullptr;
                return std::nullopt;
            }
            std::fputs(empty && allow_exit ? "^C " : "^C", stdout);
            if (empty && allow_exit) std::fputs(kExitHint.data(), stdout);
            std::fputs("\n", stdout);
            last_was_interrupt_ = empty && allow_exit;
            if (!allow_exit) {
                // Ctrl-C inside a multi-line block abandons the block.
                rl_callback_handler_remove();
                g_active = nullptr;
                return std::string("\x03");
            }
            rl_on_new_line();
            rl_redisplay();
            continue;
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            last_was_interrupt_ = false;
            rl_callback_read_char();
        }
    }
    g_active = nullptr;
    if (g_eof) {
        std::fputs("\n", stdout);
        return std::nullopt;
    }
    return g_line;
}

std::optional<std::string> LineEditor::read(const std::string& prompt, const std::string& continuation) {
    for (;;) {
        auto first = read_line(prompt, true);
        if (!first) return std::nullopt;
        std::string text = *first;

        // """ opens a block that runs until a line ending in """.
        if (text.rfind("\"\"\"", 0) == 0) {
            std::string block = text.substr(3);
            bool closed = block.size() >= 3 && block.compare(block.size() - 3, 3, "\"\"\"") == 0;
            if (closed) block.resize(block.size() - 3);
            while (!closed) {
                auto more = read_line(continuation, false);
                if (!more) return std::nullopt;
                if (*more == "\x03") {
                    block.clear();
                    break;
                }
                std::string line = *more;
                if (line.size() >= 3 && line.compare(line.size() - 3, 3, "\"\"\"") == 0) {
                    line.resize(line.size() - 3);
                    closed = true;
                }
                if (!block.empty() || !line.empty()) block += (block.empty() ? "" : "\n") + line;
            }
            if (!closed) continue;  // abandoned
            add_history("\"\"\"" + block + "\"\"\"");
            return block;
        }

        // A trailing backslash continues on the next line.
        bool abandoned = false;
        while (!text.empty() && text.back() == '\\') {
            text.pop_back();
            auto more = read_line(continuation, false);
            if (!more) return std::nullopt;
            if (*more == "\x03") {
                abandoned = true;
                break;
            }
            text += "\n" + *more;
        }
        if (abandoned) continue;
        add_history(text);
        return text;
    }
}

}  // namespace ponder::repl
