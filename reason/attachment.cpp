#include "reason/attachment.h"

#include <algorithm>
#include <fstream>

#include "engine/error.h"

namespace ponder {

std::string read_bounded(std::istream& in, const std::string& name) {
    std::string out;
    char buf[1 << 16];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        out.append(buf, static_cast<size_t>(in.gcount()));
        if (out.size() > kMaxInputBytes) {
            fail(name, ": input larger than ", kMaxInputBytes >> 20,
                 " MiB; ponder reads at most that");
        }
    }
    return out;
}

std::string read_text_file(const std::filesystem::path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail(path.string(), ": is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot read file");
    std::string text = read_bounded(in, path.string());
    if (looks_binary(text))
        fail(path.string(), ": looks like a binary file; attach text files only");
    return text;
}

bool looks_binary(std::string_view bytes) {
    size_t i = 0;
    while (i < bytes.size()) {
        auto c = static_cast<unsigned char>(bytes[i]);
        if (c == 0) return true;
        size_t len = c < 0x80           ? 1
                     : (c >> 5) == 0x6  ? 2
                     : (c >> 4) == 0xE  ? 3
                     : (c >> 3) == 0x1E ? 4
                                        : 0;
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

}  // namespace ponder
