#pragma once
// Converting a Hugging Face model directory (config.json, model.safetensors, tokenizer.json,
// tokenizer_config.json) of the llama family to a GGUF file, written with ponder's own GGUF
// writer and quantizers, and converting a GGUF file to another weight type. This is how the
// bundled model, trained in PyTorch, becomes a file the engine runs unchanged.
#include <filesystem>
#include <string>

#include "engine/ggml_type.h"

namespace ponder {

struct ConvertOptions {
    GgmlType type = GgmlType::Q8_0;  // for 2-D weights; norms and biases stay F32
    std::string name;                // general.name; default: the directory's name
};

// Throws ponder::Error naming the file and what cannot be converted.
void convert_huggingface_to_gguf(const std::filesystem::path& directory,
                                 const std::filesystem::path& output,
                                 const ConvertOptions& options);

// Writes a GGUF file's model again with its 2-D weights in `options.type` (llama-quantize's
// job): metadata and 1-D tensors are kept as they are, weights already of that type are copied
// byte for byte, others are expanded to F32 and quantized. `options.name`, when given, replaces
// general.name. Throws ponder::Error naming the file and tensor that cannot be converted.
void convert_gguf(const std::filesystem::path& input, const std::filesystem::path& output,
                  const ConvertOptions& options);

}  // namespace ponder
