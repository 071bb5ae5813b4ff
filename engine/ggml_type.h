#pragma once
// The tensor element types of the ggml/GGUF ecosystem: ids as stored in GGUF files, names, and
// the block geometry needed to size a tensor. Every type llama.cpp has defined is recognised,
// even those ponder cannot compute with, so that errors can name them.
#include <cstdint>
#include <optional>
#include <string_view>

namespace ponder {

enum class GgmlType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
};

struct GgmlTypeTraits {
    std::string_view name;     // as llama.cpp prints it: "q4_K", "f16", ...
    uint32_t block_size = 0;   // elements per block (1 for plain types)
    uint32_t block_bytes = 0;  // bytes per block
};

// Traits of a raw type id read from a file; nullopt for ids that no ggml version defined
// (or that were removed, such as the old Q4_2).
std::optional<GgmlTypeTraits> ggml_type_traits(uint32_t id);

// Convenience for known-valid types.
GgmlTypeTraits traits(GgmlType type);

// "q8_0", "Q8_0", "f16", "bf16", ... case-insensitively.
std::optional<GgmlType> ggml_type_from_name(std::string_view name);

// Bytes of a row of `n` elements, or nullopt when n is not a whole number of blocks.
std::optional<uint64_t> ggml_row_bytes(GgmlType type, uint64_t n);

}  // namespace ponder
