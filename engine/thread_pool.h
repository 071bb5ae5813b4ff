#pragma once
// A fixed set of worker threads that run one parallel job at a time. Threads are created once;
// a job costs no allocation and no thread creation, so the forward pass can split every matrix
// product across cores. The calling thread takes part as thread 0.
//
// The process-wide pool (global_thread_pool) is the only global mutable state in ponder.
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

    // Splits [0, n) into one contiguous range per thread: fn(begin, end, thread_index).
    template <typename Fn>
    void parallel_for(int64_t n, Fn&& fn) {
        if (n <= 0) return;
        if (n_threads_ == 1 || n == 1) {
            fn(int64_t{0}, n, 0);
            return;
        }
        run([&](int thread, int n_threads) {
            const int64_t begin = n * thread / n_threads;
            const int64_t end = n * (thread + 1) / n_threads;
            if (begin < end) fn(begin, end, thread);
        });
    }

  private:
    using RawFn = void (*)(void* ctx, int thread, int n_threads);
    void run_raw(RawFn fn, void* ctx);
    void worker_loop(int index);

    int n_threads_ = 1;
    std::vector<std::thread> workers_;
    std::atomic<bool> busy_{false};        // a job is running (serialises callers)
    std::atomic<uint64_t> generation_{0};  // bumped to start a job
    std::atomic<int> pending_{0};          // workers still running the current job
    std::atomic<bool> stop_{false};
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
