#include "engine/language_model.h"

#include <chrono>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/memory.h"
#include "engine/model_files.h"

namespace ponder {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string display_name(const Model& model, const std::filesystem::path& path) {
    if (model.gguf()) {
        if (auto name = model.gguf()->get_string("general.name"); name && !name->empty())
            return *name;
    }
    std::filesystem::path p = path;
    if (p.filename().empty()) p = p.parent_path();
    return p.filename().string();
}

// The weights are memory-mapped, so a model larger than the machine's memory would load, then
// read from disk for every token: hours per answer. Refused with the sizes instead.
void check_fits_in_memory(const std::filesystem::path& path) {
    std::error_code ec;
    uint64_t bytes = 0;
    if (std::filesystem::is_directory(path, ec)) {
        for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
            if (entry.path().extension() == ".safetensors") bytes += entry.file_size(ec);
        }
    } else {
        bytes = std::filesystem::file_size(path, ec);
    }
    if (ec) return;  // the loader reports a missing or unreadable file itself
    if (const uint64_t memory = physical_memory_bytes(); bytes > memory)
        fail(path.string(), ": the model takes ", human_bytes(bytes), ", more than this machine's ",
             human_bytes(memory), " of memory");
}

}  // namespace

LanguageModel::LanguageModel(Model model, Tokenizer tokenizer,
                             std::optional<std::string> template_source, std::string name,
                             std::string path)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      name_(std::move(name)),
      path_(std::move(path)) {
    if (template_source) {
        try {
            chat_template_ = ChatTemplate::parse(*template_source);
        } catch (const Error& e) {
            chat_template_error_ = e.what();
        }
    }
}

std::shared_ptr<LanguageModel> LanguageModel::load(const std::filesystem::path& path) {
    auto start = std::chrono::steady_clock::now();
    check_fits_in_memory(path);
    Model model = Model::load(path);
    Tokenizer tokenizer =
        model.gguf() ? Tokenizer::from_gguf(*model.gguf()) : Tokenizer::from_path(path);
    auto chat_template =
        model.gguf() ? model_chat_template(*model.gguf()) : model_chat_template(path);
    std::string name = display_name(model, path);
    auto lm = std::shared_ptr<LanguageModel>(
        new LanguageModel(std::move(model), std::move(tokenizer), std::move(chat_template),
                          std::move(name), path.string()));
    lm->load_seconds_ = seconds_since(start);
    return lm;
}

std::shared_ptr<LanguageModel> LanguageModel::from_memory(std::span<const uint8_t> bytes,
                                                          std::string name) {
    auto start = std::chrono::steady_clock::now();
    auto file = std::make_shared<const GgufFile>(GgufFile::from_memory(bytes, name));
    Model model = Model::from_gguf(file);
    Tokenizer tokenizer = Tokenizer::from_gguf(*file);
    auto chat_template = model_chat_template(*file);
    std::string shown = display_name(model, name);
    auto lm = std::shared_ptr<LanguageModel>(new LanguageModel(
        std::move(model), std::move(tokenizer), std::move(chat_template), std::move(shown), name));
    lm->load_seconds_ = seconds_since(start);
    return lm;
}

const ChatTemplate& LanguageModel::chat_template() const {
    if (chat_template_) return *chat_template_;
    if (!chat_template_error_.empty())
        fail(path_, ": the model's chat template cannot be used: ", chat_template_error_);
    fail(path_,
         ": the model has no chat template; use --raw to send the prompt as it is, or "
         "--chat-template FILE");
}

void LanguageModel::override_chat_template(std::string_view source) {
    chat_template_ = ChatTemplate::parse(source);
    chat_template_error_.clear();
}

}  // namespace ponder
