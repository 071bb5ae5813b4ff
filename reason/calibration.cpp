#include "reason/calibration.h"

#include <algorithm>
#include <vector>

namespace ponder {

std::optional<double> brier_score(std::span<const Graded> answers) {
    if (answers.empty()) return std::nullopt;
    double sum = 0;
    for (const Graded& a : answers) {
        const double miss = a.confidence - (a.correct ? 1.0 : 0.0);
        sum += miss * miss;
    }
    return sum / static_cast<double>(answers.size());
}

std::optional<double> confidence_auroc(std::span<const Graded> answers) {
    // Mann-Whitney: the right answers' ranks by confidence (tied runs share their mean rank),
    // less the least they could sum to, over the number of (right, wrong) pairs.
    std::vector<Graded> sorted(answers.begin(), answers.end());
    std::sort(sorted.begin(), sorted.end(),
              [](const Graded& a, const Graded& b) { return a.confidence < b.confidence; });
    double right_ranks = 0, right = 0;
    for (size_t i = 0; i < sorted.size();) {
        size_t end = i;
        double run_right = 0;
        for (; end < sorted.size() && sorted[end].confidence == sorted[i].confidence; ++end)
            run_right += sorted[end].correct ? 1 : 0;
        const double mean_rank = (static_cast<double>(i + 1) + static_cast<double>(end)) / 2;
        right_ranks += run_right * mean_rank;
        right += run_right;
        i = end;
    }
    const double wrong = static_cast<double>(sorted.size()) - right;
    if (right == 0 || wrong == 0) return std::nullopt;
    return (right_ranks - right * (right + 1) / 2) / (right * wrong);
}

}  // namespace ponder
