#pragma once
// Internal to the kernels (engine/kernels*.cpp): the row-interleaved weight layouts that the
// integer kernels read, the activation formats they multiply with, and the per-ISA kernel
// tables that kernels.cpp dispatches to. Nothing outside the kernels includes this header, and
// the ISA-specific translation units include nothing else of ponder's.
//
// Packed layout. Rows are taken 16 at a time (a "group"); within a group, the values of each
// block of the row format are stored so that one 64-byte vector holds 4 consecutive values of
// each of the 16 rows: byte 4i + j of "chunk vector" c is row i, value 4c + j of the block.
// An integer dot product instruction (VPDPBUSD: 4 unsigned × signed byte products summed per
// 32-bit lane) against 4 activation bytes broadcast to every lane then yields 16 rows' partial
// sums in one instruction, with no horizontal reduction, and one weight vector serves every
// activation row of a tile — the weights are read once per step for all sequences.
//
// Values are stored unsigned (u = q + offset) in as many bits as the format has: 8 bits
// (Q8_0), 4-bit nibbles (low nibble chunk 2t, high nibble chunk 2t+1 of vector t), 2-bit fields
// (bits 2s..2s+1 of vector t hold chunk 4t+s) and 1-bit planes (bit s of vector t holds chunk
// 8t+s); the offset comes back out through the activations' group sums. Per-row scales are
// stored as [group][16 rows] arrays ahead of the quants, so one vector load gives a group's
// scales for all 16 rows. A group's bytes are: every block's metadata, padded to 64 bytes, then
// every block's quants. Sizes equal the original format's (a few % more for Q3_K/Q4_K/Q5_K,
// whose 6-bit scales are stored as bytes).
#include <cstddef>
#include <cstdint>

namespace ponder::kernels {

constexpr int kPackRows = 16;
constexpr int kVecBytes = 64;

enum class PackedFormat : int { q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k };
constexpr int kPackedFormats = 10;

struct PackedLayout {
    int block;           // values per block: 32 or 256
    int meta_bytes;      // per block and group
    int quant_bytes;     // per block and group (a multiple of 64)
    int offset;          // u = q + offset
    bool k_activations;  // activations quantized in blocks of 256 (Q8_K) rather than 32 (Q8_0)
};

// Metadata per block and group (fp16 arrays are [16 rows]; byte arrays [group][16 rows]):
//   q8_0, q4_0, q5_0: d (fp16)
//   q4_1, q5_1:       d, m (fp16)
//   q2_k:             d, dmin (fp16), then [8 pairs][16 rows][2] bytes scale | min << 4 of
//                     groups 2p, 2p+1 (groups of 16 values)
//   q3_k, q6_k:       d (fp16), then [16 groups][16 rows] int8 scales
//   q4_k, q5_k:       d, dmin (fp16), then [8 groups][16 rows] u8 scales, then
//                     [4 pairs][16 rows][2] u8 mins of groups 2p, 2p+1 (groups of 32 values)
// Quants per block and group (in vectors of 64 bytes):
//   q8_0: 8 byte vectors (u = q + 128)
//   q4_0, q4_1: 4 nibble vectors; q5_0, q5_1: the same plus one bit plane (the fifth bits)
//   q2_k: 16 two-bit vectors; q3_k: the same plus 8 bit planes (the third bits)
//   q4_k: 32 nibble vectors; q5_k: the same plus 8 bit planes
//   q6_k: 32 nibble vectors (low 4 bits) plus 16 two-bit vectors (high 2 bits)
constexpr PackedLayout kLayouts[kPackedFormats] = {
    {32, 32, 512, 128, false},   // q8_0
    {32, 32, 256, 8, false},     // q4_0
    {32, 64, 256, 0, false},     // q4_1
    {32, 32, 320, 16, false},    // q5_0
    {32, 64, 320, 0, false},     // q5_1
    {256, 320, 1024, 0, true},   // q2_k
    {256, 288, 1536, 4, true},   // q3_k
    {256, 320, 2048, 0, true},   // q4_k
    {256, 320, 2560, 0, true},   // q5_k
    {256, 288, 3072, 32, true},  // q6_k
};

static constexpr const PackedLayout& layout(PackedFormat f) {
    // (The bounds test is for GCC 12, which warns that an enum may index past the table.)
    const auto i = static_cast<unsigned>(f);
    return kLayouts[i < kPackedFormats ? i : 0];
}
static constexpr size_t pad64(size_t n) {
    return (n + 63) / 64 * 64;
}
static constexpr size_t meta_region_bytes(PackedFormat f, int64_t n_blocks) {
    return pad64(static_cast<size_t>(layout(f).meta_bytes) * static_cast<size_t>(n_blocks));
}
static constexpr size_t group_bytes(PackedFormat f, int64_t n_blocks) {
    return meta_region_bytes(f, n_blocks) +
           static_cast<size_t>(layout(f).quant_bytes) * static_cast<size_t>(n_blocks);
}

// Activations quantized to int8 for one weight format family (ggml's "vec_dot_type"): Q8_0
// blocks of 32 with F16-rounded scales, or Q8_K blocks of 256 with F32 scales. Row b's data
// starts at q + b·K, d + b·(K / block), sum16 + b·(K / 16), sum32 / s + b·(K / 32).
struct QuantizedActs {
    const int8_t* q = nullptr;
    const float* d = nullptr;        // scale per block
    const int16_t* sum16 = nullptr;  // sum of each 16 integers
    const int16_t* sum32 = nullptr;  // sum of each 32 integers
    const float* s = nullptr;        // Q8_1's s per 32: F16-rounded d · sum32 (Q4_1, Q5_1)
    int64_t n = 0;
    int64_t K = 0;
};

// One packed matrix against quantized activations: y[b·ldy + r] for rows of groups [g0, g1).
struct PackedGemm {
    PackedFormat format;
    const uint8_t* data;  // group 0
    size_t group_bytes;
    size_t meta_region;  // offset of the quants in a group
    int64_t rows;
    int64_t n_blocks;
    QuantizedActs a;
    float* y;
    int64_t ldy;
};
using PackedGemmFn = void (*)(const PackedGemm& g, int64_t g0, int64_t g1);

// Float weights (F32 / F16 / BF16 rows as stored) against F32 activations that were rounded to
// the weights' precision: rows [r0, r1). Every output is a 16-lane sum in a fixed order (lane l
// takes k ≡ l mod 16, fused multiply-adds, lanes added pairwise 8/4/2/1, then the tail), the
// same on every ISA and for every number of activation rows; bf16_dot (AVX512_BF16) differs.
enum class FloatWeights : int { f32, f16, bf16 };
struct FloatGemm {
    FloatWeights type;
    const uint8_t* w;
    size_t row_bytes;
    const float* x;
    int64_t n;
    int64_t K;
    float* y;
    int64_t ldy;
};
using FloatGemmFn = void (*)(const FloatGemm& g, int64_t r0, int64_t r1);

struct KernelTable {
    PackedGemmFn packed[kPackedFormats];
    FloatGemmFn float_gemm;
    FloatGemmFn bf16_dot;  // AVX512_BF16 dot products for BF16 weights, or null
};

// Null when the build has no such kernels (not x86-64).
const KernelTable* scalar_kernel_table();
const KernelTable* avx2_kernel_table();
const KernelTable* avx512_kernel_table();
const KernelTable* avx512_vnni_kernel_table();
FloatGemmFn avx512_bf16_dot();

}  // namespace ponder::kernels
