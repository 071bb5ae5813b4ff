// `ponder make-model` and `ponder bench`, driven as a user would: the real binary. make-model's
// files are opened with the engine and checked for the shape and types asked for; bench is only
// run on a tiny model with tiny sizes (speed belongs in benchmarks, not tests).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/gguf.h"
#include "engine/model.h"
#include "tests/support.h"

namespace {

using ponder::GgmlType;
using ponder::test::run_ponder;
using ponder::test::TempDir;

// A two-layer model of weight type `type` at `file`: bench runs it in milliseconds.
void write_bench_model(const std::filesystem::path& file, const std::string& type) {
    ASSERT_EQ(run_ponder({"make-model", "--dim", "64", "--layers", "2", "--heads", "4", "--ffn",
                          "128", "--vocab", "256", "--type", type, "-o", file.string()})
                  .exit_code,
              0);
}

std::map<std::string, GgmlType> tensor_types(const ponder::GgufFile& f) {
    std::map<std::string, GgmlType> out;
    for (const auto& t : f.tensors()) out[t.name] = t.type;
    return out;
}

TEST(MakeModel, CustomShapeLoadsWithTheRequestedShapeAndType) {
    TempDir dir;
    const auto file = dir.path() / "tiny.gguf";
    auto r =
        run_ponder({"make-model", "--dim", "64", "--layers", "3", "--heads", "4", "--kv-heads", "2",
                    "--ffn", "96", "--vocab", "300", "--type", "q8_0", "-o", file.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;

    auto gguf = std::make_shared<const ponder::GgufFile>(ponder::GgufFile::open(file));
    const auto types = tensor_types(*gguf);
    EXPECT_EQ(types.count("output.weight"), 0u);  // tied by default
    for (const auto& [name, type] : types) {
        if (name.find("norm") != std::string::npos)
            EXPECT_EQ(type, GgmlType::F32) << name;
        else
            EXPECT_EQ(type, GgmlType::Q8_0) << name;
    }
    const ponder::Model model = ponder::Model::from_gguf(gguf);
    const auto& c = model.config();
    EXPECT_EQ(c.architecture, "llama");
    EXPECT_EQ(c.n_embd, 64);
    EXPECT_EQ(c.n_layer, 3);
    EXPECT_EQ(c.n_head, 4);
    EXPECT_EQ(c.n_head_kv, 2);
    EXPECT_EQ(c.n_ff, 96);
    EXPECT_EQ(c.n_vocab, 300);
    EXPECT_TRUE(c.tied_embeddings);
    ASSERT_EQ(model.layers().size(), 3u);
    EXPECT_EQ(model.layers()[0].wk.rows, 32);  // 2 KV heads of 16
    EXPECT_EQ(model.layers()[0].gate.rows, 96);
}

TEST(MakeModel, MixesFollowLlamaCppAndQwen2HasBiases) {
    TempDir dir;
    const auto file = dir.path() / "mix.gguf";
    // Rows of 256 are whole K blocks; rows of 96 (ffn_down's input) are not.
    auto r = run_ponder({"make-model", "--arch", "qwen2",   "--dim",   "256",
                         "--layers",   "8",      "--heads", "4",       "--kv-heads",
                         "2",          "--ffn",  "96",      "--vocab", "512",
                         "--untied",   "--type", "q4_k_m",  "-o",      file.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto gguf = std::make_shared<const ponder::GgufFile>(ponder::GgufFile::open(file));
    const auto types = tensor_types(*gguf);
    EXPECT_EQ(types.at("token_embd.weight"), GgmlType::Q4_K);
    EXPECT_EQ(types.at("output.weight"), GgmlType::Q6_K);
    EXPECT_EQ(types.at("blk.0.attn_q.weight"), GgmlType::Q4_K);
    EXPECT_EQ(types.at("blk.0.attn_v.weight"), GgmlType::Q6_K);  // first layers: more bits
    EXPECT_EQ(types.at("blk.1.attn_v.weight"), GgmlType::Q4_K);
    EXPECT_EQ(types.at("blk.0.ffn_down.weight"), GgmlType::Q8_0);  // Q6_K falls back
    EXPECT_EQ(types.at("blk.1.ffn_down.weight"), GgmlType::Q5_0);  // Q4_K falls back
    EXPECT_EQ(types.at("blk.0.attn_q.bias"), GgmlType::F32);
    const ponder::Model model = ponder::Model::from_gguf(gguf);
    EXPECT_EQ(model.config().architecture, "qwen2");
    EXPECT_FALSE(model.config().tied_embeddings);
    EXPECT_EQ(model.config().n_layer, 8);
}

TEST(MakeModel, PresetShapes) {
    // The presets' shapes, without writing hundreds of MiB: --vocab and --layers shrink them.
    TempDir dir;
    const auto file = dir.path() / "smol.gguf";
    auto r = run_ponder({"make-model", "--shape", "smollm2-135m", "--layers", "1", "--vocab", "64",
                         "-o", file.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const ponder::Model model = ponder::Model::load(file);
    EXPECT_EQ(model.config().n_embd, 576);
    EXPECT_EQ(model.config().n_head, 9);
    EXPECT_EQ(model.config().n_head_kv, 3);
    EXPECT_EQ(model.config().n_ff, 1536);
    EXPECT_EQ(model.config().n_layer, 1);
}

TEST(MakeModel, BadArgumentsFailWithOneLine) {
    TempDir dir;
    const std::string out = (dir.path() / "x.gguf").string();
    const std::vector<std::vector<std::string>> cases = {
        {"make-model", "--shape", "gpt-5", "-o", out},
        {"make-model", "--type", "q9_9", "-o", out},
        {"make-model", "--dim", "100", "--heads", "3", "-o", out},
        {"make-model", "--heads", "6", "--kv-heads", "4", "-o", out},
        {"make-model", "--dim", "-64", "-o", out},
        {"make-model", "--layers", "0", "-o", out},
        {"make-model", "--tied", "--untied", "-o", out},
        {"make-model", "--dim", "64", "--heads", "4", "--ffn", "64", "--vocab", "16", "-o",
         (dir.path() / "no" / "such" / "dir.gguf").string()},
    };
    for (const auto& args : cases) {
        auto r = run_ponder(args);
        std::string joined;
        for (const auto& a : args) joined += a + " ";
        EXPECT_NE(r.exit_code, 0) << joined;
        EXPECT_FALSE(r.err.empty()) << joined;
        EXPECT_EQ(r.err.find("internal error"), std::string::npos) << joined << ": " << r.err;
        EXPECT_EQ(r.err.substr(0, r.err.find('\n')).find("ponder"), 0u) << joined << ": " << r.err;
    }
    EXPECT_FALSE(std::filesystem::exists(out));
    // Option parsing errors are CLI11's (a line and a pointer to --help).
    auto r = run_ponder({"make-model", "--dim", "64"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("--output is required"), std::string::npos) << r.err;
}

TEST(Bench, RunsOnATinyModel) {
    TempDir dir;
    const auto file = dir.path() / "tiny.gguf";
    ASSERT_NO_FATAL_FAILURE(write_bench_model(file, "q4_0"));
    auto r = run_ponder({"bench", "-m", file.string(), "-p", "8", "-n", "4", "--batch", "1,3", "-r",
                         "2", "-t", "2", "--no-bandwidth", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["threads"], 2);
    EXPECT_EQ(j["pp"]["tokens"], 8);
    EXPECT_EQ(j["tg"]["tokens"], 4);
    EXPECT_GT(j["pp"]["tokens_per_second"]["mean"].get<double>(), 0);
    EXPECT_EQ(j["tg"]["tokens_per_second"]["values"].size(), 2u);
    ASSERT_EQ(j["batched"].size(), 2u);
    EXPECT_EQ(j["batched"][1]["sequences"], 3);
    EXPECT_GT(j["batched"][1]["total_tokens_per_second"]["mean"].get<double>(), 0);
    // Wall time relative to one sequence, per round: each round's 3 sequences over that round's
    // one, so one sequence's own ratios are exactly 1.
    for (int row = 0; row < 2; ++row) {
        const auto& rel = j["batched"][row]["wall_relative_to_one"];
        const auto& wall = j["batched"][row]["wall_seconds"]["values"];
        ASSERT_EQ(rel["values"].size(), 2u);
        for (int round = 0; round < 2; ++round)
            EXPECT_DOUBLE_EQ(rel["values"][round].get<double>(),
                             wall[round].get<double>() /
                                 j["batched"][0]["wall_seconds"]["values"][round].get<double>());
    }
    EXPECT_EQ(j["batched"][0]["wall_relative_to_one"]["mean"].get<double>(), 1.0);
    EXPECT_GT(j["memory"]["rss_peak_bytes"].get<double>(), 0);

    // The table names every test and the thread count.
    auto t = run_ponder({"bench", "-m", file.string(), "-p", "8", "-n", "4", "--batch", "2", "-r",
                         "1", "-t", "1", "--no-bandwidth"});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    EXPECT_NE(t.out.find("pp8"), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("tg4"), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("1 threads"), std::string::npos) << t.out;
    // Without a one-sequence row there is nothing to compare with.
    EXPECT_NE(t.out.find("wall vs 1 seq"), std::string::npos) << t.out;
    const auto row = t.out.substr(t.out.rfind("\n2 "));
    EXPECT_NE(row.find(" -"), std::string::npos) << t.out;
}

// The bound on generation is the rate of reading a buffer the size of the weights (a small
// model's weights stay in the caches); main memory's rate is reported beside it.
TEST(Bench, BoundsGenerationByReadingTheWeightsSize) {
    TempDir dir;
    const auto file = dir.path() / "tiny.gguf";
    ASSERT_NO_FATAL_FAILURE(write_bench_model(file, "q8_0"));
    auto r = run_ponder(
        {"bench", "-m", file.string(), "-p", "4", "-n", "4", "--batch", "1", "-r", "1", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto bw = nlohmann::json::parse(r.out)["bandwidth"];
    const auto weights = bw["weight_bytes_per_token"].get<double>();
    ASSERT_GT(weights, 0);
    ASSERT_LT(weights, 1 << 20);
    EXPECT_EQ(bw["read_buffer_bytes"].get<double>(), 1 << 20);  // the smallest buffer read
    EXPECT_EQ(bw["memory_buffer_bytes"].get<double>(), 512 << 20);
    const auto read = bw["read_bytes_per_second"].get<double>();
    EXPECT_GT(read, 0);
    EXPECT_GT(bw["memory_read_bytes_per_second"].get<double>(), 0);
    EXPECT_DOUBLE_EQ(bw["bound_tokens_per_second"].get<double>(), read / weights);

    auto t =
        run_ponder({"bench", "-m", file.string(), "-p", "4", "-n", "4", "--batch", "1", "-r", "1"});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    EXPECT_NE(t.out.find("reading 1.0 MiB (the weights' size)"), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("reading 512.0 MiB"), std::string::npos) << t.out;
}

TEST(Bench, BadArguments) {
    TempDir dir;
    const auto file = dir.path() / "tiny.gguf";
    ASSERT_EQ(run_ponder({"make-model", "--dim", "64", "--layers", "1", "--heads", "4", "--ffn",
                          "64", "--vocab", "64", "-o", file.string()})
                  .exit_code,
              0);
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"bench", "-m", (dir.path() / "missing.gguf").string()},
          {"bench", "-m", file.string(), "--batch", "1,x"},
          {"bench", "-m", file.string(), "-p", "0"},
          {"bench", "-m", file.string(), "--kernels", "sse9"}}) {
        auto r = run_ponder(args);
        EXPECT_NE(r.exit_code, 0) << args.back();
        EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
        EXPECT_EQ(r.err.rfind("ponder: ", 0), 0u) << r.err;
    }
}

}  // namespace
