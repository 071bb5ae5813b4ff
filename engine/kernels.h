#pragma once
// The numeric kernels of the forward pass, behind one seam: matrix products against stored
// weights (every weight type), RMSNorm, RoPE, softmax, SwiGLU and attention over KV cells.
// Everything hot lives in kernels.cpp, so a SIMD pass can replace implementations without
// touching the forward pass.
//
// Matrix products follow llama.cpp's numerics so that logits agree with it: activations are
// rounded to F16 / BF16 for half-float weights, and quantized to 8 bits (Q8_0 blocks of 32 for
// the legacy formats, Q8_K blocks of 256 for the K formats) for integer weights; products of
// integers are summed exactly, then scaled.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/ggml_type.h"

namespace ponder {

class ThreadPool;

// A weight matrix as stored: `rows` rows of `cols` values (GGUF dims {cols, rows}).
struct WeightMatrix {
    std::string name;
    GgmlType type = GgmlType::F32;
    const uint8_t* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    size_t row_bytes = 0;

    const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
    bool empty() const { return data == nullptr; }
};

// True when matmul() can use weights of this type.
bool matmul_supports(GgmlType type);

// Scratch memory for the kernels: per-thread buffers grown on demand and then reused, so that
// steady-state decoding allocates nothing. One per Context (not shared between threads that
// run forward passes concurrently).
class KernelScratch {
  public:
    KernelScratch();
    ~KernelScratch();
    KernelScratch(KernelScratch&&) noexcept;
    KernelScratch& operator=(KernelScratch&&) noexcept;

    struct Impl;
    Impl& impl() { return *impl_; }

  private:
    std::unique_ptr<Impl> impl_;
};

// y[b * ldy + r] = sum_k W[r][k] * x[b * w.cols + k], for r < w.rows and b < n_x.
// Each weight row is read from memory once for all n_x activation rows.
void matmul(const WeightMatrix& w, const float* x, int64_t n_x, float* y, int64_t ldy,
            ThreadPool& pool, KernelScratch& scratch);

// Dequantizes row `r` of `w` (e.g. a token embedding) into `out` (w.cols floats).
void weight_row(const WeightMatrix& w, int64_t r, float* out);

// y = x / sqrt(mean(x²) + eps) * weight (weight may be null).
void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps);

// gate[i] = silu(gate[i]) * up[i]
void swiglu(float* gate, const float* up, int64_t n);

// In-place softmax; the sum is taken in double as ggml does.
void softmax(float* x, int64_t n);

float dot_f32(const float* a, const float* b, int64_t n);
void add_inplace(float* y, const float* x, int64_t n);

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
// One query head against the KV cells listed in `cells`, whose keys and values are F16 (as in
// llama.cpp's default cache): scores = q·K[c] * scale, softmax, out = Σ p_c V[c]. K rows start
// at k + c * k_stride (likewise V). `scores` holds cells.size() floats.
void attend(const float* q, const uint16_t* k, size_t k_stride, const uint16_t* v, size_t v_stride,
            std::span<const int32_t> cells, int head_dim_k, int head_dim_v, float scale,
            float* scores, float* out);

// Rows of F16 bits from / to floats (round to nearest even).
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n);
void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n);

}  // namespace ponder
