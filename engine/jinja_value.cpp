#include "engine/jinja_value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/jinja_text.h"

namespace ponder::jinja {

namespace {

int nesting_of(const ValueList& items) {
    int deepest = 0;
    for (const Value& item : items) deepest = std::max(deepest, item.nesting());
    return deepest + 1;
}

void check_size(const std::string& out, const ValueLimits& limits) {
    if (out.size() > limits.max_string_bytes)
        fault("string of more than ", limits.max_string_bytes, " bytes (rendering limit)");
}

void append_int(std::string& out, std::int64_t i) {
    out += std::to_string(i);
}

void append_json_string(std::string& out, std::string_view s, const JsonStyle& style) {
    out += '"';
    char buf[16];
    for (std::size_t pos = 0; pos < s.size();) {
        std::size_t start = pos;
        char32_t cp = text::decode(s, pos);
        switch (cp) {
            case '"':
                out += "\\\"";
                continue;
            case '\\':
                out += "\\\\";
                continue;
            case '\n':
                out += "\\n";
                continue;
            case '\r':
                out += "\\r";
                continue;
            case '\t':
                out += "\\t";
                continue;
            case '\b':
                out += "\\b";
                continue;
            case '\f':
                out += "\\f";
                continue;
            default:
                break;
        }
        if (style.html_safe && (cp == '<' || cp == '>' || cp == '&' || cp == '\'')) {
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
            out += buf;
        } else if (cp < 0x20 || (style.ensure_ascii && cp >= 0x7F)) {
            if (cp >= 0x10000) {
                char32_t v = cp - 0x10000;
                std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x",
                              static_cast<unsigned>(0xD800 + (v >> 10)),
                              static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
            } else {
                std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
            }
            out += buf;
        } else {
            out.append(s.substr(start, pos - start));
        }
    }
    out += '"';
}

std::string json_float(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return text::float_repr(d);
}

// Python's json.dumps turns non-string keys into strings.
std::string json_key(const Value& key) {
    switch (key.kind()) {
        case Value::Kind::string:
            return key.as_string();
        case Value::Kind::integer:
            return std::to_string(key.as_int());
        case Value::Kind::floating:
            return json_float(key.as_float());
        case Value::Kind::boolean:
            return key.as_bool() ? "true" : "false";
        case Value::Kind::none:
            return "null";
        default:
            fault("keys must be str, int, float, bool or None, not ", key.type_name());
    }
}

void write_json(std::string& out, const Value& v, const JsonStyle& style, const ValueLimits& limits,
                int depth) {
    if (depth > limits.max_nesting) fault("value nested too deeply for tojson");
    auto newline = [&](int level) {
        out += '\n';
        for (int i = 0; i < level; ++i) out += style.indent;
    };
    switch (v.kind()) {
        case Value::Kind::none:
            out += "null";
            return;
        case Value::Kind::boolean:
            out += v.as_bool() ? "true" : "false";
            return;
        case Value::Kind::integer:
            append_int(out, v.as_int());
            return;
        case Value::Kind::floating:
            out += json_float(v.as_float());
            return;
        case Value::Kind::string:
            append_json_string(out, v.as_string(), style);
            return;
        case Value::Kind::list: {
            const ValueList& items = v.as_list();
            if (items.empty()) {
                out += "[]";
                return;
            }
            out += '[';
            for (std::size_t i = 0; i < items.size(); ++i) {
                if (i > 0) out += style.item_separator;
                if (style.pretty) newline(depth + 1);
                write_json(out, items[i], style, limits, depth + 1);
                check_size(out, limits);
            }
            if (style.pretty) newline(depth);
            out += ']';
            return;
        }
        case Value::Kind::dict: {
            const auto& entries = v.as_dict();
            if (entries.empty()) {
                out += "{}";
                return;
            }
            std::vector<std::pair<std::string, const Value*>> keyed;
            keyed.reserve(entries.size());
            for (const auto& [key, value] : entries) keyed.emplace_back(json_key(key), &value);
            if (style.sort_keys)
                std::stable_sort(keyed.begin(), keyed.end(),
                                 [](const auto& a, const auto& b) { return a.first < b.first; });
            out += '{';
            for (std::size_t i = 0; i < keyed.size(); ++i) {
                if (i > 0) out += style.item_separator;
                if (style.pretty) newline(depth + 1);
                append_json_string(out, keyed[i].first, style);
                out += style.key_separator;
                write_json(out, *keyed[i].second, style, limits, depth + 1);
                check_size(out, limits);
            }
            if (style.pretty) newline(depth);
            out += '}';
            return;
        }
        case Value::Kind::undefined:
            fault("Object of type Undefined is not JSON serializable");
        case Value::Kind::object:
            fault("Object of type ", v.type_name(), " is not JSON serializable");
    }
}

void write_repr(std::string& out, const Value& v, const ValueLimits& limits, int depth);

void write_namespace(std::string& out, const Namespace& ns, const ValueLimits& limits, int depth) {
    out += "<Namespace {";
    bool first = true;
    for (const auto& [name, value] : ns.attributes()) {
        if (!first) out += ", ";
        first = false;
        text::append_repr(out, name);
        out += ": ";
        write_repr(out, value, limits, depth + 1);
        check_size(out, limits);
    }
    out += "}>";
}

void write_str(std::string& out, const Value& v, const ValueLimits& limits, int depth) {
    switch (v.kind()) {
        case Value::Kind::undefined:
            return;
        case Value::Kind::string:
            out += v.as_string();
            return;
        default:
            write_repr(out, v, limits, depth);
            return;
    }
}

void write_repr(std::string& out, const Value& v, const ValueLimits& limits, int depth) {
    if (depth > limits.max_nesting) fault("value nested too deeply to print");
    switch (v.kind()) {
        case Value::Kind::undefined:
            return;
        case Value::Kind::none:
            out += "None";
            return;
        case Value::Kind::boolean:
            out += v.as_bool() ? "True" : "False";
            return;
        case Value::Kind::integer:
            append_int(out, v.as_int());
            return;
        case Value::Kind::floating:
            out += text::float_repr(v.as_float());
            return;
        case Value::Kind::string:
            text::append_repr(out, v.as_string());
            return;
        case Value::Kind::list: {
            const ValueList& items = v.as_list();
            bool tuple = v.is_tuple();
            out += tuple ? '(' : '[';
            for (std::size_t i = 0; i < items.size(); ++i) {
                if (i > 0) out += ", ";
                write_repr(out, items[i], limits, depth + 1);
                check_size(out, limits);
            }
            if (tuple && items.size() == 1) out += ',';
            out += tuple ? ')' : ']';
            return;
        }
        case Value::Kind::dict: {
            out += '{';
            bool first = true;
            for (const auto& [key, value] : v.as_dict()) {
                if (!first) out += ", ";
                first = false;
                write_repr(out, key, limits, depth + 1);
                out += ": ";
                write_repr(out, value, limits, depth + 1);
                check_size(out, limits);
            }
            out += '}';
            return;
        }
        case Value::Kind::object: {
            if (auto* ns = dynamic_cast<const Namespace*>(&v.as_object())) {
                write_namespace(out, *ns, limits, depth);
                return;
            }
            out += v.as_object().repr();
            return;
        }
    }
}

bool equal_at(const Value& a, const Value& b, int depth) {
    if (depth > 256) fault("values nested too deeply to compare");
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
        return a.as_int() == b.as_int();
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case Value::Kind::undefined:
        case Value::Kind::none:
            return true;
        case Value::Kind::string:
            return a.as_string() == b.as_string();
        case Value::Kind::list: {
            if (a.is_tuple() != b.is_tuple()) return false;
            const ValueList& x = a.as_list();
            const ValueList& y = b.as_list();
            if (x.size() != y.size()) return false;
            for (std::size_t i = 0; i < x.size(); ++i)
                if (!equal_at(x[i], y[i], depth + 1)) return false;
            return true;
        }
        case Value::Kind::dict: {
            const auto& x = a.as_dict();
            const auto& y = b.as_dict();
            if (x.size() != y.size()) return false;
            for (const auto& [key, value] : x) {
                const Value* other = b.find(key);
                if (other == nullptr || !equal_at(value, *other, depth + 1)) return false;
            }
            return true;
        }
        case Value::Kind::object:
            return a.object_ptr() == b.object_ptr();
        default:
            return false;
    }
}

[[noreturn]] void unorderable(const Value& a, const Value& b, std::string_view op) {
    if (a.is_undefined()) fault(a.undefined_message());
    if (b.is_undefined()) fault(b.undefined_message());
    fault("'", op, "' not supported between instances of '", a.type_name(), "' and '",
          b.type_name(), "'");
}

int compare_at(const Value& a, const Value& b, std::string_view op, int depth) {
    if (depth > 256) fault("values nested too deeply to compare");
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) {
            double x = a.as_float();
            double y = b.as_float();
            return x < y ? -1 : (x > y ? 1 : 0);
        }
        std::int64_t x = a.as_int();
        std::int64_t y = b.as_int();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (a.is_string() && b.is_string()) {
        int c = a.as_string().compare(b.as_string());  // UTF-8 byte order is code point order
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
        const ValueList& x = a.as_list();
        const ValueList& y = b.as_list();
        for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (equal_at(x[i], y[i], depth + 1)) continue;
            return compare_at(x[i], y[i], op, depth + 1);
        }
        return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
    }
    unorderable(a, b, op);
}

}  // namespace

Value Value::undefined(std::string message) {
    Value v;
    v.data_ = UndefinedInfo{std::make_shared<const std::string>(std::move(message))};
    return v;
}

Value Value::none() {
    Value v;
    v.data_ = nullptr;
    return v;
}

Value Value::boolean(bool b) {
    Value v;
    v.data_ = b;
    return v;
}

Value Value::integer(std::int64_t i) {
    Value v;
    v.data_ = i;
    return v;
}

Value Value::floating(double d) {
    Value v;
    v.data_ = d;
    return v;
}

Value Value::string(std::string s) {
    Value v;
    v.data_ = std::make_shared<const std::string>(std::move(s));
    return v;
}

Value Value::list(ValueList items) {
    Value v;
    int nesting = nesting_of(items);
    v.data_ = std::make_shared<const ListData>(ListData{std::move(items), false, nesting});
    return v;
}

Value Value::tuple(ValueList items) {
    Value v;
    int nesting = nesting_of(items);
    v.data_ = std::make_shared<const ListData>(ListData{std::move(items), true, nesting});
    return v;
}

Value Value::dict(std::vector<std::pair<Value, Value>> entries) {
    Value v;
    int deepest = 0;
    for (const auto& [key, value] : entries)
        deepest = std::max({deepest, key.nesting(), value.nesting()});
    v.data_ = std::make_shared<const DictData>(DictData{std::move(entries), deepest + 1});
    return v;
}

Value Value::object(std::shared_ptr<Object> object) {
    Value v;
    v.data_ = std::move(object);
    return v;
}

bool Value::is_tuple() const {
    return is_list() && std::get<ListPtr>(data_)->is_tuple;
}

std::int64_t Value::as_int() const {
    if (is_bool()) return as_bool() ? 1 : 0;
    return std::get<std::int64_t>(data_);
}

double Value::as_float() const {
    if (is_float()) return std::get<double>(data_);
    return static_cast<double>(as_int());
}

const ValueList& Value::as_list() const {
    return std::get<ListPtr>(data_)->items;
}

std::shared_ptr<const ValueList> Value::shared_items() const {
    const ListPtr& list = std::get<ListPtr>(data_);
    return std::shared_ptr<const ValueList>(list, &list->items);
}

const std::vector<std::pair<Value, Value>>& Value::as_dict() const {
    return std::get<DictPtr>(data_)->entries;
}

int Value::nesting() const {
    if (is_list()) return std::get<ListPtr>(data_)->nesting;
    if (is_dict()) return std::get<DictPtr>(data_)->nesting;
    return 0;
}

std::string Value::undefined_message() const {
    const auto& info = std::get<UndefinedInfo>(data_);
    return info.message ? *info.message : std::string("value is undefined");
}

std::string_view Value::type_name() const {
    switch (kind()) {
        case Kind::undefined:
            return "Undefined";
        case Kind::none:
            return "NoneType";
        case Kind::boolean:
            return "bool";
        case Kind::integer:
            return "int";
        case Kind::floating:
            return "float";
        case Kind::string:
            return "str";
        case Kind::list:
            return is_tuple() ? "tuple" : "list";
        case Kind::dict:
            return "dict";
        case Kind::object:
            return as_object().type_name();
    }
    return "object";
}

const Value* Value::find(const Value& key) const {
    if (key.is_string()) return find(std::string_view(key.as_string()));
    for (const auto& [k, v] : as_dict())
        if (equal(k, key)) return &v;
    return nullptr;
}

const Value* Value::find(std::string_view key) const {
    for (const auto& [k, v] : as_dict())
        if (k.is_string() && k.as_string() == key) return &v;
    return nullptr;
}

Value Object::attribute(std::string_view name) const {
    return Value::undefined(cat("'", type_name(), " object' has no attribute '", name, "'"));
}

std::string Object::repr() const {
    return cat("<", type_name(), " object>");
}

Value Object::call(Renderer&, CallArgs) {
    fault("'", type_name(), "' object is not callable");
}

Value Namespace::attribute(std::string_view name) const {
    for (const auto& [key, value] : attributes_)
        if (key == name) return value;
    return Object::attribute(name);
}

std::string Namespace::repr() const {
    std::string out;
    write_namespace(out, *this, ValueLimits{}, 0);
    return out;
}

void Namespace::set(std::string_view name, Value value) {
    for (auto& [key, existing] : attributes_) {
        if (key == name) {
            existing = std::move(value);
            return;
        }
    }
    attributes_.emplace_back(std::string(name), std::move(value));
}

bool truthy(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::undefined:
        case Value::Kind::none:
            return false;
        case Value::Kind::boolean:
            return v.as_bool();
        case Value::Kind::integer:
            return v.as_int() != 0;
        case Value::Kind::floating:
            return v.as_float() != 0.0;
        case Value::Kind::string:
            return !v.as_string().empty();
        case Value::Kind::list:
            return !v.as_list().empty();
        case Value::Kind::dict:
            return !v.as_dict().empty();
        case Value::Kind::object:
            return true;
    }
    return false;
}

bool equal(const Value& a, const Value& b) {
    return equal_at(a, b, 0);
}

int compare(const Value& a, const Value& b, std::string_view op) {
    return compare_at(a, b, op, 0);
}

void append_str(std::string& out, const Value& v, const ValueLimits& limits) {
    write_str(out, v, limits, 0);
    check_size(out, limits);
}

std::string to_str(const Value& v, const ValueLimits& limits) {
    if (v.is_string()) return v.as_string();
    std::string out;
    append_str(out, v, limits);
    return out;
}

void append_repr(std::string& out, const Value& v, const ValueLimits& limits) {
    write_repr(out, v, limits, 0);
    check_size(out, limits);
}

std::string to_json(const Value& v, const JsonStyle& style, const ValueLimits& limits) {
    std::string out;
    write_json(out, v, style, limits, 0);
    check_size(out, limits);
    return out;
}

namespace {

Value from_json_at(const nlohmann::ordered_json& json, const ValueLimits& limits, int depth) {
    if (depth > limits.max_nesting)
        fault("input data nested more than ", limits.max_nesting, " levels deep");
    switch (json.type()) {
        case nlohmann::json::value_t::null:
        case nlohmann::json::value_t::discarded:
            return Value::none();
        case nlohmann::json::value_t::boolean:
            return Value::boolean(json.get<bool>());
        case nlohmann::json::value_t::number_integer:
            return Value::integer(json.get<std::int64_t>());
        case nlohmann::json::value_t::number_unsigned: {
            auto u = json.get<std::uint64_t>();
            if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                return Value::floating(static_cast<double>(u));
            return Value::integer(static_cast<std::int64_t>(u));
        }
        case nlohmann::json::value_t::number_float:
            return Value::floating(json.get<double>());
        case nlohmann::json::value_t::string:
            return Value::string(json.get<std::string>());
        case nlohmann::json::value_t::array: {
            ValueList items;
            items.reserve(json.size());
            for (const auto& item : json) items.push_back(from_json_at(item, limits, depth + 1));
            return Value::list(std::move(items));
        }
        case nlohmann::json::value_t::object: {
            std::vector<std::pair<Value, Value>> entries;
            entries.reserve(json.size());
            for (const auto& [key, item] : json.items())
                entries.emplace_back(Value::string(key), from_json_at(item, limits, depth + 1));
            return Value::dict(std::move(entries));
        }
        case nlohmann::json::value_t::binary:
            fault("binary JSON values are not supported");
    }
    return Value::none();
}

}  // namespace

Value from_json(const nlohmann::ordered_json& json, const ValueLimits& limits) {
    return from_json_at(json, limits, 0);
}

}  // namespace ponder::jinja
