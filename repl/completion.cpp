#include "repl/completion.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "reason/settings.h"
#include "repl/commands.h"

namespace ponder::repl {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> words_of(std::string_view line) {
    std::vector<std::string> words;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) words.emplace_back(line.substr(start, i - start));
    }
    return words;
}

void add_if_prefixed(std::vector<std::string>& out, std::string_view candidate,
                     std::string_view word) {
    if (candidate.substr(0, word.size()) == word) out.emplace_back(candidate);
}

}  // namespace

std::vector<std::string> complete_path(std::string_view word) {
    std::string shown_dir;  // the directory part as typed, kept in the candidates
    std::string prefix(word);
    if (size_t slash = word.rfind('/'); slash != std::string_view::npos) {
        shown_dir = std::string(word.substr(0, slash + 1));
        prefix = std::string(word.substr(slash + 1));
    }
    fs::path dir = shown_dir.empty() ? fs::path(".") : fs::path(shown_dir);
    if (shown_dir.rfind("~/", 0) == 0) {
        const char* home = std::getenv("HOME");
        dir = fs::path(home ? home : "") / shown_dir.substr(2);
    }
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& entry :
         fs::directory_iterator(dir, fs::directory_options::skip_permission_denied, ec)) {
        std::string name = entry.path().filename().string();
        if (name.rfind(prefix, 0) != 0) continue;
        if (name[0] == '.' && (prefix.empty() || prefix[0] != '.')) continue;
        std::error_code type_ec;
        bool directory = entry.is_directory(type_ec);
        out.push_back(shown_dir + name + (directory ? "/" : ""));
        if (out.size() >= 1000) break;  // a huge directory: enough to choose from
    }
    std::sort(out.begin(), out.end());
    return out;
}

Completion complete_input(std::string_view before, std::string_view word,
                          const std::vector<std::string>& session_names) {
    Completion result;
    std::vector<std::string> words = words_of(before);
    if (words.empty()) {
        // The first word: a command (questions are not completed).
        if (!word.empty() && word[0] == '/') {
            for (const CommandInfo& c : command_table())
                add_if_prefixed(result.candidates, c.name, word);
        }
        return result;
    }
    const CommandInfo* command = find_command(words[0]);
    if (!command) return result;
    const size_t argument_index = words.size();  // 1: the first argument
    switch (command->argument) {
        case ArgumentKind::path:
            // /run FILE ARGS...: every argument may be a file.
            if (argument_index == 1 || command->name == "/run") {
                result.candidates = complete_path(word);
                result.paths = true;
            }
            break;
        case ArgumentKind::setting:
            if (argument_index == 1) {
                for (const SettingInfo& s : setting_table())
                    add_if_prefixed(result.candidates, s.name, word);
            } else if (argument_index == 2) {
                const SettingInfo* setting = find_setting(words[1]);
                if (setting && setting->value_kind == "on|off") {
                    for (std::string_view v : {"on", "off"})
                        add_if_prefixed(result.candidates, v, word);
                }
            }
            break;
        case ArgumentKind::session:
            if (argument_index == 1) {
                for (const auto& name : session_names)
                    add_if_prefixed(result.candidates, name, word);
            }
            break;
        case ArgumentKind::on_off:
            if (argument_index == 1) {
                for (std::string_view v : {"on", "off"})
                    add_if_prefixed(result.candidates, v, word);
            }
            break;
        case ArgumentKind::command:
            if (argument_index == 1) {
                const bool slashed = !word.empty() && word[0] == '/';
                for (const CommandInfo& c : command_table()) {
                    add_if_prefixed(result.candidates, slashed ? c.name : c.name.substr(1), word);
                }
            }
            break;
        case ArgumentKind::none:
        case ArgumentKind::text:
        case ArgumentKind::number:
            break;
    }
    return result;
}

}  // namespace ponder::repl
