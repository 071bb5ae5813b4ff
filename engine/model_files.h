#pragma once
// What a model's files say about how to talk to it, in either form: a GGUF file (metadata
// tokenizer.chat_template) or a Hugging Face directory (tokenizer_config.json "chat_template").
#include <filesystem>
#include <optional>
#include <string>

namespace ponder {

class GgufFile;

// True for a directory (or a config.json inside one) in the Hugging Face layout.
bool is_huggingface_model(const std::filesystem::path& path);

// The chat template the model ships, if any. Throws ponder::Error naming the file when it cannot
// be read. A tokenizer_config.json with several named templates gives the "default" one.
std::optional<std::string> model_chat_template(const std::filesystem::path& path);
std::optional<std::string> model_chat_template(const GgufFile& file);

}  // namespace ponder
