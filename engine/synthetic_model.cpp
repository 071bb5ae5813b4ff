#include "engine/synthetic_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/error.h"
#include "engine/file_types.h"
#include "engine/gguf.h"
#include "engine/quants.h"
#include "engine/thread_pool.h"

namespace ponder {

namespace {

struct TensorPlan {
    std::string name;
    std::vector<uint64_t> dims;  // dims[0]: row length
    GgmlType type;
    enum Kind { matrix, norm, bias } kind;
};

std::vector<TensorPlan> plan(const SyntheticModelSpec& s) {
    const FileType file_type = parse_file_type(s.type);
    const auto E = static_cast<uint64_t>(s.n_embd), F = static_cast<uint64_t>(s.n_ff);
    const uint64_t head_dim = E / static_cast<uint64_t>(s.n_head);
    const uint64_t kv = head_dim * static_cast<uint64_t>(s.n_head_kv);
    const auto V = static_cast<uint64_t>(s.n_vocab);

    std::vector<TensorPlan> out;
    auto matrix = [&](std::string name, uint64_t cols, uint64_t rows) {
        const GgmlType t =
            matrix_type(file_type, name, static_cast<int64_t>(cols), s.n_layer, s.tied_embeddings);
        out.push_back({std::move(name), {cols, rows}, t, TensorPlan::matrix});
    };
    matrix("token_embd.weight", E, V);
    if (!s.tied_embeddings) matrix("output.weight", E, V);
    out.push_back({"output_norm.weight", {E}, GgmlType::F32, TensorPlan::norm});
    const bool biases = s.architecture == "qwen2";
    for (int64_t l = 0; l < s.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        out.push_back({p + "attn_norm.weight", {E}, GgmlType::F32, TensorPlan::norm});
        matrix(p + "attn_q.weight", E, E);
        if (biases) out.push_back({p + "attn_q.bias", {E}, GgmlType::F32, TensorPlan::bias});
        matrix(p + "attn_k.weight", E, kv);
        if (biases) out.push_back({p + "attn_k.bias", {kv}, GgmlType::F32, TensorPlan::bias});
        matrix(p + "attn_v.weight", E, kv);
        if (biases) out.push_back({p + "attn_v.bias", {kv}, GgmlType::F32, TensorPlan::bias});
        matrix(p + "attn_output.weight", E, E);
        out.push_back({p + "ffn_norm.weight", {E}, GgmlType::F32, TensorPlan::norm});
        matrix(p + "ffn_gate.weight", E, F);
        matrix(p + "ffn_up.weight", E, F);
        matrix(p + "ffn_down.weight", F, E);
    }
    return out;
}

// Deterministic pseudo-random numbers per (seed, tensor, row), so rows can be made in parallel.
uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Roughly normal values (a sum of four uniforms) with standard deviation `sd`.
void random_row(uint64_t seed, float sd, float* out, int64_t n) {
    uint64_t state = mix64(seed);
    const float scale = sd * std::sqrt(3.0f) / 2.0f;
    for (int64_t i = 0; i < n; ++i) {
        float sum = 0;
        for (int j = 0; j < 4; ++j) {
            state = mix64(state);
            sum += static_cast<float>(state >> 40) / static_cast<float>(1 << 24);
        }
        out[i] = (sum - 2.0f) * scale * 2.0f;
    }
}

}  // namespace

std::optional<SyntheticModelSpec> synthetic_shape(const std::string& name) {
    SyntheticModelSpec s;
    if (name == "smollm2-135m") {
        s.architecture = "llama";
        s.n_embd = 576, s.n_layer = 30, s.n_head = 9, s.n_head_kv = 3, s.n_ff = 1536;
        s.n_vocab = 49152, s.tied_embeddings = true, s.rope_freq_base = 100000.0f;
        s.rms_eps = 1e-5f;
        s.name = "random SmolLM2-135M shape";
        return s;
    }
    if (name == "qwen2.5-0.5b") {
        s.architecture = "qwen2";
        s.n_embd = 896, s.n_layer = 24, s.n_head = 14, s.n_head_kv = 2, s.n_ff = 4864;
        s.n_vocab = 49152, s.tied_embeddings = true, s.rope_freq_base = 1000000.0f;
        s.rms_eps = 1e-6f;
        s.name = "random Qwen2.5-0.5B shape";
        return s;
    }
    return std::nullopt;
}

std::vector<std::string> synthetic_shape_names() {
    return {"smollm2-135m", "qwen2.5-0.5b"};
}

std::vector<std::pair<std::string, GgmlType>> synthetic_tensor_types(
    const SyntheticModelSpec& spec) {
    std::vector<std::pair<std::string, GgmlType>> out;
    for (const TensorPlan& t : plan(spec)) out.emplace_back(t.name, t.type);
    return out;
}

void write_synthetic_model(const SyntheticModelSpec& s, const std::filesystem::path& path,
                           const GgufFile* vocabulary) {
    if (s.architecture != "llama" && s.architecture != "qwen2")
        fail("architecture '", s.architecture, "': synthetic models are llama or qwen2");
    if (s.n_embd <= 0 || s.n_layer <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.n_ff <= 0 ||
        s.n_vocab <= 0 || s.n_embd % s.n_head != 0 || s.n_head % s.n_head_kv != 0)
        fail("invalid model shape: dim ", s.n_embd, ", heads ", s.n_head, "/", s.n_head_kv,
             ", layers ", s.n_layer, ", ffn ", s.n_ff, ", vocab ", s.n_vocab,
             " (dim must divide by heads, heads by KV heads)");
    if (s.n_embd % 32 != 0 || s.n_ff % 32 != 0)
        fail("dim and ffn sizes must be multiples of 32 (quantization blocks)");
    const std::vector<TensorPlan> tensors = plan(s);

    GgufWriter w;
    const std::string a = s.architecture + ".";
    w.set_string("general.architecture", s.architecture);
    w.set_string("general.name", s.name.empty() ? "random " + s.architecture : s.name);
    w.set_string("general.quantized_by", "ponder make-model (random weights)");
    w.set_u32(a + "context_length", static_cast<uint32_t>(s.n_ctx_train));
    w.set_u32(a + "embedding_length", static_cast<uint32_t>(s.n_embd));
    w.set_u32(a + "block_count", static_cast<uint32_t>(s.n_layer));
    w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(s.n_ff));
    w.set_u32(a + "attention.head_count", static_cast<uint32_t>(s.n_head));
    w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(s.n_head_kv));
    w.set_f32(a + "attention.layer_norm_rms_epsilon", s.rms_eps);
    w.set_f32(a + "rope.freq_base", s.rope_freq_base);
    w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(s.n_embd / s.n_head));
    w.set_u32(a + "vocab_size", static_cast<uint32_t>(s.n_vocab));
    if (vocabulary) {
        const auto tokens = vocabulary->get_string_array("tokenizer.ggml.tokens");
        if (!tokens)
            fail(vocabulary->name(), ": no tokenizer.ggml.tokens to take a vocabulary from");
        if (static_cast<int64_t>(tokens->size()) != s.n_vocab)
            fail(vocabulary->name(), " has ", tokens->size(), " tokens but the model needs ",
                 s.n_vocab);
        for (const GgufKeyValue& kv : vocabulary->metadata())
            if (kv.key.rfind("tokenizer.", 0) == 0) w.set(kv.key, kv.value);
    }

    ThreadPool& pool = global_thread_pool();
    for (size_t t = 0; t < tensors.size(); ++t) {
        const TensorPlan& p = tensors[t];
        const auto cols = static_cast<int64_t>(p.dims[0]);
        const int64_t rows = p.dims.size() > 1 ? static_cast<int64_t>(p.dims[1]) : 1;
        const auto row_bytes = *ggml_row_bytes(p.type, static_cast<uint64_t>(cols));
        std::vector<uint8_t> bytes(row_bytes * static_cast<size_t>(rows));
        // Matrices: the usual initialisation scale; norms 1 (as trained models roughly are).
        const float sd =
            p.kind == TensorPlan::bias ? 0.1f : 1.0f / std::sqrt(static_cast<float>(cols));
        pool.parallel_for(rows, 16, [&](int64_t r0, int64_t r1, int) {
            std::vector<float> values(static_cast<size_t>(cols));
            for (int64_t r = r0; r < r1; ++r) {
                if (p.kind == TensorPlan::norm)
                    std::fill(values.begin(), values.end(), 1.0f);
                else
                    random_row(s.seed * 1000003u + t * 65537u + static_cast<uint64_t>(r), sd,
                               values.data(), cols);
                quantize_row(p.type, values.data(),
                             bytes.data() + static_cast<size_t>(r) * row_bytes, cols);
            }
        });
        w.add_tensor(p.name, p.type, p.dims, std::move(bytes));
    }
    w.write(path);
}

}  // namespace ponder
