#pragma once
// Internal to the kernels: converting rows of GGUF integer blocks into the packed layouts of
// kernels_packed.h (and back, for tests).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/ggml_type.h"
#include "engine/kernels_packed.h"

namespace ponder::kernels {

// The packed layout for a weight type; nullopt for types that are not packed.
std::optional<PackedFormat> packed_format(GgmlType type);
size_t packed_matrix_bytes(PackedFormat format, int64_t rows, int64_t K);

// Reused buffers for pack_group.
struct PackScratch {
    std::vector<int8_t> q;
    std::vector<int16_t> scale, min;
    std::vector<float> d, dmin;
};

// Packs `n_rows` (<= 16) consecutive rows of K values, `row_bytes` apart, into one group of
// group_bytes(format, K / block) bytes at `out`. Q8_0 values of -128 (which ggml's quantizers
// never write) are read as -127.
void pack_group(GgmlType type, const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t K,
                uint8_t* out, PackScratch& scratch);

// Row `row` of a packed group, dequantized (ggml's arithmetic), for tests.
void unpack_packed_row(PackedFormat format, const uint8_t* group, int64_t K, int row, float* out);

}  // namespace ponder::kernels
