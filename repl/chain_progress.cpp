#include "repl/chain_progress.h"

#include <cstdlib>
#include <string>

namespace ponder::repl {

namespace {

constexpr auto kRedrawInterval = std::chrono::milliseconds(80);

}  // namespace

ChainProgressView::ChainProgressView(std::FILE* out, bool enabled)
    : out_(out), enabled_(enabled), color_(std::getenv("NO_COLOR") == nullptr) {}

ChainProgressView::~ChainProgressView() {
    clear();
}

void ChainProgressView::stage(int round, std::string_view stage) {
    stage_ = "round " + std::to_string(round + 1) + ": " + std::string(stage);
    if (enabled_ && stage != "sampling" && stage != "refining") {
        clear();
        std::fprintf(out_, "%s%s...%s\n", color_ ? "\033[2m" : "", stage_.c_str(),
                     color_ ? "\033[0m" : "");
        lines_drawn_ = 1;
        std::fflush(out_);
    }
}

void ChainProgressView::update(std::span<const ChainProgress> chains) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    bool all_done = true;
    for (const auto& c : chains) all_done = all_done && c.finished;
    if (!all_done && now - last_draw_ < kRedrawInterval) return;
    last_draw_ = now;
    draw(chains);
}

void ChainProgressView::draw(std::span<const ChainProgress> chains) {
    clear();
    const char* dim = color_ ? "\033[2m" : "";
    const char* reset = color_ ? "\033[0m" : "";
    std::fprintf(out_, "%s%s%s\n", dim, stage_.c_str(), reset);
    for (const auto& c : chains) {
        std::fprintf(out_, "%s  chain %-2d %5lld tokens  %s%s%s\n", dim, c.index + 1,
                     static_cast<long long>(c.tokens), c.finished ? "done" : "thinking",
                     c.answer.empty() ? "" : (" -> " + c.answer).c_str(), reset);
    }
    lines_drawn_ = static_cast<int>(chains.size()) + 1;
    std::fflush(out_);
}

void ChainProgressView::clear() {
    if (!enabled_ || lines_drawn_ == 0) return;
    for (int i = 0; i < lines_drawn_; ++i) std::fputs("\033[1A\033[2K", out_);
    std::fputs("\r", out_);
    lines_drawn_ = 0;
    std::fflush(out_);
}

}  // namespace ponder::repl
