#pragma once
// An exact calculator: + - * / ^ (also × ÷ ** and "x" between numbers), parentheses, unary
// minus, decimals, thousands commas and fractions, over exact rationals. Used to re-check the
// arithmetic in reasoning chains and as the built-in `calculator` tool.
#include <string>
#include <string_view>

#include "reason/rational.h"

namespace ponder {

// Throws ponder::Error with the position of the problem for malformed expressions, division by
// zero, or numbers too large to keep exact.
Rational evaluate_expression(std::string_view expression);

}  // namespace ponder
