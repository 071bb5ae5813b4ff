#include "engine/kv_cache.h"

#include <algorithm>
#include <iterator>
#include <limits>

#include "engine/error.h"
#include "engine/kernels.h"
#include "engine/memory.h"
#include "engine/quants.h"

namespace ponder {

KvCache::KvCache(int64_t n_layer, int64_t n_cells, int64_t n_heads, int64_t head_dim_k,
                 int64_t head_dim_v)
    : n_heads_(n_heads), head_dim_k_(head_dim_k), head_dim_v_(head_dim_v) {
    if (n_layer <= 0 || n_cells <= 0 || n_heads <= 0 || head_dim_k <= 0 || head_dim_v <= 0)
        fail("invalid KV cache geometry: ", n_layer, " layers, ", n_cells, " cells, ", n_heads,
             " heads");
    const int64_t k_width = n_heads * head_dim_k, v_width = n_heads * head_dim_v;
    // Refused up front: zero-filling more than the machine has would swap, or get the process
    // killed halfway, instead of telling the user to ask for a smaller context.
    const uint64_t k_entries = static_cast<uint64_t>(n_layer) *
                               static_cast<uint64_t>(key_block_cells(n_cells)) *
                               static_cast<uint64_t>(k_width);
    const uint64_t v_entries = static_cast<uint64_t>(n_layer) * static_cast<uint64_t>(n_cells) *
                               static_cast<uint64_t>(v_width);
    const uint64_t bytes = (k_entries + v_entries) * sizeof(uint16_t);
    if (const uint64_t available = available_memory_bytes(); bytes > available)
        fail("a context of ", n_cells, " tokens needs ", human_bytes(bytes),
             " for its KV cache, but only ", human_bytes(available),
             " of memory is available; use a smaller context");
    cells_.resize(static_cast<size_t>(n_cells));
    k_.assign(static_cast<size_t>(k_entries), uint16_t{0});
    v_.assign(static_cast<size_t>(v_entries), uint16_t{0});
}

void KvCache::store_key(int64_t layer, int64_t head, int64_t cell, const float* key) {
    uint16_t* blocks = k_.data() + head_offset(layer, head, key_block_cells(size()), head_dim_k_);
    uint16_t half[kMaxHeadDim];
    fp32_to_fp16_row(key, half, head_dim_k_);
    for (int64_t d = 0; d < head_dim_k_; ++d) blocks[key_index(cell, d, head_dim_k_)] = half[d];
}

void KvCache::load_key(int64_t layer, int64_t head, int64_t cell, float* key) const {
    const uint16_t* blocks = key_blocks(layer, head);
    for (int64_t d = 0; d < head_dim_k_; ++d)
        key[d] = fp16_to_fp32(blocks[key_index(cell, d, head_dim_k_)]);
}

void KvCache::check_seq(SeqId s) {
    if (s < 0 || s >= kMaxSequences)
        fail("sequence id ", s, " is out of range (0..", kMaxSequences - 1, ")");
}

bool KvCache::find_free(std::span<const SeqId> seqs, std::vector<int32_t>& out) const {
    out.clear();
    const auto n = static_cast<int64_t>(seqs.size());
    if (n > n_free()) return false;
    for (const SeqId s : seqs) check_seq(s);
    // Each sequence's latest cell (highest position), among those in the cache and then among
    // the cells this call hands out.
    int32_t latest[kMaxSequences];
    Pos latest_pos[kMaxSequences];
    std::fill(std::begin(latest), std::end(latest), -1);
    std::fill(std::begin(latest_pos), std::end(latest_pos), -1);
    uint64_t wanted = 0;
    for (const SeqId s : seqs) wanted |= uint64_t{1} << s;
    for (int64_t i = 0; i < extent_; ++i) {
        const Cell& c = cells_[static_cast<size_t>(i)];
        for (uint64_t bits = c.seqs & wanted; bits != 0; bits &= bits - 1) {
            const int s = __builtin_ctzll(bits);
            if (c.pos > latest_pos[s]) {
                latest_pos[s] = c.pos;
                latest[s] = static_cast<int32_t>(i);
            }
        }
    }
    std::vector<bool> taken(cells_.size(), false);
    auto is_free = [&](int64_t i) {
        return cells_[static_cast<size_t>(i)].empty() && !taken[static_cast<size_t>(i)];
    };
    const int64_t size = this->size();
    int64_t empty_scan = 0;   // blocks below this one are known not to be empty
    int64_t lowest_scan = 0;  // cells below this one are known not to be free
    for (const SeqId s : seqs) {
        int64_t pick = -1;
        if (latest[s] >= 0) {
            const int64_t b0 = latest[s] / kKeyBlock * kKeyBlock;
            for (int64_t i = b0; i < std::min(b0 + kKeyBlock, size) && pick < 0; ++i)
                if (is_free(i)) pick = i;
        }
        for (; pick < 0 && empty_scan < size; empty_scan += kKeyBlock) {
            bool empty = true;
            for (int64_t i = empty_scan; i < std::min(empty_scan + kKeyBlock, size) && empty; ++i)
                empty = is_free(i);
            if (empty) pick = empty_scan;
        }
        for (; pick < 0; ++lowest_scan)
            if (is_free(lowest_scan)) pick = lowest_scan;
        taken[static_cast<size_t>(pick)] = true;
        latest[s] = static_cast<int32_t>(pick);
        out.push_back(static_cast<int32_t>(pick));
    }
    return true;
}

void KvCache::occupy(int64_t i, Pos pos, SeqId seq) {
    check_seq(seq);
    Cell& c = cells_.at(static_cast<size_t>(i));
    if (!c.empty()) fail("KV cell ", i, " is already in use");
    c.pos = pos;
    c.seqs = uint64_t{1} << seq;
    c.shift = 0;
    ++n_used_;
    extent_ = std::max(extent_, i + 1);
}

void KvCache::release(Cell& c, uint64_t bits) {
    if (c.empty() || !(c.seqs & bits)) return;
    c.seqs &= ~bits;
    if (c.empty()) {
        c.pos = -1;
        c.shift = 0;
        --n_used_;
    }
}

void KvCache::update_extent() {
    while (extent_ > 0 && cells_[static_cast<size_t>(extent_ - 1)].empty()) --extent_;
}

void KvCache::seq_remove(SeqId seq, Pos p0, Pos p1) {
    if (seq >= 0) check_seq(seq);
    const uint64_t bits = seq < 0 ? ~uint64_t{0} : uint64_t{1} << seq;
    if (p1 < 0) p1 = std::numeric_limits<Pos>::max();
    for (auto& c : cells_)
        if (c.pos >= p0 && c.pos < p1) release(c, bits);
    update_extent();
}

void KvCache::seq_copy(SeqId src, SeqId dst, Pos p0, Pos p1) {
    check_seq(src);
    check_seq(dst);
    if (src == dst) return;
    if (p1 < 0) p1 = std::numeric_limits<Pos>::max();
    for (auto& c : cells_)
        if (c.has(src) && c.pos >= p0 && c.pos < p1) c.seqs |= uint64_t{1} << dst;
}

void KvCache::seq_keep(SeqId seq) {
    check_seq(seq);
    for (auto& c : cells_) release(c, ~(uint64_t{1} << seq));
    update_extent();
}

void KvCache::seq_add(SeqId seq, Pos p0, Pos p1, Pos delta) {
    check_seq(seq);
    if (delta == 0) return;
    if (p1 < 0) p1 = std::numeric_limits<Pos>::max();
    for (auto& c : cells_) {
        if (!c.has(seq) || c.pos < p0 || c.pos >= p1) continue;
        c.pos += delta;
        c.shift += delta;
        has_shift_ = true;
        if (c.pos < 0) release(c, ~uint64_t{0});
    }
    update_extent();
}

Pos KvCache::seq_pos_min(SeqId seq) const {
    check_seq(seq);
    Pos best = -1;
    for (const auto& c : cells_)
        if (c.has(seq) && (best < 0 || c.pos < best)) best = c.pos;
    return best;
}

Pos KvCache::seq_pos_max(SeqId seq) const {
    check_seq(seq);
    Pos best = -1;
    for (const auto& c : cells_)
        if (c.has(seq) && c.pos > best) best = c.pos;
    return best;
}

int64_t KvCache::seq_cell_count(SeqId seq) const {
    check_seq(seq);
    int64_t n = 0;
    for (const auto& c : cells_) n += c.has(seq) ? 1 : 0;
    return n;
}

void KvCache::shift_applied() {
    for (auto& c : cells_) c.shift = 0;
    has_shift_ = false;
}

void KvCache::clear() {
    for (auto& c : cells_) c = Cell{};
    n_used_ = 0;
    extent_ = 0;
    has_shift_ = false;
}

}  // namespace ponder
