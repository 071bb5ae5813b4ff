#pragma once
// How far to trust a contemplation's confidence: over a question set, how well the confidence
// given with each answer tells the right answers from the wrong ones.
#include <optional>
#include <span>

namespace ponder {

struct Graded {
    double confidence = 0;  // as reported with the answer, 0..1
    bool correct = false;
};

// Mean squared distance between confidence and outcome (1 right, 0 wrong): 0 is perfect, and a
// constant confidence equal to the accuracy a scores a (1 - a); nullopt for no answers.
std::optional<double> brier_score(std::span<const Graded> answers);

// The chance that a right answer was given more confidence than a wrong one (ties count half):
// 1 when confidence ranks every right answer above every wrong one, 0.5 when it says nothing.
// nullopt unless there are both right and wrong answers.
std::optional<double> confidence_auroc(std::span<const Graded> answers);

}  // namespace ponder
