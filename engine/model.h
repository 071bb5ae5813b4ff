#pragma once
// A loaded model: hyper-parameters and views of the weights, used in place from the file's
// memory map. Loads GGUF files of the llama family (architectures llama, qwen2, qwen3) and
// Hugging Face directories (config.json + model.safetensors, LlamaForCausalLM and relatives).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/kernels.h"

namespace ponder {

class GgufFile;

struct ModelConfig {
    std::string architecture;  // "llama", "qwen2", "qwen3"
    int64_t n_vocab = 0;
    int64_t n_ctx_train = 0;
    int64_t n_embd = 0;
    int64_t n_layer = 0;
    int64_t n_ff = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim_k = 0;  // attention.key_length
    int64_t head_dim_v = 0;  // attention.value_length
    float rms_eps = 1e-5f;
    RopeParams rope;
    bool tied_embeddings = false;  // no output.weight: logits use token_embd.weight

    int64_t n_embd_k_gqa() const { return n_head_kv * head_dim_k; }
    int64_t n_embd_v_gqa() const { return n_head_kv * head_dim_v; }
};

struct LayerWeights {
    std::vector<float> attn_norm;
    WeightMatrix wq, wk, wv, wo;
    std::vector<float> bq, bk, bv, bo;  // empty when absent
    std::vector<float> q_norm, k_norm;  // per-head RMSNorm weights (qwen3), empty when absent
    std::vector<float> ffn_norm;
    WeightMatrix gate, up, down;
};

enum class ModelFormat { gguf, huggingface };

class Model {
  public:
    // A GGUF file or a Hugging Face directory. Throws ponder::Error naming the file and what is
    // wrong (unknown architecture, missing tensor, wrong shape, unsupported type).
    static Model load(const std::filesystem::path& path);
    static Model from_gguf(std::shared_ptr<const GgufFile> file);
    static Model from_huggingface(const std::filesystem::path& directory);

    Model(Model&&) noexcept;
    Model& operator=(Model&&) noexcept;
    ~Model();

    const ModelConfig& config() const { return config_; }
    ModelFormat format() const { return format_; }
    const std::string& source() const { return source_; }
    // The GGUF file, for the tokenizer and chat template; null for Hugging Face models.
    const GgufFile* gguf() const { return gguf_.get(); }
    std::shared_ptr<const GgufFile> gguf_shared() const { return gguf_; }

    const WeightMatrix& token_embedding() const { return token_embd_; }
    const WeightMatrix& output() const { return output_; }
    const std::vector<float>& output_norm() const { return output_norm_; }
    const std::vector<LayerWeights>& layers() const { return layers_; }

    // Seconds spent opening, checking and preparing the model.
    double load_seconds() const { return load_seconds_; }
    // Bytes of the weight matrices one decode step reads: every matrix once, as the kernels
    // store it (the token embedding is only looked up).
    uint64_t matrix_bytes() const;
    // Bytes of integer weights copied into the kernels' layout (PackedWeights).
    size_t packed_bytes() const { return packed_bytes_; }

  private:
    Model() = default;
    void pack_weights();
    struct Storage;  // keeps maps and converted tensors alive

    ModelConfig config_;
    ModelFormat format_ = ModelFormat::gguf;
    std::string source_;
    std::shared_ptr<const GgufFile> gguf_;
    std::shared_ptr<Storage> storage_;
    WeightMatrix token_embd_, output_;
    std::vector<float> output_norm_;
    std::vector<LayerWeights> layers_;
    double load_seconds_ = 0;
    size_t packed_bytes_ = 0;
};

}  // namespace ponder
