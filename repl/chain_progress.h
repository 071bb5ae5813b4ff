#pragma once
// Live progress of contemplation on a terminal: one line per chain (tokens so far, thinking or
// done, the answer it reached), redrawn in place a few times a second. Draws nothing when the
// stream is not a terminal. Colours only when NO_COLOR is unset.
#include <chrono>
#include <cstdio>
#include <span>
#include <string_view>

#include "reason/contemplate.h"

namespace ponder::repl {

class ChainProgressView {
  public:
    // `enabled`: draw at all (callers pass isatty(fileno(out)) && !quiet).
    ChainProgressView(std::FILE* out, bool enabled);
    ~ChainProgressView();

    void stage(int round, std::string_view stage);
    void update(std::span<const ChainProgress> chains);
    // Erases the drawn lines.
    void clear();

  private:
    void draw(std::span<const ChainProgress> chains);

    std::FILE* out_;
    bool enabled_;
    bool color_;
    int lines_drawn_ = 0;
    std::string stage_;
    std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace ponder::repl
