#pragma once
// Exact re-checking of the arithmetic a reasoning chain claims: every "a op b = c" (also chains
// such as "3 * 12 - 7 = 29") is recomputed with the exact calculator.
#include <string>
#include <string_view>
#include <vector>

namespace ponder {

struct ArithmeticClaim {
    std::string expression;  // left-hand side as written: "3 * 12"
    std::string claimed;     // right-hand side as written: "36"
    std::string actual;      // exact value of the left-hand side
    bool correct = false;
    size_t offset = 0;  // byte offset of the '=' in the text
};

std::vector<ArithmeticClaim> check_arithmetic(std::string_view text);

}  // namespace ponder
