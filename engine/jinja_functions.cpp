// Global functions, Python methods of str/list/dict values, and Python string formatting
// (% operator, str.format, strftime).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "engine/jinja_builtins.h"
#include "engine/jinja_interpreter.h"
#include "engine/jinja_text.h"

namespace ponder::jinja {

BoundArgs::BoundArgs(std::string_view function, const CallArgs& args,
                     std::initializer_list<std::string_view> params)
    : function_(function), names_(params), slots_(params.size(), nullptr) {
    if (args.positional.size() > names_.size())
        fault(function, "() takes at most ", names_.size(), " argument(s) (",
              args.positional.size(), " given)");
    for (std::size_t i = 0; i < args.positional.size(); ++i) slots_[i] = &args.positional[i];
    for (const auto& [name, value] : args.keywords) {
        auto it = std::find(names_.begin(), names_.end(), name);
        if (it == names_.end())
            fault(function, "() got an unexpected keyword argument '", name, "'");
        std::size_t i = static_cast<std::size_t>(it - names_.begin());
        if (slots_[i] != nullptr)
            fault(function, "() got multiple values for argument '", name, "'");
        slots_[i] = &value;
    }
}

const Value& BoundArgs::get(std::size_t i) const {
    if (slots_[i] == nullptr) fault(function_, "() missing required argument '", names_[i], "'");
    return *slots_[i];
}

Value BoundArgs::get_or(std::size_t i, Value fallback) const {
    return slots_[i] != nullptr ? *slots_[i] : std::move(fallback);
}

namespace {

std::int64_t need_int(const Value& v, std::string_view what) {
    if (v.is_int() || v.is_bool()) return v.as_int();
    if (v.is_undefined()) fault(v.undefined_message());
    fault("'", v.type_name(), "' object cannot be interpreted as an integer (", what, ")");
}

const std::string& need_str(const Value& v, std::string_view what) {
    if (v.is_string()) return v.as_string();
    if (v.is_undefined()) fault(v.undefined_message());
    fault(what, " must be str, not ", v.type_name());
}

Value integer(std::size_t n) {
    return Value::integer(static_cast<std::int64_t>(n));
}

Value string_list(Renderer& r, std::vector<std::string> parts) {
    r.check_items(parts.size());
    ValueList items;
    items.reserve(parts.size());
    for (std::string& p : parts) items.push_back(Value::string(std::move(p)));
    return Value::list(std::move(items));
}

// ---- callable objects ----

class BuiltinFunction final : public Object {
  public:
    using Fn = Value (*)(Renderer&, CallArgs&);
    BuiltinFunction(std::string_view name, Fn fn) : name_(name), fn_(fn) {}
    std::string_view type_name() const override { return "builtin_function_or_method"; }
    std::string repr() const override { return cat("<built-in function ", name_, ">"); }
    bool is_callable() const override { return true; }
    Value call(Renderer& renderer, CallArgs args) override { return fn_(renderer, args); }

  private:
    std::string_view name_;
    Fn fn_;
};

// A Python method bound to a str, list or dict value.
class BoundMethod final : public Object {
  public:
    BoundMethod(Value self, std::string name) : self_(std::move(self)), name_(std::move(name)) {}
    std::string_view type_name() const override { return "builtin_function_or_method"; }
    std::string repr() const override {
        return cat("<built-in method ", name_, " of ", self_.type_name(), " object>");
    }
    bool is_callable() const override { return true; }
    Value call(Renderer& renderer, CallArgs args) override {
        if (std::optional<Value> result = call_method(renderer, self_, name_, args)) return *result;
        fault("'", self_.type_name(), "' object has no method '", name_, "'");
    }

  private:
    Value self_;
    std::string name_;
};

class Cycler final : public Object, public std::enable_shared_from_this<Cycler> {
  public:
    explicit Cycler(ValueList items) : items_(std::move(items)) {}
    std::string_view type_name() const override { return "Cycler"; }
    Value attribute(std::string_view name) const override;
    Value current() const { return items_[position_]; }
    Value next() const {
        Value v = items_[position_];
        position_ = (position_ + 1) % items_.size();
        return v;
    }
    void reset() const { position_ = 0; }

  private:
    ValueList items_;
    mutable std::size_t position_ = 0;  // the cycler's whole purpose is this counter
};

class CyclerMethod final : public Object {
  public:
    CyclerMethod(std::shared_ptr<const Cycler> cycler, bool is_next)
        : cycler_(std::move(cycler)), is_next_(is_next) {}
    std::string_view type_name() const override { return "method"; }
    bool is_callable() const override { return true; }
    Value call(Renderer&, CallArgs) override {
        if (is_next_) return cycler_->next();
        cycler_->reset();
        return Value::none();
    }

  private:
    std::shared_ptr<const Cycler> cycler_;
    bool is_next_;
};

Value Cycler::attribute(std::string_view name) const {
    if (name == "current") return current();
    if (name == "next" || name == "reset")
        return Value::object(std::make_shared<CyclerMethod>(shared_from_this(), name == "next"));
    return Object::attribute(name);
}

class Joiner final : public Object {
  public:
    explicit Joiner(Value separator) : separator_(std::move(separator)) {}
    std::string_view type_name() const override { return "Joiner"; }
    bool is_callable() const override { return true; }
    Value call(Renderer&, CallArgs) override {
        if (!used_) {
            used_ = true;
            return Value::string("");
        }
        return separator_;
    }

  private:
    Value separator_;
    bool used_ = false;
};

// ---- global functions ----

Value fn_range(Renderer& r, CallArgs& args) {
    if (!args.keywords.empty()) fault("range() takes no keyword arguments");
    const ValueList& a = args.positional;
    if (a.empty() || a.size() > 3) fault("range expected 1 to 3 arguments, got ", a.size());
    std::int64_t start = 0;
    std::int64_t stop = 0;
    std::int64_t step = 1;
    if (a.size() == 1) {
        stop = need_int(a[0], "range");
    } else {
        start = need_int(a[0], "range");
        stop = need_int(a[1], "range");
        if (a.size() == 3) step = need_int(a[2], "range");
    }
    if (step == 0) fault("range() arg 3 must not be zero");
    long double span =
        step > 0 ? static_cast<long double>(stop) - start : static_cast<long double>(start) - stop;
    long double count = span <= 0 ? 0 : std::ceil(span / std::fabs(static_cast<long double>(step)));
    if (count > static_cast<long double>(r.limits().max_items))
        fault("range() of more than ", r.limits().max_items, " items (rendering limit)");
    auto n = static_cast<std::size_t>(count);
    r.check_items(n);
    ValueList items;
    items.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        items.push_back(Value::integer(start + static_cast<std::int64_t>(i) * step));
    return Value::list(std::move(items));
}

std::vector<std::pair<Value, Value>> dict_entries(Renderer& r, std::string_view fn,
                                                  CallArgs& args) {
    if (args.positional.size() > 1) fault(fn, " expected at most 1 positional argument");
    std::vector<std::pair<Value, Value>> entries;
    auto put = [&](Value key, Value value) {
        for (auto& entry : entries) {
            if (equal(entry.first, key)) {
                entry.second = std::move(value);
                return;
            }
        }
        entries.emplace_back(std::move(key), std::move(value));
    };
    if (!args.positional.empty()) {
        const Value& source = args.positional[0];
        if (source.is_dict()) {
            for (const auto& [k, v] : source.as_dict()) put(k, v);
        } else {
            for (const Value& pair : r.iterate(source)) {
                ValueList kv = r.iterate(pair);
                if (kv.size() != 2) fault(fn, ": sequence elements must be pairs");
                put(kv[0], kv[1]);
            }
        }
    }
    for (auto& [name, value] : args.keywords) put(Value::string(name), value);
    return entries;
}

Value fn_dict(Renderer& r, CallArgs& args) {
    return r.checked(Value::dict(dict_entries(r, "dict", args)));
}

Value fn_namespace(Renderer& r, CallArgs& args) {
    auto ns = r.make_namespace();
    for (auto& [key, value] : dict_entries(r, "namespace", args)) {
        if (!key.is_string()) fault("namespace() keywords must be strings");
        ns->set(key.as_string(), value);
    }
    return Value::object(ns);
}

Value fn_cycler(Renderer&, CallArgs& args) {
    if (args.positional.empty()) fault("cycler() needs at least one item");
    return Value::object(std::make_shared<Cycler>(args.positional));
}

Value fn_joiner(Renderer&, CallArgs& args) {
    BoundArgs a("joiner", args, {"sep"});
    return Value::object(std::make_shared<Joiner>(a.get_or(0, Value::string(", "))));
}

Value fn_raise_exception(Renderer& r, CallArgs& args) {
    BoundArgs a("raise_exception", args, {"message"});
    throw TemplateFault(to_str(a.get_or(0, Value::string("")), r.value_limits()),
                        TemplateFault::Origin::raised_by_template);
}

Value fn_strftime_now(Renderer& r, CallArgs& args) {
    BoundArgs a("strftime_now", args, {"format"});
    return r.make_string(format_time(need_str(a.get(0), "strftime_now() format"), r.now()));
}

struct GlobalEntry {
    std::string_view name;
    BuiltinFunction::Fn fn;
};

constexpr std::array<GlobalEntry, 7> kGlobals = {{
    {"range", fn_range},
    {"dict", fn_dict},
    {"namespace", fn_namespace},
    {"cycler", fn_cycler},
    {"joiner", fn_joiner},
    {"raise_exception", fn_raise_exception},
    {"strftime_now", fn_strftime_now},
}};

// ---- methods ----

constexpr std::array<std::string_view, 41> kStrMethods = {
    "capitalize",   "casefold", "center",    "count",      "endswith",   "find",
    "format",       "index",    "isalnum",   "isalpha",    "isascii",    "isdecimal",
    "isdigit",      "islower",  "isnumeric", "isspace",    "istitle",    "isupper",
    "join",         "ljust",    "lower",     "lstrip",     "partition",  "removeprefix",
    "removesuffix", "replace",  "rfind",     "rindex",     "rjust",      "rpartition",
    "rsplit",       "rstrip",   "split",     "splitlines", "startswith", "strip",
    "swapcase",     "title",    "upper",     "zfill",      "expandtabs"};
constexpr std::array<std::string_view, 3> kListMethods = {"count", "index", "copy"};
constexpr std::array<std::string_view, 8> kListMutators = {"append", "clear",  "extend",  "insert",
                                                           "pop",    "remove", "reverse", "sort"};
constexpr std::array<std::string_view, 5> kDictMethods = {"copy", "get", "items", "keys", "values"};
constexpr std::array<std::string_view, 5> kDictMutators = {"clear", "pop", "popitem", "setdefault",
                                                           "update"};

template <std::size_t N>
bool listed(const std::array<std::string_view, N>& names, std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

// Index in code points of a byte offset.
std::int64_t code_point_index(std::string_view s, std::size_t byte_offset) {
    return static_cast<std::int64_t>(text::length(s.substr(0, byte_offset)));
}

bool matches_affix(Renderer& r, const std::string& s, const Value& affix, bool prefix) {
    auto check = [&](const Value& v) {
        const std::string& a =
            need_str(v, prefix ? "startswith() argument" : "endswith() argument");
        return prefix ? s.starts_with(a) : s.ends_with(a);
    };
    if (affix.is_tuple()) {
        for (const Value& v : r.iterate(affix))
            if (check(v)) return true;
        return false;
    }
    return check(affix);
}

Value pad(Renderer& r, const std::string& s, const Value& width_v, const Value& fill_v, int align) {
    std::int64_t width = need_int(width_v, "width");
    std::string fill = fill_v.is_undefined() ? " " : need_str(fill_v, "fill character");
    if (text::length(fill) != 1) fault("The fill character must be exactly one character long");
    std::int64_t len = static_cast<std::int64_t>(text::length(s));
    if (width <= len) return Value::string(s);
    if (static_cast<std::size_t>(width) > r.limits().max_output_bytes)
        fault("string of more than ", r.limits().max_output_bytes, " bytes (rendering limit)");
    std::int64_t total = width - len;
    std::int64_t left = align < 0 ? 0 : (align > 0 ? total : total / 2 + (total & width & 1));
    std::string out;
    for (std::int64_t i = 0; i < left; ++i) out += fill;
    out += s;
    for (std::int64_t i = 0; i < total - left; ++i) out += fill;
    return r.make_string(std::move(out));
}

bool all_code_points(const std::string& s, bool (*pred)(char32_t)) {
    if (s.empty()) return false;
    for (std::size_t pos = 0; pos < s.size();)
        if (!pred(text::decode(s, pos))) return false;
    return true;
}

std::optional<Value> call_str_method(Renderer& r, const Value& self, std::string_view name,
                                     CallArgs& args) {
    const std::string& s = self.as_string();
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        BoundArgs a(name, args, {"chars"});
        std::optional<std::string_view> chars;
        Value c = a.get_or(0, Value::none());
        if (!c.is_none()) chars = need_str(c, "strip arg");
        return Value::string(
            std::string(text::strip(s, chars, name != "rstrip", name != "lstrip")));
    }
    if (name == "split" || name == "rsplit") {
        BoundArgs a(name, args, {"sep", "maxsplit"});
        Value sep = a.get_or(0, Value::none());
        long max_split = static_cast<long>(need_int(a.get_or(1, Value::integer(-1)), "maxsplit"));
        if (sep.is_none())
            return string_list(r, name == "split" ? text::split_whitespace(s, max_split)
                                                  : text::rsplit_whitespace(s, max_split));
        const std::string& separator = need_str(sep, "separator");
        if (separator.empty()) fault("empty separator");
        return string_list(r, name == "split" ? text::split(s, separator, max_split)
                                              : text::rsplit(s, separator, max_split));
    }
    if (name == "splitlines") {
        BoundArgs a(name, args, {"keepends"});
        return string_list(r, text::splitlines(s, truthy(a.get_or(0, Value::boolean(false)))));
    }
    if (name == "upper") return r.make_string(text::upper(s));
    if (name == "lower" || name == "casefold") return r.make_string(text::lower(s));
    if (name == "title") return r.make_string(text::title(s));
    if (name == "capitalize") return r.make_string(text::capitalize(s));
    if (name == "swapcase") return r.make_string(text::swapcase(s));
    if (name == "startswith" || name == "endswith") {
        BoundArgs a(name, args, {"prefix"});
        return Value::boolean(matches_affix(r, s, a.get(0), name == "startswith"));
    }
    if (name == "replace") {
        BoundArgs a(name, args, {"old", "new", "count"});
        const std::string& old_text = need_str(a.get(0), "replace() argument 1");
        const std::string& new_text = need_str(a.get(1), "replace() argument 2");
        long count = static_cast<long>(need_int(a.get_or(2, Value::integer(-1)), "count"));
        std::size_t hits = text::count(s, old_text);
        if (!new_text.empty() && hits > 0 &&
            (s.size() + hits * new_text.size()) > r.limits().max_output_bytes)
            fault("string of more than ", r.limits().max_output_bytes, " bytes (rendering limit)");
        return r.make_string(text::replace(s, old_text, new_text, count));
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
        BoundArgs a(name, args, {"sub"});
        const std::string& sub = need_str(a.get(0), "substring");
        std::size_t at = (name == "find" || name == "index") ? s.find(sub) : s.rfind(sub);
        if (at == std::string::npos) {
            if (name == "index" || name == "rindex") fault("substring not found");
            return Value::integer(-1);
        }
        return Value::integer(code_point_index(s, at));
    }
    if (name == "count") {
        BoundArgs a(name, args, {"sub"});
        return integer(text::count(s, need_str(a.get(0), "substring")));
    }
    if (name == "join") {
        BoundArgs a(name, args, {"iterable"});
        ValueList items = r.iterate(a.get(0));
        std::string out;
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (!items[i].is_string())
                fault("sequence item ", i, ": expected str instance, ", items[i].type_name(),
                      " found");
            if (i > 0) out += s;
            out += items[i].as_string();
            if (out.size() > r.limits().max_output_bytes)
                fault("string of more than ", r.limits().max_output_bytes,
                      " bytes (rendering limit)");
        }
        return r.make_string(std::move(out));
    }
    if (name == "center" || name == "ljust" || name == "rjust") {
        BoundArgs a(name, args, {"width", "fillchar"});
        int align = name == "center" ? 0 : (name == "ljust" ? -1 : 1);
        return pad(r, s, a.get(0), a.get_or(1, Value()), align);
    }
    if (name == "zfill") {
        BoundArgs a(name, args, {"width"});
        std::int64_t width = need_int(a.get(0), "width");
        std::int64_t len = static_cast<std::int64_t>(text::length(s));
        if (width <= len) return Value::string(s);
        if (static_cast<std::size_t>(width) > r.limits().max_output_bytes)
            fault("string of more than ", r.limits().max_output_bytes, " bytes (rendering limit)");
        std::size_t sign = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
        return r.make_string(s.substr(0, sign) +
                             std::string(static_cast<std::size_t>(width - len), '0') +
                             s.substr(sign));
    }
    if (name == "partition" || name == "rpartition") {
        BoundArgs a(name, args, {"sep"});
        const std::string& sep = need_str(a.get(0), "separator");
        if (sep.empty()) fault("empty separator");
        std::size_t at = name == "partition" ? s.find(sep) : s.rfind(sep);
        if (at == std::string::npos) {
            if (name == "partition")
                return Value::tuple({Value::string(s), Value::string(""), Value::string("")});
            return Value::tuple({Value::string(""), Value::string(""), Value::string(s)});
        }
        return Value::tuple({Value::string(s.substr(0, at)), Value::string(sep),
                             Value::string(s.substr(at + sep.size()))});
    }
    if (name == "removeprefix" || name == "removesuffix") {
        BoundArgs a(name, args, {"affix"});
        const std::string& affix = need_str(a.get(0), name);
        if (name == "removeprefix" && s.starts_with(affix))
            return Value::string(s.substr(affix.size()));
        if (name == "removesuffix" && s.ends_with(affix) && !affix.empty())
            return Value::string(s.substr(0, s.size() - affix.size()));
        return self;
    }
    if (name == "expandtabs") {
        BoundArgs a(name, args, {"tabsize"});
        std::int64_t tab = need_int(a.get_or(0, Value::integer(8)), "tabsize");
        std::string out;
        std::int64_t column = 0;
        for (std::size_t pos = 0; pos < s.size();) {
            char32_t cp = text::decode(s, pos);
            if (cp == '\t') {
                if (tab > 0) {
                    std::int64_t spaces = tab - column % tab;
                    out.append(static_cast<std::size_t>(spaces), ' ');
                    column += spaces;
                }
            } else {
                text::append_utf8(out, cp);
                column = (cp == '\n' || cp == '\r') ? 0 : column + 1;
            }
            if (out.size() > r.limits().max_output_bytes)
                fault("string of more than ", r.limits().max_output_bytes,
                      " bytes (rendering limit)");
        }
        return r.make_string(std::move(out));
    }
    if (name == "format") return r.make_string(brace_format(r, s, args));
    if (name.starts_with("is")) {
        BoundArgs a(name, args, {});
        if (name == "isascii") return Value::boolean(text::is_ascii(s));
        if (name == "isspace") return Value::boolean(all_code_points(s, text::is_space));
        if (name == "isalpha") return Value::boolean(all_code_points(s, text::is_alpha));
        if (name == "isdigit" || name == "isdecimal" || name == "isnumeric")
            return Value::boolean(all_code_points(s, text::is_digit));
        if (name == "isalnum")
            return Value::boolean(all_code_points(
                s, [](char32_t c) { return text::is_alpha(c) || text::is_digit(c); }));
        if (name == "islower" || name == "isupper") {
            bool any_cased = false;
            for (std::size_t pos = 0; pos < s.size();) {
                char32_t cp = text::decode(s, pos);
                if (!text::is_cased(cp)) continue;
                any_cased = true;
                bool is_lower = text::to_upper(cp) != cp || cp == 0xDF;
                if (is_lower != (name == "islower")) return Value::boolean(false);
            }
            return Value::boolean(any_cased);
        }
        if (name == "istitle")
            return Value::boolean(!s.empty() && text::title(s) == s && text::lower(s) != s);
    }
    return std::nullopt;
}

std::optional<Value> call_list_method(Renderer& r, const Value& self, std::string_view name,
                                      CallArgs& args) {
    const ValueList& items = self.as_list();
    if (name == "count") {
        BoundArgs a(name, args, {"value"});
        return integer(static_cast<std::size_t>(std::count_if(
            items.begin(), items.end(), [&](const Value& v) { return equal(v, a.get(0)); })));
    }
    if (name == "index") {
        BoundArgs a(name, args, {"value"});
        for (std::size_t i = 0; i < items.size(); ++i)
            if (equal(items[i], a.get(0))) return integer(i);
        std::string shown;
        append_repr(shown, a.get(0), r.value_limits());
        fault(shown, " is not in list");
    }
    if (name == "copy") {
        BoundArgs a(name, args, {});
        return self;
    }
    return std::nullopt;
}

std::optional<Value> call_dict_method(Renderer& r, const Value& self, std::string_view name,
                                      CallArgs& args) {
    if (name == "get") {
        BoundArgs a(name, args, {"key", "default"});
        if (const Value* v = self.find(a.get(0))) return *v;
        return a.get_or(1, Value::none());
    }
    if (name == "items" || name == "keys" || name == "values") {
        BoundArgs a(name, args, {});
        const auto& entries = self.as_dict();
        r.check_items(entries.size());
        ValueList out;
        out.reserve(entries.size());
        for (const auto& [key, value] : entries) {
            if (name == "items") {
                out.push_back(Value::tuple({key, value}));
            } else {
                out.push_back(name == "keys" ? key : value);
            }
        }
        return Value::list(std::move(out));
    }
    if (name == "copy") {
        BoundArgs a(name, args, {});
        return self;
    }
    return std::nullopt;
}

// ---- Python format specifications (str.format and format()) ----

struct FormatSpec {
    char32_t fill = ' ';
    char align = 0;
    char sign = '-';
    bool alternate = false;
    bool zero = false;
    std::int64_t width = -1;
    char grouping = 0;
    std::int64_t precision = -1;
    char type = 0;
};

FormatSpec parse_spec(std::string_view spec) {
    FormatSpec f;
    std::vector<char32_t> cps = text::decode_all(spec);
    std::size_t i = 0;
    auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
    if (cps.size() >= 2 && is_align(cps[1])) {
        f.fill = cps[0];
        f.align = static_cast<char>(cps[1]);
        i = 2;
    } else if (!cps.empty() && is_align(cps[0])) {
        f.align = static_cast<char>(cps[0]);
        i = 1;
    }
    if (i < cps.size() && (cps[i] == '+' || cps[i] == '-' || cps[i] == ' '))
        f.sign = static_cast<char>(cps[i++]);
    if (i < cps.size() && cps[i] == '#') f.alternate = true, ++i;
    if (i < cps.size() && cps[i] == '0') f.zero = true, ++i;
    auto number = [&]() {
        std::int64_t n = -1;
        while (i < cps.size() && cps[i] >= '0' && cps[i] <= '9') {
            n = (n < 0 ? 0 : n) * 10 + static_cast<std::int64_t>(cps[i++] - '0');
            if (n > 1'000'000'000) fault("format width too large");
        }
        return n;
    };
    f.width = number();
    if (i < cps.size() && (cps[i] == ',' || cps[i] == '_'))
        f.grouping = static_cast<char>(cps[i++]);
    if (i < cps.size() && cps[i] == '.') {
        ++i;
        f.precision = number();
        if (f.precision < 0) fault("Format specifier missing precision");
    }
    if (i < cps.size()) f.type = static_cast<char>(cps[i++]);
    if (i != cps.size()) fault("Invalid format specifier '", spec, "'");
    return f;
}

std::string group_digits(std::string digits, char separator) {
    std::size_t point = digits.find('.');
    std::size_t end = point == std::string::npos ? digits.size() : point;
    std::size_t start = 0;
    while (start < end && (digits[start] < '0' || digits[start] > '9')) ++start;
    for (std::ptrdiff_t k = static_cast<std::ptrdiff_t>(end) - 3;
         k > static_cast<std::ptrdiff_t>(start); k -= 3)
        digits.insert(static_cast<std::size_t>(k), 1, separator);
    return digits;
}

std::string format_with_spec(Renderer& r, const Value& v, std::string_view spec_text) {
    FormatSpec spec = parse_spec(spec_text);
    std::string body;
    std::string sign;
    char default_align = '<';
    if (v.is_number() && !(v.is_bool() && spec.type == 0)) {
        default_align = '>';
        char type = spec.type;
        bool integral = (v.is_int() || v.is_bool());
        if (integral && (type == 0 || type == 'd' || type == 'n' || type == 'x' || type == 'X' ||
                         type == 'o' || type == 'b' || type == 'c')) {
            std::int64_t n = v.as_int();
            unsigned long long mag = n < 0 ? 0ULL - static_cast<unsigned long long>(n)
                                           : static_cast<unsigned long long>(n);
            if (n < 0) sign = "-";
            if (type == 'c') {
                text::append_utf8(body, static_cast<char32_t>(n));
            } else if (type == 'x' || type == 'X' || type == 'o' || type == 'b') {
                int base = type == 'o' ? 8 : (type == 'b' ? 2 : 16);
                const char* digits = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
                do {
                    body.insert(body.begin(), digits[mag % static_cast<unsigned>(base)]);
                    mag /= static_cast<unsigned>(base);
                } while (mag > 0);
                if (spec.alternate)
                    body = std::string("0") +
                           (type == 'o' ? "o" : (type == 'b' ? "b" : (type == 'X' ? "X" : "x"))) +
                           body;
            } else {
                body = std::to_string(mag);
            }
        } else {
            if (type != 0 && std::string_view("eEfFgG%").find(type) == std::string_view::npos)
                fault("Unknown format code '", type, "' for object of type '", v.type_name(), "'");
            double d = v.as_float();
            if (std::signbit(d)) sign = "-";
            d = std::fabs(d);
            if (type == 0 && spec.precision < 0) {
                body = integral ? std::to_string(static_cast<long long>(d)) : text::float_repr(d);
            } else {
                std::int64_t precision = spec.precision < 0 ? 6 : spec.precision;
                char c_type = type == 0 ? 'g' : (type == '%' ? 'f' : type);
                if (type == '%') d *= 100;
                char fmt[48];
                std::snprintf(fmt, sizeof fmt, "%%%s.%lld%c", spec.alternate ? "#" : "",
                              static_cast<long long>(precision), c_type);
                std::vector<char> buf(static_cast<std::size_t>(precision) + 400);
                std::snprintf(buf.data(), buf.size(), fmt, d);
                body = buf.data();
                if (type == '%') body += '%';
            }
        }
        if (sign.empty() && spec.sign == '+') sign = "+";
        if (sign.empty() && spec.sign == ' ') sign = " ";
        if (spec.grouping != 0) body = group_digits(body, spec.grouping);
    } else {
        if (spec.type != 0 && spec.type != 's')
            fault("Unknown format code '", spec.type, "' for object of type '", v.type_name(), "'");
        body = to_str(v, r.value_limits());
        if (spec.precision >= 0) {
            std::vector<char32_t> cps = text::decode_all(body);
            if (static_cast<std::int64_t>(cps.size()) > spec.precision) {
                cps.resize(static_cast<std::size_t>(spec.precision));
                body = text::encode_all(cps);
            }
        }
    }
    char align =
        spec.align != 0 ? spec.align : (spec.zero && default_align == '>' ? '=' : default_align);
    char32_t fill = spec.align != 0 ? spec.fill : (spec.zero ? U'0' : U' ');
    std::int64_t len = static_cast<std::int64_t>(text::length(sign) + text::length(body));
    std::int64_t missing = spec.width > len ? spec.width - len : 0;
    if (static_cast<std::size_t>(missing) > r.limits().max_output_bytes)
        fault("string of more than ", r.limits().max_output_bytes, " bytes (rendering limit)");
    std::string fill_text;
    auto fill_n = [&](std::int64_t n) {
        std::string out;
        for (std::int64_t k = 0; k < n; ++k) text::append_utf8(out, fill);
        return out;
    };
    switch (align) {
        case '<':
            return sign + body + fill_n(missing);
        case '^':
            return fill_n(missing / 2) + sign + body + fill_n(missing - missing / 2);
        case '=':
            return sign + fill_n(missing) + body;
        default:
            return fill_n(missing) + sign + body;
    }
}

}  // namespace

std::optional<Value> find_global(std::string_view name) {
    for (const GlobalEntry& g : kGlobals)
        if (g.name == name) return Value::object(std::make_shared<BuiltinFunction>(g.name, g.fn));
    return std::nullopt;
}

std::optional<Value> find_method(const Value& self, std::string_view name) {
    bool known = false;
    bool mutator = false;
    if (self.is_string()) {
        known = listed(kStrMethods, name);
    } else if (self.is_list()) {
        known = listed(kListMethods, name);
        mutator = !self.is_tuple() && listed(kListMutators, name);
    } else if (self.is_dict()) {
        known = listed(kDictMethods, name);
        mutator = listed(kDictMutators, name);
    }
    if (mutator)
        return Value::undefined(
            cat("access to attribute '", name, "' of '", self.type_name(), "' object is unsafe."));
    if (!known) return std::nullopt;
    return Value::object(std::make_shared<BoundMethod>(self, std::string(name)));
}

std::optional<Value> call_method(Renderer& renderer, const Value& self, std::string_view name,
                                 CallArgs& args) {
    if (self.is_string() && listed(kStrMethods, name))
        return call_str_method(renderer, self, name, args);
    if (self.is_list() && listed(kListMethods, name))
        return call_list_method(renderer, self, name, args);
    if (self.is_dict() && listed(kDictMethods, name))
        return call_dict_method(renderer, self, name, args);
    return std::nullopt;
}

// ---- printf-style formatting ----

std::string percent_format(Renderer& r, std::string_view fmt, const Value& values) {
    ValueList args;
    const Value* mapping = nullptr;
    if (values.is_tuple()) {
        args = values.as_list();
    } else {
        if (values.is_dict()) mapping = &values;
        args.push_back(values);
    }
    std::size_t next_arg = 0;
    bool used_mapping = false;
    std::string out;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] != '%') {
            out += fmt[i];
            continue;
        }
        if (++i >= fmt.size()) fault("incomplete format");
        if (fmt[i] == '%') {
            out += '%';
            continue;
        }
        const Value* arg = nullptr;
        if (fmt[i] == '(') {
            std::size_t close = fmt.find(')', i);
            if (close == std::string_view::npos) fault("incomplete format key");
            if (mapping == nullptr) fault("format requires a mapping");
            std::string key(fmt.substr(i + 1, close - i - 1));
            arg = mapping->find(key);
            if (arg == nullptr) fault("KeyError: '", key, "'");
            used_mapping = true;
            i = close + 1;
        }
        std::string flags;
        while (i < fmt.size() && std::string_view("-+ #0").find(fmt[i]) != std::string_view::npos)
            flags += fmt[i++];
        std::string width;
        while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') width += fmt[i++];
        std::string precision;
        if (i < fmt.size() && fmt[i] == '.') {
            ++i;
            precision = "0";
            while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') precision += fmt[i++];
        }
        while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
        if (i >= fmt.size()) fault("incomplete format");
        if (width.size() > 6 || precision.size() > 6) fault("format width too large");
        char type = fmt[i];
        if (arg == nullptr) {
            if (next_arg >= args.size()) fault("not enough arguments for format string");
            arg = &args[next_arg++];
        }
        std::string piece;
        switch (type) {
            case 's':
            case 'r':
            case 'a': {
                if (type == 's') {
                    piece = to_str(*arg, r.value_limits());
                } else {
                    append_repr(piece, *arg, r.value_limits());
                }
                if (!precision.empty()) {
                    std::vector<char32_t> cps = text::decode_all(piece);
                    std::size_t keep = std::stoul(precision);
                    if (cps.size() > keep) {
                        cps.resize(keep);
                        piece = text::encode_all(cps);
                    }
                }
                std::size_t w = width.empty() ? 0 : std::stoul(width);
                std::size_t len = text::length(piece);
                if (len < w) {
                    if (flags.find('-') != std::string::npos) {
                        piece.append(w - len, ' ');
                    } else {
                        piece.insert(0, w - len, ' ');
                    }
                }
                break;
            }
            case 'd':
            case 'i':
            case 'u':
            case 'x':
            case 'X':
            case 'o':
            case 'c': {
                if (!arg->is_number())
                    fault("%", type, " format: a real number is required, not ", arg->type_name());
                if ((type == 'x' || type == 'X' || type == 'o' || type == 'c') && arg->is_float())
                    fault("%", type, " format: an integer is required, not float");
                std::int64_t n = arg->is_float()
                                     ? static_cast<std::int64_t>(std::trunc(arg->as_float()))
                                     : arg->as_int();
                char conv = (type == 'i' || type == 'u') ? 'd' : type;
                std::string c_fmt =
                    "%" + flags + width + (precision.empty() ? "" : "." + precision) + "ll" + conv;
                if (type == 'c') c_fmt = "%" + flags + width + "c";
                char buf[128];
                if (type == 'c') {
                    std::snprintf(buf, sizeof buf, c_fmt.c_str(), static_cast<int>(n));
                } else {
                    std::snprintf(buf, sizeof buf, c_fmt.c_str(), static_cast<long long>(n));
                }
                piece = buf;
                break;
            }
            case 'f':
            case 'F':
            case 'e':
            case 'E':
            case 'g':
            case 'G': {
                if (!arg->is_number()) fault("must be real number, not ", arg->type_name());
                std::string c_fmt =
                    "%" + flags + width + (precision.empty() ? "" : "." + precision) + type;
                std::vector<char> buf(512 + (precision.empty() ? 0 : std::stoul(precision)));
                std::snprintf(buf.data(), buf.size(), c_fmt.c_str(), arg->as_float());
                piece = buf.data();
                break;
            }
            default:
                fault("unsupported format character '", type, "'");
        }
        out += piece;
        if (out.size() > r.limits().max_output_bytes)
            fault("string of more than ", r.limits().max_output_bytes, " bytes (rendering limit)");
    }
    if (mapping == nullptr && next_arg < args.size())
        fault("not all arguments converted during string formatting");
    (void)used_mapping;
    return out;
}

std::string brace_format(Renderer& r, std::string_view fmt, const CallArgs& args) {
    std::string out;
    std::size_t auto_index = 0;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
        char c = fmt[i];
        if (c == '}') {
            if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
                out += '}';
                ++i;
                continue;
            }
            fault("Single '}' encountered in format string");
        }
        if (c != '{') {
            out += c;
            continue;
        }
        if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
            out += '{';
            ++i;
            continue;
        }
        std::size_t close = fmt.find('}', i);
        if (close == std::string_view::npos) fault("Single '{' encountered in format string");
        std::string_view field = fmt.substr(i + 1, close - i - 1);
        i = close;
        std::string_view spec;
        char conversion = 0;
        if (std::size_t colon = field.find(':'); colon != std::string_view::npos) {
            spec = field.substr(colon + 1);
            field = field.substr(0, colon);
        }
        if (std::size_t bang = field.find('!'); bang != std::string_view::npos) {
            if (bang + 2 != field.size()) fault("expected ':' after conversion specifier");
            conversion = field[bang + 1];
            field = field.substr(0, bang);
        }
        std::size_t name_end = field.find_first_of(".[");
        std::string_view head = field.substr(0, name_end);
        Value v;
        if (head.empty()) {
            if (auto_index >= args.positional.size())
                fault("Replacement index ", auto_index, " out of range for positional args tuple");
            v = args.positional[auto_index++];
        } else if (std::all_of(head.begin(), head.end(),
                               [](char ch) { return ch >= '0' && ch <= '9'; })) {
            std::size_t index = std::stoul(std::string(head));
            if (index >= args.positional.size())
                fault("Replacement index ", index, " out of range for positional args tuple");
            v = args.positional[index];
        } else {
            auto it = std::find_if(args.keywords.begin(), args.keywords.end(),
                                   [&](const auto& kw) { return kw.first == head; });
            if (it == args.keywords.end()) fault("KeyError: '", head, "'");
            v = it->second;
        }
        std::string_view rest =
            name_end == std::string_view::npos ? std::string_view() : field.substr(name_end);
        while (!rest.empty()) {
            if (rest[0] == '.') {
                std::size_t end = rest.find_first_of(".[", 1);
                v = r.attribute(
                    v, rest.substr(
                           1, end == std::string_view::npos ? std::string_view::npos : end - 1));
                rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
            } else {
                std::size_t end = rest.find(']');
                if (end == std::string_view::npos) fault("Missing ']' in format string");
                std::string_view key = rest.substr(1, end - 1);
                bool numeric = !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) {
                    return ch >= '0' && ch <= '9';
                });
                v = r.item(v, numeric ? Value::integer(std::stoll(std::string(key)))
                                      : Value::string(std::string(key)));
                rest = rest.substr(end + 1);
            }
        }
        if (conversion == 'r' || conversion == 'a') {
            std::string shown;
            append_repr(shown, v, r.value_limits());
            v = Value::string(std::move(shown));
        } else if (conversion == 's') {
            v = Value::string(to_str(v, r.value_limits()));
        } else if (conversion != 0) {
            fault("Unknown conversion specifier ", conversion);
        }
        if (v.is_undefined() && spec.empty()) continue;
        out += format_with_spec(r, v, spec);
        if (out.size() > r.limits().max_output_bytes)
            fault("string of more than ", r.limits().max_output_bytes, " bytes (rendering limit)");
    }
    return out;
}

// ---- strftime ----

namespace {

constexpr std::array<std::string_view, 7> kDayNames = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonthNames = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

// ISO 8601 week-based year and week number.
std::pair<int, int> iso_week(const std::tm& tm) {
    int year = tm.tm_year + 1900;
    int weekday = (tm.tm_wday + 6) % 7;  // Monday = 0
    int week = (tm.tm_yday - weekday + 10) / 7;
    auto weeks_in = [](int y) {
        auto p = [](int yy) { return (yy + yy / 4 - yy / 100 + yy / 400) % 7; };
        return (p(y) == 4 || p(y - 1) == 3) ? 53 : 52;
    };
    if (week < 1) {
        --year;
        week = weeks_in(year);
    } else if (week > weeks_in(year)) {
        ++year;
        week = 1;
    }
    return {year, week};
}

}  // namespace

std::string format_time(std::string_view format, std::chrono::system_clock::time_point when) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
    std::tm tm{};
    localtime_r(&seconds, &tm);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            when.time_since_epoch() - std::chrono::seconds(seconds))
                            .count();
    std::string out;
    for (std::size_t i = 0; i < format.size(); ++i) {
        if (format[i] != '%' || i + 1 >= format.size()) {
            out += format[i];
            continue;
        }
        std::size_t start = i;
        char flag = 0;
        if (std::string_view("-_0^#").find(format[i + 1]) != std::string_view::npos &&
            i + 2 < format.size())
            flag = format[++i];
        char spec = format[++i];
        auto number = [&](long long value, int width, char padding) {
            if (flag == '-') return std::to_string(value);
            if (flag == '_') padding = ' ';
            if (flag == '0') padding = '0';
            std::string digits = std::to_string(value);
            if (static_cast<int>(digits.size()) < width)
                digits.insert(0, static_cast<std::size_t>(width) - digits.size(), padding);
            return digits;
        };
        auto name = [&](std::string_view full, bool abbreviated) {
            std::string s(abbreviated ? full.substr(0, 3) : full);
            if (flag == '^' || flag == '#') s = text::upper(s);
            return s;
        };
        int hour12 = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
        switch (spec) {
            case 'a':
                out += name(kDayNames[static_cast<std::size_t>(tm.tm_wday)], true);
                break;
            case 'A':
                out += name(kDayNames[static_cast<std::size_t>(tm.tm_wday)], false);
                break;
            case 'b':
            case 'h':
                out += name(kMonthNames[static_cast<std::size_t>(tm.tm_mon)], true);
                break;
            case 'B':
                out += name(kMonthNames[static_cast<std::size_t>(tm.tm_mon)], false);
                break;
            case 'c':
                out += format_time("%a %b %e %H:%M:%S %Y", when);
                break;
            case 'C':
                out += number((tm.tm_year + 1900) / 100, 2, '0');
                break;
            case 'd':
                out += number(tm.tm_mday, 2, '0');
                break;
            case 'D':
            case 'x':
                out += format_time("%m/%d/%y", when);
                break;
            case 'e':
                out += number(tm.tm_mday, 2, ' ');
                break;
            case 'f':
                out += number(micros, 6, '0');
                break;
            case 'F':
                out += format_time("%Y-%m-%d", when);
                break;
            case 'G':
                out += number(iso_week(tm).first, 4, '0');
                break;
            case 'g':
                out += number(iso_week(tm).first % 100, 2, '0');
                break;
            case 'H':
                out += number(tm.tm_hour, 2, '0');
                break;
            case 'I':
                out += number(hour12, 2, '0');
                break;
            case 'j':
                out += number(tm.tm_yday + 1, 3, '0');
                break;
            case 'k':
                out += number(tm.tm_hour, 2, ' ');
                break;
            case 'l':
                out += number(hour12, 2, ' ');
                break;
            case 'm':
                out += number(tm.tm_mon + 1, 2, '0');
                break;
            case 'M':
                out += number(tm.tm_min, 2, '0');
                break;
            case 'n':
                out += '\n';
                break;
            case 'p':
                out += tm.tm_hour < 12 ? "AM" : "PM";
                break;
            case 'P':
                out += tm.tm_hour < 12 ? "am" : "pm";
                break;
            case 'r':
                out += format_time("%I:%M:%S %p", when);
                break;
            case 'R':
                out += format_time("%H:%M", when);
                break;
            case 's':
                out += std::to_string(static_cast<long long>(seconds));
                break;
            case 'S':
                out += number(tm.tm_sec, 2, '0');
                break;
            case 't':
                out += '\t';
                break;
            case 'T':
            case 'X':
                out += format_time("%H:%M:%S", when);
                break;
            case 'u':
                out += number(tm.tm_wday == 0 ? 7 : tm.tm_wday, 1, '0');
                break;
            case 'U':
                out += number((tm.tm_yday + 7 - tm.tm_wday) / 7, 2, '0');
                break;
            case 'V':
                out += number(iso_week(tm).second, 2, '0');
                break;
            case 'w':
                out += number(tm.tm_wday, 1, '0');
                break;
            case 'W':
                out += number((tm.tm_yday + 7 - (tm.tm_wday + 6) % 7) / 7, 2, '0');
                break;
            case 'y':
                out += number((tm.tm_year + 1900) % 100, 2, '0');
                break;
            case 'Y':
                out += number(tm.tm_year + 1900, 4, '0');
                break;
            case 'z':
            case 'Z':
                break;  // Python's naive datetime has no zone
            case '%':
                out += '%';
                break;
            default:
                out.append(format.substr(start, i - start + 1));
                break;
        }
    }
    return out;
}

}  // namespace ponder::jinja
