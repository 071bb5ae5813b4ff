#include "repl/terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

namespace ponder::repl {

std::string printable(std::string_view text) {
    static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\r') continue;
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) {
            out += kReplacement;
        } else if (c == 0xC2 && i + 1 < text.size() &&
                   static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                   static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
            out += kReplacement;  // a C1 control character, which some terminals obey
            ++i;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

int terminal_columns() {
    winsize size{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
    return 80;
}

std::string fit_width(std::string_view text, size_t columns) {
    if (text.size() <= columns) return std::string(text);
    size_t cut = columns;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    return std::string(text.substr(0, cut));
}

void write_now(std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

}  // namespace ponder::repl
