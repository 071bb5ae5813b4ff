#include "engine/bandwidth.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/error.h"
#include "engine/thread_pool.h"

namespace ponder {

namespace {

// Eight independent sums: loads stream without waiting on one another, and the compiler turns
// the loop into wide vector loads.
uint64_t sum_words(const uint64_t* p, size_t n) {
    uint64_t acc[8] = {};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) acc[l] += p[i + static_cast<size_t>(l)];
    for (; i < n; ++i) acc[0] += p[i];
    uint64_t total = 0;
    for (uint64_t a : acc) total += a;
    return total;
}

// The same over four quarters of the range read in lockstep, a cache line from each in turn. A
// core reads memory faster from several streams at once than from one (the hardware prefetchers
// run ahead on each: ~25% more on the 2-core machine), and the decode kernels read weights so.
uint64_t sum_words_4_streams(const uint64_t* p, size_t n) {
    constexpr size_t kStreams = 4;
    constexpr size_t kStep = 32;  // words: four cache lines
    const size_t per = n / kStreams / kStep * kStep;
    uint64_t acc[kStreams][8] = {};
    for (size_t i = 0; i < per; i += kStep)
        for (size_t s = 0; s < kStreams; ++s)
            for (size_t u = 0; u < kStep; u += 8)
                for (size_t l = 0; l < 8; ++l) acc[s][l] += p[s * per + i + u + l];
    uint64_t total = sum_words(p + kStreams * per, n - kStreams * per);
    for (const auto& a : acc)
        for (uint64_t v : a) total += v;
    return total;
}

}  // namespace

BandwidthResult measure_read_bandwidth(ThreadPool& pool, size_t buffer_bytes, int passes) {
    const size_t words = buffer_bytes / sizeof(uint64_t);
    void* mem = ::mmap(nullptr, words * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) fail("cannot allocate ", buffer_bytes, " bytes to measure bandwidth");
#if defined(MADV_HUGEPAGE)
    ::madvise(mem, words * sizeof(uint64_t), MADV_HUGEPAGE);
#endif
    auto* data = static_cast<uint64_t*>(mem);
    const int n_threads = pool.size();
    // Each thread fills and reads its own slice (first touch places its pages).
    pool.run([&](int t, int n) {
        const size_t b = words * static_cast<size_t>(t) / static_cast<size_t>(n);
        const size_t e = words * static_cast<size_t>(t + 1) / static_cast<size_t>(n);
        for (size_t i = b; i < e; ++i) data[i] = i;
    });
    std::vector<uint64_t> sink(static_cast<size_t>(n_threads));
    BandwidthResult r;
    r.buffer_bytes = words * sizeof(uint64_t);
    r.passes = passes;
    for (int pass = 0; pass < passes; ++pass) {
        const auto start = std::chrono::steady_clock::now();
        pool.run([&](int t, int n) {
            const size_t b = words * static_cast<size_t>(t) / static_cast<size_t>(n);
            const size_t e = words * static_cast<size_t>(t + 1) / static_cast<size_t>(n);
            sink[static_cast<size_t>(t)] += sum_words_4_streams(data + b, e - b);
        });
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (s > 0) r.bytes_per_second = std::max(r.bytes_per_second, r.buffer_bytes / s);
    }
    // Keep the sums observable so the reads are not optimised away.
    volatile uint64_t keep = 0;
    for (uint64_t v : sink) keep = keep + v;
    (void)keep;
    ::munmap(mem, words * sizeof(uint64_t));
    return r;
}

}  // namespace ponder
