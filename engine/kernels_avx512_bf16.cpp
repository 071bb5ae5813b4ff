// Dot products of BF16 weights with AVX512_BF16 (VDPBF16PS: pairs of bf16 products summed into
// F32 lanes), compiled with that extension's flags and chosen at run time. Its sums are not in
// the canonical order of the other float kernels: results agree to rounding, not bit for bit.
#include "engine/kernels_packed.h"

#if defined(__x86_64__)
// GCC 12 reports false (maybe-)uninitialized warnings inside its own AVX-512 intrinsic headers
// (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <cstring>

namespace ponder::kernels {
namespace {

float bf16_value(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
}

// R weight rows × C activation rows; activations (already BF16 values) converted exactly.
template <int R, int C>
void bf16_tile(const FloatGemm& g, int64_t r, int64_t c0) {
    __m512 acc[R][C];
    for (int i = 0; i < R; ++i)
        for (int c = 0; c < C; ++c) acc[i][c] = _mm512_setzero_ps();
    const int64_t K32 = g.K / 32 * 32;
    const uint8_t* rows[R];
    for (int i = 0; i < R; ++i) rows[i] = g.w + static_cast<size_t>(r + i) * g.row_bytes;
    for (int64_t k = 0; k < K32; k += 32) {
        __m512bh x[C];
        for (int c = 0; c < C; ++c) {
            const float* xr = g.x + (c0 + c) * g.K + k;
            x[c] = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(xr + 16), _mm512_loadu_ps(xr));
        }
        for (int i = 0; i < R; ++i) {
            const __m512bh w = (__m512bh)_mm512_loadu_si512(rows[i] + 2 * k);
            for (int c = 0; c < C; ++c) acc[i][c] = _mm512_dpbf16_ps(acc[i][c], w, x[c]);
        }
    }
    for (int i = 0; i < R; ++i)
        for (int c = 0; c < C; ++c) {
            float total = _mm512_reduce_add_ps(acc[i][c]);
            const float* xr = g.x + (c0 + c) * g.K;
            for (int64_t k = K32; k < g.K; ++k)
                total = __builtin_fmaf(bf16_value(rows[i] + 2 * k), xr[k], total);
            g.y[(c0 + c) * g.ldy + r + i] = total;
        }
}

void bf16_rows(const FloatGemm& g, int64_t r0, int64_t r1) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        int64_t c = 0;
        for (; c + 4 <= g.n; c += 4) bf16_tile<4, 4>(g, r, c);
        for (; c < g.n; ++c) bf16_tile<4, 1>(g, r, c);
    }
    for (; r < r1; ++r)
        for (int64_t c = 0; c < g.n; ++c) bf16_tile<1, 1>(g, r, c);
}

}  // namespace

FloatGemmFn avx512_bf16_dot() {
    return &bf16_rows;
}

}  // namespace ponder::kernels
#else
namespace ponder::kernels {
FloatGemmFn avx512_bf16_dot() {
    return nullptr;
}
}  // namespace ponder::kernels
#endif
