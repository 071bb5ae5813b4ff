// KV cache bookkeeping: cells, sequence bitmasks, sharing, removal, position shifts.
#include <gtest/gtest.h>

#include <bit>
#include <vector>

#include "engine/error.h"
#include "engine/kv_cache.h"

namespace {

using namespace ponder;

void fill(KvCache& kv, SeqId seq, Pos from, Pos to) {
    std::vector<int32_t> cells;
    ASSERT_TRUE(kv.find_free(std::vector<SeqId>(static_cast<size_t>(to - from), seq), cells));
    for (Pos p = from; p < to; ++p) kv.occupy(cells[static_cast<size_t>(p - from)], p, seq);
}

TEST(KvCache, SharingAPrefixCopiesNoCells) {
    KvCache kv(2, 16, 1, 4, 4);
    fill(kv, 0, 0, 5);
    EXPECT_EQ(kv.n_used(), 5);
    for (SeqId s = 1; s < 4; ++s) kv.seq_copy(0, s);
    EXPECT_EQ(kv.n_used(), 5);
    for (SeqId s = 0; s < 4; ++s) {
        EXPECT_EQ(kv.seq_cell_count(s), 5);
        EXPECT_EQ(kv.seq_pos_max(s), 4);
    }
    fill(kv, 2, 5, 7);  // sequence 2 goes on alone
    EXPECT_EQ(kv.seq_cell_count(2), 7);
    EXPECT_EQ(kv.seq_cell_count(1), 5);
    EXPECT_EQ(kv.n_used(), 7);
}

TEST(KvCache, RemovingOneSequenceKeepsSharedCells) {
    KvCache kv(1, 16, 1, 4, 4);
    fill(kv, 0, 0, 4);
    kv.seq_copy(0, 1);
    fill(kv, 1, 4, 6);
    fill(kv, 0, 4, 5);
    kv.seq_remove(1);
    EXPECT_EQ(kv.seq_cell_count(1), 0);
    EXPECT_EQ(kv.seq_cell_count(0), 5);
    EXPECT_EQ(kv.n_used(), 5);  // sequence 1's own two cells are free again
    kv.seq_remove(0, 2, 4);     // positions 2 and 3 only
    EXPECT_EQ(kv.seq_cell_count(0), 3);
    EXPECT_EQ(kv.seq_pos_max(0), 4);
    kv.seq_remove(-1);
    EXPECT_EQ(kv.n_used(), 0);
    EXPECT_EQ(kv.extent(), 0);
}

TEST(KvCache, KeepDropsEveryOtherSequence) {
    KvCache kv(1, 8, 1, 2, 2);
    fill(kv, 0, 0, 2);
    kv.seq_copy(0, 3);
    fill(kv, 5, 0, 3);
    kv.seq_keep(3);
    EXPECT_EQ(kv.seq_cell_count(3), 2);
    EXPECT_EQ(kv.seq_cell_count(0), 0);
    EXPECT_EQ(kv.seq_cell_count(5), 0);
    EXPECT_EQ(kv.n_used(), 2);
}

TEST(KvCache, FreedCellsAreReused) {
    KvCache kv(1, 4, 1, 2, 2);
    fill(kv, 0, 0, 4);
    std::vector<int32_t> cells;
    EXPECT_FALSE(kv.find_free(std::vector<SeqId>{0}, cells));
    kv.seq_remove(0, 1, 2);
    ASSERT_TRUE(kv.find_free(std::vector<SeqId>{0}, cells));
    EXPECT_EQ(cells, std::vector<int32_t>{1});
    EXPECT_THROW(kv.occupy(0, 9, 0), Error);  // in use
}

TEST(KvCache, SeqAddMovesPositionsAndRecordsTheShift) {
    KvCache kv(1, 8, 1, 2, 2);
    fill(kv, 0, 0, 6);
    kv.seq_add(0, 3, -1, -2);  // positions 3..5 become 1..3
    EXPECT_TRUE(kv.has_shift());
    EXPECT_EQ(kv.seq_pos_max(0), 3);
    int shifted = 0;
    for (int64_t i = 0; i < kv.size(); ++i) shifted += kv.cell(i).shift == -2 ? 1 : 0;
    EXPECT_EQ(shifted, 3);
    kv.seq_add(0, 0, 1, -5);  // position 0 would go below zero: freed
    EXPECT_EQ(kv.seq_cell_count(0), 5);
    kv.shift_applied();
    EXPECT_FALSE(kv.has_shift());
}

TEST(KvCache, SequenceIdsAreChecked) {
    KvCache kv(1, 4, 1, 2, 2);
    EXPECT_THROW(kv.occupy(0, 0, 64), Error);
    EXPECT_THROW(kv.seq_copy(0, -1), Error);
    EXPECT_THROW(kv.seq_pos_max(70), Error);
    fill(kv, 63, 0, 1);  // the highest id works
    EXPECT_EQ(kv.seq_cell_count(63), 1);
}

TEST(KvCache, StorageIsPerLayerHeadAndCell) {
    KvCache kv(3, 5, 2, 4, 6);
    // Keys take whole blocks of 16 cells.
    EXPECT_EQ(kv.bytes(), (3u * 16 * 2 * 4 + 3u * 5 * 2 * 6) * 2);
    const float key[4] = {0.5f, -1.0f, 2.0f, 1.0f};
    kv.store_key(2, 1, 4, key);
    kv.v(1, 0, 2)[5] = 0xC000;
    float back[4];
    kv.load_key(2, 1, 4, back);
    for (int d = 0; d < 4; ++d) EXPECT_EQ(back[d], key[d]);
    // A head's keys are transposed blocks: dimension d of cell c at row d, lane c.
    EXPECT_EQ(kv.key_blocks(2, 1)[3 * kKeyBlock + 4], 0x3C00);  // 1.0 in F16
    // A head's value rows for successive cells are adjacent.
    EXPECT_EQ(kv.v(1, 0, 0)[2 * 6 + 5], 0xC000);
    // Every other layer, head and cell is left alone.
    const KvCache& view = kv;
    int nonzero = 0;
    for (int64_t l = 0; l < 3; ++l)
        for (int64_t h = 0; h < 2; ++h) {
            for (int i = 0; i < 16 * 4; ++i) nonzero += view.key_blocks(l, h)[i] != 0;
            for (int64_t c = 0; c < 5; ++c)
                for (int i = 0; i < 6; ++i) nonzero += view.v(l, h, c)[i] != 0;
        }
    EXPECT_EQ(nonzero, 4 + 1);
}

// Parallel sequences continuing a shared prompt each fill key blocks of their own, so that the
// scores a token computes for a block are all ones it wants.
TEST(KvCache, ParallelSequencesFillBlocksOfTheirOwn) {
    KvCache kv(1, 256, 1, 4, 4);
    fill(kv, 0, 0, 20);  // a prompt: block 0 and 4 cells of block 1
    for (SeqId s = 1; s < 4; ++s) kv.seq_copy(0, s);
    const std::vector<SeqId> step = {0, 1, 2, 3};
    for (Pos p = 20; p < 60; ++p) {
        std::vector<int32_t> cells;
        ASSERT_TRUE(kv.find_free(step, cells));
        for (size_t i = 0; i < step.size(); ++i) kv.occupy(cells[i], p, step[i]);
    }
    // Block 1's free cells went to whoever came first; after that, each block beyond holds one
    // sequence's cells only.
    for (int64_t b = 2; b * kKeyBlock < kv.extent(); ++b) {
        uint64_t owners = 0;
        for (int64_t i = b * kKeyBlock; i < (b + 1) * kKeyBlock; ++i) owners |= kv.cell(i).seqs;
        EXPECT_EQ(std::popcount(owners), 1) << "block " << b;
    }
    // Block 1 fills up in 3 steps; each sequence's other 37 cells take 3 blocks of its own.
    EXPECT_EQ(kv.extent(), 13 * kKeyBlock + 37 - 2 * kKeyBlock);
    // A batch of one sequence's tokens (a prompt) takes consecutive cells.
    kv.seq_remove(-1);
    std::vector<int32_t> cells;
    ASSERT_TRUE(kv.find_free(std::vector<SeqId>(40, 5), cells));
    for (size_t i = 0; i < cells.size(); ++i) EXPECT_EQ(cells[i], static_cast<int32_t>(i));
}

}  // namespace
