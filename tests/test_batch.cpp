// Several sequences in one decode: a shared prompt processed once, continuations advanced
// together one batch per step, and sequences removed on their own — each must see exactly what
// it would see alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/context.h"
#include "engine/error.h"
#include "engine/model.h"
#include "tests/support.h"

namespace {

using namespace ponder;
using ponder::test::shared_dir;

const std::vector<TokenId> kPrefix = {1, 80, 147, 201, 282, 57, 403, 260, 301};

// The continuation token of sequence `s` at step `t` (distinct per sequence).
TokenId step_token(int s, int t) {
    return static_cast<TokenId>(100 + 37 * s + 11 * t);
}

// A prompt of 40 tokens: it fills two key blocks and part of a third, whose free cells the
// parallel sequences then share before each goes on in blocks of its own.
std::vector<TokenId> long_prefix() {
    std::vector<TokenId> tokens = kPrefix;
    for (int i = 0; tokens.size() < 40; ++i)
        tokens.push_back(static_cast<TokenId>(5 + 13 * i % 400));
    return tokens;
}

// Logits of one sequence decoded alone: the prefix, then its own tokens one at a time.
std::vector<std::vector<float>> solo_run(const Model& model, const std::vector<TokenId>& prefix,
                                         int s, int steps) {
    ContextOptions opt;
    opt.n_ctx = 128;
    Context ctx(model, opt);
    Batch b;
    for (size_t i = 0; i < prefix.size(); ++i)
        b.add(prefix[i], static_cast<Pos>(i), 0, i + 1 == prefix.size());
    ctx.decode(b);
    std::vector<std::vector<float>> out;
    for (int t = 0; t < steps; ++t) {
        Batch one;
        one.add(step_token(s, t), static_cast<Pos>(prefix.size() + t), 0, true);
        ctx.decode(one);
        out.emplace_back(ctx.logits(0).begin(), ctx.logits(0).end());
    }
    return out;
}

double max_diff(std::span<const float> a, std::span<const float> b) {
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(double(a[i]) - b[i]));
    return d;
}

void check_parallel_matches_solo(const char* model_file, double tolerance,
                                 const std::vector<TokenId>& prefix, DecodeSplit split) {
    Model model = Model::load(shared_dir() / "models" / model_file);
    constexpr int kSeqs = 6, kSteps = 5, kRemoved = 2, kRemoveAfter = 2;

    ContextOptions opt;
    opt.n_ctx = 128;
    opt.n_threads = 2;
    opt.split = split;
    Context ctx(model, opt);
    Batch prompt;
    for (size_t i = 0; i < prefix.size(); ++i) prompt.add(prefix[i], static_cast<Pos>(i), 0, false);
    ctx.decode(prompt);
    const int64_t used_by_prompt = ctx.kv_cache().n_used();
    for (int s = 1; s < kSeqs; ++s) ctx.kv_cache().seq_copy(0, s);
    // Sharing copies no cells.
    EXPECT_EQ(ctx.kv_cache().n_used(), used_by_prompt);

    std::vector<std::vector<std::vector<float>>> together(kSeqs);
    std::vector<bool> alive(kSeqs, true);
    for (int t = 0; t < kSteps; ++t) {
        if (t == kRemoveAfter) {
            ctx.kv_cache().seq_remove(kRemoved);
            alive[kRemoved] = false;
        }
        Batch step;
        for (int s = 0; s < kSeqs; ++s)
            if (alive[s]) step.add(step_token(s, t), static_cast<Pos>(prefix.size() + t), s, true);
        ctx.decode(step);
        size_t k = 0;
        for (int s = 0; s < kSeqs; ++s) {
            if (!alive[s]) continue;
            auto l = ctx.logits(k++);
            together[s].emplace_back(l.begin(), l.end());
        }
    }
    // The removed sequence's own cells are free again; the shared prefix stays.
    EXPECT_EQ(ctx.kv_cache().seq_cell_count(kRemoved), 0);
    EXPECT_EQ(ctx.kv_cache().seq_cell_count(0), static_cast<int64_t>(prefix.size()) + kSteps);

    for (int s = 0; s < kSeqs; ++s) {
        auto solo = solo_run(model, prefix, s, kSteps);
        ASSERT_EQ(together[s].size(), s == kRemoved ? size_t{kRemoveAfter} : size_t{kSteps});
        for (size_t t = 0; t < together[s].size(); ++t)
            EXPECT_LE(max_diff(together[s][t], solo[t]), tolerance)
                << "sequence " << s << " step " << t;
    }
}

// Two threads share each step either by rows or by sequences (three each, then two and three
// once one is removed); either way every sequence sees what it sees alone.
void check_parallel_matches_solo(const char* model_file, double tolerance,
                                 const std::vector<TokenId>& prefix = kPrefix) {
    for (DecodeSplit split : {DecodeSplit::rows, DecodeSplit::sequences}) {
        SCOPED_TRACE(split == DecodeSplit::rows ? "split by rows" : "split by sequences");
        check_parallel_matches_solo(model_file, tolerance, prefix, split);
    }
}

TEST(Batch, ParallelSequencesMatchSoloF32) {
    PONDER_REQUIRE_SHARED("models/TinyStories-656K-F32.gguf");
    // Small batches of float weights use the same dot products as single tokens: identical.
    check_parallel_matches_solo("TinyStories-656K-F32.gguf", 0.0);
}

TEST(Batch, ParallelSequencesMatchSoloQuantized) {
    PONDER_REQUIRE_SHARED("models/TinyStories-656K-Q8_0.gguf");
    // Integer dot products compute each row the same way whatever the batch: identical.
    check_parallel_matches_solo("TinyStories-656K-Q8_0.gguf", 0.0);
}

TEST(Batch, ParallelSequencesSharingALongPromptMatchSolo) {
    PONDER_REQUIRE_SHARED("models/TinyStories-656K-Q8_0.gguf");
    // Whole blocks of the prompt scored at once, cells picked out of a block shared by several
    // sequences, and blocks of one sequence's own: each as the sequence alone scores them.
    check_parallel_matches_solo("TinyStories-656K-Q8_0.gguf", 0.0, long_prefix());
}

TEST(Batch, PromptInOneBatchEqualsTokenByToken) {
    PONDER_REQUIRE_SHARED("models/stories260K.gguf");
    Model model = Model::load(shared_dir() / "models/stories260K.gguf");
    ContextOptions opt;
    opt.n_ctx = 32;
    Context whole(model, opt), stepwise(model, opt);
    Batch b;
    for (size_t i = 0; i < kPrefix.size(); ++i)
        b.add(kPrefix[i] % 512, static_cast<Pos>(i), 0, true);
    whole.decode(b);
    for (size_t i = 0; i < kPrefix.size(); ++i) {
        Batch one;
        one.add(kPrefix[i] % 512, static_cast<Pos>(i), 0, true);
        stepwise.decode(one);
        // Float tolerance: the prompt goes through GEMM, single tokens through dot products,
        // which sum in a different order (logits here are 10..20).
        EXPECT_LE(max_diff(whole.logits(i), stepwise.logits(0)), 1e-2) << "position " << i;
    }
}

TEST(Batch, SmallUbatchesGiveTheSameLogits) {
    PONDER_REQUIRE_SHARED("models/TinyStories-656K-Q8_0.gguf");
    Model model = Model::load(shared_dir() / "models/TinyStories-656K-Q8_0.gguf");
    ContextOptions big, small;
    big.n_ctx = small.n_ctx = 32;
    small.n_batch = 4;  // the batch is split into passes of 4 tokens
    Context a(model, big), b(model, small);
    Batch batch;
    for (size_t i = 0; i < kPrefix.size(); ++i)
        batch.add(kPrefix[i], static_cast<Pos>(i), 0, i % 2 == 0);
    a.decode(batch);
    b.decode(batch);
    ASSERT_EQ(a.n_outputs(), b.n_outputs());
    for (size_t i = 0; i < batch.size(); i += 2) EXPECT_EQ(max_diff(a.logits(i), b.logits(i)), 0.0);
    EXPECT_THROW(a.logits(1), Error);  // entry 1 did not ask for logits
}

TEST(Batch, DecodeThatDoesNotFitIsAnErrorAndChangesNothing) {
    PONDER_REQUIRE_SHARED("models/stories260K.gguf");
    Model model = Model::load(shared_dir() / "models/stories260K.gguf");
    ContextOptions opt;
    opt.n_ctx = 8;
    Context ctx(model, opt);
    Batch b;
    for (int i = 0; i < 6; ++i) b.add(1 + i, i, 0, false);
    ctx.decode(b);
    Batch more;
    for (int i = 6; i < 9; ++i) more.add(1 + i, i, 0, true);
    try {
        ctx.decode(more);
        FAIL() << "decode beyond the cache should throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("KV cache is full"), std::string::npos) << e.what();
    }
    EXPECT_EQ(ctx.kv_cache().n_used(), 6);
    Batch bad;
    bad.add(100000, 6, 0, true);
    EXPECT_THROW(ctx.decode(bad), Error);
    Batch bad_seq;
    bad_seq.add(5, 6, 64, true);
    EXPECT_THROW(ctx.decode(bad_seq), Error);
}

// RoPE attention depends only on relative positions, so tokens evaluated at positions 0..n-1
// and then moved by +delta (keys re-rotated) must give the next token the same logits as the
// same tokens evaluated at delta..delta+n-1 in the first place.
TEST(Batch, MovedCellsAreReRotated) {
    PONDER_REQUIRE_SHARED("models/TinyStories-656K-F32.gguf");
    Model model = Model::load(shared_dir() / "models/TinyStories-656K-F32.gguf");
    ContextOptions opt;
    opt.n_ctx = 32;
    constexpr Pos kDelta = 7;
    const Pos n = static_cast<Pos>(kPrefix.size());

    Context moved(model, opt);
    Batch b;
    for (Pos i = 0; i < n; ++i) b.add(kPrefix[static_cast<size_t>(i)], i, 0, false);
    moved.decode(b);
    moved.kv_cache().seq_add(0, 0, -1, kDelta);
    EXPECT_TRUE(moved.kv_cache().has_shift());
    EXPECT_EQ(moved.kv_cache().seq_pos_min(0), kDelta);
    Batch next;
    next.add(300, n + kDelta, 0, true);
    moved.decode(next);
    EXPECT_FALSE(moved.kv_cache().has_shift());

    Context direct(model, opt);
    Batch d;
    for (Pos i = 0; i < n; ++i) d.add(kPrefix[static_cast<size_t>(i)], i + kDelta, 0, false);
    d.add(300, n + kDelta, 0, true);
    direct.decode(d);
    // The moved keys were rounded to F16 before their rotation, the direct ones after: they
    // differ by about F16 precision, logits (10..20 here) by about 1e-3 relative.
    EXPECT_LE(max_diff(moved.logits(0), direct.logits(d.size() - 1)), 2e-2);

    // Without the re-rotation the same query would see keys at the wrong angles.
    Context unrotated(model, opt);
    unrotated.decode(b);
    Batch far;
    far.add(300, n + kDelta, 0, true);
    unrotated.decode(far);
    EXPECT_GT(max_diff(unrotated.logits(0), direct.logits(d.size() - 1)), 0.2);
}

TEST(Batch, ShiftContextDropsAndMovesPositions) {
    PONDER_REQUIRE_SHARED("models/TinyStories-656K-F32.gguf");
    Model model = Model::load(shared_dir() / "models/TinyStories-656K-F32.gguf");
    ContextOptions opt;
    opt.n_ctx = 16;
    Context ctx(model, opt);
    Batch b;
    for (size_t i = 0; i < kPrefix.size(); ++i) b.add(kPrefix[i], static_cast<Pos>(i), 0, false);
    ctx.decode(b);
    ctx.shift_context(0, 2, 3);  // keep 0,1; drop 2,3,4; 5..8 become 2..5
    KvCache& kv = ctx.kv_cache();
    EXPECT_EQ(kv.seq_cell_count(0), static_cast<int64_t>(kPrefix.size()) - 3);
    EXPECT_EQ(kv.seq_pos_min(0), 0);
    EXPECT_EQ(kv.seq_pos_max(0), static_cast<Pos>(kPrefix.size()) - 4);
    Batch next;
    next.add(300, static_cast<Pos>(kPrefix.size()) - 3, 0, true);
    ctx.decode(next);
    const auto l = ctx.logits(0);
    EXPECT_TRUE(std::all_of(l.begin(), l.end(), [](float v) { return std::isfinite(v); }));
}

}  // namespace
