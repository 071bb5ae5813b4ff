#include "engine/context.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/error.h"
#include "engine/memory.h"
#include "engine/model.h"
#include "engine/quants.h"
#include "engine/thread_pool.h"

namespace ponder {

// Activations of one forward pass, sized for n_batch tokens at construction so that decoding
// allocates nothing per token.
struct Context::Scratch {
    std::vector<float> x;                      // residual stream [n][n_embd]
    std::vector<float> xn;                     // normalised input of a block [n][n_embd]
    std::vector<float> q;                      // [n][n_head * head_dim_k]
    std::vector<float> k;                      // [n][n_head_kv * head_dim_k]
    std::vector<float> v;                      // [n][n_head_kv * head_dim_v]
    std::vector<float> attn;                   // [n][n_head * head_dim_v]
    std::vector<float> proj;                   // output of wo / down [n][n_embd]
    std::vector<float> gate;                   // [n][n_ff]
    std::vector<float> up;                     // [n][n_ff]
    std::vector<float> rope;                   // per token cos/sin [n][n_rot]
    std::vector<std::vector<int32_t>> by_seq;  // per sequence of the pass: its cells by position
    std::vector<int32_t> visible;              // the cells each token attends to, concatenated
    std::vector<size_t> visible_begin;         // per token: its range of `visible`
    std::vector<size_t> visible_end;
    std::vector<int64_t> out_rows;  // tokens whose logits are wanted
    // Runs of consecutive tokens that attend together (attend_tokens): [first token, count).
    std::vector<std::pair<int64_t, int>> tiles;
    std::vector<int32_t> tile_counts;        // per token: how many of its tile's cells it sees
    std::vector<std::vector<float>> scores;  // per thread, for kTileTokens tokens of a KV group

    Scratch(const ModelConfig& c, size_t n)
        : x(n * c.n_embd),
          xn(n * c.n_embd),
          q(n * c.n_head * c.head_dim_k),
          k(n * c.n_embd_k_gqa()),
          v(n * c.n_embd_v_gqa()),
          attn(n * c.n_head * c.head_dim_v),
          proj(n * c.n_embd),
          gate(n * c.n_ff),
          up(n * c.n_ff),
          rope(n * c.rope.n_rot) {}
};

// What one thread needs to run a pass of its own: activations and kernel buffers.
struct Context::Lane {
    std::unique_ptr<Scratch> s;
    KernelScratch kernels;
};

namespace {

// Prompt tokens attend in tiles of up to this many: each block of keys is then converted once
// for all their query heads.
constexpr int kTileTokens = 8;

void add_bias(float* rows, int64_t n, int64_t width, const std::vector<float>& bias) {
    if (bias.empty()) return;
    for (int64_t i = 0; i < n; ++i) add_inplace(rows + i * width, bias.data(), width);
}

}  // namespace

Context::Context(const Model& model, ContextOptions options)
    : model_(&model),
      n_batch_(options.n_batch > 0 ? options.n_batch : 512),
      own_pool_(options.n_threads > 0 ? std::make_unique<ThreadPool>(options.n_threads) : nullptr),
      split_(options.split),
      fits_core_cache_(model.matrix_bytes() <= core_cache_bytes()),
      inline_pool_(std::make_unique<ThreadPool>(1)),
      kv_(model.config().n_layer,
          options.n_ctx > 0 ? options.n_ctx : std::min<int64_t>(model.config().n_ctx_train, 4096),
          model.config().n_head_kv, model.config().head_dim_k, model.config().head_dim_v),
      kernel_scratch_(options.kernels ? KernelScratch(*options.kernels) : KernelScratch()),
      s_(std::make_unique<Scratch>(model.config(), static_cast<size_t>(n_batch_))) {}

Context::~Context() = default;

// Looked up per use rather than kept: set_global_thread_count replaces the global pool.
ThreadPool& Context::pool() const {
    return own_pool_ ? *own_pool_ : global_thread_pool();
}

int64_t Context::n_vocab() const {
    return model_->config().n_vocab;
}

std::span<const float> Context::logits(size_t batch_index) const {
    if (batch_index >= output_row_.size() || output_row_[batch_index] < 0)
        fail("batch entry ", batch_index, " did not ask for logits");
    return output_logits(static_cast<size_t>(output_row_[batch_index]));
}

std::span<const float> Context::output_logits(size_t k) const {
    if (k >= output_batch_index_.size())
        fail("output ", k, " does not exist (the last decode produced ", output_batch_index_.size(),
             ")");
    const auto V = static_cast<size_t>(n_vocab());
    return {logits_.data() + k * V, V};
}

void Context::decode(const Batch& batch) {
    const ModelConfig& c = model_->config();
    for (size_t i = 0; i < batch.size(); ++i) {
        const BatchEntry& e = batch[i];
        if (e.token < 0 || e.token >= c.n_vocab)
            fail("batch entry ", i, ": token ", e.token, " is outside the vocabulary of ",
                 c.n_vocab);
        if (e.seq < 0 || e.seq >= KvCache::kMaxSequences)
            fail("batch entry ", i, ": sequence id ", e.seq, " is out of range (0..",
                 KvCache::kMaxSequences - 1, ")");
        if (e.pos < 0) fail("batch entry ", i, ": negative position ", e.pos);
    }
    if (static_cast<int64_t>(batch.size()) > kv_.n_free())
        fail("the KV cache is full: the batch needs ", batch.size(), " cells but only ",
             kv_.n_free(), " of ", kv_.size(), " are free (context size ", kv_.size(), ")");

    output_row_.assign(batch.size(), -1);
    output_batch_index_.clear();
    for (size_t i = 0; i < batch.size(); ++i) {
        if (batch[i].logits) {
            output_row_[i] = static_cast<int32_t>(output_batch_index_.size());
            output_batch_index_.push_back(i);
        }
    }
    const size_t need = output_batch_index_.size() * static_cast<size_t>(c.n_vocab);
    if (logits_.size() < need) logits_.resize(need);

    if (kv_.has_shift()) apply_kv_shift();
    const std::span<const BatchEntry> all(batch.entries());
    for (size_t begin = 0; begin < all.size(); begin += static_cast<size_t>(n_batch_)) {
        const size_t count = std::min(all.size() - begin, static_cast<size_t>(n_batch_));
        forward(all.subspan(begin, count), begin);
    }
}

// A step in which several sequences each add one token can run as independent passes, one per
// thread over its share of the sequences: no hand-offs inside the step. Each thread then reads
// every matrix, which costs nothing extra when they stay in its own cache; bigger models read
// from memory, where splitting the rows of each product reads every weight once.
DecodeSplit Context::batched_split() const {
    if (split_ != DecodeSplit::automatic) return split_;
    return fits_core_cache_ ? DecodeSplit::sequences : DecodeSplit::rows;
}

bool Context::split_by_sequence(std::span<const BatchEntry> entries) const {
    if (batched_split() != DecodeSplit::sequences || pool().size() < 2 || entries.size() < 2)
        return false;
    uint64_t seen = 0;  // kMaxSequences is 64
    for (const BatchEntry& e : entries) {
        const uint64_t bit = uint64_t{1} << e.seq;
        if (seen & bit) return false;
        seen |= bit;
    }
    return true;
}

// One forward pass over at most n_batch tokens (entries [first_index, ...) of the batch).
void Context::forward(std::span<const BatchEntry> entries, size_t first_index) {
    // Place the tokens in free cells, so tokens of this batch can see each other.
    const auto n = static_cast<int64_t>(entries.size());
    place_seqs_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
        place_seqs_[static_cast<size_t>(i)] = entries[static_cast<size_t>(i)].seq;
    kv_.find_free(place_seqs_, place_cells_);
    for (int64_t i = 0; i < n; ++i) {
        const BatchEntry& e = entries[static_cast<size_t>(i)];
        kv_.occupy(place_cells_[static_cast<size_t>(i)], e.pos, e.seq);
    }
    const std::span<const int32_t> cells(place_cells_.data(), static_cast<size_t>(n));

    ThreadPool& pool = this->pool();
    if (!split_by_sequence(entries)) {
        run_pass(*s_, kernel_scratch_, pool, entries, cells, first_index);
        return;
    }
    // Contiguous shares, so each share's logits rows are contiguous too. A thread that arrives
    // late finds its share taken by one that finished first. The shares write keys and values
    // only to their own tokens' cells; scoring a key block that holds another share's new cell
    // reads that cell's lanes too, and those scores are dropped (score_cells picks out the
    // listed cells).
    const int64_t shares = std::min<int64_t>(pool.size(), n);
    if (lanes_.size() != static_cast<size_t>(pool.size())) {
        lanes_.clear();
        const auto tokens =
            static_cast<size_t>(std::min<int64_t>(n_batch_, KvCache::kMaxSequences));
        for (int t = 0; t < pool.size(); ++t)
            lanes_.push_back({std::make_unique<Scratch>(model_->config(), tokens),
                              KernelScratch(kernel_scratch_.isa())});
    }
    pool.parallel_for(shares, 1, [&](int64_t g0, int64_t g1, int thread) {
        Lane& lane = lanes_[static_cast<size_t>(thread)];
        for (int64_t g = g0; g < g1; ++g) {
            const auto begin = static_cast<size_t>(n * g / shares);
            const auto end = static_cast<size_t>(n * (g + 1) / shares);
            run_pass(*lane.s, lane.kernels, *inline_pool_, entries.subspan(begin, end - begin),
                     cells.subspan(begin, end - begin), first_index + begin);
        }
    });
}

// The layers and logits of placed tokens, split across `pool`.
void Context::run_pass(Scratch& s, KernelScratch& kernels, ThreadPool& pool,
                       std::span<const BatchEntry> entries, std::span<const int32_t> cells,
                       size_t first_index) {
    const ModelConfig& c = model_->config();
    // One attention score buffer per thread (the global pool may have been resized).
    if (s.scores.size() < static_cast<size_t>(pool.size())) {
        s.scores.resize(static_cast<size_t>(pool.size()));
        for (auto& sc : s.scores)
            sc.resize(static_cast<size_t>((kv_.size() + 15) / 16 * 16 * kTileTokens *
                                          (c.n_head / c.n_head_kv)));
    }
    int64_t n = static_cast<int64_t>(entries.size());
    const int64_t E = c.n_embd, hd_k = c.head_dim_k, hd_v = c.head_dim_v;
    const int64_t q_dim = c.n_head * hd_k, k_dim = c.n_embd_k_gqa(), v_dim = c.n_embd_v_gqa();
    const int64_t attn_dim = c.n_head * hd_v, group = c.n_head / c.n_head_kv;
    const float attn_scale = 1.0f / std::sqrt(static_cast<float>(hd_k));

    // Each token attends to the cells of its own sequence at or before its position, in
    // position order whatever cells they landed in (freed cells are reused): results then do
    // not depend on what other sequences did. One scan of the cache lists each sequence's
    // cells; a token sees a prefix of its sequence's list.
    uint64_t wanted = 0;
    for (const BatchEntry& e : entries) wanted |= uint64_t{1} << e.seq;
    if (s.by_seq.empty()) s.by_seq.resize(KvCache::kMaxSequences);
    for (uint64_t bits = wanted; bits != 0; bits &= bits - 1)
        s.by_seq[static_cast<size_t>(__builtin_ctzll(bits))].clear();
    for (int64_t cell = 0; cell < kv_.extent(); ++cell)
        for (uint64_t bits = kv_.cell(cell).seqs & wanted; bits != 0; bits &= bits - 1)
            s.by_seq[static_cast<size_t>(__builtin_ctzll(bits))].push_back(
                static_cast<int32_t>(cell));
    auto earlier = [&](int32_t a, int32_t b) { return kv_.cell(a).pos < kv_.cell(b).pos; };
    for (uint64_t bits = wanted; bits != 0; bits &= bits - 1) {
        auto& list = s.by_seq[static_cast<size_t>(__builtin_ctzll(bits))];
        if (!std::is_sorted(list.begin(), list.end(), earlier))
            std::sort(list.begin(), list.end(), earlier);
    }
    s.visible.clear();
    s.visible_begin.resize(static_cast<size_t>(n));
    s.visible_end.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        const BatchEntry& e = entries[static_cast<size_t>(i)];
        const auto& list = s.by_seq[static_cast<size_t>(e.seq)];
        const auto seen = std::partition_point(list.begin(), list.end(),
                                               [&](int32_t c) { return kv_.cell(c).pos <= e.pos; });
        s.visible_begin[static_cast<size_t>(i)] = s.visible.size();
        s.visible.insert(s.visible.end(), list.begin(), seen);
        s.visible_end[static_cast<size_t>(i)] = s.visible.size();
    }

    // Tiles: runs of tokens of one sequence in which each token sees what the one before it
    // sees plus its own cell (a prompt), split evenly into at most kTileTokens tokens each.
    s.tiles.clear();
    s.tile_counts.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n;) {
        int64_t run = 1;
        for (; i + run < n; ++run) {
            const auto a = static_cast<size_t>(i + run - 1), b = static_cast<size_t>(i + run);
            const size_t na = s.visible_end[a] - s.visible_begin[a];
            if (entries[b].seq != entries[a].seq || s.visible_end[b] - s.visible_begin[b] <= na ||
                !std::equal(s.visible.begin() + static_cast<std::ptrdiff_t>(s.visible_begin[a]),
                            s.visible.begin() + static_cast<std::ptrdiff_t>(s.visible_end[a]),
                            s.visible.begin() + static_cast<std::ptrdiff_t>(s.visible_begin[b])))
                break;
        }
        const int64_t parts = (run + kTileTokens - 1) / kTileTokens;
        for (int64_t p = 0; p < parts; ++p) {
            const int64_t first = i + run * p / parts, last = i + run * (p + 1) / parts;
            s.tiles.emplace_back(first, static_cast<int>(last - first));
            for (int64_t t = first; t < last; ++t)
                s.tile_counts[static_cast<size_t>(t)] =
                    static_cast<int32_t>(s.visible_end[static_cast<size_t>(t)] -
                                         s.visible_begin[static_cast<size_t>(t)]);
        }
        i += run;
    }

    // Rows (tokens) whose logits are wanted; the last layer computes only those.
    s.out_rows.clear();
    for (int64_t i = 0; i < n; ++i)
        if (entries[static_cast<size_t>(i)].logits) s.out_rows.push_back(i);

    // Embeddings and per-token rope tables.
    const int n_rot = c.rope.n_rot;
    pool.parallel_for(n, rows_per_chunk(E), [&](int64_t i0, int64_t i1, int) {
        for (int64_t i = i0; i < i1; ++i) {
            weight_row(model_->token_embedding(), entries[static_cast<size_t>(i)].token,
                       s.x.data() + i * E);
            rope_cache(c.rope, static_cast<float>(entries[static_cast<size_t>(i)].pos),
                       s.rope.data() + i * n_rot);
        }
    });

    // Multiply-adds of an attention step (scores and weighted values, doubled for the F16
    // keys), the same at every layer until the last one drops the rows without logits.
    auto attention_work_of_tiles = [&] {
        int64_t work = 0;
        for (const auto& [first, count] : s.tiles) {
            const auto last = static_cast<size_t>(first + count - 1);
            work += 2 * count * static_cast<int64_t>(s.visible_end[last] - s.visible_begin[last]) *
                    c.n_head * (hd_k + hd_v);
        }
        return work;
    };
    int64_t attention_work = attention_work_of_tiles();

    const auto& layers = model_->layers();
    for (size_t l = 0; l < layers.size(); ++l) {
        const LayerWeights& L = layers[l];
        const bool last = l + 1 == layers.size();

        // Attention block.
        // Row-wise steps are split across the pool when they are big enough (a prompt): on 2
        // cores a step left to the caller costs twice its time. A few rows (one token, or
        // batched generation of 8 sequences) take less time than a hand-off, and run inline.
        pool.parallel_for(n, rows_per_chunk(E), [&](int64_t i0, int64_t i1, int) {
            for (int64_t i = i0; i < i1; ++i)
                rms_norm(s.x.data() + i * E, L.attn_norm.data(), s.xn.data() + i * E, E, c.rms_eps);
        });
        const MatmulOutput qkv[] = {
            {&L.wq, s.q.data(), q_dim}, {&L.wk, s.k.data(), k_dim}, {&L.wv, s.v.data(), v_dim}};
        matmul(qkv, s.xn.data(), n, pool, kernels);
        add_bias(s.q.data(), n, q_dim, L.bq);
        add_bias(s.k.data(), n, k_dim, L.bk);
        add_bias(s.v.data(), n, v_dim, L.bv);
        pool.parallel_for(
            n, rows_per_chunk(q_dim + k_dim + v_dim), [&](int64_t i0, int64_t i1, int) {
                for (int64_t i = i0; i < i1; ++i) {
                    float* qi = s.q.data() + i * q_dim;
                    float* ki = s.k.data() + i * k_dim;
                    if (!L.q_norm.empty())
                        for (int64_t h = 0; h < c.n_head; ++h)
                            rms_norm(qi + h * hd_k, L.q_norm.data(), qi + h * hd_k, hd_k,
                                     c.rms_eps);
                    if (!L.k_norm.empty())
                        for (int64_t h = 0; h < c.n_head_kv; ++h)
                            rms_norm(ki + h * hd_k, L.k_norm.data(), ki + h * hd_k, hd_k,
                                     c.rms_eps);
                    const float* rc = s.rope.data() + i * n_rot;
                    rope_apply(c.rope, rc, qi, static_cast<int>(c.n_head), static_cast<int>(hd_k));
                    rope_apply(c.rope, rc, ki, static_cast<int>(c.n_head_kv),
                               static_cast<int>(hd_k));
                    // The cache holds F16, as llama.cpp's default cache.
                    const int32_t cell = cells[static_cast<size_t>(i)];
                    for (int64_t g = 0; g < c.n_head_kv; ++g) {
                        kv_.store_key(static_cast<int64_t>(l), g, cell, ki + g * hd_k);
                        fp32_to_fp16_row(s.v.data() + i * v_dim + g * hd_v,
                                         kv_.v(static_cast<int64_t>(l), g, cell), hd_v);
                    }
                }
            });

        if (last && static_cast<int64_t>(s.out_rows.size()) < n) {
            // Only the rows whose logits are wanted go on; their K/V are already stored.
            // Row j <- row out_rows[j] >= j, so moving in increasing order is safe.
            for (size_t j = 0; j < s.out_rows.size(); ++j) {
                const auto i = static_cast<size_t>(s.out_rows[j]);
                std::memmove(s.x.data() + j * E, s.x.data() + i * E, sizeof(float) * E);
                std::memmove(s.q.data() + j * q_dim, s.q.data() + i * q_dim, sizeof(float) * q_dim);
                s.visible_begin[j] = s.visible_begin[i];
                s.visible_end[j] = s.visible_end[i];
            }
            n = static_cast<int64_t>(s.out_rows.size());
            if (n == 0) break;
            // The remaining rows attend one by one.
            s.tiles.clear();
            for (int64_t j = 0; j < n; ++j) s.tiles.emplace_back(j, 1);
            attention_work = attention_work_of_tiles();
        }

        // One task per tile and KV head: the query heads of a group share its K and V rows,
        // and so do the tokens of a tile. A token alone (generation) goes through attend.
        const auto n_tiles = static_cast<int64_t>(s.tiles.size());
        const int64_t tasks = n_tiles * c.n_head_kv;
        pool.parallel_for(
            tasks, attention_work < kMinWorkToSplit ? tasks : 0,
            [&](int64_t t0, int64_t t1, int thread) {
                float* scores = s.scores[static_cast<size_t>(thread)].data();
                for (int64_t t = t0; t < t1; ++t) {
                    const auto [first, count] = s.tiles[static_cast<size_t>(t / c.n_head_kv)];
                    const int64_t g = t % c.n_head_kv, h = g * group;
                    // The tile's last token sees every cell the others see.
                    const auto last = static_cast<size_t>(first + count - 1);
                    const std::span<const int32_t> cells(
                        s.visible.data() + s.visible_begin[last],
                        s.visible_end[last] - s.visible_begin[last]);
                    const float* q = s.q.data() + first * q_dim + h * hd_k;
                    float* out = s.attn.data() + first * attn_dim + h * hd_v;
                    const uint16_t* k = kv_.key_blocks(static_cast<int64_t>(l), g);
                    const uint16_t* v = kv_.v(static_cast<int64_t>(l), g, 0);
                    if (count == 1)
                        attend(q, static_cast<int>(group), k, v, static_cast<size_t>(hd_v), cells,
                               static_cast<int>(hd_k), static_cast<int>(hd_v), attn_scale, scores,
                               out);
                    else
                        attend_tokens(q, static_cast<size_t>(q_dim), count, static_cast<int>(group),
                                      k, v, static_cast<size_t>(hd_v), cells,
                                      std::span<const int32_t>(s.tile_counts.data() + first,
                                                               static_cast<size_t>(count)),
                                      static_cast<int>(hd_k), static_cast<int>(hd_v), attn_scale,
                                      scores, out, static_cast<size_t>(attn_dim));
                }
            });
        matmul(L.wo, s.attn.data(), n, s.proj.data(), E, pool, kernels);
        add_bias(s.proj.data(), n, E, L.bo);

        // Residual, then the feed-forward block.
        pool.parallel_for(n, rows_per_chunk(E), [&](int64_t i0, int64_t i1, int) {
            for (int64_t i = i0; i < i1; ++i) {
                add_inplace(s.x.data() + i * E, s.proj.data() + i * E, E);
                rms_norm(s.x.data() + i * E, L.ffn_norm.data(), s.xn.data() + i * E, E, c.rms_eps);
            }
        });
        const MatmulOutput gate_up[] = {{&L.gate, s.gate.data(), c.n_ff},
                                        {&L.up, s.up.data(), c.n_ff}};
        matmul(gate_up, s.xn.data(), n, pool, kernels);
        // Element-wise, in chunks big enough to be worth a hand-off: with a vectorised exp,
        // one token's few thousand values take less time than waking a thread.
        pool.parallel_for(n * c.n_ff, kValuesPerChunk, [&](int64_t e0, int64_t e1, int) {
            swiglu(s.gate.data() + e0, s.up.data() + e0, e1 - e0);
        });
        matmul(L.down, s.gate.data(), n, s.proj.data(), E, pool, kernels);
        pool.parallel_for(n, rows_per_chunk(E), [&](int64_t i0, int64_t i1, int) {
            add_inplace(s.x.data() + i0 * E, s.proj.data() + i0 * E, (i1 - i0) * E);
        });
    }

    if (s.out_rows.empty()) return;
    for (int64_t j = 0; j < n; ++j)
        rms_norm(s.x.data() + j * E, model_->output_norm().data(), s.xn.data() + j * E, E,
                 c.rms_eps);
    // The logits rows of this pass follow those of earlier passes of the same batch.
    const size_t first_row =
        static_cast<size_t>(output_row_[first_index + static_cast<size_t>(s.out_rows[0])]);
    matmul(model_->output(), s.xn.data(), n, logits_.data() + first_row * c.n_vocab, c.n_vocab,
           pool, kernels);
}

void Context::apply_kv_shift() {
    const ModelConfig& c = model_->config();
    std::vector<float> rc(static_cast<size_t>(c.rope.n_rot));
    std::vector<float> key(static_cast<size_t>(c.head_dim_k));
    for (int64_t cell = 0; cell < kv_.extent(); ++cell) {
        const KvCache::Cell& kc = kv_.cell(cell);
        if (kc.empty() || kc.shift == 0) continue;
        // Rotating by θ(delta) moves a key from position p to p + delta (rotations compose).
        rope_cache(c.rope, static_cast<float>(kc.shift), rc.data());
        for (int64_t l = 0; l < c.n_layer; ++l)
            for (int64_t g = 0; g < c.n_head_kv; ++g) {
                kv_.load_key(l, g, cell, key.data());
                rope_apply(c.rope, rc.data(), key.data(), 1, static_cast<int>(c.head_dim_k));
                kv_.store_key(l, g, cell, key.data());
            }
    }
    kv_.shift_applied();
}

void Context::shift_context(SeqId seq, Pos n_keep, Pos n_discard) {
    if (n_keep < 0 || n_discard <= 0)
        fail("invalid context shift: keep ", n_keep, ", discard ", n_discard);
    kv_.seq_remove(seq, n_keep, n_keep + n_discard);
    kv_.seq_add(seq, n_keep + n_discard, -1, -n_discard);
}

}  // namespace ponder
