#pragma once
// Converting a Hugging Face model directory (config.json, model.safetensors, tokenizer.json,
// tokenizer_config.json) of the llama family to a GGUF file, written with ponder's own GGUF
// writer and quantizers, and converting a GGUF file to another weight type. This is how the
// bundled model, trained in PyTorch, becomes a file the engine runs unchanged.
#include <filesystem>
#include <string>

#include "engine/file_types.h"

namespace ponder {

struct ConvertOptions {
    // The types of the weight matrices, chosen by llama.cpp's rules (engine/file_types.h);
    // norms and biases stay F32.
    FileType type;
    std::string name;  // general.name; default: the directory's name, or the GGUF file's own
};

// Throws ponder::Error naming the file and what cannot be converted.
void convert_huggingface_to_gguf(const std::filesystem::path& directory,
                                 const std::filesystem::path& output,
                                 const ConvertOptions& options);

// Writes a GGUF file's model again with its weight matrices in the types of `options.type`
// (llama-quantize's job): metadata and 1-D tensors are kept as they are, matrices already of
// their type are copied byte for byte, others are expanded to F32 and quantized.
// `options.name`, when given, replaces general.name. Throws ponder::Error naming the file and
// tensor that cannot be converted.
void convert_gguf(const std::filesystem::path& input, const std::filesystem::path& output,
                  const ConvertOptions& options);

}  // namespace ponder
