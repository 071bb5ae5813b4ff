#pragma once
// The key/value cache: n_ctx cells, each holding one token's keys and values for every layer,
// its position, and the set of sequences it belongs to (a bitmask, up to 64 sequences).
// Keys and values are stored per layer and KV head: attention reads one head over many cells,
// and with the heads of a cell side by side, a thread working on one head would stream its
// neighbours' bytes too (measured: 1.7x the time at a depth of 1088 cells on two threads).
// Values are a row per cell, [layer][head][cell][head_dim]; keys are in transposed blocks of
// 16 cells (engine/key_blocks.h), and each sequence's tokens go into blocks of its own where
// there is room, so that a block's scores are all wanted by the tokens that compute them.
//
// A prompt processed once for sequence 0 is shared with sequences 1..N-1 by seq_copy, which
// only adds their bits to the same cells: no data is copied. Each sequence can then be extended
// or removed on its own; a cell is free again when no sequence uses it.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/key_blocks.h"
#include "engine/memory.h"

namespace ponder {

using SeqId = int32_t;
using Pos = int32_t;

class KvCache {
  public:
    static constexpr int kMaxSequences = 64;

    struct Cell {
        Pos pos = -1;
        uint64_t seqs = 0;  // bit s set: the cell belongs to sequence s
        Pos shift = 0;      // position change not yet applied to the stored keys (seq_add)

        bool empty() const { return seqs == 0; }
        bool has(SeqId s) const { return (seqs >> s) & 1; }
    };

    // `n_heads` KV heads of `head_dim_k` key / `head_dim_v` value entries per layer. Keys and
    // values are stored as F16, as in llama.cpp's default cache.
    KvCache(int64_t n_layer, int64_t n_cells, int64_t n_heads, int64_t head_dim_k,
            int64_t head_dim_v);

    int64_t size() const { return static_cast<int64_t>(cells_.size()); }
    int64_t n_used() const { return n_used_; }
    int64_t n_free() const { return size() - n_used_; }
    const Cell& cell(int64_t i) const { return cells_[static_cast<size_t>(i)]; }
    // One past the highest cell in use: attention scans [0, extent()).
    int64_t extent() const { return extent_; }

    // One head's keys: block b (cells 16b..16b+15) starts kKeyBlock * head_dim_k entries after
    // block b - 1 (engine/key_blocks.h).
    const uint16_t* key_blocks(int64_t layer, int64_t head) const {
        return k_.data() + head_offset(layer, head, key_block_cells(size()), head_dim_k_);
    }
    // Stores (rounded to F16) / loads one cell's key.
    void store_key(int64_t layer, int64_t head, int64_t cell, const float* key);
    void load_key(int64_t layer, int64_t head, int64_t cell, float* key) const;
    // The value row of one head for one cell; a head's rows for successive cells follow each
    // other, head_dim_v entries apart.
    uint16_t* v(int64_t layer, int64_t head, int64_t cell) {
        return v_.data() + head_offset(layer, head, size(), head_dim_v_) +
               static_cast<size_t>(cell * head_dim_v_);
    }
    const uint16_t* v(int64_t layer, int64_t head, int64_t cell) const {
        return v_.data() + head_offset(layer, head, size(), head_dim_v_) +
               static_cast<size_t>(cell * head_dim_v_);
    }
    // Bytes of keys and values held, for every cell.
    uint64_t bytes() const { return (k_.size() + v_.size()) * sizeof(uint16_t); }

    // Finds a free cell for each token of `seqs` (the sequence of each) and stores their indices
    // in `out`; false when fewer are free. A token goes into the key block of its sequence's
    // latest cell when that has room, else into the first empty block, else the lowest free
    // cell: a prompt fills whole blocks, and parallel sequences each fill blocks of their own.
    bool find_free(std::span<const SeqId> seqs, std::vector<int32_t>& out) const;
    // Marks cell `i` as holding position `pos` of sequence `seq`.
    void occupy(int64_t i, Pos pos, SeqId seq);

    // Removes sequence `seq` from cells with positions in [p0, p1) (p1 < 0: to the end;
    // seq < 0: every sequence).
    void seq_remove(SeqId seq, Pos p0 = 0, Pos p1 = -1);
    // Makes `dst` share the cells of `src` with positions in [p0, p1).
    void seq_copy(SeqId src, SeqId dst, Pos p0 = 0, Pos p1 = -1);
    // Removes every sequence but `seq`.
    void seq_keep(SeqId seq);
    // Adds `delta` to the positions of `seq`'s cells in [p0, p1); cells moved below 0 are freed.
    // The keys must then be re-rotated: cells remember the pending shift (has_shift()).
    // A cell shared with other sequences moves for them too (it has one position).
    void seq_add(SeqId seq, Pos p0, Pos p1, Pos delta);
    // Lowest / highest position of `seq`, or -1 when it has no cells.
    Pos seq_pos_min(SeqId seq) const;
    Pos seq_pos_max(SeqId seq) const;
    int64_t seq_cell_count(SeqId seq) const;

    bool has_shift() const { return has_shift_; }
    // Clears pending shifts once the owner has re-rotated the keys.
    void shift_applied();

    void clear();

  private:
    // Start of one layer's and head's storage, for `cells` cells of `head_dim` entries.
    size_t head_offset(int64_t layer, int64_t head, int64_t cells, int64_t head_dim) const {
        return (static_cast<size_t>(layer) * static_cast<size_t>(n_heads_) +
                static_cast<size_t>(head)) *
               static_cast<size_t>(cells * head_dim);
    }
    void release(Cell& c, uint64_t bits);
    void update_extent();
    static void check_seq(SeqId s);

    int64_t n_heads_, head_dim_k_, head_dim_v_;
    std::vector<Cell> cells_;
    // F16 bits, [layer][head][key block][head_dim][16]
    std::vector<uint16_t, CacheLineAllocator<uint16_t>> k_;
    // F16 bits, [layer][head][cell][head_dim]
    std::vector<uint16_t, CacheLineAllocator<uint16_t>> v_;
    int64_t n_used_ = 0;
    int64_t extent_ = 0;
    bool has_shift_ = false;
};

}  // namespace ponder
