#pragma once
// A batch for Context::decode: tokens, each with its position, sequence and whether its logits
// are wanted. Tokens of different sequences may share a batch; each attends only to its own
// sequence's KV cells. N sequences advanced by one token each are one batch of N.
#include <cstdint>
#include <vector>

#include "engine/kv_cache.h"

namespace ponder {

using TokenId = int32_t;

struct BatchEntry {
    TokenId token = 0;
    Pos pos = 0;
    SeqId seq = 0;
    bool logits = false;
};

class Batch {
  public:
    Batch() = default;
    explicit Batch(size_t capacity) { entries_.reserve(capacity); }

    void add(TokenId token, Pos pos, SeqId seq, bool logits) {
        entries_.push_back({token, pos, seq, logits});
    }
    void clear() { entries_.clear(); }

    size_t size() const { return entries_.size(); }
    bool empty() const { return entries_.empty(); }
    const BatchEntry& operator[](size_t i) const { return entries_[i]; }
    BatchEntry& operator[](size_t i) { return entries_[i]; }
    const std::vector<BatchEntry>& entries() const { return entries_; }

  private:
    std::vector<BatchEntry> entries_;
};

}  // namespace ponder
