#include "engine/model.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <numbers>
#include <set>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/quants.h"
#include "engine/safetensors.h"
#include "engine/thread_pool.h"

namespace ponder {

namespace fs = std::filesystem;

struct Model::Storage {
    std::shared_ptr<const GgufFile> gguf;
    std::vector<SafetensorsFile> safetensors;
    std::vector<std::unique_ptr<PackedWeights>> packed;
};

Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

namespace {

// A tensor as found in either file format, with dims in ggml order (dims[0] = row length).
struct TensorView {
    std::string name;              // as named in the file
    std::optional<GgmlType> type;  // nullopt: a dtype ponder cannot compute with
    std::string type_name;
    std::vector<uint64_t> dims;
    std::span<const uint8_t> data;
};

using TensorLookup = std::function<std::optional<TensorView>(const std::string& gguf_name)>;

// Finds the weights of the model by their GGUF names and checks shape and type.
class WeightBinder {
  public:
    // `file_name` maps a GGUF name to the name the file uses, for messages.
    WeightBinder(std::string file, TensorLookup lookup,
                 std::function<std::string(const std::string&)> file_name = {})
        : file_(std::move(file)), lookup_(std::move(lookup)), file_name_(std::move(file_name)) {}

    bool has(const std::string& name) const { return lookup_(name).has_value(); }

    // A matrix of `rows` rows of `cols` values.
    WeightMatrix matrix(const std::string& name, int64_t cols, int64_t rows) const {
        auto t = lookup_(name);
        if (!t) fail(file_, ": missing tensor ", display(name));
        return to_matrix(*t, cols, rows);
    }

    std::optional<WeightMatrix> optional_matrix(const std::string& name, int64_t cols,
                                                int64_t rows) const {
        auto t = lookup_(name);
        if (!t) return std::nullopt;
        return to_matrix(*t, cols, rows);
    }

    // A vector of `n` values (norm weights, biases), converted to F32.
    std::vector<float> vector(const std::string& name, int64_t n, bool required = true) const {
        auto t = lookup_(name);
        if (!t) {
            if (required) fail(file_, ": missing tensor ", display(name));
            return {};
        }
        uint64_t count = 1;
        for (uint64_t d : t->dims) count *= d;
        if (count != static_cast<uint64_t>(n) || t->dims.empty() ||
            t->dims[0] != static_cast<uint64_t>(n))
            fail(file_, ": tensor ", t->name, " has shape ", shape(t->dims), ", expected [", n,
                 "]");
        if (!t->type ||
            !(*t->type == GgmlType::F32 || *t->type == GgmlType::F16 || *t->type == GgmlType::BF16))
            fail(file_, ": tensor ", t->name, " has type ", t->type_name,
                 "; ponder reads vectors as f32, f16 or bf16");
        std::vector<float> out(static_cast<size_t>(n));
        dequantize_row(*t->type, t->data.data(), out.data(), n);
        return out;
    }

    const std::string& file() const { return file_; }

  private:
    static std::string shape(const std::vector<uint64_t>& dims) {
        std::string s = "[";
        for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
        return s + "]";
    }

    WeightMatrix to_matrix(const TensorView& t, int64_t cols, int64_t rows) const {
        bool ok = t.dims.size() >= 2 && t.dims[0] == static_cast<uint64_t>(cols) &&
                  t.dims[1] == static_cast<uint64_t>(rows);
        for (size_t i = 2; ok && i < t.dims.size(); ++i) ok = t.dims[i] == 1;
        if (!ok)
            fail(file_, ": tensor ", t.name, " has shape ", shape(t.dims), ", expected [", cols,
                 ", ", rows, "]");
        if (!t.type || !matmul_supports(*t.type))
            fail(file_, ": tensor ", t.name, " has type ", t.type_name,
                 ", which ponder cannot compute with");
        auto row_bytes = ggml_row_bytes(*t.type, static_cast<uint64_t>(cols));
        if (!row_bytes)
            fail(file_, ": tensor ", t.name, " rows of ", cols, " values are not whole ",
                 t.type_name, " blocks");
        if (*row_bytes * static_cast<uint64_t>(rows) > t.data.size())
            fail(file_, ": tensor ", t.name, " data is shorter than its shape needs");
        WeightMatrix w;
        w.name = t.name;
        w.type = *t.type;
        w.data = t.data.data();
        w.rows = rows;
        w.cols = cols;
        w.row_bytes = static_cast<size_t>(*row_bytes);
        return w;
    }

    std::string display(const std::string& name) const {
        return file_name_ ? file_name_(name) : name;
    }

    std::string file_;
    TensorLookup lookup_;
    std::function<std::string(const std::string&)> file_name_;
};

// Binds every weight by its GGUF name; Hugging Face models go through a name map.
void bind_weights(const WeightBinder& b, const ModelConfig& c, WeightMatrix& token_embd,
                  WeightMatrix& output, std::vector<float>& output_norm,
                  std::vector<LayerWeights>& layers, bool& tied) {
    token_embd = b.matrix("token_embd.weight", c.n_embd, c.n_vocab);
    output_norm = b.vector("output_norm.weight", c.n_embd);
    if (auto out = b.optional_matrix("output.weight", c.n_embd, c.n_vocab)) {
        output = *out;
        tied = false;
    } else {
        output = token_embd;
        tied = true;
    }
    const int64_t q_dim = c.n_head * c.head_dim_k, k_dim = c.n_embd_k_gqa(),
                  v_dim = c.n_embd_v_gqa(), o_dim = c.n_head * c.head_dim_v;
    layers.resize(static_cast<size_t>(c.n_layer));
    for (int64_t i = 0; i < c.n_layer; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        LayerWeights& L = layers[static_cast<size_t>(i)];
        L.attn_norm = b.vector(p + "attn_norm.weight", c.n_embd);
        L.wq = b.matrix(p + "attn_q.weight", c.n_embd, q_dim);
        L.wk = b.matrix(p + "attn_k.weight", c.n_embd, k_dim);
        L.wv = b.matrix(p + "attn_v.weight", c.n_embd, v_dim);
        L.wo = b.matrix(p + "attn_output.weight", o_dim, c.n_embd);
        L.bq = b.vector(p + "attn_q.bias", q_dim, false);
        L.bk = b.vector(p + "attn_k.bias", k_dim, false);
        L.bv = b.vector(p + "attn_v.bias", v_dim, false);
        L.bo = b.vector(p + "attn_output.bias", c.n_embd, false);
        const bool norms_required = c.architecture == "qwen3";
        L.q_norm = b.vector(p + "attn_q_norm.weight", c.head_dim_k, norms_required);
        L.k_norm = b.vector(p + "attn_k_norm.weight", c.head_dim_k, norms_required);
        L.ffn_norm = b.vector(p + "ffn_norm.weight", c.n_embd);
        L.gate = b.matrix(p + "ffn_gate.weight", c.n_embd, c.n_ff);
        L.up = b.matrix(p + "ffn_up.weight", c.n_embd, c.n_ff);
        L.down = b.matrix(p + "ffn_down.weight", c.n_ff, c.n_embd);
    }
}

void check_config(const std::string& file, const ModelConfig& c) {
    auto positive = [&](const char* what, int64_t v) {
        if (v <= 0) fail(file, ": ", what, " is ", v, ", must be positive");
    };
    positive("embedding length", c.n_embd);
    positive("block count", c.n_layer);
    positive("feed-forward length", c.n_ff);
    positive("head count", c.n_head);
    positive("KV head count", c.n_head_kv);
    positive("key length", c.head_dim_k);
    positive("value length", c.head_dim_v);
    positive("vocabulary size", c.n_vocab);
    positive("context length", c.n_ctx_train);
    if (c.head_dim_k > kMaxHeadDim || c.head_dim_v > kMaxHeadDim)
        fail(file, ": head size ", std::max(c.head_dim_k, c.head_dim_v),
             " exceeds ponder's limit of ", kMaxHeadDim);
    if (c.n_head % c.n_head_kv != 0)
        fail(file, ": head count ", c.n_head, " is not a multiple of the KV head count ",
             c.n_head_kv);
    if (c.rope.n_rot <= 0 || c.rope.n_rot % 2 != 0 || c.rope.n_rot > c.head_dim_k)
        fail(file, ": rope dimension count ", c.rope.n_rot,
             " must be even and at most the head size ", c.head_dim_k);
    if (!c.rope.freq_factors.empty() &&
        c.rope.freq_factors.size() != static_cast<size_t>(c.rope.n_rot / 2))
        fail(file, ": rope_freqs has ", c.rope.freq_factors.size(), " values, expected ",
             c.rope.n_rot / 2);
}

RopeStyle rope_style_for(const std::string& arch) {
    // As llama.cpp's llama_model_rope_type: llama rotates adjacent pairs, Qwen halves.
    return arch == "llama" ? RopeStyle::normal : RopeStyle::neox;
}

const std::set<std::string>& supported_architectures() {
    static const std::set<std::string> archs{"llama", "qwen2", "qwen3"};
    return archs;
}

// Llama 3 rope scaling as a per-pair divisor of θ (what convert_hf_to_gguf.py writes as
// rope_freqs.weight): low frequencies slowed by `factor`, high ones kept, a smooth ramp between.
std::vector<float> llama3_freq_factors(int n_rot, float base, float factor, float low_freq_factor,
                                       float high_freq_factor, float original_ctx) {
    std::vector<float> out;
    const float low_wavelen = original_ctx / low_freq_factor;
    const float high_wavelen = original_ctx / high_freq_factor;
    for (int i = 0; i < n_rot; i += 2) {
        const float freq = 1.0f / std::pow(base, static_cast<float>(i) / static_cast<float>(n_rot));
        const float wavelen = 2 * std::numbers::pi_v<float> / freq;
        if (wavelen < high_wavelen) {
            out.push_back(1.0f);
        } else if (wavelen > low_wavelen) {
            out.push_back(factor);
        } else {
            const float smooth =
                (original_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
            out.push_back(1.0f / ((1 - smooth) / factor + smooth));
        }
    }
    return out;
}

// ---- GGUF --------------------------------------------------------------------------------

ModelConfig gguf_config(const GgufFile& f) {
    ModelConfig c;
    const std::string& file = f.name();
    auto arch = f.get_string("general.architecture");
    if (!arch) fail(file, ": no general.architecture key; not a model file?");
    c.architecture = *arch;
    if (!supported_architectures().count(c.architecture))
        fail(file, ": architecture '", c.architecture,
             "' is not supported (ponder runs llama, qwen2 and qwen3 models)");
    const std::string a = c.architecture + ".";
    auto required = [&](const std::string& key) {
        auto v = f.get_int(a + key);
        if (!v) fail(file, ": missing metadata key ", a + key);
        return *v;
    };
    c.n_embd = required("embedding_length");
    c.n_layer = required("block_count");
    c.n_head = required("attention.head_count");
    c.n_head_kv = f.get_int(a + "attention.head_count_kv").value_or(c.n_head);
    if (const GgufValue* ff = f.find(a + "feed_forward_length"); ff && ff->as_array()) {
        // Per-layer FFN sizes: ponder needs them all equal.
        auto sizes = f.get_int_array(a + "feed_forward_length").value_or(std::vector<int64_t>{});
        if (sizes.empty()) fail(file, ": empty ", a, "feed_forward_length");
        for (int64_t s : sizes)
            if (s != sizes[0]) fail(file, ": per-layer feed-forward sizes differ; not supported");
        c.n_ff = sizes[0];
    } else {
        c.n_ff = required("feed_forward_length");
    }
    c.n_ctx_train = f.get_int(a + "context_length").value_or(2048);
    const int64_t head_dim = c.n_head > 0 ? c.n_embd / c.n_head : 0;
    c.head_dim_k = f.get_int(a + "attention.key_length").value_or(head_dim);
    c.head_dim_v = f.get_int(a + "attention.value_length").value_or(head_dim);
    c.rms_eps =
        static_cast<float>(f.get_float(a + "attention.layer_norm_rms_epsilon").value_or(1e-5));

    RopeParams& r = c.rope;
    r.style = rope_style_for(c.architecture);
    r.n_rot = static_cast<int>(f.get_int(a + "rope.dimension_count").value_or(c.head_dim_k));
    r.freq_base = static_cast<float>(f.get_float(a + "rope.freq_base").value_or(10000.0));
    r.n_ctx_orig = static_cast<int>(
        f.get_int(a + "rope.scaling.original_context_length").value_or(c.n_ctx_train));
    std::string scaling = f.get_string(a + "rope.scaling.type").value_or("");
    double factor = f.get_float(a + "rope.scaling.factor").value_or(0.0);
    if (auto linear = f.get_float(a + "rope.scale_linear")) {  // older files
        if (scaling.empty()) scaling = "linear";
        factor = *linear;
    }
    if (scaling == "linear" || scaling == "yarn") {
        if (factor > 0) r.freq_scale = static_cast<float>(1.0 / factor);
        if (scaling == "yarn") {
            r.ext_factor =
                static_cast<float>(f.get_float(a + "rope.scaling.yarn_ext_factor").value_or(1.0));
            r.beta_fast =
                static_cast<float>(f.get_float(a + "rope.scaling.yarn_beta_fast").value_or(32.0));
            r.beta_slow =
                static_cast<float>(f.get_float(a + "rope.scaling.yarn_beta_slow").value_or(1.0));
        }
    } else if (!scaling.empty() && scaling != "none" && scaling != "llama3") {
        fail(file, ": rope scaling type '", scaling, "' is not supported");
    }
    r.attn_factor = static_cast<float>(f.get_float(a + "rope.scaling.attn_factor").value_or(1.0));

    if (auto tokens = f.find("tokenizer.ggml.tokens"); tokens && tokens->as_array()) {
        c.n_vocab = static_cast<int64_t>(tokens->as_array()->items.size());
    } else if (auto v = f.get_int(a + "vocab_size")) {
        c.n_vocab = *v;
    } else if (const GgufTensorInfo* t = f.find_tensor("token_embd.weight");
               t && t->dims.size() >= 2) {
        c.n_vocab = static_cast<int64_t>(t->dims[1]);
    }
    return c;
}

TensorLookup gguf_lookup(const GgufFile& f) {
    return [&f](const std::string& name) -> std::optional<TensorView> {
        const GgufTensorInfo* t = f.find_tensor(name);
        if (!t) return std::nullopt;
        TensorView v;
        v.name = t->name;
        v.type = t->type;
        v.type_name = std::string(traits(t->type).name);
        v.dims = t->dims;
        v.data = f.tensor_data(*t);
        return v;
    };
}

// ---- Hugging Face -------------------------------------------------------------------------

// GGUF tensor names to Hugging Face ones ("blk.3.attn_q.weight" ->
// "model.layers.3.self_attn.q_proj.weight").
std::string hf_name(const std::string& gguf) {
    static const std::pair<const char*, const char*> kGlobal[] = {
        {"token_embd.weight", "model.embed_tokens.weight"},
        {"output_norm.weight", "model.norm.weight"},
        {"output.weight", "lm_head.weight"},
    };
    for (const auto& [g, h] : kGlobal)
        if (gguf == g) return h;
    static const std::pair<const char*, const char*> kLayer[] = {
        {"attn_norm.weight", "input_layernorm.weight"},
        {"attn_q.weight", "self_attn.q_proj.weight"},
        {"attn_k.weight", "self_attn.k_proj.weight"},
        {"attn_v.weight", "self_attn.v_proj.weight"},
        {"attn_output.weight", "self_attn.o_proj.weight"},
        {"attn_q.bias", "self_attn.q_proj.bias"},
        {"attn_k.bias", "self_attn.k_proj.bias"},
        {"attn_v.bias", "self_attn.v_proj.bias"},
        {"attn_output.bias", "self_attn.o_proj.bias"},
        {"attn_q_norm.weight", "self_attn.q_norm.weight"},
        {"attn_k_norm.weight", "self_attn.k_norm.weight"},
        {"ffn_norm.weight", "post_attention_layernorm.weight"},
        {"ffn_gate.weight", "mlp.gate_proj.weight"},
        {"ffn_up.weight", "mlp.up_proj.weight"},
        {"ffn_down.weight", "mlp.down_proj.weight"},
    };
    if (gguf.rfind("blk.", 0) == 0) {
        const size_t dot = gguf.find('.', 4);
        if (dot != std::string::npos) {
            const std::string layer = gguf.substr(4, dot - 4), rest = gguf.substr(dot + 1);
            for (const auto& [g, h] : kLayer)
                if (rest == g) return "model.layers." + layer + "." + h;
        }
    }
    return {};
}

nlohmann::json read_json(const fs::path& path) {
    std::ifstream in(path);
    if (!in) fail("cannot read ", path.string());
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail(path.string(), ": malformed JSON: ", e.what());
    }
}

ModelConfig hf_config(const fs::path& config_path) {
    const nlohmann::json j = read_json(config_path);
    const std::string file = config_path.string();
    std::string hf_arch;
    if (j.contains("architectures") && j["architectures"].is_array() &&
        !j["architectures"].empty() && j["architectures"][0].is_string())
        hf_arch = j["architectures"][0].get<std::string>();
    ModelConfig c;
    if (hf_arch == "LlamaForCausalLM" || hf_arch == "MistralForCausalLM")
        c.architecture = "llama";
    else if (hf_arch == "Qwen2ForCausalLM")
        c.architecture = "qwen2";
    else if (hf_arch == "Qwen3ForCausalLM")
        c.architecture = "qwen3";
    else
        fail(file, ": architecture '", hf_arch,
             "' is not supported (ponder runs LlamaForCausalLM, MistralForCausalLM, "
             "Qwen2ForCausalLM and Qwen3ForCausalLM)");
    auto get_int = [&](const char* key) -> std::optional<int64_t> {
        if (!j.contains(key) || j[key].is_null()) return std::nullopt;
        if (!j[key].is_number_integer()) fail(file, ": ", key, " is not an integer");
        return j[key].get<int64_t>();
    };
    auto get_float = [&](const nlohmann::json& obj, const char* key) -> std::optional<double> {
        if (!obj.contains(key) || obj[key].is_null()) return std::nullopt;
        if (!obj[key].is_number()) fail(file, ": ", key, " is not a number");
        return obj[key].get<double>();
    };
    auto required = [&](const char* key) {
        auto v = get_int(key);
        if (!v) fail(file, ": missing ", key);
        return *v;
    };
    c.n_embd = required("hidden_size");
    c.n_layer = required("num_hidden_layers");
    c.n_ff = required("intermediate_size");
    c.n_head = required("num_attention_heads");
    c.n_head_kv = get_int("num_key_value_heads").value_or(c.n_head);
    c.n_vocab = required("vocab_size");
    c.n_ctx_train = get_int("max_position_embeddings").value_or(2048);
    c.head_dim_k = c.head_dim_v =
        get_int("head_dim").value_or(c.n_head > 0 ? c.n_embd / c.n_head : 0);
    c.rms_eps = static_cast<float>(get_float(j, "rms_norm_eps").value_or(1e-6));
    c.tied_embeddings = j.value("tie_word_embeddings", false);

    RopeParams& r = c.rope;
    // Hugging Face keeps q/k in rotate-half order, which is NeoX-style rope for every
    // architecture (the GGUF converter instead permutes llama's rows for adjacent pairs).
    r.style = RopeStyle::neox;
    r.n_rot = static_cast<int>(c.head_dim_k);
    r.freq_base = static_cast<float>(get_float(j, "rope_theta").value_or(10000.0));
    r.n_ctx_orig = static_cast<int>(c.n_ctx_train);
    if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) {
        const auto& s = j["rope_scaling"];
        std::string type = s.value("rope_type", s.value("type", std::string()));
        const float factor = static_cast<float>(get_float(s, "factor").value_or(1.0));
        const int orig = static_cast<int>(get_float(s, "original_max_position_embeddings")
                                              .value_or(static_cast<double>(c.n_ctx_train)));
        if (type == "linear") {
            r.freq_scale = 1.0f / factor;
        } else if (type == "llama3") {
            r.freq_factors = llama3_freq_factors(
                r.n_rot, r.freq_base, factor,
                static_cast<float>(get_float(s, "low_freq_factor").value_or(1.0)),
                static_cast<float>(get_float(s, "high_freq_factor").value_or(4.0)),
                static_cast<float>(orig));
        } else if (type == "yarn") {
            r.freq_scale = 1.0f / factor;
            r.ext_factor = 1.0f;
            r.n_ctx_orig = orig;
            r.beta_fast = static_cast<float>(get_float(s, "beta_fast").value_or(32.0));
            r.beta_slow = static_cast<float>(get_float(s, "beta_slow").value_or(1.0));
        } else if (!type.empty() && type != "default") {
            fail(file, ": rope scaling type '", type, "' is not supported");
        }
    }
    return c;
}

}  // namespace

Model Model::load(const fs::path& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) return from_huggingface(path);
    const auto start = std::chrono::steady_clock::now();
    Model m = from_gguf(std::make_shared<const GgufFile>(GgufFile::open(path)));
    m.load_seconds_ =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return m;
}

Model Model::from_gguf(std::shared_ptr<const GgufFile> file) {
    const auto start = std::chrono::steady_clock::now();
    Model m;
    m.format_ = ModelFormat::gguf;
    m.source_ = file->name();
    m.gguf_ = file;
    m.storage_ = std::make_shared<Storage>();
    m.storage_->gguf = file;
    m.config_ = gguf_config(*file);
    WeightBinder binder(file->name(), gguf_lookup(*file));
    if (binder.has("rope_freqs.weight"))
        m.config_.rope.freq_factors = binder.vector("rope_freqs.weight", m.config_.rope.n_rot / 2);
    check_config(file->name(), m.config_);
    bind_weights(binder, m.config_, m.token_embd_, m.output_, m.output_norm_, m.layers_,
                 m.config_.tied_embeddings);
    m.pack_weights();
    m.load_seconds_ =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return m;
}

uint64_t Model::matrix_bytes() const {
    auto bytes = [](const WeightMatrix& w) -> uint64_t {
        return w.packed ? w.packed->bytes() : w.row_bytes * static_cast<uint64_t>(w.rows);
    };
    uint64_t total = bytes(output_);
    for (const LayerWeights& L : layers_)
        for (const WeightMatrix* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down})
            total += bytes(*w);
    return total;
}

void Model::pack_weights() {
    ThreadPool& pool = global_thread_pool();
    auto pack = [&](WeightMatrix& w) {
        auto packed = PackedWeights::pack(w, pool);
        if (!packed) return;
        w.packed = packed.get();
        packed_bytes_ += packed->bytes();
        // The kernels read only the packed copy; the file's pages need not stay resident. (The
        // embedding rows of a tied output matrix page back in as tokens are looked up.)
        if (gguf_) gguf_->release_pages({w.data, w.row_bytes * static_cast<size_t>(w.rows)});
        storage_->packed.push_back(std::move(packed));
    };
    for (LayerWeights& L : layers_)
        for (WeightMatrix* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down}) pack(*w);
    pack(output_);
    // A tied embedding shares the output matrix's packed copy (see weight_row).
    if (token_embd_.data == output_.data && token_embd_.type == output_.type)
        token_embd_.packed = output_.packed;
}

Model Model::from_huggingface(const fs::path& directory) {
    const auto start = std::chrono::steady_clock::now();
    Model m;
    m.format_ = ModelFormat::huggingface;
    m.source_ = directory.string();
    m.storage_ = std::make_shared<Storage>();
    m.config_ = hf_config(directory / "config.json");

    // One file, or shards listed by model.safetensors.index.json.
    std::vector<fs::path> files;
    if (fs::exists(directory / "model.safetensors")) {
        files.push_back(directory / "model.safetensors");
    } else if (fs::exists(directory / "model.safetensors.index.json")) {
        const nlohmann::json index = read_json(directory / "model.safetensors.index.json");
        std::set<std::string> shards;
        if (index.contains("weight_map") && index["weight_map"].is_object())
            for (const auto& [k, v] : index["weight_map"].items())
                if (v.is_string()) shards.insert(v.get<std::string>());
        for (const auto& s : shards) {
            if (s.find('/') != std::string::npos || s.find("..") != std::string::npos)
                fail(directory.string(), ": shard name '", s, "' leaves the model directory");
            files.push_back(directory / s);
        }
    }
    if (files.empty()) fail(directory.string(), ": no model.safetensors in this directory");
    for (const auto& f : files) m.storage_->safetensors.push_back(SafetensorsFile::open(f));

    auto& shards = m.storage_->safetensors;
    const bool tie = m.config_.tied_embeddings;
    TensorLookup lookup = [&shards, tie](const std::string& gguf) -> std::optional<TensorView> {
        std::string name = hf_name(gguf);
        if (name.empty()) return std::nullopt;
        auto find = [&](const std::string& n) -> const SafetensorsTensor* {
            for (const auto& file : shards)
                if (const SafetensorsTensor* t = file.find(n)) return t;
            return nullptr;
        };
        const SafetensorsTensor* t = find(name);
        // Tied weights may be stored once, under either name: the header's metadata then maps
        // the missing name to the stored one (as torch's save_model writes it).
        for (const auto& file : shards) {
            if (t) break;
            auto alias = file.metadata().find(name);
            if (alias != file.metadata().end()) t = find(alias->second);
        }
        if (!t && tie && gguf == "token_embd.weight") t = find("lm_head.weight");
        {
            if (t) {
                TensorView v;
                v.name = t->name;
                v.type = t->type;
                v.type_name = t->dtype;
                v.dims.assign(t->shape.rbegin(), t->shape.rend());
                v.data = t->data;
                return v;
            }
        }
        return std::nullopt;
    };
    check_config(directory.string(), m.config_);
    WeightBinder binder(
        directory.string(),
        [lookup, tie](const std::string& gguf) {
            // With tied embeddings a stray lm_head.weight must not be used.
            if (tie && gguf == "output.weight") return std::optional<TensorView>{};
            return lookup(gguf);
        },
        hf_name);
    bool tied = false;
    bind_weights(binder, m.config_, m.token_embd_, m.output_, m.output_norm_, m.layers_, tied);
    m.config_.tied_embeddings = tied;
    m.load_seconds_ =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return m;
}

}  // namespace ponder
