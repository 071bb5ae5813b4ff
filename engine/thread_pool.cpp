#include "engine/thread_pool.h"

#include <memory>
#include <mutex>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PONDER_PAUSE() _mm_pause()
#else
#define PONDER_PAUSE() ((void)0)
#endif

namespace ponder {

namespace {

// Spin this many rounds (tens of microseconds) before sleeping: decode issues many short jobs
// back to back, and a futex wake-up costs more than the job itself for small matrices. Not
// longer: on a busy machine spinning threads take time from the ones doing work.
constexpr int kSpinRounds = 2000;

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
    n_threads_ = n_threads > 0 ? n_threads : default_thread_count();
    workers_.reserve(static_cast<size_t>(n_threads_ - 1));
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    stop_.store(true);
    generation_.fetch_add(1);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::run_raw(RawFn fn, void* ctx) {
    if (n_threads_ == 1) {
        fn(ctx, 0, 1);
        return;
    }
    // One job at a time; a second caller waits its turn.
    bool expected = false;
    while (!busy_.compare_exchange_weak(expected, true, std::memory_order_acquire)) {
        expected = false;
        std::this_thread::yield();
    }
    job_fn_ = fn;
    job_ctx_ = ctx;
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();

    fn(ctx, 0, n_threads_);

    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
        if (spin < kSpinRounds) {
            PONDER_PAUSE();
        } else {
            int left = pending_.load(std::memory_order_acquire);
            if (left != 0) pending_.wait(left, std::memory_order_acquire);
        }
    }
    busy_.store(false, std::memory_order_release);
}

void ThreadPool::worker_loop(int index) {
    // Generation 0 is the pool's state at construction: a job submitted before this thread
    // got to run has already bumped it and must still be picked up.
    uint64_t seen = 0;
    for (;;) {
        uint64_t now = generation_.load(std::memory_order_acquire);
        for (int spin = 0; now == seen; ++spin) {
            if (spin < kSpinRounds) {
                PONDER_PAUSE();
            } else {
                generation_.wait(seen, std::memory_order_acquire);
            }
            now = generation_.load(std::memory_order_acquire);
        }
        seen = now;
        if (stop_.load(std::memory_order_acquire)) return;
        job_fn_(job_ctx_, index, n_threads_);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
}

int default_thread_count() {
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
}

namespace {

std::mutex& pool_mutex() {
    static std::mutex m;
    return m;
}

std::unique_ptr<ThreadPool>& pool_slot() {
    static std::unique_ptr<ThreadPool> pool;
    return pool;
}

}  // namespace

ThreadPool& global_thread_pool() {
    std::lock_guard lock(pool_mutex());
    auto& pool = pool_slot();
    if (!pool) pool = std::make_unique<ThreadPool>(default_thread_count());
    return *pool;
}

void set_global_thread_count(int n_threads) {
    std::lock_guard lock(pool_mutex());
    auto& pool = pool_slot();
    const int want = n_threads > 0 ? n_threads : default_thread_count();
    if (pool && pool->size() == want) return;
    pool.reset();
    pool = std::make_unique<ThreadPool>(want);
}

}  // namespace ponder
