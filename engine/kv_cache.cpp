#include "engine/kv_cache.h"

#include <algorithm>
#include <limits>

#include "engine/error.h"
#include "engine/memory.h"

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
    const uint64_t bytes = static_cast<uint64_t>(n_layer) * static_cast<uint64_t>(n_cells) *
                           static_cast<uint64_t>(k_width + v_width) * sizeof(uint16_t);
    if (const uint64_t available = available_memory_bytes(); bytes > available)
        fail("a context of ", n_cells, " tokens needs ", human_bytes(bytes),
             " for its KV cache, but only ", human_bytes(available),
             " of memory is available; use a smaller context");
    cells_.resize(static_cast<size_t>(n_cells));
    k_.assign(static_cast<size_t>(n_layer * n_cells * k_width), uint16_t{0});
    v_.assign(static_cast<size_t>(n_layer * n_cells * v_width), uint16_t{0});
}

void KvCache::check_seq(SeqId s) {
    if (s < 0 || s >= kMaxSequences)
        fail("sequence id ", s, " is out of range (0..", kMaxSequences - 1, ")");
}

bool KvCache::find_free(int64_t n, std::vector<int32_t>& out) const {
    out.clear();
    if (n > n_free()) return false;
    for (size_t i = 0; i < cells_.size() && static_cast<int64_t>(out.size()) < n; ++i)
        if (cells_[i].empty()) out.push_back(static_cast<int32_t>(i));
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
