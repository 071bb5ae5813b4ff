#pragma once
// Single-threaded F32 GEMM (Eigen), used by the kernels on dequantized weight tiles. Internal
// to the engine: the forward pass goes through kernels.h.
#include <cstdint>

namespace ponder {

// Y[b * ldy + r] = Σ_k X[b * K + k] · W[r * K + k] for b < n, r < rows.
void gemm_xwt(const float* x, int64_t n, const float* w, int64_t rows, int64_t K, float* y,
              int64_t ldy);

}  // namespace ponder
