#pragma once
// How much memory this process may use, so that a model or a KV cache too large for the machine
// is refused with a clear error up front instead of swapping for hours or being killed midway.
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <string_view>

namespace ponder {

// Physical memory, or the cgroup's memory.max when that is lower (in a container).
uint64_t physical_memory_bytes();

// What a new allocation can still get: the smallest of the kernel's MemAvailable, the cgroup's
// headroom and the address-space limit (ulimit -v) less what is mapped already.
uint64_t available_memory_bytes();

// One core's own cache (L2), where a small model's weights stay between decode steps; 1 MiB
// when the system does not say.
uint64_t core_cache_bytes();

// A std::vector allocator that starts the storage on a cache line. Large blocks from malloc
// start 16 bytes into a page, so rows of 64 bytes would each straddle two lines: every vector
// load of such a row is split, and neighbouring rows written by different threads share a line.
template <class T>
struct CacheLineAllocator {
    using value_type = T;
    static constexpr std::align_val_t kAlign{64};
    CacheLineAllocator() = default;
    template <class U>
    CacheLineAllocator(const CacheLineAllocator<U>&) {}
    T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
    void deallocate(T* p, size_t) { ::operator delete(p, kAlign); }
    template <class U>
    bool operator==(const CacheLineAllocator<U>&) const {
        return true;
    }
};

// "1.50 GiB", "300.0 MiB", "12 B": sizes for people.
std::string human_bytes(uint64_t bytes);

}  // namespace ponder
