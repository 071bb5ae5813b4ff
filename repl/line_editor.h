#pragma once
// Line editing for the REPL on GNU readline: Emacs keys, Ctrl-R search, persistent history
// (size-capped, written atomically), tab completion, multi-line input ("""-blocks and trailing
// backslashes), bracketed paste, and Ctrl-C that clears the line instead of killing the session.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ponder::repl {

struct LineEditorOptions {
    std::filesystem::path history_file;  // empty: no persistent history
    size_t history_size = 1000;
    // Candidates for the word being completed, given the whole line before it.
    std::function<std::vector<std::string>(std::string_view line, std::string_view word)> complete;
};

class LineEditor {
public:
    explicit LineEditor(LineEditorOptions options);
    ~LineEditor();  // saves the history
    LineEditor(const LineEditor&) = delete;
    LineEditor& operator=(const LineEditor&) = delete;

    // One input, possibly spanning lines. nullopt when the user leaves: Ctrl-D at an empty
    // prompt, or Ctrl-C twice in a row at an empty prompt.
    std::optional<std::string> read(const std::string& prompt, const std::string& continuation);

    void add_history(const std::string& entry);
    // Writes the history to a temporary file and renames it over the old one.
    void save_history() const;

    // A note printed above the prompt on the next read (e.g. "press Ctrl-C again to exit").
    static constexpr std::string_view kExitHint = "(Ctrl-C again or Ctrl-D to exit)";

private:
    std::optional<std::string> read_line(const std::string& prompt, bool allow_exit);
    void load_history();

    LineEditorOptions options_;
    bool last_was_interrupt_ = false;
};

// Encodes a history entry on one line ("\n" and "\\" escaped), and back.
std::string encode_history_entry(std::string_view entry);
std::string decode_history_entry(std::string_view line);

}  // namespace ponder::repl
