#pragma once
// Memory read bandwidth as the decode kernels see it: every thread of a pool streaming through
// its share of a buffer, four places at once. Decoding one token reads every weight once, so the
// rate of reading a buffer the size of the weights, divided by their bytes, is an upper bound on
// tokens per second (a buffer much larger than the caches gives main memory's rate).
#include <cstddef>

namespace ponder {

class ThreadPool;

struct BandwidthResult {
    double bytes_per_second = 0;  // best pass
    size_t buffer_bytes = 0;
    int passes = 0;
};

// Reads a `buffer_bytes` buffer `passes` times with all threads of `pool`; reports the best.
BandwidthResult measure_read_bandwidth(ThreadPool& pool, size_t buffer_bytes = size_t{512} << 20,
                                       int passes = 5);

}  // namespace ponder
