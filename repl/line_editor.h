#pragma once
// Line editing for the REPL on GNU readline: Emacs keys (or whatever ~/.inputrc asks for),
// Ctrl-R search, persistent history (size-capped, written atomically, merged with other sessions
// writing the same file), tab completion, multi-line input ("""-blocks and trailing
// backslashes), bracketed paste, and Ctrl-C that clears the line instead of killing the session.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ponder::repl {

// What tab completion offers for the word under the cursor.
struct Completion {
    std::vector<std::string> candidates;  // each a whole replacement for the word
    bool paths = false;  // file names: readline lists them by their last component, and a
                         // directory gets a '/' instead of a space
};

struct LineEditorOptions {
    std::filesystem::path history_file;  // empty: no persistent history
    size_t history_size = 1000;          // entries kept, in memory and in the file
    // Candidates for the word being completed, given the line before it.
    std::function<Completion(std::string_view line_before_word, std::string_view word)> complete;
};

class LineEditor {
  public:
    explicit LineEditor(LineEditorOptions options);
    ~LineEditor();
    LineEditor(const LineEditor&) = delete;
    LineEditor& operator=(const LineEditor&) = delete;

    // One input, possibly spanning lines, added to the history. nullopt when the user leaves:
    // Ctrl-D at an empty prompt, or Ctrl-C twice in a row at an empty prompt. Ctrl-C with text
    // on the line, or inside a multi-line block, abandons that input and prompts again; Ctrl-D on
    // an empty line inside a block ends the block.
    std::optional<std::string> read(const std::string& prompt, const std::string& continuation);

    // Adds an entry to the history and appends it to the history file at once, so a crash loses
    // nothing. Entries that start with a space are not recorded (as in shells), nor very long
    // ones (pastes of whole files).
    void add_history(const std::string& entry);

    // Shown after the first Ctrl-C at an empty prompt.
    static constexpr std::string_view kExitHint = "(Ctrl-C again or Ctrl-D to exit)";
    static constexpr size_t kMaxHistoryEntryBytes = 16 * 1024;

  private:
    enum class Status { line, end_of_input, interrupted };
    struct LineResult {
        Status status;
        std::string text;
    };
    LineResult read_line(const std::string& prompt, bool at_main_prompt);
    void load_history();
    void save_history_entry(const std::string& entry);

    LineEditorOptions options_;
    bool last_was_interrupt_ = false;
    bool warned_about_history_ = false;
};

// Encodes a history entry on one line ("\n" and "\\" escaped), and back.
std::string encode_history_entry(std::string_view entry);
std::string decode_history_entry(std::string_view line);

// The entries of a history file, oldest first.
std::vector<std::string> read_history_file(const std::filesystem::path& file);

// Joins the lines of a """-block, dropping blank lines at its start and end.
std::string join_block(const std::vector<std::string>& lines);

}  // namespace ponder::repl
