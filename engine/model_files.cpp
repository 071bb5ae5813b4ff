#include "engine/model_files.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/error.h"
#include "engine/gguf.h"

namespace ponder {

bool is_huggingface_model(const std::filesystem::path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        return std::filesystem::exists(path / "config.json", ec);
    return path.filename() == "config.json";
}

std::optional<std::string> model_chat_template(const GgufFile& file) {
    return file.get_string("tokenizer.chat_template");
}

std::optional<std::string> model_chat_template(const std::filesystem::path& path) {
    if (!is_huggingface_model(path)) return model_chat_template(GgufFile::open(path));
    auto dir = std::filesystem::is_directory(path) ? path : path.parent_path();
    auto config = dir / "tokenizer_config.json";
    if (!std::filesystem::exists(config)) return std::nullopt;
    std::ifstream in(config);
    std::stringstream text;
    text << in.rdbuf();
    nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) fail(config.string(), ": not a JSON object");
    auto it = j.find("chat_template");
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_array()) {
        // [{"name": "default", "template": "..."}, {"name": "tool_use", ...}]
        for (const auto& entry : *it) {
            if (entry.is_object() && entry.value("name", "") == "default" &&
                entry.contains("template") && entry["template"].is_string())
                return entry["template"].get<std::string>();
        }
    }
    fail(config.string(),
         ": chat_template is neither a string nor a list with a \"default\" entry");
}

}  // namespace ponder
