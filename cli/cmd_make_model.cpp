// `ponder make-model --shape smollm2-135m|qwen2.5-0.5b|custom [--dim ...] --type q4_k_m -o FILE`:
// a random-weight model of a real shape, for benchmarks (engine/synthetic_model.h).
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/synthetic_model.h"
#include "engine/thread_pool.h"

namespace ponder::cli {

namespace {

struct MakeModelOptions {
    std::string shape = "custom";
    std::string output;
    std::string type = "q8_0";
    std::string tokenizer_from;
    std::string arch;
    // Unset: the shape's (or, for custom, SyntheticModelSpec's defaults).
    std::optional<int64_t> dim, layers, heads, kv_heads, ffn, vocab;
    bool tied = false, untied = false;
    uint64_t seed = 1;
    int threads = 0;
};

int run_make_model(const MakeModelOptions& opt) {
    if (opt.threads > 0) set_global_thread_count(opt.threads);
    SyntheticModelSpec spec;
    if (opt.shape != "custom") {
        auto preset = synthetic_shape(opt.shape);
        if (!preset) {
            std::string names;
            for (const auto& n : synthetic_shape_names()) names += n + ", ";
            fail("--shape: unknown shape '", opt.shape, "' (", names, "custom)");
        }
        spec = *preset;
    }
    if (!opt.arch.empty()) spec.architecture = opt.arch;
    // Checked here, before anything is written, so that each mistake gets its own message.
    auto positive = [](const char* option, const std::optional<int64_t>& v, int64_t& field) {
        if (!v) return;
        if (*v <= 0) fail(option, ": must be positive, not ", *v);
        field = *v;
    };
    positive("--dim", opt.dim, spec.n_embd);
    positive("--layers", opt.layers, spec.n_layer);
    positive("--heads", opt.heads, spec.n_head);
    positive("--kv-heads", opt.kv_heads, spec.n_head_kv);
    positive("--ffn", opt.ffn, spec.n_ff);
    positive("--vocab", opt.vocab, spec.n_vocab);
    // A custom shape given only --heads gets plain multi-head attention.
    if (opt.heads && !opt.kv_heads && opt.shape == "custom") spec.n_head_kv = spec.n_head;
    if (opt.tied && opt.untied) fail("give --tied or --untied, not both");
    if (opt.tied) spec.tied_embeddings = true;
    if (opt.untied) spec.tied_embeddings = false;
    spec.type = opt.type;
    spec.seed = opt.seed;

    std::unique_ptr<GgufFile> vocabulary;
    if (!opt.tokenizer_from.empty()) {
        vocabulary = std::make_unique<GgufFile>(GgufFile::open(opt.tokenizer_from));
        if (auto tokens = vocabulary->get_string_array("tokenizer.ggml.tokens");
            tokens && !opt.vocab)
            spec.n_vocab = static_cast<int64_t>(tokens->size());
    }
    std::map<std::string, int> counts;
    for (const auto& [name, type] : synthetic_tensor_types(spec))
        if (name.find("norm") == std::string::npos && name.find("bias") == std::string::npos)
            ++counts[std::string(traits(type).name)];
    std::string types;
    for (const auto& [name, n] : counts)
        types += (types.empty() ? "" : ", ") + std::to_string(n) + " " + name;
    write_synthetic_model(spec, opt.output, vocabulary.get());
    std::fprintf(stderr,
                 "ponder: wrote %s (%s, dim %lld, %lld layers, %lld/%lld heads, ffn %lld, vocab "
                 "%lld%s; matrices: %s)%s\n",
                 opt.output.c_str(), spec.architecture.c_str(), static_cast<long long>(spec.n_embd),
                 static_cast<long long>(spec.n_layer), static_cast<long long>(spec.n_head),
                 static_cast<long long>(spec.n_head_kv), static_cast<long long>(spec.n_ff),
                 static_cast<long long>(spec.n_vocab), spec.tied_embeddings ? ", tied" : "",
                 types.c_str(),
                 vocabulary ? ""
                            : "\nponder: no --tokenizer-from: the file has no tokenizer (bench "
                              "runs on it; chat does not)");
    return 0;
}

}  // namespace

void add_make_model_command(CLI::App& app, CommandAction& action) {
    auto opt = std::make_shared<MakeModelOptions>();
    CLI::App* cmd = app.add_subcommand(
        "make-model", "Write a random-weight model of a given shape (for benchmarks)");
    cmd->add_option("--shape", opt->shape, "smollm2-135m, qwen2.5-0.5b or custom")
        ->capture_default_str();
    cmd->add_option("--type", opt->type,
                    "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, "
                    "or llama.cpp's mixes q4_k_m, q5_k_m")
        ->capture_default_str();
    cmd->add_option("-o,--output", opt->output, "GGUF file to write")->required();
    cmd->add_option("--tokenizer-from", opt->tokenizer_from,
                    "GGUF file whose tokenizer (and chat template) the model gets");
    cmd->add_option("--arch", opt->arch, "llama or qwen2 (q/k/v biases)");
    cmd->add_option("--dim", opt->dim, "Embedding size");
    cmd->add_option("--layers", opt->layers, "Transformer blocks");
    cmd->add_option("--heads", opt->heads, "Attention heads");
    cmd->add_option("--kv-heads", opt->kv_heads, "Key/value heads");
    cmd->add_option("--ffn", opt->ffn, "Feed-forward size");
    cmd->add_option("--vocab", opt->vocab,
                    "Vocabulary size (default: the tokenizer's, or the shape's)");
    cmd->add_flag("--tied", opt->tied, "Output matrix shared with the embeddings");
    cmd->add_flag("--untied", opt->untied, "A separate output matrix");
    cmd->add_option("--seed", opt->seed, "Random seed")->capture_default_str();
    cmd->add_option("-t,--threads", opt->threads, "Threads (default: one per core)");
    cmd->callback([opt, &action] { action = [opt] { return run_make_model(*opt); }; });
}

}  // namespace ponder::cli
