#include "engine/quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "engine/error.h"

namespace ponder {

namespace {

// ------------------------------------------------------------------------------------------
// Block layouts, byte for byte as ggml stores them (ggml-common.h). Multi-byte fields are
// little-endian, as on every machine ponder runs on.
constexpr int kQK = 32;    // values per block of the "legacy" formats
constexpr int kQKK = 256;  // values per super-block of the K formats

struct BlockQ4_0 {
    uint16_t d;
    uint8_t qs[kQK / 2];
};
struct BlockQ4_1 {
    uint16_t d, m;
    uint8_t qs[kQK / 2];
};
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[kQK / 2];
};
struct BlockQ5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[kQK / 2];
};
struct BlockQ8_0 {
    uint16_t d;
    int8_t qs[kQK];
};
struct BlockQ2_K {
    uint8_t scales[kQKK / 16];  // low nibble scale, high nibble min
    uint8_t qs[kQKK / 4];
    uint16_t d, dmin;
};
struct BlockQ3_K {
    uint8_t hmask[kQKK / 8];
    uint8_t qs[kQKK / 4];
    uint8_t scales[12];  // 16 six-bit scales
    uint16_t d;
};
struct BlockQ4_K {
    uint16_t d, dmin;
    uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins
    uint8_t qs[kQKK / 2];
};
struct BlockQ5_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[kQKK / 8];
    uint8_t qs[kQKK / 2];
};
struct BlockQ6_K {
    uint8_t ql[kQKK / 2];
    uint8_t qh[kQKK / 4];
    int8_t scales[kQKK / 16];
    uint16_t d;
};
struct BlockQ8_K {
    float d;
    int8_t qs[kQKK];
    int16_t bsums[kQKK / 16];
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

// The K formats round to nearest, ties to even, as ggml's nearest_int does.
inline int round_even(float v) {
    return static_cast<int>(std::nearbyint(v));
}
// The 32-value formats round as ggml's reference quantizers do, so that a file ponder writes
// has the bytes llama-quantize writes: level + offset + 0.5, computed in float, truncated (the
// sum is never negative). Q8_0 rounds halves away from zero (roundf).
inline int round_up(float level, float offset_and_half) {
    return static_cast<int>(level + offset_and_half);
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block: the first four are
// the low 6 bits of bytes 0..3 / 4..7; the last four take 4 bits from bytes 8..11 and their top
// 2 bits from the spare top bits of bytes 0..7.
inline void k4_scale_min(int j, const uint8_t* s, uint8_t& scale, uint8_t& min) {
    if (j < 4) {
        scale = s[j] & 63;
        min = s[j + 4] & 63;
    } else {
        scale = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

inline void k4_pack_scale_min(int j, uint8_t scale, uint8_t min, uint8_t* s) {
    if (j < 4) {
        s[j] = static_cast<uint8_t>((s[j] & 0xC0) | scale);
        s[j + 4] = static_cast<uint8_t>((s[j + 4] & 0xC0) | min);
    } else {
        s[j + 4] = static_cast<uint8_t>((scale & 0xF) | ((min & 0xF) << 4));
        s[j - 4] |= static_cast<uint8_t>((scale >> 4) << 6);
        s[j] |= static_cast<uint8_t>((min >> 4) << 6);
    }
}

// The 6-bit scale of sub-block j (0..15) of a Q3_K block, minus its bias of 32.
inline int q3k_scale(int j, const uint8_t* s) {
    int low = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
    int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low | (high << 4)) - 32;
}

// ------------------------------------------------------------------------------------------
// Unpacking to int8 values with integer group scales and float block scales (quants.h). Element
// order inside each block follows ggml's dequantize_row_* functions.

void unpack_q4_0(const BlockQ4_0* b, int64_t nb, const UnpackedRow& o) {
    for (int64_t i = 0; i < nb; ++i) {
        int8_t* q = o.q + i * kQK;
        for (int j = 0; j < kQK / 2; ++j) {
            q[j] = static_cast<int8_t>((b[i].qs[j] & 0xF) - 8);
            q[j + 16] = static_cast<int8_t>((b[i].qs[j] >> 4) - 8);
        }
        o.scale[2 * i] = o.scale[2 * i + 1] = 1;
        o.d[i] = fp16_to_fp32(b[i].d);
    }
}

void unpack_q4_1(const BlockQ4_1* b, int64_t nb, const UnpackedRow& o) {
    for (int64_t i = 0; i < nb; ++i) {
        int8_t* q = o.q + i * kQK;
        for (int j = 0; j < kQK / 2; ++j) {
            q[j] = static_cast<int8_t>(b[i].qs[j] & 0xF);
            q[j + 16] = static_cast<int8_t>(b[i].qs[j] >> 4);
        }
        o.scale[2 * i] = o.scale[2 * i + 1] = 1;
        o.d[i] = fp16_to_fp32(b[i].d);
        o.dmin[i] = fp16_to_fp32(b[i].m);
    }
}

// The fifth bits: bit j of qh belongs to value j, bit j+16 to value j+16.
template <typename Block>
void unpack_q5_values(const Block& b, int8_t* q, int bias) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    for (int j = 0; j < kQK / 2; ++j) {
        const int h0 = ((qh >> j) & 1) << 4;
        const int h1 = ((qh >> (j + 16)) & 1) << 4;
        q[j] = static_cast<int8_t>(((b.qs[j] & 0xF) | h0) - bias);
        q[j + 16] = static_cast<int8_t>(((b.qs[j] >> 4) | h1) - bias);
    }
}

void unpack_q5_0(const BlockQ5_0* b, int64_t nb, const UnpackedRow& o) {
    for (int64_t i = 0; i < nb; ++i) {
        unpack_q5_values(b[i], o.q + i * kQK, 16);
        o.scale[2 * i] = o.scale[2 * i + 1] = 1;
        o.d[i] = fp16_to_fp32(b[i].d);
    }
}

void unpack_q5_1(const BlockQ5_1* b, int64_t nb, const UnpackedRow& o) {
    for (int64_t i = 0; i < nb; ++i) {
        unpack_q5_values(b[i], o.q + i * kQK, 0);
        o.scale[2 * i] = o.scale[2 * i + 1] = 1;
        o.d[i] = fp16_to_fp32(b[i].d);
        o.dmin[i] = fp16_to_fp32(b[i].m);
    }
}

void unpack_q8_0(const BlockQ8_0* b, int64_t nb, const UnpackedRow& o) {
    for (int64_t i = 0; i < nb; ++i) {
        std::memcpy(o.q + i * kQK, b[i].qs, kQK);
        o.scale[2 * i] = o.scale[2 * i + 1] = 1;
        o.d[i] = fp16_to_fp32(b[i].d);
    }
}

// Q2_K and Q3_K: each half (128 values) packs 2-bit quants of four 32-value runs into 32 bytes,
// run r at bit shift 2r; each 32-value run is two groups of 16 with their own scales.
void unpack_q2_k(const BlockQ2_K* b, int64_t nb, const UnpackedRow& o) {
    for (int64_t i = 0; i < nb; ++i) {
        for (int g = 0; g < 16; ++g) {
            o.scale[16 * i + g] = static_cast<int16_t>(b[i].scales[g] & 0xF);
            o.min[16 * i + g] = static_cast<int16_t>(b[i].scales[g] >> 4);
        }
        int8_t* q = o.q + i * kQKK;
        for (int half = 0; half < 2; ++half)
            for (int run = 0; run < 4; ++run)
                for (int l = 0; l < 32; ++l)
                    q[128 * half + 32 * run + l] =
                        static_cast<int8_t>((b[i].qs[half * 32 + l] >> (2 * run)) & 3);
        o.d[i] = fp16_to_fp32(b[i].d);
        o.dmin[i] = fp16_to_fp32(b[i].dmin);
    }
}

void unpack_q3_k(const BlockQ3_K* b, int64_t nb, const UnpackedRow& o) {
    for (int64_t i = 0; i < nb; ++i) {
        for (int g = 0; g < 16; ++g)
            o.scale[16 * i + g] = static_cast<int16_t>(q3k_scale(g, b[i].scales));
        int8_t* q = o.q + i * kQKK;
        for (int half = 0; half < 2; ++half)
            for (int run = 0; run < 4; ++run) {
                // The high bit of value e is bit e/32 of hmask[e%32]; when it is clear the
                // value is 4 lower.
                const int bit = 4 * half + run;
                for (int l = 0; l < 32; ++l) {
                    const int low = (b[i].qs[half * 32 + l] >> (2 * run)) & 3;
                    const int high = (b[i].hmask[l] >> bit) & 1;
                    q[128 * half + 32 * run + l] = static_cast<int8_t>(low - 4 + 4 * high);
                }
            }
        o.d[i] = fp16_to_fp32(b[i].d);
    }
}

// Q4_K / Q5_K: 64-value chunks; the low nibbles of 32 bytes are the first 32 values, the high
// nibbles the next 32. Q5_K's fifth bits: chunk c uses bits 2c and 2c+1 of qh[l].
template <typename Block>
void k4_scales(const Block& b, int64_t i, const UnpackedRow& o) {
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, mn;
        k4_scale_min(j, b.scales, sc, mn);
        o.scale[16 * i + 2 * j] = o.scale[16 * i + 2 * j + 1] = sc;
        o.min[16 * i + 2 * j] = o.min[16 * i + 2 * j + 1] = mn;
    }
    o.d[i] = fp16_to_fp32(b.d);
    o.dmin[i] = fp16_to_fp32(b.dmin);
}

void unpack_q4_k(const BlockQ4_K* b, int64_t nb, const UnpackedRow& o) {
    for (int64_t i = 0; i < nb; ++i) {
        k4_scales(b[i], i, o);
        int8_t* q = o.q + i * kQKK;
        for (int c = 0; c < 4; ++c) {
            const uint8_t* qs = b[i].qs + 32 * c;
            for (int l = 0; l < 32; ++l) {
                q[64 * c + l] = static_cast<int8_t>(qs[l] & 0xF);
                q[64 * c + 32 + l] = static_cast<int8_t>(qs[l] >> 4);
            }
        }
    }
}

void unpack_q5_k(const BlockQ5_K* b, int64_t nb, const UnpackedRow& o) {
    for (int64_t i = 0; i < nb; ++i) {
        k4_scales(b[i], i, o);
        int8_t* q = o.q + i * kQKK;
        for (int c = 0; c < 4; ++c) {
            const uint8_t* qs = b[i].qs + 32 * c;
            for (int l = 0; l < 32; ++l) {
                const int h0 = ((b[i].qh[l] >> (2 * c)) & 1) << 4;
                const int h1 = ((b[i].qh[l] >> (2 * c + 1)) & 1) << 4;
                q[64 * c + l] = static_cast<int8_t>((qs[l] & 0xF) | h0);
                q[64 * c + 32 + l] = static_cast<int8_t>((qs[l] >> 4) | h1);
            }
        }
    }
}

// Q6_K: each 128-value half uses 64 bytes of ql and 32 of qh; value l + 32r (r = 0..3) takes
// its low nibble from ql[l + 32(r%2)] (low nibble for r<2, high for r>=2) and its top two bits
// from qh[l] at shift 2r.
void unpack_q6_k(const BlockQ6_K* b, int64_t nb, const UnpackedRow& o) {
    for (int64_t i = 0; i < nb; ++i) {
        for (int g = 0; g < 16; ++g) o.scale[16 * i + g] = b[i].scales[g];
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = b[i].ql + 64 * half;
            const uint8_t* qh = b[i].qh + 32 * half;
            int8_t* out = o.q + i * kQKK + 128 * half;
            for (int l = 0; l < 32; ++l) {
                out[l] = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                out[l + 32] =
                    static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                out[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                out[l + 96] =
                    static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        o.d[i] = fp16_to_fp32(b[i].d);
    }
}

void unpack_q8_k(const BlockQ8_K* b, int64_t nb, const UnpackedRow& o) {
    for (int64_t i = 0; i < nb; ++i) {
        std::memcpy(o.q + i * kQKK, b[i].qs, kQKK);
        for (int g = 0; g < 16; ++g) o.scale[16 * i + g] = 1;
        o.d[i] = b[i].d;
    }
}

// ------------------------------------------------------------------------------------------
// Quantizers.

// Weighted least-squares fit of x ≈ scale * l + offset with integer l in [0, nmax] and
// offset <= 0 (the K formats store -offset as an unsigned "min"). Tries a range of grid
// spacings around (max - min) / nmax and keeps the one with the smallest weighted error.
// Returns the scale; `min_out` receives -offset and `levels` the integers.
float fit_scale_min(const float* x, const float* w, int n, int nmax, uint8_t* levels,
                    float& min_out) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
    lo = std::min(lo, 0.0f);
    if (hi <= lo) {
        std::fill(levels, levels + n, uint8_t{0});
        min_out = -lo;
        return 0.0f;
    }
    float best_err = INFINITY, best_scale = (hi - lo) / nmax, best_off = lo;
    uint8_t trial[32];
    for (int step = -10; step <= 10; ++step) {
        const float iscale = (nmax + 0.1f * step) / (hi - lo);
        double sw = 0, sl = 0, sl2 = 0, sx = 0, slx = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(round_even(iscale * (x[i] - lo)), 0, nmax);
            trial[i] = static_cast<uint8_t>(l);
            sw += w[i], sl += w[i] * l, sl2 += w[i] * l * l, sx += w[i] * x[i];
            slx += w[i] * l * x[i];
        }
        const double det = sw * sl2 - sl * sl;
        if (det <= 0) continue;
        double scale = (sw * slx - sx * sl) / det;
        double off = (sl2 * sx - sl * slx) / det;
        if (off > 0) off = 0, scale = sl2 > 0 ? slx / sl2 : 0;
        double err = 0;
        for (int i = 0; i < n; ++i) {
            const double diff = scale * trial[i] + off - x[i];
            err += w[i] * diff * diff;
        }
        if (err < best_err) {
            best_err = static_cast<float>(err);
            best_scale = static_cast<float>(scale);
            best_off = static_cast<float>(off);
            std::copy(trial, trial + n, levels);
        }
    }
    if (!(best_err < INFINITY)) {  // every trial degenerate: plain min/max grid
        for (int i = 0; i < n; ++i)
            levels[i] =
                static_cast<uint8_t>(std::clamp(round_even((x[i] - lo) / best_scale), 0, nmax));
    }
    min_out = -best_off;
    return best_scale;
}

// Symmetric fit x ≈ scale * l with integer l in [-nmax, nmax - 1]; the value of largest
// magnitude maps to -nmax (so the asymmetric range is used fully), then the scale is refined
// by least squares weighted by x², trying spacings around that start.
float fit_scale_symmetric(const float* x, int n, int nmax) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; ++i) {
        if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), max = x[i];
    }
    if (amax < 1e-30f) return 0.0f;
    float best_scale = -max / nmax;
    double best_score = -1;
    for (int step = -9; step <= 9; ++step) {
        const float iscale = -(nmax + 0.1f * step) / max;
        double slx = 0, sl2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(round_even(iscale * x[i]), -nmax, nmax - 1);
            const double w = double(x[i]) * x[i];
            slx += w * x[i] * l, sl2 += w * l * l;
        }
        // Minimising the error over the scale leaves error = const - slx²/sl2.
        if (sl2 > 0 && slx * slx / sl2 > best_score) {
            best_score = slx * slx / sl2;
            best_scale = static_cast<float>(slx / sl2);
        }
    }
    return best_scale;
}

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        float amax = 0, max = 0;
        for (int j = 0; j < kQK; ++j)
            if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
        // The extreme value maps to -8, the one level without a positive twin.
        const float d = max / -8.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < kQK / 2; ++j) {
            const int a = std::clamp(round_up(x[j] * id, 8.5f), 0, 15);
            const int b = std::clamp(round_up(x[j + 16] * id, 8.5f), 0, 15);
            y[i].qs[j] = static_cast<uint8_t>(a | (b << 4));
        }
    }
}

template <typename Block, int Bits>
void quantize_min_max(const float* x, Block* y, int64_t nb) {
    constexpr int nmax = (1 << Bits) - 1;
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        float lo = x[0], hi = x[0];
        for (int j = 1; j < kQK; ++j) lo = std::min(lo, x[j]), hi = std::max(hi, x[j]);
        const float d = (hi - lo) / nmax;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(lo);
        uint32_t qh = 0;
        for (int j = 0; j < kQK / 2; ++j) {
            const int a = std::clamp(round_up((x[j] - lo) * id, 0.5f), 0, nmax);
            const int b = std::clamp(round_up((x[j + 16] - lo) * id, 0.5f), 0, nmax);
            y[i].qs[j] = static_cast<uint8_t>((a & 0xF) | ((b & 0xF) << 4));
            qh |= uint32_t((a >> 4) & 1) << j;
            qh |= uint32_t((b >> 4) & 1) << (j + 16);
        }
        if constexpr (Bits == 5) std::memcpy(y[i].qh, &qh, 4);
    }
}

void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        float amax = 0, max = 0;
        for (int j = 0; j < kQK; ++j)
            if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
        const float d = max / -16.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < kQK / 2; ++j) {
            const int a = std::clamp(round_up(x[j] * id, 16.5f), 0, 31);
            const int b = std::clamp(round_up(x[j + 16] * id, 16.5f), 0, 31);
            y[i].qs[j] = static_cast<uint8_t>((a & 0xF) | ((b & 0xF) << 4));
            qh |= uint32_t(a >> 4) << j;
            qh |= uint32_t(b >> 4) << (j + 16);
        }
        std::memcpy(y[i].qh, &qh, 4);
    }
}

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        float amax = 0;
        for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < kQK; ++j)
            y[i].qs[j] =
                static_cast<int8_t>(std::clamp(static_cast<int>(std::round(x[j] * id)), -127, 127));
    }
}

void quantize_q8_k(const float* x, BlockQ8_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQKK) {
        float amax = 0, max = 0;
        for (int j = 0; j < kQKK; ++j)
            if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
        if (amax == 0) {
            std::memset(&y[i], 0, sizeof(BlockQ8_K));
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < kQKK; ++j)
            y[i].qs[j] = static_cast<int8_t>(std::min(127, round_even(iscale * x[j])));
        for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += y[i].qs[16 * g + j];
            y[i].bsums[g] = static_cast<int16_t>(sum);
        }
        y[i].d = 1.0f / iscale;
    }
}

// Packs 256 2-bit values the Q2_K / Q3_K way (see unpack_q2_k).
void pack_2bit(const uint8_t* levels, uint8_t* qs) {
    for (int half = 0; half < 2; ++half)
        for (int l = 0; l < 32; ++l) {
            const uint8_t* v = levels + 128 * half + l;
            qs[32 * half + l] =
                static_cast<uint8_t>(v[0] | (v[32] << 2) | (v[64] << 4) | (v[96] << 6));
        }
}

void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQKK) {
        uint8_t levels[kQKK];
        float scales[16], mins[16], w[16];
        float max_scale = 0, max_min = 0;
        for (int g = 0; g < 16; ++g) {
            for (int l = 0; l < 16; ++l) w[l] = std::fabs(x[16 * g + l]);
            scales[g] = fit_scale_min(x + 16 * g, w, 16, 3, levels + 16 * g, mins[g]);
            max_scale = std::max(max_scale, scales[g]);
            max_min = std::max(max_min, mins[g]);
        }
        y[i].d = fp32_to_fp16(max_scale / 15.0f);
        y[i].dmin = fp32_to_fp16(max_min / 15.0f);
        const float d = fp16_to_fp32(y[i].d), dmin = fp16_to_fp32(y[i].dmin);
        for (int g = 0; g < 16; ++g) {
            const int ls = d > 0 ? std::clamp(round_even(scales[g] / d), 0, 15) : 0;
            const int lm = dmin > 0 ? std::clamp(round_even(mins[g] / dmin), 0, 15) : 0;
            y[i].scales[g] = static_cast<uint8_t>(ls | (lm << 4));
            const float s = d * ls, m = dmin * lm;
            for (int l = 0; l < 16; ++l) {
                levels[16 * g + l] = s > 0 ? static_cast<uint8_t>(std::clamp(
                                                 round_even((x[16 * g + l] + m) / s), 0, 3))
                                           : 0;
            }
        }
        pack_2bit(levels, y[i].qs);
    }
}

void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQKK) {
        float scales[16];
        float max_scale = 0, amax = 0;
        for (int g = 0; g < 16; ++g) {
            scales[g] = fit_scale_symmetric(x + 16 * g, 16, 4);
            if (std::fabs(scales[g]) > amax) amax = std::fabs(scales[g]), max_scale = scales[g];
        }
        std::memset(y[i].scales, 0, 12);
        float d = 0;
        if (max_scale != 0) {
            const float iscale = -32.0f / max_scale;
            for (int g = 0; g < 16; ++g) {
                const int l = std::clamp(round_even(iscale * scales[g]), -32, 31) + 32;
                if (g < 8)
                    y[i].scales[g] = static_cast<uint8_t>(l & 0xF);
                else
                    y[i].scales[g - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
                y[i].scales[8 + g % 4] |= static_cast<uint8_t>((l >> 4) << (2 * (g / 4)));
            }
            d = 1.0f / iscale;
        }
        y[i].d = fp32_to_fp16(d);
        d = fp16_to_fp32(y[i].d);
        uint8_t levels[kQKK];
        for (int g = 0; g < 16; ++g) {
            const float s = d * static_cast<float>(q3k_scale(g, y[i].scales));
            for (int l = 0; l < 16; ++l) {
                const int q = s != 0 ? std::clamp(round_even(x[16 * g + l] / s), -4, 3) : 0;
                levels[16 * g + l] = static_cast<uint8_t>(q + 4);
            }
        }
        std::memset(y[i].hmask, 0, sizeof y[i].hmask);
        for (int e = 0; e < kQKK; ++e) {
            if (levels[e] > 3) {
                y[i].hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
                levels[e] -= 4;
            }
        }
        pack_2bit(levels, y[i].qs);
    }
}

// Q4_K and Q5_K share everything but the number of bits per value.
template <typename Block, int Bits>
void quantize_k_min(const float* x, Block* y, int64_t nb) {
    constexpr int nmax = (1 << Bits) - 1;
    for (int64_t i = 0; i < nb; ++i, x += kQKK) {
        uint8_t levels[kQKK];
        float scales[8], mins[8], w[32];
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; ++j) {
            const float* xs = x + 32 * j;
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
            const float av = std::sqrt(sum_x2 / 32);
            // Weigh large values more: their errors matter more for the dot products.
            for (int l = 0; l < 32; ++l) w[l] = av + std::fabs(xs[l]);
            scales[j] = fit_scale_min(xs, w, 32, nmax, levels + 32 * j, mins[j]);
            max_scale = std::max(max_scale, scales[j]);
            max_min = std::max(max_min, mins[j]);
        }
        y[i].d = fp32_to_fp16(max_scale / 63.0f);
        y[i].dmin = fp32_to_fp16(max_min / 63.0f);
        const float d = fp16_to_fp32(y[i].d), dmin = fp16_to_fp32(y[i].dmin);
        std::memset(y[i].scales, 0, 12);
        for (int j = 0; j < 8; ++j) {
            const int ls = d > 0 ? std::clamp(round_even(scales[j] / d), 0, 63) : 0;
            const int lm = dmin > 0 ? std::clamp(round_even(mins[j] / dmin), 0, 63) : 0;
            k4_pack_scale_min(j, static_cast<uint8_t>(ls), static_cast<uint8_t>(lm), y[i].scales);
        }
        for (int j = 0; j < 8; ++j) {
            uint8_t ls, lm;
            k4_scale_min(j, y[i].scales, ls, lm);
            const float s = d * ls, m = dmin * lm;
            for (int l = 0; l < 32; ++l) {
                const int q = s > 0 ? std::clamp(round_even((x[32 * j + l] + m) / s), 0, nmax) : 0;
                levels[32 * j + l] = static_cast<uint8_t>(q);
            }
        }
        if constexpr (Bits == 5) std::memset(y[i].qh, 0, sizeof y[i].qh);
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                const int a = levels[64 * c + l], b = levels[64 * c + 32 + l];
                y[i].qs[32 * c + l] = static_cast<uint8_t>((a & 0xF) | ((b & 0xF) << 4));
                if constexpr (Bits == 5) {
                    y[i].qh[l] |=
                        static_cast<uint8_t>(((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1)));
                }
            }
        }
    }
}

void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQKK) {
        float scales[16];
        float max_scale = 0, amax = 0;
        for (int g = 0; g < 16; ++g) {
            scales[g] = fit_scale_symmetric(x + 16 * g, 16, 32);
            if (std::fabs(scales[g]) > amax) amax = std::fabs(scales[g]), max_scale = scales[g];
        }
        std::memset(&y[i], 0, sizeof(BlockQ6_K));
        if (amax < 1e-30f) continue;
        const float iscale = -128.0f / max_scale;
        y[i].d = fp32_to_fp16(1.0f / iscale);
        const float d = fp16_to_fp32(y[i].d);
        int8_t levels[kQKK];
        for (int g = 0; g < 16; ++g) {
            y[i].scales[g] =
                static_cast<int8_t>(std::clamp(round_even(iscale * scales[g]), -128, 127));
            const float s = d * y[i].scales[g];
            for (int l = 0; l < 16; ++l) {
                const int q = s != 0 ? std::clamp(round_even(x[16 * g + l] / s), -32, 31) : 0;
                levels[16 * g + l] = static_cast<int8_t>(q + 32);
            }
        }
        for (int half = 0; half < 2; ++half) {
            uint8_t* ql = y[i].ql + 64 * half;
            uint8_t* qh = y[i].qh + 32 * half;
            const int8_t* v = levels + 128 * half;
            for (int l = 0; l < 32; ++l) {
                ql[l] = static_cast<uint8_t>((v[l] & 0xF) | ((v[l + 64] & 0xF) << 4));
                ql[l + 32] = static_cast<uint8_t>((v[l + 32] & 0xF) | ((v[l + 96] & 0xF) << 4));
                qh[l] = static_cast<uint8_t>((v[l] >> 4) | ((v[l + 32] >> 4) << 2) |
                                             ((v[l + 64] >> 4) << 4) | ((v[l + 96] >> 4) << 6));
            }
        }
    }
}

int64_t whole_blocks(GgmlType type, int64_t n) {
    // Called per row in the hot path: the common block sizes without a table search.
    int64_t block = 0;
    switch (type) {
        case GgmlType::Q4_0:
        case GgmlType::Q4_1:
        case GgmlType::Q5_0:
        case GgmlType::Q5_1:
        case GgmlType::Q8_0:
            block = kQK;
            break;
        case GgmlType::Q2_K:
        case GgmlType::Q3_K:
        case GgmlType::Q4_K:
        case GgmlType::Q5_K:
        case GgmlType::Q6_K:
        case GgmlType::Q8_K:
            block = kQKK;
            break;
        default:
            block = traits(type).block_size;
            break;
    }
    if (n < 0 || n % block != 0)
        fail("a row of ", n, " values is not a whole number of ", traits(type).name, " blocks of ",
             block);
    return n / block;
}

}  // namespace

// ------------------------------------------------------------------------------------------

float fp16_to_fp32(uint16_t h) {
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        const float v = std::ldexp(static_cast<float>(mant), -24);
        return sign ? -v : v;
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
#endif
}

uint16_t fp32_to_fp16(float f) {
#if defined(__F16C__)
    return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
#else
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax >= 0x7F800000u) return sign | 0x7C00 | (ax > 0x7F800000u ? 0x200 : 0);
    if (ax >= 0x477FF000u) return sign | 0x7C00;  // rounds to infinity
    if (ax < 0x38800000u) {                       // below the smallest normal half
        return sign | static_cast<uint16_t>(std::nearbyint(std::fabs(f) * 16777216.0f));
    }
    ax += 0xFFF + ((ax >> 13) & 1);  // round to nearest even
    return sign | static_cast<uint16_t>((ax - 0x38000000u) >> 13);
#endif
}

float bf16_to_fp32(uint16_t h) {
    const uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t fp32_to_bf16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 64);  // quiet NaN
    return static_cast<uint16_t>((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
}

bool is_integer_block_type(GgmlType type) {
    switch (type) {
        case GgmlType::Q4_0:
        case GgmlType::Q4_1:
        case GgmlType::Q5_0:
        case GgmlType::Q5_1:
        case GgmlType::Q8_0:
        case GgmlType::Q2_K:
        case GgmlType::Q3_K:
        case GgmlType::Q4_K:
        case GgmlType::Q5_K:
        case GgmlType::Q6_K:
        case GgmlType::Q8_K:
            return true;
        default:
            return false;
    }
}

bool can_dequantize(GgmlType type) {
    return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16 ||
           is_integer_block_type(type);
}

bool can_quantize(GgmlType type) {
    return can_dequantize(type);
}

int64_t unpack_block_size(GgmlType type) {
    switch (type) {
        case GgmlType::Q2_K:
        case GgmlType::Q3_K:
        case GgmlType::Q4_K:
        case GgmlType::Q5_K:
        case GgmlType::Q6_K:
        case GgmlType::Q8_K:
            return kQKK;
        default:
            return kQK;
    }
}

UnpackKind unpack_kind(GgmlType type) {
    switch (type) {
        case GgmlType::Q2_K:
        case GgmlType::Q4_K:
        case GgmlType::Q5_K:
            return UnpackKind::scaled_min;
        case GgmlType::Q4_1:
        case GgmlType::Q5_1:
            return UnpackKind::block_offset;
        default:
            return UnpackKind::symmetric;
    }
}

void unpack_row_int8(GgmlType type, const void* src, int64_t n, const UnpackedRow& o) {
    const int64_t nb = whole_blocks(type, n);
    switch (type) {
        case GgmlType::Q4_0:
            return unpack_q4_0(static_cast<const BlockQ4_0*>(src), nb, o);
        case GgmlType::Q4_1:
            return unpack_q4_1(static_cast<const BlockQ4_1*>(src), nb, o);
        case GgmlType::Q5_0:
            return unpack_q5_0(static_cast<const BlockQ5_0*>(src), nb, o);
        case GgmlType::Q5_1:
            return unpack_q5_1(static_cast<const BlockQ5_1*>(src), nb, o);
        case GgmlType::Q8_0:
            return unpack_q8_0(static_cast<const BlockQ8_0*>(src), nb, o);
        case GgmlType::Q2_K:
            return unpack_q2_k(static_cast<const BlockQ2_K*>(src), nb, o);
        case GgmlType::Q3_K:
            return unpack_q3_k(static_cast<const BlockQ3_K*>(src), nb, o);
        case GgmlType::Q4_K:
            return unpack_q4_k(static_cast<const BlockQ4_K*>(src), nb, o);
        case GgmlType::Q5_K:
            return unpack_q5_k(static_cast<const BlockQ5_K*>(src), nb, o);
        case GgmlType::Q6_K:
            return unpack_q6_k(static_cast<const BlockQ6_K*>(src), nb, o);
        case GgmlType::Q8_K:
            return unpack_q8_k(static_cast<const BlockQ8_K*>(src), nb, o);
        default:
            fail("type ", traits(type).name, " has no integer unpacking");
    }
}

void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
    switch (type) {
        case GgmlType::F32:
            std::memcpy(dst, src, static_cast<size_t>(n) * 4);
            return;
        case GgmlType::F16: {
            const auto* h = static_cast<const uint16_t*>(src);
            int64_t i = 0;
#if defined(__F16C__)
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(
                    dst + i,
                    _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
#endif
            for (; i < n; ++i) dst[i] = fp16_to_fp32(h[i]);
            return;
        }
        case GgmlType::BF16: {
            const auto* h = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
            return;
        }
        default:
            break;
    }
    if (!is_integer_block_type(type)) fail("cannot dequantize type ", traits(type).name);
    whole_blocks(type, n);
    // Expand a block-aligned chunk at a time so the scratch stays on the stack. The float
    // arithmetic is ggml's: (d·scale)·q − dmin·min, d·q + m.
    constexpr int64_t kChunk = 1024;
    int8_t q[kChunk];
    int16_t scale[kChunk / kUnpackGroup], min[kChunk / kUnpackGroup];
    float d[kChunk / kQK], dmin[kChunk / kQK];
    const UnpackedRow row{q, scale, min, d, dmin};
    const GgmlTypeTraits t = traits(type);
    const int64_t block = unpack_block_size(type);
    const UnpackKind kind = unpack_kind(type);
    const auto* bytes = static_cast<const uint8_t*>(src);
    for (int64_t done = 0; done < n; done += kChunk) {
        const int64_t count = std::min(kChunk, n - done);
        unpack_row_int8(type, bytes + done / t.block_size * t.block_bytes, count, row);
        for (int64_t i = 0; i < count; ++i) {
            const int64_t g = i / kUnpackGroup, b = i / block;
            const float v = static_cast<float>(q[i]);
            float y;
            switch (kind) {
                case UnpackKind::symmetric:
                    y = (d[b] * static_cast<float>(scale[g])) * v;
                    break;
                case UnpackKind::scaled_min:
                    y = (d[b] * static_cast<float>(scale[g])) * v -
                        dmin[b] * static_cast<float>(min[g]);
                    break;
                default:
                    y = v * d[b] + dmin[b];
                    break;
            }
            dst[done + i] = y;
        }
    }
}

void quantize_row(GgmlType type, const float* src, void* dst, int64_t n) {
    const int64_t nb = whole_blocks(type, n);
    switch (type) {
        case GgmlType::F32:
            std::memcpy(dst, src, static_cast<size_t>(n) * 4);
            return;
        case GgmlType::F16: {
            auto* h = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_fp16(src[i]);
            return;
        }
        case GgmlType::BF16: {
            auto* h = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_bf16(src[i]);
            return;
        }
        case GgmlType::Q4_0:
            return quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), nb);
        case GgmlType::Q4_1:
            return quantize_min_max<BlockQ4_1, 4>(src, static_cast<BlockQ4_1*>(dst), nb);
        case GgmlType::Q5_0:
            return quantize_q5_0(src, static_cast<BlockQ5_0*>(dst), nb);
        case GgmlType::Q5_1:
            return quantize_min_max<BlockQ5_1, 5>(src, static_cast<BlockQ5_1*>(dst), nb);
        case GgmlType::Q8_0:
            return quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), nb);
        case GgmlType::Q2_K:
            return quantize_q2_k(src, static_cast<BlockQ2_K*>(dst), nb);
        case GgmlType::Q3_K:
            return quantize_q3_k(src, static_cast<BlockQ3_K*>(dst), nb);
        case GgmlType::Q4_K:
            return quantize_k_min<BlockQ4_K, 4>(src, static_cast<BlockQ4_K*>(dst), nb);
        case GgmlType::Q5_K:
            return quantize_k_min<BlockQ5_K, 5>(src, static_cast<BlockQ5_K*>(dst), nb);
        case GgmlType::Q6_K:
            return quantize_q6_k(src, static_cast<BlockQ6_K*>(dst), nb);
        case GgmlType::Q8_K:
            return quantize_q8_k(src, static_cast<BlockQ8_K*>(dst), nb);
        default:
            fail("cannot quantize to type ", traits(type).name);
    }
}

std::vector<uint8_t> quantize(GgmlType type, std::span<const float> values, int64_t n_per_row) {
    if (n_per_row <= 0 || values.size() % static_cast<size_t>(n_per_row) != 0)
        fail("cannot quantize ", values.size(), " values in rows of ", n_per_row);
    const auto row_bytes = ggml_row_bytes(type, static_cast<uint64_t>(n_per_row));
    if (!row_bytes)
        fail("rows of ", n_per_row, " values are not whole ", traits(type).name, " blocks");
    const size_t n_rows = values.size() / static_cast<size_t>(n_per_row);
    std::vector<uint8_t> out(n_rows * *row_bytes);
    for (size_t r = 0; r < n_rows; ++r)
        quantize_row(type, values.data() + r * n_per_row, out.data() + r * *row_bytes, n_per_row);
    return out;
}

std::vector<float> dequantize(GgmlType type, std::span<const uint8_t> bytes, int64_t n_values) {
    const auto need = ggml_row_bytes(type, static_cast<uint64_t>(n_values));
    if (!need || *need > bytes.size())
        fail("cannot dequantize ", n_values, " ", traits(type).name, " values from ", bytes.size(),
             " bytes");
    std::vector<float> out(static_cast<size_t>(n_values));
    dequantize_row(type, bytes.data(), out.data(), n_values);
    return out;
}

}  // namespace ponder
