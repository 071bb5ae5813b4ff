#pragma once
// A fixed set of worker threads that run one parallel job at a time. Threads are created once;
// a job costs no allocation and no thread creation, so the forward pass can split every matrix
// product across cores. The calling thread takes part as thread 0.
//
// Idle workers spin briefly before sleeping, so that the many short jobs of a decode step cost
// no system calls. parallel_for hands out chunks as threads arrive, and the caller does not
// wait for a worker that has not started (on a busy machine it may be descheduled for a whole
// time slice): whoever runs does the work.
//
// The process-wide pool (global_thread_pool) is the only global mutable state in ponder.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace ponder {

class ThreadPool {
  public:
    // `n_threads` counts the caller; 0 means one per hardware thread.
    explicit ThreadPool(int n_threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Calls fn(thread_index, n_threads) once on each thread and returns when all have finished.
    // `fn` must not throw. Jobs from different callers are serialised.
    template <typename Fn>
    void run(Fn&& fn) {
        auto invoke = [](void* ctx, int thread, int n) { (*static_cast<Fn*>(ctx))(thread, n); };
        run_raw(invoke, &fn);
    }

    // Covers [0, n) with calls fn(begin, end, thread_index) on ranges of whole chunks of
    // `grain` indices (0: about four chunks per thread). Each thread starts on its own
    // contiguous share (long sequential reads, a counter no other thread touches meanwhile);
    // when its share is done it takes from the others' shares, so one thread may do several
    // shares and a late one none. A thread takes half of what is left of a share at a time, down
    // to one chunk: taking is a locked instruction, which waits for the thread's memory traffic
    // to drain (300-odd cycles after a matrix tile on the 2-core machine, a few times per
    // matrix product), and the last pieces stay small, so threads still finish together.
    template <typename Fn>
    void parallel_for(int64_t n, Fn&& fn) {
        parallel_for(n, 0, fn);
    }
    template <typename Fn>
    void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
        if (n <= 0) return;
        if (grain <= 0) grain = std::max<int64_t>(1, n / (4 * n_threads_));
        if (n_threads_ == 1 || n <= grain) {
            fn(int64_t{0}, n, 0);
            return;
        }
        // Shares in whole chunks; a cache line each, so taking a chunk of one's own share does
        // not disturb the others.
        struct alignas(64) Share {
            std::atomic<int64_t> next;
            int64_t end;
        };
        const int shares = std::min(n_threads_, kMaxShares);
        const int64_t chunks = (n + grain - 1) / grain;
        Share share[kMaxShares];
        for (int t = 0; t < shares; ++t) {
            share[t].next.store(chunks * t / shares * grain, std::memory_order_relaxed);
            share[t].end = std::min(n, chunks * (t + 1) / shares * grain);
        }
        auto body = [&](int thread) {
            for (int i = 0; i < shares; ++i) {
                Share& sh = share[(thread + i) % shares];
                int64_t begin = sh.next.load(std::memory_order_relaxed);
                while (begin < sh.end) {
                    const int64_t left = (sh.end - begin + grain - 1) / grain;
                    const int64_t take = std::max<int64_t>(1, left / 2) * grain;
                    if (!sh.next.compare_exchange_weak(begin, begin + take,
                                                       std::memory_order_relaxed))
                        continue;
                    fn(begin, std::min(sh.end, begin + take), thread);
                    begin = sh.next.load(std::memory_order_relaxed);
                }
            }
        };
        auto invoke = [](void* ctx, int thread, int) {
            (*static_cast<decltype(body)*>(ctx))(thread);
        };
        run_raw(invoke, &body, false);
    }

  private:
    static constexpr int kMaxShares = 16;  // threads beyond this share the shares
    using RawFn = void (*)(void* ctx, int thread, int n_threads);
    // every_thread: fn runs once on each thread and the caller waits for all; otherwise only
    // threads that join before the caller has finished its own part run it.
    void run_raw(RawFn fn, void* ctx, bool every_thread = true);
    void worker_loop(int index);

    int n_threads_ = 1;
    std::vector<std::thread> workers_;
    std::atomic<bool> busy_{false};  // a job is running (serialises callers)
    // Bumped to start a job: (job number << 1) | every_thread.
    std::atomic<uint64_t> job_word_{0};
    std::atomic<uint64_t> open_job_{0};  // job_word_ of the job workers may still join, or 0
    std::atomic<int> active_{0};         // workers inside a job that may be joined
    std::atomic<int> pending_{0};        // workers still to finish an every-thread job
    std::atomic<bool> stop_{false};
    uint64_t jobs_ = 0;
    RawFn job_fn_ = nullptr;
    void* job_ctx_ = nullptr;
};

// The process-wide pool, created on first use with `default_thread_count()` threads.
ThreadPool& global_thread_pool();
// Replaces the global pool by one of `n_threads` (0: default). Call before any work starts,
// e.g. while parsing options; not while another thread uses the pool.
void set_global_thread_count(int n_threads);
// Physical cores as far as the machine tells, else hardware threads; at least 1.
int default_thread_count();

}  // namespace ponder
