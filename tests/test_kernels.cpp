// The matrix kernels: every instruction set against the scalar reference (bit for bit) for
// every weight type and several batch sizes, the packed layouts against ggml's dequantization,
// the integer products against float arithmetic, and the seam's dispatch rules.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "engine/error.h"
#include "engine/kernels.h"
#include "engine/kernels_pack.h"
#include "engine/quants.h"
#include "engine/thread_pool.h"

namespace {

using namespace ponder;

const GgmlType kIntegerTypes[] = {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0,
                                  GgmlType::Q5_1, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K,
                                  GgmlType::Q5_K, GgmlType::Q6_K};
const GgmlType kFloatTypes[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16};
const int64_t kBatchSizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 33};

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

// A quantized matrix that owns its bytes.
struct TestMatrix {
    std::vector<uint8_t> bytes;
    WeightMatrix w;
    std::unique_ptr<PackedWeights> packed;

    TestMatrix(GgmlType type, int64_t rows, int64_t cols, uint32_t seed, ThreadPool& pool) {
        const auto values = random_floats(static_cast<size_t>(rows * cols), seed);
        bytes = quantize(type, values, cols);
        w.name = "test";
        w.type = type;
        w.data = bytes.data();
        w.rows = rows;
        w.cols = cols;
        w.row_bytes = *ggml_row_bytes(type, static_cast<uint64_t>(cols));
        packed = PackedWeights::pack(w, pool);
        w.packed = packed.get();
    }
};

int64_t cols_for(GgmlType t) {
    // Two blocks of 256 for the K formats; an odd number of 32-blocks for the others.
    return traits(t).block_size == 256 ? 512 : 96;
}

std::vector<float> run_matmul(const WeightMatrix& w, const std::vector<float>& x, int64_t n,
                              KernelIsa isa, ThreadPool& pool) {
    KernelScratch scratch(isa);
    std::vector<float> y(static_cast<size_t>(n * w.rows), NAN);
    matmul(w, x.data(), n, y.data(), w.rows, pool, scratch);
    return y;
}

TEST(Kernels, IsaNamesAndSupport) {
    for (KernelIsa isa :
         {KernelIsa::scalar, KernelIsa::avx2, KernelIsa::avx512, KernelIsa::avx512_vnni})
        EXPECT_EQ(kernel_isa_from_name(kernel_isa_name(isa)), isa);
    EXPECT_FALSE(kernel_isa_from_name("sse9"));
    const auto isas = supported_kernel_isas();
    ASSERT_FALSE(isas.empty());
    EXPECT_EQ(isas.front(), KernelIsa::scalar);
    EXPECT_EQ(isas.back(), best_kernel_isa());
    EXPECT_TRUE(kernel_isa_supported(default_kernel_isa()));
    std::printf("[ kernels ] supported:");
    for (KernelIsa isa : isas) std::printf(" %s", std::string(kernel_isa_name(isa)).c_str());
    std::printf("; cpu: %s\n", cpu_feature_summary().c_str());
}

// An activation block that holds NaN (a corrupt model's weights can produce one) is quantized
// within its own bounds, on every instruction set and for both activation formats.
TEST(Kernels, NanActivationsStayWithinTheirBlock) {
    ThreadPool pool(1);
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_K}) {
        const int64_t K = cols_for(t);
        TestMatrix m(t, 16, K, 3, pool);
        const int64_t last_block = K - traits(t).block_size;
        // One NaN at the start, in the middle, at the end; then a whole last block of them.
        for (int64_t from : {int64_t{0}, K / 2, K - 1, last_block}) {
            std::vector<float> x = random_floats(static_cast<size_t>(K), 5);
            const int64_t to = from == last_block ? K : from + 1;
            std::fill(x.begin() + from, x.begin() + to, NAN);
            for (KernelIsa isa : supported_kernel_isas()) {
                const auto y = run_matmul(m.w, x, 1, isa, pool);
                EXPECT_EQ(y.size(), 16u) << traits(t).name << " " << kernel_isa_name(isa);
            }
        }
    }
}

TEST(Kernels, PackedLayoutsHoldTheSameValues) {
    ThreadPool pool(1);
    for (GgmlType t : kIntegerTypes) {
        const int64_t K = cols_for(t), rows = 21;  // a full group and a partial one
        TestMatrix m(t, rows, K, 7, pool);
        const auto format = *kernels::packed_format(t);
        const size_t gbytes = kernels::group_bytes(format, K / kernels::layout(format).block);
        ASSERT_EQ(m.packed->bytes(), 2 * gbytes) << traits(t).name;
        std::vector<float> expect(static_cast<size_t>(K)), got(static_cast<size_t>(K));
        for (int64_t r = 0; r < rows; ++r) {
            dequantize_row(t, m.w.row(r), expect.data(), K);
            kernels::unpack_packed_row(format, m.packed->data() + (r / 16) * gbytes, K,
                                       static_cast<int>(r % 16), got.data());
            ASSERT_EQ(std::memcmp(expect.data(), got.data(), expect.size() * 4), 0)
                << traits(t).name << " row " << r;
        }
    }
}

// The integer products are those of the dequantized weights with the activations, up to the
// 8-bit rounding of the activations.
TEST(Kernels, IntegerProductsMatchFloatArithmetic) {
    ThreadPool pool(2);
    for (GgmlType t : kIntegerTypes) {
        const int64_t K = cols_for(t), rows = 40, n = 3;
        TestMatrix m(t, rows, K, 11, pool);
        const auto x = random_floats(static_cast<size_t>(n * K), 5);
        const auto y = run_matmul(m.w, x, n, KernelIsa::scalar, pool);
        std::vector<float> w(static_cast<size_t>(K));
        double worst = 0, scale = 0;
        for (int64_t r = 0; r < rows; ++r) {
            dequantize_row(t, m.w.row(r), w.data(), K);
            for (int64_t b = 0; b < n; ++b) {
                double ref = 0, mag = 0;
                for (int64_t k = 0; k < K; ++k) {
                    ref += double(w[size_t(k)]) * x[size_t(b * K + k)];
                    mag += std::fabs(double(w[size_t(k)]) * x[size_t(b * K + k)]);
                }
                worst = std::max(worst, std::fabs(ref - y[size_t(b * rows + r)]));
                scale = std::max(scale, mag);
            }
        }
        // 8-bit activations: about 1/254 of the magnitude of the terms, and far less summed.
        EXPECT_LT(worst, 0.01 * scale) << traits(t).name;
    }
}

TEST(Kernels, EveryIsaMatchesScalarBitForBitOnIntegerWeights) {
    // 9 whole groups of 16 rows and a partial one: one thread takes them all, so streaming
    // tiles read 4, 2 and 1 groups at once; two threads take them in chunks.
    ThreadPool one(1), two(2);
    for (GgmlType t : kIntegerTypes) {
        const int64_t K = cols_for(t), rows = 9 * 16 + 5;
        TestMatrix m(t, rows, K, 3, two);
        for (int64_t n : kBatchSizes) {
            const auto x =
                random_floats(static_cast<size_t>(n * K), 100 + static_cast<uint32_t>(n));
            const auto ref = run_matmul(m.w, x, n, KernelIsa::scalar, two);
            for (ThreadPool* pool : {&one, &two})
                for (KernelIsa isa : supported_kernel_isas()) {
                    const auto y = run_matmul(m.w, x, n, isa, *pool);
                    ASSERT_EQ(std::memcmp(ref.data(), y.data(), ref.size() * 4), 0)
                        << traits(t).name << " with " << kernel_isa_name(isa) << ", batch " << n
                        << ", " << pool->size() << " threads";
                }
        }
    }
}

TEST(Kernels, EveryIsaMatchesScalarOnFloatWeights) {
    ThreadPool pool(2);
    for (GgmlType t : kFloatTypes) {
        for (int64_t K : {64, 77}) {  // whole 16-lane steps, and a tail
            const int64_t rows = 23;
            TestMatrix m(t, rows, K, 9, pool);
            for (int64_t n : kBatchSizes) {
                const auto x =
                    random_floats(static_cast<size_t>(n * K), 200 + static_cast<uint32_t>(n));
                const auto ref = run_matmul(m.w, x, n, KernelIsa::scalar, pool);
                for (KernelIsa isa : supported_kernel_isas()) {
                    const auto y = run_matmul(m.w, x, n, isa, pool);
                    // BF16 may use AVX512_BF16's own summation order.
                    const double tol = t == GgmlType::BF16 ? 1e-5 : 0.0;
                    for (size_t i = 0; i < ref.size(); ++i)
                        ASSERT_LE(std::fabs(ref[i] - y[i]), tol * (1 + std::fabs(ref[i])))
                            << traits(t).name << " with " << kernel_isa_name(isa) << ", batch " << n
                            << ", K " << K << ", output " << i;
                }
            }
        }
    }
}

TEST(Kernels, ABatchRowEqualsThatRowAlone) {
    ThreadPool pool(2);
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16}) {
        const int64_t K = cols_for(t), rows = 37, n = 11;
        TestMatrix m(t, rows, K, 4, pool);
        const auto x = random_floats(static_cast<size_t>(n * K), 77);
        const KernelIsa isa = best_kernel_isa();
        const auto all = run_matmul(m.w, x, n, isa, pool);
        for (int64_t b = 0; b < n; ++b) {
            const std::vector<float> one(x.begin() + b * K, x.begin() + (b + 1) * K);
            const auto y = run_matmul(m.w, one, 1, isa, pool);
            ASSERT_EQ(std::memcmp(y.data(), all.data() + b * rows, static_cast<size_t>(rows) * 4),
                      0)
                << traits(t).name << " row " << b;
        }
    }
}

TEST(Kernels, UnpackedMatricesAndThreadCountsGiveTheSameResult) {
    ThreadPool one(1), three(3);
    for (GgmlType t : {GgmlType::Q5_0, GgmlType::Q3_K}) {
        const int64_t K = cols_for(t), rows = 50, n = 5;
        TestMatrix m(t, rows, K, 8, one);
        const auto x = random_floats(static_cast<size_t>(n * K), 21);
        const auto ref = run_matmul(m.w, x, n, best_kernel_isa(), one);
        WeightMatrix raw = m.w;
        raw.packed = nullptr;  // packed on the fly, a group at a time
        EXPECT_EQ(run_matmul(raw, x, n, best_kernel_isa(), three), ref) << traits(t).name;
        EXPECT_EQ(run_matmul(m.w, x, n, best_kernel_isa(), three), ref) << traits(t).name;
    }
}

TEST(Kernels, SeveralOutputsShareOneInput) {
    ThreadPool pool(2);
    TestMatrix a(GgmlType::Q8_0, 48, 256, 1, pool), b(GgmlType::Q4_K, 16, 256, 2, pool),
        c(GgmlType::F32, 20, 256, 3, pool);
    const int64_t n = 4;
    const auto x = random_floats(static_cast<size_t>(n * 256), 3);
    std::vector<float> ya(size_t(n * 48)), yb(size_t(n * 16)), yc(size_t(n * 20));
    KernelScratch scratch;
    const MatmulOutput outs[] = {
        {&a.w, ya.data(), 48}, {&b.w, yb.data(), 16}, {&c.w, yc.data(), 20}};
    matmul(outs, x.data(), n, pool, scratch);
    EXPECT_EQ(ya, run_matmul(a.w, x, n, scratch.isa(), pool));
    EXPECT_EQ(yb, run_matmul(b.w, x, n, scratch.isa(), pool));
    EXPECT_EQ(yc, run_matmul(c.w, x, n, scratch.isa(), pool));
}

TEST(Kernels, RejectsWhatItCannotCompute) {
    ThreadPool pool(1);
    std::vector<uint8_t> bytes(292 * 2);
    WeightMatrix w;
    w.name = "blk.0.attn_q.weight";
    w.type = GgmlType::Q8_K;
    w.data = bytes.data();
    w.rows = 2;
    w.cols = 256;
    w.row_bytes = 292;
    std::vector<float> x(256), y(2);
    KernelScratch scratch;
    EXPECT_FALSE(matmul_supports(GgmlType::Q8_K));
    EXPECT_THROW(matmul(w, x.data(), 1, y.data(), 2, pool, scratch), Error);
}

}  // namespace

namespace {

// Attention over F16 K/V rows spelled out in double: q rounded to F16 for the K products and the
// softmax weights rounded to F16 before weighting V, as attend documents.
std::vector<double> plain_attention(const float* q, const std::vector<uint16_t>& k,
                                    const std::vector<uint16_t>& v,
                                    const std::vector<int32_t>& cells, int head_dim, float scale) {
    std::vector<double> scores;
    for (int32_t c : cells) {
        double dot = 0;
        for (int d = 0; d < head_dim; ++d)
            dot += double(fp16_to_fp32(fp32_to_fp16(q[d]))) *
                   fp16_to_fp32(k[static_cast<size_t>(c * head_dim + d)]);
        scores.push_back(dot * scale);
    }
    const double top = *std::max_element(scores.begin(), scores.end());
    double sum = 0;
    for (double& s : scores) sum += (s = std::exp(s - top));
    std::vector<double> out(static_cast<size_t>(head_dim), 0.0);
    for (size_t j = 0; j < cells.size(); ++j) {
        const double p = fp16_to_fp32(fp32_to_fp16(static_cast<float>(scores[j] / sum)));
        for (int d = 0; d < head_dim; ++d)
            out[static_cast<size_t>(d)] +=
                p * fp16_to_fp32(v[static_cast<size_t>(cells[j] * head_dim + d)]);
    }
    return out;
}

// F16 keys and values for n_rows cells (keys in transposed blocks of 16 cells, as the cache
// holds them; values a row per cell) and n_cells distinct cells among them, in a shuffled
// order, as a cache's cells are. `k_rows` keeps the keys a row per cell, for the plain loop.
struct RandomKv {
    std::vector<uint16_t> k, k_rows, v;
    std::vector<int32_t> cells;
};

RandomKv random_kv(int n_cells, int n_rows, int head_dim, std::mt19937& rng) {
    RandomKv kv;
    kv.k_rows.resize(static_cast<size_t>(n_rows * head_dim));
    kv.v.resize(kv.k_rows.size());
    const auto kf = random_floats(kv.k_rows.size(), rng(), 0.5f);
    const auto vf = random_floats(kv.v.size(), rng());
    fp32_to_fp16_row(kf.data(), kv.k_rows.data(), static_cast<int64_t>(kv.k_rows.size()));
    fp32_to_fp16_row(vf.data(), kv.v.data(), static_cast<int64_t>(kv.v.size()));
    kv.k.assign(static_cast<size_t>(key_block_cells(n_rows) * head_dim), uint16_t{0});
    for (int c = 0; c < n_rows; ++c)
        for (int d = 0; d < head_dim; ++d)
            kv.k[key_index(c, d, head_dim)] = kv.k_rows[static_cast<size_t>(c * head_dim + d)];
    kv.cells.resize(static_cast<size_t>(n_rows));
    std::iota(kv.cells.begin(), kv.cells.end(), 0);
    std::shuffle(kv.cells.begin(), kv.cells.end(), rng);
    kv.cells.resize(static_cast<size_t>(n_cells));
    return kv;
}

}  // namespace

TEST(Kernels, AttentionMatchesAPlainLoopAndEachHeadIsItsOwn) {
    std::mt19937 rng(7);
    // 80: V rows that are not 2, 4 or 8 vectors take the generic weighting.
    for (int head_dim : {32, 64, 80, 128}) {
        // 9: more heads than are scored at once.
        for (int n_heads : {1, 2, 3, 4, 5, 9}) {
            // Cell counts around the key blocks of 16, in a shuffled order or (n_cells even) in
            // order: whole blocks and a part of one.
            for (int n_cells : {1, 3, 4, 5, 8, 11, 16, 32, 37, 40}) {
                auto [k, k_rows, v, cells] = random_kv(n_cells, n_cells + 3, head_dim, rng);
                if (n_cells % 2 == 0) std::iota(cells.begin(), cells.end(), 0);
                auto q = random_floats(static_cast<size_t>(n_heads * head_dim), rng());
                const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));

                std::vector<float> scores(static_cast<size_t>(n_heads * n_cells));
                std::vector<float> out(static_cast<size_t>(n_heads * head_dim));
                attend(q.data(), n_heads, k.data(), v.data(), static_cast<size_t>(head_dim), cells,
                       head_dim, head_dim, scale, scores.data(), out.data());
                for (int h = 0; h < n_heads; ++h) {
                    const float* qh = q.data() + h * head_dim;
                    const float* got = out.data() + h * head_dim;
                    auto want = plain_attention(qh, k_rows, v, cells, head_dim, scale);
                    for (int d = 0; d < head_dim; ++d)
                        ASSERT_NEAR(got[d], want[static_cast<size_t>(d)], 5e-3)
                            << "head_dim " << head_dim << " heads " << n_heads << " cells "
                            << n_cells << " head " << h << " d " << d;
                    std::vector<float> alone_scores(static_cast<size_t>(n_cells));
                    std::vector<float> alone(static_cast<size_t>(head_dim));
                    attend(qh, 1, k.data(), v.data(), static_cast<size_t>(head_dim), cells,
                           head_dim, head_dim, scale, alone_scores.data(), alone.data());
                    ASSERT_EQ(std::memcmp(alone.data(), got, sizeof(float) * head_dim), 0)
                        << "head_dim " << head_dim << " heads " << n_heads << " cells " << n_cells
                        << " head " << h;
                }
            }
        }
    }
}

TEST(Kernels, PromptTokensAttendTogetherAsEachAlone) {
    std::mt19937 rng(11);
    for (int head_dim : {32, 64, 128}) {
        for (int n_heads : {1, 3, 7}) {
            // Cell counts around the 16-key blocks; tokens 1..9 at the end of the list.
            for (int n_cells : {2, 15, 16, 17, 40}) {
                const int n_tokens = std::min(n_cells, 1 + static_cast<int>(rng() % 9));
                auto [k, k_rows, v, cells] = random_kv(n_cells, n_cells + 5, head_dim, rng);
                // Shuffled cells, or (every other case) cells in order, whole key blocks and a
                // part of one, as a prompt fills them.
                if (n_cells % 2 == 0) std::iota(cells.begin(), cells.end(), 0);
                // Token t sees the cells of the one before and its own.
                std::vector<int32_t> counts(static_cast<size_t>(n_tokens));
                for (int t = 0; t < n_tokens; ++t)
                    counts[static_cast<size_t>(t)] = n_cells - n_tokens + 1 + t;
                const int q_stride = n_heads * head_dim + 16;  // rows apart, as in a batch
                auto q = random_floats(static_cast<size_t>(n_tokens * q_stride), rng());
                const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
                const size_t width = static_cast<size_t>((n_cells + 15) / 16 * 16);
                std::vector<float> scores(static_cast<size_t>(n_tokens * n_heads) * width);
                std::vector<float> out(static_cast<size_t>(n_tokens * q_stride), -1.0f);
                attend_tokens(q.data(), static_cast<size_t>(q_stride), n_tokens, n_heads, k.data(),
                              v.data(), static_cast<size_t>(head_dim), cells, counts, head_dim,
                              head_dim, scale, scores.data(), out.data(),
                              static_cast<size_t>(q_stride));
                for (int t = 0; t < n_tokens; ++t) {
                    const std::span<const int32_t> seen = std::span<const int32_t>(cells).first(
                        static_cast<size_t>(counts[static_cast<size_t>(t)]));
                    std::vector<float> one_scores(static_cast<size_t>(n_heads) * width);
                    std::vector<float> one(static_cast<size_t>(n_heads * head_dim));
                    attend_tokens(
                        q.data() + t * q_stride, 0, 1, n_heads, k.data(), v.data(),
                        static_cast<size_t>(head_dim), seen,
                        std::span<const int32_t>(counts).subspan(static_cast<size_t>(t), 1),
                        head_dim, head_dim, scale, one_scores.data(), one.data(), 0);
                    const float* got = out.data() + t * q_stride;
                    ASSERT_EQ(std::memcmp(one.data(), got, one.size() * sizeof(float)), 0)
                        << "head_dim " << head_dim << " heads " << n_heads << " cells " << n_cells
                        << " token " << t << " of " << n_tokens;
                    // A token among others gets what attend gives it alone: the same scores, and
                    // zero weights for the cells it does not see.
                    std::vector<float> ref_scores(static_cast<size_t>(n_heads * n_cells));
                    std::vector<float> ref(static_cast<size_t>(n_heads * head_dim));
                    attend(q.data() + t * q_stride, n_heads, k.data(), v.data(),
                           static_cast<size_t>(head_dim), seen, head_dim, head_dim, scale,
                           ref_scores.data(), ref.data());
                    for (int h = 0; h < n_heads; ++h) {
                        auto want = plain_attention(
                            q.data() + t * q_stride + h * head_dim, k_rows, v,
                            std::vector<int32_t>(seen.begin(), seen.end()), head_dim, scale);
                        for (int d = 0; d < head_dim; ++d) {
                            const size_t i = static_cast<size_t>(h * head_dim + d);
                            ASSERT_EQ(got[i], ref[i]) << "token " << t << " head " << h;
                            ASSERT_NEAR(got[i], want[static_cast<size_t>(d)], 5e-3);
                        }
                    }
                    // The padding between the heads' rows is left alone.
                    for (int i = n_heads * head_dim; i < q_stride; ++i) ASSERT_EQ(got[i], -1.0f);
                }
            }
        }
    }
}

TEST(Kernels, NextAtLeastFindsWhatAPlainLoopFinds) {
    std::mt19937 rng(9);
    auto x = random_floats(203, rng(), 10.0f);
    x[17] = NAN;
    x[40] = INFINITY;
    x[41] = -INFINITY;
    const auto n = static_cast<int64_t>(x.size());
    for (float threshold : {-INFINITY, -5.0f, 0.0f, 8.0f, 9.9f, INFINITY, NAN}) {
        for (int64_t begin = 0; begin <= n; ++begin) {
            int64_t want = begin;
            while (want < n && !(x[static_cast<size_t>(want)] >= threshold)) ++want;
            ASSERT_EQ(next_at_least(x.data(), begin, n, threshold), want)
                << "threshold " << threshold << " from " << begin;
        }
    }
}

TEST(Kernels, ElementWiseStepsDoNotDependOnTheVectorWidth) {
    // Long rows go 16 lanes at a time, a row of one through the scalar code: the same bits.
    std::mt19937 rng(5);
    auto gate = random_floats(77, rng(), 30.0f);
    gate[3] = 0.0f;
    gate[4] = -0.0f;
    gate[5] = 100.0f;
    gate[6] = -100.0f;
    const auto up = random_floats(gate.size(), rng());
    auto together = gate;
    swiglu(together.data(), up.data(), static_cast<int64_t>(together.size()));
    for (size_t i = 0; i < gate.size(); ++i) {
        float alone = gate[i];
        swiglu(&alone, &up[i], 1);
        ASSERT_EQ(std::bit_cast<uint32_t>(alone), std::bit_cast<uint32_t>(together[i]))
            << "gate " << gate[i];
        ASSERT_NEAR(alone, gate[i] / (1 + std::exp(-double(gate[i]))) * up[i],
                    1e-5 * (1 + std::fabs(alone)));
    }
    // Softmax: each weight against e^(x - max) / Σ in double, for rows that use both paths.
    for (int64_t n : {5, 16, 37}) {
        auto x = random_floats(static_cast<size_t>(n), rng(), 20.0f);
        auto y = x;
        softmax(y.data(), n);
        const double top = *std::max_element(x.begin(), x.end());
        double sum = 0;
        for (float v : x) sum += std::exp(v - top);
        for (int64_t i = 0; i < n; ++i)
            ASSERT_NEAR(y[static_cast<size_t>(i)], std::exp(x[static_cast<size_t>(i)] - top) / sum,
                        1e-6)
                << "n " << n << " i " << i;
    }
}
