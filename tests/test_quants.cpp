// Block formats: half-float conversion, dequantization of hand-built blocks against values
// worked out from ggml's layouts, and quantize → dequantize error bounds for every quantizer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/error.h"
#include "engine/quants.h"

namespace {

using namespace ponder;

TEST(Half, KnownConversions) {
    EXPECT_EQ(fp32_to_fp16(1.0f), 0x3C00);
    EXPECT_EQ(fp32_to_fp16(-2.0f), 0xC000);
    EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7BFF);
    EXPECT_EQ(fp32_to_fp16(1e6f), 0x7C00);           // overflow: infinity
    EXPECT_EQ(fp32_to_fp16(5.9604645e-8f), 0x0001);  // smallest subnormal
    EXPECT_EQ(fp32_to_fp16(1e-9f), 0x0000);
    // Halfway cases round to even.
    EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
    EXPECT_EQ(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
    EXPECT_EQ(fp16_to_fp32(0x3555), 0.333251953125f);
    EXPECT_EQ(fp16_to_fp32(0x0001), 5.9604645e-8f);
    EXPECT_TRUE(std::isinf(fp16_to_fp32(0xFC00)));
    EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7E00)));
    for (uint32_t h = 0; h < 0x7C00; h += 7) EXPECT_EQ(fp32_to_fp16(fp16_to_fp32(uint16_t(h))), h);
}

TEST(Half, BFloat16) {
    EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
    EXPECT_EQ(fp32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);      // halfway: to even
    EXPECT_EQ(fp32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);  // halfway: to even (up)
    EXPECT_EQ(bf16_to_fp32(0xC040), -3.0f);
    EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(std::nanf("")))));
}

// ---- Hand-built blocks ---------------------------------------------------------------------
// Each expected value follows ggml's dequantize_row_* loops as documented (output written in
// order, pointers advanced as there), independently of ponder's unpacking.

void put16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
    std::memcpy(b.data() + at, &v, 2);
}

std::vector<float> run(GgmlType t, const std::vector<uint8_t>& block, int64_t n) {
    std::vector<float> out(static_cast<size_t>(n));
    dequantize_row(t, block.data(), out.data(), n);
    return out;
}

TEST(Dequantize, Q4_0) {
    std::vector<uint8_t> b(18);
    put16(b, 0, fp32_to_fp16(0.5f));
    for (int j = 0; j < 16; ++j) b[2 + j] = uint8_t(j | ((15 - j) << 4));
    auto y = run(GgmlType::Q4_0, b, 32);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(y[j], (j - 8) * 0.5f);
        EXPECT_EQ(y[j + 16], (15 - j - 8) * 0.5f);
    }
}

TEST(Dequantize, Q4_1) {
    std::vector<uint8_t> b(20);
    put16(b, 0, fp32_to_fp16(0.25f));
    put16(b, 2, fp32_to_fp16(-1.5f));
    for (int j = 0; j < 16; ++j) b[4 + j] = uint8_t(((j * 3) & 15) | ((j ^ 5) << 4));
    auto y = run(GgmlType::Q4_1, b, 32);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(y[j], ((j * 3) & 15) * 0.25f - 1.5f);
        EXPECT_EQ(y[j + 16], (j ^ 5) * 0.25f - 1.5f);
    }
}

TEST(Dequantize, Q5_0AndQ5_1) {
    // qh bit j is the fifth bit of value j, bit j + 16 that of value j + 16.
    const uint32_t qh = 0xA5C3F00Fu;
    std::vector<uint8_t> b0(22), b1(24);
    put16(b0, 0, fp32_to_fp16(0.125f));
    std::memcpy(b0.data() + 2, &qh, 4);
    put16(b1, 0, fp32_to_fp16(0.125f));
    put16(b1, 2, fp32_to_fp16(2.0f));
    std::memcpy(b1.data() + 4, &qh, 4);
    for (int j = 0; j < 16; ++j) b0[6 + j] = b1[8 + j] = uint8_t((j & 15) | ((15 - j) << 4));
    auto y0 = run(GgmlType::Q5_0, b0, 32), y1 = run(GgmlType::Q5_1, b1, 32);
    for (int j = 0; j < 16; ++j) {
        const int lo = j | (((qh >> j) & 1) << 4), hi = (15 - j) | (((qh >> (j + 16)) & 1) << 4);
        EXPECT_EQ(y0[j], (lo - 16) * 0.125f);
        EXPECT_EQ(y0[j + 16], (hi - 16) * 0.125f);
        EXPECT_EQ(y1[j], lo * 0.125f + 2.0f);
        EXPECT_EQ(y1[j + 16], hi * 0.125f + 2.0f);
    }
}

TEST(Dequantize, Q8_0) {
    std::vector<uint8_t> b(34);
    put16(b, 0, fp32_to_fp16(0.01f));
    for (int j = 0; j < 32; ++j) b[2 + j] = uint8_t(int8_t(j * 8 - 128));
    auto y = run(GgmlType::Q8_0, b, 32);
    for (int j = 0; j < 32; ++j)
        EXPECT_EQ(y[j], float(j * 8 - 128) * fp16_to_fp32(fp32_to_fp16(0.01f)));
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> v(n);
    for (auto& x : v) x = uint8_t(rng());
    return v;
}

TEST(Dequantize, Q2_K) {
    // scales[16], qs[64], d, dmin
    std::vector<uint8_t> b(84);
    auto sc = pattern(16, 1), qs = pattern(64, 2);
    std::memcpy(b.data(), sc.data(), 16);
    std::memcpy(b.data() + 16, qs.data(), 64);
    put16(b, 80, fp32_to_fp16(0.5f));
    put16(b, 82, fp32_to_fp16(0.25f));
    auto y = run(GgmlType::Q2_K, b, 256);
    std::vector<float> want;
    const uint8_t* q = qs.data();
    int is = 0;
    for (int n = 0; n < 256; n += 128) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; ++half) {
                const uint8_t s = sc[is++];
                const float dl = 0.5f * (s & 15), ml = 0.25f * (s >> 4);
                for (int l = 0; l < 16; ++l)
                    want.push_back(dl * ((q[l + 16 * half] >> shift) & 3) - ml);
            }
        }
        q += 32;
    }
    ASSERT_EQ(want.size(), 256u);
    for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], want[i]) << i;
}

TEST(Dequantize, Q3_K) {
    // hmask[32], qs[64], scales[12], d
    std::vector<uint8_t> b(110);
    auto hm = pattern(32, 3), qs = pattern(64, 4), sc = pattern(12, 5);
    std::memcpy(b.data(), hm.data(), 32);
    std::memcpy(b.data() + 32, qs.data(), 64);
    std::memcpy(b.data() + 96, sc.data(), 12);
    put16(b, 108, fp32_to_fp16(0.0625f));
    auto y = run(GgmlType::Q3_K, b, 256);
    // Sixteen 6-bit scales: low 4 bits from bytes 0..7 (low nibble for 0..7, high for 8..15),
    // high 2 bits from bytes 8..11 (two per scale, scale j at byte 8 + j%4, shift 2*(j/4)).
    int scale[16];
    for (int j = 0; j < 16; ++j) {
        const int low = j < 8 ? sc[j] & 15 : sc[j - 8] >> 4;
        const int high = (sc[8 + j % 4] >> (2 * (j / 4))) & 3;
        scale[j] = (low | (high << 4)) - 32;
    }
    std::vector<float> want;
    const uint8_t* q = qs.data();
    uint8_t m = 1;
    int is = 0;
    for (int n = 0; n < 256; n += 128) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; ++half) {
                const float dl = 0.0625f * scale[is++];
                for (int l = 0; l < 16; ++l) {
                    const int v =
                        ((q[l + 16 * half] >> shift) & 3) - ((hm[l + 16 * half] & m) ? 0 : 4);
                    want.push_back(dl * v);
                }
            }
            m <<= 1;
        }
        q += 32;
    }
    for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], want[i]) << i;
}

// The 6-bit scale/min pairs of Q4_K and Q5_K.
void k4_pair(int j, const uint8_t* s, int& sc, int& mn) {
    if (j < 4) {
        sc = s[j] & 63;
        mn = s[j + 4] & 63;
    } else {
        sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

TEST(Dequantize, Q4_KAndQ5_K) {
    auto sc = pattern(12, 6), qs = pattern(128, 7), qh = pattern(32, 8);
    std::vector<uint8_t> b4(144), b5(176);
    put16(b4, 0, fp32_to_fp16(0.03125f));
    put16(b4, 2, fp32_to_fp16(0.0078125f));
    std::memcpy(b4.data() + 4, sc.data(), 12);
    std::memcpy(b4.data() + 16, qs.data(), 128);
    std::memcpy(b5.data(), b4.data(), 16);
    std::memcpy(b5.data() + 16, qh.data(), 32);
    std::memcpy(b5.data() + 48, qs.data(), 128);
    auto y4 = run(GgmlType::Q4_K, b4, 256), y5 = run(GgmlType::Q5_K, b5, 256);
    std::vector<float> w4, w5;
    const uint8_t* q = qs.data();
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32, u1 <<= 2, u2 <<= 2) {
        int s1, m1, s2, m2;
        k4_pair(is, sc.data(), s1, m1);
        k4_pair(is + 1, sc.data(), s2, m2);
        const float d1 = 0.03125f * s1, mm1 = 0.0078125f * m1, d2 = 0.03125f * s2,
                    mm2 = 0.0078125f * m2;
        for (int l = 0; l < 32; ++l) w4.push_back(d1 * (q[l] & 15) - mm1);
        for (int l = 0; l < 32; ++l) w4.push_back(d2 * (q[l] >> 4) - mm2);
        for (int l = 0; l < 32; ++l)
            w5.push_back(d1 * ((q[l] & 15) + ((qh[l] & u1) ? 16 : 0)) - mm1);
        for (int l = 0; l < 32; ++l)
            w5.push_back(d2 * ((q[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - mm2);
    }
    for (int i = 0; i < 256; ++i) {
        EXPECT_EQ(y4[i], w4[i]) << i;
        EXPECT_EQ(y5[i], w5[i]) << i;
    }
}

TEST(Dequantize, Q6_K) {
    // ql[128], qh[64], scales[16] (int8), d
    auto ql = pattern(128, 9), qh = pattern(64, 10), sc = pattern(16, 11);
    std::vector<uint8_t> b(210);
    std::memcpy(b.data(), ql.data(), 128);
    std::memcpy(b.data() + 128, qh.data(), 64);
    std::memcpy(b.data() + 192, sc.data(), 16);
    put16(b, 208, fp32_to_fp16(0.001f));
    auto y = run(GgmlType::Q6_K, b, 256);
    const float d = fp16_to_fp32(fp32_to_fp16(0.001f));
    std::vector<float> want(256);
    for (int n = 0; n < 2; ++n) {
        const uint8_t* L = ql.data() + 64 * n;
        const uint8_t* H = qh.data() + 32 * n;
        const int8_t* S = reinterpret_cast<const int8_t*>(sc.data()) + 8 * n;
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            want[128 * n + l] =
                d * S[is] * float(int8_t((L[l] & 15) | (((H[l] >> 0) & 3) << 4)) - 32);
            want[128 * n + l + 32] =
                d * S[is + 2] * float(int8_t((L[l + 32] & 15) | (((H[l] >> 2) & 3) << 4)) - 32);
            want[128 * n + l + 64] =
                d * S[is + 4] * float(int8_t((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32);
            want[128 * n + l + 96] =
                d * S[is + 6] * float(int8_t((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32);
        }
    }
    for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], want[i]) << i;
}

TEST(Dequantize, RejectsPartialBlocksAndUnknownTypes) {
    std::vector<uint8_t> b(200);
    std::vector<float> out(64);
    EXPECT_THROW(dequantize_row(GgmlType::Q4_0, b.data(), out.data(), 40), Error);
    EXPECT_THROW(dequantize_row(GgmlType::IQ2_XXS, b.data(), out.data(), 256), Error);
    EXPECT_FALSE(can_dequantize(GgmlType::IQ4_NL));
    EXPECT_THROW(quantize(GgmlType::Q4_K, std::vector<float>(100), 100), Error);
}

// ---- Round trips ---------------------------------------------------------------------------

std::vector<float> test_signal(size_t n) {
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = normal(rng) * (1.0f + 0.5f * std::sin(float(i) * 0.01f));
    v[17] = 9.0f;  // an outlier
    return v;
}

struct RoundTrip {
    GgmlType type;
    double max_rms_error;  // RMS error relative to the signal's RMS
};

class QuantRoundTrip : public ::testing::TestWithParam<RoundTrip> {};

TEST_P(QuantRoundTrip, ErrorIsBounded) {
    const auto [type, bound] = GetParam();
    const int64_t n = 4096;
    auto x = test_signal(static_cast<size_t>(n));
    auto bytes = quantize(type, x, 1024);
    EXPECT_EQ(bytes.size(), *ggml_row_bytes(type, 1024) * 4);
    auto y = dequantize(type, bytes, n);
    double err = 0, sig = 0;
    for (int64_t i = 0; i < n; ++i) {
        err += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
        sig += double(x[i]) * x[i];
    }
    const double rel = std::sqrt(err / sig);
    EXPECT_LE(rel, bound) << traits(type).name;
    EXPECT_GT(rel, 0.0) << traits(type).name;  // these formats are lossy for this signal
    // The outlier survives (formats scale blocks by their largest value).
    EXPECT_NEAR(y[17], 9.0f, 9.0f * 2 * bound) << traits(type).name;

    // All-zero input comes back as exact zeros.
    std::vector<float> zeros(256, 0.0f);
    auto z = dequantize(type, quantize(type, zeros, 256), 256);
    for (float v : z) EXPECT_EQ(v, 0.0f) << traits(type).name;
}

INSTANTIATE_TEST_SUITE_P(
    AllQuantizers, QuantRoundTrip,
    ::testing::Values(RoundTrip{GgmlType::F16, 1e-3}, RoundTrip{GgmlType::BF16, 5e-3},
                      RoundTrip{GgmlType::Q8_0, 0.01}, RoundTrip{GgmlType::Q8_K, 0.01},
                      RoundTrip{GgmlType::Q6_K, 0.03}, RoundTrip{GgmlType::Q5_0, 0.05},
                      RoundTrip{GgmlType::Q5_1, 0.05}, RoundTrip{GgmlType::Q5_K, 0.05},
                      RoundTrip{GgmlType::Q4_0, 0.1}, RoundTrip{GgmlType::Q4_1, 0.1},
                      RoundTrip{GgmlType::Q4_K, 0.1}, RoundTrip{GgmlType::Q3_K, 0.2},
                      RoundTrip{GgmlType::Q2_K, 0.4}),
    [](const auto& info) { return std::string(traits(info.param.type).name); });

// More bits never hurt: each K format is more accurate than the one below it.
TEST(QuantRoundTrip, MoreBitsAreMoreAccurate) {
    auto x = test_signal(2048);
    auto rms = [&](GgmlType t) {
        auto y = dequantize(t, quantize(t, x, 2048), 2048);
        double e = 0;
        for (size_t i = 0; i < x.size(); ++i) e += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
        return std::sqrt(e / double(x.size()));
    };
    EXPECT_LT(rms(GgmlType::Q6_K), rms(GgmlType::Q5_K));
    EXPECT_LT(rms(GgmlType::Q5_K), rms(GgmlType::Q4_K));
    EXPECT_LT(rms(GgmlType::Q4_K), rms(GgmlType::Q3_K));
    EXPECT_LT(rms(GgmlType::Q3_K), rms(GgmlType::Q2_K));
}

}  // namespace
