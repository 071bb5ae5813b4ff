#include "cli/input.h"

#include <algorithm>
#include <filesystem>

#include "engine/error.h"

namespace ponder::cli {

namespace fs = std::filesystem;

namespace {

bool hidden(const fs::path& p) {
    std::string name = p.filename().string();
    return name.size() > 1 && name[0] == '.';
}

}  // namespace

GatheredInput gather_input(const InputSources& sources, std::istream& stdin_stream) {
    GatheredInput result;
    std::vector<std::string> parts;
    bool stdin_taken = false;

    for (const auto& name : sources.files) {
        if (name == "-") {
            if (sources.stdin_is_terminal) fail("-f -: standard input is a terminal, not a file");
            if (stdin_taken) fail("-f -: standard input given twice");
            stdin_taken = true;
            result.used_stdin = true;
            std::string text = read_bounded(stdin_stream, "standard input");
            if (looks_binary(text)) fail("standard input: looks like binary data; pipe text only");
            parts.push_back(fence_file("stdin", text));
            result.attached.push_back("-");
            continue;
        }
        fs::path path(name);
        std::error_code ec;
        auto status = fs::status(path, ec);
        if (ec || !fs::exists(status)) fail(name, ": no such file");
        if (fs::is_directory(status)) {
            if (!sources.recursive) {
                fail(name, ": is a directory; use --recursive to attach the files in it");
            }
            std::vector<fs::path> files;
            for (auto it = fs::recursive_directory_iterator(
                     path, fs::directory_options::skip_permission_denied);
                 it != fs::recursive_directory_iterator(); ++it) {
                if (hidden(it->path())) {
                    if (it->is_directory()) it.disable_recursion_pending();
                    continue;
                }
                if (it->is_regular_file()) files.push_back(it->path());
            }
            std::sort(files.begin(), files.end());
            for (const auto& file : files) {
                try {
                    parts.push_back(fence_file(file.string(), read_text_file(file)));
                    result.attached.push_back(file.string());
                } catch (const Error& e) {
                    result.warnings.push_back(std::string("skipped ") + e.what());
                }
            }
            continue;
        }
        parts.push_back(fence_file(name, read_text_file(path)));
        result.attached.push_back(name);
    }

    if (!sources.stdin_is_terminal && !stdin_taken) {
        std::string text = read_bounded(stdin_stream, "standard input");
        if (looks_binary(text)) fail("standard input: looks like binary data; pipe text only");
        if (!text.empty()) {
            result.used_stdin = true;
            parts.push_back(text);
        }
    }

    std::string prompt;
    for (const auto& word : sources.prompt_words) {
        if (!prompt.empty()) prompt += ' ';
        prompt += word;
    }
    if (!prompt.empty()) parts.push_back(prompt);

    for (auto& part : parts) {
        while (!part.empty() && (part.back() == '\n' || part.back() == '\r')) part.pop_back();
        if (!result.text.empty()) result.text += "\n\n";
        result.text += part;
    }
    return result;
}

}  // namespace ponder::cli
