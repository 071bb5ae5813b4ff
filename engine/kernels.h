#pragma once
// The numeric kernels of the forward pass, behind one seam: matrix products against stored
// weights (every weight type), RMSNorm, RoPE, softmax, SwiGLU and attention over KV cells.
// Everything hot lives behind this header: kernels.cpp dispatches at run time to SIMD
// implementations (AVX2, AVX-512, AVX-512 VNNI, built with their own compiler flags even in a
// portable build) or to the scalar reference, which every SIMD path reproduces bit for bit.
//
// Matrix products follow llama.cpp's numerics so that logits agree with it: activations are
// rounded to F16 / BF16 for half-float weights, and quantized to 8 bits (Q8_0 blocks of 32 for
// the legacy formats, Q8_K blocks of 256 for the K formats) for integer weights; products of
// integers are summed exactly, then scaled.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ggml_type.h"
#include "engine/key_blocks.h"

namespace ponder {

class ThreadPool;
class PackedWeights;

// ---- Instruction sets ---------------------------------------------------------------------
// The kernel implementations, in increasing order. Every one gives the same results as
// `scalar` (BF16 weights on CPUs with AVX512_BF16 excepted: those use its dot products).
enum class KernelIsa { scalar, avx2, avx512, avx512_vnni };

std::string_view kernel_isa_name(KernelIsa isa);  // "scalar", "avx2", "avx512", "avx512_vnni"
std::optional<KernelIsa> kernel_isa_from_name(std::string_view name);
// True when this build has the implementation and this CPU (and OS) can run it.
bool kernel_isa_supported(KernelIsa isa);
std::vector<KernelIsa> supported_kernel_isas();  // scalar first
KernelIsa best_kernel_isa();
// What new KernelScratch objects use: $PONDER_KERNELS when it names a supported set (read once),
// else best_kernel_isa(). Tests set PONDER_KERNELS=scalar to run the reference everywhere.
KernelIsa default_kernel_isa();
// The CPU's relevant features, e.g. "avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni".
std::string cpu_feature_summary();

// A weight matrix as stored: `rows` rows of `cols` values (GGUF dims {cols, rows}).
struct WeightMatrix {
    std::string name;
    GgmlType type = GgmlType::F32;
    const uint8_t* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    size_t row_bytes = 0;
    // The rows in the layout the integer kernels read (see PackedWeights), owned by the model;
    // null for float types, or when not prepared (then matmul packs rows on the fly).
    const PackedWeights* packed = nullptr;

    const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
    bool empty() const { return data == nullptr; }
};

// True when matmul() can use weights of this type.
bool matmul_supports(GgmlType type);

// Integer weights (Q4_0 ... Q6_K) re-laid for the kernels: 16 rows interleaved so that one
// vector instruction takes 4 values of 16 rows at once, and one pass over the weights serves
// every activation row of a batch. About the size of the original (the model releases the
// file's pages once packed, so memory use stays that of the file).
class PackedWeights {
  public:
    // Null when `w` has a type that is used as stored. Splits the work over `pool`.
    static std::unique_ptr<PackedWeights> pack(const WeightMatrix& w, ThreadPool& pool);
    ~PackedWeights();
    PackedWeights(const PackedWeights&) = delete;
    PackedWeights& operator=(const PackedWeights&) = delete;

    GgmlType type() const { return type_; }
    size_t bytes() const { return bytes_; }
    const uint8_t* data() const { return data_; }

  private:
    PackedWeights() = default;
    GgmlType type_ = GgmlType::F32;
    uint8_t* data_ = nullptr;
    size_t bytes_ = 0;
    size_t allocated_ = 0;
};

// Scratch memory for the kernels: per-thread buffers grown on demand and then reused, so that
// steady-state decoding allocates nothing. One per Context (not shared between threads that
// run forward passes concurrently). It also fixes the instruction set the kernels use.
class KernelScratch {
  public:
    KernelScratch();
    explicit KernelScratch(KernelIsa isa);  // throws ponder::Error when not supported
    ~KernelScratch();
    KernelScratch(KernelScratch&&) noexcept;
    KernelScratch& operator=(KernelScratch&&) noexcept;

    KernelIsa isa() const;

    struct Impl;
    Impl& impl() { return *impl_; }

  private:
    std::unique_ptr<Impl> impl_;
};

// y[b * ldy + r] = sum_k W[r][k] * x[b * w.cols + k], for r < w.rows and b < n_x.
// Each weight row is read from memory once for all n_x activation rows, and every output is
// computed the same way whatever n_x is (a row of a batch equals that row alone).
void matmul(const WeightMatrix& w, const float* x, int64_t n_x, float* y, int64_t ldy,
            ThreadPool& pool, KernelScratch& scratch);

// Several matrices with the same input (q/k/v, gate/up): the input is prepared once and all
// products run as one parallel job.
struct MatmulOutput {
    const WeightMatrix* w;
    float* y;
    int64_t ldy;
};
void matmul(std::span<const MatmulOutput> outputs, const float* x, int64_t n_x, ThreadPool& pool,
            KernelScratch& scratch);

// Dequantizes row `r` of `w` (e.g. a token embedding) into `out` (w.cols floats).
void weight_row(const WeightMatrix& w, int64_t r, float* out);

// Element-wise work (norms, rope, SwiGLU, quantizing activations) is handed to other threads
// in chunks of at least this many values: a smaller chunk takes less time than the hand-off.
constexpr int64_t kValuesPerChunk = 8192;
// A matrix product or an attention step of less work than this (in multiply-adds; twice for
// float operands, whose kernels take 2.3x as long per multiply-add) runs on the calling thread
// alone. Handing work to another core and collecting it costs about 1.5 us on the 2-core
// machine (the job, its inputs and its results cross between the cores' caches), as long as an
// integer kernel takes for ~40k multiply-adds; splitting less work over 2 threads saves less
// than that. The bundled model's steps are this small: with them inline, one sequence decodes
// 1.5x faster on 2 threads (bench --batch 1: 18-20k -> 27-31k t/s). No matrix product of a real
// model is affected (the smallest, SmolLM2-135M's q/k/v for one token, is 550k).
constexpr int64_t kMinWorkToSplit = 256 * 1024;

// Rows of `width` values per chunk of such a step.
constexpr int64_t rows_per_chunk(int64_t width) {
    return width >= kValuesPerChunk ? 1 : kValuesPerChunk / (width > 0 ? width : 1);
}

// y = x / sqrt(mean(x²) + eps) * weight (weight may be null).
void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps);

// gate[i] = silu(gate[i]) * up[i]
void swiglu(float* gate, const float* up, int64_t n);

// In-place softmax; the sum is taken in double as ggml does.
void softmax(float* x, int64_t n);

float dot_f32(const float* a, const float* b, int64_t n);
void add_inplace(float* y, const float* x, int64_t n);

// The first index i in [begin, n) with x[i] >= threshold (never a NaN), else n. Sampling scans
// a vocabulary of logits with it, 16 at a time.
int64_t next_at_least(const float* x, int64_t begin, int64_t n, float threshold);

// ---- RoPE --------------------------------------------------------------------------------
enum class RopeStyle {
    normal,  // rotates adjacent pairs (x[2i], x[2i+1]) — GGML_ROPE_TYPE_NORM (llama)
    neox,    // rotates (x[i], x[i + n_rot/2]) — GGML_ROPE_TYPE_NEOX (qwen2/3, HF weights)
};

struct RopeParams {
    RopeStyle style = RopeStyle::normal;
    int n_rot = 0;  // rotated dimensions per head (even, <= head_dim)
    float freq_base = 10000.0f;
    float freq_scale = 1.0f;   // 1 / linear scaling factor
    float ext_factor = 0.0f;   // YaRN extrapolation mix (0: off)
    float attn_factor = 1.0f;  // magnitude scale
    float beta_fast = 32.0f, beta_slow = 1.0f;
    int n_ctx_orig = 0;               // training context, for YaRN's correction dims
    std::vector<float> freq_factors;  // per rotated pair (llama 3 rope_freqs), or empty
};

// cos/sin pairs for one position: cache[2i] = cos θ_i, cache[2i+1] = sin θ_i, i < n_rot/2,
// computed as ggml does (θ_i = pos · base^(-2i/n_rot), by repeated multiplication).
void rope_cache(const RopeParams& p, float pos, float* cache);
// Rotates the first n_rot dimensions of each of `n_heads` vectors of `head_dim` values.
void rope_apply(const RopeParams& p, const float* cache, float* x, int n_heads, int head_dim);

// ---- Attention -----------------------------------------------------------------------------
constexpr int kMaxHeadDim = 512;
// `n_heads` query heads that share one KV head (consecutive in q and in out) against the KV
// cells listed in `cells`, whose keys and values are F16 (as in llama.cpp's default cache):
// per head, scores = q·K[c] * scale, softmax, out = Σ p_c V[c]. Keys are one head's transposed
// blocks of 16 cells from k (engine/key_blocks.h); V rows start at v + c * v_stride. `scores`
// holds n_heads * cells.size() floats. A score sums over the dimensions in order, so each
// head's result is the same whatever n_heads is and whatever blocks its cells are in.
void attend(const float* q, int n_heads, const uint16_t* k, const uint16_t* v, size_t v_stride,
            std::span<const int32_t> cells, int head_dim_k, int head_dim_v, float scale,
            float* scores, float* out);

// Several consecutive prompt tokens of one sequence, each with `n_heads` query heads sharing
// one KV head (token t's heads at q + t·q_stride, its output at out + t·out_stride): token t
// attends to the first counts[t] of `cells` (nondecreasing: each token sees what the one before
// it sees, and its own cell). Each key block is read once for all the queries, and each token's
// result equals attend's for it. `scores` holds
// n_tokens · n_heads · (counts.back() rounded up to 16) floats.
void attend_tokens(const float* q, size_t q_stride, int n_tokens, int n_heads, const uint16_t* k,
                   const uint16_t* v, size_t v_stride, std::span<const int32_t> cells,
                   std::span<const int32_t> counts, int head_dim_k, int head_dim_v, float scale,
                   float* scores, float* out, size_t out_stride);

// A row of floats to F16 bits (round to nearest even).
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n);

}  // namespace ponder
