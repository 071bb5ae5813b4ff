// The safetensors reader: well-formed files, and malformed ones that must be clear errors.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/model.h"
#include "engine/safetensors.h"
#include "tests/support.h"

namespace {

using namespace ponder;

std::vector<uint8_t> file_with(const std::string& header, size_t data_bytes) {
    std::vector<uint8_t> out(8 + header.size() + data_bytes, 0);
    const uint64_t n = header.size();
    std::memcpy(out.data(), &n, 8);
    std::memcpy(out.data() + 8, header.data(), header.size());
    for (size_t i = 0; i < data_bytes; ++i) out[8 + header.size() + i] = static_cast<uint8_t>(i);
    return out;
}

std::string error_of(const std::vector<uint8_t>& bytes) {
    try {
        SafetensorsFile::from_memory(bytes, "test.safetensors");
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(Safetensors, ReadsTensorsAndMetadata) {
    auto bytes = file_with(
        R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
        R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]},"c":{"dtype":"I64","shape":[],"data_offsets":[32,40]}})",
        40);
    auto f = SafetensorsFile::from_memory(bytes, "x");
    ASSERT_EQ(f.tensors().size(), 3u);
    const auto* a = f.find("a");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->type, GgmlType::F32);
    EXPECT_EQ(a->shape, (std::vector<uint64_t>{2, 3}));
    EXPECT_EQ(a->data.size(), 24u);
    EXPECT_EQ(f.find("b")->type, GgmlType::BF16);
    EXPECT_EQ(f.find("b")->data[0], 24);
    EXPECT_FALSE(f.find("c")->type.has_value());  // readable, not computable
    EXPECT_EQ(f.metadata().at("format"), "pt");
    EXPECT_EQ(f.find("zzz"), nullptr);
}

TEST(Safetensors, MalformedFilesAreErrors) {
    EXPECT_NE(error_of({1, 2, 3}).find("not a safetensors file"), std::string::npos);
    auto huge = file_with("{}", 0);
    const uint64_t big = 1ull << 40;
    std::memcpy(huge.data(), &big, 8);
    EXPECT_NE(error_of(huge).find("exceeds the file"), std::string::npos);
    EXPECT_NE(error_of(file_with("{not json", 0)).find("malformed safetensors header"),
              std::string::npos);
    EXPECT_NE(error_of(file_with(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,64]}})", 16))
                  .find("outside"),
              std::string::npos);
    EXPECT_NE(error_of(file_with(R"({"a":{"dtype":"F32","shape":[5],"data_offsets":[0,16]}})", 16))
                  .find("shape needs 20"),
              std::string::npos);
    EXPECT_NE(error_of(file_with(R"({"a":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}})", 4))
                  .find("unknown dtype F99"),
              std::string::npos);
    EXPECT_NE(error_of(file_with(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4))
                  .find("malformed shape"),
              std::string::npos);
    EXPECT_NE(
        error_of(file_with(R"({"a":{"dtype":"F32","shape":[1]}})", 4)).find("a has a malformed"),
        std::string::npos);
    EXPECT_NE(error_of(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8))
                  .find("outside"),
              std::string::npos);
}

TEST(Safetensors, HuggingFaceDirectoryErrors) {
    ponder::test::TempDir dir;
    EXPECT_THROW(Model::load(dir.path()), Error);  // no config.json
    ponder::test::write_file(dir.path() / "config.json",
                             R"({"architectures":["GPT2LMHeadModel"]})");
    try {
        Model::load(dir.path());
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("GPT2LMHeadModel"), std::string::npos) << e.what();
    }
    ponder::test::write_file(
        dir.path() / "config.json",
        R"({"architectures":["LlamaForCausalLM"],"hidden_size":8,"num_hidden_layers":1,)"
        R"("intermediate_size":16,"num_attention_heads":2,"vocab_size":4})");
    try {
        Model::load(dir.path());
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("no model.safetensors"), std::string::npos)
            << e.what();
    }
    auto bytes =
        file_with(R"({"model.norm.weight":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", 32);
    ponder::test::write_file(dir.path() / "model.safetensors",
                             std::string(bytes.begin(), bytes.end()));
    try {
        Model::load(dir.path());
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("missing tensor model.embed_tokens.weight"),
                  std::string::npos)
            << e.what();
    }
}

}  // namespace
