// `ponder bench --model F [-p 128] [-n 64] [--batch 1,4,8] [-t N] [-r REPS] [--json]`: how fast
// the engine runs a model on this machine, measured like llama.cpp's llama-bench (pp: a prompt
// of p random tokens in one batch; tg: n tokens decoded one at a time from an empty cache) and
// batched-bench (N sequences sharing a p-token prompt, each advanced n tokens, one batch per
// step), with load time, memory use and the memory-bandwidth bound on generation.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "engine/bandwidth.h"
#include "engine/context.h"
#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/kernels.h"
#include "engine/memory.h"
#include "engine/model.h"
#include "engine/thread_pool.h"

namespace ponder::cli {

namespace {

struct BenchOptions {
    std::string model;
    int prompt = 128;
    int generate = 64;
    std::string batches = "1,4,8";
    int threads = 0;
    int reps = 3;
    bool json = false;
    std::string kernels;
    DecodeSplit split = DecodeSplit::automatic;
    bool bandwidth = true;
};

struct Stats {
    double mean = 0, stddev = 0;
    std::vector<double> values;
};

Stats stats(std::vector<double> v) {
    Stats s;
    s.values = v;
    if (v.empty()) return s;
    s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    if (v.size() > 1) {
        double sq = 0;
        for (double x : v) sq += (x - s.mean) * (x - s.mean);
        s.stddev = std::sqrt(sq / static_cast<double>(v.size() - 1));
    }
    return s;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A field of /proc/self/status in bytes (VmRSS, VmHWM), or 0.
uint64_t status_bytes(const std::string& field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0) {
            std::istringstream ss(line.substr(field.size() + 1));
            uint64_t kb = 0;
            ss >> kb;
            return kb * 1024;
        }
    }
    return 0;
}

std::string load_average() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return a.empty() ? "?" : a + " " + b + " " + c;
}

std::vector<int> parse_batches(const std::string& list) {
    std::vector<int> out;
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ',')) {
        try {
            size_t used = 0;
            const int v = std::stoi(item, &used);
            if (used != item.size() || v < 1 || v > KvCache::kMaxSequences) throw std::exception();
            out.push_back(v);
        } catch (const std::exception&) {
            fail("--batch: '", item, "' is not a number of sequences (1..", KvCache::kMaxSequences,
                 ")");
        }
    }
    if (out.empty()) fail("--batch: no batch sizes");
    return out;
}

std::string type_summary(const Model& m) {
    std::map<std::string, uint64_t> by_type;
    auto add = [&](const WeightMatrix& w) {
        by_type[std::string(traits(w.type).name)] += w.row_bytes * static_cast<uint64_t>(w.rows);
    };
    add(m.output());
    for (const LayerWeights& L : m.layers())
        for (const WeightMatrix* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down}) add(*w);
    std::vector<std::pair<uint64_t, std::string>> order;
    uint64_t total = 0;
    for (const auto& [name, b] : by_type) order.emplace_back(b, name), total += b;
    std::sort(order.rbegin(), order.rend());
    std::string out;
    for (const auto& [b, name] : order) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s%s %.0f%%", out.empty() ? "" : ", ", name.c_str(),
                      100.0 * static_cast<double>(b) / static_cast<double>(total));
        out += buf;
    }
    return out;
}

class Bench {
  public:
    Bench(const Model& model, const BenchOptions& opt, int max_batch) : model_(model), rng_(1234) {
        ContextOptions copt;
        copt.n_ctx = opt.prompt + static_cast<int64_t>(max_batch) * opt.generate + 16;
        copt.n_batch = std::max<int64_t>({opt.prompt, max_batch, 1});
        if (!opt.kernels.empty()) {
            auto isa = kernel_isa_from_name(opt.kernels);
            if (!isa) fail("--kernels: unknown instruction set '", opt.kernels, "'");
            copt.kernels = *isa;
        }
        copt.split = opt.split;
        ctx_ = std::make_unique<Context>(model, copt);
    }

    Context& ctx() { return *ctx_; }

    TokenId random_token() {
        return static_cast<TokenId>(rng_() % static_cast<uint64_t>(model_.config().n_vocab));
    }

    // Seconds to process a prompt of n tokens (logits of the last only), from an empty cache.
    double prompt(int n) {
        ctx_->kv_cache().clear();
        Batch b(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) b.add(random_token(), i, 0, i + 1 == n);
        const auto start = std::chrono::steady_clock::now();
        ctx_->decode(b);
        return seconds_since(start);
    }

    // Seconds to decode n tokens one at a time from an empty cache.
    double generate(int n) {
        ctx_->kv_cache().clear();
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < n; ++i) {
            Batch b(1);
            b.add(random_token(), i, 0, true);
            ctx_->decode(b);
        }
        return seconds_since(start);
    }

    // Seconds for `seqs` sequences sharing a prompt of p tokens to advance n tokens each.
    double batched(int seqs, int p, int n) {
        ctx_->kv_cache().clear();
        Batch prompt(static_cast<size_t>(p));
        for (int i = 0; i < p; ++i) prompt.add(random_token(), i, 0, i + 1 == p);
        ctx_->decode(prompt);
        for (int s = 1; s < seqs; ++s) ctx_->kv_cache().seq_copy(0, s);
        const auto start = std::chrono::steady_clock::now();
        for (int t = 0; t < n; ++t) {
            Batch b(static_cast<size_t>(seqs));
            for (int s = 0; s < seqs; ++s) b.add(random_token(), p + t, s, true);
            ctx_->decode(b);
        }
        return seconds_since(start);
    }

  private:
    const Model& model_;
    std::mt19937_64 rng_;
    std::unique_ptr<Context> ctx_;
};

int run_bench(const BenchOptions& opt) {
    if (opt.prompt < 1 || opt.generate < 1) fail("-p and -n must be positive");
    if (opt.reps < 1) fail("-r must be positive");
    const std::vector<int> batches = parse_batches(opt.batches);
    if (opt.threads > 0) set_global_thread_count(opt.threads);
    ThreadPool& pool = global_thread_pool();
    const std::string load_before = load_average();

    const auto load_start = std::chrono::steady_clock::now();
    Model model = Model::load(opt.model);
    const double load_wall = seconds_since(load_start);
    const uint64_t rss_loaded = status_bytes("VmRSS");
    const uint64_t file_bytes = model.gguf() ? model.gguf()->file_size() : 0;

    const int max_batch = *std::max_element(batches.begin(), batches.end());
    Bench bench(model, opt, max_batch);
    const KvCache& kv = bench.ctx().kv_cache();
    const uint64_t kv_bytes = kv.bytes();

    // Warm-up (first touches of scratch buffers, caches, CPU frequency), batched steps of the
    // largest batch included: their buffers would otherwise be grown inside the first round.
    bench.prompt(std::min(opt.prompt, 32));
    bench.generate(std::min(opt.generate, 4));
    bench.batched(max_batch, std::min(opt.prompt, 32), std::min(opt.generate, 4));

    std::vector<double> pp, tg;
    for (int r = 0; r < opt.reps; ++r) pp.push_back(opt.prompt / bench.prompt(opt.prompt));
    for (int r = 0; r < opt.reps; ++r) tg.push_back(opt.generate / bench.generate(opt.generate));
    const Stats pp_s = stats(pp), tg_s = stats(tg);

    struct BatchRow {
        int seqs;
        Stats total_tps;
        Stats wall;
        Stats wall_vs_one;  // per round: this row's wall time over one sequence's
    };
    // Rounds of every batch size in turn, so that the sizes compare under the same conditions
    // (on a machine shared with other tenants, throughput drifts by tens of percent over
    // seconds, and a ratio of two runs taken apart drifts with it).
    std::vector<std::vector<double>> walls(batches.size());
    for (int r = 0; r < opt.reps; ++r)
        for (size_t i = 0; i < batches.size(); ++i)
            walls[i].push_back(bench.batched(batches[i], opt.prompt, opt.generate));
    const auto one = std::find(batches.begin(), batches.end(), 1);
    const std::vector<double>* one_walls =
        one == batches.end() ? nullptr : &walls[static_cast<size_t>(one - batches.begin())];
    std::vector<BatchRow> batch_rows;
    for (size_t i = 0; i < batches.size(); ++i) {
        std::vector<double> tps, ratio;
        for (size_t r = 0; r < walls[i].size(); ++r) {
            tps.push_back(static_cast<double>(batches[i]) * opt.generate / walls[i][r]);
            if (one_walls) ratio.push_back(walls[i][r] / (*one_walls)[r]);
        }
        batch_rows.push_back({batches[i], stats(tps), stats(walls[i]), stats(ratio)});
    }

    const uint64_t rss_peak = status_bytes("VmHWM");
    const uint64_t weights_per_token = model.matrix_bytes();
    // The bound is the rate at which this machine reads a working set the size of the weights:
    // one that fits the last-level cache (small models on a server's large shared cache) reads
    // faster than main memory, and a bound taken over a larger buffer would not bound it. Main
    // memory's rate (a buffer beyond the caches) is reported beside it.
    constexpr size_t kMemoryBufferBytes = size_t{512} << 20;
    BandwidthResult bw, bw_memory;
    if (opt.bandwidth) {
        // A small buffer reads in microseconds: 8 GiB in all (at least 5 passes, so 60 ms or
        // more), so that the best pass comes after the scheduler has spread the pool's threads
        // over the cores (a worker woken after a pause may share the caller's core for a few
        // milliseconds: a 1 MiB buffer then read at 16-22 GB/s instead of 130-160).
        const size_t buffer = std::max<size_t>(weights_per_token, size_t{1} << 20);
        const auto passes =
            static_cast<int>(std::clamp<size_t>((size_t{8} << 30) / buffer, 5, 10000));
        bw = measure_read_bandwidth(pool, buffer, passes);
        bw_memory = bw.buffer_bytes >= kMemoryBufferBytes
                        ? bw
                        : measure_read_bandwidth(pool, kMemoryBufferBytes);
    }
    const double bound_tps =
        bw.bytes_per_second > 0 ? bw.bytes_per_second / static_cast<double>(weights_per_token) : 0;
    const std::string load_after = load_average();
    const std::string isa(kernel_isa_name(bench.ctx().kernel_isa()));
    const std::string split_name =
        bench.ctx().batched_split() == DecodeSplit::sequences ? "sequences" : "rows";
    const uint64_t rss_budget = file_bytes + kv_bytes + (uint64_t{64} << 20);

    if (opt.json) {
        nlohmann::json j;
        j["model"] = opt.model;
        j["file_bytes"] = file_bytes;
        j["types"] = type_summary(model);
        j["architecture"] = model.config().architecture;
        j["threads"] = pool.size();
        j["kernels"] = isa;
        j["cpu_features"] = cpu_feature_summary();
        j["load_average"] = {{"before", load_before}, {"after", load_after}};
        j["load_seconds"] = model.load_seconds();
        j["load_wall_seconds"] = load_wall;
        j["packed_bytes"] = model.packed_bytes();
        auto stat_json = [](const Stats& s) {
            return nlohmann::json{{"mean", s.mean}, {"stddev", s.stddev}, {"values", s.values}};
        };
        j["pp"] = {{"tokens", opt.prompt}, {"tokens_per_second", stat_json(pp_s)}};
        j["tg"] = {{"tokens", opt.generate}, {"tokens_per_second", stat_json(tg_s)}};
        nlohmann::json rows = nlohmann::json::array();
        for (const BatchRow& b : batch_rows) {
            rows.push_back({{"sequences", b.seqs},
                            {"prompt_tokens", opt.prompt},
                            {"tokens_per_sequence", opt.generate},
                            {"total_tokens_per_second", stat_json(b.total_tps)},
                            {"wall_seconds", stat_json(b.wall)},
                            {"wall_relative_to_one", stat_json(b.wall_vs_one)}});
        }
        j["batched"] = rows;
        j["batched_split"] = split_name;
        j["memory"] = {{"rss_after_load_bytes", rss_loaded},
                       {"rss_peak_bytes", rss_peak},
                       {"kv_cache_bytes", kv_bytes},
                       {"budget_bytes", rss_budget},
                       {"within_budget", rss_peak <= rss_budget}};
        j["bandwidth"] = {{"read_bytes_per_second", bw.bytes_per_second},
                          {"read_buffer_bytes", bw.buffer_bytes},
                          {"memory_read_bytes_per_second", bw_memory.bytes_per_second},
                          {"memory_buffer_bytes", bw_memory.buffer_bytes},
                          {"weight_bytes_per_token", weights_per_token},
                          {"bound_tokens_per_second", bound_tps},
                          {"tg_fraction_of_bound", bound_tps > 0 ? tg_s.mean / bound_tps : 0.0}};
        std::cout << j.dump(2) << "\n";
        return 0;
    }

    std::printf("model      %s\n", opt.model.c_str());
    std::printf("           %s, %s (%s)\n", human_bytes(file_bytes).c_str(),
                model.config().architecture.c_str(), type_summary(model).c_str());
    std::printf("machine    %d threads, kernels %s, cpu: %s\n", pool.size(), isa.c_str(),
                cpu_feature_summary().c_str());
    std::printf("load avg   %s (start) / %s (end)\n", load_before.c_str(), load_after.c_str());
    std::printf("load       %.3f s (packed %s)\n", model.load_seconds(),
                human_bytes(model.packed_bytes()).c_str());
    std::printf("\n%-22s %14s %10s\n", "test", "tokens/s", "± stddev");
    std::printf("%-22s %14.1f %10.1f\n", ("pp" + std::to_string(opt.prompt)).c_str(), pp_s.mean,
                pp_s.stddev);
    std::printf("%-22s %14.1f %10.1f\n", ("tg" + std::to_string(opt.generate)).c_str(), tg_s.mean,
                tg_s.stddev);
    std::printf("\nbatched: shared pp%d prompt, then n=%d tokens per sequence; threads split %s\n",
                opt.prompt, opt.generate, split_name.c_str());
    std::printf("%-10s %14s %10s %12s %14s %10s\n", "sequences", "total t/s", "± stddev", "wall s",
                "wall vs 1 seq", "± stddev");
    for (const BatchRow& b : batch_rows) {
        if (b.wall_vs_one.values.empty()) {
            std::printf("%-10d %14.1f %10.1f %12.3f %14s\n", b.seqs, b.total_tps.mean,
                        b.total_tps.stddev, b.wall.mean, "-");
        } else {
            std::printf("%-10d %14.1f %10.1f %12.3f %13.2fx %10.2f\n", b.seqs, b.total_tps.mean,
                        b.total_tps.stddev, b.wall.mean, b.wall_vs_one.mean, b.wall_vs_one.stddev);
        }
    }
    std::printf(
        "\nmemory     peak RSS %s, after load %s; file %s + KV cache %s + 64 MiB = %s (%s)\n",
        human_bytes(rss_peak).c_str(), human_bytes(rss_loaded).c_str(),
        human_bytes(file_bytes).c_str(), human_bytes(kv_bytes).c_str(),
        human_bytes(rss_budget).c_str(), rss_peak <= rss_budget ? "within" : "over");
    if (opt.bandwidth) {
        std::printf("bandwidth  %.1f GB/s reading %s (the weights' size), %.1f GB/s reading %s\n",
                    bw.bytes_per_second / 1e9, human_bytes(bw.buffer_bytes).c_str(),
                    bw_memory.bytes_per_second / 1e9, human_bytes(bw_memory.buffer_bytes).c_str());
        std::printf(
            "bound      %s of weights per token -> at most %.1f tokens/s; tg reaches %.0f%%\n",
            human_bytes(weights_per_token).c_str(), bound_tps,
            bound_tps > 0 ? 100.0 * tg_s.mean / bound_tps : 0.0);
    }
    return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, CommandAction& action) {
    auto opt = std::make_shared<BenchOptions>();
    CLI::App* cmd = app.add_subcommand("bench", "Measure prompt and generation speed on a model");
    cmd->add_option("-m,--model", opt->model, "GGUF file")->required();
    cmd->add_option("-p,--prompt", opt->prompt, "Prompt tokens (pp test, shared batched prompt)")
        ->capture_default_str();
    cmd->add_option("-n,--generate", opt->generate, "Generated tokens (tg test, per sequence)")
        ->capture_default_str();
    cmd->add_option("--batch", opt->batches, "Comma-separated numbers of parallel sequences")
        ->capture_default_str();
    cmd->add_option("-t,--threads", opt->threads, "Threads (default: one per core)");
    cmd->add_option("-r,--reps", opt->reps, "Repetitions of each test")->capture_default_str();
    cmd->add_option("--kernels", opt->kernels,
                    "Instruction set: scalar, avx2, avx512, avx512_vnni (default: the best)");
    cmd->add_option("--split", opt->split,
                    "How threads share a step of several sequences: rows, sequences (default: "
                    "sequences when the matrices fit in one core's cache)")
        ->transform(CLI::CheckedTransformer(
            std::map<std::string, DecodeSplit>{{"auto", DecodeSplit::automatic},
                                               {"rows", DecodeSplit::rows},
                                               {"sequences", DecodeSplit::sequences}}));
    cmd->add_flag(
        "--no-bandwidth", [opt](int64_t) { opt->bandwidth = false; },
        "Skip the memory bandwidth measurement");
    cmd->add_flag("--json", opt->json, "Print one JSON object");
    cmd->callback([opt, &action] { action = [opt] { return run_bench(*opt); }; });
}

}  // namespace ponder::cli
