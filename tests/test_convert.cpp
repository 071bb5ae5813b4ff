// Converting a Hugging Face directory to GGUF: the converted file computes the same logits as the
// directory itself (which checks the q/k row interleaving), and tokenizes the same way.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "engine/context.h"
#include "engine/convert.h"
#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "tests/support.h"

namespace ponder {
namespace {

namespace fs = std::filesystem;

// A random llama in Hugging Face form, with the SmolLM2 tokenizer from ../shared.
void write_random_hf_model(const fs::path& dir, const std::string& model_type, bool tied) {
    const int64_t vocab = 49152, embd = 64, layers = 2, heads = 4, kv_heads = 2, ff = 128;
    const int64_t head_dim = embd / heads;
    nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                             {"model_type", model_type},
                             {"hidden_size", embd},
                             {"intermediate_size", ff},
                             {"num_hidden_layers", layers},
                             {"num_attention_heads", heads},
                             {"num_key_value_heads", kv_heads},
                             {"rms_norm_eps", 1e-5},
                             {"rope_theta", 10000.0},
                             {"max_position_embeddings", 256},
                             {"vocab_size", vocab},
                             {"tie_word_embeddings", tied}};
    test::write_file(dir / "config.json", config.dump());
    test::write_file(dir / "tokenizer.json",
                     test::read_file(test::shared_dir() / "models/smollm2-tokenizer.json"));
    test::write_file(
        dir / "tokenizer_config.json",
        R"({"add_bos_token": false, "eos_token": "<|im_end|>", "chat_template": "{{ messages[0]['content'] }}"})");

    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 0.2f);
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
        {"model.embed_tokens.weight", {vocab, embd}}, {"model.norm.weight", {embd}}};
    if (!tied) shapes.push_back({"lm_head.weight", {vocab, embd}});
    for (int64_t l = 0; l < layers; ++l) {
        std::string p = "model.layers." + std::to_string(l) + ".";
        shapes.push_back({p + "input_layernorm.weight", {embd}});
        shapes.push_back({p + "self_attn.q_proj.weight", {heads * head_dim, embd}});
        shapes.push_back({p + "self_attn.k_proj.weight", {kv_heads * head_dim, embd}});
        shapes.push_back({p + "self_attn.v_proj.weight", {kv_heads * head_dim, embd}});
        shapes.push_back({p + "self_attn.o_proj.weight", {embd, heads * head_dim}});
        if (model_type == "qwen2") {
            shapes.push_back({p + "self_attn.q_proj.bias", {heads * head_dim}});
            shapes.push_back({p + "self_attn.k_proj.bias", {kv_heads * head_dim}});
            shapes.push_back({p + "self_attn.v_proj.bias", {kv_heads * head_dim}});
        }
        shapes.push_back({p + "post_attention_layernorm.weight", {embd}});
        shapes.push_back({p + "mlp.gate_proj.weight", {ff, embd}});
        shapes.push_back({p + "mlp.up_proj.weight", {ff, embd}});
        shapes.push_back({p + "mlp.down_proj.weight", {embd, ff}});
    }
    nlohmann::json header = nlohmann::json::object();
    std::string data;
    for (const auto& [name, shape] : shapes) {
        size_t n = 1;
        for (int64_t d : shape) n *= static_cast<size_t>(d);
        std::vector<float> values(n);
        bool norm = name.find("norm") != std::string::npos;
        for (float& v : values) v = norm ? 1.0f + normal(rng) * 0.1f : normal(rng);
        size_t begin = data.size();
        data.append(reinterpret_cast<const char*>(values.data()), n * 4);
        header[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {begin, data.size()}}};
    }
    std::string h = header.dump();
    uint64_t len = h.size();
    std::string file(reinterpret_cast<const char*>(&len), 8);
    test::write_file(dir / "model.safetensors", file + h + data);
}

std::vector<std::vector<float>> logits_of(const Model& model, const std::vector<TokenId>& tokens) {
    Context ctx(model, ContextOptions{.n_ctx = 64});
    Batch batch;
    for (size_t i = 0; i < tokens.size(); ++i) batch.add(tokens[i], static_cast<Pos>(i), 0, true);
    ctx.decode(batch);
    std::vector<std::vector<float>> out;
    for (size_t i = 0; i < tokens.size(); ++i) {
        auto l = ctx.logits(i);
        out.emplace_back(l.begin(), l.end());
    }
    return out;
}

class Convert : public ::testing::TestWithParam<std::pair<std::string, bool>> {};

TEST_P(Convert, GgufComputesWhatTheDirectoryComputes) {
    PONDER_REQUIRE_SHARED("models/smollm2-tokenizer.json");
    auto [model_type, tied] = GetParam();
    test::TempDir dir;
    fs::path hf = dir.path() / "hf";
    fs::create_directories(hf);
    write_random_hf_model(hf, model_type, tied);
    fs::path gguf = dir.path() / "model.gguf";
    convert_huggingface_to_gguf(hf, gguf, ConvertOptions{{GgmlType::F32}, "test"});

    GgufFile file = GgufFile::open(gguf);
    EXPECT_EQ(file.get_string("general.architecture"), model_type);
    EXPECT_EQ(file.get_string("tokenizer.ggml.pre"), "smollm");
    EXPECT_EQ(file.get_string("tokenizer.chat_template"), "{{ messages[0]['content'] }}");
    EXPECT_EQ(file.find_tensor("output.weight") == nullptr, tied);

    Tokenizer from_hf = Tokenizer::from_hf(hf / "tokenizer.json");
    Tokenizer from_gguf = Tokenizer::from_gguf(file);
    for (const char* text :
         {"Tom has 3 boxes of 12 pens.", "<|im_start|>user\nhi<|im_end|>", "naïve café 42"}) {
        EXPECT_EQ(from_hf.encode(text, true, true), from_gguf.encode(text, true, true)) << text;
    }

    Model a = Model::load(hf), b = Model::load(gguf);
    std::vector<TokenId> tokens =
        from_hf.encode("Tom has 3 boxes of 12 pens and gives away 7.", false, false);
    auto la = logits_of(a, tokens), lb = logits_of(b, tokens);
    double worst = 0;
    for (size_t p = 0; p < tokens.size(); ++p) {
        for (size_t v = 0; v < la[p].size(); ++v)
            worst = std::max(worst, double(std::fabs(la[p][v] - lb[p][v])));
    }
    EXPECT_LT(worst, 1e-3) << "largest logit difference";
}

INSTANTIATE_TEST_SUITE_P(Architectures, Convert,
                         ::testing::Values(std::make_pair(std::string("llama"), true),
                                           std::make_pair(std::string("llama"), false),
                                           std::make_pair(std::string("qwen2"), true)));

TEST(ConvertErrors, MissingFilesAndUnsupportedShapesAreClear) {
    test::TempDir dir;
    EXPECT_THROW(convert_huggingface_to_gguf(dir.path(), dir.path() / "x.gguf", {}), Error);
    test::write_file(dir.path() / "config.json", R"({"model_type": "gpt_neox"})");
    try {
        convert_huggingface_to_gguf(dir.path(), dir.path() / "x.gguf", {});
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("gpt_neox"), std::string::npos);
    }
}

// The bytes of each tensor, by name.
std::map<std::string, std::pair<GgmlType, std::vector<uint8_t>>> tensors_of(const GgufFile& f) {
    std::map<std::string, std::pair<GgmlType, std::vector<uint8_t>>> out;
    for (const GgufTensorInfo& t : f.tensors()) {
        auto bytes = f.tensor_data(t);
        out[t.name] = {t.type, std::vector<uint8_t>(bytes.begin(), bytes.end())};
    }
    return out;
}

TEST(ConvertGguf, QuantizesWeightsToTheBytesLlamaQuantizeWrites) {
    PONDER_REQUIRE_SHARED("models/TinyStories-656K-F32.gguf");
    const fs::path models = test::shared_dir() / "models";
    const GgufFile source = GgufFile::open(models / "TinyStories-656K-F32.gguf");
    test::TempDir dir;
    for (const auto& [type, reference] :
         {std::pair{GgmlType::Q8_0, "TinyStories-656K-Q8_0.gguf"},
          std::pair{GgmlType::Q4_0, "TinyStories-656K-Q4_0.gguf"}}) {
        SCOPED_TRACE(reference);
        const fs::path out = dir.path() / "out.gguf";
        convert_gguf(models / "TinyStories-656K-F32.gguf", out, ConvertOptions{{type}, ""});
        const GgufFile converted = GgufFile::open(out);
        const auto ours = tensors_of(converted),
                   theirs = tensors_of(GgufFile::open(models / reference));
        const auto before = tensors_of(source);
        ASSERT_EQ(ours.size(), before.size());
        int quantized = 0;
        for (const GgufTensorInfo& t : source.tensors()) {
            const auto& [our_type, our_bytes] = ours.at(t.name);
            if (t.dims.size() != 2) {
                EXPECT_EQ(our_type, t.type) << t.name;
                EXPECT_EQ(our_bytes, before.at(t.name).second) << t.name;
                continue;
            }
            // Every matrix has llama.cpp's type (the tied embeddings of the Q4_0 file its
            // Q6_K, which falls back to Q8_0 for rows of 128) and llama.cpp's bytes.
            const auto& [their_type, their_bytes] = theirs.at(t.name);
            EXPECT_EQ(our_type, their_type) << t.name;
            EXPECT_TRUE(our_bytes == their_bytes) << t.name << " differs from llama.cpp's";
            quantized += our_type == type;
        }
        EXPECT_EQ(quantized, type == GgmlType::Q8_0 ? 15 : 14);
        // The metadata is the source's, with the file's name kept.
        for (const GgufKeyValue& kv : source.metadata())
            if (kv.key != "general.file_type") {
                EXPECT_NE(converted.find(kv.key), nullptr) << kv.key;
            }
        EXPECT_EQ(converted.get_string("general.name"), source.get_string("general.name"));
    }
}

TEST(ConvertGguf, KeepsWeightsOfTheTypeAsTheyAreAndRenamesOnRequest) {
    PONDER_REQUIRE_SHARED("models/TinyStories-656K-Q8_0.gguf");
    const fs::path source_path = test::shared_dir() / "models/TinyStories-656K-Q8_0.gguf";
    test::TempDir dir;
    convert_gguf(source_path, dir.path() / "same.gguf",
                 ConvertOptions{{GgmlType::Q8_0}, "renamed"});
    const GgufFile same = GgufFile::open(dir.path() / "same.gguf");
    EXPECT_EQ(tensors_of(same), tensors_of(GgufFile::open(source_path)));
    EXPECT_EQ(same.get_string("general.name"), "renamed");
    EXPECT_EQ(same.find("general.file_type"), nullptr);

    // Quantized weights expanded to F16 compute nearly what the source computes.
    convert_gguf(source_path, dir.path() / "f16.gguf", ConvertOptions{{GgmlType::F16}, ""});
    Model a = Model::load(source_path), b = Model::load(dir.path() / "f16.gguf");
    const std::vector<TokenId> tokens = {1, 400, 300, 200, 100};
    auto la = logits_of(a, tokens), lb = logits_of(b, tokens);
    for (size_t p = 0; p < tokens.size(); ++p) {
        double worst = 0, range = 0;
        for (size_t v = 0; v < la[p].size(); ++v) {
            worst = std::max(worst, double(std::fabs(la[p][v] - lb[p][v])));
            range = std::max(range, double(std::fabs(la[p][v])));
        }
        // The Q8_0 file computes with 8-bit activations, the F16 one with F16 activations.
        EXPECT_LT(worst, 0.05 * range) << "position " << p;
        EXPECT_EQ(std::max_element(la[p].begin(), la[p].end()) - la[p].begin(),
                  std::max_element(lb[p].begin(), lb[p].end()) - lb[p].begin())
            << "position " << p;
    }
}

TEST(ConvertGguf, AFileThatIsNotGgufIsNamed) {
    test::TempDir dir;
    test::write_file(dir.path() / "notes.txt", "not a model");
    try {
        convert_gguf(dir.path() / "notes.txt", dir.path() / "x.gguf", {});
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("notes.txt"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(dir.path() / "x.gguf"));
}

}  // namespace
}  // namespace ponder
