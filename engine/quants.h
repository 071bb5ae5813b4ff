#pragma once
// Block formats of ggml weights: conversion of half floats, dequantization of every type the
// forward pass computes with, and quantizers for writing model files.
//
// Dequantization follows ggml's block layouts exactly (the same bits give the same floats).
// Quantizers are ponder's own: sound (bounded round-trip error, checked by tests) but not
// bit-identical to llama.cpp's, which search harder for scales.
#include <cstdint>
#include <span>
#include <vector>

#include "engine/ggml_type.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace ponder {

// IEEE half and bfloat16, round to nearest even (as ggml converts on x86).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

// Rounds a float to the nearest half / bfloat16 value and back: what ggml does to activations
// before multiplying them with F16 / BF16 weights.
inline float round_to_fp16(float f) {
#if defined(__F16C__)
    // Inline where the instructions are there: activations are rounded a few times per block
    // of 32 values, and a call from vector code costs more than the rounding.
    return _cvtsh_ss(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
#else
    return fp16_to_fp32(fp32_to_fp16(f));
#endif
}
inline float round_to_bf16(float f) {
    return bf16_to_fp32(fp32_to_bf16(f));
}

// Types whose rows dequantize_row() can expand: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (and Q8_K, the activation format).
bool can_dequantize(GgmlType type);
// Types quantize_row() can produce: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K, Q8_K.
bool can_quantize(GgmlType type);

// `n` values from `src` (n a whole number of the type's blocks; checked, ponder::Error).
void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);
void quantize_row(GgmlType type, const float* src, void* dst, int64_t n);

// A whole tensor of rows of `n_per_row` values; returns the bytes as stored in GGUF.
std::vector<uint8_t> quantize(GgmlType type, std::span<const float> values, int64_t n_per_row);
std::vector<float> dequantize(GgmlType type, std::span<const uint8_t> bytes, int64_t n_values);

// --- For the dot-product kernels -----------------------------------------------------------
// Every integer block format is "small integers times an integer scale per group of 16 values,
// times a float scale per block" (plus, for some, an offset). unpack_row_int8 expands a row to
// that form, keeping the integers, so that dot products can sum exactly in integers within a
// block and scale once per block, as ggml's kernels do:
//   symmetric:     value[i] = d[b] · (scale[g] · q[i])
//   scaled_min:    value[i] = d[b] · scale[g] · q[i] − dmin[b] · min[g]     (Q2_K, Q4_K, Q5_K)
//   block_offset:  value[i] = d[b] · q[i] + dmin[b]                         (Q4_1, Q5_1)
// with g = i / 16 and b = i / unpack_block_size(type) (32 for the legacy formats, 256 for the
// K formats).
constexpr int64_t kUnpackGroup = 16;
enum class UnpackKind { symmetric, scaled_min, block_offset };

struct UnpackedRow {
    int8_t* q;       // n values
    int16_t* scale;  // n / 16
    int16_t* min;    // n / 16 (scaled_min only)
    float* d;        // n / block
    float* dmin;     // n / block (scaled_min: the min scale; block_offset: the offset)
};

bool is_integer_block_type(GgmlType type);  // Q4_0 ... Q6_K, Q8_K: what unpack_row_int8 takes
int64_t unpack_block_size(GgmlType type);
UnpackKind unpack_kind(GgmlType type);
void unpack_row_int8(GgmlType type, const void* src, int64_t n, const UnpackedRow& out);

}  // namespace ponder
