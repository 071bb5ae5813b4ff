// libFuzzer target: answer extraction, normalisation, the arithmetic re-checker and the exact
// calculator on arbitrary text.
#include <cstdint>
#include <string_view>

#include "engine/error.h"
#include "reason/answer.h"
#include "reason/arithmetic_check.h"
#include "reason/calculator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)ponder::extract_answer(text);
    (void)ponder::normalize_answer(text);
    (void)ponder::check_arithmetic(text);
    try {
        (void)ponder::evaluate_expression(text);
    } catch (const ponder::Error&) {
    }
    return 0;
}
