// Global functions templates may call: jinja2's range, dict, namespace, cycler and joiner, and
// Hugging Face's raise_exception and strftime_now. Also the argument binding all builtins share.
#include <algorithm>
#include <array>
#include <cmath>

#include "engine/jinja_builtins.h"
#include "engine/jinja_interpreter.h"

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

std::int64_t int_argument(const Value& v, std::string_view what) {
    if (v.is_int() || v.is_bool()) return v.as_int();
    if (v.is_undefined()) fault(v.undefined_message());
    fault("'", v.type_name(), "' object cannot be interpreted as an integer (", what, ")");
}

const std::string& string_argument(const Value& v, std::string_view what) {
    if (v.is_string()) return v.as_string();
    if (v.is_undefined()) fault(v.undefined_message());
    fault(what, " must be str, not ", v.type_name());
}

namespace {

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
        stop = int_argument(a[0], "range");
    } else {
        start = int_argument(a[0], "range");
        stop = int_argument(a[1], "range");
        if (a.size() == 3) step = int_argument(a[2], "range");
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
    return r.make_string(format_time(string_argument(a.get(0), "strftime_now() format"), r.now()));
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

}  // namespace

std::optional<Value> find_global(std::string_view name) {
    for (const GlobalEntry& g : kGlobals)
        if (g.name == name) return Value::object(std::make_shared<BuiltinFunction>(g.name, g.fn));
    return std::nullopt;
}

}  // namespace ponder::jinja
