#include "engine/convert.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/quants.h"
#include "engine/safetensors.h"
#include "engine/tokenizer.h"

namespace ponder {

namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const fs::path& path) {
    std::ifstream in(path);
    if (!in) fail(path.string(), ": cannot read");
    std::stringstream s;
    s << in.rdbuf();
    auto j = nlohmann::json::parse(s.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) fail(path.string(), ": not a JSON object");
    return j;
}

int64_t required_int(const nlohmann::json& config, const char* key, const fs::path& path) {
    if (!config.contains(key) || !config[key].is_number_integer())
        fail(path.string(), ": missing integer '", key, "'");
    return config[key].get<int64_t>();
}

std::vector<float> to_f32(const SafetensorsTensor& t, const std::string& file) {
    if (!t.type)
        fail(file, ": tensor '", t.name, "' has dtype ", t.dtype, ", which ponder cannot convert");
    size_t n = 1;
    for (uint64_t d : t.shape) n *= d;
    std::vector<float> out(n);
    dequantize_row(*t.type, t.data.data(), out.data(), static_cast<int64_t>(n));
    return out;
}

// Hugging Face keeps each head's q/k rows in rotate-half order (i, i + d/2); GGUF's llama rope
// rotates adjacent pairs, so llama.cpp's converter interleaves the two halves of every head.
std::vector<float> interleave_heads(const std::vector<float>& w, int64_t rows, int64_t cols,
                                    int64_t heads) {
    const int64_t head_dim = rows / heads, half = head_dim / 2;
    std::vector<float> out(w.size());
    for (int64_t h = 0; h < heads; ++h) {
        for (int64_t i = 0; i < half; ++i) {
            for (int64_t j = 0; j < 2; ++j) {
                const int64_t to = h * head_dim + i * 2 + j, from = h * head_dim + j * half + i;
                std::copy_n(w.begin() + from * cols, cols, out.begin() + to * cols);
            }
        }
    }
    return out;
}

// Where a weight matrix goes in a file: its type follows the file type as llama.cpp's rules
// have it for this tensor in a model of this many layers.
struct MatrixTarget {
    GgufWriter& writer;
    FileType file_type;
    int64_t n_layer;
    bool tied_embeddings;

    GgmlType type_of(std::string_view name, int64_t cols) const {
        return matrix_type(file_type, name, cols, n_layer, tied_embeddings);
    }
    // A matrix of `rows` rows of `cols` values.
    void add(std::string name, std::span<const float> values, int64_t cols, int64_t rows) const {
        const GgmlType type = type_of(name, cols);
        writer.add_tensor(std::move(name), type,
                          {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)},
                          quantize(type, values, cols));
    }
};

class TensorWriter {
  public:
    TensorWriter(const SafetensorsFile& file, MatrixTarget target) : file_(file), target_(target) {}

    const SafetensorsTensor& find(const std::string& name) const {
        const SafetensorsTensor* t = file_.find(name);
        if (!t) fail(file_.name(), ": tensor '", name, "' is missing");
        return *t;
    }
    bool has(const std::string& name) const { return file_.find(name) != nullptr; }

    // A 1-D tensor (norm weights, biases), kept in F32.
    void vector(const std::string& from, const std::string& to) {
        const auto& t = find(from);
        auto values = to_f32(t, file_.name());
        std::vector<uint8_t> bytes(values.size() * 4);
        std::memcpy(bytes.data(), values.data(), bytes.size());
        target_.writer.add_tensor(to, GgmlType::F32, {values.size()}, std::move(bytes));
    }

    // A 2-D weight [rows][cols] (PyTorch order), optionally with interleaved heads.
    void matrix(const std::string& from, const std::string& to,
                int64_t interleave_heads_count = 0) {
        const auto& t = find(from);
        if (t.shape.size() != 2) fail(file_.name(), ": tensor '", from, "' is not 2-D");
        const auto rows = static_cast<int64_t>(t.shape[0]), cols = static_cast<int64_t>(t.shape[1]);
        auto values = to_f32(t, file_.name());
        if (interleave_heads_count > 0)
            values = interleave_heads(values, rows, cols, interleave_heads_count);
        target_.add(to, values, cols, rows);
    }

  private:
    const SafetensorsFile& file_;
    MatrixTarget target_;
};

void add_tokenizer(GgufWriter& w, const fs::path& dir, const nlohmann::json& config) {
    const fs::path tokenizer_path = dir / "tokenizer.json";
    Tokenizer tokenizer = Tokenizer::from_hf(tokenizer_path);
    if (tokenizer.model_type() != "gpt2") {
        fail(tokenizer_path.string(),
             ": only byte-level BPE tokenizers can be converted so far (this one is ",
             tokenizer.model_type(), "-style)");
    }
    nlohmann::json json = read_json(tokenizer_path);
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    for (TokenId id = 0; id < tokenizer.vocab_size(); ++id) {
        tokens.emplace_back(tokenizer.token_text(id));
        types.push_back(static_cast<int32_t>(tokenizer.kind(id)));
    }
    std::vector<std::string> merges;
    for (const auto& m : json["model"].value("merges", nlohmann::json::array())) {
        if (m.is_string())
            merges.push_back(m.get<std::string>());
        else if (m.is_array() && m.size() == 2)
            merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
        else
            fail(tokenizer_path.string(), ": malformed merge entry");
    }
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", std::string(tokenizer.pre_type()));
    w.set("tokenizer.ggml.tokens", GgufValue::string_array(tokens));
    w.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
    w.set("tokenizer.ggml.merges", GgufValue::string_array(merges));
    if (auto bos = tokenizer.bos())
        w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(*bos));
    if (auto eos = tokenizer.eos())
        w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(*eos));
    if (auto eot = tokenizer.eot())
        w.set_u32("tokenizer.ggml.eot_token_id", static_cast<uint32_t>(*eot));
    w.set_bool("tokenizer.ggml.add_bos_token", tokenizer.adds_bos());
    w.set_bool("tokenizer.ggml.add_eos_token", tokenizer.adds_eos());
    (void)config;
    if (fs::exists(dir / "tokenizer_config.json")) {
        auto tc = read_json(dir / "tokenizer_config.json");
        if (tc.contains("chat_template") && tc["chat_template"].is_string()) {
            w.set_string("tokenizer.chat_template", tc["chat_template"].get<std::string>());
        }
    }
}

}  // namespace

void convert_huggingface_to_gguf(const fs::path& dir, const fs::path& output,
                                 const ConvertOptions& options) {
    const fs::path config_path = dir / "config.json";
    nlohmann::json config = read_json(config_path);
    const std::string model_type = config.value("model_type", "llama");
    if (model_type != "llama" && model_type != "qwen2") {
        fail(config_path.string(), ": model_type '", model_type,
             "' cannot be converted (llama or qwen2)");
    }
    const int64_t n_embd = required_int(config, "hidden_size", config_path);
    const int64_t n_layer = required_int(config, "num_hidden_layers", config_path);
    const int64_t n_head = required_int(config, "num_attention_heads", config_path);
    const int64_t n_head_kv = config.value("num_key_value_heads", n_head);
    const int64_t n_ff = required_int(config, "intermediate_size", config_path);
    const int64_t head_dim = config.value("head_dim", n_embd / n_head);
    const bool tied = config.value("tie_word_embeddings", false);

    SafetensorsFile weights = SafetensorsFile::open(dir / "model.safetensors");
    GgufWriter w;
    const std::string arch = model_type;
    w.set_string("general.architecture", arch);
    w.set_string("general.name", options.name.empty() ? dir.filename().string() : options.name);
    w.set_u32(arch + ".context_length",
              static_cast<uint32_t>(config.value("max_position_embeddings", 2048)));
    w.set_u32(arch + ".embedding_length", static_cast<uint32_t>(n_embd));
    w.set_u32(arch + ".block_count", static_cast<uint32_t>(n_layer));
    w.set_u32(arch + ".feed_forward_length", static_cast<uint32_t>(n_ff));
    w.set_u32(arch + ".attention.head_count", static_cast<uint32_t>(n_head));
    w.set_u32(arch + ".attention.head_count_kv", static_cast<uint32_t>(n_head_kv));
    w.set_u32(arch + ".rope.dimension_count", static_cast<uint32_t>(head_dim));
    w.set_f32(arch + ".attention.layer_norm_rms_epsilon", config.value("rms_norm_eps", 1e-5f));
    w.set_f32(arch + ".rope.freq_base", config.value("rope_theta", 10000.0f));
    w.set_u32(arch + ".vocab_size",
              static_cast<uint32_t>(required_int(config, "vocab_size", config_path)));
    add_tokenizer(w, dir, config);

    // Only llama's q/k rows are reordered: qwen2 keeps NeoX-style rope, as in Hugging Face.
    const bool interleave = arch == "llama";
    TensorWriter t(weights, MatrixTarget{w, options.type, n_layer, tied});
    t.matrix("model.embed_tokens.weight", "token_embd.weight");
    t.vector("model.norm.weight", "output_norm.weight");
    if (!tied && t.has("lm_head.weight")) t.matrix("lm_head.weight", "output.weight");
    for (int64_t l = 0; l < n_layer; ++l) {
        const std::string hf = "model.layers." + std::to_string(l) + ".";
        const std::string gg = "blk." + std::to_string(l) + ".";
        t.vector(hf + "input_layernorm.weight", gg + "attn_norm.weight");
        t.matrix(hf + "self_attn.q_proj.weight", gg + "attn_q.weight", interleave ? n_head : 0);
        t.matrix(hf + "self_attn.k_proj.weight", gg + "attn_k.weight", interleave ? n_head_kv : 0);
        t.matrix(hf + "self_attn.v_proj.weight", gg + "attn_v.weight");
        t.matrix(hf + "self_attn.o_proj.weight", gg + "attn_output.weight");
        for (const char* b : {"q", "k", "v"}) {
            std::string name = hf + "self_attn." + b + "_proj.bias";
            if (t.has(name)) t.vector(name, gg + "attn_" + b + ".bias");
        }
        t.vector(hf + "post_attention_layernorm.weight", gg + "ffn_norm.weight");
        t.matrix(hf + "mlp.gate_proj.weight", gg + "ffn_gate.weight");
        t.matrix(hf + "mlp.up_proj.weight", gg + "ffn_up.weight");
        t.matrix(hf + "mlp.down_proj.weight", gg + "ffn_down.weight");
    }
    w.write(output);
}

void convert_gguf(const fs::path& input, const fs::path& output, const ConvertOptions& options) {
    const GgufFile in = GgufFile::open(input);
    GgufWriter w;
    for (const GgufKeyValue& kv : in.metadata()) {
        // llama.cpp's summary of the weight types, which would no longer be true.
        if (kv.key == "general.file_type") continue;
        w.set(kv.key, kv.value);
    }
    if (!options.name.empty()) w.set_string("general.name", options.name);
    const std::string arch = in.get_string("general.architecture").value_or("llama");
    const MatrixTarget target{w, options.type, in.get_int(arch + ".block_count").value_or(0),
                              in.find_tensor("output.weight") == nullptr};
    for (const GgufTensorInfo& t : in.tensors()) {
        const std::span<const uint8_t> bytes = in.tensor_data(t);
        if (t.dims.size() != 2 ||
            t.type == target.type_of(t.name, static_cast<int64_t>(t.dims[0]))) {
            w.add_tensor(t.name, t.type, t.dims, std::vector<uint8_t>(bytes.begin(), bytes.end()));
            continue;
        }
        if (!can_dequantize(t.type))
            fail(in.name(), ": tensor '", t.name, "' has type ", traits(t.type).name,
                 ", which ponder cannot convert");
        target.add(t.name, dequantize(t.type, bytes, static_cast<int64_t>(t.n_elements)),
                   static_cast<int64_t>(t.dims[0]), static_cast<int64_t>(t.dims[1]));
    }
    w.write(output);
}

}  // namespace ponder
