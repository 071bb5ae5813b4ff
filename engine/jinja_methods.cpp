// The Python methods of str, list and dict values that jinja2's immutable sandbox allows:
// " ".join(...), s.split(), d.items(), d.get(...)... Methods that would modify a value are
// refused when called, as jinja2 refuses them.
#include <algorithm>
#include <array>

#include "engine/jinja_builtins.h"
#include "engine/jinja_interpreter.h"
#include "engine/jinja_text.h"

namespace ponder::jinja {

namespace {

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
            string_argument(v, prefix ? "startswith() argument" : "endswith() argument");
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
    std::int64_t width = int_argument(width_v, "width");
    std::string fill = fill_v.is_undefined() ? " " : string_argument(fill_v, "fill character");
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
        if (!c.is_none()) chars = string_argument(c, "strip arg");
        return Value::string(
            std::string(text::strip(s, chars, name != "rstrip", name != "lstrip")));
    }
    if (name == "split" || name == "rsplit") {
        BoundArgs a(name, args, {"sep", "maxsplit"});
        Value sep = a.get_or(0, Value::none());
        long max_split =
            static_cast<long>(int_argument(a.get_or(1, Value::integer(-1)), "maxsplit"));
        if (sep.is_none())
            return string_list(r, name == "split" ? text::split_whitespace(s, max_split)
                                                  : text::rsplit_whitespace(s, max_split));
        const std::string& separator = string_argument(sep, "separator");
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
        const std::string& old_text = string_argument(a.get(0), "replace() argument 1");
        const std::string& new_text = string_argument(a.get(1), "replace() argument 2");
        long count = static_cast<long>(int_argument(a.get_or(2, Value::integer(-1)), "count"));
        std::size_t hits = text::count(s, old_text);
        if (!new_text.empty() && hits > 0 &&
            (s.size() + hits * new_text.size()) > r.limits().max_output_bytes)
            fault("string of more than ", r.limits().max_output_bytes, " bytes (rendering limit)");
        return r.make_string(text::replace(s, old_text, new_text, count));
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
        BoundArgs a(name, args, {"sub"});
        const std::string& sub = string_argument(a.get(0), "substring");
        std::size_t at = (name == "find" || name == "index") ? s.find(sub) : s.rfind(sub);
        if (at == std::string::npos) {
            if (name == "index" || name == "rindex") fault("substring not found");
            return Value::integer(-1);
        }
        return Value::integer(code_point_index(s, at));
    }
    if (name == "count") {
        BoundArgs a(name, args, {"sub"});
        return integer(text::count(s, string_argument(a.get(0), "substring")));
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
        std::int64_t width = int_argument(a.get(0), "width");
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
        const std::string& sep = string_argument(a.get(0), "separator");
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
        const std::string& affix = string_argument(a.get(0), name);
        if (name == "removeprefix" && s.starts_with(affix))
            return Value::string(s.substr(affix.size()));
        if (name == "removesuffix" && s.ends_with(affix) && !affix.empty())
            return Value::string(s.substr(0, s.size() - affix.size()));
        return self;
    }
    if (name == "expandtabs") {
        BoundArgs a(name, args, {"tabsize"});
        std::int64_t tab = int_argument(a.get_or(0, Value::integer(8)), "tabsize");
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

}  // namespace

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

}  // namespace ponder::jinja
