#include "engine/kernels.h"

// GCC 12 reports false (maybe-)uninitialized warnings inside its own AVX-512 intrinsic headers
// (GCC bug 105593, fixed in 13); they are not about this code.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numbers>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "engine/error.h"
#include "engine/kernels_pack.h"
#include "engine/kernels_packed.h"
#include "engine/quants.h"
#include "engine/thread_pool.h"

namespace ponder {

using kernels::FloatGemm;
using kernels::FloatWeights;
using kernels::KernelTable;
using kernels::PackedFormat;
using kernels::PackedGemm;
using kernels::QuantizedActs;

// ---- Instruction sets -------------------------------------------------------------------------

namespace {

struct CpuFeatures {
    bool avx2 = false, fma = false, f16c = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
    bool avx512vnni = false, avx512bf16 = false, avx_vnni = false, amx_int8 = false;
};

#if defined(__x86_64__) && defined(__GNUC__)
enum class Register { eax, ebx, ecx, edx };

// One feature bit of CPUID, for the features that not every compiler's __builtin_cpu_supports
// knows by name (clang 14 lacks f16c, avxvnni and amx-int8).
bool cpuid_bit(unsigned leaf, unsigned subleaf, Register reg, int bit) {
    unsigned r[4] = {};
    if (!__get_cpuid_count(leaf, subleaf, &r[0], &r[1], &r[2], &r[3])) return false;
    return (r[static_cast<int>(reg)] >> bit) & 1u;
}
#endif

const CpuFeatures& cpu_features() {
    static const CpuFeatures features = [] {
        CpuFeatures f;
#if defined(__x86_64__) && defined(__GNUC__)
        // __builtin_cpu_supports also checks that the OS saves the wider registers.
        __builtin_cpu_init();
        f.avx2 = __builtin_cpu_supports("avx2");
        f.fma = __builtin_cpu_supports("fma");
        f.f16c = cpuid_bit(1, 0, Register::ecx, 29);
        f.avx512f = __builtin_cpu_supports("avx512f");
        f.avx512bw = __builtin_cpu_supports("avx512bw");
        f.avx512vl = __builtin_cpu_supports("avx512vl");
        f.avx512dq = __builtin_cpu_supports("avx512dq");
        f.avx512vnni = __builtin_cpu_supports("avx512vnni");
        f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
        f.avx_vnni = f.avx2 && cpuid_bit(7, 1, Register::eax, 4);
        f.amx_int8 = cpuid_bit(7, 0, Register::edx, 25);
#endif
        return f;
    }();
    return features;
}

const KernelTable* kernel_table(KernelIsa isa) {
    switch (isa) {
        case KernelIsa::scalar:
            return kernels::scalar_kernel_table();
        case KernelIsa::avx2:
            return kernels::avx2_kernel_table();
        case KernelIsa::avx512:
            return kernels::avx512_kernel_table();
        case KernelIsa::avx512_vnni:
            return kernels::avx512_vnni_kernel_table();
    }
    return nullptr;
}

bool cpu_runs(KernelIsa isa) {
    const CpuFeatures& f = cpu_features();
    const bool avx2 = f.avx2 && f.fma && f.f16c;
    const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
    switch (isa) {
        case KernelIsa::scalar:
            return true;
        case KernelIsa::avx2:
            return avx2;
        case KernelIsa::avx512:
            return avx512;
        case KernelIsa::avx512_vnni:
            return avx512 && f.avx512vnni;
    }
    return false;
}

constexpr KernelIsa kAllIsas[] = {KernelIsa::scalar, KernelIsa::avx2, KernelIsa::avx512,
                                  KernelIsa::avx512_vnni};

}  // namespace

std::string_view kernel_isa_name(KernelIsa isa) {
    switch (isa) {
        case KernelIsa::scalar:
            return "scalar";
        case KernelIsa::avx2:
            return "avx2";
        case KernelIsa::avx512:
            return "avx512";
        case KernelIsa::avx512_vnni:
            return "avx512_vnni";
    }
    return "?";
}

std::optional<KernelIsa> kernel_isa_from_name(std::string_view name) {
    for (KernelIsa isa : kAllIsas)
        if (kernel_isa_name(isa) == name) return isa;
    return std::nullopt;
}

bool kernel_isa_supported(KernelIsa isa) {
    return kernel_table(isa) != nullptr && cpu_runs(isa);
}

std::vector<KernelIsa> supported_kernel_isas() {
    std::vector<KernelIsa> out;
    for (KernelIsa isa : kAllIsas)
        if (kernel_isa_supported(isa)) out.push_back(isa);
    return out;
}

KernelIsa best_kernel_isa() {
    return supported_kernel_isas().back();
}

KernelIsa default_kernel_isa() {
    static const KernelIsa isa = [] {
        if (const char* env = std::getenv("PONDER_KERNELS"); env && *env) {
            auto named = kernel_isa_from_name(env);
            if (named && kernel_isa_supported(*named)) return *named;
        }
        return best_kernel_isa();
    }();
    return isa;
}

std::string cpu_feature_summary() {
    const CpuFeatures& f = cpu_features();
    std::string out;
    auto add = [&](bool on, const char* name) {
        if (!on) return;
        if (!out.empty()) out += ' ';
        out += name;
    };
    add(f.avx2, "avx2");
    add(f.fma, "fma");
    add(f.f16c, "f16c");
    add(f.avx_vnni, "avx_vnni");
    add(f.avx512f, "avx512f");
    add(f.avx512bw, "avx512bw");
    add(f.avx512vl, "avx512vl");
    add(f.avx512vnni, "avx512_vnni");
    add(f.avx512bf16, "avx512_bf16");
    add(f.amx_int8, "amx_int8");
    return out.empty() ? "none" : out;
}

// ---- Packed weights ---------------------------------------------------------------------------

namespace {

// Huge pages for the weights: fewer TLB misses while they stream through, and far fewer page
// faults while packing. Only the 2 MiB-aligned interior of each buffer is advised: rounding
// every matrix up to whole huge pages made resident memory a quarter larger than the file
// (a 4.6 MiB matrix took 6 MiB).
constexpr size_t kHugePage = size_t{2} << 20;

uint8_t* allocate_weights(size_t bytes, size_t& allocated) {
    allocated = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, allocated);
    if (!p) fail("out of memory packing weights (", allocated, " bytes)");
#if defined(MADV_HUGEPAGE)
    const auto begin = reinterpret_cast<uintptr_t>(p);
    const uintptr_t first = (begin + kHugePage - 1) / kHugePage * kHugePage;
    const uintptr_t last = (begin + allocated) / kHugePage * kHugePage;
    if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#endif
    return static_cast<uint8_t*>(p);
}

}  // namespace

std::unique_ptr<PackedWeights> PackedWeights::pack(const WeightMatrix& w, ThreadPool& pool) {
    const auto format = kernels::packed_format(w.type);
    if (!format) return nullptr;
    const int64_t K = w.cols, nb = K / kernels::layout(*format).block;
    const size_t gbytes = kernels::group_bytes(*format, nb);
    const int64_t n_groups = (w.rows + kernels::kPackRows - 1) / kernels::kPackRows;
    std::unique_ptr<PackedWeights> p(new PackedWeights);
    p->type_ = w.type;
    p->bytes_ = gbytes * static_cast<size_t>(n_groups);
    p->data_ = allocate_weights(p->bytes_, p->allocated_);
    pool.parallel_for(n_groups, 8, [&](int64_t g0, int64_t g1, int) {
        kernels::PackScratch scratch;
        for (int64_t g = g0; g < g1; ++g) {
            const int64_t r0 = g * kernels::kPackRows;
            kernels::pack_group(w.type, w.row(r0), w.row_bytes,
                                std::min<int64_t>(kernels::kPackRows, w.rows - r0), K,
                                p->data_ + static_cast<size_t>(g) * gbytes, scratch);
        }
    });
    return p;
}

PackedWeights::~PackedWeights() {
    std::free(data_);
}

// ---- Scratch ----------------------------------------------------------------------------------

namespace {

constexpr int64_t kGroup = 16;  // values per activation group sum

// y[i] = x[i] rounded to the nearest half (in place if y == x).
void round_to_fp16_row(const float* x, float* y, int64_t n) {
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i),
                                                                _MM_FROUND_TO_NEAREST_INT)));
#endif
    for (; i < n; ++i) y[i] = round_to_fp16(x[i]);
}

// How activations are prepared for a weight type (ggml's "vec_dot_type").
enum class ActivationFormat { f32, f16, bf16, q8_blocks32, q8_blocks256 };
constexpr int kActivationFormats = 5;

ActivationFormat activation_format(GgmlType type) {
    switch (type) {
        case GgmlType::F32:
            return ActivationFormat::f32;
        case GgmlType::F16:
            return ActivationFormat::f16;
        case GgmlType::BF16:
            return ActivationFormat::bf16;
        default:
            return kernels::layout(*kernels::packed_format(type)).k_activations
                       ? ActivationFormat::q8_blocks256
                       : ActivationFormat::q8_blocks32;
    }
}

// Activations quantized to int8 with one scale per block of 32 (like Q8_0 / Q8_1) or 256 (like
// Q8_K) values, as ggml quantizes them for the weight type, with the group sums the kernels
// take offsets and mins out with.
struct QuantizedRows {
    std::vector<int8_t> q;
    std::vector<float> d;
    std::vector<int16_t> sum16, sum32;  // |sum| <= 32 · 127 fits
    std::vector<float> s;

    QuantizedActs view(int64_t n, int64_t K) const {
        return {q.data(), d.data(), sum16.data(), sum32.data(), s.data(), n, K};
    }
};

#if defined(__AVX512F__)
// The largest |x| of a block (a multiple of 16 values): max is exact, so any order will do.
float block_amax(const float* x, int64_t n) {
    __m512 m = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
    return _mm512_reduce_max_ps(m);
}
// q[i] = clamp(round(x[i] · id), ±127) for 16 values, returning their sum. The conversion
// rounds to nearest even, as nearbyint does in the default rounding mode.
int32_t quantize_group16(const float* x, float id, int8_t* q) {
    __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x), _mm512_set1_ps(id)));
    v = _mm512_min_epi32(_mm512_max_epi32(v, _mm512_set1_epi32(-127)), _mm512_set1_epi32(127));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(v));
    return _mm512_reduce_add_epi32(v);
}
#else
float block_amax(const float* x, int64_t n) {
    float amax = 0;
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
    return amax;
}
int32_t quantize_group16(const float* x, float id, int8_t* q) {
    int32_t sum = 0;
    for (int i = 0; i < 16; ++i) {
        const int v = static_cast<int>(std::nearbyint(x[i] * id));
        q[i] = static_cast<int8_t>(std::clamp(v, -127, 127));
        sum += q[i];
    }
    return sum;
}
#endif

// One row in `fmt`. `s_out` (Q8_1's scaled block sums, which only Q4_1 / Q5_1 weights read) may
// be null, and then is not computed: it was a third of the row's time.
void quantize_activation_row(const float* x, int64_t n, ActivationFormat fmt, int8_t* q,
                             float* d_out, int16_t* sum16, int16_t* sum32, float* s_out) {
    const int64_t block = fmt == ActivationFormat::q8_blocks32 ? 32 : 256;
    for (int64_t b0 = 0, b = 0; b0 < n; b0 += block, ++b) {
        const float amax = block_amax(x + b0, block);
        // Q8_K needs the signed value of the first element of largest magnitude (a block that
        // holds a NaN may have none: the search stays within the block).
        float max = 0;
        if (fmt != ActivationFormat::q8_blocks32)
            for (int64_t i = b0; i < b0 + block; ++i)
                if (std::fabs(x[i]) == amax) {
                    max = x[i];
                    break;
                }
        float d, id;
        if (fmt == ActivationFormat::q8_blocks32) {
            // Q8_0 / Q8_1: d = amax / 127, stored as F16.
            d = round_to_fp16(amax / 127.0f);
            id = amax != 0 ? 127.0f / amax : 0.0f;
        } else {
            // Q8_K: the value of largest magnitude maps to -127, d kept in F32.
            id = amax != 0 ? -127.0f / max : 0.0f;
            d = amax != 0 ? 1.0f / id : 0.0f;
        }
        for (int64_t g = b0 / kGroup; g < (b0 + block) / kGroup; ++g)
            sum16[g] = static_cast<int16_t>(quantize_group16(x + g * kGroup, id, q + g * kGroup));
        d_out[b] = d;
        for (int64_t j = b0 / 32; j < (b0 + block) / 32; ++j) {
            sum32[j] = static_cast<int16_t>(sum16[2 * j] + sum16[2 * j + 1]);
            // Q8_1's s: d times the block's sum, rounded to F16 (Q4_1 / Q5_1 offsets).
            if (s_out != nullptr) s_out[j] = round_to_fp16(d * static_cast<float>(sum32[j]));
        }
    }
}

}  // namespace

// Per-thread scratch: rows packed on the fly (matrices without a packed copy).
struct ThreadScratch {
    std::vector<uint8_t> group;
    kernels::PackScratch pack;
};

struct KernelScratch::Impl {
    KernelIsa isa = KernelIsa::scalar;
    const KernelTable* table = nullptr;
    kernels::FloatGemmFn bf16_dot = nullptr;
    QuantizedRows quantized[2];     // blocks of 32, blocks of 256
    std::vector<float> rounded[2];  // activations rounded to F16, BF16
    std::vector<ThreadScratch> threads;

    explicit Impl(KernelIsa i) : isa(i), table(kernel_table(i)) {
        if (i >= KernelIsa::avx512 && cpu_features().avx512bf16)
            bf16_dot = kernels::avx512_bf16_dot();
    }
    ThreadScratch& thread(int i) { return threads[static_cast<size_t>(i)]; }
    void ensure_threads(int n) {
        if (threads.size() < static_cast<size_t>(n)) threads.resize(static_cast<size_t>(n));
    }
};

KernelScratch::KernelScratch() : KernelScratch(default_kernel_isa()) {}
KernelScratch::KernelScratch(KernelIsa isa) {
    if (!kernel_isa_supported(isa))
        fail("kernels for ", kernel_isa_name(isa), " are not available on this machine");
    impl_ = std::make_unique<Impl>(isa);
}
KernelScratch::~KernelScratch() = default;
KernelScratch::KernelScratch(KernelScratch&&) noexcept = default;
KernelScratch& KernelScratch::operator=(KernelScratch&&) noexcept = default;
KernelIsa KernelScratch::isa() const {
    return impl_->isa;
}

// ---- Matrix products --------------------------------------------------------------------------

namespace {

template <typename T>
void grow(std::vector<T>& v, size_t n) {
    if (v.size() < n) v.resize(n);
}

// Rows per unit of work for float weights.
constexpr int64_t kFloatUnitRows = 16;

// One output of a multi-matrix product, ready to run.
struct Job {
    const WeightMatrix* w;
    float* y;
    int64_t ldy;
    bool packed_type;  // integer weights (packed, or packed on the fly)
    PackedFormat format;
    QuantizedActs acts;
    const float* x;  // float paths: activations as the weights' precision needs them
    int64_t units;   // row groups
};

void run_units(const Job& job, int64_t u0, int64_t u1, int64_t n_x, KernelScratch::Impl& s,
               int thread) {
    const WeightMatrix& w = *job.w;
    const int64_t K = w.cols;
    if (job.packed_type) {
        const int64_t nb = K / kernels::layout(job.format).block;
        const size_t gbytes = kernels::group_bytes(job.format, nb);
        PackedGemm g{job.format, nullptr, gbytes,   kernels::meta_region_bytes(job.format, nb),
                     w.rows,     nb,      job.acts, job.y,
                     job.ldy};
        const auto fn = s.table->packed[static_cast<int>(job.format)];
        if (w.packed) {
            g.data = w.packed->data();
            fn(g, u0, u1);
            return;
        }
        // Not prepared: pack one group at a time (the same numbers, only slower).
        ThreadScratch& ts = s.thread(thread);
        grow(ts.group, gbytes);
        for (int64_t u = u0; u < u1; ++u) {
            const int64_t r0 = u * kernels::kPackRows;
            const int64_t rows = std::min<int64_t>(kernels::kPackRows, w.rows - r0);
            kernels::pack_group(w.type, w.row(r0), w.row_bytes, rows, K, ts.group.data(), ts.pack);
            g.data = ts.group.data();
            g.rows = rows;
            g.y = job.y + r0;
            fn(g, 0, 1);
        }
        return;
    }
    const FloatWeights type = w.type == GgmlType::F32   ? FloatWeights::f32
                              : w.type == GgmlType::F16 ? FloatWeights::f16
                                                        : FloatWeights::bf16;
    FloatGemm g{type, w.data, w.row_bytes, job.x, n_x, K, job.y, job.ldy};
    const auto fn = type == FloatWeights::bf16 && s.bf16_dot ? s.bf16_dot : s.table->float_gemm;
    fn(g, u0 * kFloatUnitRows, std::min(w.rows, u1 * kFloatUnitRows));
}

// Units per chunk handed to a thread: enough work to amortise taking it, small enough that
// two threads (one of them perhaps descheduled for a while) balance. `work` counts
// multiply-adds, twice for float weights (their kernels take 2.3x as long per multiply-add).
int64_t chunk_units(int64_t total_units, int64_t n_x, int64_t work, int threads) {
    if (threads <= 1 || work < kMinWorkToSplit) return total_units;
    const int64_t per_thread = total_units / threads;
    const int64_t target = n_x >= 16 ? 1 : n_x >= 4 ? 2 : 4;
    return std::clamp<int64_t>(per_thread / 4, 1, target);
}

}  // namespace

bool matmul_supports(GgmlType type) {
    return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16 ||
           kernels::packed_format(type).has_value();
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_x, float* y, int64_t ldy,
            ThreadPool& pool, KernelScratch& scratch) {
    const MatmulOutput out{&w, y, ldy};
    matmul(std::span<const MatmulOutput>(&out, 1), x, n_x, pool, scratch);
}

void matmul(std::span<const MatmulOutput> outputs, const float* x, int64_t n_x, ThreadPool& pool,
            KernelScratch& scratch) {
    if (n_x <= 0 || outputs.empty()) return;
    KernelScratch::Impl& s = scratch.impl();
    const int64_t K = outputs[0].w->cols;
    bool wanted[kActivationFormats] = {};
    bool offsets = false;  // Q4_1 / Q5_1 weights, which need Q8_1's s of the activations
    for (const MatmulOutput& o : outputs) {
        const WeightMatrix& w = *o.w;
        if (!matmul_supports(w.type))
            fail("tensor ", w.name, " has type ", traits(w.type).name,
                 ", which ponder cannot compute with");
        if (w.cols != K) fail("matmul: tensor ", w.name, " has rows of ", w.cols, ", not ", K);
        wanted[static_cast<int>(activation_format(w.type))] = true;
        offsets = offsets || w.type == GgmlType::Q4_1 || w.type == GgmlType::Q5_1;
    }

    // Prepare the activations once per format the weights need.
    const size_t nK = static_cast<size_t>(n_x * K);
    for (int f = 0; f < 2; ++f) {
        const auto fmt = f == 0 ? ActivationFormat::q8_blocks32 : ActivationFormat::q8_blocks256;
        if (!wanted[static_cast<int>(fmt)]) continue;
        const int64_t block = f == 0 ? 32 : 256;
        if (K % block != 0) fail("matmul: rows of ", K, " values are not whole blocks");
        QuantizedRows& a = s.quantized[f];
        grow(a.q, nK);
        grow(a.d, nK / static_cast<size_t>(block));
        grow(a.sum16, nK / 16);
        grow(a.sum32, nK / 32);
        grow(a.s, nK / 32);
        pool.parallel_for(n_x, rows_per_chunk(K), [&](int64_t b0, int64_t b1, int) {
            for (int64_t b = b0; b < b1; ++b)
                quantize_activation_row(x + b * K, K, fmt, a.q.data() + b * K,
                                        a.d.data() + b * (K / block), a.sum16.data() + b * (K / 16),
                                        a.sum32.data() + b * (K / 32),
                                        f == 0 && offsets ? a.s.data() + b * (K / 32) : nullptr);
        });
    }
    // ggml rounds activations to the weights' half type before the dot product.
    for (int f = 0; f < 2; ++f) {
        if (!wanted[static_cast<int>(f == 0 ? ActivationFormat::f16 : ActivationFormat::bf16)])
            continue;
        std::vector<float>& r = s.rounded[f];
        grow(r, nK);
        if (f == 0) {
            round_to_fp16_row(x, r.data(), static_cast<int64_t>(nK));
        } else {
            for (size_t i = 0; i < nK; ++i) r[i] = round_to_bf16(x[i]);
        }
    }

    Job jobs[8];
    if (outputs.size() > std::size(jobs)) fail("matmul: at most 8 outputs share an input");
    int64_t total = 0;
    for (size_t i = 0; i < outputs.size(); ++i) {
        const WeightMatrix& w = *outputs[i].w;
        Job& j = jobs[i];
        j.w = &w;
        j.y = outputs[i].y;
        j.ldy = outputs[i].ldy;
        const auto format = kernels::packed_format(w.type);
        j.packed_type = format.has_value();
        if (j.packed_type) {
            j.format = *format;
            j.acts = s.quantized[kernels::layout(*format).k_activations ? 1 : 0].view(n_x, K);
            j.units = (w.rows + kernels::kPackRows - 1) / kernels::kPackRows;
        } else {
            j.x = w.type == GgmlType::F32   ? x
                  : w.type == GgmlType::F16 ? s.rounded[0].data()
                                            : s.rounded[1].data();
            j.units = (w.rows + kFloatUnitRows - 1) / kFloatUnitRows;
        }
        total += j.units;
    }
    s.ensure_threads(pool.size());
    const size_t n_jobs = outputs.size();
    int64_t work = 0;
    for (const MatmulOutput& o : outputs)
        work += o.w->rows * o.w->cols * n_x * (kernels::packed_format(o.w->type) ? 1 : 2);
    pool.parallel_for(total, chunk_units(total, n_x, work, pool.size()),
                      [&](int64_t u0, int64_t u1, int thread) {
                          int64_t base = 0;
                          for (size_t i = 0; i < n_jobs && u0 < u1; ++i) {
                              const int64_t end = base + jobs[i].units;
                              if (u0 < end) {
                                  const int64_t stop = std::min(u1, end);
                                  run_units(jobs[i], u0 - base, stop - base, n_x, s, thread);
                                  u0 = stop;
                              }
                              base = end;
                          }
                      });
}

void weight_row(const WeightMatrix& w, int64_t r, float* out) {
    // A packed matrix (a tied embedding, packed as the output matrix) is read from its packed
    // copy, the same values bit for bit: the file's pages then stay released, where looking
    // rows up in the file would page in its neighbourhood with every token.
    if (w.packed) {
        const PackedFormat f = *kernels::packed_format(w.type);
        const size_t group = kernels::group_bytes(f, w.cols / kernels::layout(f).block);
        kernels::unpack_packed_row(
            f, w.packed->data() + static_cast<size_t>(r / kernels::kPackRows) * group, w.cols,
            static_cast<int>(r % kernels::kPackRows), out);
        return;
    }
    dequantize_row(w.type, w.row(r), out, w.cols);
}

float dot_f32(const float* a, const float* b, int64_t n) {
    // Several independent accumulators: vectorisable without -ffast-math.
    float acc[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; ++l) acc[l] += a[i + l] * b[i + l];
    float tail = 0;
    for (; i < n; ++i) tail += a[i] * b[i];
    for (int w = 8; w > 0; w /= 2)
        for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
    return acc[0] + tail;
}

void add_inplace(float* y, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps) {
    // The squares are summed in double, as ggml does, in eight running sums: a single sum is a
    // chain of dependent additions (2000-odd cycles for a row of 576, between every two matrix
    // products of a token), and the float result does not notice the order.
    double part[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) part[l] += double(x[i + l]) * x[i + l];
    double sum = 0;
    for (; i < n; ++i) sum += double(x[i]) * x[i];
    for (const double p : part) sum += p;
    const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(n)) + eps);
    if (weight) {
        for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * weight[i];
    } else {
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
    }
}

namespace {

// e^x for the element-wise steps (SiLU, softmax), within 2 ulp of expf over the range that
// matters: a Cody–Waite reduction x = n·ln2 + r and Cephes' degree-5 polynomial for e^r,
// with no branches and no library call so that loops over it vectorise (a call to expf per
// element cost a tenth of prompt processing). ggml, too, uses its own approximation here.
// Inputs are clamped to [-87.3, 88]: e^x stays a normal float, and below the range the
// result (1e-38) is as good as zero for these uses.
struct ExpConstants {
    static constexpr float kMin = -87.3f, kMax = 88.0f;
    static constexpr float kShift = 12582912.0f;  // 1.5 · 2^23: adding it rounds to an integer
    // ln 2 in two parts, the first exact in 10 bits.
    static constexpr float kLn2Hi = -0.693359375f, kLn2Lo = 2.12194440e-4f;
    // The polynomial's coefficients, highest degree first.
    static constexpr float kPoly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                       4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
};

inline float exp_approx(float x) {
    using C = ExpConstants;
    x = x < C::kMin ? C::kMin : x;
    x = x > C::kMax ? C::kMax : x;
    const float t = std::fma(x, std::numbers::log2e_v<float>, C::kShift);
    const float n = t - C::kShift;
    const int32_t ni = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(C::kShift);
    float r = std::fma(n, C::kLn2Hi, x);
    r = std::fma(n, C::kLn2Lo, r);
    float p = C::kPoly[0];
    for (int i = 1; i < 6; ++i) p = std::fma(p, r, C::kPoly[i]);
    const float y = std::fma(p, r * r, r) + 1.0f;
    return y * std::bit_cast<float>((ni + 127) << 23);
}

#if defined(__AVX512F__)
// exp_approx on 16 lanes, one instruction for each of its operations: the same results. (The
// compiler vectorises exp_approx loops with 8 lanes only.)
inline __m512 exp_approx16(__m512 x) {
    using C = ExpConstants;
    // max/min return their second operand when either is NaN, as the scalar compares do.
    x = _mm512_max_ps(_mm512_set1_ps(C::kMin), x);
    x = _mm512_min_ps(_mm512_set1_ps(C::kMax), x);
    const __m512 shift = _mm512_set1_ps(C::kShift);
    const __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(std::numbers::log2e_v<float>), shift);
    const __m512 n = _mm512_sub_ps(t, shift);
    const __m512i ni = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(shift));
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(C::kLn2Hi), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(C::kLn2Lo), r);
    __m512 p = _mm512_set1_ps(C::kPoly[0]);
    for (int i = 1; i < 6; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C::kPoly[i]));
    const __m512 y =
        _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    const __m512i scale = _mm512_slli_epi32(_mm512_add_epi32(ni, _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(scale));
}
#endif

}  // namespace

void swiglu(float* gate, const float* up, int64_t n) {
    int64_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_loadu_ps(gate + i);
        const __m512 minus_g = _mm512_castsi512_ps(
            _mm512_xor_si512(_mm512_castps_si512(g), _mm512_set1_epi32(INT32_MIN)));
        const __m512 e = exp_approx16(minus_g);
        _mm512_storeu_ps(gate + i,
                         _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e)),
                                       _mm512_loadu_ps(up + i)));
    }
#endif
    for (; i < n; ++i) {
        const float g = gate[i];
        gate[i] = g / (1.0f + exp_approx(-g)) * up[i];
    }
}

void softmax(float* x, int64_t n) {
    float max = -INFINITY;
    int64_t i = 0;
#if defined(__AVX512F__)
    // The maximum is exact in any order; the sum is taken as ggml does on AVX-512: each 16
    // values in float, then added in double.
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (; i + 16 <= n; i += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + i));
    max = _mm512_reduce_max_ps(vmax);
#endif
    for (; i < n; ++i) max = std::max(max, x[i]);
    i = 0;
#if defined(__AVX512F__)
    const __m512 vmax_all = _mm512_set1_ps(max);
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, exp_approx16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vmax_all)));
#endif
    for (; i < n; ++i) x[i] = exp_approx(x[i] - max);
    double sum = 0;
    i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16)
        sum += static_cast<double>(_mm512_reduce_add_ps(_mm512_loadu_ps(x + i)));
#endif
    for (; i < n; ++i) sum += x[i];
    const float inv = static_cast<float>(1.0 / sum);
    for (i = 0; i < n; ++i) x[i] *= inv;
}

int64_t next_at_least(const float* x, int64_t begin, int64_t n, float threshold) {
    int64_t i = begin;
#if defined(__AVX512F__)
    const __m512 t = _mm512_set1_ps(threshold);
    for (; i + 16 <= n; i += 16) {
        const __mmask16 hits = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), t, _CMP_GE_OQ);
        if (hits) return i + __builtin_ctz(hits);
    }
#elif defined(__AVX2__)
    const __m256 t = _mm256_set1_ps(threshold);
    for (; i + 8 <= n; i += 8) {
        const int hits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), t, _CMP_GE_OQ));
        if (hits) return i + __builtin_ctz(static_cast<unsigned>(hits));
    }
#endif
    for (; i < n; ++i)
        if (x[i] >= threshold) return i;
    return n;
}

// ---- RoPE --------------------------------------------------------------------------------

namespace {

// The dimension index below which YaRN extrapolates and above which it interpolates.
float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base) {
    return n_dims * std::log(n_ctx_orig / (n_rot * 2 * std::numbers::pi_v<float>)) /
           (2 * std::log(base));
}

}  // namespace

void rope_cache(const RopeParams& p, float pos, float* cache) {
    const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(p.n_rot));
    float corr_lo = 0, corr_hi = 0;
    if (p.ext_factor != 0.0f) {
        corr_lo = std::max(
            0.0f, std::floor(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_fast, p.freq_base)));
        corr_hi =
            std::min(static_cast<float>(p.n_rot - 1),
                     std::ceil(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_slow, p.freq_base)));
    }
    float theta = pos;
    for (int i = 0; i < p.n_rot / 2; ++i) {
        const float factor = p.freq_factors.empty() ? 1.0f : p.freq_factors[static_cast<size_t>(i)];
        const float theta_extrap = theta / factor;
        const float theta_interp = p.freq_scale * theta_extrap;
        float t = theta_interp;
        float mscale = p.attn_factor;
        if (p.ext_factor != 0.0f) {
            const float y = (static_cast<float>(i) - corr_lo) / std::max(0.001f, corr_hi - corr_lo);
            const float ramp = (1.0f - std::min(1.0f, std::max(0.0f, y))) * p.ext_factor;
            t = theta_interp * (1 - ramp) + theta_extrap * ramp;
            mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
        }
        cache[2 * i] = std::cos(t) * mscale;
        cache[2 * i + 1] = std::sin(t) * mscale;
        theta *= theta_scale;
    }
}

void rope_apply(const RopeParams& p, const float* cache, float* x, int n_heads, int head_dim) {
    const int half = p.n_rot / 2;
    for (int h = 0; h < n_heads; ++h) {
        float* v = x + static_cast<size_t>(h) * head_dim;
        if (p.style == RopeStyle::normal) {
            for (int i = 0; i < half; ++i) {
                const float c = cache[2 * i], s = cache[2 * i + 1];
                const float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * c - b * s;
                v[2 * i + 1] = a * s + b * c;
            }
        } else {
            for (int i = 0; i < half; ++i) {
                const float c = cache[2 * i], s = cache[2 * i + 1];
                const float a = v[i], b = v[i + half];
                v[i] = a * c - b * s;
                v[i + half] = a * s + b * c;
            }
        }
    }
}

// ---- Attention -----------------------------------------------------------------------------

void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

namespace {

// out += p · v for an F16 row v.
void axpy_f16(float p, const uint16_t* v, float* out, int n) {
    int i = 0;
#if defined(__F16C__) && defined(__FMA__)
    const __m256 vp = _mm256_set1_ps(p);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(
            out + i,
            _mm256_fmadd_ps(
                vp, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v + i))),
                _mm256_loadu_ps(out + i)));
#endif
    for (; i < n; ++i) out[i] = std::fma(p, fp16_to_fp32(v[i]), out[i]);
}

// Calls fn(std::integral_constant<int, n>{}) for a runtime n in 1..Max: kernels whose
// register tiles are sized by a template argument are picked with it.
template <int Max, typename Fn>
void with_count(int n, Fn&& fn) {
    [&]<int... I>(std::integer_sequence<int, I...>) {
        (void)((n == I + 1 ? (fn(std::integral_constant<int, I + 1>{}), true) : false) || ...);
    }
    (std::make_integer_sequence<int, Max>{});
}

// Scores of Q queries (F16-rounded, head_dim values each) against the 16 cells of each of NB
// key blocks (engine/key_blocks.h): out[i][16 b + c] = scale · Σ_d q_i[d] · K_b[d][c], each
// lane summing over d in order with fused multiply-adds from zero. Every path scores exactly
// so: a score does not depend on the instruction set, on how many queries or blocks share the
// call, or on which block its cell is in. Several blocks at once keep more sums in flight
// (each is a chain of dependent multiply-adds: with 3 queries over one block at a time, a
// token's scores took 27% longer).
template <int Q, int NB>
void score_blocks(const float* const* q, const uint16_t* const* blocks, int head_dim, float scale,
                  float* const* out) {
#if defined(__AVX512F__)
    __m512 acc[NB][Q];
    for (int b = 0; b < NB; ++b)
        for (int i = 0; i < Q; ++i) acc[b][i] = _mm512_setzero_ps();
    for (int d = 0; d < head_dim; ++d)
        for (int b = 0; b < NB; ++b) {
            const __m512 k = _mm512_cvtph_ps(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[b] + kKeyBlock * d)));
            for (int i = 0; i < Q; ++i)
                acc[b][i] = _mm512_fmadd_ps(_mm512_set1_ps(q[i][d]), k, acc[b][i]);
        }
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int b = 0; b < NB; ++b)
        for (int i = 0; i < Q; ++i)
            _mm512_storeu_ps(out[i] + kKeyBlock * b, _mm512_mul_ps(acc[b][i], vscale));
#elif defined(__F16C__) && defined(__FMA__)
    __m256 acc[NB][Q][2];
    for (int b = 0; b < NB; ++b)
        for (int i = 0; i < Q; ++i) acc[b][i][0] = acc[b][i][1] = _mm256_setzero_ps();
    for (int d = 0; d < head_dim; ++d)
        for (int b = 0; b < NB; ++b) {
            const uint16_t* row = blocks[b] + kKeyBlock * d;
            const __m256 k0 =
                _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row)));
            const __m256 k1 =
                _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 8)));
            for (int i = 0; i < Q; ++i) {
                const __m256 qd = _mm256_set1_ps(q[i][d]);
                acc[b][i][0] = _mm256_fmadd_ps(qd, k0, acc[b][i][0]);
                acc[b][i][1] = _mm256_fmadd_ps(qd, k1, acc[b][i][1]);
            }
        }
    const __m256 vscale = _mm256_set1_ps(scale);
    for (int b = 0; b < NB; ++b)
        for (int i = 0; i < Q; ++i) {
            _mm256_storeu_ps(out[i] + kKeyBlock * b, _mm256_mul_ps(acc[b][i][0], vscale));
            _mm256_storeu_ps(out[i] + kKeyBlock * b + 8, _mm256_mul_ps(acc[b][i][1], vscale));
        }
#else
    for (int b = 0; b < NB; ++b) {
        float acc[Q][kKeyBlock] = {};
        for (int d = 0; d < head_dim; ++d)
            for (int c = 0; c < kKeyBlock; ++c) {
                const float k = fp16_to_fp32(blocks[b][kKeyBlock * d + c]);
                for (int i = 0; i < Q; ++i) acc[i][c] = std::fma(q[i][d], k, acc[i][c]);
            }
        for (int i = 0; i < Q; ++i)
            for (int c = 0; c < kKeyBlock; ++c) out[i][kKeyBlock * b + c] = acc[i][c] * scale;
    }
#endif
}

// The 16 listed cells from c[0] are one whole block, in order.
bool whole_block(const int32_t* c) {
    if (c[0] % kKeyBlock != 0) return false;
    for (int i = 1; i < kKeyBlock; ++i)
        if (c[i] != c[0] + i) return false;
    return true;
}

// Scores of Q queries over the listed cells of one head's keys: out[i][j] for cells[j]. Runs of
// listed cells that are whole blocks are scored straight into place, several blocks at a time;
// otherwise the block of the next listed cell is scored aside and the listed cells that follow
// in it are picked out.
template <int Q>
void score_cells(const float* const* q, const uint16_t* k, std::span<const int32_t> cells,
                 int head_dim, float scale, float* const* out) {
    constexpr int kBlocksAtOnce = Q <= 6 ? 4 : 3;  // Q · blocks sums in registers
    const auto n = static_cast<int64_t>(cells.size());
    const size_t block_size = static_cast<size_t>(kKeyBlock) * static_cast<size_t>(head_dim);
    auto keys = [&](int64_t j) {
        return k + static_cast<size_t>(cells[static_cast<size_t>(j)] / kKeyBlock) * block_size;
    };
    alignas(64) float aside[Q][kKeyBlock];
    float* aside_rows[Q];
    float* dst[Q];
    for (int i = 0; i < Q; ++i) aside_rows[i] = aside[i];
    for (int64_t j = 0; j < n;) {
        const uint16_t* blocks[kBlocksAtOnce];
        int whole = 0;
        while (whole < kBlocksAtOnce && j + kKeyBlock * (whole + 1) <= n &&
               whole_block(cells.data() + j + kKeyBlock * whole)) {
            blocks[whole] = keys(j + kKeyBlock * whole);
            ++whole;
        }
        if (whole > 0) {
            for (int i = 0; i < Q; ++i) dst[i] = out[i] + j;
            with_count<kBlocksAtOnce>(whole, [&](auto nb) {
                score_blocks<Q, decltype(nb)::value>(q, blocks, head_dim, scale, dst);
            });
            j += kKeyBlock * whole;
            continue;
        }
        blocks[0] = keys(j);
        score_blocks<Q, 1>(q, blocks, head_dim, scale, aside_rows);
        const int32_t block = cells[static_cast<size_t>(j)] / kKeyBlock;
        for (; j < n && cells[static_cast<size_t>(j)] / kKeyBlock == block; ++j)
            for (int i = 0; i < Q; ++i)
                out[i][j] = aside[i][cells[static_cast<size_t>(j)] % kKeyBlock];
    }
}

// Scores of any number of queries, up to 8 at a time (their accumulators stay in registers).
void score_queries(const float* const* q, int n_queries, const uint16_t* k,
                   std::span<const int32_t> cells, int head_dim, float scale, float* const* out) {
    constexpr int kMaxQueries = 8;
    for (int i = 0; i < n_queries; i += kMaxQueries)
        with_count<kMaxQueries>(std::min(kMaxQueries, n_queries - i), [&](auto queries) {
            score_cells<decltype(queries)::value>(q + i, k, cells, head_dim, scale, out + i);
        });
}

#if defined(__AVX512F__)
// out_i = Σ_j p_i[j] V[cells[j]] for up to G queries over the first n cells, in cell order.
template <int NV, int G>
void weigh_values(const float* const* p, const uint16_t* v, size_t v_stride,
                  std::span<const int32_t> cells, int64_t n, float* const* out) {
    __m512 acc[G][NV];
    for (int g = 0; g < G; ++g)
        for (int r = 0; r < NV; ++r) acc[g][r] = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; ++j) {
        const uint16_t* row = v + static_cast<size_t>(cells[j]) * v_stride;
        for (int r = 0; r < NV; ++r) {
            const __m512 vv =
                _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 16 * r)));
            for (int g = 0; g < G; ++g)
                acc[g][r] = _mm512_fmadd_ps(_mm512_set1_ps(p[g][j]), vv, acc[g][r]);
        }
    }
    for (int g = 0; g < G; ++g)
        for (int r = 0; r < NV; ++r) _mm512_storeu_ps(out[g] + 16 * r, acc[g][r]);
}
#endif

// out_i = Σ_j p_i[j] V[cells[j]] over the first n cells, in cell order, one fused multiply-add
// per value and cell from zero. With AVX-512 and V rows of 2, 4 or 8 vectors, each V row is
// converted once for a group of queries and the sums stay in registers.
void weigh_queries(const float* const* p, int n_queries, const uint16_t* v, size_t v_stride,
                   std::span<const int32_t> cells, int64_t n, int head_dim_v, float* const* out) {
#if defined(__AVX512F__)
    if (head_dim_v == 32 || head_dim_v == 64 || head_dim_v == 128) {
        const int per_group = head_dim_v == 128 ? 3 : 6;  // G · NV accumulators of 32 registers
        for (int i = 0; i < n_queries; i += per_group) {
            with_count<6>(std::min(per_group, n_queries - i), [&](auto queries) {
                constexpr int G = decltype(queries)::value;
                if (head_dim_v == 32)
                    weigh_values<2, G>(p + i, v, v_stride, cells, n, out + i);
                else if (head_dim_v == 64)
                    weigh_values<4, G>(p + i, v, v_stride, cells, n, out + i);
                else if constexpr (G <= 3)
                    weigh_values<8, G>(p + i, v, v_stride, cells, n, out + i);
            });
        }
        return;
    }
#endif
    for (int i = 0; i < n_queries; ++i) {
        std::fill(out[i], out[i] + head_dim_v, 0.0f);
        for (int64_t j = 0; j < n; ++j)
            axpy_f16(p[i][j], v + static_cast<size_t>(cells[static_cast<size_t>(j)]) * v_stride,
                     out[i], head_dim_v);
    }
}

}  // namespace

void attend(const float* q, int n_heads, const uint16_t* k, const uint16_t* v, size_t v_stride,
            std::span<const int32_t> cells, int head_dim_k, int head_dim_v, float scale,
            float* scores, float* out) {
    const int64_t n = static_cast<int64_t>(cells.size());
    // As llama.cpp's default (non-flash) attention with its F16 cache: the query is rounded to
    // F16 for the K·q products and the softmax weights are rounded to F16 before weighting V.
    // Matching these roundings keeps logits within ~1e-5 of llama.cpp's.
    constexpr int kHeadsAtOnce = 8;
    for (int h0 = 0; h0 < n_heads; h0 += kHeadsAtOnce) {
        const int heads = std::min(kHeadsAtOnce, n_heads - h0);
        float q16[kHeadsAtOnce][kMaxHeadDim];
        const float* qs[kHeadsAtOnce];
        float* rows[kHeadsAtOnce];
        float* outs[kHeadsAtOnce];
        for (int i = 0; i < heads; ++i) {
            round_to_fp16_row(q + (h0 + i) * head_dim_k, q16[i], head_dim_k);
            qs[i] = q16[i];
            rows[i] = scores + (h0 + i) * n;
            outs[i] = out + (h0 + i) * head_dim_v;
        }
        score_queries(qs, heads, k, cells, head_dim_k, scale, rows);
        for (int i = 0; i < heads; ++i) {
            softmax(rows[i], n);
            round_to_fp16_row(rows[i], rows[i], n);
        }
        weigh_queries(rows, heads, v, v_stride, cells, n, head_dim_v, outs);
    }
}

void attend_tokens(const float* q, size_t q_stride, int n_tokens, int n_heads, const uint16_t* k,
                   const uint16_t* v, size_t v_stride, std::span<const int32_t> cells,
                   std::span<const int32_t> counts, int head_dim_k, int head_dim_v, float scale,
                   float* scores, float* out, size_t out_stride) {
    const int n_queries = n_tokens * n_heads;
    const int64_t n = counts[static_cast<size_t>(n_tokens - 1)];
    const int64_t width = (n + 15) / 16 * 16;  // each query's score row
    // The queries rounded to F16, as attend does.
    std::vector<float> q16(static_cast<size_t>(n_queries * head_dim_k));
    std::vector<const float*> qp(static_cast<size_t>(n_queries));
    std::vector<float*> sp(static_cast<size_t>(n_queries)), op(static_cast<size_t>(n_queries));
    for (int t = 0; t < n_tokens; ++t)
        for (int h = 0; h < n_heads; ++h) {
            const int i = t * n_heads + h;
            float* dst = q16.data() + static_cast<size_t>(i * head_dim_k);
            round_to_fp16_row(q + t * q_stride + h * head_dim_k, dst, head_dim_k);
            qp[static_cast<size_t>(i)] = dst;
            sp[static_cast<size_t>(i)] = scores + i * width;
            op[static_cast<size_t>(i)] = out + t * out_stride + h * head_dim_v;
        }
    // Every query is scored against all n cells: each block is read once for all of them.
    const std::span<const int32_t> seen_by_last = cells.first(static_cast<size_t>(n));
    score_queries(qp.data(), n_queries, k, seen_by_last, head_dim_k, scale, sp.data());
    // Softmax over each token's own cells; the weights of cells it does not see are zero.
    for (int i = 0; i < n_queries; ++i) {
        const int64_t seen = counts[static_cast<size_t>(i / n_heads)];
        float* row = sp[static_cast<size_t>(i)];
        softmax(row, seen);
        round_to_fp16_row(row, row, seen);
        std::fill(row + seen, row + n, 0.0f);
    }
    weigh_queries(sp.data(), n_queries, v, v_stride, seen_by_last, n, head_dim_v, op.data());
}

}  // namespace ponder
