// `ponder tokenize --model F [--json] [--no-bos] [--no-special] TEXT|-`: the token ids a model's
// tokenizer gives a text, with the piece of text each stands for.
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "engine/error.h"
#include "engine/tokenizer.h"
#include "engine/unicode.h"

namespace ponder::cli {

namespace {

struct TokenizeOptions {
    std::string model;
    std::string text;
    bool json = false;
    bool no_bos = false;
    bool no_special = false;
};

// A piece shown on one line: control characters and bytes that are no whole UTF-8 character
// escaped, everything else as it is.
std::string visible(const std::string& piece) {
    std::string out;
    for (size_t pos = 0; pos < piece.size();) {
        const unsigned char c = static_cast<unsigned char>(piece[pos]);
        const int length = unicode::strict_char_length(piece, pos);
        if (length > 1) {
            out.append(piece, pos, size_t(length));
            pos += size_t(length);
            continue;
        }
        switch (c) {
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\'':
                out += "\\'";
                break;
            default:
                if (c < 0x20 || c >= 0x7F) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\x%02X", c);
                    out += buf;
                } else {
                    out += char(c);
                }
        }
        ++pos;
    }
    return out;
}

int run_tokenize(const TokenizeOptions& opt) {
    const Tokenizer tokenizer = Tokenizer::from_path(opt.model);
    const std::string text = text_or_stdin(opt.text);
    const std::vector<TokenId> ids = tokenizer.encode(text, !opt.no_bos, !opt.no_special);

    if (opt.json) {
        nlohmann::ordered_json pieces = nlohmann::ordered_json::array();
        for (TokenId id : ids) pieces.push_back(tokenizer.piece(id, true));
        nlohmann::ordered_json out;
        out["tokens"] = ids;
        out["pieces"] = pieces;
        // A piece may be part of a UTF-8 character: such bytes are shown as U+FFFD.
        std::cout << out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
                  << "\n";
        return 0;
    }
    for (TokenId id : ids) {
        std::printf("%7d  '%s'\n", id, visible(tokenizer.piece(id, true)).c_str());
    }
    return 0;
}

}  // namespace

void add_tokenize_command(CLI::App& app, CommandAction& action) {
    auto opt = std::make_shared<TokenizeOptions>();
    CLI::App* cmd =
        app.add_subcommand("tokenize", "Show the tokens a model's tokenizer gives a text");
    cmd->add_option("-m,--model", opt->model,
                    "GGUF file, tokenizer.json, or a directory holding one")
        ->required();
    cmd->add_option("text", opt->text, "Text to tokenize, or - to read standard input")->required();
    cmd->add_flag("--json", opt->json, "Print {\"tokens\": [...], \"pieces\": [...]}");
    cmd->add_flag("--no-bos", opt->no_bos, "Do not add the BOS/EOS tokens the model asks for");
    cmd->add_flag("--no-special", opt->no_special,
                  "Treat the text of special tokens (e.g. <|im_start|>) as plain text");
    cmd->callback([opt, &action] { action = [opt] { return run_tokenize(*opt); }; });
}

}  // namespace ponder::cli
