#pragma once
// Python's binary operators and slicing on template values.
#include "engine/jinja_ast.h"

namespace ponder::jinja {

// a + b, a - b, a * b, a / b, a // b, a % b, a ** b (not ~, which is str concatenation). Faults
// with Python's messages on type errors, division by zero and 64-bit overflow.
Value binary_operation(Renderer& renderer, BinaryOp op, const Value& a, const Value& b);

// v[start:stop:step] for strings (by code point), lists and tuples; null parts are Value::none().
Value slice_of(Renderer& renderer, const Value& v, const Value& start, const Value& stop,
               const Value& step);

// An int or a bool (Python's bool is an int).
inline bool is_integral(const Value& v) {
    return v.is_int() || v.is_bool();
}

}  // namespace ponder::jinja
