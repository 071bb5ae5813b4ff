#pragma once
// What templates can call: jinja2's filters and tests, its global functions (range, dict,
// namespace, cycler, joiner) plus Hugging Face's raise_exception and strftime_now, and the
// Python methods of str, list and dict values that jinja2's sandbox allows.
#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/jinja_ast.h"

namespace ponder::jinja {

FilterFn find_filter(std::string_view name);  // nullptr if unknown
TestFn find_test(std::string_view name);      // nullptr if unknown

// A global function by name, or nullopt.
std::optional<Value> find_global(std::string_view name);

// `self.name` for Python methods of str, list and dict values: a bound method; for methods that
// would modify a value, an undefined value that errors when called (as jinja2's immutable
// sandbox does); nullopt when `self` has no such method.
std::optional<Value> find_method(const Value& self, std::string_view name);

// `self.name(args)` without building a bound method; nullopt when there is no such method.
std::optional<Value> call_method(Renderer& renderer, const Value& self, std::string_view name,
                                 CallArgs& args);

// Binds a builtin's arguments as Python binds `def f(p0, p1=..., ...)`: positionally, then by
// keyword; too many arguments or an unknown keyword is an error naming `function`.
class BoundArgs {
  public:
    BoundArgs(std::string_view function, const CallArgs& args,
              std::initializer_list<std::string_view> params);
    bool has(std::size_t i) const { return slots_[i] != nullptr; }
    const Value& get(std::size_t i) const;  // faults when the argument was not given
    Value get_or(std::size_t i, Value fallback) const;

  private:
    std::string_view function_;
    std::vector<std::string_view> names_;
    std::vector<const Value*> slots_;
};

// An argument that must be an int (or bool), or a str; faults naming `what` otherwise.
std::int64_t int_argument(const Value& v, std::string_view what);
const std::string& string_argument(const Value& v, std::string_view what);

// Python's printf-style formatting, as `fmt % values` and the format filter use it.
std::string percent_format(Renderer& renderer, std::string_view fmt, const Value& values);

// Python's str.format(*args, **kwargs).
std::string brace_format(Renderer& renderer, std::string_view fmt, const CallArgs& args);

// Python's datetime.strftime for the local time of `when` (C locale names).
std::string format_time(std::string_view format, std::chrono::system_clock::time_point when);

}  // namespace ponder::jinja
