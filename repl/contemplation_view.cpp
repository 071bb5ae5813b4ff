#include "repl/contemplation_view.h"

#include <cmath>
#include <cstdio>

#include "engine/error.h"
#include "repl/terminal.h"

namespace ponder::repl {

namespace {

// Redrawing more often than this only costs time the chains could use.
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

std::string percent(double fraction) {
    return cat(std::lround(fraction * 100), "%");
}

}  // namespace

std::string progress_line(int round, std::string_view stage,
                          std::span<const ChainProgress> chains) {
    int64_t tokens = 0;
    int finished = 0;
    std::string per_chain;
    for (const ChainProgress& c : chains) {
        tokens += c.tokens;
        finished += c.finished ? 1 : 0;
        per_chain += cat(" #", c.index + 1, ":", c.tokens);
        if (!c.answer.empty()) per_chain += cat("=", fit_width(printable(c.answer), 12));
        if (c.finished) per_chain += "*";
    }
    std::string line = cat("contemplating: round ", round, " ", stage);
    if (!chains.empty()) {
        line += cat(", ", finished, "/", chains.size(), " chains done, ", tokens, " tokens |",
                    per_chain);
    }
    return line;
}

ContemplationHooks ContemplationView::hooks() {
    ContemplationHooks h;
    h.on_progress = [this](std::span<const ChainProgress> chains) { on_progress(chains); };
    h.on_stage = [this](int round, std::string_view stage) { on_stage(round, stage); };
    return h;
}

void ContemplationView::on_stage(int round, std::string_view stage) {
    round_ = round;
    stage_ = std::string(stage);
    draw();
}

void ContemplationView::on_progress(std::span<const ChainProgress> chains) {
    if (!live_) return;
    auto now = std::chrono::steady_clock::now();
    if (shown_ && now - last_draw_ < kRedrawInterval) return;
    chains_ = progress_line(round_, stage_, chains);
    draw();
}

void ContemplationView::draw() {
    if (!live_) return;
    std::string line = chains_.empty() ? progress_line(round_, stage_, {}) : chains_;
    // One line that fits: wider text would wrap, and "\r" could no longer erase it.
    const auto width = static_cast<size_t>(std::max(terminal_columns() - 1, 10));
    write_now("\r\033[K" + fit_width(line, width));
    shown_ = true;
    last_draw_ = std::chrono::steady_clock::now();
}

void ContemplationView::clear() {
    if (!shown_) return;
    write_now("\r\033[K");
    shown_ = false;
}

std::string describe_result(const ContemplationResult& result, bool show_chains) {
    std::string out;
    if (show_chains) {
        for (const ChainReport& c : result.chains) {
            out += cat("--- chain ", c.index + 1, " (round ", c.round, ", ", c.tokens,
                       " tokens, answer: ",
                       c.answer.empty() ? std::string("none") : printable(c.answer.display),
                       ", weight ", std::to_string(c.weight).substr(0, 4), ")\n");
            out += printable(c.text);
            if (!c.text.empty() && c.text.back() != '\n') out += "\n";
        }
        if (!result.candidates.empty()) {
            out += "--- candidates:";
            for (const CandidateReport& c : result.candidates) {
                out += cat(" ", printable(c.answer.display), " (", percent(c.vote_share),
                           " of the vote)");
            }
            out += "\n";
        }
    }
    if (result.answer.empty()) {
        out += cat("No answer: none of the ", result.chains.size(), " chains reached one.\n");
    } else {
        out += cat("Answer: ", printable(result.answer.display), "\n");
    }
    int agreeing = 0;
    if (!result.candidates.empty() && !result.answer.empty()) {
        agreeing = static_cast<int>(result.candidates.front().chains.size());
    }
    char summary[160];
    std::snprintf(summary, sizeof summary,
                  "(confidence %s; %d of %zu chains agree; %d round%s; %.1f s)\n",
                  percent(result.confidence).c_str(), agreeing, result.chains.size(), result.rounds,
                  result.rounds == 1 ? "" : "s", result.seconds);
    return out + summary;
}

std::string answer_turn(const ContemplationResult& result) {
    if (!result.justification.empty()) return result.justification;
    if (!result.answer.empty()) return "Answer: " + result.answer.display;
    return {};
}

ContemplationResult run_contemplation(Assistant& assistant, std::span<const Message> conversation,
                                      const Settings& settings, const ContemplationHooks& hooks,
                                      const std::atomic<bool>* cancel) {
#ifdef PONDER_HAVE_CONTEMPLATION
    return contemplate(assistant, conversation, settings, hooks, cancel);
#else
    (void)assistant, (void)conversation, (void)settings, (void)hooks, (void)cancel;
    fail("contemplation is not in this build yet; /quick answers quickly");
#endif
}

nlohmann::json chains_json(const ContemplationResult& result) {
#ifdef PONDER_HAVE_CONTEMPLATION
    return result.to_json();
#else
    (void)result;
    return nullptr;
#endif
}

}  // namespace ponder::repl
