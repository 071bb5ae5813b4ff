#pragma once
// Random-weight models of real shapes, written as GGUF with ponder's own writer and quantizers:
// for benchmarks (the speed of a model does not depend on what its weights say) and tests.
// Tensor types follow llama.cpp's choices (engine/file_types.h), so that a file compares with
// llama.cpp's quantized files of the same shape.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/ggml_type.h"

namespace ponder {

class GgufFile;

struct SyntheticModelSpec {
    std::string architecture = "llama";  // "llama", or "qwen2" (q/k/v biases)
    int64_t n_embd = 256;
    int64_t n_layer = 2;
    int64_t n_head = 4;
    int64_t n_head_kv = 2;
    int64_t n_ff = 768;
    int64_t n_vocab = 49152;
    bool tied_embeddings = true;
    int64_t n_ctx_train = 8192;
    float rope_freq_base = 10000.0f;
    float rms_eps = 1e-5f;
    // A tensor type name (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k,
    // q5_k, q6_k) for every matrix, or a llama.cpp mix: q4_k_m, q5_k_m.
    std::string type = "q8_0";
    uint64_t seed = 1;
    std::string name;  // general.name
};

// The shapes of real models: "smollm2-135m", "qwen2.5-0.5b" (with the 49152-token vocabulary
// of SmolLM2 rather than Qwen's own). nullopt for other names.
std::optional<SyntheticModelSpec> synthetic_shape(const std::string& name);
std::vector<std::string> synthetic_shape_names();

// The type of each matrix under `spec.type` (llama.cpp's rules), by GGUF tensor name, in the
// order the file stores them. Throws ponder::Error for an unknown type name.
std::vector<std::pair<std::string, GgmlType>> synthetic_tensor_types(
    const SyntheticModelSpec& spec);

// Writes the model. `vocabulary`, when given, supplies the tokenizer (every tokenizer.* key,
// including the chat template); its vocabulary must have spec.n_vocab tokens. Without one the
// file has no tokenizer (fine for `ponder bench`). Work is split over the global thread pool.
void write_synthetic_model(const SyntheticModelSpec& spec, const std::filesystem::path& path,
                           const GgufFile* vocabulary = nullptr);

}  // namespace ponder
