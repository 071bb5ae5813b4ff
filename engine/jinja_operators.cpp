// Python's operators on template values: arithmetic with Python's rounding and errors, string and
// list repetition and concatenation, and slicing.
#include "engine/jinja_operators.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "engine/jinja_builtins.h"
#include "engine/jinja_interpreter.h"
#include "engine/jinja_text.h"

namespace ponder::jinja {

namespace {

[[noreturn]] void int_overflow() {
    fault("integer result too large (ponder integers are 64-bit)");
}

std::int64_t add_int(std::int64_t a, std::int64_t b) {
    std::int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) int_overflow();
    return r;
}

std::int64_t sub_int(std::int64_t a, std::int64_t b) {
    std::int64_t r = 0;
    if (__builtin_sub_overflow(a, b, &r)) int_overflow();
    return r;
}

std::int64_t mul_int(std::int64_t a, std::int64_t b) {
    std::int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) int_overflow();
    return r;
}

std::int64_t int_power(std::int64_t base, std::int64_t exponent) {
    std::int64_t result = 1;
    while (exponent > 0) {
        if (exponent & 1) result = mul_int(result, base);
        exponent >>= 1;
        if (exponent > 0) base = mul_int(base, base);
    }
    return result;
}

// Python's float floor division and modulo, which round toward negative infinity.
double float_mod(double x, double y) {
    double mod = std::fmod(x, y);
    if (mod != 0) {
        if ((y < 0) != (mod < 0)) mod += y;
    } else {
        mod = std::copysign(0.0, y);
    }
    return mod;
}

double float_floor_div(double x, double y) {
    double mod = std::fmod(x, y);
    double div = (x - mod) / y;
    if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
    if (div == 0) return std::copysign(0.0, x / y);
    double floor_div = std::floor(div);
    if (div - floor_div > 0.5) floor_div += 1.0;
    return floor_div;
}

[[noreturn]] void unsupported(std::string_view op, const Value& a, const Value& b) {
    fault("unsupported operand type(s) for ", op, ": '", a.type_name(), "' and '", b.type_name(),
          "'");
}

Value repeat(Renderer& r, const Value& seq, std::int64_t times) {
    times = std::max<std::int64_t>(times, 0);
    if (seq.is_string()) {
        const std::string& s = seq.as_string();
        if (times > 0 && s.size() > r.limits().max_output_bytes / static_cast<std::size_t>(times))
            fault("string of more than ", r.limits().max_output_bytes, " bytes (rendering limit)");
        const std::size_t total = s.size() * static_cast<std::size_t>(times);
        std::string out;
        out.reserve(total);
        out += s;
        while (!out.empty() && out.size() < total)  // doubling: few large copies, not many small
            out.append(out, 0, std::min(out.size(), total - out.size()));
        if (times == 0) out.clear();
        return r.make_string(std::move(out));
    }
    const ValueList& items = seq.as_list();
    if (times > 0 && items.size() > r.limits().max_items / static_cast<std::size_t>(times))
        fault("list of more than ", r.limits().max_items, " items (rendering limit)");
    r.check_items(items.size() * static_cast<std::size_t>(times));
    ValueList out;
    out.reserve(items.size() * static_cast<std::size_t>(times));
    for (std::int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
    return seq.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

bool is_sequence(const Value& v) {
    return v.is_string() || v.is_list();
}
}  // namespace

Value binary_operation(Renderer& r, BinaryOp op, const Value& a, const Value& b) {
    if (a.is_undefined()) fault(a.undefined_message());
    if (b.is_undefined()) fault(b.undefined_message());
    const bool numbers = a.is_number() && b.is_number();
    const bool floats = numbers && (a.is_float() || b.is_float());
    switch (op) {
        case BinaryOp::add: {
            if (numbers) {
                if (floats) return Value::floating(a.as_float() + b.as_float());
                return Value::integer(add_int(a.as_int(), b.as_int()));
            }
            if (a.is_string()) {
                if (!b.is_string())
                    fault("can only concatenate str (not \"", b.type_name(), "\") to str");
                const std::string& x = a.as_string();
                const std::string& y = b.as_string();
                if (x.size() + y.size() > r.limits().max_output_bytes)
                    fault("string of more than ", r.limits().max_output_bytes,
                          " bytes (rendering limit)");
                std::string out;
                out.reserve(x.size() + y.size());
                out += x;
                out += y;
                return r.make_string(std::move(out));
            }
            if (a.is_list()) {
                if (!b.is_list() || a.is_tuple() != b.is_tuple())
                    fault("can only concatenate ", a.type_name(), " (not \"", b.type_name(),
                          "\") to ", a.type_name());
                const ValueList& x = a.as_list();
                const ValueList& y = b.as_list();
                r.check_items(x.size() + y.size());
                ValueList out;
                out.reserve(x.size() + y.size());
                out.insert(out.end(), x.begin(), x.end());
                out.insert(out.end(), y.begin(), y.end());
                return a.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
            }
            unsupported("+", a, b);
        }
        case BinaryOp::subtract: {
            if (!numbers) unsupported("-", a, b);
            if (floats) return Value::floating(a.as_float() - b.as_float());
            return Value::integer(sub_int(a.as_int(), b.as_int()));
        }
        case BinaryOp::multiply: {
            if (numbers) {
                if (floats) return Value::floating(a.as_float() * b.as_float());
                return Value::integer(mul_int(a.as_int(), b.as_int()));
            }
            if (is_sequence(a) && is_integral(b)) return repeat(r, a, b.as_int());
            if (is_integral(a) && is_sequence(b)) return repeat(r, b, a.as_int());
            if (is_sequence(a) || is_sequence(b)) {
                const Value& other = is_sequence(a) ? b : a;
                fault("can't multiply sequence by non-int of type '", other.type_name(), "'");
            }
            unsupported("*", a, b);
        }
        case BinaryOp::divide: {
            if (!numbers) unsupported("/", a, b);
            if (b.as_float() == 0) fault(floats ? "float division by zero" : "division by zero");
            return Value::floating(a.as_float() / b.as_float());
        }
        case BinaryOp::floor_divide: {
            if (!numbers) unsupported("//", a, b);
            if (floats) {
                if (b.as_float() == 0) fault("float floor division by zero");
                return Value::floating(float_floor_div(a.as_float(), b.as_float()));
            }
            std::int64_t x = a.as_int();
            std::int64_t y = b.as_int();
            if (y == 0) fault("integer division or modulo by zero");
            if (x == std::numeric_limits<std::int64_t>::min() && y == -1) int_overflow();
            std::int64_t q = x / y;
            if (x % y != 0 && ((x < 0) != (y < 0))) --q;
            return Value::integer(q);
        }
        case BinaryOp::modulo: {
            if (a.is_string()) return r.make_string(percent_format(r, a.as_string(), b));
            if (!numbers) unsupported("%", a, b);
            if (floats) {
                if (b.as_float() == 0) fault("float modulo");
                return Value::floating(float_mod(a.as_float(), b.as_float()));
            }
            std::int64_t x = a.as_int();
            std::int64_t y = b.as_int();
            if (y == 0) fault("integer modulo by zero");
            if (y == -1) return Value::integer(0);
            std::int64_t m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            return Value::integer(m);
        }
        case BinaryOp::power: {
            if (!numbers) unsupported("** or pow()", a, b);
            if (!floats && b.as_int() >= 0)
                return Value::integer(int_power(a.as_int(), b.as_int()));
            double x = a.as_float();
            double y = b.as_float();
            if (x == 0 && y < 0) fault("0.0 cannot be raised to a negative power");
            if (x < 0 && y != std::floor(y))
                fault("a negative number raised to a fractional power is complex; not supported");
            double result = std::pow(x, y);
            if (std::isinf(result) && std::isfinite(x) && std::isfinite(y))
                fault("(34, 'Numerical result out of range')");
            return Value::floating(result);
        }
        case BinaryOp::concat:
            break;
    }
    fault("unknown operator");
}

namespace {

// Python slice bounds (PySlice_AdjustIndices).
std::vector<std::size_t> slice_indices(std::size_t size, const Value& start_v, const Value& stop_v,
                                       const Value& step_v) {
    auto index_of = [](const Value& v) -> std::optional<std::int64_t> {
        if (v.is_none() || v.is_undefined()) return std::nullopt;
        if (!is_integral(v))
            fault("slice indices must be integers or None or have an __index__ method");
        return v.as_int();
    };
    const auto n = static_cast<std::int64_t>(size);
    std::int64_t step = index_of(step_v).value_or(1);
    if (step == 0) fault("slice step cannot be zero");
    std::int64_t lower = step > 0 ? 0 : -1;
    std::int64_t upper = step > 0 ? n : n - 1;
    auto adjust = [&](std::optional<std::int64_t> v, std::int64_t fallback) {
        if (!v) return fallback;
        std::int64_t i = *v;
        if (i < 0) {
            i += n;
            if (i < lower) i = lower;
        } else if (i > upper) {
            i = upper;
        }
        return i;
    };
    std::int64_t start = adjust(index_of(start_v), step > 0 ? lower : upper);
    std::int64_t stop = adjust(index_of(stop_v), step > 0 ? upper : lower);
    std::vector<std::size_t> out;
    if (step > 0) {
        for (std::int64_t i = start; i < stop; i += step)
            out.push_back(static_cast<std::size_t>(i));
    } else {
        for (std::int64_t i = start; i > stop; i += step)
            out.push_back(static_cast<std::size_t>(i));
    }
    return out;
}

}  // namespace

Value slice_of(Renderer& r, const Value& v, const Value& start, const Value& stop,
               const Value& step) {
    if (v.is_undefined()) fault(v.undefined_message());
    if (v.is_string()) {
        const std::string& s = v.as_string();
        if (text::is_ascii(s) &&
            (step.is_none() || step.is_undefined() || (is_integral(step) && step.as_int() == 1))) {
            std::vector<std::size_t> idx = slice_indices(s.size(), start, stop, step);
            if (idx.empty()) return Value::string("");
            return r.make_string(s.substr(idx.front(), idx.size()));
        }
        std::vector<char32_t> cps = text::decode_all(s);
        std::string out;
        for (std::size_t i : slice_indices(cps.size(), start, stop, step))
            text::append_utf8(out, cps[i]);
        return r.make_string(std::move(out));
    }
    if (v.is_list()) {
        const ValueList& items = v.as_list();
        ValueList out;
        for (std::size_t i : slice_indices(items.size(), start, stop, step))
            out.push_back(items[i]);
        r.check_items(out.size());
        return v.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
    }
    // Slices bypass jinja2's lenient item lookup: Python's own errors show through.
    if (v.is_dict()) fault("unhashable type: 'slice'");
    fault("'", v.type_name(), "' object is not subscriptable");
}

}  // namespace ponder::jinja
