#pragma once
// How much memory this process may use, so that a model or a KV cache too large for the machine
// is refused with a clear error up front instead of swapping for hours or being killed midway.
#include <cstdint>
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

// "1.50 GiB", "300.0 MiB", "12 B": sizes for people.
std::string human_bytes(uint64_t bytes);

}  // namespace ponder
