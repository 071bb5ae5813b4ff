#pragma once
// How keys are laid out for attention: in blocks of kKeyBlock cells, transposed, so that
// dimension d of cell c is at block (c / kKeyBlock), row d, lane (c % kKeyBlock). A block's
// scores for one query are then one vector's lanes, each summing q[d] · k[d] over d in order,
// with no horizontal adds and each key dimension converted once for all the queries that
// read it.
#include <cstddef>
#include <cstdint>

namespace ponder {

constexpr int kKeyBlock = 16;

// Index of dimension d of cell c's key, from the start of a head's blocks.
inline size_t key_index(int64_t cell, int64_t d, int64_t head_dim) {
    return static_cast<size_t>(((cell / kKeyBlock) * head_dim + d) * kKeyBlock + cell % kKeyBlock);
}

// Cells rounded up to whole blocks.
inline int64_t key_block_cells(int64_t cells) {
    return (cells + kKeyBlock - 1) / kKeyBlock * kKeyBlock;
}

}  // namespace ponder
