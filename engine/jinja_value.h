#pragma once
// Values of the Jinja interpreter. They behave as the Python objects jinja2 templates see: None,
// bool, int, float, str, list, tuple, dict, plus jinja2's Undefined and a few objects (namespace,
// loop, macros, functions). Strings, lists and dicts are immutable and shared, so copying a Value
// is cheap and a template can never make a structure contain itself; the only mutable object is
// the namespace, which the interpreter empties at the end of a render.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace ponder::jinja {

// A runtime error raised while rendering. The interpreter records the template position of the
// innermost expression or statement being evaluated, so messages can say where it went wrong.
class TemplateFault : public Error {
  public:
    enum class Origin { runtime, raised_by_template };
    explicit TemplateFault(std::string message, Origin origin = Origin::runtime)
        : Error(std::move(message)), origin_(origin) {}
    static constexpr std::size_t kNoOffset = std::numeric_limits<std::size_t>::max();
    std::size_t offset() const { return offset_; }
    void set_offset_if_unknown(std::size_t offset) {
        if (offset_ == kNoOffset) offset_ = offset;
    }
    Origin origin() const { return origin_; }

  private:
    std::size_t offset_ = kNoOffset;
    Origin origin_;
};

template <typename... Parts>
[[noreturn]] void fault(Parts&&... parts) {
    throw TemplateFault(cat(std::forward<Parts>(parts)...));
}

class Value;
class Object;
class Renderer;

using ValueList = std::vector<Value>;

struct CallArgs {
    ValueList positional;
    std::vector<std::pair<std::string, Value>> keywords;
};

class Value {
  public:
    enum class Kind : std::uint8_t {
        undefined,
        none,
        boolean,
        integer,
        floating,
        string,
        list,  // list or tuple
        dict,
        object,
    };

    Value() = default;  // undefined, with a generic message
    static Value undefined(std::string message);
    static Value none();
    static Value boolean(bool b);
    static Value integer(std::int64_t i);
    static Value floating(double d);
    static Value string(std::string s);
    static Value list(ValueList items);
    static Value tuple(ValueList items);
    static Value dict(std::vector<std::pair<Value, Value>> entries);
    static Value object(std::shared_ptr<Object> object);

    Kind kind() const { return static_cast<Kind>(data_.index()); }
    bool is_undefined() const { return kind() == Kind::undefined; }
    bool is_none() const { return kind() == Kind::none; }
    bool is_bool() const { return kind() == Kind::boolean; }
    bool is_int() const { return kind() == Kind::integer; }
    bool is_float() const { return kind() == Kind::floating; }
    bool is_number() const { return is_int() || is_float() || is_bool(); }  // Python's Number
    bool is_string() const { return kind() == Kind::string; }
    bool is_list() const { return kind() == Kind::list; }
    bool is_tuple() const;
    bool is_dict() const { return kind() == Kind::dict; }
    bool is_object() const { return kind() == Kind::object; }

    bool as_bool() const { return std::get<bool>(data_); }
    std::int64_t as_int() const;  // int or bool
    double as_float() const;      // int, bool or float
    const std::string& as_string() const { return *std::get<StringPtr>(data_); }
    const ValueList& as_list() const;
    // The items of a list or tuple, sharing ownership with this value (no copy).
    std::shared_ptr<const ValueList> shared_items() const;
    const std::vector<std::pair<Value, Value>>& as_dict() const;
    Object& as_object() const { return *std::get<ObjectPtr>(data_); }
    const std::shared_ptr<Object>& object_ptr() const { return std::get<ObjectPtr>(data_); }
    // How deeply lists and dicts nest inside this value (0 for scalars).
    int nesting() const;

    // Why this value is undefined, as jinja2 says it ("'x' is undefined").
    std::string undefined_message() const;
    // Python's type name: "NoneType", "int", "str", "list", "dict", ...
    std::string_view type_name() const;

    // Dict lookup with Python equality on keys; nullptr when absent.
    const Value* find(const Value& key) const;
    const Value* find(std::string_view key) const;

  private:
    struct UndefinedInfo {
        std::shared_ptr<const std::string> message;
    };
    struct ListData {
        ValueList items;
        bool is_tuple = false;
        int nesting = 1;
    };
    struct DictData {
        std::vector<std::pair<Value, Value>> entries;
        int nesting = 1;
    };
    using StringPtr = std::shared_ptr<const std::string>;
    using ListPtr = std::shared_ptr<const ListData>;
    using DictPtr = std::shared_ptr<const DictData>;
    using ObjectPtr = std::shared_ptr<Object>;

    // The order matches Kind.
    std::variant<UndefinedInfo, std::nullptr_t, bool, std::int64_t, double, StringPtr, ListPtr,
                 DictPtr, ObjectPtr>
        data_;
};

// Objects other than plain data: namespaces, loop contexts, macros, functions.
class Object {
  public:
    virtual ~Object() = default;
    virtual std::string_view type_name() const = 0;
    // Attribute lookup; an undefined Value when there is no such attribute.
    virtual Value attribute(std::string_view name) const;
    virtual std::string repr() const;
    virtual bool is_callable() const { return false; }
    virtual Value call(Renderer& renderer, CallArgs args);
};

// jinja2's namespace(): the one object a template may change, through {% set ns.attr = ... %}.
class Namespace final : public Object {
  public:
    std::string_view type_name() const override { return "Namespace"; }
    Value attribute(std::string_view name) const override;
    std::string repr() const override;
    void set(std::string_view name, Value value);
    // Drops every attribute; breaks reference cycles at the end of a render.
    void clear() { attributes_.clear(); }
    const std::vector<std::pair<std::string, Value>>& attributes() const { return attributes_; }

  private:
    std::vector<std::pair<std::string, Value>> attributes_;
};

// Limits that keep value operations bounded: deeper nesting or longer strings are an error.
struct ValueLimits {
    int max_nesting = 64;
    std::size_t max_string_bytes = 16u << 20;
};

// Python truthiness.
bool truthy(const Value& v);
// Python ==.
bool equal(const Value& a, const Value& b);
// Python ordering for <, <=, >, >=: negative, zero or positive. Faults on types Python cannot
// order, naming `op` as Python does ("'<' not supported between instances of 'int' and 'str'").
int compare(const Value& a, const Value& b, std::string_view op);

// Python str() as jinja2 prints it (Undefined prints as nothing), appended to `out`.
void append_str(std::string& out, const Value& v, const ValueLimits& limits);
std::string to_str(const Value& v, const ValueLimits& limits);
// Python repr().
void append_repr(std::string& out, const Value& v, const ValueLimits& limits);

// JSON text as Python's json.dumps writes it.
struct JsonStyle {
    std::string indent;   // used when `pretty`
    bool pretty = false;  // json.dumps(indent=...) was given
    std::string item_separator = ", ";
    std::string key_separator = ": ";
    bool ensure_ascii = false;
    bool sort_keys = false;
    bool html_safe = false;  // jinja2's own tojson: <, >, &, ' as \u003c, \u003e, \u0026, \u0027
};
std::string to_json(const Value& v, const JsonStyle& style, const ValueLimits& limits);

// Converts JSON data (objects keep their key order) into template values.
Value from_json(const nlohmann::ordered_json& json, const ValueLimits& limits);

}  // namespace ponder::jinja
