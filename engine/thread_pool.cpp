#include "engine/thread_pool.h"

#include <chrono>
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

// Waiting threads spin this long before sleeping: decode issues many short jobs back to back,
// with a little serial work between them (sampling eight chains of a small model takes tens of
// microseconds), and a futex wake-up costs more than such a job. Not longer: on a busy machine
// spinning threads take time from the ones doing work. Timed rather than counted, as a PAUSE
// takes 10 ns on some cores and 40 on others.
constexpr auto kSpinTime = std::chrono::microseconds(100);

// Spins (PAUSE) until kSpinTime has passed since construction, looking at the clock every few
// rounds; then spin() returns false and the caller sleeps.
class Spin {
  public:
    bool spin() {
        PONDER_PAUSE();
        if (++rounds_ % 16 != 0) return true;
        return std::chrono::steady_clock::now() - start_ < kSpinTime;
    }

  private:
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    unsigned rounds_ = 0;
};

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
    n_threads_ = n_threads > 0 ? n_threads : default_thread_count();
    workers_.reserve(static_cast<size_t>(n_threads_ - 1));
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    stop_.store(true);
    job_word_.fetch_add(2);
    job_word_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::run_raw(RawFn fn, void* ctx, bool every_thread) {
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
    const uint64_t word = (++jobs_ << 1) | (every_thread ? 1 : 0);
    if (every_thread) {
        pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    } else {
        open_job_.store(word, std::memory_order_seq_cst);
    }
    job_word_.store(word, std::memory_order_release);
    job_word_.notify_all();

    fn(ctx, 0, n_threads_);

    if (every_thread) {
        Spin spin;
        while (pending_.load(std::memory_order_acquire) != 0) {
            if (!spin.spin()) {
                const int left = pending_.load(std::memory_order_acquire);
                if (left != 0) pending_.wait(left, std::memory_order_acquire);
            }
        }
    } else {
        // Workers that have not joined by now will see the job closed and skip it; those that
        // joined are finishing their last chunk.
        open_job_.store(0, std::memory_order_seq_cst);
        Spin spin;
        while (active_.load(std::memory_order_seq_cst) != 0) {
            if (!spin.spin()) {
                const int left = active_.load(std::memory_order_seq_cst);
                if (left != 0) active_.wait(left, std::memory_order_seq_cst);
            }
        }
    }
    busy_.store(false, std::memory_order_release);
}

void ThreadPool::worker_loop(int index) {
    // Job 0 is the pool's state at construction: a job submitted before this thread got to
    // run has already changed the word and must still be picked up.
    uint64_t seen = 0;
    for (;;) {
        uint64_t now = job_word_.load(std::memory_order_acquire);
        Spin spin;
        while (now == seen) {
            if (!spin.spin()) job_word_.wait(seen, std::memory_order_acquire);
            now = job_word_.load(std::memory_order_acquire);
        }
        seen = now;
        if (stop_.load(std::memory_order_acquire)) return;
        if (now & 1) {
            // Every-thread jobs wait for this worker, so `now` is still the current job.
            job_fn_(job_ctx_, index, n_threads_);
            if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
        } else {
            // Join only while the caller still has the job open (it checks active_ after
            // closing, so either it waits for us or we see the job closed).
            active_.fetch_add(1, std::memory_order_seq_cst);
            if (open_job_.load(std::memory_order_seq_cst) == now)
                job_fn_(job_ctx_, index, n_threads_);
            if (active_.fetch_sub(1, std::memory_order_seq_cst) == 1) active_.notify_one();
        }
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
