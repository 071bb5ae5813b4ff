#include "engine/file_types.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "engine/error.h"
#include "engine/quants.h"

namespace ponder {

namespace {

// llama.cpp's choice of layers that get more bits in the K mixes.
bool use_more_bits(int64_t i_layer, int64_t n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 ||
           (i_layer - n_layers / 8) % 3 == 2;
}

// llama.cpp's fallback when rows are not whole blocks of the chosen type.
GgmlType fallback(GgmlType type, int64_t cols) {
    if (cols % traits(type).block_size == 0) return type;
    GgmlType f = type;
    switch (type) {
        case GgmlType::Q2_K:
        case GgmlType::Q3_K:
            f = GgmlType::Q4_0;
            break;
        case GgmlType::Q4_K:
            f = GgmlType::Q5_0;
            break;
        case GgmlType::Q5_K:
            f = GgmlType::Q5_1;
            break;
        case GgmlType::Q6_K:
            f = GgmlType::Q8_0;
            break;
        default:
            break;
    }
    if (cols % traits(f).block_size != 0) f = GgmlType::F16;
    return f;
}

bool is_quantized(GgmlType t) {
    return t != GgmlType::F32 && t != GgmlType::F16 && t != GgmlType::BF16;
}

// The layer of "blk.N.<rest>", with <rest>; -1 for other names.
int64_t layer_of(std::string_view name, std::string_view& rest) {
    if (name.substr(0, 4) != "blk.") return -1;
    const size_t dot = name.find('.', 4);
    if (dot == std::string_view::npos) return -1;
    rest = name.substr(dot + 1);
    return std::strtoll(std::string(name.substr(4, dot - 4)).c_str(), nullptr, 10);
}

}  // namespace

FileType parse_file_type(std::string_view name) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "q4_k_m") return {GgmlType::Q4_K, true};
    if (lower == "q5_k_m") return {GgmlType::Q5_K, true};
    const auto t = ggml_type_from_name(lower);
    if (!t || !can_quantize(*t) || *t == GgmlType::Q8_K)
        fail("unknown model type '", name,
             "' (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, "
             "q4_k_m, q5_k_m)");
    return {*t, false};
}

GgmlType matrix_type(const FileType& file_type, std::string_view tensor_name, int64_t cols,
                     int64_t n_layer, bool tied_embeddings) {
    const GgmlType base = file_type.base;
    const bool output =
        tensor_name == "output.weight" || (tied_embeddings && tensor_name == "token_embd.weight");
    if (output) {
        if (!is_quantized(base)) return base;
        return fallback(base == GgmlType::Q8_0 ? GgmlType::Q8_0 : GgmlType::Q6_K, cols);
    }
    std::string_view rest;
    const int64_t layer = layer_of(tensor_name, rest);
    const bool more_bits = file_type.k_mix && layer >= 0 &&
                           (rest == "attn_v.weight" || rest == "ffn_down.weight") &&
                           use_more_bits(layer, n_layer);
    return fallback(more_bits ? GgmlType::Q6_K : base, cols);
}

}  // namespace ponder
