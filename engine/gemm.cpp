#include "engine/gemm.h"

// GCC 12 reports false (maybe-)uninitialized warnings inside its own AVX-512 intrinsics when
// Eigen's GEMM is inlined; they are not about this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <Eigen/Core>

namespace ponder {

void gemm_xwt(const float* x, int64_t n, const float* w, int64_t rows, int64_t K, float* y,
              int64_t ldy) {
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const RowMajor> W(w, rows, K);
    Eigen::Map<const RowMajor> X(x, n, K);
    Eigen::Map<RowMajor, 0, Eigen::OuterStride<>> Y(y, n, rows, Eigen::OuterStride<>(ldy));
    Y.noalias() = X * W.transpose();
}

}  // namespace ponder
