// Packing of integer weights into the row-interleaved layouts (kernels_packed.h), and the
// scalar kernels: the reference every SIMD path must reproduce bit for bit, and the fallback
// where no SIMD path runs.
#include "engine/kernels_packed.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include "engine/error.h"
#include "engine/ggml_type.h"
#include "engine/kernels_pack.h"
#include "engine/quants.h"

namespace ponder::kernels {

std::optional<PackedFormat> packed_format(GgmlType type) {
    switch (type) {
        case GgmlType::Q8_0:
            return PackedFormat::q8_0;
        case GgmlType::Q4_0:
            return PackedFormat::q4_0;
        case GgmlType::Q4_1:
            return PackedFormat::q4_1;
        case GgmlType::Q5_0:
            return PackedFormat::q5_0;
        case GgmlType::Q5_1:
            return PackedFormat::q5_1;
        case GgmlType::Q2_K:
            return PackedFormat::q2_k;
        case GgmlType::Q3_K:
            return PackedFormat::q3_k;
        case GgmlType::Q4_K:
            return PackedFormat::q4_k;
        case GgmlType::Q5_K:
            return PackedFormat::q5_k;
        case GgmlType::Q6_K:
            return PackedFormat::q6_k;
        default:
            return std::nullopt;
    }
}

namespace {

void put_fp16(uint8_t* p, float v) {
    const uint16_t h = fp32_to_fp16(v);
    std::memcpy(p, &h, 2);
}
float get_fp16(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return fp16_to_fp32(h);
}

// Where value k of row i of a block lives in the packed quants.
struct Place {
    size_t byte;
    int chunk;
};
Place place(int i, int k) {
    return {static_cast<size_t>(4 * i + k % 4), k / 4};
}

int get_bits8(const uint8_t* q, int i, int k) {
    const Place p = place(i, k);
    return q[64 * p.chunk + p.byte];
}
int get_nibble(const uint8_t* q, int i, int k) {
    const Place p = place(i, k);
    return (q[64 * (p.chunk / 2) + p.byte] >> (4 * (p.chunk % 2))) & 15;
}
int get_2bit(const uint8_t* q, int i, int k) {
    const Place p = place(i, k);
    return (q[64 * (p.chunk / 4) + p.byte] >> (2 * (p.chunk % 4))) & 3;
}
int get_plane(const uint8_t* q, int i, int k) {
    const Place p = place(i, k);
    return (q[64 * (p.chunk / 8) + p.byte] >> (p.chunk % 8)) & 1;
}

// The unsigned value u of row i, value k of a packed block.
int packed_value(PackedFormat f, const uint8_t* q, int i, int k) {
    switch (f) {
        case PackedFormat::q8_0:
            return get_bits8(q, i, k);
        case PackedFormat::q4_0:
        case PackedFormat::q4_1:
        case PackedFormat::q4_k:
            return get_nibble(q, i, k);
        case PackedFormat::q5_0:
        case PackedFormat::q5_1:
            return get_nibble(q, i, k) | get_plane(q + 256, i, k) << 4;
        case PackedFormat::q5_k:
            return get_nibble(q, i, k) | get_plane(q + 2048, i, k) << 4;
        case PackedFormat::q2_k:
            return get_2bit(q, i, k);
        case PackedFormat::q3_k:
            return get_2bit(q, i, k) | get_plane(q + 1024, i, k) << 2;
        case PackedFormat::q6_k:
            return get_nibble(q, i, k) | get_2bit(q + 2048, i, k) << 4;
    }
    return 0;
}

// Four bytes of values as one word: the packings below work on 4 values (one row's part of a
// chunk vector) at a time.
uint32_t word_at(const uint8_t* u, int chunk) {
    uint32_t w;
    std::memcpy(&w, u + 4 * chunk, 4);
    return w;
}
void store_word(uint8_t* q, int vec, uint32_t w) {
    std::memcpy(q + 64 * vec, &w, 4);
}
// Vector t of nibbles: chunk 2t in the low nibbles, 2t + 1 in the high ones.
void put_nibble_words(const uint8_t* u, int chunks, uint8_t* q) {
    for (int t = 0; t < chunks / 2; ++t)
        store_word(
            q, t, (word_at(u, 2 * t) & 0x0F0F0F0Fu) | ((word_at(u, 2 * t + 1) & 0x0F0F0F0Fu) << 4));
}
// Vector t of two-bit fields: bits 2s of chunk 4t + s, from bit `shift` of each value.
void put_2bit_words(const uint8_t* u, int chunks, int shift, uint8_t* q) {
    for (int t = 0; t < chunks / 4; ++t) {
        uint32_t w = 0;
        for (int s = 0; s < 4; ++s)
            w |= ((word_at(u, 4 * t + s) >> shift) & 0x03030303u) << (2 * s);
        store_word(q, t, w);
    }
}
// Vector t of single bits: bit s of chunk 8t + s, from bit `bit` of each value.
void put_plane_words(const uint8_t* u, int chunks, int bit, uint8_t* q) {
    for (int t = 0; t < chunks / 8; ++t) {
        uint32_t w = 0;
        for (int s = 0; s < 8; ++s) w |= ((word_at(u, 8 * t + s) >> bit) & 0x01010101u) << s;
        store_word(q, t, w);
    }
}

// One row's values of one block (`block` signed values) into the packed quants; `q` points
// at the row's first byte (4 · row) of the block's first vector.
void put_quants(PackedFormat f, const int8_t* values, int block, int offset, uint8_t* q) {
    uint8_t u[256];
    for (int k = 0; k < block; ++k) {
        int v = values[k];
        if (f == PackedFormat::q8_0) v = std::max(v, -127);  // see dot_ss in kernels_x86.inc
        u[k] = static_cast<uint8_t>(v + offset);
    }
    const int chunks = block / 4;
    switch (f) {
        case PackedFormat::q8_0:
            for (int c = 0; c < chunks; ++c) store_word(q, c, word_at(u, c));
            return;
        case PackedFormat::q4_0:
        case PackedFormat::q4_1:
        case PackedFormat::q4_k:
            return put_nibble_words(u, chunks, q);
        case PackedFormat::q5_0:
        case PackedFormat::q5_1:
            put_nibble_words(u, chunks, q);
            return put_plane_words(u, chunks, 4, q + 256);
        case PackedFormat::q5_k:
            put_nibble_words(u, chunks, q);
            return put_plane_words(u, chunks, 4, q + 2048);
        case PackedFormat::q2_k:
            return put_2bit_words(u, chunks, 0, q);
        case PackedFormat::q3_k:
            put_2bit_words(u, chunks, 0, q);
            return put_plane_words(u, chunks, 2, q + 1024);
        case PackedFormat::q6_k:
            put_nibble_words(u, chunks, q);
            return put_2bit_words(u, chunks, 4, q + 2048);
    }
}

}  // namespace

size_t packed_matrix_bytes(PackedFormat f, int64_t rows, int64_t K) {
    const int64_t groups = (rows + kPackRows - 1) / kPackRows;
    return static_cast<size_t>(groups) * group_bytes(f, K / layout(f).block);
}

void pack_group(GgmlType type, const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t K,
                uint8_t* out, PackScratch& s) {
    const PackedFormat f = *packed_format(type);
    const PackedLayout& L = layout(f);
    const int64_t nb = K / L.block, n_groups16 = K / kUnpackGroup;
    const size_t need = static_cast<size_t>(kPackRows * K);
    if (s.q.size() < need) {
        s.q.resize(need);
        s.scale.resize(need / kUnpackGroup);
        s.min.resize(need / kUnpackGroup);
        s.d.resize(static_cast<size_t>(kPackRows * nb));
        s.dmin.resize(static_cast<size_t>(kPackRows * nb));
    }
    if (s.d.size() < static_cast<size_t>(kPackRows * nb)) {
        s.d.resize(static_cast<size_t>(kPackRows * nb));
        s.dmin.resize(static_cast<size_t>(kPackRows * nb));
    }
    // Missing rows of the last group are zeros with zero scales: they add nothing.
    std::fill(s.q.begin(), s.q.begin() + static_cast<std::ptrdiff_t>(need), int8_t{0});
    std::fill(s.scale.begin(), s.scale.begin() + static_cast<std::ptrdiff_t>(need / 16), 0);
    std::fill(s.min.begin(), s.min.begin() + static_cast<std::ptrdiff_t>(need / 16), 0);
    std::fill(s.d.begin(), s.d.begin() + kPackRows * nb, 0.0f);
    std::fill(s.dmin.begin(), s.dmin.begin() + kPackRows * nb, 0.0f);
    const int offset = L.offset;
    const int gpb = L.block / kUnpackGroup;  // groups of 16 per block
    for (int64_t i = 0; i < n_rows; ++i)
        unpack_row_int8(
            type, src + static_cast<size_t>(i) * row_bytes, K,
            {s.q.data() + i * K, s.scale.data() + i * n_groups16, s.min.data() + i * n_groups16,
             s.d.data() + i * nb, s.dmin.data() + i * nb});
    const size_t total = group_bytes(f, nb);
    std::memset(out, 0, total);
    uint8_t* meta_region = out;
    uint8_t* quant_region = out + meta_region_bytes(f, nb);
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t* meta = meta_region + b * L.meta_bytes;
        uint8_t* q = quant_region + b * L.quant_bytes;
        for (int i = 0; i < kPackRows; ++i) {
            put_quants(f, s.q.data() + i * K + b * L.block, L.block, offset, q + 4 * i);
            const size_t rb = static_cast<size_t>(i * nb + b);
            const int16_t* sc = s.scale.data() + i * n_groups16 + b * gpb;
            const int16_t* mn = s.min.data() + i * n_groups16 + b * gpb;
            put_fp16(meta + 2 * i, s.d[rb]);
            switch (f) {
                case PackedFormat::q4_1:
                case PackedFormat::q5_1:
                    put_fp16(meta + 32 + 2 * i, s.dmin[rb]);
                    break;
                case PackedFormat::q2_k:
                    put_fp16(meta + 32 + 2 * i, s.dmin[rb]);
                    for (int g = 0; g < 16; ++g)
                        meta[64 + 32 * (g / 2) + 2 * i + g % 2] =
                            static_cast<uint8_t>(sc[g] | (mn[g] << 4));
                    break;
                case PackedFormat::q3_k:
                case PackedFormat::q6_k:
                    for (int g = 0; g < 16; ++g)
                        meta[32 + 16 * g + i] = static_cast<uint8_t>(static_cast<int8_t>(sc[g]));
                    break;
                case PackedFormat::q4_k:
                case PackedFormat::q5_k:
                    put_fp16(meta + 32 + 2 * i, s.dmin[rb]);
                    // unpack_row_int8 repeats each 32-value group's scale and min for both
                    // halves of 16.
                    for (int j = 0; j < 8; ++j) {
                        meta[64 + 16 * j + i] = static_cast<uint8_t>(sc[2 * j]);
                        meta[192 + 32 * (j / 2) + 2 * i + j % 2] = static_cast<uint8_t>(mn[2 * j]);
                    }
                    break;
                default:
                    break;
            }
        }
    }
}

void unpack_packed_row(PackedFormat f, const uint8_t* group, int64_t K, int row, float* out) {
    const PackedLayout& L = layout(f);
    const int64_t nb = K / L.block;
    const uint8_t* quant_region = group + meta_region_bytes(f, nb);
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* meta = group + b * L.meta_bytes;
        const uint8_t* q = quant_region + b * L.quant_bytes;
        const float d = get_fp16(meta + 2 * row);
        for (int k = 0; k < L.block; ++k) {
            const int v = packed_value(f, q, row, k) - L.offset;
            const int g16 = k / 16;
            float y = 0;
            switch (f) {
                case PackedFormat::q8_0:
                case PackedFormat::q4_0:
                case PackedFormat::q5_0:
                    y = d * static_cast<float>(v);
                    break;
                case PackedFormat::q4_1:
                case PackedFormat::q5_1:
                    y = static_cast<float>(v) * d + get_fp16(meta + 32 + 2 * row);
                    break;
                case PackedFormat::q2_k: {
                    const uint8_t sm = meta[64 + 32 * (g16 / 2) + 2 * row + g16 % 2];
                    y = (d * static_cast<float>(sm & 15)) * static_cast<float>(v) -
                        get_fp16(meta + 32 + 2 * row) * static_cast<float>(sm >> 4);
                    break;
                }
                case PackedFormat::q3_k:
                case PackedFormat::q6_k:
                    y = (d * static_cast<float>(static_cast<int8_t>(meta[32 + 16 * g16 + row]))) *
                        static_cast<float>(v);
                    break;
                case PackedFormat::q4_k:
                case PackedFormat::q5_k: {
                    const int j = k / 32;
                    y = (d * static_cast<float>(meta[64 + 16 * j + row])) * static_cast<float>(v) -
                        get_fp16(meta + 32 + 2 * row) *
                            static_cast<float>(meta[192 + 32 * (j / 2) + 2 * row + j % 2]);
                    break;
                }
            }
            out[b * L.block + k] = y;
        }
    }
}

// ---- Scalar kernels
// ------------------------------------------------------------------------------

namespace {

// One row of a packed group against activation row c: the arithmetic every SIMD path mirrors.
float packed_dot(PackedFormat f, const uint8_t* group, size_t meta_region, int64_t n_blocks,
                 int row, const QuantizedActs& a, int64_t c) {
    const PackedLayout& L = layout(f);
    const int8_t* aq = a.q + c * a.K;
    const int16_t* s16 = a.sum16 + c * (a.K / 16);
    const int16_t* s32 = a.sum32 + c * (a.K / 32);
    const float* ad = a.d + c * (a.K / L.block);
    float acc = 0;
    for (int64_t b = 0; b < n_blocks; ++b) {
        const uint8_t* meta = group + b * L.meta_bytes;
        const uint8_t* q = group + meta_region + b * L.quant_bytes;
        const int8_t* x = aq + b * L.block;
        const float d = get_fp16(meta + 2 * row), da = ad[b];
        // Σ u·a over values [k0, k0 + n) of the block.
        auto sum = [&](int k0, int n) {
            int32_t s = 0;
            for (int k = k0; k < k0 + n; ++k) s += packed_value(f, q, row, k) * x[k];
            return s;
        };
        switch (f) {
            case PackedFormat::q8_0:
            case PackedFormat::q4_0:
            case PackedFormat::q5_0: {
                const int32_t v = sum(0, 32) - L.offset * s32[b];
                acc = std::fma(static_cast<float>(v), d * da, acc);
                break;
            }
            case PackedFormat::q4_1:
            case PackedFormat::q5_1:
                acc = std::fma(static_cast<float>(sum(0, 32)), d * da, acc);
                acc = std::fma(get_fp16(meta + 32 + 2 * row), a.s[c * (a.K / 32) + b], acc);
                break;
            case PackedFormat::q2_k: {
                int32_t isum = 0, msum = 0;
                for (int g = 0; g < 16; ++g) {
                    const uint8_t sm = meta[64 + 32 * (g / 2) + 2 * row + g % 2];
                    isum += (sm & 15) * sum(16 * g, 16);
                    msum += (sm >> 4) * s16[b * 16 + g];
                }
                acc = std::fma(static_cast<float>(isum), d * da, acc);
                acc = std::fma(static_cast<float>(msum), get_fp16(meta + 32 + 2 * row) * -da, acc);
                break;
            }
            case PackedFormat::q3_k:
            case PackedFormat::q6_k: {
                int32_t isum = 0;
                for (int g = 0; g < 16; ++g) {
                    const int sc = static_cast<int8_t>(meta[32 + 16 * g + row]);
                    isum += sc * (sum(16 * g, 16) - L.offset * s16[b * 16 + g]);
                }
                acc = std::fma(static_cast<float>(isum), d * da, acc);
                break;
            }
            case PackedFormat::q4_k:
            case PackedFormat::q5_k: {
                int32_t isum = 0, msum = 0;
                for (int j = 0; j < 8; ++j) {
                    isum += meta[64 + 16 * j + row] * sum(32 * j, 32);
                    msum += meta[192 + 32 * (j / 2) + 2 * row + j % 2] * s32[b * 8 + j];
                }
                acc = std::fma(static_cast<float>(isum), d * da, acc);
                acc = std::fma(static_cast<float>(msum), get_fp16(meta + 32 + 2 * row) * -da, acc);
                break;
            }
        }
    }
    return acc;
}

template <PackedFormat F>
void scalar_packed_gemm(const PackedGemm& g, int64_t g0, int64_t g1) {
    for (int64_t grp = g0; grp < g1; ++grp) {
        const uint8_t* group = g.data + static_cast<size_t>(grp) * g.group_bytes;
        const int64_t rows = std::min<int64_t>(kPackRows, g.rows - grp * kPackRows);
        for (int64_t c = 0; c < g.a.n; ++c)
            for (int i = 0; i < rows; ++i)
                g.y[c * g.ldy + grp * kPackRows + i] =
                    packed_dot(F, group, g.meta_region, g.n_blocks, i, g.a, c);
    }
}

float float_weight(FloatWeights t, const uint8_t* row, int64_t k) {
    switch (t) {
        case FloatWeights::f32: {
            float v;
            std::memcpy(&v, row + 4 * k, 4);
            return v;
        }
        case FloatWeights::f16: {
            uint16_t h;
            std::memcpy(&h, row + 2 * k, 2);
            return fp16_to_fp32(h);
        }
        case FloatWeights::bf16: {
            uint16_t h;
            std::memcpy(&h, row + 2 * k, 2);
            return bf16_to_fp32(h);
        }
    }
    return 0;
}

void scalar_float_gemm(const FloatGemm& g, int64_t r0, int64_t r1) {
    const int64_t K16 = g.K / 16 * 16;
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* row = g.w + static_cast<size_t>(r) * g.row_bytes;
        for (int64_t c = 0; c < g.n; ++c) {
            const float* x = g.x + c * g.K;
            float lane[16] = {};
            for (int64_t k = 0; k < K16; ++k)
                lane[k % 16] = std::fma(float_weight(g.type, row, k), x[k], lane[k % 16]);
            for (int w = 8; w > 0; w /= 2)
                for (int l = 0; l < w; ++l) lane[l] += lane[l + w];
            float total = lane[0];
            for (int64_t k = K16; k < g.K; ++k)
                total = std::fma(float_weight(g.type, row, k), x[k], total);
            g.y[c * g.ldy + r] = total;
        }
    }
}

}  // namespace

const KernelTable* scalar_kernel_table() {
    static constexpr KernelTable kTable = {
        {&scalar_packed_gemm<PackedFormat::q8_0>, &scalar_packed_gemm<PackedFormat::q4_0>,
         &scalar_packed_gemm<PackedFormat::q4_1>, &scalar_packed_gemm<PackedFormat::q5_0>,
         &scalar_packed_gemm<PackedFormat::q5_1>, &scalar_packed_gemm<PackedFormat::q2_k>,
         &scalar_packed_gemm<PackedFormat::q3_k>, &scalar_packed_gemm<PackedFormat::q4_k>,
         &scalar_packed_gemm<PackedFormat::q5_k>, &scalar_packed_gemm<PackedFormat::q6_k>},
        &scalar_float_gemm,
        nullptr,
    };
    return &kTable;
}

}  // namespace ponder::kernels
