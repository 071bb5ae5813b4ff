// The GGUF reader and writer: real files from ../shared, a writer round trip, and a corpus of
// deliberately broken files built here, each of which must give a clean ponder::Error.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/gguf.h"
#include "tests/support.h"

namespace ponder {
namespace {

namespace fs = std::filesystem;

// A small but complete file: every metadata type, arrays, and three tensors.
std::vector<uint8_t> sample_file_bytes(const test::TempDir& dir) {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.context_length", 128);
    w.set("test.u8", GgufValue::of_uint(GgufValueType::UINT8, 200));
    w.set("test.i8", GgufValue::of_int(GgufValueType::INT8, -100));
    w.set("test.u16", GgufValue::of_uint(GgufValueType::UINT16, 60000));
    w.set("test.i16", GgufValue::of_int(GgufValueType::INT16, -30000));
    w.set("test.i32", GgufValue::i32(-7));
    w.set("test.u64", GgufValue::u64(1ull << 40));
    w.set("test.i64", GgufValue::of_int(GgufValueType::INT64, -(1ll << 40)));
    w.set_f32("test.f32", 0.5f);
    w.set("test.f64", GgufValue::of_float(GgufValueType::FLOAT64, 0.25));
    w.set_bool("test.bool", true);
    std::vector<std::string> words{"alpha", "", "gamma"};
    w.set("test.strings", GgufValue::string_array(words));
    std::vector<float> floats{1.5f, -2.0f};
    w.set("test.floats", GgufValue::f32_array(floats));
    GgufArray nested{GgufValueType::ARRAY, {GgufValue::f32_array(floats)}};
    w.set("test.nested", GgufValue::of_array(nested));

    std::vector<uint8_t> f32(4 * 8 * 2);
    for (size_t i = 0; i < f32.size(); ++i) f32[i] = static_cast<uint8_t>(i);
    w.add_tensor("a.weight", GgmlType::F32, {8, 2}, f32);
    w.add_tensor("b.weight", GgmlType::Q8_0, {32, 3}, std::vector<uint8_t>(34 * 3, 7));
    w.add_tensor("c.weight", GgmlType::Q4_K, {256}, std::vector<uint8_t>(144, 9));
    fs::path path = dir.path() / "sample.gguf";
    w.write(path);
    std::string s = test::read_file(path);
    return {s.begin(), s.end()};
}

GgufFile parse(const std::vector<uint8_t>& bytes) {
    return GgufFile::from_memory(bytes, "broken.gguf");
}

// Expects a ponder::Error whose message names the file; returns the message.
std::string expect_error(const std::vector<uint8_t>& bytes) {
    try {
        parse(bytes);
    } catch (const Error& e) {
        std::string msg = e.what();
        EXPECT_NE(msg.find("broken.gguf"), std::string::npos) << msg;
        return msg;
    }
    ADD_FAILURE() << "parsing succeeded but should have failed";
    return {};
}

template <typename T>
void put(std::vector<uint8_t>& bytes, size_t at, T value) {
    ASSERT_LE(at + sizeof(T), bytes.size());
    std::memcpy(bytes.data() + at, &value, sizeof(T));
}

// Byte offset of the first occurrence of `text` (a key or tensor name) in the file.
size_t offset_of(const std::vector<uint8_t>& bytes, std::string_view text) {
    auto it = std::search(bytes.begin(), bytes.end(), text.begin(), text.end());
    EXPECT_NE(it, bytes.end()) << text;
    return static_cast<size_t>(it - bytes.begin());
}

TEST(Gguf, WriterRoundTripKeepsEveryValueType) {
    test::TempDir dir;
    auto bytes = sample_file_bytes(dir);
    GgufFile f = parse(bytes);
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    EXPECT_EQ(f.get_int("llama.context_length"), 128);
    EXPECT_EQ(f.get_int("test.u8"), 200);
    EXPECT_EQ(f.get_int("test.i8"), -100);
    EXPECT_EQ(f.get_int("test.u16"), 60000);
    EXPECT_EQ(f.get_int("test.i16"), -30000);
    EXPECT_EQ(f.get_int("test.i32"), -7);
    EXPECT_EQ(f.get_int("test.u64"), 1ll << 40);
    EXPECT_EQ(f.get_int("test.i64"), -(1ll << 40));
    EXPECT_EQ(f.get_float("test.f32"), 0.5);
    EXPECT_EQ(f.get_float("test.f64"), 0.25);
    EXPECT_EQ(f.get_bool("test.bool"), true);
    EXPECT_EQ(f.get_string_array("test.strings"), (std::vector<std::string>{"alpha", "", "gamma"}));
    EXPECT_EQ(f.get_float_array("test.floats"), (std::vector<float>{1.5f, -2.0f}));
    ASSERT_NE(f.find("test.nested"), nullptr);
    EXPECT_EQ(f.find("test.nested")->as_array()->items.size(), 1u);
    EXPECT_EQ(f.find("missing.key"), nullptr);
    EXPECT_FALSE(f.get_int("missing.key").has_value());

    ASSERT_EQ(f.tensors().size(), 3u);
    const GgufTensorInfo* a = f.find_tensor("a.weight");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->dims, (std::vector<uint64_t>{8, 2}));
    EXPECT_EQ(a->n_bytes, 64u);
    auto data = f.tensor_data(*a);
    EXPECT_EQ(data[5], 5);
    EXPECT_EQ((f.data_offset() + a->offset) % f.alignment(), 0u);
    const GgufTensorInfo* c = f.find_tensor("c.weight");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->type, GgmlType::Q4_K);
    EXPECT_EQ(f.tensor_data(*c)[0], 9);
}

TEST(Gguf, WrongTypeLookupNamesKeyAndTypes) {
    test::TempDir dir;
    GgufFile f = parse(sample_file_bytes(dir));
    try {
        (void)f.get_string("llama.context_length");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("llama.context_length"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("u32"), std::string::npos);
    }
    EXPECT_THROW((void)f.get_string_array("test.floats"), Error);
}

TEST(Gguf, ReadsEverySharedModelAndVocab) {
    PONDER_REQUIRE_SHARED("models");
    int files = 0;
    for (const char* dir : {"models", "vocab"}) {
        for (const auto& entry : fs::directory_iterator(test::shared_dir() / dir)) {
            if (entry.path().extension() != ".gguf") continue;
            SCOPED_TRACE(entry.path().string());
            GgufFile f = GgufFile::open(entry.path());
            EXPECT_TRUE(f.get_string("general.architecture").has_value());
            EXPECT_TRUE(f.get_string_array("tokenizer.ggml.tokens").has_value());
            for (const auto& t : f.tensors()) {
                EXPECT_LE(f.data_offset() + t.offset + t.n_bytes, f.file_size()) << t.name;
            }
            ++files;
        }
    }
    EXPECT_GE(files, 10);
}

TEST(Gguf, SharedModelHasExpectedShape) {
    PONDER_REQUIRE_SHARED("models/TinyStories-656K-Q8_0.gguf");
    GgufFile f = GgufFile::open(test::shared_dir() / "models/TinyStories-656K-Q8_0.gguf");
    EXPECT_EQ(f.get_int("llama.embedding_length"), 128);
    EXPECT_EQ(f.get_int("llama.block_count"), 2);
    const GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
    ASSERT_NE(embd, nullptr);
    EXPECT_EQ(embd->type, GgmlType::Q8_0);
    EXPECT_EQ(embd->dims, (std::vector<uint64_t>{128, 2048}));
    EXPECT_EQ(embd->n_bytes, 2048u * 4 * 34);
    EXPECT_EQ(f.find_tensor("output.weight"), nullptr);  // tied embeddings
}

TEST(GgufBroken, MissingFileAndDirectoryNameThePath) {
    try {
        GgufFile::open("/nonexistent/model.gguf");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/model.gguf"), std::string::npos);
    }
    test::TempDir dir;
    EXPECT_THROW(GgufFile::open(dir.path()), Error);
    test::write_file(dir.path() / "empty.gguf", "");
    EXPECT_THROW(GgufFile::open(dir.path() / "empty.gguf"), Error);
}

TEST(GgufBroken, EveryTruncationIsACleanError) {
    test::TempDir dir;
    auto bytes = sample_file_bytes(dir);
    // Every cut inside the header and directory, then coarser cuts through the data up to the
    // end of the last tensor (the padding after it may go).
    GgufFile whole = parse(bytes);
    size_t header_end = whole.data_offset();
    size_t data_end = 0;
    for (const auto& t : whole.tensors()) {
        data_end = std::max<size_t>(data_end, whole.data_offset() + t.offset + t.n_bytes);
    }
    int cuts = 0;
    for (size_t len = 0; len < data_end; len += (len < header_end ? 1 : 7)) {
        std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(len));
        SCOPED_TRACE(len);
        expect_error(cut);
        ++cuts;
    }
    EXPECT_GT(cuts, 500);
}

TEST(GgufBroken, TruncatedFileOnDiskNamesFileAndOffset) {
    PONDER_REQUIRE_SHARED("models/stories260K.gguf");
    test::TempDir dir;
    std::string whole = test::read_file(test::shared_dir() / "models/stories260K.gguf");
    for (size_t keep : {size_t{3}, size_t{20}, size_t{5000}, whole.size() / 2, whole.size() - 1}) {
        fs::path path = dir.path() / ("cut" + std::to_string(keep) + ".gguf");
        test::write_file(path, whole.substr(0, keep));
        try {
            GgufFile::open(path);
            FAIL() << "truncated to " << keep << " bytes but parsed";
        } catch (const Error& e) {
            std::string msg = e.what();
            EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
            EXPECT_NE(msg.find("byte offset"), std::string::npos) << msg;
        }
    }
}

TEST(GgufBroken, WrongMagicAndVersion) {
    test::TempDir dir;
    auto bytes = sample_file_bytes(dir);
    auto bad = bytes;
    bad[0] = 'X';
    EXPECT_NE(expect_error(bad).find("magic"), std::string::npos);
    bad = bytes;
    put<uint32_t>(bad, 4, 1);
    EXPECT_NE(expect_error(bad).find("version 1"), std::string::npos);
    put<uint32_t>(bad, 4, 99);
    EXPECT_NE(expect_error(bad).find("version"), std::string::npos);
    put<uint32_t>(bad, 4, 0x03000000);
    EXPECT_NE(expect_error(bad).find("big-endian"), std::string::npos);
}

TEST(GgufBroken, AbsurdCountsAreRejectedBeforeAllocating) {
    test::TempDir dir;
    auto bytes = sample_file_bytes(dir);
    for (uint64_t count : {uint64_t{1} << 62, ~uint64_t{0}, uint64_t{1} << 32}) {
        auto bad = bytes;
        put<uint64_t>(bad, 8, count);  // tensor count
        EXPECT_NE(expect_error(bad).find("tensor count"), std::string::npos);
        bad = bytes;
        put<uint64_t>(bad, 16, count);  // metadata count
        EXPECT_NE(expect_error(bad).find("metadata count"), std::string::npos);
    }
    // A string length far past the end of the file.
    auto bad = bytes;
    size_t key = offset_of(bad, "general.architecture");
    put<uint64_t>(bad, key - 8, uint64_t{1} << 50);
    EXPECT_NE(expect_error(bad).find("string length"), std::string::npos);
    // An array count that cannot fit.
    bad = bytes;
    size_t arr = offset_of(bad, "test.strings") + std::strlen("test.strings") + 4 + 4;
    put<uint64_t>(bad, arr, uint64_t{1} << 60);
    EXPECT_NE(expect_error(bad).find("cannot fit"), std::string::npos);
}

TEST(GgufBroken, BadTensorInfos) {
    test::TempDir dir;
    auto bytes = sample_file_bytes(dir);
    size_t name = offset_of(bytes, "a.weight") + std::strlen("a.weight");
    size_t n_dims_at = name, dim0_at = name + 4, dim1_at = name + 12, type_at = name + 20,
           offset_at = name + 24;

    auto bad = bytes;
    put<uint32_t>(bad, n_dims_at, 0);
    EXPECT_NE(expect_error(bad).find("dimensions"), std::string::npos);
    put<uint32_t>(bad, n_dims_at, 9);
    EXPECT_NE(expect_error(bad).find("dimensions"), std::string::npos);

    bad = bytes;
    put<uint64_t>(bad, dim0_at, uint64_t{1} << 40);
    put<uint64_t>(bad, dim1_at, uint64_t{1} << 40);
    EXPECT_NE(expect_error(bad).find("overflow"), std::string::npos);

    bad = bytes;
    put<uint64_t>(bad, dim1_at, uint64_t{1} << 30);  // fits in int64 but not in the file
    EXPECT_NE(expect_error(bad).find("past the end"), std::string::npos);

    bad = bytes;
    put<uint32_t>(bad, type_at, 999);
    EXPECT_NE(expect_error(bad).find("unknown tensor type 999"), std::string::npos);
    put<uint32_t>(bad, type_at, 4);  // the removed Q4_2
    EXPECT_NE(expect_error(bad).find("unknown tensor type 4"), std::string::npos);

    bad = bytes;
    put<uint64_t>(bad, offset_at, 3);
    EXPECT_NE(expect_error(bad).find("not aligned"), std::string::npos);
    put<uint64_t>(bad, offset_at, uint64_t{1} << 62);
    EXPECT_NE(expect_error(bad).find("past the end"), std::string::npos);
    put<uint64_t>(bad, offset_at, ~uint64_t{0} - 31);  // offset + size would wrap around
    EXPECT_NE(expect_error(bad).find("past the end"), std::string::npos);

    // Q8_0 rows must be whole 32-element blocks.
    bad = bytes;
    size_t b_dim0 = offset_of(bad, "b.weight") + std::strlen("b.weight") + 4;
    put<uint64_t>(bad, b_dim0, 33);
    EXPECT_NE(expect_error(bad).find("blocks"), std::string::npos);
}

TEST(GgufBroken, BadMetadataValues) {
    test::TempDir dir;
    auto bytes = sample_file_bytes(dir);
    auto bad = bytes;
    size_t bool_type = offset_of(bad, "test.bool") + std::strlen("test.bool");
    put<uint8_t>(bad, bool_type + 4, 7);
    EXPECT_NE(expect_error(bad).find("bool"), std::string::npos);
    bad = bytes;
    put<uint32_t>(bad, bool_type, 77);
    EXPECT_NE(expect_error(bad).find("unknown value type"), std::string::npos);
    // Rename a key onto its neighbour's name: duplicates are refused.
    bad = bytes;
    size_t key = offset_of(bad, "test.i16");
    bad[key + 5] = 'u';
    EXPECT_NE(expect_error(bad).find("duplicate"), std::string::npos);
}

TEST(GgufBroken, BadAlignmentIsRejected) {
    GgufWriter w;
    w.set_u32("general.alignment", 24);
    test::TempDir dir;
    w.write(dir.path() / "x.gguf");
    std::string s = test::read_file(dir.path() / "x.gguf");
    EXPECT_NE(expect_error({s.begin(), s.end()}).find("alignment"), std::string::npos);
}

TEST(GgufBroken, RandomCorruptionNeverCrashes) {
    test::TempDir dir;
    auto bytes = sample_file_bytes(dir);
    size_t header_end = parse(bytes).data_offset();
    std::mt19937 rng(1234);
    int errors = 0;
    for (int round = 0; round < 3000; ++round) {
        auto bad = bytes;
        int flips = 1 + static_cast<int>(rng() % 4);
        for (int i = 0; i < flips; ++i) {
            size_t at = rng() % header_end;
            bad[at] = static_cast<uint8_t>(rng());
        }
        try {
            GgufFile f = parse(bad);
            // Whatever parsed must be internally consistent.
            for (const auto& t : f.tensors()) {
                EXPECT_LE(f.data_offset() + t.offset + t.n_bytes, f.file_size());
            }
        } catch (const Error&) {
            ++errors;
        }
    }
    EXPECT_GT(errors, 100);
}

}  // namespace
}  // namespace ponder
