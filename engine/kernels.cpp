#include "engine/kernels.h"

// GCC 12 reports false (maybe-)uninitialized warnings inside its own AVX-512 intrinsic headers
// (GCC bug 105593, fixed in 13); they are not about this code.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "engine/error.h"
#include "engine/gemm.h"
#include "engine/quants.h"
#include "engine/thread_pool.h"

namespace ponder {

namespace {

constexpr int64_t kGroup = kUnpackGroup;  // values per scale in the integer dot products

// How activations are prepared for a weight type (ggml's "vec_dot_type").
enum class ActivationFormat { f32, f16, bf16, q8_blocks32, q8_blocks256 };

ActivationFormat activation_format(GgmlType type) {
    switch (type) {
        case GgmlType::F32:
            return ActivationFormat::f32;
        case GgmlType::F16:
            return ActivationFormat::f16;
        case GgmlType::BF16:
            return ActivationFormat::bf16;
        case GgmlType::Q4_0:
        case GgmlType::Q4_1:
        case GgmlType::Q5_0:
        case GgmlType::Q5_1:
        case GgmlType::Q8_0:
            return ActivationFormat::q8_blocks32;
        default:
            return ActivationFormat::q8_blocks256;
    }
}

// Activations quantized to int8 with one scale per block of 32 (like Q8_0 / Q8_1) or 256 (like
// Q8_K) values, as ggml quantizes them for the weight type. `bsum` holds the sum of each group
// of 16 integers (for weights with mins), `offset_sum` d · (sum of a 32-block) rounded to F16
// (Q8_1's s, for Q4_1 / Q5_1).
struct QuantizedRows {
    std::vector<int8_t> q;
    std::vector<float> d;
    std::vector<int16_t> bsum;  // |sum| <= 16 · 127 fits
    std::vector<float> offset_sum;
};

void quantize_activation_row(const float* x, int64_t n, ActivationFormat fmt, int8_t* q,
                             float* d_out, int16_t* bsum, float* offset_sum) {
    const int64_t block = fmt == ActivationFormat::q8_blocks32 ? 32 : 256;
    for (int64_t b0 = 0, b = 0; b0 < n; b0 += block, ++b) {
        float amax = 0, max = 0;
        for (int64_t i = b0; i < b0 + block; ++i)
            if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), max = x[i];
        float d, id;
        if (fmt == ActivationFormat::q8_blocks32) {
            // Q8_0 / Q8_1: d = amax / 127, stored as F16.
            d = round_to_fp16(amax / 127.0f);
            id = amax != 0 ? 127.0f / amax : 0.0f;
        } else {
            // Q8_K: the value of largest magnitude maps to -127, d kept in F32.
            id = amax != 0 ? -127.0f / max : 0.0f;
            d = amax != 0 ? 1.0f / id : 0.0f;
        }
        int32_t total = 0;
        for (int64_t g = b0 / kGroup; g < (b0 + block) / kGroup; ++g) {
            int32_t sum = 0;
            for (int64_t i = g * kGroup; i < (g + 1) * kGroup; ++i) {
                const int v = static_cast<int>(std::nearbyint(x[i] * id));
                q[i] = static_cast<int8_t>(std::clamp(v, -127, 127));
                sum += q[i];
            }
            bsum[g] = static_cast<int16_t>(sum);
            total += sum;
        }
        d_out[b] = d;
        offset_sum[b] = round_to_fp16(d * static_cast<float>(total));
    }
}

// One weight row, unpacked, against one activation row: integer sums per block (groups of 16
// scaled by their integer scales), then one float scale per block — ggml's x86 summation order:
// 8 lanes of 4 products each, block results accumulated per lane, lanes added pairwise.
struct DotArgs {
    const int8_t* wq;
    const int16_t* wscale;
    const int16_t* wmin;
    const float* wd;
    const float* wdmin;
    const int8_t* aq;
    const float* ad;
    const int16_t* abs;
    const float* aoff;
    int64_t n_blocks;
    int64_t groups_per_block;
    UnpackKind kind;
    bool block_min_sum;  // sum the min terms per block into one scalar (ggml's Q5_K kernel)
};

float dot_int8(const DotArgs& x) {
    const int64_t gpb = x.groups_per_block;
    [[maybe_unused]] const bool unit_scales = gpb == 2;  // legacy formats: no group scales
    float summs = 0;
    float acc_m[4] = {};
#if defined(__AVX2__) && defined(__FMA__)
    __m256 acc = _mm256_setzero_ps();
    __m128 vacc_m = _mm_setzero_ps();
#else
    float acc[8] = {};
#endif
    for (int64_t b = 0; b < x.n_blocks; ++b) {
        const int64_t g0 = b * gpb;
#if defined(__AVX2__) && defined(__FMA__)
        __m256i isum = _mm256_setzero_si256();
        int64_t g = g0;
#if defined(__AVX512BW__)
        // K formats: four groups (64 values) per step. Lanes l and l + 8 hold the same ggml
        // lane of two 32-value chunks; integer sums, so folding them at the end is exact.
        if (!unit_scales) {
            const __m512i idx = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1,
                                                 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
            __m512i wide = _mm512_setzero_si512();
            for (; g + 4 <= g0 + gpb; g += 4) {
                const __m512i w = _mm512_loadu_si512(x.wq + g * kGroup);
                const __m512i a = _mm512_loadu_si512(x.aq + g * kGroup);
                const __m512i ua = _mm512_abs_epi8(a);
                const __m512i sw =
                    _mm512_mask_sub_epi8(w, _mm512_movepi8_mask(a), _mm512_setzero_si512(), w);
                const __m512i pairs = _mm512_maddubs_epi16(ua, sw);
                int64_t four;
                std::memcpy(&four, x.wscale + g, sizeof four);
                const __m512i sc =
                    _mm512_permutexvar_epi16(idx, _mm512_castsi128_si512(_mm_cvtsi64_si128(four)));
                wide = _mm512_add_epi32(wide, _mm512_madd_epi16(pairs, sc));
            }
            isum =
                _mm256_add_epi32(_mm512_castsi512_si256(wide), _mm512_extracti64x4_epi64(wide, 1));
        }
#endif
        for (; g < g0 + gpb; g += 2) {
            const __m256i w =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.wq + g * kGroup));
            const __m256i a =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.aq + g * kGroup));
            // |a| (unsigned) times w with a's sign: the unsigned × signed byte product.
            const __m256i ua = _mm256_sign_epi8(a, a);
            const __m256i sw = _mm256_sign_epi8(w, a);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
            __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ua, sw);
#else
            __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(ua, sw), _mm256_set1_epi16(1));
#endif
            if (!unit_scales) {
                const __m256i sc =
                    _mm256_set_m128i(_mm_set1_epi32(x.wscale[g + 1]), _mm_set1_epi32(x.wscale[g]));
                sums = _mm256_mullo_epi32(sums, sc);
            }
            isum = _mm256_add_epi32(isum, sums);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(x.wd[b] * x.ad[b]), _mm256_cvtepi32_ps(isum), acc);
#else
        int32_t isum[8] = {};
        for (int64_t g = g0; g < g0 + gpb; g += 2) {
            for (int l = 0; l < 8; ++l) {
                const int64_t base = g * kGroup + 4 * l;
                int32_t p = 0;
                for (int i = 0; i < 4; ++i) p += x.wq[base + i] * x.aq[base + i];
                isum[l] += p * x.wscale[g + l / 4];
            }
        }
        const float dd = x.wd[b] * x.ad[b];
        for (int l = 0; l < 8; ++l) acc[l] = std::fma(dd, static_cast<float>(isum[l]), acc[l]);
#endif
        if (x.kind == UnpackKind::scaled_min && x.block_min_sum) {
            int32_t m = 0;
            for (int64_t g = g0; g < g0 + gpb; ++g) m += x.wmin[g] * x.abs[g];
            summs = std::fma(-(x.ad[b] * x.wdmin[b]), static_cast<float>(m), summs);
        } else if (x.kind == UnpackKind::scaled_min) {
            // Σ min·bsum in four lanes (pairs of 32-value sub-blocks), scaled by -dmin.
            const float dmin = -(x.ad[b] * x.wdmin[b]);
#if defined(__AVX2__) && defined(__FMA__)
            const __m256i mins = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.wmin + g0));
            const __m256i sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.abs + g0));
            const __m256i pairs = _mm256_madd_epi16(mins, sums);
            const __m128i lanes =
                _mm_hadd_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
            vacc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(lanes), vacc_m);
#else
            for (int l = 0; l < 4; ++l) {
                int32_t m = 0;
                for (int64_t g = g0 + 4 * l; g < g0 + 4 * (l + 1); ++g) m += x.wmin[g] * x.abs[g];
                acc_m[l] = std::fma(dmin, static_cast<float>(m), acc_m[l]);
            }
#endif
        } else if (x.kind == UnpackKind::block_offset) {
            summs += x.wdmin[b] * x.aoff[b];
        }
    }
#if defined(__AVX2__) && defined(__FMA__)
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(acc, 1), _mm256_castps256_ps128(acc));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    float total = _mm_cvtss_f32(r);
    _mm_storeu_ps(acc_m, vacc_m);
#else
    float total = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
#endif
    if (x.kind == UnpackKind::scaled_min && !x.block_min_sum)
        total += (acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]);
    return total + summs;
}

}  // namespace

// Per-thread scratch: unpacked weight rows, dequantized tiles.
struct ThreadScratch {
    std::vector<int8_t> q;
    std::vector<int16_t> scale, min;
    std::vector<float> d, dmin;
    std::vector<float> tile;
};

struct KernelScratch::Impl {
    QuantizedRows activations;
    std::vector<float> rounded;  // activations rounded to F16 / BF16
    std::vector<ThreadScratch> threads;

    ThreadScratch& thread(int i) { return threads[static_cast<size_t>(i)]; }
    void ensure_threads(int n) {
        if (threads.size() < static_cast<size_t>(n)) threads.resize(static_cast<size_t>(n));
    }
};

KernelScratch::KernelScratch() : impl_(std::make_unique<Impl>()) {}
KernelScratch::~KernelScratch() = default;
KernelScratch::KernelScratch(KernelScratch&&) noexcept = default;
KernelScratch& KernelScratch::operator=(KernelScratch&&) noexcept = default;

namespace {

template <typename T>
void grow(std::vector<T>& v, size_t n) {
    if (v.size() < n) v.resize(n);
}

// Unpacked rows per tile. A small tile stays in L1 while the activation rows stream past it
// from L2; when the activations no longer fit in L2, a taller tile (in L2) lets each pass over
// them serve more weight rows.
int64_t int_tile_rows(int64_t n_x, int64_t K) {
    if (n_x * K <= (int64_t{1} << 20)) return 8;
    return std::clamp<int64_t>((int64_t{256} << 10) / std::max<int64_t>(K, 1), 8, 64);
}
// Rows per dequantized float tile for the GEMM path.
constexpr int64_t kFloatTileRows = 64;
// From this many activation rows on, float weights go through Eigen's GEMM. Fewer rows (decode
// of up to this many parallel sequences) use dot products, which compute every row exactly as
// a batch of one would: parallel sequences then match solo decoding bit for bit.
constexpr int64_t kGemmMinRows = 32;

void matmul_int(const WeightMatrix& w, const float* x, int64_t n_x, float* y, int64_t ldy,
                ThreadPool& pool, KernelScratch::Impl& s) {
    const int64_t K = w.cols, n_groups = K / kGroup;
    const int64_t block = unpack_block_size(w.type), n_blocks = K / block;
    const UnpackKind kind = unpack_kind(w.type);
    const ActivationFormat fmt = activation_format(w.type);
    QuantizedRows& act = s.activations;
    grow(act.q, static_cast<size_t>(n_x * K));
    grow(act.d, static_cast<size_t>(n_x * n_blocks));
    grow(act.bsum, static_cast<size_t>(n_x * n_groups));
    grow(act.offset_sum, static_cast<size_t>(n_x * n_blocks));
    pool.parallel_for(n_x, [&](int64_t b0, int64_t b1, int) {
        for (int64_t b = b0; b < b1; ++b)
            quantize_activation_row(x + b * K, K, fmt, act.q.data() + b * K,
                                    act.d.data() + b * n_blocks, act.bsum.data() + b * n_groups,
                                    act.offset_sum.data() + b * n_blocks);
    });
    s.ensure_threads(pool.size());
    const int64_t tile_rows = int_tile_rows(n_x, K);
    pool.parallel_for(
        (w.rows + tile_rows - 1) / tile_rows, [&](int64_t t0, int64_t t1, int thread) {
            ThreadScratch& ts = s.thread(thread);
            grow(ts.q, static_cast<size_t>(tile_rows * K));
            grow(ts.scale, static_cast<size_t>(tile_rows * n_groups));
            grow(ts.min, static_cast<size_t>(tile_rows * n_groups));
            grow(ts.d, static_cast<size_t>(tile_rows * n_blocks));
            grow(ts.dmin, static_cast<size_t>(tile_rows * n_blocks));
            for (int64_t t = t0; t < t1; ++t) {
                const int64_t r0 = t * tile_rows, r1 = std::min(w.rows, r0 + tile_rows);
                for (int64_t r = r0; r < r1; ++r) {
                    const int64_t i = r - r0;
                    unpack_row_int8(w.type, w.row(r), K,
                                    {ts.q.data() + i * K, ts.scale.data() + i * n_groups,
                                     ts.min.data() + i * n_groups, ts.d.data() + i * n_blocks,
                                     ts.dmin.data() + i * n_blocks});
                }
                for (int64_t b = 0; b < n_x; ++b) {
                    DotArgs args{nullptr,
                                 nullptr,
                                 nullptr,
                                 nullptr,
                                 nullptr,
                                 act.q.data() + b * K,
                                 act.d.data() + b * n_blocks,
                                 act.bsum.data() + b * n_groups,
                                 act.offset_sum.data() + b * n_blocks,
                                 n_blocks,
                                 block / kGroup,
                                 kind,
                                 w.type == GgmlType::Q5_K};
                    for (int64_t r = r0; r < r1; ++r) {
                        const int64_t i = r - r0;
                        args.wq = ts.q.data() + i * K;
                        args.wscale = ts.scale.data() + i * n_groups;
                        args.wmin = ts.min.data() + i * n_groups;
                        args.wd = ts.d.data() + i * n_blocks;
                        args.wdmin = ts.dmin.data() + i * n_blocks;
                        y[b * ldy + r] = dot_int8(args);
                    }
                }
            }
        });
}

void matmul_float(const WeightMatrix& w, const float* x, int64_t n_x, float* y, int64_t ldy,
                  ThreadPool& pool, KernelScratch::Impl& s) {
    const int64_t K = w.cols;
    // ggml converts activations to the weight's half type before the dot product.
    const float* xs = x;
    if (w.type == GgmlType::F16 || w.type == GgmlType::BF16) {
        grow(s.rounded, static_cast<size_t>(n_x * K));
        const bool bf16 = w.type == GgmlType::BF16;
        for (int64_t i = 0; i < n_x * K; ++i)
            s.rounded[static_cast<size_t>(i)] = bf16 ? round_to_bf16(x[i]) : round_to_fp16(x[i]);
        xs = s.rounded.data();
    }
    s.ensure_threads(pool.size());
    pool.parallel_for(
        (w.rows + kFloatTileRows - 1) / kFloatTileRows, [&](int64_t t0, int64_t t1, int thread) {
            ThreadScratch& ts = s.thread(thread);
            for (int64_t t = t0; t < t1; ++t) {
                const int64_t r0 = t * kFloatTileRows, r1 = std::min(w.rows, r0 + kFloatTileRows);
                const int64_t n_rows = r1 - r0;
                const float* tile;
                if (w.type == GgmlType::F32) {
                    tile = reinterpret_cast<const float*>(w.row(r0));
                } else {
                    grow(ts.tile, static_cast<size_t>(kFloatTileRows * K));
                    for (int64_t r = r0; r < r1; ++r)
                        dequantize_row(w.type, w.row(r), ts.tile.data() + (r - r0) * K, K);
                    tile = ts.tile.data();
                }
                if (n_x >= kGemmMinRows) {
                    gemm_xwt(xs, n_x, tile, n_rows, K, y + r0, ldy);
                } else {
                    for (int64_t b = 0; b < n_x; ++b)
                        for (int64_t r = 0; r < n_rows; ++r)
                            y[b * ldy + r0 + r] = dot_f32(tile + r * K, xs + b * K, K);
                }
            }
        });
}

}  // namespace

bool matmul_supports(GgmlType type) {
    return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16 ||
           (is_integer_block_type(type) && type != GgmlType::Q8_K);
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_x, float* y, int64_t ldy,
            ThreadPool& pool, KernelScratch& scratch) {
    if (n_x <= 0) return;
    if (!matmul_supports(w.type))
        fail("tensor ", w.name, " has type ", traits(w.type).name,
             ", which ponder cannot compute with");
    if (is_integer_block_type(w.type)) {
        matmul_int(w, x, n_x, y, ldy, pool, scratch.impl());
    } else {
        matmul_float(w, x, n_x, y, ldy, pool, scratch.impl());
    }
}

void weight_row(const WeightMatrix& w, int64_t r, float* out) {
    dequantize_row(w.type, w.row(r), out, w.cols);
}

float dot_f32(const float* a, const float* b, int64_t n) {
    // Several independent accumulators: vectorisable without -ffast-math.
    float acc[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; ++l) acc[l] += a[i + l] * b[i + l];
    float tail = 0;
    for (; i < n; ++i) tail += a[i] * b[i];
    for (int w = 8; w > 0; w /= 2)
        for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
    return acc[0] + tail;
}

void add_inplace(float* y, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += double(x[i]) * x[i];
    const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(n)) + eps);
    if (weight) {
        for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * weight[i];
    } else {
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
    }
}

void swiglu(float* gate, const float* up, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        gate[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

void softmax(float* x, int64_t n) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; ++i) max = std::max(max, x[i]);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - max);
        sum += x[i];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

// ---- RoPE --------------------------------------------------------------------------------

namespace {

// The dimension index below which YaRN extrapolates and above which it interpolates.
float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base) {
    return n_dims * std::log(n_ctx_orig / (n_rot * 2 * std::numbers::pi_v<float>)) /
           (2 * std::log(base));
}

}  // namespace

void rope_cache(const RopeParams& p, float pos, float* cache) {
    const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(p.n_rot));
    float corr_lo = 0, corr_hi = 0;
    if (p.ext_factor != 0.0f) {
        corr_lo = std::max(
            0.0f, std::floor(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_fast, p.freq_base)));
        corr_hi =
            std::min(static_cast<float>(p.n_rot - 1),
                     std::ceil(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_slow, p.freq_base)));
    }
    float theta = pos;
    for (int i = 0; i < p.n_rot / 2; ++i) {
        const float factor = p.freq_factors.empty() ? 1.0f : p.freq_factors[static_cast<size_t>(i)];
        const float theta_extrap = theta / factor;
        const float theta_interp = p.freq_scale * theta_extrap;
        float t = theta_interp;
        float mscale = p.attn_factor;
        if (p.ext_factor != 0.0f) {
            const float y = (static_cast<float>(i) - corr_lo) / std::max(0.001f, corr_hi - corr_lo);
            const float ramp = (1.0f - std::min(1.0f, std::max(0.0f, y))) * p.ext_factor;
            t = theta_interp * (1 - ramp) + theta_extrap * ramp;
            mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
        }
        cache[2 * i] = std::cos(t) * mscale;
        cache[2 * i + 1] = std::sin(t) * mscale;
        theta *= theta_scale;
    }
}

void rope_apply(const RopeParams& p, const float* cache, float* x, int n_heads, int head_dim) {
    const int half = p.n_rot / 2;
    for (int h = 0; h < n_heads; ++h) {
        float* v = x + static_cast<size_t>(h) * head_dim;
        if (p.style == RopeStyle::normal) {
            for (int i = 0; i < half; ++i) {
                const float c = cache[2 * i], s = cache[2 * i + 1];
                const float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * c - b * s;
                v[2 * i + 1] = a * s + b * c;
            }
        } else {
            for (int i = 0; i < half; ++i) {
                const float c = cache[2 * i], s = cache[2 * i + 1];
                const float a = v[i], b = v[i + half];
                v[i] = a * c - b * s;
                v[i + half] = a * s + b * c;
            }
        }
    }
}

// ---- Attention -----------------------------------------------------------------------------

void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) {
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
#endif
    for (; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

namespace {

// q · k for an F32 query and an F16 key (16 lanes, as dot_f32).
float dot_f32_f16(const float* q, const uint16_t* k, int n) {
    int i = 0;
    float total = 0;
#if defined(__AVX512F__)
    __m512 acc = _mm512_setzero_ps();
    for (; i + 16 <= n; i += 16)
        acc = _mm512_fmadd_ps(
            _mm512_loadu_ps(q + i),
            _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + i))), acc);
    total = _mm512_reduce_add_ps(acc);
#elif defined(__F16C__) && defined(__FMA__)
    __m256 acc = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(
            _mm256_loadu_ps(q + i),
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i))), acc);
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(acc, 1), _mm256_castps256_ps128(acc));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    total = _mm_cvtss_f32(r);
#endif
    for (; i < n; ++i) total += q[i] * fp16_to_fp32(k[i]);
    return total;
}

// out += p · v for an F16 row v.
void axpy_f16(float p, const uint16_t* v, float* out, int n) {
    int i = 0;
#if defined(__F16C__) && defined(__FMA__)
    const __m256 vp = _mm256_set1_ps(p);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(
            out + i,
            _mm256_fmadd_ps(
                vp, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v + i))),
                _mm256_loadu_ps(out + i)));
#endif
    for (; i < n; ++i) out[i] += p * fp16_to_fp32(v[i]);
}

}  // namespace

void attend(const float* q, const uint16_t* k, size_t k_stride, const uint16_t* v, size_t v_stride,
            std::span<const int32_t> cells, int head_dim_k, int head_dim_v, float scale,
            float* scores, float* out) {
    const int64_t n = static_cast<int64_t>(cells.size());
    // As llama.cpp's default (non-flash) attention with its F16 cache: the query is rounded to
    // F16 for the K·q products and the softmax weights are rounded to F16 before weighting V.
    // Matching these roundings keeps logits within ~1e-5 of llama.cpp's.
    float q16[kMaxHeadDim];
    for (int d = 0; d < head_dim_k; ++d) q16[d] = round_to_fp16(q[d]);
    for (int64_t j = 0; j < n; ++j)
        scores[j] =
            dot_f32_f16(q16, k + static_cast<size_t>(cells[j]) * k_stride, head_dim_k) * scale;
    softmax(scores, n);
    std::fill(out, out + head_dim_v, 0.0f);
    for (int64_t j = 0; j < n; ++j)
        axpy_f16(round_to_fp16(scores[j]), v + static_cast<size_t>(cells[j]) * v_stride, out,
                 head_dim_v);
}

}  // namespace ponder
