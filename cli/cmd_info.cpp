// `ponder info [--model F] [--json] [--metadata] [--tensors]`: what a model file holds (without
// --model, the model a question would use).
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/model_choice.h"
#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/memory.h"

namespace ponder::cli {

namespace {

struct InfoOptions {
    std::string model;
    bool json = false;
    bool metadata = false;
    bool tensors = false;
};

std::string human_count(uint64_t n) {
    char buf[32];
    if (n >= 1'000'000'000)
        std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
    else if (n >= 1'000'000)
        std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
    else if (n >= 1'000)
        std::snprintf(buf, sizeof buf, "%.1f K", n / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
    return buf;
}

// The architecture's hyper-parameters live under "<arch>.<key>".
std::optional<int64_t> arch_int(const GgufFile& f, const std::string& arch, const char* key) {
    return f.get_int(arch + "." + key);
}

}  // namespace

std::map<std::string, int> tensor_type_counts(const GgufFile& file) {
    std::map<std::string, int> counts;
    for (const auto& t : file.tensors()) ++counts[std::string(traits(t.type).name)];
    return counts;
}

std::string tensor_types_text(const GgufFile& file) {
    std::string text;
    for (const auto& [name, count] : tensor_type_counts(file)) {
        if (!text.empty()) text += ", ";
        text += name + " x" + std::to_string(count);
    }
    return text;
}

namespace {

int run_info(const InfoOptions& opt, const std::optional<Config>& config) {
    // The model a question would use when -m is not given, the bundled one included.
    const ModelChoice choice = choose_configured_model(opt.model, config);
    if (!choice.path.empty() && std::filesystem::is_directory(choice.path))
        fail(choice.path.string(), ": a Hugging Face directory; ponder info reads GGUF files");
    GgufFile f = choice.path.empty()
                     ? GgufFile::from_memory(bundled_model_bytes(), kBundledModelName)
                     : GgufFile::open(choice.path);
    std::string arch = f.get_string("general.architecture").value_or("unknown");

    uint64_t parameters = 0;
    for (const auto& t : f.tensors()) parameters += t.n_elements;
    const std::map<std::string, int> type_counts = tensor_type_counts(f);
    std::optional<size_t> vocab_size;
    if (const GgufValue* tokens = f.find("tokenizer.ggml.tokens"); tokens && tokens->as_array()) {
        vocab_size = tokens->as_array()->items.size();
    }
    auto tokenizer_model = f.get_string("tokenizer.ggml.model");
    auto tokenizer_pre = f.get_string("tokenizer.ggml.pre");
    auto chat_template = f.get_string("tokenizer.chat_template");
    auto context = arch_int(f, arch, "context_length");

    if (opt.json) {
        nlohmann::json j;
        j["file"] = f.name();
        j["file_size"] = f.file_size();
        j["gguf_version"] = f.version();
        j["architecture"] = arch;
        j["name"] = f.get_string("general.name").value_or("");
        j["parameters"] = parameters;
        j["context_length"] = context ? nlohmann::json(*context) : nlohmann::json();
        for (const char* key : {"embedding_length", "block_count", "feed_forward_length",
                                "attention.head_count", "attention.head_count_kv"}) {
            auto v = arch_int(f, arch, key);
            j[key] = v ? nlohmann::json(*v) : nlohmann::json();
        }
        j["vocab"] = {{"type", tokenizer_model.value_or("")},
                      {"pre", tokenizer_pre.value_or("")},
                      {"size", vocab_size ? nlohmann::json(*vocab_size) : nlohmann::json()}};
        j["tensor_types"] = type_counts;
        j["chat_template"] = chat_template ? nlohmann::json(*chat_template) : nlohmann::json();
        if (opt.metadata) {
            nlohmann::json meta = nlohmann::json::object();
            for (const auto& kv : f.metadata()) meta[kv.key] = kv.value.to_json(64);
            j["metadata"] = meta;
        }
        if (opt.tensors) {
            nlohmann::json list = nlohmann::json::array();
            for (const auto& t : f.tensors()) {
                list.push_back({{"name", t.name},
                                {"type", std::string(traits(t.type).name)},
                                {"dims", t.dims},
                                {"offset", f.data_offset() + t.offset},
                                {"bytes", t.n_bytes}});
            }
            j["tensors"] = list;
        }
        std::cout << j.dump(2) << "\n";
        return 0;
    }

    auto line = [](const char* label, const std::string& value) {
        std::printf("%-16s %s\n", label, value.c_str());
    };
    line("file:", f.name() + " (" + human_bytes(f.file_size()) + ", GGUF v" +
                      std::to_string(f.version()) + ")");
    line("architecture:", arch);
    if (auto name = f.get_string("general.name")) line("name:", *name);
    line("parameters:", human_count(parameters));
    if (context) line("context length:", std::to_string(*context));
    auto embd = arch_int(f, arch, "embedding_length");
    auto layers = arch_int(f, arch, "block_count");
    auto heads = arch_int(f, arch, "attention.head_count");
    auto kv_heads = arch_int(f, arch, "attention.head_count_kv");
    auto ffn = arch_int(f, arch, "feed_forward_length");
    if (embd && layers) {
        std::string shape =
            "dim " + std::to_string(*embd) + ", " + std::to_string(*layers) + " layers";
        if (heads)
            shape += ", " + std::to_string(*heads) + "/" +
                     std::to_string(kv_heads.value_or(*heads)) + " heads";
        if (ffn) shape += ", ffn " + std::to_string(*ffn);
        line("shape:", shape);
    }
    const std::string types = tensor_types_text(f);
    line("tensor types:", types.empty() ? "(no tensors: vocabulary only)" : types);
    std::string vocab = tokenizer_model.value_or("none");
    if (tokenizer_pre) vocab += " (pre-tokenizer " + *tokenizer_pre + ")";
    if (vocab_size) vocab += ", " + std::to_string(*vocab_size) + " tokens";
    line("vocab:", vocab);
    if (opt.metadata) {
        std::printf("\nmetadata:\n");
        for (const auto& kv : f.metadata()) {
            std::printf("  %-44s %s\n", kv.key.c_str(), kv.value.to_display(80).c_str());
        }
    }
    if (opt.tensors) {
        std::printf("\ntensors:\n");
        for (const auto& t : f.tensors()) {
            std::string dims;
            for (uint64_t d : t.dims) dims += (dims.empty() ? "" : " x ") + std::to_string(d);
            std::printf("  %-36s %-8s %-20s %s\n", t.name.c_str(),
                        std::string(traits(t.type).name).c_str(), dims.c_str(),
                        human_bytes(t.n_bytes).c_str());
        }
    }
    if (chat_template) {
        std::printf("\nchat template:\n%s\n", chat_template->c_str());
    } else {
        line("chat template:", "none");
    }
    return 0;
}

}  // namespace

void add_info_command(CLI::App& app, CommandAction& action, const std::optional<Config>& config) {
    auto opt = std::make_shared<InfoOptions>();
    CLI::App* cmd = app.add_subcommand("info", "Show what a model file holds");
    cmd->add_option("-m,--model", opt->model, "GGUF file or model name (default as for questions)")
        ->type_name("PATH|NAME");
    cmd->add_flag("--json", opt->json, "Print one JSON object");
    cmd->add_flag("--metadata", opt->metadata, "Also list every metadata key");
    cmd->add_flag("--tensors", opt->tensors, "Also list every tensor");
    cmd->callback(
        [opt, &action, &config] { action = [opt, &config] { return run_info(*opt, config); }; });
}

}  // namespace ponder::cli
