#pragma once
// The forward pass. A Context owns a KV cache for a model and runs batches through the
// transformer: embedding lookup, then per layer RMSNorm → q/k/v projections (+bias) →
// optional per-head q/k norm → RoPE → grouped-query attention over the sequence's cells →
// output projection → residual → RMSNorm → SwiGLU FFN → residual; final norm and logits.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "engine/batch.h"
#include "engine/kernels.h"
#include "engine/kv_cache.h"

namespace ponder {

class Model;
class ThreadPool;

// How the threads share a decode step of several sequences that each add one token.
enum class DecodeSplit {
    automatic,  // by sequences when the model's matrices fit in one core's cache, else by rows
    rows,       // every step is split across threads (the rows of each matrix product)
    sequences,  // each thread runs the whole step for its own share of the sequences
};

struct ContextOptions {
    int64_t n_ctx = 0;      // KV cells shared by all sequences; 0: the model's training
                            // context, at most 4096
    int64_t n_batch = 512;  // tokens per forward pass; longer batches are split
    int n_threads = 0;      // 0: use the process-wide pool; otherwise a pool of its own
    // Instruction set of the kernels; default: the best, or $PONDER_KERNELS.
    std::optional<KernelIsa> kernels = std::nullopt;
    DecodeSplit split = DecodeSplit::automatic;
};

class Context {
  public:
    Context(const Model& model, ContextOptions options = {});
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    // Runs one forward pass over every token of the batch and stores the logits of the entries
    // that asked for them. Throws ponder::Error, changing nothing, when an entry is invalid
    // (token out of the vocabulary, sequence id out of range, negative position) or when the
    // KV cache has fewer free cells than the batch has tokens.
    void decode(const Batch& batch);

    // Logits of batch entry `batch_index` of the last decode (which must have asked for them).
    std::span<const float> logits(size_t batch_index) const;
    // Logits in the order the entries asked for them: output_logits(0) is the first entry with
    // `logits` set, and so on.
    size_t n_outputs() const { return output_batch_index_.size(); }
    std::span<const float> output_logits(size_t k) const;

    KvCache& kv_cache() { return kv_; }
    const KvCache& kv_cache() const { return kv_; }
    const Model& model() const { return *model_; }
    int64_t n_ctx() const { return kv_.size(); }
    int64_t n_vocab() const;
    int64_t n_batch() const { return n_batch_; }
    ThreadPool& pool() const;
    KernelIsa kernel_isa() const { return kernel_scratch_.isa(); }
    // How a step of several sequences, one token each, is shared among threads: rows or
    // sequences (what `automatic` chose for this model and machine).
    DecodeSplit batched_split() const;

    // Context shift for one sequence: drops positions [n_keep, n_keep + n_discard) and moves
    // the later ones down by n_discard, re-rotating their keys (as llama.cpp's context shift).
    void shift_context(SeqId seq, Pos n_keep, Pos n_discard);

  private:
    struct Scratch;
    struct Lane;
    void forward(std::span<const BatchEntry> entries, size_t first_index);
    // The layers and logits for placed tokens; `first_index` is the first entry's batch index.
    void run_pass(Scratch& s, KernelScratch& kernels, ThreadPool& pool,
                  std::span<const BatchEntry> entries, std::span<const int32_t> cells,
                  size_t first_index);
    bool split_by_sequence(std::span<const BatchEntry> entries) const;
    void apply_kv_shift();

    const Model* model_;
    int64_t n_batch_;
    std::unique_ptr<ThreadPool> own_pool_;  // when options.n_threads > 0
    DecodeSplit split_;
    bool fits_core_cache_;                     // the matrices fit in one core's cache
    std::unique_ptr<ThreadPool> inline_pool_;  // one thread: a lane's steps run where they are
    KvCache kv_;
    KernelScratch kernel_scratch_;
    std::unique_ptr<Scratch> s_;
    std::vector<Lane> lanes_;  // per thread, when a step is split by sequence
    std::vector<SeqId> place_seqs_;
    std::vector<int32_t> place_cells_;        // KV cell of each token of the pass
    std::vector<float> logits_;               // [n_outputs][n_vocab]
    std::vector<int32_t> output_row_;         // batch index -> row of logits_, or -1
    std::vector<size_t> output_batch_index_;  // row of logits_ -> batch index
};

}  // namespace ponder
