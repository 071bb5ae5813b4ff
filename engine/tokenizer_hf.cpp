// Hugging Face tokenizer.json (BPE models only) mapped onto the same representation as a GGUF
// vocabulary: byte-level files become "gpt2" with the pre-tokenizer their pre_tokenizer
// describes; SentencePiece-like files (U+2581 for spaces, byte fallback) become "llama" text
// handling with merges by rank. tokenizer_config.json beside the file gives the BOS/EOS tokens
// and whether they are added.
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/tokenizer_impl.h"
#include "engine/unicode.h"

namespace ponder {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581

// Hugging Face spellings of patterns llama.cpp rewrites for its regex engine.
constexpr std::string_view kHfLlama3Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kHfQwen2Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot read file");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

json parse_json(const fs::path& path) {
    try {
        return json::parse(read_text(path));
    } catch (const json::exception& e) {
        fail(path.string(), ": not valid JSON: ", e.what());
    }
}

// A pre-tokenizer or normalizer, flattened out of "Sequence" wrappers.
std::vector<json> flatten(const json& node, const char* list_key) {
    std::vector<json> out;
    if (node.is_null()) return out;
    if (node.value("type", "") == "Sequence" && node.contains(list_key)) {
        for (const auto& item : node[list_key]) {
            auto inner = flatten(item, list_key);
            out.insert(out.end(), inner.begin(), inner.end());
        }
    } else {
        out.push_back(node);
    }
    return out;
}

// A special-token setting of tokenizer_config.json: a string or {"content": ...}.
std::optional<std::string> token_setting(const json& config, const char* key) {
    if (!config.contains(key)) return std::nullopt;
    const json& v = config[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) {
        return v["content"].get<std::string>();
    }
    return std::nullopt;
}

// The pre-tokenizer patterns a byte-level file's pre_tokenizer stands for.
std::vector<std::string> byte_level_patterns(const json& pre_tokenizer, const std::string& src) {
    std::vector<std::string> patterns;
    bool byte_level = false;
    for (const json& step : flatten(pre_tokenizer, "pretokenizers")) {
        const std::string type = step.value("type", "");
        if (type == "ByteLevel") {
            if (step.value("add_prefix_space", false)) {
                fail(src, ": ByteLevel pre-tokenizer with add_prefix_space is not supported");
            }
            if (step.value("use_regex", true)) patterns.emplace_back(gpt2_pattern());
            byte_level = true;
        } else if (type == "Digits") {
            patterns.emplace_back(step.value("individual_digits", false) ? "\\p{N}" : "\\p{N}+");
        } else if (type == "Split") {
            const json& pattern = step["pattern"];
            if (!pattern.contains("Regex") || step.value("behavior", "") != "Isolated" ||
                step.value("invert", false)) {
                fail(src,
                     ": unsupported Split pre-tokenizer (only an isolated regex is supported)");
            }
            std::string regex = pattern["Regex"].get<std::string>();
            // llama.cpp's spelling of the same expressions, recognised by its scanners.
            if (regex == kHfLlama3Pattern) {
                regex = bpe_preset("llama-bpe")->patterns.front();
            } else if (regex == kHfQwen2Pattern) {
                regex = bpe_preset("qwen2")->patterns.front();
            }
            patterns.push_back(std::move(regex));
        } else {
            fail(src, ": unsupported pre-tokenizer '", type, "'");
        }
    }
    if (!byte_level)
        fail(src, ": BPE without a ByteLevel pre-tokenizer or a SentencePiece-style normalizer");
    return patterns;
}

// The GGUF pre-tokenizer name with exactly these patterns, if any.
std::string preset_name_for(const std::vector<std::string>& patterns) {
    for (const char* name : {"gpt-2", "smollm", "llama-bpe", "qwen2", "default", "deepseek-coder",
                             "deepseek-llm", "falcon", "tekken", "gpt-4o"}) {
        auto preset = bpe_preset(name);
        if (preset && preset->patterns == patterns) return name;
    }
    return "hf";
}

}  // namespace

Tokenizer Tokenizer::from_hf(const std::filesystem::path& tokenizer_json) {
    fs::path path = tokenizer_json;
    if (fs::is_directory(path)) path /= "tokenizer.json";
    if (!fs::exists(path)) fail(path.string(), ": no such file");
    try {
        return load_hf(path);
    } catch (const json::exception& e) {
        // A field of an unexpected type or a missing one.
        fail(path.string(), ": malformed tokenizer.json: ", e.what());
    }
}

Tokenizer Tokenizer::load_hf(const std::filesystem::path& path) {
    const std::string src = path.string();
    const json root = parse_json(path);
    if (!root.is_object() || !root.contains("model")) fail(src, ": no \"model\" in tokenizer.json");
    const json& model = root["model"];
    const std::string model_kind = model.value("type", model.contains("merges") ? "BPE" : "");
    if (model_kind != "BPE") {
        fail(src, ": unsupported tokenizer model '", model_kind, "' (only BPE is supported)");
    }
    if (!model.contains("vocab") || !model["vocab"].is_object())
        fail(src, ": BPE model without a vocab");

    auto impl = std::make_unique<Impl>();
    Impl& t = *impl;
    t.source = src;

    // Ids: the model's vocabulary plus the added tokens, which may extend it.
    std::vector<std::optional<std::string>> texts;
    auto place = [&](int64_t id, const std::string& text) {
        if (id < 0 || id > INT32_MAX / 2) fail(src, ": token id ", id, " out of range");
        if (size_t(id) >= texts.size()) texts.resize(size_t(id) + 1);
        texts[size_t(id)] = text;
    };
    for (const auto& [text, id] : model["vocab"].items()) place(id.get<int64_t>(), text);
    const json added = root.value("added_tokens", json::array());
    for (const json& a : added)
        place(a.at("id").get<int64_t>(), a.at("content").get<std::string>());
    size_t total_bytes = 0;
    for (size_t id = 0; id < texts.size(); ++id) {
        if (!texts[id]) fail(src, ": token id ", id, " is missing (ids must be contiguous)");
        total_bytes += texts[id]->size();
    }
    if (texts.empty()) fail(src, ": empty vocabulary");
    t.vocab.reserve(texts.size(), total_bytes);
    for (const auto& text : texts) t.vocab.add(*text, src);
    t.vocab.index(src);
    const TokenId n = t.vocab.size();
    t.scores.assign(size_t(n), 0.0f);
    t.attrs.assign(size_t(n), attr_normal);

    const std::string unk_text = model.contains("unk_token") && model["unk_token"].is_string()
                                     ? model["unk_token"].get<std::string>()
                                     : std::string();
    for (const json& a : added) {
        const TokenId id = TokenId(a.at("id").get<int64_t>());
        uint16_t attr = a.value("special", false) ? attr_control : attr_user_defined;
        if (!unk_text.empty() && a.at("content").get<std::string>() == unk_text)
            attr = attr_unknown;
        if (a.value("lstrip", false)) attr |= attr_lstrip;
        if (a.value("rstrip", false)) attr |= attr_rstrip;
        t.attrs[id] = attr;
    }

    // Text handling: byte-level, or SentencePiece-like.
    const json pre_tokenizer = root.value("pre_tokenizer", json());
    const auto normalizers = flatten(root.value("normalizer", json()), "normalizers");
    const auto pre_steps = flatten(pre_tokenizer, "pretokenizers");
    bool prepend = false, replace_spaces = false, metaspace = false;
    for (const json& step : normalizers) {
        const std::string type = step.value("type", "");
        if (type == "NFC") {
            // Ignored, as llama.cpp ignores it for the GGUF of the same model (Qwen2 has it):
            // the text is taken to be in NFC already.
        } else if (type == "Prepend" && step.value("prepend", "") == kSpaceMark) {
            prepend = true;
        } else if (type == "Replace" && step.contains("pattern") &&
                   step["pattern"].value("String", "") == " " &&
                   step.value("content", "") == kSpaceMark) {
            replace_spaces = true;
        } else {
            fail(src, ": unsupported normalizer '", type, "'");
        }
    }
    for (const json& step : pre_steps) {
        if (step.value("type", "") == "Metaspace") {
            if (pre_steps.size() != 1 ||
                step.value("replacement", std::string(kSpaceMark)) != kSpaceMark) {
                fail(src, ": unsupported Metaspace pre-tokenizer");
            }
            metaspace = true;
            const std::string scheme = step.value("prepend_scheme", "");
            prepend = scheme.empty() ? step.value("add_prefix_space", true) : scheme != "never";
            replace_spaces = true;
            t.metaspace_split = step.value("split", true);
        }
    }

    if (replace_spaces) {
        if (!metaspace && !pre_steps.empty())
            fail(src, ": SentencePiece-like normalizer with a pre-tokenizer");
        t.model_type = "llama";
        t.pre_type = "default";
        t.algorithm = Impl::Algorithm::bpe_text;
        t.sentencepiece_text = true;
        t.add_space_prefix = prepend;
        t.fuse_unknown = model.value("fuse_unk", false);
        if (model.value("byte_fallback", false)) {
            for (TokenId id = 0; id < n; ++id) {
                std::string_view text = t.vocab.text(id);
                if (text.size() == 6 && text.starts_with("<0x") && text.ends_with(">") &&
                    (t.attrs[id] & attr_normal)) {
                    t.attrs[id] = attr_byte;
                }
            }
        }
    } else {
        if (prepend) fail(src, ": Prepend normalizer in a byte-level tokenizer is not supported");
        std::vector<std::string> patterns = byte_level_patterns(pre_tokenizer, src);
        t.model_type = "gpt2";
        t.pre_type = preset_name_for(patterns);
        t.algorithm = Impl::Algorithm::bpe_bytes;
        t.sentencepiece_text = false;
        if (auto preset = bpe_preset(t.pre_type)) t.clean_spaces = preset->clean_spaces;
        try {
            t.pre_tokenizer.emplace(patterns);
        } catch (const Error& e) {
            fail(src, ": ", e.what());
        }
    }
    t.ignore_merges = model.value("ignore_merges", false);

    // Merges: "left right" strings, or [left, right] pairs in newer files.
    const json merges = model.value("merges", json::array());
    std::vector<std::pair<std::string_view, std::string_view>> operands;
    operands.reserve(merges.size());
    for (const json& m : merges) {
        if (m.is_string()) {
            std::string_view s = m.get_ref<const std::string&>();
            const size_t space = s.find(' ', 1);
            if (space == std::string_view::npos) fail(src, ": malformed merge '", s, "'");
            operands.emplace_back(s.substr(0, space), s.substr(space + 1));
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            operands.emplace_back(m[0].get_ref<const std::string&>(),
                                  m[1].get_ref<const std::string&>());
        } else {
            fail(src, ": malformed merge #", operands.size());
        }
    }
    t.merges.build(operands);

    // BOS/EOS: tokenizer_config.json, else what the post-processor adds.
    json config;
    const fs::path config_path = path.parent_path() / "tokenizer_config.json";
    if (fs::exists(config_path)) config = parse_json(config_path);
    if (!config.is_object()) config = json::object();
    auto id_of = [&](const std::optional<std::string>& text) -> TokenId {
        return text ? t.vocab.find(*text) : -1;
    };
    t.bos = id_of(token_setting(config, "bos_token"));
    t.eos = id_of(token_setting(config, "eos_token"));
    if (!unk_text.empty()) t.unk = t.vocab.find(unk_text);
    if (auto unk = id_of(token_setting(config, "unk_token")); unk >= 0) t.unk = unk;
    if (auto pad = id_of(token_setting(config, "pad_token")); pad >= 0) t.pad = pad;

    // The post-processor that adds special tokens, possibly inside a Sequence (Llama 3).
    json post;
    for (const json& step : flatten(root.value("post_processor", json()), "processors")) {
        if (step.value("type", "") == "TemplateProcessing") post = step;
    }
    if (post.is_object() && post.contains("single")) {
        const json& single = post["single"];
        auto special_of = [&](const json& item) -> TokenId {
            if (!item.contains("SpecialToken")) return -1;
            return t.vocab.find(item["SpecialToken"].value("id", ""));
        };
        if (!single.empty()) {
            if (TokenId first = special_of(single.front()); first >= 0) {
                t.add_bos = true;
                if (t.bos < 0) t.bos = first;
            }
            if (single.size() > 1) {
                if (TokenId last = special_of(single.back()); last >= 0) {
                    t.add_eos = true;
                    if (t.eos < 0) t.eos = last;
                }
            }
        }
    }
    if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) {
        t.add_bos = config["add_bos_token"].get<bool>();
    }
    if (config.contains("add_eos_token") && config["add_eos_token"].is_boolean()) {
        t.add_eos = config["add_eos_token"].get<bool>();
    }
    if (config.contains("clean_up_tokenization_spaces") &&
        config["clean_up_tokenization_spaces"].is_boolean() &&
        t.algorithm == Impl::Algorithm::bpe_bytes) {
        t.clean_spaces = config["clean_up_tokenization_spaces"].get<bool>();
    }
    if (t.add_bos && t.bos < 0) fail(src, ": BOS is to be added, but no BOS token is named");
    if (t.add_eos && t.eos < 0) fail(src, ": EOS is to be added, but no EOS token is named");

    t.finish_loading();
    return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_path(const std::filesystem::path& model) {
    std::error_code ec;
    if (!fs::exists(model, ec)) fail(model.string(), ": no such file or directory");
    if (fs::is_directory(model, ec)) {
        if (!fs::exists(model / "tokenizer.json", ec)) {
            fail(model.string(), ": directory without a tokenizer.json");
        }
        return from_hf(model / "tokenizer.json");
    }
    char magic[4] = {};
    {
        std::ifstream in(model, std::ios::binary);
        if (!in) fail(model.string(), ": cannot read file");
        in.read(magic, sizeof magic);
    }
    if (std::string_view(magic, 4) == "GGUF") return from_gguf(GgufFile::open(model));
    if (model.extension() == ".json") return from_hf(model);
    fail(model.string(), ": neither a GGUF file nor a tokenizer.json");
}

}  // namespace ponder
