#include "cli/input.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "engine/error.h"

namespace ponder::cli {

namespace fs = std::filesystem;

namespace {

std::string read_stream(std::istream& in, const std::string& name) {
    std::string out;
    char buf[1 << 16];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        out.append(buf, static_cast<size_t>(in.gcount()));
        if (out.size() > kMaxInputBytes) {
            fail(name, ": input larger than ", kMaxInputBytes >> 20, " MiB; ponder reads at most that");
        }
    }
    return out;
}

std::string read_text_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot read file");
    std::string text = read_stream(in, path.string());
    if (looks_binary(text)) fail(path.string(), ": looks like a binary file; attach text files only");
    return text;
}

bool hidden(const fs::path& p) {
    std::string name = p.filename().string();
    return name.size() > 1 && name[0] == '.';
}

}  // namespace

bool looks_binary(std::string_view bytes) {
    size_t i = 0;
    while (i < bytes.size()) {
        auto c = static_cast<unsigned char>(bytes[i]);
        if (c == 0) return true;
        size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        if (len == 0 || i + len > bytes.size()) return true;
        for (size_t k = 1; k < len; ++k) {
            if ((static_cast<unsigned char>(bytes[i + k]) & 0xC0) != 0x80) return true;
        }
        i += len;
    }
    return false;
}

std::string fence_file(const std::string& name, const std::string& text) {
    size_t longest = 0, run = 0;
    for (char c : text) {
        run = c == '`' ? run + 1 : 0;
        longest = std::max(longest, run);
    }
    std::string fence(std::max<size_t>(3, longest + 1), '`');
    std::string out = "File: " + name + "\n" + fence + "\n" + text;
    if (!text.empty() && text.back() != '\n') out += '\n';
    return out + fence + "\n";
}

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
            std::string text = read_stream(stdin_stream, "standard input");
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
            for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied);
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
        std::string text = read_stream(stdin_stream, "standard input");
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
