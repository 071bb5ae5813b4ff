// `ponder logits --model F [--top K] [--json] TEXT|-` (or `--tokens 1,2,3`): the K highest
// logits at every position of a prompt, for checking the engine against other implementations.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "engine/context.h"
#include "engine/error.h"
#include "engine/model.h"
#include "engine/thread_pool.h"
#include "engine/tokenizer.h"

namespace ponder::cli {

namespace {

struct LogitsOptions {
    std::string model;
    std::string text;
    std::string tokens;
    int top = 5;
    bool json = false;
    int threads = 0;
};

std::vector<TokenId> parse_token_list(const std::string& list) {
    std::vector<TokenId> out;
    size_t pos = 0;
    while (pos <= list.size()) {
        const size_t comma = std::min(list.find(',', pos), list.size());
        std::string item = list.substr(pos, comma - pos);
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        if (item.empty()) fail("--tokens: empty entry in '", list, "'");
        size_t used = 0;
        long long v = 0;
        try {
            v = std::stoll(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != item.size() || v < 0 || v > INT32_MAX)
            fail("--tokens: '", item, "' is not a token id");
        out.push_back(static_cast<TokenId>(v));
        pos = comma + 1;
    }
    return out;
}

std::unique_ptr<Tokenizer> load_tokenizer(const Model& model) {
    if (model.gguf()) return std::make_unique<Tokenizer>(Tokenizer::from_gguf(*model.gguf()));
    const auto path = std::filesystem::path(model.source()) / "tokenizer.json";
    return std::make_unique<Tokenizer>(Tokenizer::from_hf(path));
}

// A piece on one line, control characters escaped.
std::string visible(const std::string& piece) {
    std::string out;
    for (char c : piece) {
        if (c == '\n')
            out += "\\n";
        else if (c == '\t')
            out += "\\t";
        else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

int run_logits(const LogitsOptions& opt) {
    if (opt.top <= 0) fail("--top must be positive");
    if (opt.threads > 0) set_global_thread_count(opt.threads);
    Model model = Model::load(opt.model);
    std::unique_ptr<Tokenizer> tokenizer;
    std::vector<TokenId> tokens;
    if (!opt.tokens.empty()) {
        if (!opt.text.empty()) fail("give either TEXT or --tokens, not both");
        tokens = parse_token_list(opt.tokens);
    } else {
        tokenizer = load_tokenizer(model);
        tokens = tokenizer->encode(text_or_stdin(opt.text), true, true);
    }
    if (tokens.empty()) fail("no tokens to evaluate");
    for (TokenId t : tokens)
        if (t >= model.config().n_vocab)
            fail("token ", t, " is outside the vocabulary of ", model.config().n_vocab);

    ContextOptions copt;
    copt.n_ctx = static_cast<int64_t>(tokens.size());
    Context ctx(model, copt);
    Batch batch(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) batch.add(tokens[i], static_cast<Pos>(i), 0, true);
    ctx.decode(batch);

    const size_t k =
        std::min<size_t>(static_cast<size_t>(opt.top), static_cast<size_t>(ctx.n_vocab()));
    std::vector<int32_t> order(static_cast<size_t>(ctx.n_vocab()));
    auto top_of = [&](size_t pos) {
        auto logits = ctx.logits(pos);
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(
            order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
            [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
        std::vector<std::pair<TokenId, float>> top;
        for (size_t i = 0; i < k; ++i) top.emplace_back(order[i], logits[size_t(order[i])]);
        return top;
    };
    auto piece = [&](TokenId id) { return tokenizer ? tokenizer->piece(id, true) : std::string(); };

    if (opt.json) {
        nlohmann::json j;
        j["model"] = model.source();
        j["tokens"] = tokens;
        nlohmann::json all = nlohmann::json::array();
        for (size_t i = 0; i < tokens.size(); ++i) {
            nlohmann::json row = nlohmann::json::array();
            for (const auto& [id, value] : top_of(i)) row.push_back({id, value});
            all.push_back(row);
        }
        j["top_logits"] = all;
        if (tokenizer) {
            nlohmann::json pieces = nlohmann::json::array();
            for (TokenId t : tokens) pieces.push_back(piece(t));
            j["pieces"] = pieces;
        }
        std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return 0;
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
        std::printf("[%zu] token %d", i, tokens[i]);
        if (tokenizer) std::printf(" '%s'", visible(piece(tokens[i])).c_str());
        std::printf("\n");
        for (const auto& [id, value] : top_of(i)) {
            std::printf("    %8d %12.4f", id, value);
            if (tokenizer) std::printf("  '%s'", visible(piece(id)).c_str());
            std::printf("\n");
        }
    }
    return 0;
}

}  // namespace

void add_logits_command(CLI::App& app, CommandAction& action) {
    auto opt = std::make_shared<LogitsOptions>();
    CLI::App* cmd =
        app.add_subcommand("logits", "Show the highest logits at every prompt position");
    cmd->add_option("-m,--model", opt->model, "GGUF file or Hugging Face directory")->required();
    cmd->add_option("text", opt->text, "Prompt text, or - for standard input");
    cmd->add_option("--tokens", opt->tokens, "Comma-separated token ids instead of text");
    cmd->add_option("-k,--top", opt->top, "How many logits per position")->capture_default_str();
    cmd->add_flag("--json", opt->json, "Print one JSON object");
    cmd->add_option("-t,--threads", opt->threads, "Threads (default: one per core)");
    cmd->callback([opt, &action] { action = [opt] { return run_logits(*opt); }; });
}

}  // namespace ponder::cli
