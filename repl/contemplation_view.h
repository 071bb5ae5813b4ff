#pragma once
// Contemplation on the terminal: one status line that follows the chains as they grow (round,
// stage, tokens and answers per chain), replaced by the result when they are done.
#include <chrono>
#include <span>
#include <string>
#include <string_view>

#include "reason/contemplate.h"

namespace ponder::repl {

class ContemplationView {
  public:
    // `live`: redraw a status line (stdout is a terminal); otherwise stay silent until the end.
    explicit ContemplationView(bool live) : live_(live) {}
    ~ContemplationView() { clear(); }
    ContemplationView(const ContemplationView&) = delete;
    ContemplationView& operator=(const ContemplationView&) = delete;

    // The hooks that feed this view.
    ContemplationHooks hooks();
    // Erases the status line.
    void clear();

  private:
    void on_stage(int round, std::string_view stage);
    void on_progress(std::span<const ChainProgress> chains);
    void draw();

    bool live_;
    bool shown_ = false;
    int round_ = 1;
    std::string stage_ = "sampling";
    std::string chains_;  // the per-chain part of the line
    std::chrono::steady_clock::time_point last_draw_{};
};

// contemplate() and the result's JSON, or a clear error in a build without contemplation yet.
ContemplationResult run_contemplation(Assistant& assistant, std::span<const Message> conversation,
                                      const Settings& settings, const ContemplationHooks& hooks,
                                      const std::atomic<bool>* cancel);
nlohmann::json chains_json(const ContemplationResult& result);

// The status line for these chains (exposed for tests).
std::string progress_line(int round, std::string_view stage, std::span<const ChainProgress> chains);

// The result as the REPL shows it: every chain when `show_chains`, then the answer and its
// confidence.
std::string describe_result(const ContemplationResult& result, bool show_chains);

// What the conversation keeps as the assistant's turn: the reasoning that reached the answer.
std::string answer_turn(const ContemplationResult& result);

}  // namespace ponder::repl
