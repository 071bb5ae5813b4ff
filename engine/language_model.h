#pragma once
// A model ready to talk to: its weights, its tokenizer and its chat template, loaded together
// from a GGUF file, a Hugging Face directory, or GGUF bytes embedded in the program.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "engine/chat_template.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

namespace ponder {

class LanguageModel {
  public:
    // Throws ponder::Error naming the file and what is wrong with it.
    static std::shared_ptr<LanguageModel> load(const std::filesystem::path& path);
    // `bytes` must outlive the model (e.g. a file linked into the binary).
    static std::shared_ptr<LanguageModel> from_memory(std::span<const uint8_t> bytes,
                                                      std::string name);

    const Model& model() const { return model_; }
    const Tokenizer& tokenizer() const { return tokenizer_; }

    // The model's chat template, or the one given by override_chat_template(). Throws
    // ponder::Error when there is none or it does not parse: a conversation must never be sent
    // to a model in a format it was not trained on.
    const ChatTemplate& chat_template() const;
    bool has_chat_template() const { return chat_template_.has_value(); }

    const std::string& name() const { return name_; }  // general.name, else the file name
    const std::string& path() const { return path_; }  // what it was loaded from
    double load_seconds() const { return load_seconds_; }

    // Replaces the chat template (e.g. `--chat-template FILE`); throws on a syntax error.
    void override_chat_template(std::string_view source);

  private:
    LanguageModel(Model model, Tokenizer tokenizer, std::optional<std::string> template_source,
                  std::string name, std::string path);

    Model model_;
    Tokenizer tokenizer_;
    std::optional<ChatTemplate> chat_template_;
    std::string chat_template_error_;  // why chat_template_ is empty, when the model had one
    std::string name_;
    std::string path_;
    double load_seconds_ = 0;
};

}  // namespace ponder
