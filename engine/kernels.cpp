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
// two threads (one of them perhaps descheduled for a while) balance.
int64_t chunk_units(int64_t total_units, int64_t n_x, int threads) {
    if (threads <= 1) return total_units;
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
    pool.parallel_for(total, chunk_units(total, n_x, pool.size()),
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

void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) {
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
#endif
    for (; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

namespace {

// q · k for an F32 query and an F16 key (16 lanes, as dot_f32).
float dot_f32_f16(const float* q, const uint16_t* k, int n) {
    int i = 0;
    float total = 0;
#if defined(__AVX512F__)
    __m512 acc = _mm512_setzero_ps();
    for (; i + 16 <= n; i += 16)
        acc = _mm512_fmadd_ps(
            _mm512_loadu_ps(q + i),
            _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + i))), acc);
    total = _mm512_reduce_add_ps(acc);
#elif defined(__F16C__) && defined(__FMA__)
    __m256 acc = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(
            _mm256_loadu_ps(q + i),
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i))), acc);
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(acc, 1), _mm256_castps256_ps128(acc));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    total = _mm_cvtss_f32(r);
#endif
    for (; i < n; ++i) total += q[i] * fp16_to_fp32(k[i]);
    return total;
}

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
    for (; i < n; ++i) out[i] += p * fp16_to_fp32(v[i]);
}

// One query head: the reference every path below reproduces bit for bit.
void attend_head(const float* q, const uint16_t* k, size_t k_stride, const uint16_t* v,
                 size_t v_stride, std::span<const int32_t> cells, int head_dim_k, int head_dim_v,
                 float scale, float* scores, float* out) {
    const int64_t n = static_cast<int64_t>(cells.size());
    float q16[kMaxHeadDim];
    round_to_fp16_row(q, q16, head_dim_k);
    for (int64_t j = 0; j < n; ++j)
        scores[j] =
            dot_f32_f16(q16, k + static_cast<size_t>(cells[j]) * k_stride, head_dim_k) * scale;
    softmax(scores, n);
    round_to_fp16_row(scores, scores, n);
    std::fill(out, out + head_dim_v, 0.0f);
    for (int64_t j = 0; j < n; ++j)
        axpy_f16(scores[j], v + static_cast<size_t>(cells[j]) * v_stride, out, head_dim_v);
}

#if defined(__AVX512F__)
// The sums of four vectors, in lanes 0, 4, 8 and 12, each added up in _mm512_reduce_add_ps's
// order (lane i with i+8, then with i+4, i+2, i+1), so that they equal its results bit for bit.
__m512 reduce_add_4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    // [a0 hi + a0 lo, a1 hi + a1 lo] and the same for a2, a3: 8 lanes each.
    const __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(a0, a1, _MM_SHUFFLE(3, 2, 3, 2)),
                                     _mm512_shuffle_f32x4(a0, a1, _MM_SHUFFLE(1, 0, 1, 0)));
    const __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(a2, a3, _MM_SHUFFLE(3, 2, 3, 2)),
                                     _mm512_shuffle_f32x4(a2, a3, _MM_SHUFFLE(1, 0, 1, 0)));
    // Each 128-bit chunk c: the upper four lanes of a_c's eight plus the lower four.
    const __m512 w = _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, _MM_SHUFFLE(3, 1, 3, 1)),
                                   _mm512_shuffle_f32x4(s01, s23, _MM_SHUFFLE(2, 0, 2, 0)));
    const __m512 x = _mm512_add_ps(w, _mm512_permute_ps(w, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm512_add_ps(x, _mm512_permute_ps(x, _MM_SHUFFLE(2, 3, 0, 1)));
}

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

// G query heads that share a KV head, 16·NV values each: every K and V row is loaded and
// converted once for all of them, and the weighted sums stay in registers across the cells.
// Per head, the same operations in the same order as attend_head.
template <int NV, int G>
void attend_heads(const float* q, const uint16_t* k, size_t k_stride, const uint16_t* v,
                  size_t v_stride, std::span<const int32_t> cells, int head_dim_k, float scale,
                  float* scores, float* out) {
    const int64_t n = static_cast<int64_t>(cells.size());
    float q16[G][kMaxHeadDim];
    for (int g = 0; g < G; ++g) round_to_fp16_row(q + g * head_dim_k, q16[g], head_dim_k);
    const __m512 vscale = _mm512_set1_ps(scale);
    int64_t j = 0;
    // Four cells at a time: their dot products are reduced together, which costs a third of
    // four separate reductions.
    for (; j + 4 <= n; j += 4) {
        const uint16_t* rows[4];
        for (int c = 0; c < 4; ++c) rows[c] = k + static_cast<size_t>(cells[j + c]) * k_stride;
        __m512 acc[G][4];
        for (int g = 0; g < G; ++g)
            for (int c = 0; c < 4; ++c) acc[g][c] = _mm512_setzero_ps();
        for (int d = 0; d < head_dim_k; d += 16) {
            __m512 qv[G];
            for (int g = 0; g < G; ++g) qv[g] = _mm512_loadu_ps(q16[g] + d);
            for (int c = 0; c < 4; ++c) {
                const __m512 kv = _mm512_cvtph_ps(
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[c] + d)));
                for (int g = 0; g < G; ++g) acc[g][c] = _mm512_fmadd_ps(qv[g], kv, acc[g][c]);
            }
        }
        for (int g = 0; g < G; ++g)
            _mm512_mask_compressstoreu_ps(
                scores + g * n + j, 0x1111,
                _mm512_mul_ps(reduce_add_4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]), vscale));
    }
    for (; j < n; ++j) {
        const uint16_t* row = k + static_cast<size_t>(cells[j]) * k_stride;
        __m512 acc[G];
        for (int g = 0; g < G; ++g) acc[g] = _mm512_setzero_ps();
        for (int d = 0; d < head_dim_k; d += 16) {
            const __m512 kv =
                _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + d)));
            for (int g = 0; g < G; ++g)
                acc[g] = _mm512_fmadd_ps(_mm512_loadu_ps(q16[g] + d), kv, acc[g]);
        }
        for (int g = 0; g < G; ++g) scores[g * n + j] = _mm512_reduce_add_ps(acc[g]) * scale;
    }
    for (int g = 0; g < G; ++g) {
        softmax(scores + g * n, n);
        round_to_fp16_row(scores + g * n, scores + g * n, n);
    }
    const float* weights[G];
    float* outs[G];
    for (int g = 0; g < G; ++g) {
        weights[g] = scores + g * n;
        outs[g] = out + g * 16 * NV;
    }
    weigh_values<NV, G>(weights, v, v_stride, cells, n, outs);
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

// Transposes 16 rows of 16 floats in registers: afterwards r[j] holds element j of every row.
void transpose_16x16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4g + c], 128-bit lane L: column 4L + c of rows 4g..4g+3.
    __m512 u[16];
    for (int g = 0; g < 4; ++g) {
        const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int c = 0; c < 4; ++c) {
        const __m512 w1 = _mm512_shuffle_f32x4(u[c], u[4 + c], _MM_SHUFFLE(2, 0, 2, 0));
        const __m512 w2 = _mm512_shuffle_f32x4(u[c], u[4 + c], _MM_SHUFFLE(3, 1, 3, 1));
        const __m512 x1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], _MM_SHUFFLE(2, 0, 2, 0));
        const __m512 x2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], _MM_SHUFFLE(3, 1, 3, 1));
        r[c] = _mm512_shuffle_f32x4(w1, x1, _MM_SHUFFLE(2, 0, 2, 0));
        r[8 + c] = _mm512_shuffle_f32x4(w1, x1, _MM_SHUFFLE(3, 1, 3, 1));
        r[4 + c] = _mm512_shuffle_f32x4(w2, x2, _MM_SHUFFLE(2, 0, 2, 0));
        r[12 + c] = _mm512_shuffle_f32x4(w2, x2, _MM_SHUFFLE(3, 1, 3, 1));
    }
}

// Scores of up to 8 queries (F16-rounded, head_dim values each) against 16 keys held
// transposed in kt (kt[16 d + c]: dimension d of key c): out[i][c] = scale · q_i · key_c,
// each lane summing over the dimensions in order.
template <int Q>
void score_block(const float* const* q, const float* kt, int head_dim, float scale,
                 float* const* out) {
    __m512 acc[Q];
    for (int i = 0; i < Q; ++i) acc[i] = _mm512_setzero_ps();
    for (int d = 0; d < head_dim; ++d) {
        const __m512 k = _mm512_load_ps(kt + 16 * d);
        for (int i = 0; i < Q; ++i) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(q[i][d]), k, acc[i]);
    }
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int i = 0; i < Q; ++i) _mm512_storeu_ps(out[i], _mm512_mul_ps(acc[i], vscale));
}

// Head sizes the AVX-512 attention takes: K rows of whole vectors, V rows of 2, 4 or 8 (the
// weighted sums stay in registers).
bool avx512_attends(int head_dim_k, int head_dim_v) {
    return head_dim_k % 16 == 0 && (head_dim_v == 32 || head_dim_v == 64 || head_dim_v == 128);
}

// attend_tokens on AVX-512 (see avx512_attends).
void attend_tokens_avx512(const float* q, size_t q_stride, int n_tokens, int n_heads,
                          const uint16_t* k, size_t k_stride, const uint16_t* v, size_t v_stride,
                          std::span<const int32_t> cells, std::span<const int32_t> counts,
                          int head_dim_k, int head_dim_v, float scale, float* scores, float* out,
                          size_t out_stride) {
    const int n_queries = n_tokens * n_heads;
    const int64_t n = counts[static_cast<size_t>(n_tokens - 1)];
    const int64_t width = (n + 15) / 16 * 16;  // each query's score row, whole blocks
    // The queries rounded to F16, as attend_head does.
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

    // Scores: each block of 16 keys is converted and transposed once for every query.
    alignas(64) float kt[16 * kMaxHeadDim];
    std::vector<float*> block_out(static_cast<size_t>(n_queries));
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
        const int rows = static_cast<int>(std::min<int64_t>(16, n - j0));
        for (int d0 = 0; d0 < head_dim_k; d0 += 16) {
            __m512 r[16];
            for (int c = 0; c < 16; ++c)
                r[c] = c < rows
                           ? _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                                 k + static_cast<size_t>(cells[j0 + c]) * k_stride + d0)))
                           : _mm512_setzero_ps();
            transpose_16x16(r);
            for (int d = 0; d < 16; ++d) _mm512_store_ps(kt + 16 * (d0 + d), r[d]);
        }
        for (int i = 0; i < n_queries; ++i)
            block_out[static_cast<size_t>(i)] = sp[static_cast<size_t>(i)] + j0;
        for (int i = 0; i < n_queries; i += 8) {
            const float* const* qs = qp.data() + i;
            float* const* os = block_out.data() + i;
            with_count<8>(std::min(8, n_queries - i), [&](auto queries) {
                score_block<decltype(queries)::value>(qs, kt, head_dim_k, scale, os);
            });
        }
    }

    // Softmax over each token's own cells; the weights of cells it does not see are zero.
    for (int i = 0; i < n_queries; ++i) {
        const int64_t seen = counts[static_cast<size_t>(i / n_heads)];
        float* row = sp[static_cast<size_t>(i)];
        softmax(row, seen);
        round_to_fp16_row(row, row, seen);
        std::fill(row + seen, row + n, 0.0f);
    }

    // Values: each V row is converted once for a group of queries.
    const int per_group = head_dim_v == 128 ? 3 : 6;
    for (int i = 0; i < n_queries; i += per_group) {
        const int g = std::min(per_group, n_queries - i);
        const float* const* ps = sp.data() + i;
        float* const* os = op.data() + i;
        with_count<6>(g, [&](auto queries) {
            constexpr int G = decltype(queries)::value;
            if (head_dim_v == 32)
                weigh_values<2, G>(ps, v, v_stride, cells, n, os);
            else if (head_dim_v == 64)
                weigh_values<4, G>(ps, v, v_stride, cells, n, os);
            else if constexpr (G <= 3)
                weigh_values<8, G>(ps, v, v_stride, cells, n, os);
        });
    }
}

// Up to kMaxHeads heads of a group at a time; the returned count were done.
template <int NV>
int attend_some_heads(int heads, const float* q, const uint16_t* k, size_t k_stride,
                      const uint16_t* v, size_t v_stride, std::span<const int32_t> cells,
                      int head_dim_k, float scale, float* scores, float* out) {
    // G·NV accumulators must fit the 32 vector registers with room to spare.
    constexpr int kMaxHeads = NV <= 4 ? 4 : 2;
    const int g = std::min(heads, kMaxHeads);
    with_count<kMaxHeads>(g, [&](auto heads_now) {
        attend_heads<NV, decltype(heads_now)::value>(q, k, k_stride, v, v_stride, cells, head_dim_k,
                                                     scale, scores, out);
    });
    return g;
}
#endif

}  // namespace

void attend(const float* q, int n_heads, const uint16_t* k, size_t k_stride, const uint16_t* v,
            size_t v_stride, std::span<const int32_t> cells, int head_dim_k, int head_dim_v,
            float scale, float* scores, float* out) {
    const int64_t n = static_cast<int64_t>(cells.size());
    // As llama.cpp's default (non-flash) attention with its F16 cache: the query is rounded to
    // F16 for the K·q products and the softmax weights are rounded to F16 before weighting V.
    // Matching these roundings keeps logits within ~1e-5 of llama.cpp's.
#if defined(__AVX512F__)
    if (avx512_attends(head_dim_k, head_dim_v)) {
        const auto some = head_dim_v == 32   ? &attend_some_heads<2>
                          : head_dim_v == 64 ? &attend_some_heads<4>
                                             : &attend_some_heads<8>;
        for (int h = 0; h < n_heads;) {
            h += some(n_heads - h, q + h * head_dim_k, k, k_stride, v, v_stride, cells, head_dim_k,
                      scale, scores + h * n, out + h * head_dim_v);
        }
        return;
    }
#endif
    for (int h = 0; h < n_heads; ++h)
        attend_head(q + h * head_dim_k, k, k_stride, v, v_stride, cells, head_dim_k, head_dim_v,
                    scale, scores + h * n, out + h * head_dim_v);
}

void attend_tokens(const float* q, size_t q_stride, int n_tokens, int n_heads, const uint16_t* k,
                   size_t k_stride, const uint16_t* v, size_t v_stride,
                   std::span<const int32_t> cells, std::span<const int32_t> counts, int head_dim_k,
                   int head_dim_v, float scale, float* scores, float* out, size_t out_stride) {
#if defined(__AVX512F__)
    if (avx512_attends(head_dim_k, head_dim_v)) {
        attend_tokens_avx512(q, q_stride, n_tokens, n_heads, k, k_stride, v, v_stride, cells,
                             counts, head_dim_k, head_dim_v, scale, scores, out, out_stride);
        return;
    }
#endif
    for (int t = 0; t < n_tokens; ++t)
        attend(q + t * q_stride, n_heads, k, k_stride, v, v_stride,
               cells.first(static_cast<size_t>(counts[static_cast<size_t>(t)])), head_dim_k,
               head_dim_v, scale, scores, out + t * out_stride);
}

}  // namespace ponder
