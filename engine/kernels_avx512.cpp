// The SIMD kernels for avx512 (kernels_x86.inc), compiled with that instruction set's flags
// (engine/CMakeLists.txt) and chosen at run time.
#include "engine/kernels_packed.h"

#if defined(__x86_64__)
#define PONDER_SIMD_WIDTH 512
#define PONDER_SIMD_VNNI 0
#define PONDER_SIMD_TABLE avx512_kernel_table
#include "engine/kernels_x86.inc"
#else
namespace ponder::kernels {
const KernelTable* avx512_kernel_table() {
    return nullptr;
}
}  // namespace ponder::kernels
#endif
