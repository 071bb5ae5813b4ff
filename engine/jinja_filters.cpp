// jinja2's built-in filters and tests, with its semantics (argument names, defaults, what
// happens to Undefined and None).
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "engine/jinja_builtins.h"
#include "engine/jinja_interpreter.h"
#include "engine/jinja_text.h"

namespace ponder::jinja {

namespace {

std::string soft_str(Renderer& r, const Value& v) {
    return to_str(v, r.value_limits());
}

Value integer(std::size_t n) {
    return Value::integer(static_cast<std::int64_t>(n));
}

std::string lower_if_string(const Value& v) {
    return v.is_string() ? text::lower(v.as_string()) : std::string();
}

// jinja2 compares strings case-insensitively unless asked otherwise.
Value sort_key(const Value& v, bool case_sensitive) {
    if (!case_sensitive && v.is_string()) return Value::string(lower_if_string(v));
    return v;
}

// An attribute path like "function.name" or "items.0", looked up with item-then-attribute rules.
class AttributePath {
  public:
    explicit AttributePath(const Value& spec) {
        if (spec.is_int()) {
            parts_.push_back(spec);
            return;
        }
        if (!spec.is_string()) fault("attribute must be a string or an integer");
        for (const std::string& part : text::split(spec.as_string(), ".", -1)) {
            bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
                return c >= '0' && c <= '9';
            });
            parts_.push_back(numeric ? Value::integer(std::stoll(part)) : Value::string(part));
        }
    }
    Value get(Renderer& r, Value item, const Value* fallback = nullptr) const {
        for (const Value& part : parts_) {
            item = r.item(item, part);
            if (fallback != nullptr && item.is_undefined()) item = *fallback;
        }
        return item;
    }

  private:
    ValueList parts_;
};

// sort()/unique() keys: one or more comma-separated attribute paths, compared case-insensitively.
Value key_of(Renderer& r, const Value& item, const std::vector<AttributePath>& paths,
             bool case_sensitive) {
    if (paths.empty()) return sort_key(item, case_sensitive);
    if (paths.size() == 1) return sort_key(paths[0].get(r, item), case_sensitive);
    ValueList parts;
    for (const AttributePath& p : paths) parts.push_back(sort_key(p.get(r, item), case_sensitive));
    return Value::list(std::move(parts));
}

std::vector<AttributePath> attribute_paths(const Value& spec, bool allow_multiple) {
    std::vector<AttributePath> paths;
    if (spec.is_none() || spec.is_undefined()) return paths;
    if (allow_multiple && spec.is_string()) {
        for (const std::string& part : text::split(spec.as_string(), ",", -1))
            paths.emplace_back(Value::string(part));
        return paths;
    }
    paths.emplace_back(spec);
    return paths;
}

// ---- filters ----

Value f_abs(Renderer&, const Value& v, CallArgs& args) {
    BoundArgs a("abs", args, {});
    if (v.is_float()) return Value::floating(std::fabs(v.as_float()));
    if (v.is_int() || v.is_bool()) {
        if (v.as_int() == std::numeric_limits<std::int64_t>::min())
            fault("integer result too large");
        return Value::integer(std::llabs(v.as_int()));
    }
    if (v.is_undefined()) fault(v.undefined_message());
    fault("bad operand type for abs(): '", v.type_name(), "'");
}

Value f_attr(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("attr", args, {"name"});
    const Value& name = a.get(0);
    if (!name.is_string()) return Value::undefined("attribute name must be a string");
    if (v.is_dict()) {  // getattr only: no key lookup
        if (std::optional<Value> method = find_method(v, name.as_string())) return *method;
        return Value::undefined(cat("'dict object' has no attribute '", name.as_string(), "'"));
    }
    return r.attribute(v, name.as_string());
}

Value f_batch(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("batch", args, {"linecount", "fill_with"});
    std::int64_t count = int_argument(a.get(0), "linecount");
    if (count <= 0) fault("batch() linecount must be positive");
    Value fill = a.get_or(1, Value::none());
    ValueList batches;
    ValueList current;
    for (const Value& item : r.iterate(v)) {
        if (static_cast<std::int64_t>(current.size()) == count) {
            batches.push_back(Value::list(std::move(current)));
            current.clear();
        }
        current.push_back(item);
    }
    if (!current.empty()) {
        if (!fill.is_none())
            while (static_cast<std::int64_t>(current.size()) < count) current.push_back(fill);
        batches.push_back(Value::list(std::move(current)));
    }
    r.check_items(batches.size());
    return r.checked(Value::list(std::move(batches)));
}

Value f_capitalize(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("capitalize", args, {});
    return r.make_string(text::capitalize(soft_str(r, v)));
}

Value f_center(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("center", args, {"width"});
    CallArgs method_args;
    method_args.positional.push_back(a.get_or(0, Value::integer(80)));
    return *call_method(r, Value::string(soft_str(r, v)), "center", method_args);
}

Value f_default(Renderer&, const Value& v, CallArgs& args) {
    BoundArgs a("default", args, {"default_value", "boolean"});
    bool boolean = truthy(a.get_or(1, Value::boolean(false)));
    if (v.is_undefined() || (boolean && !truthy(v))) return a.get_or(0, Value::string(""));
    return v;
}

Value f_dictsort(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("dictsort", args, {"case_sensitive", "by", "reverse"});
    if (!v.is_dict())
        fault("dictsort: you can only sort by either \"key\" or \"value\" of a mapping");
    bool case_sensitive = truthy(a.get_or(0, Value::boolean(false)));
    std::string by = to_str(a.get_or(1, Value::string("key")), r.value_limits());
    bool reverse = truthy(a.get_or(2, Value::boolean(false)));
    if (by != "key" && by != "value") fault("You can only sort by either \"key\" or \"value\"");
    std::size_t index = by == "key" ? 0 : 1;
    ValueList pairs;
    for (const auto& [key, value] : v.as_dict()) pairs.push_back(Value::tuple({key, value}));
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
        Value kx = sort_key(x.as_list()[index], case_sensitive);
        Value ky = sort_key(y.as_list()[index], case_sensitive);
        return reverse ? compare(ky, kx, "<") < 0 : compare(kx, ky, "<") < 0;
    });
    return Value::list(std::move(pairs));
}

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&#34;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

Value f_escape(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("escape", args, {});
    return r.make_string(html_escape(soft_str(r, v)));
}

Value f_first(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("first", args, {});
    ValueList items = r.iterate(v);
    if (items.empty()) return Value::undefined("No first item, sequence was empty.");
    return items.front();
}

Value f_last(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("last", args, {});
    ValueList items = r.iterate(v);
    if (items.empty()) return Value::undefined("No last item, sequence was empty.");
    return items.back();
}

// Python's float() of a string: decimal, exponent, inf, nan, underscores between digits.
std::optional<double> parse_python_float(std::string_view raw) {
    std::string s(text::strip(raw, std::nullopt, true, true));
    std::string digits;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '_') {
            bool between = i > 0 && i + 1 < s.size() &&
                           std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
                           std::isdigit(static_cast<unsigned char>(s[i + 1]));
            if (!between) return std::nullopt;
            continue;
        }
        digits += s[i];
    }
    std::string lowered = text::lower(digits);
    std::string_view body = lowered;
    bool negative = false;
    if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
        negative = body[0] == '-';
        body.remove_prefix(1);
    }
    if (body == "inf" || body == "infinity") return negative ? -HUGE_VAL : HUGE_VAL;
    if (body == "nan") return std::nan("");
    if (body.empty() || body.find_first_not_of("0123456789.e+-") != std::string_view::npos)
        return std::nullopt;
    double value = 0;
    auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), value);
    if (ptr != body.data() + body.size()) return std::nullopt;
    if (ec == std::errc::result_out_of_range)
        value = HUGE_VAL;
    else if (ec != std::errc())
        return std::nullopt;
    return negative ? -value : value;
}

std::optional<std::int64_t> parse_python_int(std::string_view raw, int base) {
    std::string s(text::strip(raw, std::nullopt, true, true));
    std::string_view body = s;
    bool negative = false;
    if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
        negative = body[0] == '-';
        body.remove_prefix(1);
    }
    if (body.size() > 2 && body[0] == '0') {
        char p = static_cast<char>(body[1] | 0x20);
        if ((p == 'x' && (base == 16 || base == 0)) || (p == 'o' && (base == 8 || base == 0)) ||
            (p == 'b' && (base == 2 || base == 0))) {
            base = p == 'x' ? 16 : (p == 'o' ? 8 : 2);
            body.remove_prefix(2);
            if (!body.empty() && body[0] == '_') body.remove_prefix(1);
        }
    }
    if (base == 0) base = 10;
    std::string digits;
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] == '_' && i > 0 && i + 1 < body.size() && body[i - 1] != '_') continue;
        digits += body[i];
    }
    if (digits.empty()) return std::nullopt;
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
    return negative ? -value : value;
}

Value f_float(Renderer&, const Value& v, CallArgs& args) {
    BoundArgs a("float", args, {"default"});
    if (v.is_undefined()) fault(v.undefined_message());  // float(Undefined) raises in jinja2
    if (v.is_number()) return Value::floating(v.as_float());
    if (v.is_string())
        if (std::optional<double> d = parse_python_float(v.as_string())) return Value::floating(*d);
    return a.get_or(0, Value::floating(0.0));
}

Value f_int(Renderer&, const Value& v, CallArgs& args) {
    BoundArgs a("int", args, {"default", "base"});
    Value fallback = a.get_or(0, Value::integer(0));
    if (v.is_undefined()) fault(v.undefined_message());  // int(Undefined) raises in jinja2
    if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
    if (v.is_float()) {
        double d = v.as_float();
        if (!std::isfinite(d)) fault("cannot convert float ", text::float_repr(d), " to integer");
        if (std::fabs(d) >= 9.2e18) fault("integer result too large (ponder integers are 64-bit)");
        return Value::integer(static_cast<std::int64_t>(std::trunc(d)));
    }
    if (v.is_string()) {
        int base = static_cast<int>(int_argument(a.get_or(1, Value::integer(10)), "base"));
        if (std::optional<std::int64_t> i = parse_python_int(v.as_string(), base))
            return Value::integer(*i);
        if (std::optional<double> d = parse_python_float(v.as_string()))
            if (std::isfinite(*d) && std::fabs(*d) < 9.2e18)
                return Value::integer(static_cast<std::int64_t>(std::trunc(*d)));
    }
    return fallback;
}

Value f_format(Renderer& r, const Value& v, CallArgs& args) {
    if (!args.positional.empty() && !args.keywords.empty())
        fault("can't handle positional and keyword arguments at the same time");
    Value values;
    if (!args.keywords.empty()) {
        std::vector<std::pair<Value, Value>> entries;
        for (auto& [k, val] : args.keywords) entries.emplace_back(Value::string(k), val);
        values = Value::dict(std::move(entries));
    } else {
        values = Value::tuple(args.positional);
    }
    return r.make_string(percent_format(r, soft_str(r, v), values));
}

Value f_indent(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("indent", args, {"width", "first", "blank"});
    Value width = a.get_or(0, Value::integer(4));
    bool first = truthy(a.get_or(1, Value::boolean(false)));
    bool blank = truthy(a.get_or(2, Value::boolean(false)));
    std::string indentation;
    if (width.is_string()) {
        indentation = width.as_string();
    } else {
        std::int64_t n = int_argument(width, "indent width");
        if (n > 4096) fault("indent width too large");
        indentation.assign(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)), ' ');
    }
    // jinja2 appends "\n" to the value itself (so that splitlines keeps a final blank line),
    // which only strings survive.
    if (v.is_undefined()) fault(v.undefined_message());
    if (!v.is_string())
        fault("unsupported operand type(s) for +=: '", v.type_name(), "' and 'str'");
    std::string s = v.as_string() + "\n";
    std::vector<std::string> lines = text::splitlines(s, false);
    std::string out;
    std::size_t estimate = s.size() + lines.size() * indentation.size();
    if (estimate > r.limits().max_output_bytes)
        fault("string of more than ", r.limits().max_output_bytes, " bytes (rendering limit)");
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (i > 0) {
            out += '\n';
            if (blank || !lines[i].empty()) out += indentation;
        }
        out += lines[i];
    }
    if (first) out = indentation + out;
    return r.make_string(std::move(out));
}

Value f_items(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("items", args, {});
    if (v.is_undefined()) return Value::list({});
    if (!v.is_dict()) fault("Can only get item pairs from a mapping.");
    ValueList pairs;
    for (const auto& [key, value] : v.as_dict()) pairs.push_back(Value::tuple({key, value}));
    r.check_items(pairs.size());
    return Value::list(std::move(pairs));
}

Value f_join(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("join", args, {"d", "attribute"});
    std::string separator = soft_str(r, a.get_or(0, Value::string("")));
    Value attribute = a.get_or(1, Value::none());
    std::optional<AttributePath> path;
    if (!attribute.is_none()) path.emplace(attribute);
    std::string out;
    bool first = true;
    for (const Value& item : r.iterate(v)) {
        if (!first) out += separator;
        first = false;
        append_str(out, path ? path->get(r, item) : item, r.value_limits());
    }
    return r.make_string(std::move(out));
}

Value f_length(Renderer&, const Value& v, CallArgs& args) {
    BoundArgs a("length", args, {});
    switch (v.kind()) {
        case Value::Kind::undefined:
            return Value::integer(0);
        case Value::Kind::string:
            return integer(text::length(v.as_string()));
        case Value::Kind::list:
            return integer(v.as_list().size());
        case Value::Kind::dict:
            return integer(v.as_dict().size());
        default:
            fault("object of type '", v.type_name(), "' has no len()");
    }
}

Value f_list(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("list", args, {});
    if (v.is_list() && !v.is_tuple()) return v;
    return Value::list(r.iterate(v));
}

Value f_lower(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("lower", args, {});
    return r.make_string(text::lower(soft_str(r, v)));
}

Value f_upper(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("upper", args, {});
    return r.make_string(text::upper(soft_str(r, v)));
}

Value f_map(Renderer& r, const Value& v, CallArgs& args) {
    if (!truthy(v)) return Value::list({});
    ValueList out;
    const bool by_attribute = args.positional.empty() &&
                              std::any_of(args.keywords.begin(), args.keywords.end(),
                                          [](const auto& kw) { return kw.first == "attribute"; });
    if (by_attribute) {
        BoundArgs a("map", args, {"attribute", "default"});
        AttributePath path(a.get(0));
        Value fallback = a.get_or(1, Value::none());
        const Value* fallback_ptr = fallback.is_none() ? nullptr : &fallback;
        for (const Value& item : r.iterate(v)) out.push_back(path.get(r, item, fallback_ptr));
    } else {
        if (args.positional.empty()) fault("map requires a filter argument");
        std::string name = soft_str(r, args.positional[0]);
        CallArgs rest;
        rest.positional.assign(args.positional.begin() + 1, args.positional.end());
        rest.keywords = args.keywords;
        for (const Value& item : r.iterate(v)) out.push_back(r.apply_filter(name, item, rest));
    }
    return Value::list(std::move(out));
}

Value aggregate(Renderer& r, const Value& v, CallArgs& args, bool want_max) {
    BoundArgs a(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
    bool case_sensitive = truthy(a.get_or(0, Value::boolean(false)));
    std::vector<AttributePath> paths = attribute_paths(a.get_or(1, Value::none()), false);
    ValueList items = r.iterate(v);
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    std::size_t best = 0;
    Value best_key = key_of(r, items[0], paths, case_sensitive);
    for (std::size_t i = 1; i < items.size(); ++i) {
        Value key = key_of(r, items[i], paths, case_sensitive);
        int c = compare(key, best_key, want_max ? ">" : "<");
        if (want_max ? c > 0 : c < 0) {
            best = i;
            best_key = key;
        }
    }
    return items[best];
}

Value f_max(Renderer& r, const Value& v, CallArgs& args) {
    return aggregate(r, v, args, true);
}
Value f_min(Renderer& r, const Value& v, CallArgs& args) {
    return aggregate(r, v, args, false);
}

// select, reject, selectattr, rejectattr.
Value select_or_reject(Renderer& r, const Value& v, CallArgs& args, bool keep_matches,
                       bool by_attribute) {
    if (!truthy(v)) return Value::list({});
    std::size_t next = 0;
    std::optional<AttributePath> path;
    if (by_attribute) {
        if (args.positional.empty()) fault("Missing parameter for attribute name");
        path.emplace(args.positional[next++]);
    }
    std::optional<std::string> test;
    if (next < args.positional.size()) test = soft_str(r, args.positional[next++]);
    CallArgs test_args;
    test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(next),
                                args.positional.end());
    test_args.keywords = args.keywords;
    ValueList out;
    for (const Value& item : r.iterate(v)) {
        Value subject = path ? path->get(r, item) : item;
        bool passed = test ? r.apply_test(*test, subject, test_args) : truthy(subject);
        if (passed == keep_matches) out.push_back(item);
    }
    return Value::list(std::move(out));
}

Value f_select(Renderer& r, const Value& v, CallArgs& args) {
    return select_or_reject(r, v, args, true, false);
}
Value f_reject(Renderer& r, const Value& v, CallArgs& args) {
    return select_or_reject(r, v, args, false, false);
}
Value f_selectattr(Renderer& r, const Value& v, CallArgs& args) {
    return select_or_reject(r, v, args, true, true);
}
Value f_rejectattr(Renderer& r, const Value& v, CallArgs& args) {
    return select_or_reject(r, v, args, false, true);
}

Value f_replace(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("replace", args, {"old", "new", "count"});
    CallArgs method_args;
    method_args.positional = {Value::string(soft_str(r, a.get(0))),
                              Value::string(soft_str(r, a.get(1)))};
    Value count = a.get_or(2, Value::none());
    if (!count.is_none()) method_args.positional.push_back(count);
    return *call_method(r, Value::string(soft_str(r, v)), "replace", method_args);
}

Value f_reverse(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("reverse", args, {});
    if (v.is_string()) {
        std::vector<char32_t> cps = text::decode_all(v.as_string());
        std::reverse(cps.begin(), cps.end());
        return r.make_string(text::encode_all(cps));
    }
    ValueList items = r.iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
}

// Python's round(x, n) for floats: correctly rounded, ties to even on the exact binary value.
double python_round(double x, std::int64_t digits) {
    if (!std::isfinite(x)) return x;
    if (digits >= 0) {
        if (digits > 300) return x;
        char buf[512];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::fixed,
                                       static_cast<int>(digits));
        if (ec != std::errc()) return x;
        double result = 0;
        std::from_chars(buf, end, result);
        return result;
    }
    double scale = std::pow(10.0, static_cast<double>(-digits));
    double scaled = x / scale;
    double rounded = std::nearbyint(scaled);  // default rounding mode: ties to even
    return rounded * scale;
}

Value f_round(Renderer&, const Value& v, CallArgs& args) {
    BoundArgs a("round", args, {"precision", "method"});
    std::int64_t precision = int_argument(a.get_or(0, Value::integer(0)), "precision");
    std::string method = a.has(1) && a.get(1).is_string() ? a.get(1).as_string() : "common";
    if (method != "common" && method != "ceil" && method != "floor")
        fault("method must be common, ceil or floor");
    if (v.is_undefined()) fault(v.undefined_message());
    if (!v.is_number()) fault("type ", v.type_name(), " doesn't define __round__ method");
    if (method == "common") {
        if (v.is_float()) return Value::floating(python_round(v.as_float(), precision));
        if (precision >= 0) return Value::integer(v.as_int());
        return Value::integer(
            static_cast<std::int64_t>(python_round(static_cast<double>(v.as_int()), precision)));
    }
    double scale = std::pow(10.0, static_cast<double>(precision));
    double scaled = v.as_float() * scale;
    return Value::floating((method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
}

Value f_safe(Renderer&, const Value& v, CallArgs& args) {
    BoundArgs a("safe", args, {});
    return v;  // no autoescaping in this interpreter, so nothing to mark
}

Value f_slice(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("slice", args, {"slices", "fill_with"});
    std::int64_t slices = int_argument(a.get(0), "slices");
    if (slices <= 0 || static_cast<std::size_t>(slices) > r.limits().max_items)
        fault("slice() count out of range");
    Value fill = a.get_or(1, Value::none());
    ValueList seq = r.iterate(v);
    const std::size_t n = seq.size();
    const std::size_t per = n / static_cast<std::size_t>(slices);
    const std::size_t extra = n % static_cast<std::size_t>(slices);
    std::size_t offset = 0;
    ValueList out;
    for (std::size_t k = 0; k < static_cast<std::size_t>(slices); ++k) {
        std::size_t start = offset + k * per;
        if (k < extra) ++offset;
        std::size_t end = offset + (k + 1) * per;
        ValueList part(seq.begin() + static_cast<std::ptrdiff_t>(start),
                       seq.begin() + static_cast<std::ptrdiff_t>(end));
        if (!fill.is_none() && k >= extra) part.push_back(fill);
        out.push_back(Value::list(std::move(part)));
    }
    r.check_items(out.size());
    return r.checked(Value::list(std::move(out)));
}

Value f_sort(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("sort", args, {"reverse", "case_sensitive", "attribute"});
    bool reverse = truthy(a.get_or(0, Value::boolean(false)));
    bool case_sensitive = truthy(a.get_or(1, Value::boolean(false)));
    std::vector<AttributePath> paths = attribute_paths(a.get_or(2, Value::none()), true);
    ValueList items = r.iterate(v);
    std::vector<std::pair<Value, std::size_t>> keyed;
    keyed.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i)
        keyed.emplace_back(key_of(r, items[i], paths, case_sensitive), i);
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
        return reverse ? compare(y.first, x.first, "<") < 0 : compare(x.first, y.first, "<") < 0;
    });
    ValueList out;
    out.reserve(items.size());
    for (const auto& [key, index] : keyed) out.push_back(items[index]);
    return Value::list(std::move(out));
}

Value f_string(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("string", args, {});
    if (v.is_string()) return v;
    return r.make_string(soft_str(r, v));
}

Value f_sum(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("sum", args, {"attribute", "start"});
    Value attribute = a.get_or(0, Value::none());
    std::optional<AttributePath> path;
    if (!attribute.is_none()) path.emplace(attribute);
    Value total = a.get_or(1, Value::integer(0));
    for (const Value& item : r.iterate(v)) {
        Value x = path ? path->get(r, item) : item;
        if (total.is_number() && x.is_number()) {
            if (total.is_float() || x.is_float()) {
                total = Value::floating(total.as_float() + x.as_float());
            } else {
                std::int64_t sum;
                if (__builtin_add_overflow(total.as_int(), x.as_int(), &sum))
                    fault("integer result too large");
                total = Value::integer(sum);
            }
        } else {
            fault("unsupported operand type(s) for +: '", total.type_name(), "' and '",
                  x.type_name(), "'");
        }
    }
    return total;
}

// jinja2's title: words start after '-', whitespace, '(', '{', '[' or '<'.
Value f_title(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("title", args, {});
    std::string s = soft_str(r, v);
    auto is_separator = [](char32_t c) {
        return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || text::is_space(c);
    };
    std::string out;
    bool at_start = true;
    bool in_separators = false;
    for (std::size_t pos = 0; pos < s.size();) {
        std::size_t start = pos;
        char32_t cp = text::decode(s, pos);
        bool sep = is_separator(cp);
        if (sep != in_separators) at_start = true;
        in_separators = sep;
        std::string_view piece(s.data() + start, pos - start);
        out += at_start ? text::upper(piece) : text::lower(piece);
        at_start = false;
    }
    return r.make_string(std::move(out));
}

void set_indent(JsonStyle& style, const Value& indent) {
    if (indent.is_none() || indent.is_undefined()) return;
    style.pretty = true;
    style.item_separator = std::string(1, ',');  // (char form: GCC 12 -Wrestrict false positive)
    if (indent.is_string()) {
        style.indent = indent.as_string();
    } else {
        std::int64_t n = int_argument(indent, "indent");
        if (n > 4096) fault("indent too large");
        style.indent =
            std::string(static_cast<std::size_t>(std::clamp<std::int64_t>(n, 0, 4096)), ' ');
    }
}

Value f_tojson(Renderer& r, const Value& v, CallArgs& args) {
    JsonStyle style;
    if (r.tojson_style() == TojsonStyle::jinja2_html_safe) {
        BoundArgs a("tojson", args, {"indent"});
        style.sort_keys = true;
        style.ensure_ascii = true;
        style.html_safe = true;
        set_indent(style, a.get_or(0, Value::none()));
    } else {
        // Hugging Face's signature: tojson(x, ensure_ascii=False, indent=None, separators=None,
        // sort_keys=False), passed on to Python's json.dumps.
        BoundArgs a("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
        style.ensure_ascii = truthy(a.get_or(0, Value::boolean(false)));
        set_indent(style, a.get_or(1, Value::none()));
        Value separators = a.get_or(2, Value::none());
        if (!separators.is_none()) {
            ValueList parts = r.iterate(separators);
            if (parts.size() != 2 || !parts[0].is_string() || !parts[1].is_string())
                fault("tojson separators must be a pair of strings");
            style.item_separator = parts[0].as_string();
            style.key_separator = parts[1].as_string();
        }
        style.sort_keys = truthy(a.get_or(3, Value::boolean(false)));
    }
    std::string json = to_json(v, style, r.value_limits());
    return r.make_string(std::move(json));
}

Value f_trim(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("trim", args, {"chars"});
    std::string s = soft_str(r, v);
    Value chars = a.get_or(0, Value::none());
    std::optional<std::string_view> set;
    if (!chars.is_none()) set = chars.as_string();
    if (!chars.is_none() && !chars.is_string()) fault("trim() chars must be a string");
    return r.make_string(std::string(text::strip(s, set, true, true)));
}

Value f_truncate(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("truncate", args, {"length", "killwords", "end", "leeway"});
    std::int64_t length = int_argument(a.get_or(0, Value::integer(255)), "length");
    bool killwords = truthy(a.get_or(1, Value::boolean(false)));
    std::string end = soft_str(r, a.get_or(2, Value::string("...")));
    std::int64_t leeway = int_argument(a.get_or(3, Value::integer(5)), "leeway");
    std::vector<char32_t> cps = text::decode_all(soft_str(r, v));
    const auto end_length = static_cast<std::int64_t>(text::length(end));
    if (length < end_length) fault("expected length >= ", end_length, ", got ", length);
    if (leeway < 0) fault("expected leeway >= 0, got ", leeway);
    if (static_cast<std::int64_t>(cps.size()) <= length + leeway)
        return r.make_string(text::encode_all(cps));
    cps.resize(static_cast<std::size_t>(length - end_length));
    std::string kept = text::encode_all(cps);
    if (!killwords) {
        std::size_t space = kept.rfind(' ');
        if (space != std::string::npos) kept.resize(space);
    }
    return r.make_string(kept + end);
}

Value f_unique(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("unique", args, {"case_sensitive", "attribute"});
    bool case_sensitive = truthy(a.get_or(0, Value::boolean(false)));
    std::vector<AttributePath> paths = attribute_paths(a.get_or(1, Value::none()), false);
    ValueList out;
    ValueList seen;
    for (const Value& item : r.iterate(v)) {
        Value key = key_of(r, item, paths, case_sensitive);
        if (key.is_list() && !key.is_tuple()) fault("unhashable type: 'list'");
        if (key.is_dict()) fault("unhashable type: 'dict'");
        if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equal(s, key); }))
            continue;
        seen.push_back(key);
        out.push_back(item);
    }
    return Value::list(std::move(out));
}

Value f_wordcount(Renderer& r, const Value& v, CallArgs& args) {
    BoundArgs a("wordcount", args, {});
    std::string s = soft_str(r, v);
    std::size_t words = 0;
    bool in_word = false;
    for (std::size_t pos = 0; pos < s.size();) {
        char32_t cp = text::decode(s, pos);
        bool word_char = cp == '_' || text::is_alpha(cp) || text::is_digit(cp);
        if (word_char && !in_word) ++words;
        in_word = word_char;
    }
    return integer(words);
}

struct FilterEntry {
    std::string_view name;
    FilterFn fn;
};

constexpr std::array<FilterEntry, 45> kFilters = {{
    {"abs", f_abs},
    {"attr", f_attr},
    {"batch", f_batch},
    {"capitalize", f_capitalize},
    {"center", f_center},
    {"count", f_length},
    {"d", f_default},
    {"default", f_default},
    {"dictsort", f_dictsort},
    {"e", f_escape},
    {"escape", f_escape},
    {"first", f_first},
    {"float", f_float},
    {"forceescape", f_escape},
    {"format", f_format},
    {"indent", f_indent},
    {"int", f_int},
    {"items", f_items},
    {"join", f_join},
    {"last", f_last},
    {"length", f_length},
    {"list", f_list},
    {"lower", f_lower},
    {"map", f_map},
    {"max", f_max},
    {"min", f_min},
    {"reject", f_reject},
    {"rejectattr", f_rejectattr},
    {"replace", f_replace},
    {"reverse", f_reverse},
    {"round", f_round},
    {"safe", f_safe},
    {"select", f_select},
    {"selectattr", f_selectattr},
    {"slice", f_slice},
    {"sort", f_sort},
    {"string", f_string},
    {"sum", f_sum},
    {"title", f_title},
    {"tojson", f_tojson},
    {"trim", f_trim},
    {"truncate", f_truncate},
    {"unique", f_unique},
    {"upper", f_upper},
    {"wordcount", f_wordcount},
}};

// ---- tests ----

const Value& test_arg(const CallArgs& args, std::string_view test) {
    if (args.positional.size() != 1 || !args.keywords.empty())
        fault("test '", test, "' takes exactly one argument");
    return args.positional[0];
}

void no_args(const CallArgs& args, std::string_view test) {
    if (!args.positional.empty() || !args.keywords.empty())
        fault("test '", test, "' takes no arguments");
}

bool t_defined(Renderer&, const Value& v, CallArgs& a) {
    return no_args(a, "defined"), !v.is_undefined();
}
bool t_undefined(Renderer&, const Value& v, CallArgs& a) {
    return no_args(a, "undefined"), v.is_undefined();
}
bool t_none(Renderer&, const Value& v, CallArgs& a) {
    return no_args(a, "none"), v.is_none();
}
bool t_boolean(Renderer&, const Value& v, CallArgs& a) {
    return no_args(a, "boolean"), v.is_bool();
}
bool t_true(Renderer&, const Value& v, CallArgs& a) {
    return no_args(a, "true"), v.is_bool() && v.as_bool();
}
bool t_false(Renderer&, const Value& v, CallArgs& a) {
    return no_args(a, "false"), v.is_bool() && !v.as_bool();
}
bool t_integer(Renderer&, const Value& v, CallArgs& a) {
    return no_args(a, "integer"), v.is_int();
}
bool t_float(Renderer&, const Value& v, CallArgs& a) {
    return no_args(a, "float"), v.is_float();
}
bool t_number(Renderer&, const Value& v, CallArgs& a) {
    return no_args(a, "number"), v.is_number();
}
bool t_string(Renderer&, const Value& v, CallArgs& a) {
    return no_args(a, "string"), v.is_string();
}
bool t_mapping(Renderer&, const Value& v, CallArgs& a) {
    return no_args(a, "mapping"), v.is_dict();
}
bool t_escaped(Renderer&, const Value&, CallArgs& a) {
    return no_args(a, "escaped"), false;
}

// jinja2's Undefined is iterable and has a length, so it passes `iterable` and `sequence`.
bool t_iterable(Renderer&, const Value& v, CallArgs& a) {
    no_args(a, "iterable");
    return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}
bool t_sequence(Renderer&, const Value& v, CallArgs& a) {
    no_args(a, "sequence");
    return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}
// Undefined counts as callable too: jinja2's Undefined defines __call__ (to raise).
bool t_callable(Renderer&, const Value& v, CallArgs& a) {
    no_args(a, "callable");
    return v.is_undefined() || (v.is_object() && v.as_object().is_callable());
}

// Python's `x % m == want` for a float x.
bool float_remainder_is(double x, double m, double want) {
    double mod = std::fmod(x, m);
    if (mod != 0 && ((m < 0) != (mod < 0))) mod += m;
    return mod == want;
}

std::int64_t integral_for_test(const Value& v, std::string_view test) {
    if (v.is_int() || v.is_bool()) return v.as_int();
    if (v.is_undefined()) fault(v.undefined_message());
    fault("test '", test, "' needs an integer, got ", v.type_name());
}

bool t_odd(Renderer&, const Value& v, CallArgs& a) {
    no_args(a, "odd");
    if (v.is_float()) return float_remainder_is(v.as_float(), 2.0, 1.0);
    return integral_for_test(v, "odd") % 2 != 0;
}
bool t_even(Renderer&, const Value& v, CallArgs& a) {
    no_args(a, "even");
    if (v.is_float()) return float_remainder_is(v.as_float(), 2.0, 0.0);
    return integral_for_test(v, "even") % 2 == 0;
}
bool t_divisibleby(Renderer&, const Value& v, CallArgs& a) {
    const Value& d = test_arg(a, "divisibleby");
    if (v.is_float() || d.is_float()) {
        if (d.as_float() == 0) fault("float modulo");
        return std::fmod(v.as_float(), d.as_float()) == 0;
    }
    std::int64_t divisor = integral_for_test(d, "divisibleby");
    if (divisor == 0) fault("integer modulo by zero");
    return integral_for_test(v, "divisibleby") % divisor == 0;
}

bool t_eq(Renderer&, const Value& v, CallArgs& a) {
    return equal(v, test_arg(a, "eq"));
}
bool t_ne(Renderer&, const Value& v, CallArgs& a) {
    return !equal(v, test_arg(a, "ne"));
}
bool t_lt(Renderer&, const Value& v, CallArgs& a) {
    return compare(v, test_arg(a, "lt"), "<") < 0;
}
bool t_le(Renderer&, const Value& v, CallArgs& a) {
    return compare(v, test_arg(a, "le"), "<=") <= 0;
}
bool t_gt(Renderer&, const Value& v, CallArgs& a) {
    return compare(v, test_arg(a, "gt"), ">") > 0;
}
bool t_ge(Renderer&, const Value& v, CallArgs& a) {
    return compare(v, test_arg(a, "ge"), ">=") >= 0;
}
bool t_in(Renderer& r, const Value& v, CallArgs& a) {
    return r.contains(test_arg(a, "in"), v);
}

// `is sameas`: identity. Values here have no identity apart from their content, so scalars of
// the same type and equal value are "the same", as Python's cached small ints and singletons are.
bool t_sameas(Renderer&, const Value& v, CallArgs& a) {
    const Value& other = test_arg(a, "sameas");
    if (v.kind() != other.kind()) return false;
    if (v.is_object()) return v.object_ptr() == other.object_ptr();
    return equal(v, other);
}

// jinja2's lower and upper tests look at str(value).
bool cased_all(Renderer& r, const Value& v, bool want_lower) {
    bool any_cased = false;
    const std::string s = to_str(v, r.value_limits());
    for (std::size_t pos = 0; pos < s.size();) {
        char32_t cp = text::decode(s, pos);
        if (!text::is_cased(cp)) continue;
        any_cased = true;
        bool is_lower = text::to_upper(cp) != cp || cp == 0xDF;
        if (is_lower != want_lower) return false;
    }
    return any_cased;
}
bool t_lower(Renderer& r, const Value& v, CallArgs& a) {
    return no_args(a, "lower"), cased_all(r, v, true);
}
bool t_upper(Renderer& r, const Value& v, CallArgs& a) {
    return no_args(a, "upper"), cased_all(r, v, false);
}

bool t_filter(Renderer&, const Value& v, CallArgs& a) {
    no_args(a, "filter");
    return v.is_string() && find_filter(v.as_string()) != nullptr;
}
bool t_test(Renderer&, const Value& v, CallArgs& a) {
    no_args(a, "test");
    return v.is_string() && find_test(v.as_string()) != nullptr;
}

struct TestEntry {
    std::string_view name;
    TestFn fn;
};

constexpr std::array<TestEntry, 39> kTests = {{
    {"boolean", t_boolean},
    {"callable", t_callable},
    {"defined", t_defined},
    {"divisibleby", t_divisibleby},
    {"eq", t_eq},
    {"equalto", t_eq},
    {"==", t_eq},
    {"escaped", t_escaped},
    {"even", t_even},
    {"false", t_false},
    {"filter", t_filter},
    {"float", t_float},
    {"ge", t_ge},
    {">=", t_ge},
    {"gt", t_gt},
    {"greaterthan", t_gt},
    {">", t_gt},
    {"in", t_in},
    {"integer", t_integer},
    {"iterable", t_iterable},
    {"le", t_le},
    {"<=", t_le},
    {"lower", t_lower},
    {"lt", t_lt},
    {"lessthan", t_lt},
    {"<", t_lt},
    {"mapping", t_mapping},
    {"ne", t_ne},
    {"!=", t_ne},
    {"none", t_none},
    {"number", t_number},
    {"odd", t_odd},
    {"sameas", t_sameas},
    {"sequence", t_sequence},
    {"string", t_string},
    {"test", t_test},
    {"true", t_true},
    {"undefined", t_undefined},
    {"upper", t_upper},
}};

}  // namespace

FilterFn find_filter(std::string_view name) {
    for (const FilterEntry& f : kFilters)
        if (f.name == name) return f.fn;
    return nullptr;
}

TestFn find_test(std::string_view name) {
    for (const TestEntry& t : kTests)
        if (t.name == name) return t.fn;
    return nullptr;
}

}  // namespace ponder::jinja
