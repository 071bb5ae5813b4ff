#pragma once
// llama.cpp's choice of a type for each weight matrix of a file type (llama-quant.cpp), so that
// files ponder writes (`ponder convert FILE.gguf --type T`, `ponder make-model`) hold the types
// llama-quantize would give them: the output matrix (or the tied embeddings that serve as it)
// gets Q6_K unless the file is Q8_0 or unquantized; the mixes Q4_K_M and Q5_K_M also give Q6_K
// to attn_v and ffn_down in some layers; matrices whose rows are not whole blocks of the chosen
// type fall back (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K / Q3_K -> Q4_0, else F16).
#include <cstdint>
#include <string_view>

#include "engine/ggml_type.h"

namespace ponder {

// A file type: one tensor type for the matrices, or one of llama.cpp's mixes.
struct FileType {
    GgmlType base = GgmlType::Q8_0;
    bool k_mix = false;  // q4_k_m / q5_k_m
};

// "q8_0", "q4_k_m", "Q4_K_M", ... Throws ponder::Error naming the accepted names.
FileType parse_file_type(std::string_view name);

// The type of the matrix `tensor_name` ("output.weight", "blk.3.attn_v.weight", ...) with rows of
// `cols` values, in a model of `n_layer` layers whose token embeddings are also its output
// matrix when `tied_embeddings`.
GgmlType matrix_type(const FileType& file_type, std::string_view tensor_name, int64_t cols,
                     int64_t n_layer, bool tied_embeddings);

}  // namespace ponder
