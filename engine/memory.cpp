#include "engine/memory.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

namespace ponder {

namespace {

constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

// A number from a one-line file such as the cgroup's memory.max ("max" means no limit).
uint64_t read_limit_file(const char* path) {
    std::ifstream in(path);
    std::string text;
    if (!(in >> text) || text == "max") return kUnlimited;
    try {
        return std::stoull(text);
    } catch (...) {
        return kUnlimited;
    }
}

// A "Name:   N kB" line of /proc/meminfo, in bytes.
uint64_t read_meminfo(std::string_view name) {
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t kib = 0;
    std::string unit;
    while (in >> key >> kib) {
        std::getline(in, unit);
        if (key.size() == name.size() + 1 && key.starts_with(name) && key.back() == ':')
            return kib * 1024;
    }
    return kUnlimited;
}

uint64_t cgroup_limit() {
    return read_limit_file("/sys/fs/cgroup/memory.max");
}

}  // namespace

uint64_t physical_memory_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t physical = pages > 0 && page > 0
                            ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page)
                            : kUnlimited;
    return std::min(physical, cgroup_limit());
}

uint64_t available_memory_bytes() {
    uint64_t available = read_meminfo("MemAvailable");
    if (uint64_t limit = cgroup_limit(); limit != kUnlimited) {
        const uint64_t used = read_limit_file("/sys/fs/cgroup/memory.current");
        available = std::min(available, used == kUnlimited || used >= limit ? 0 : limit - used);
    }
    rlimit as{};
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
        // What is mapped already counts against the limit: /proc/self/statm's first field.
        uint64_t mapped_pages = 0;
        std::ifstream statm("/proc/self/statm");
        statm >> mapped_pages;
        const uint64_t mapped = mapped_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
        available = std::min<uint64_t>(available, as.rlim_cur > mapped ? as.rlim_cur - mapped : 0);
    }
    return available;
}

uint64_t core_cache_bytes() {
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return l2 > 0 ? static_cast<uint64_t>(l2) : uint64_t{1} << 20;
}

std::string human_bytes(uint64_t n) {
    char buf[32];
    if (n >= (uint64_t{1} << 30))
        std::snprintf(buf, sizeof buf, "%.2f GiB", n / double(uint64_t{1} << 30));
    else if (n >= (uint64_t{1} << 20))
        std::snprintf(buf, sizeof buf, "%.1f MiB", n / double(uint64_t{1} << 20));
    else if (n >= (uint64_t{1} << 10))
        std::snprintf(buf, sizeof buf, "%.1f KiB", n / double(uint64_t{1} << 10));
    else
        std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
    return buf;
}

}  // namespace ponder
