// The thread pool: every index visited once, callers serialised, and forward passes that give
// the same logits whatever the number of threads.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "engine/context.h"
#include "engine/model.h"
#include "engine/thread_pool.h"
#include "tests/support.h"

namespace {

using namespace ponder;

TEST(ThreadPool, ParallelForVisitsEveryIndexOnce) {
    for (int threads : {1, 2, 3, 5}) {
        ThreadPool pool(threads);
        EXPECT_EQ(pool.size(), threads);
        for (int64_t n : {0, 1, 2, 7, 100, 1001}) {
            std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
            for (int round = 0; round < 20; ++round) {
                pool.parallel_for(n, [&](int64_t b, int64_t e, int t) {
                    EXPECT_GE(t, 0);
                    EXPECT_LT(t, threads);
                    for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i)];
                });
            }
            for (auto& h : hits) EXPECT_EQ(h.load(), 20);
        }
    }
}

// Matrix products hand out whole groups of rows (a tile of four groups needs its chunk whole):
// every range starts on a chunk boundary and ends on one, or at n.
TEST(ThreadPool, ParallelForHandsOutWholeChunks) {
    for (int threads : {2, 3}) {
        ThreadPool pool(threads);
        for (int64_t grain : {1, 4, 7}) {
            for (int64_t n : {5, 64, 1001}) {
                std::atomic<int64_t> covered{0}, misaligned{0};
                for (int round = 0; round < 20; ++round)
                    pool.parallel_for(n, grain, [&](int64_t b, int64_t e, int) {
                        covered += e - b;
                        if (b % grain != 0 || (e % grain != 0 && e != n)) ++misaligned;
                    });
                EXPECT_EQ(covered.load(), 20 * n);
                EXPECT_EQ(misaligned.load(), 0) << "grain " << grain << ", n " << n;
            }
        }
    }
}

TEST(ThreadPool, RunCallsEachThreadOnce) {
    ThreadPool pool(4);
    std::vector<std::atomic<int>> calls(4);
    for (int i = 0; i < 100; ++i)
        pool.run([&](int t, int n) {
            EXPECT_EQ(n, 4);
            ++calls[static_cast<size_t>(t)];
        });
    for (auto& c : calls) EXPECT_EQ(c.load(), 100);
}

TEST(ThreadPool, ConcurrentCallersAreSerialised) {
    ThreadPool pool(3);
    std::atomic<int> inside{0}, overlap{0}, total{0};
    auto work = [&] {
        for (int i = 0; i < 200; ++i) {
            pool.run([&](int t, int) {
                if (t == 0 && inside.fetch_add(1) != 0) ++overlap;
                ++total;
                if (t == 0) --inside;
            });
        }
    };
    std::thread a(work), b(work);
    a.join();
    b.join();
    EXPECT_EQ(overlap.load(), 0);
    EXPECT_EQ(total.load(), 2 * 200 * 3);
}

TEST(ThreadPool, LogitsDoNotDependOnTheThreadCount) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q4_k_m.gguf");
    Model model = Model::load(ponder::test::shared_dir() / "models/rand-llama-q4_k_m.gguf");
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2, 3}) {
        ContextOptions o;
        o.n_ctx = 32;
        o.n_threads = threads;
        Context ctx(model, o);
        Batch b;
        for (int i = 0; i < 12; ++i) b.add(100 + 37 * i, i, 0, i == 11);
        ctx.decode(b);
        results.emplace_back(ctx.logits(11).begin(), ctx.logits(11).end());
    }
    EXPECT_EQ(results[0], results[1]);
    EXPECT_EQ(results[0], results[2]);
}

TEST(ThreadPool, GlobalPoolCanBeResized) {
    set_global_thread_count(2);
    EXPECT_EQ(global_thread_pool().size(), 2);
    set_global_thread_count(1);
    EXPECT_EQ(global_thread_pool().size(), 1);
    int64_t sum = 0;
    global_thread_pool().parallel_for(10, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; ++i) sum += i;
    });
    EXPECT_EQ(sum, 45);
    set_global_thread_count(0);
    EXPECT_EQ(global_thread_pool().size(), default_thread_count());
}

}  // namespace
