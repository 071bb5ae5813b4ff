// Tokenizers against llama.cpp's own conformance vectors and reference outputs (../shared),
// the Hugging Face forms against the GGUF forms of the same vocabularies, detokenization and
// streaming, error handling, and `ponder tokenize`.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/pretokenizer.h"
#include "engine/tokenizer.h"
#include "tests/support.h"

namespace {

namespace fs = std::filesystem;
using ponder::StreamDecoder;
using ponder::TokenId;
using ponder::Tokenizer;
using ponder::test::read_file;
using ponder::test::shared_dir;

std::vector<std::string> split_on(const std::string& text, const std::string& separator) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t pos; (pos = text.find(separator, start)) != std::string::npos;
         start = pos + separator.size()) {
        parts.push_back(text.substr(start, pos - start));
    }
    parts.push_back(text.substr(start));
    return parts;
}

// Well-formed UTF-8 (RFC 3629), checked independently of the engine's helpers.
bool is_valid_utf8(const std::string& s) {
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80           ? 1
                   : (c >> 5) == 0x6  ? 2
                   : (c >> 4) == 0xE  ? 3
                   : (c >> 3) == 0x1E ? 4
                                      : 0;
        if (n == 0 || i + n > s.size()) return false;
        uint32_t cpt = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
        for (size_t k = 1; k < n; ++k) {
            const unsigned char d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xC0) != 0x80) return false;
            cpt = (cpt << 6) | (d & 0x3F);
        }
        const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cpt < min[n] || cpt > 0x10FFFF || (cpt >= 0xD800 && cpt <= 0xDFFF)) return false;
        i += n;
    }
    return true;
}

std::string ids_to_string(const std::vector<TokenId>& ids) {
    std::string s;
    for (TokenId id : ids) {
        if (!s.empty()) s += ' ';
        s += std::to_string(id);
    }
    return s;
}

// ---------------------------------------------------------------------------------------------
// llama.cpp's conformance vectors: ../shared/vocab/NAME.gguf{,.inp,.out}

struct VocabCase {
    std::string text;
    std::vector<TokenId> expected;
};

std::vector<VocabCase> read_vocab_cases(const fs::path& gguf) {
    // Strings are separated by "\n__ggml_vocab_test__\n"; what follows the last separator (the
    // file's end) is no test string, as in llama.cpp's test-tokenizer-0.
    std::vector<std::string> inputs =
        split_on(read_file(gguf.string() + ".inp"), "\n__ggml_vocab_test__\n");
    inputs.pop_back();
    std::vector<std::string> lines = split_on(read_file(gguf.string() + ".out"), "\n");
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    EXPECT_EQ(inputs.size(), lines.size()) << gguf;
    std::vector<VocabCase> cases;
    for (size_t i = 0; i < std::min(inputs.size(), lines.size()); ++i) {
        VocabCase c{inputs[i], {}};
        std::istringstream in(lines[i]);
        for (TokenId id; in >> id;) c.expected.push_back(id);
        cases.push_back(std::move(c));
    }
    return cases;
}

class VocabConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabConformance, EveryStringGivesTheExpectedIds) {
    const std::string rel = "vocab/ggml-vocab-" + GetParam() + ".gguf";
    PONDER_REQUIRE_SHARED(rel);
    const fs::path path = shared_dir() / rel;
    const Tokenizer tok = Tokenizer::from_gguf(ponder::GgufFile::open(path));
    const auto cases = read_vocab_cases(path);
    ASSERT_EQ(cases.size(), 46u);
    size_t passed = 0;
    for (size_t i = 0; i < cases.size(); ++i) {
        const auto ids = tok.encode(cases[i].text, false, false);
        EXPECT_EQ(ids_to_string(ids), ids_to_string(cases[i].expected))
            << GetParam() << " string #" << i << ": '" << cases[i].text << "'";
        passed += ids == cases[i].expected;
    }
    std::printf("[ vocab    ] %s: %zu/%zu strings match\n", GetParam().c_str(), passed,
                cases.size());
}

TEST_P(VocabConformance, DecodeRestoresTheText) {
    const std::string rel = "vocab/ggml-vocab-" + GetParam() + ".gguf";
    PONDER_REQUIRE_SHARED(rel);
    const Tokenizer tok = Tokenizer::from_gguf(ponder::GgufFile::open(shared_dir() / rel));
    for (const auto& c : read_vocab_cases(shared_dir() / rel)) {
        // llama.cpp's detokenizer removes spaces before ?!., and before some contractions in
        // GPT-2-style vocabularies; elsewhere the text comes back byte for byte.
        bool cleanable = false;
        for (const char* s : {" ?", " !", " .", " ,", " '"})
            cleanable |= c.text.find(s) != std::string::npos;
        if (tok.cleans_spaces() && cleanable) continue;
        const auto ids = tok.encode(c.text, false, false);
        EXPECT_EQ(tok.decode(ids, false), c.text) << GetParam() << ": " << ids_to_string(ids);
        // With BOS in front (as prompts have it) the text comes back too.
        if (tok.adds_bos()) {
            auto with_bos = tok.encode(c.text, true, false);
            ASSERT_EQ(with_bos.front(), *tok.bos());
            std::string decoded = tok.decode(with_bos, false);
            // SentencePiece keeps its space prefix after BOS, as llama.cpp does.
            if (tok.adds_space_prefix() && !c.text.empty()) decoded.erase(0, 1);
            EXPECT_EQ(decoded, c.text) << GetParam();
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, VocabConformance,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "starcoder",
                                           "deepseek-coder", "mpt"));

// ---------------------------------------------------------------------------------------------
// llama.cpp reference outputs: ../shared/reference/MODEL.SET.json with prompts.SET.txt

// The string values of `key`, in order, as raw bytes (a greedy text may hold part of a UTF-8
// character, which JSON parsers reject).
std::vector<std::string> raw_string_fields(const std::string& json_text, const std::string& key) {
    std::vector<std::string> out;
    const std::string marker = "\"" + key + "\"";
    for (size_t pos = json_text.find(marker); pos != std::string::npos;
         pos = json_text.find(marker, pos + 1)) {
        size_t i = json_text.find('"', json_text.find(':', pos + marker.size()) + 1) + 1;
        std::string value;
        auto append_utf8 = [&](uint32_t c) {
            if (c < 0x80) {
                value += char(c);
            } else if (c < 0x800) {
                value += char(0xC0 | (c >> 6));
                value += char(0x80 | (c & 0x3F));
            } else if (c < 0x10000) {
                value += char(0xE0 | (c >> 12));
                value += char(0x80 | ((c >> 6) & 0x3F));
                value += char(0x80 | (c & 0x3F));
            } else {
                value += char(0xF0 | (c >> 18));
                value += char(0x80 | ((c >> 12) & 0x3F));
                value += char(0x80 | ((c >> 6) & 0x3F));
                value += char(0x80 | (c & 0x3F));
            }
        };
        while (json_text[i] != '"') {
            if (json_text[i] != '\\') {
                value += json_text[i++];
                continue;
            }
            const char e = json_text[i + 1];
            i += 2;
            switch (e) {
                case 'n':
                    value += '\n';
                    break;
                case 't':
                    value += '\t';
                    break;
                case 'r':
                    value += '\r';
                    break;
                case 'b':
                    value += '\b';
                    break;
                case 'f':
                    value += '\f';
                    break;
                case 'u': {
                    uint32_t c = std::stoul(json_text.substr(i, 4), nullptr, 16);
                    i += 4;
                    if (c >= 0xD800 && c < 0xDC00 && json_text.compare(i, 2, "\\u") == 0) {
                        const uint32_t low = std::stoul(json_text.substr(i + 2, 4), nullptr, 16);
                        c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
                        i += 6;
                    }
                    append_utf8(c);
                    break;
                }
                default:
                    value += e;
            }
        }
        out.push_back(std::move(value));
        pos = i;
    }
    return out;
}

// Replaces bytes that are not well-formed UTF-8 so that the JSON parser accepts the file.
std::string parsable(const std::string& text) {
    std::string out;
    for (size_t i = 0; i < text.size();) {
        size_t n = 1;
        while (n <= 4 && i + n <= text.size() && !is_valid_utf8(text.substr(i, n))) ++n;
        if (n <= 4 && i + n <= text.size()) {
            out.append(text, i, n);
            i += n;
        } else {
            out += '?';
            ++i;
        }
    }
    return out;
}

struct ReferenceEntry {
    std::string prompt;
    std::vector<TokenId> tokens;
    std::vector<TokenId> greedy;
    std::string greedy_text;  // raw bytes
};

std::vector<ReferenceEntry> read_reference(const fs::path& path) {
    const std::string raw = read_file(path);
    const auto j = nlohmann::json::parse(parsable(raw));
    const auto greedy_texts = raw_string_fields(raw, "greedy_text");
    EXPECT_EQ(greedy_texts.size(), j.size()) << path;
    std::vector<ReferenceEntry> entries;
    for (size_t i = 0; i < j.size() && i < greedy_texts.size(); ++i) {
        entries.push_back({j[i]["prompt"].get<std::string>(),
                           j[i]["tokens"].get<std::vector<TokenId>>(),
                           j[i]["greedy"].get<std::vector<TokenId>>(), greedy_texts[i]});
    }
    return entries;
}

std::vector<std::string> read_prompts(const std::string& set) {
    std::string text = read_file(shared_dir() / "reference" / ("prompts." + set + ".txt"));
    if (!text.empty() && text.back() == '\n') text.pop_back();
    return split_on(text, "\n---\n");
}

std::vector<std::string> reference_files() {
    std::vector<std::string> names;
    if (!ponder::test::have_shared("reference")) return names;
    for (const auto& e : fs::directory_iterator(shared_dir() / "reference")) {
        if (e.path().extension() == ".json") names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

TEST(TokenizerReference, PromptsGiveTheReferenceTokensAndGreedyIdsTheirText) {
    PONDER_REQUIRE_SHARED("reference/prompts.chat.txt");
    const auto files = reference_files();
    ASSERT_GE(files.size(), 8u);
    size_t prompts_checked = 0, texts_checked = 0;
    for (const std::string& name : files) {
        SCOPED_TRACE(name);
        // MODEL.SET.json
        const std::string stem = name.substr(0, name.size() - std::string(".json").size());
        const std::string set = stem.substr(stem.rfind('.') + 1);
        const std::string model = stem.substr(0, stem.rfind('.'));
        const fs::path model_path = shared_dir() / "models" / (model + ".gguf");
        ASSERT_TRUE(fs::exists(model_path)) << model_path;
        const Tokenizer tok = Tokenizer::from_gguf(ponder::GgufFile::open(model_path));
        const auto prompts = read_prompts(set);
        const auto entries = read_reference(shared_dir() / "reference" / name);
        ASSERT_EQ(prompts.size(), entries.size());
        for (size_t i = 0; i < entries.size(); ++i) {
            const ReferenceEntry& e = entries[i];
            EXPECT_EQ(prompts[i], e.prompt);
            EXPECT_EQ(ids_to_string(tok.encode(prompts[i], true, true)), ids_to_string(e.tokens))
                << "prompt #" << i;
            ++prompts_checked;

            // The reference text of the generated ids is their pieces joined, i.e. what decode()
            // adds after the prompt.
            std::vector<TokenId> all = e.tokens;
            all.insert(all.end(), e.greedy.begin(), e.greedy.end());
            const std::string prompt_text = tok.decode(e.tokens, false);
            const std::string full_text = tok.decode(all, false);
            ASSERT_EQ(full_text.compare(0, prompt_text.size(), prompt_text), 0);
            EXPECT_EQ(full_text.substr(prompt_text.size()), e.greedy_text) << "prompt #" << i;
            std::string pieces;
            for (TokenId id : e.greedy) pieces += tok.piece(id, false);
            EXPECT_EQ(pieces, e.greedy_text) << "prompt #" << i;
            ++texts_checked;
        }
    }
    std::printf("[ reference] %zu prompts tokenized, %zu greedy texts decoded\n", prompts_checked,
                texts_checked);
}

TEST(TokenizerReference, SpecialTokenTextIsPlainTextWhenNotParsed) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    const Tokenizer tok =
        Tokenizer::from_gguf(ponder::GgufFile::open(shared_dir() / "models/rand-llama-q8_0.gguf"));
    const TokenId im_start = *tok.find("<|im_start|>");
    const auto parsed = tok.encode("<|im_start|>user", false, true);
    const auto plain = tok.encode("<|im_start|>user", false, false);
    EXPECT_EQ(parsed.front(), im_start);
    EXPECT_EQ(std::count(plain.begin(), plain.end(), im_start), 0);
    EXPECT_GT(plain.size(), parsed.size());
    EXPECT_EQ(tok.decode(plain, false), "<|im_start|>user");
    // Control tokens are text only when rendered.
    EXPECT_EQ(tok.decode(parsed, false), "user");
    EXPECT_EQ(tok.decode(parsed, true), "<|im_start|>user");
}

TEST(TokenizerReference, EndOfGenerationTokens) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    PONDER_REQUIRE_SHARED("models/llama-2-tiny-random.gguf");
    const Tokenizer chatml =
        Tokenizer::from_gguf(ponder::GgufFile::open(shared_dir() / "models/rand-llama-q8_0.gguf"));
    EXPECT_TRUE(chatml.is_end_of_generation(*chatml.find("<|im_end|>")));
    EXPECT_TRUE(chatml.is_end_of_generation(*chatml.find("<|endoftext|>")));
    EXPECT_TRUE(chatml.is_end_of_generation(*chatml.eos()));
    EXPECT_FALSE(chatml.is_end_of_generation(*chatml.find("<|im_start|>")));
    EXPECT_FALSE(chatml.is_end_of_generation(*chatml.find("Hello")));
    EXPECT_FALSE(chatml.adds_bos());
    EXPECT_EQ(chatml.model_type(), "gpt2");
    EXPECT_EQ(chatml.pre_type(), "smollm");

    const Tokenizer llama2 = Tokenizer::from_gguf(
        ponder::GgufFile::open(shared_dir() / "models/llama-2-tiny-random.gguf"));
    EXPECT_EQ(llama2.end_of_generation_tokens().size(), 1u);
    EXPECT_TRUE(llama2.is_end_of_generation(2));
    EXPECT_TRUE(llama2.adds_bos());
    EXPECT_EQ(llama2.model_type(), "llama");
    EXPECT_EQ(llama2.kind(0), ponder::TokenKind::unknown);
    EXPECT_EQ(llama2.kind(1), ponder::TokenKind::control);
    EXPECT_EQ(llama2.kind(13), ponder::TokenKind::byte);
    EXPECT_EQ(llama2.piece(13, false), "\n");
}

// ---------------------------------------------------------------------------------------------
// Hugging Face forms against GGUF forms of the same vocabulary

// Texts for comparisons: the conformance strings, the prompts, and some plain prose.
std::vector<std::string> sample_texts() {
    std::vector<std::string> texts = {
        "Once upon a time, there was a little girl named Lily. She loved to play outside.",
        "The dog said, \"Let's go to the park!\" and they ran.\n\nThe end.",
        "Tom and Sue were friends. They liked to share their toys, but one day Tom was sad.",
        "12345 + 678 = 13023; 3.14159, 2.71828\t(tabs)   and   spaces",
        "I'm sure you'll see what we've done, isn't it? He'd say: 'yes'.",
    };
    if (ponder::test::have_shared("vocab/ggml-vocab-gpt-2.gguf")) {
        for (auto& c : read_vocab_cases(shared_dir() / "vocab/ggml-vocab-gpt-2.gguf"))
            texts.push_back(c.text);
    }
    if (ponder::test::have_shared("reference/prompts.chat.txt")) {
        for (const char* set : {"story", "chat"}) {
            for (auto& p : read_prompts(set)) texts.push_back(p);
        }
    }
    return texts;
}

TEST(TokenizerHf, ByteLevelJsonMatchesSmollmGguf) {
    PONDER_REQUIRE_SHARED("models/smollm2-tokenizer.json");
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    const Tokenizer hf = Tokenizer::from_hf(shared_dir() / "models/smollm2-tokenizer.json");
    const Tokenizer gguf =
        Tokenizer::from_gguf(ponder::GgufFile::open(shared_dir() / "models/rand-llama-q8_0.gguf"));
    EXPECT_EQ(hf.model_type(), "gpt2");
    EXPECT_EQ(hf.pre_type(), "smollm");
    EXPECT_EQ(hf.vocab_size(), gguf.vocab_size());
    EXPECT_EQ(hf.adds_bos(), gguf.adds_bos());
    for (TokenId id = 0; id < gguf.vocab_size(); id += 97)
        EXPECT_EQ(hf.token_text(id), gguf.token_text(id));
    size_t compared = 0;
    for (const std::string& text : sample_texts()) {
        for (bool parse_special : {false, true}) {
            const auto a = hf.encode(text, true, parse_special);
            const auto b = gguf.encode(text, true, parse_special);
            EXPECT_EQ(ids_to_string(a), ids_to_string(b)) << "'" << text << "'";
            EXPECT_EQ(hf.decode(a, true), gguf.decode(b, true));
            ++compared;
        }
    }
    EXPECT_GT(compared, 100u);
}

TEST(TokenizerHf, SentencePieceLikeJsonMatchesTinyStoriesGgufOnOrdinaryText) {
    PONDER_REQUIRE_SHARED("models/tinystories-656k-hf/tokenizer.json");
    PONDER_REQUIRE_SHARED("models/TinyStories-656K-F32.gguf");
    PONDER_REQUIRE_SHARED("reference/TinyStories-656K-F32.story.json");
    const Tokenizer hf = Tokenizer::from_hf(shared_dir() / "models/tinystories-656k-hf");
    const Tokenizer gguf = Tokenizer::from_gguf(
        ponder::GgufFile::open(shared_dir() / "models/TinyStories-656K-F32.gguf"));
    EXPECT_EQ(hf.model_type(), "llama");
    EXPECT_EQ(hf.vocab_size(), gguf.vocab_size());
    EXPECT_TRUE(hf.adds_bos());
    EXPECT_EQ(hf.bos(), gguf.bos());
    EXPECT_EQ(hf.eos(), gguf.eos());

    // Ordinary text: story prompts, the reference model's own stories, plain prose.
    std::vector<std::string> texts = {
        "Once upon a time, there was a little girl named Lily. She loved to play outside.",
        "The dog said, \"Let's go to the park!\" and they ran.\n\nThe end.",
        "Tom and Sue were friends. They liked to share their toys, but one day Tom was sad.",
    };
    for (auto& p : read_prompts("story")) texts.push_back(p);
    for (auto& e : read_reference(shared_dir() / "reference/TinyStories-656K-F32.story.json")) {
        texts.push_back(e.prompt + e.greedy_text);
        texts.push_back(e.greedy_text);
    }
    for (const std::string& text : texts) {
        const auto a = hf.encode(text, true, true);
        const auto b = gguf.encode(text, true, true);
        EXPECT_EQ(ids_to_string(a), ids_to_string(b)) << "'" << text << "'";
        EXPECT_EQ(hf.decode(a, false), gguf.decode(b, false));
        EXPECT_EQ(hf.decode(a, false), " " + text);  // the space prefix stays after BOS
    }
    // Merging by rank (tokenizer.json) and by score (GGUF, scores = -id) agree even on letter
    // soup, as long as every character is in the vocabulary.
    std::mt19937 rng(11);
    const std::string alphabet = " abcdehilnorstuwyTLS.,!\"'";
    for (int round = 0; round < 2000; ++round) {
        std::string text;
        for (size_t n = 1 + rng() % 40; n > 0; --n) text += alphabet[rng() % alphabet.size()];
        ASSERT_EQ(hf.encode(text, true, true), gguf.encode(text, true, true)) << "'" << text << "'";
    }
}

// A tokenizer.json derived from a shared one, with some parts replaced.
fs::path derived_json(const ponder::test::TempDir& dir, const fs::path& original,
                      const nlohmann::json& changes) {
    nlohmann::json j = nlohmann::json::parse(read_file(original));
    for (const auto& [key, value] : changes.items()) j[key] = value;
    const fs::path path = dir.path() / "tokenizer.json";
    ponder::test::write_file(path, j.dump());
    return path;
}

TEST(TokenizerHf, ByteLevelShapesMapToTheirGgufPreTokenizers) {
    PONDER_REQUIRE_SHARED("models/smollm2-tokenizer.json");
    const fs::path original = shared_dir() / "models/smollm2-tokenizer.json";
    ponder::test::TempDir dir;
    using nlohmann::json;
    auto split_then_bytes = [](const std::string& regex) {
        return json{{"type", "Sequence"},
                    {"pretokenizers", json::array({json{{"type", "Split"},
                                                        {"pattern", {{"Regex", regex}}},
                                                        {"behavior", "Isolated"},
                                                        {"invert", false}},
                                                   json{{"type", "ByteLevel"},
                                                        {"add_prefix_space", false},
                                                        {"use_regex", false}}})}};
    };
    // Llama 3: its regex, BOS added by a TemplateProcessing inside a Sequence.
    const std::string llama3 =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    const json template_processing = {
        {"type", "TemplateProcessing"},
        {"single", json::array({json{{"SpecialToken", {{"id", "<|im_start|>"}, {"type_id", 0}}}},
                                json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}};
    auto path = derived_json(
        dir, original,
        {{"pre_tokenizer", split_then_bytes(llama3)},
         {"post_processor",
          {{"type", "Sequence"},
           {"processors", json::array({json{{"type", "ByteLevel"}}, template_processing})}}}});
    Tokenizer tok = Tokenizer::from_hf(path);
    EXPECT_EQ(tok.pre_type(), "llama-bpe");
    EXPECT_TRUE(tok.adds_bos());
    EXPECT_EQ(tok.bos(), tok.find("<|im_start|>"));
    EXPECT_EQ(tok.encode("Hi", true, false).front(), *tok.find("<|im_start|>"));

    // Qwen2: its regex, behind an NFC normalizer (ignored, as llama.cpp does).
    const std::string qwen2 =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    path = derived_json(
        dir, original,
        {{"pre_tokenizer", split_then_bytes(qwen2)}, {"normalizer", {{"type", "NFC"}}}});
    tok = Tokenizer::from_hf(path);
    EXPECT_EQ(tok.pre_type(), "qwen2");
    EXPECT_FALSE(tok.adds_bos());
    // Digits one by one (qwen2) where the Llama 3 expression takes up to three.
    const auto ids = tok.encode("2024", false, false);
    EXPECT_EQ(ids.size(), 4u);

    // GPT-2: the ByteLevel regex alone.
    path =
        derived_json(dir, original,
                     {{"pre_tokenizer",
                       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}}});
    EXPECT_EQ(Tokenizer::from_hf(path).pre_type(), "gpt-2");

    // An expression outside llama.cpp's list still runs.
    path = derived_json(dir, original, {{"pre_tokenizer", split_then_bytes("[a-z]+|[^a-z]+")}});
    tok = Tokenizer::from_hf(path);
    EXPECT_EQ(tok.pre_type(), "hf");
    EXPECT_EQ(tok.decode(tok.encode("abc DEF ghi", false, false), false), "abc DEF ghi");
}

TEST(TokenizerHf, MetaspaceFormMatchesNormalizerForm) {
    PONDER_REQUIRE_SHARED("models/tinystories-656k-hf/tokenizer.json");
    const fs::path original = shared_dir() / "models/tinystories-656k-hf/tokenizer.json";
    const Tokenizer normalizer_form = Tokenizer::from_hf(original);
    ponder::test::TempDir dir;
    const auto path = derived_json(dir, original,
                                   {{"normalizer", nullptr},
                                    {"pre_tokenizer",
                                     {{"type", "Metaspace"},
                                      {"replacement", "\u2581"},
                                      {"prepend_scheme", "always"},
                                      {"split", false}}}});
    const Tokenizer metaspace_form = Tokenizer::from_hf(path);
    for (const std::string text :
         {"Once upon a time, there was a dog.", "Lily and Ben went to the park."}) {
        EXPECT_EQ(metaspace_form.encode(text, true, true), normalizer_form.encode(text, true, true))
            << text;
    }
}

TEST(TokenizerHf, UnsupportedShapesAreRejectedNamingTheFile) {
    ponder::test::TempDir dir;
    const fs::path path = dir.path() / "tokenizer.json";
    ponder::test::write_file(path, R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})");
    try {
        Tokenizer::from_hf(path);
        FAIL() << "WordPiece accepted";
    } catch (const ponder::Error& e) {
        EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("WordPiece"), std::string::npos) << e.what();
    }
    ponder::test::write_file(path, R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                                      "normalizer": {"type": "NFKC"}})");
    EXPECT_THROW(Tokenizer::from_hf(path), ponder::Error);
    ponder::test::write_file(path, "{ not json");
    EXPECT_THROW(Tokenizer::from_hf(path), ponder::Error);
    ponder::test::write_file(path,
                             R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})");
    EXPECT_THROW(Tokenizer::from_hf(path), ponder::Error);
    ponder::test::write_file(
        path, R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 2}, "merges": []}})");
    EXPECT_THROW(Tokenizer::from_hf(path), ponder::Error);  // id 1 missing
    EXPECT_THROW(Tokenizer::from_hf(dir.path() / "missing.json"), ponder::Error);
}

// ---------------------------------------------------------------------------------------------
// GGUF metadata errors

void write_bpe_vocab(const fs::path& path, const std::string& model, const std::string& pre) {
    ponder::GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_string("tokenizer.ggml.model", model);
    w.set_string("tokenizer.ggml.pre", pre);
    const std::vector<std::string> tokens = {"a", "b", "ab"};
    w.set("tokenizer.ggml.tokens", ponder::GgufValue::string_array(tokens));
    const std::vector<std::string> merges = {"a b"};
    w.set("tokenizer.ggml.merges", ponder::GgufValue::string_array(merges));
    w.write(path);
}

TEST(TokenizerGguf, UnknownPreTokenizerIsAnErrorNamingFileAndValue) {
    ponder::test::TempDir dir;
    const fs::path path = dir.path() / "vocab.gguf";
    write_bpe_vocab(path, "gpt2", "no-such-pre");
    try {
        Tokenizer::from_gguf(ponder::GgufFile::open(path));
        FAIL() << "unknown pre-tokenizer accepted";
    } catch (const ponder::Error& e) {
        EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("no-such-pre"), std::string::npos) << e.what();
    }
    write_bpe_vocab(path, "bert-ish", "default");
    EXPECT_THROW(Tokenizer::from_gguf(ponder::GgufFile::open(path)), ponder::Error);
    // A known pre-tokenizer on the tiny vocabulary merges "a" and "b".
    write_bpe_vocab(path, "gpt2", "gpt-2");
    const Tokenizer tok = Tokenizer::from_gguf(ponder::GgufFile::open(path));
    EXPECT_EQ(tok.encode("abab", false, false), (std::vector<TokenId>{2, 2}));
}

// ---------------------------------------------------------------------------------------------
// Special tokens in raw text

TEST(TokenizerSpecial, LongestSpecialTokenWinsAndControlTokensNeedParsing) {
    ponder::test::TempDir dir;
    const fs::path path = dir.path() / "vocab.gguf";
    ponder::GgufWriter w;
    w.set_string("tokenizer.ggml.model", "llama");
    const std::vector<std::string> tokens = {"<unk>",  "<s>", "</s>", "<x>",
                                             "<x><y>", "<y>", "<u>",  "\xE2\x96\x81"};
    w.set("tokenizer.ggml.tokens", ponder::GgufValue::string_array(tokens));
    const std::vector<int32_t> types = {2, 3, 3, 3, 3, 3, 4, 1};
    w.set("tokenizer.ggml.token_type", ponder::GgufValue::i32_array(types));
    const std::vector<float> scores(tokens.size(), 0.0f);
    w.set("tokenizer.ggml.scores", ponder::GgufValue::f32_array(scores));
    w.write(path);
    const Tokenizer tok = Tokenizer::from_gguf(ponder::GgufFile::open(path));
    EXPECT_EQ(tok.encode("<x><y><x>", false, true), (std::vector<TokenId>{4, 3}));
    EXPECT_EQ(tok.encode("<y><x><y>", false, true), (std::vector<TokenId>{5, 4}));
    // Without parsing, control tokens are text (here unknown characters), but user-defined
    // ones are still cut out.
    const auto plain = tok.encode("<x><u>", false, false);
    EXPECT_EQ(std::count(plain.begin(), plain.end(), 3), 0);
    EXPECT_EQ(std::count(plain.begin(), plain.end(), 6), 1);
    EXPECT_EQ(tok.piece(6, false), "<u>");  // user-defined tokens always render
    EXPECT_EQ(tok.piece(3, false), "");     // control tokens only when asked
    EXPECT_EQ(tok.piece(3, true), "<x>");
}

TEST(TokenizerSpecial, Phi3SpecialTokensSwallowFollowingSpaces) {
    PONDER_REQUIRE_SHARED("vocab/ggml-vocab-phi-3.gguf");
    PONDER_REQUIRE_SHARED("vocab/ggml-vocab-llama-spm.gguf");
    // llama.cpp sets rstrip on Phi-3's special tokens (known by the model name); no other
    // SentencePiece vocabulary here strips.
    const Tokenizer phi3 =
        Tokenizer::from_gguf(ponder::GgufFile::open(shared_dir() / "vocab/ggml-vocab-phi-3.gguf"));
    EXPECT_EQ(phi3.encode("<|user|>  Hello<|end|>\n x", false, true),
              phi3.encode("<|user|>Hello<|end|>x", false, true));
    EXPECT_TRUE(phi3.is_end_of_generation(*phi3.find("<|end|>")));
    EXPECT_TRUE(phi3.is_end_of_generation(*phi3.find("<|endoftext|>")));
    EXPECT_FALSE(phi3.is_end_of_generation(*phi3.find("<|user|>")));
    const Tokenizer llama = Tokenizer::from_gguf(
        ponder::GgufFile::open(shared_dir() / "vocab/ggml-vocab-llama-spm.gguf"));
    EXPECT_NE(llama.encode("<s>  Hello", false, true), llama.encode("<s>Hello", false, true));
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers: llama.cpp's hand-written scanners against the regular expressions they stand
// for, run on PCRE2 (the same pattern spelled differently is not recognised as a scanner's).

TEST(TokenizerPre, ScannersAgreeWithTheirRegularExpressions) {
    const std::string gpt2(ponder::gpt2_pattern());
    const std::string llama3 = ponder::bpe_preset("llama-bpe")->patterns.front();
    const std::vector<std::string> alphabet = {"a",
                                               "Z",
                                               "s",
                                               "S",
                                               "t",
                                               "l",
                                               "L",
                                               "e",
                                               "r",
                                               "v",
                                               "d",
                                               "m",
                                               "'",
                                               " ",
                                               " ",
                                               "  ",
                                               "\t",
                                               "\n",
                                               "\r",
                                               "\r\n",
                                               "0",
                                               "7",
                                               "٣",
                                               "½",
                                               "é",
                                               "\xCC\x81" /* combining acute */,
                                               "ß",
                                               "Ж",
                                               "你",
                                               "。",
                                               "!",
                                               "?",
                                               ".",
                                               ",",
                                               "$",
                                               "+",
                                               "~",
                                               "_",
                                               "🙂",
                                               "\xC2\xA0" /* NBSP */,
                                               "\xC2\x85" /* NEL */,
                                               "\xE3\x80\x80",
                                               "\x1C",
                                               "\x7F",
                                               "\xFF" /* invalid */,
                                               "\xE2\x82" /* truncated */};
    const ponder::PreTokenizer gpt2_scanner({gpt2}), gpt2_regex({"(?:" + gpt2 + ")"});
    const ponder::PreTokenizer llama3_scanner({llama3}), llama3_regex({"(?:" + llama3 + ")"});
    std::mt19937 rng(42);
    for (int round = 0; round < 3000; ++round) {
        std::string text;
        for (size_t n = 1 + rng() % 12; n > 0; --n) text += alphabet[rng() % alphabet.size()];
        std::vector<std::string> a, b, c, d;
        gpt2_scanner.split(text, a);
        gpt2_regex.split(text, b);
        llama3_scanner.split(text, c);
        llama3_regex.split(text, d);
        ASSERT_EQ(a, b) << "gpt2 on '" << text << "'";
        ASSERT_EQ(c, d) << "llama3 on '" << text << "'";
    }
}

TEST(TokenizerPre, EveryPresetCompilesAndSplitsLosslessly) {
    const std::string text =
        "Hello, y'all! 你好 123456 — ok?\n\n  \tdone 🙂 ÀÖ ’quote’";
    for (const char* name :
         {"default", "llama3", "llama-bpe", "dbrx", "tekken", "deepseek-llm", "deepseek-coder",
          "deepseek-v3", "falcon", "starcoder", "refact", "smollm", "gpt-2", "mpt", "qwen2",
          "deepseek-r1-qwen", "stablelm2", "gpt-4o", "poro-chat"}) {
        auto preset = ponder::bpe_preset(name);
        ASSERT_TRUE(preset) << name;
        const ponder::PreTokenizer pre(preset->patterns);
        std::vector<std::string> words;
        pre.split(text, words);
        std::string joined;
        for (const auto& w : words) {
            EXPECT_FALSE(w.empty()) << name;
            joined += w;
        }
        EXPECT_EQ(joined, text) << name;
    }
    EXPECT_FALSE(ponder::bpe_preset("no-such-pre"));
}

// ---------------------------------------------------------------------------------------------
// Robustness and streaming

std::vector<fs::path> all_vocab_files() {
    std::vector<fs::path> files;
    for (const char* rel : {"vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf",
                            "vocab/ggml-vocab-deepseek-coder.gguf", "models/rand-llama-q8_0.gguf",
                            "models/TinyStories-656K-F32.gguf", "models/stories260K.gguf"}) {
        if (ponder::test::have_shared(rel)) files.push_back(shared_dir() / rel);
    }
    return files;
}

TEST(TokenizerRobustness, InvalidUtf8AndBadIdsNeverCrash) {
    PONDER_REQUIRE_SHARED("vocab/ggml-vocab-gpt-2.gguf");
    std::mt19937 rng(1234);
    for (const fs::path& file : all_vocab_files()) {
        SCOPED_TRACE(file.string());
        const Tokenizer tok = Tokenizer::from_gguf(ponder::GgufFile::open(file));
        for (int round = 0; round < 50; ++round) {
            std::string junk(1 + rng() % 40, '\0');
            for (char& c : junk) c = char(rng() % 256);
            const auto ids = tok.encode(junk, true, true);
            for (TokenId id : ids) ASSERT_TRUE(id >= 0 && id < tok.vocab_size());
            (void)tok.decode(ids, true);
        }
        EXPECT_THROW(tok.decode(std::vector<TokenId>{0, tok.vocab_size()}, false), ponder::Error);
        EXPECT_THROW(tok.decode(std::vector<TokenId>{-1}, false), ponder::Error);
        EXPECT_THROW(tok.piece(tok.vocab_size(), false), ponder::Error);
        EXPECT_THROW(tok.token_text(-5), ponder::Error);
        EXPECT_TRUE(tok.encode("", false, true).empty());
    }
}

TEST(TokenizerRobustness, SentencePieceKeepsInvalidBytesAsByteTokens) {
    PONDER_REQUIRE_SHARED("vocab/ggml-vocab-llama-spm.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(
        ponder::GgufFile::open(shared_dir() / "vocab/ggml-vocab-llama-spm.gguf"));
    const std::string text =
        "ok \xFF"
        "abc\xC3"
        "x end\xE2\x82";
    EXPECT_EQ(tok.decode(tok.encode(text, false, false), false), text);
    // llama.cpp cuts characters by their first byte alone: a stray lead byte swallows the
    // first byte of the U+2581 that stands for a following space, and that space comes back
    // as the raw bytes of U+2581.
    EXPECT_EQ(tok.decode(tok.encode("\xC3 a", false, false), false),
              "\xC3\xE2\x96\x81"
              "a");
    EXPECT_EQ(tok.decode(tok.encode("\xFF"
                                    "ab a",
                                    false, false),
                         false),
              "\xFF"
              "ab\xE2\x96\x81"
              "a");
}

// Streams `ids` one at a time, checking every chunk is whole UTF-8.
std::string stream(const Tokenizer& tok, const std::vector<TokenId>& ids,
                   bool render_special = false) {
    StreamDecoder decoder(tok, render_special);
    std::string out;
    for (TokenId id : ids) {
        const std::string chunk = decoder.push(id);
        EXPECT_TRUE(is_valid_utf8(chunk)) << "chunk splits a character";
        out += chunk;
    }
    const std::string rest = decoder.finish();
    EXPECT_TRUE(is_valid_utf8(rest));
    return out + rest;
}

TEST(TokenizerStream, NeverSplitsCharactersAndMatchesDecode) {
    PONDER_REQUIRE_SHARED("vocab/ggml-vocab-llama-spm.gguf");
    const std::string text =
        "Emoji 🙂🚀👩‍👩‍👧 and CJK 你好，世界。 Ünïcödé — ok? Yes , it "
        "'s "
        "fine "
        ". "
        "'quote' ";
    size_t split_seen = 0;
    for (const fs::path& file : all_vocab_files()) {
        SCOPED_TRACE(file.string());
        const Tokenizer tok = Tokenizer::from_gguf(ponder::GgufFile::open(file));
        for (bool add_special : {false, true}) {
            const auto ids = tok.encode(text, add_special, false);
            for (TokenId id : ids) split_seen += !is_valid_utf8(tok.piece(id, false));
            const std::string decoded = tok.decode(ids, false);
            if (is_valid_utf8(decoded)) {
                EXPECT_EQ(stream(tok, ids), decoded);
            }
            EXPECT_EQ(stream(tok, ids, true), tok.decode(ids, true));
        }
    }
    EXPECT_GT(split_seen, 0u)
        << "no vocabulary split a character across tokens: the test proves nothing";
}

TEST(TokenizerStream, CleanedSpacesAgreeWithDecode) {
    PONDER_REQUIRE_SHARED("vocab/ggml-vocab-gpt-2.gguf");
    const Tokenizer tok =
        Tokenizer::from_gguf(ponder::GgufFile::open(shared_dir() / "vocab/ggml-vocab-gpt-2.gguf"));
    ASSERT_TRUE(tok.cleans_spaces());
    EXPECT_EQ(tok.decode(tok.encode("Hello , world . It ' s 'll 're", false, false), false),
              "Hello, world. It's 'll're");
    std::mt19937 rng(7);
    const std::string alphabet = " ' .,?!smrevtdlxé";
    for (int round = 0; round < 300; ++round) {
        std::string text;
        for (size_t n = 1 + rng() % 30; n > 0; --n) {
            size_t k = rng() % (alphabet.size() - 1);
            text += alphabet[k];
            if (uint8_t(alphabet[k]) >= 0x80) text += alphabet[k + 1];  // whole é
        }
        if (!is_valid_utf8(text)) continue;
        const auto ids = tok.encode(text, false, false);
        EXPECT_EQ(stream(tok, ids), tok.decode(ids, false)) << "'" << text << "'";
    }
}

TEST(TokenizerStream, DanglingPartialCharacterBecomesReplacement) {
    PONDER_REQUIRE_SHARED("vocab/ggml-vocab-llama-spm.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(
        ponder::GgufFile::open(shared_dir() / "vocab/ggml-vocab-llama-spm.gguf"));
    const auto ids = tok.encode("a🙂", false, false);  // the emoji as four byte tokens
    ASSERT_GE(ids.size(), 4u);
    StreamDecoder decoder(tok);
    std::string out;
    for (size_t i = 0; i + 2 < ids.size(); ++i) out += decoder.push(ids[i]);
    EXPECT_EQ(out, "a");
    EXPECT_EQ(decoder.finish(), "\xEF\xBF\xBD");
    // The decoder starts afresh after finish().
    std::string again;
    for (TokenId id : ids) again += decoder.push(id);
    EXPECT_EQ(again + decoder.finish(), "a🙂");
}

// ---------------------------------------------------------------------------------------------
// Long texts (speed is measured by `ponder bench`, not asserted here)

TEST(TokenizerLongText, LargeVocabulariesRoundTripAHundredKilobytes) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    PONDER_REQUIRE_SHARED("vocab/ggml-vocab-llama-spm.gguf");
    const Tokenizer bpe =
        Tokenizer::from_gguf(ponder::GgufFile::open(shared_dir() / "models/rand-llama-q8_0.gguf"));
    const Tokenizer spm = Tokenizer::from_gguf(
        ponder::GgufFile::open(shared_dir() / "vocab/ggml-vocab-llama-spm.gguf"));

    std::string text;
    const auto samples = sample_texts();
    for (size_t i = 0; text.size() < 100 * 1024; ++i) text += samples[i % samples.size()] + "\n";
    const auto bpe_ids = bpe.encode(text, true, true);
    const auto spm_ids = spm.encode(text, true, true);
    EXPECT_GT(bpe_ids.size(), text.size() / 20);
    EXPECT_LT(bpe_ids.size(), text.size());
    EXPECT_GT(spm_ids.size(), text.size() / 20);
    EXPECT_EQ(bpe.decode(bpe_ids, true), text);
}

// ---------------------------------------------------------------------------------------------
// ponder tokenize

TEST(TokenizerCli, PrintsIdsAndPieces) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    const std::string model = (shared_dir() / "models/rand-llama-q8_0.gguf").string();
    const Tokenizer tok = Tokenizer::from_path(model);
    const std::string text = "<|im_start|>Hello\tworld";

    auto r = ponder::test::run_ponder({"tokenize", "--model", model, text});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto ids = tok.encode(text, true, true);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), long(ids.size())) << r.out;
    EXPECT_NE(r.out.find(std::to_string(ids.front()) + "  '<|im_start|>'"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("\\t"), std::string::npos) << "tab not escaped: " << r.out;

    r = ponder::test::run_ponder({"tokenize", "--model", model, "--json", text});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["tokens"].get<std::vector<TokenId>>(), ids);
    ASSERT_EQ(j["pieces"].size(), ids.size());
    EXPECT_EQ(j["pieces"][0], "<|im_start|>");

    r = ponder::test::run_ponder({"tokenize", "--model", model, "--json", "--no-special", "-"},
                                 text);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["tokens"].get<std::vector<TokenId>>(),
              tok.encode(text, true, false));
}

TEST(TokenizerCli, AcceptsHuggingFaceDirectory) {
    PONDER_REQUIRE_SHARED("models/tinystories-656k-hf/tokenizer.json");
    const std::string dir = (shared_dir() / "models/tinystories-656k-hf").string();
    auto r =
        ponder::test::run_ponder({"tokenize", "-m", dir, "--json", "--no-bos", "Once upon a time"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["tokens"].get<std::vector<TokenId>>(),
              Tokenizer::from_hf(dir).encode("Once upon a time", false, true));
}

TEST(TokenizerCli, MissingModelIsAOneLineError) {
    const std::string missing = "/nonexistent/dir/model.gguf";
    auto r = ponder::test::run_ponder({"tokenize", "--model", missing, "hi"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(r.out.empty());
}

}  // namespace
