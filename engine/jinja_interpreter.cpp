#include "engine/jinja_interpreter.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/jinja_builtins.h"
#include "engine/jinja_lexer.h"
#include "engine/jinja_operators.h"
#include "engine/jinja_text.h"

namespace ponder::jinja {

namespace {

// Python's name for an object in "has no attribute" messages: 'dict object', 'None'.
std::string owner_description(const Value& v) {
    if (v.is_none()) return "None";
    return cat(v.type_name(), " object");
}

Value no_attribute(const Value& owner, std::string_view name) {
    return Value::undefined(cat("'", owner_description(owner), "' has no attribute '", name, "'"));
}

Value no_element(const Value& owner, const Value& key) {
    std::string shown;
    append_repr(shown, key, ValueLimits{});
    return Value::undefined(cat(owner_description(owner), " has no element ", shown));
}

// A macro, or the body of a {% call %} block as `caller`. It sees the variables of the scope it
// was defined in; it holds that scope weakly so that a scope holding its own macros is no cycle.
class Macro final : public Object {
  public:
    Macro(const MacroStmt& def, std::weak_ptr<Scope> closure)
        : def_(def), closure_(std::move(closure)) {}
    std::string_view type_name() const override { return "Macro"; }
    std::string repr() const override { return cat("<Macro '", def_.name, "'>"); }
    Value attribute(std::string_view name) const override {
        if (name == "name") return Value::string(def_.name);
        return Object::attribute(name);
    }
    bool is_callable() const override { return true; }
    Value call(Renderer& renderer, CallArgs args) override {
        std::shared_ptr<Scope> closure = closure_.lock();
        if (!closure) fault("macro '", def_.name, "' was called after the block defining it ended");
        return renderer.call_macro(def_, closure, std::move(args));
    }

  private:
    const MacroStmt& def_;
    std::weak_ptr<Scope> closure_;
};

// The `loop` variable of a for loop.
class LoopContext final : public Object, public std::enable_shared_from_this<LoopContext> {
  public:
    LoopContext(std::shared_ptr<const ValueList> items, int depth, const ForStmt& stmt,
                std::weak_ptr<Scope> closure)
        : items_(std::move(items)), depth_(depth), stmt_(stmt), closure_(std::move(closure)) {}

    void advance(std::size_t index) { index_ = index; }

    std::string_view type_name() const override { return "LoopContext"; }
    std::string repr() const override {
        return cat("<LoopContext ", index_ + 1, "/", items_->size(), ">");
    }
    Value attribute(std::string_view name) const override;
    bool is_callable() const override { return stmt_.recursive; }
    Value call(Renderer& renderer, CallArgs args) override {
        if (!stmt_.recursive)
            fault("the loop must have the 'recursive' marker to be called recursively");
        if (args.positional.size() != 1 || !args.keywords.empty())
            fault("loop() takes exactly one argument");
        std::shared_ptr<Scope> closure = closure_.lock();
        if (!closure) fault("loop() called after its loop ended");
        return renderer.run_recursive_loop(stmt_, closure, args.positional[0], depth_ + 1);
    }

    Value cycle(const CallArgs& args) const {
        if (args.positional.empty()) fault("no items for cycling given");
        return args.positional[index_ % args.positional.size()];
    }
    Value changed(const CallArgs& args) const {
        Value now = Value::list(args.positional);
        if (has_last_changed_ && equal(now, last_changed_)) return Value::boolean(false);
        last_changed_ = now;
        has_last_changed_ = true;
        return Value::boolean(true);
    }

  private:
    std::shared_ptr<const ValueList> items_;
    std::size_t index_ = 0;
    int depth_;
    const ForStmt& stmt_;
    std::weak_ptr<Scope> closure_;
    // loop.changed() remembers what it saw last; that memo is the loop's only mutable state.
    mutable Value last_changed_;
    mutable bool has_last_changed_ = false;
};

// loop.cycle and loop.changed, bound to their loop.
class LoopMethod final : public Object {
  public:
    LoopMethod(std::shared_ptr<const LoopContext> loop, bool is_cycle)
        : loop_(std::move(loop)), is_cycle_(is_cycle) {}
    std::string_view type_name() const override { return "method"; }
    bool is_callable() const override { return true; }
    Value call(Renderer&, CallArgs args) override {
        return is_cycle_ ? loop_->cycle(args) : loop_->changed(args);
    }

  private:
    std::shared_ptr<const LoopContext> loop_;
    bool is_cycle_;
};

Value LoopContext::attribute(std::string_view name) const {
    const std::size_t n = items_->size();
    auto integer = [](std::size_t v) { return Value::integer(static_cast<std::int64_t>(v)); };
    if (name == "index") return integer(index_ + 1);
    if (name == "index0") return integer(index_);
    if (name == "revindex") return integer(n - index_);
    if (name == "revindex0") return integer(n - index_ - 1);
    if (name == "first") return Value::boolean(index_ == 0);
    if (name == "last") return Value::boolean(index_ + 1 == n);
    if (name == "length") return integer(n);
    if (name == "depth") return Value::integer(depth_);
    if (name == "depth0") return Value::integer(depth_ - 1);
    if (name == "previtem") {
        if (index_ == 0) return Value::undefined("there is no previous item");
        return (*items_)[index_ - 1];
    }
    if (name == "nextitem") {
        if (index_ + 1 >= n) return Value::undefined("there is no next item");
        return (*items_)[index_ + 1];
    }
    if (name == "cycle" || name == "changed") {
        return Value::object(std::make_shared<LoopMethod>(shared_from_this(), name == "cycle"));
    }
    return Object::attribute(name);
}

}  // namespace

Value* Scope::find_local(std::string_view name) {
    for (auto& [key, value] : vars)
        if (key == name) return &value;
    return nullptr;
}

void Scope::set(std::string_view name, Value value) {
    if (Value* existing = find_local(name)) {
        *existing = std::move(value);
        return;
    }
    vars.emplace_back(name, std::move(value));
}

// Redirects output into a local buffer for the lifetime of the object.
class Renderer::OutputCapture {
  public:
    explicit OutputCapture(Renderer& r) : r_(r), saved_(r.out_) { r_.out_ = &buffer_; }
    ~OutputCapture() { r_.out_ = saved_; }
    OutputCapture(const OutputCapture&) = delete;
    OutputCapture& operator=(const OutputCapture&) = delete;
    std::string take() { return std::move(buffer_); }

  private:
    Renderer& r_;
    std::string* saved_;
    std::string buffer_;
};

// Makes `scope` current for the lifetime of the object.
class Renderer::ScopeSwitch {
  public:
    ScopeSwitch(Renderer& r, std::shared_ptr<Scope> scope) : r_(r), saved_(std::move(r.scope_)) {
        r_.scope_ = std::move(scope);
    }
    ~ScopeSwitch() { r_.scope_ = std::move(saved_); }
    ScopeSwitch(const ScopeSwitch&) = delete;
    ScopeSwitch& operator=(const ScopeSwitch&) = delete;

  private:
    Renderer& r_;
    std::shared_ptr<Scope> saved_;
};

class Renderer::CallDepth {
  public:
    CallDepth(Renderer& r, std::string_view what) : r_(r) {
        if (++r_.call_depth_ > r_.limits().max_call_depth)
            fault("maximum recursion depth (", r_.limits().max_call_depth, ") exceeded calling ",
                  what);
    }
    ~CallDepth() { --r_.call_depth_; }
    CallDepth(const CallDepth&) = delete;
    CallDepth& operator=(const CallDepth&) = delete;

  private:
    Renderer& r_;
};

Renderer::Renderer(const Program& program, const TemplateOptions& template_options,
                   const RenderOptions& options)
    : program_(program), template_options_(template_options), options_(options) {
    value_limits_.max_nesting = options.limits.max_nesting;
    value_limits_.max_string_bytes = options.limits.max_output_bytes;
}

Renderer::~Renderer() {
    // Namespaces are the only values that can refer to themselves; emptying them, oldest first,
    // frees any cycle without deep recursion.
    for (auto& weak : namespaces_)
        if (auto ns = weak.lock()) ns->clear();
}

std::chrono::system_clock::time_point Renderer::now() const {
    return options_.now.value_or(std::chrono::system_clock::now());
}

std::string Renderer::render(const Value& context) {
    deadline_ = std::chrono::steady_clock::now() + options_.limits.max_time;
    globals_ = std::make_shared<Scope>(nullptr);
    for (const auto& [key, value] : context.as_dict()) globals_->set(key.as_string(), value);
    scope_ = std::make_shared<Scope>(globals_);
    std::string output;
    out_ = &output;
    exec_body(program_.body);
    out_ = nullptr;
    return output;
}

void Renderer::tick() {
    ++steps_;
    if (steps_ > options_.limits.max_steps)
        fault("template ran more than ", options_.limits.max_steps, " steps (rendering limit)");
    if ((steps_ & 0xFFF) == 0 && std::chrono::steady_clock::now() > deadline_)
        fault("template ran longer than ", options_.limits.max_time.count(),
              " ms (rendering limit)");
}

void Renderer::write(std::string_view text) {
    if (out_->size() + text.size() > options_.limits.max_output_bytes)
        fault("output of more than ", options_.limits.max_output_bytes, " bytes (rendering limit)");
    out_->append(text);
}

Value Renderer::make_string(std::string s) {
    if (s.size() > options_.limits.max_output_bytes)
        fault("string of more than ", options_.limits.max_output_bytes, " bytes (rendering limit)");
    charge(s.size());
    return Value::string(std::move(s));
}

void Renderer::charge(std::size_t bytes) {
    allocated_ += bytes;
    if (allocated_ > options_.limits.max_allocated_bytes)
        fault("template built more than ", options_.limits.max_allocated_bytes,
              " bytes of strings and lists (rendering limit)");
}

void Renderer::check_items(std::size_t count) {
    if (count > options_.limits.max_items)
        fault("list of more than ", options_.limits.max_items, " items (rendering limit)");
    charge(count * sizeof(Value));
}

Value Renderer::checked(Value v) const {
    if (v.nesting() > options_.limits.max_nesting)
        fault("lists and dicts nested more than ", options_.limits.max_nesting, " levels deep");
    return v;
}

std::shared_ptr<Namespace> Renderer::make_namespace() {
    auto ns = std::make_shared<Namespace>();
    namespaces_.push_back(ns);
    return ns;
}

Value Renderer::lookup(std::string_view name) {
    for (Scope* s = scope_.get(); s != nullptr; s = s->parent.get())
        if (Value* v = s->find_local(name)) return *v;
    if (std::optional<Value> global = find_global(name)) return *global;
    return Value::undefined(cat("'", name, "' is undefined"));
}

// ---- attribute and item access, with jinja2's lookup rules ----

Value Renderer::attribute(const Value& object, std::string_view name) {
    switch (object.kind()) {
        case Value::Kind::undefined:
            fault(object.undefined_message());
        case Value::Kind::dict: {
            // Python's getattr comes first: d.items is the method even if there is a key "items".
            if (std::optional<Value> method = find_method(object, name)) return *method;
            if (const Value* v = object.find(name)) return *v;
            return no_attribute(object, name);
        }
        case Value::Kind::string:
        case Value::Kind::list:
            if (std::optional<Value> method = find_method(object, name)) return *method;
            return no_attribute(object, name);
        case Value::Kind::object:
            return object.as_object().attribute(name);
        default:
            return no_attribute(object, name);
    }
}

Value Renderer::item(const Value& object, const Value& key) {
    switch (object.kind()) {
        case Value::Kind::undefined:
            fault(object.undefined_message());
        case Value::Kind::dict:
            if (const Value* v = object.find(key)) return *v;
            break;
        case Value::Kind::list:
            if (is_integral(key)) {
                const ValueList& items = object.as_list();
                std::int64_t i = key.as_int();
                if (i < 0) i += static_cast<std::int64_t>(items.size());
                if (i >= 0 && i < static_cast<std::int64_t>(items.size()))
                    return items[static_cast<std::size_t>(i)];
                return no_element(object, key);
            }
            break;
        case Value::Kind::string:
            if (is_integral(key)) {
                const std::string& s = object.as_string();
                std::int64_t i = key.as_int();
                if (text::is_ascii(s)) {
                    if (i < 0) i += static_cast<std::int64_t>(s.size());
                    if (i >= 0 && i < static_cast<std::int64_t>(s.size()))
                        return Value::string(std::string(1, s[static_cast<std::size_t>(i)]));
                    return no_element(object, key);
                }
                std::vector<char32_t> cps = text::decode_all(s);
                if (i < 0) i += static_cast<std::int64_t>(cps.size());
                if (i >= 0 && i < static_cast<std::int64_t>(cps.size())) {
                    std::string out;
                    text::append_utf8(out, cps[static_cast<std::size_t>(i)]);
                    return Value::string(std::move(out));
                }
                return no_element(object, key);
            }
            break;
        default:
            break;
    }
    // jinja2 falls back to attribute lookup for string keys: d["items"] finds the method when
    // there is no such key.
    if (key.is_string()) {
        if (object.is_object()) return object.as_object().attribute(key.as_string());
        if (std::optional<Value> method = find_method(object, key.as_string())) return *method;
        return no_attribute(object, key.as_string());
    }
    return no_element(object, key);
}

Value Renderer::call(const Value& callee, CallArgs args) {
    if (callee.is_undefined()) fault(callee.undefined_message());
    if (!callee.is_object() || !callee.as_object().is_callable())
        fault("'", callee.type_name(), "' object is not callable");
    return callee.as_object().call(*this, std::move(args));
}

ValueList Renderer::iterate(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::undefined:
            return {};
        case Value::Kind::list:
            return v.as_list();
        case Value::Kind::dict: {
            ValueList keys;
            keys.reserve(v.as_dict().size());
            for (const auto& [key, value] : v.as_dict()) keys.push_back(key);
            return keys;
        }
        case Value::Kind::string: {
            const std::string& s = v.as_string();
            ValueList chars;
            for (std::size_t pos = 0; pos < s.size();) {
                std::size_t start = pos;
                text::decode(s, pos);
                chars.push_back(Value::string(s.substr(start, pos - start)));
            }
            check_items(chars.size());
            return chars;
        }
        default:
            fault("'", v.type_name(), "' object is not iterable");
    }
}

std::shared_ptr<const ValueList> Renderer::iterate_shared(const Value& v) {
    if (v.is_list()) return v.shared_items();
    return std::make_shared<const ValueList>(iterate(v));
}

bool Renderer::contains(const Value& container, const Value& item) {
    switch (container.kind()) {
        case Value::Kind::undefined:
            return false;
        case Value::Kind::string:
            if (!item.is_string())
                fault("'in <string>' requires string as left operand, not ", item.type_name());
            return container.as_string().find(item.as_string()) != std::string::npos;
        case Value::Kind::list:
            return std::any_of(container.as_list().begin(), container.as_list().end(),
                               [&](const Value& v) { return equal(v, item); });
        case Value::Kind::dict:
            if ((item.is_list() && !item.is_tuple()) || item.is_dict())
                fault("unhashable type: '", item.type_name(), "'");
            return container.find(item) != nullptr;
        default:
            fault("argument of type '", container.type_name(), "' is not iterable");
    }
}

Value Renderer::apply_filter(std::string_view name, const Value& input, CallArgs args) {
    FilterFn fn = find_filter(name);
    if (fn == nullptr) fault("no filter named '", name, "'");
    return fn(*this, input, args);
}

bool Renderer::apply_test(std::string_view name, const Value& input, CallArgs args) {
    TestFn fn = find_test(name);
    if (fn == nullptr) fault("no test named '", name, "'");
    return fn(*this, input, args);
}

// ---- expressions ----

Value Renderer::eval(const Expr& e) {
    tick();
    try {
        return eval_node(e);
    } catch (TemplateFault& f) {
        f.set_offset_if_unknown(e.offset);
        throw;
    }
}

CallArgs Renderer::eval_args(const Arguments& args) {
    CallArgs out;
    out.positional.reserve(args.positional.size());
    for (const ExprPtr& e : args.positional) out.positional.push_back(eval(*e));
    if (args.star) {
        Value extra = eval(*args.star);
        for (Value& v : iterate(extra)) out.positional.push_back(std::move(v));
    }
    for (const auto& [name, e] : args.keywords) out.keywords.emplace_back(name, eval(*e));
    if (args.star_star) {
        Value extra = eval(*args.star_star);
        if (!extra.is_dict()) fault("argument after ** must be a mapping, not ", extra.type_name());
        for (const auto& [key, value] : extra.as_dict()) {
            if (!key.is_string()) fault("keywords must be strings");
            out.keywords.emplace_back(key.as_string(), value);
        }
    }
    return out;
}

Value Renderer::eval_call(const CallExpr& e) {
    if (e.callee->kind == ExprKind::attribute) {
        // obj.method(...) without building a bound method first.
        const auto& attr = static_cast<const AttributeExpr&>(*e.callee);
        Value object = eval(*attr.object);
        if (object.is_string() || object.is_list() || object.is_dict()) {
            CallArgs args = eval_args(e.args);
            if (std::optional<Value> result = call_method(*this, object, attr.name, args))
                return std::move(*result);
            return call(attribute(object, attr.name), std::move(args));
        }
        Value callee = attribute(object, attr.name);
        return call(callee, eval_args(e.args));
    }
    Value callee = eval(*e.callee);
    return call(callee, eval_args(e.args));
}

Value Renderer::eval_compare(const CompareExpr& e) {
    Value left = eval(*e.first);
    for (const auto& [op, operand] : e.rest) {
        Value right = eval(*operand);
        bool ok = false;
        switch (op) {
            case CompareOp::eq:
                ok = equal(left, right);
                break;
            case CompareOp::ne:
                ok = !equal(left, right);
                break;
            case CompareOp::lt:
                ok = compare(left, right, "<") < 0;
                break;
            case CompareOp::le:
                ok = compare(left, right, "<=") <= 0;
                break;
            case CompareOp::gt:
                ok = compare(left, right, ">") > 0;
                break;
            case CompareOp::ge:
                ok = compare(left, right, ">=") >= 0;
                break;
            case CompareOp::in:
                ok = contains(right, left);
                break;
            case CompareOp::not_in:
                ok = !contains(right, left);
                break;
        }
        if (!ok) return Value::boolean(false);
        left = std::move(right);
    }
    return Value::boolean(true);
}

Value Renderer::apply_filter_node(const FilterExpr& f, const Value& input) {
    if (f.fn == nullptr) fault("no filter named '", f.name, "'");
    CallArgs args = eval_args(f.args);
    return f.fn(*this, input, args);
}

Value Renderer::eval_node(const Expr& e) {
    switch (e.kind) {
        case ExprKind::literal:
            return static_cast<const LiteralExpr&>(e).value;
        case ExprKind::name:
            return lookup(static_cast<const NameExpr&>(e).name);
        case ExprKind::attribute: {
            const auto& n = static_cast<const AttributeExpr&>(e);
            return attribute(eval(*n.object), n.name);
        }
        case ExprKind::item: {
            const auto& n = static_cast<const ItemExpr&>(e);
            Value object = eval(*n.object);
            return item(object, eval(*n.key));
        }
        case ExprKind::slice: {
            const auto& n = static_cast<const SliceExpr&>(e);
            Value object = eval(*n.object);
            Value start = n.start ? eval(*n.start) : Value::none();
            Value stop = n.stop ? eval(*n.stop) : Value::none();
            Value step = n.step ? eval(*n.step) : Value::none();
            return slice_of(*this, object, start, stop, step);
        }
        case ExprKind::unary: {
            const auto& n = static_cast<const UnaryExpr&>(e);
            Value v = eval(*n.operand);
            if (n.op == UnaryOp::logical_not) return Value::boolean(!truthy(v));
            if (v.is_undefined()) fault(v.undefined_message());
            if (!v.is_number())
                fault("bad operand type for unary ", n.op == UnaryOp::negate ? "-" : "+", ": '",
                      v.type_name(), "'");
            if (n.op == UnaryOp::plus) return v.is_bool() ? Value::integer(v.as_int()) : v;
            if (v.is_float()) return Value::floating(-v.as_float());
            if (v.as_int() == std::numeric_limits<std::int64_t>::min())
                fault("integer result too large (ponder integers are 64-bit)");
            return Value::integer(-v.as_int());
        }
        case ExprKind::binary: {
            const auto& n = static_cast<const BinaryExpr&>(e);
            Value left = eval(*n.left);
            Value right = eval(*n.right);
            if (n.op == BinaryOp::concat) {
                std::string out = to_str(left, value_limits_);
                append_str(out, right, value_limits_);
                return make_string(std::move(out));
            }
            return binary_operation(*this, n.op, left, right);
        }
        case ExprKind::logical: {
            const auto& n = static_cast<const LogicalExpr&>(e);
            Value left = eval(*n.left);
            if (truthy(left) != n.is_and) return left;  // `and` stops at falsy, `or` at truthy
            return eval(*n.right);
        }
        case ExprKind::compare:
            return eval_compare(static_cast<const CompareExpr&>(e));
        case ExprKind::conditional: {
            const auto& n = static_cast<const ConditionalExpr&>(e);
            if (truthy(eval(*n.condition))) return eval(*n.then);
            if (n.otherwise) return eval(*n.otherwise);
            return Value::undefined(cat("the inline if-expression on ",
                                        describe_location(program_.source, n.offset),
                                        " evaluated to false and no else section was defined."));
        }
        case ExprKind::call:
            return eval_call(static_cast<const CallExpr&>(e));
        case ExprKind::filter: {
            const auto& n = static_cast<const FilterExpr&>(e);
            return apply_filter_node(n, eval(*n.input));
        }
        case ExprKind::test: {
            const auto& n = static_cast<const TestExpr&>(e);
            Value input = eval(*n.input);
            if (n.fn == nullptr) fault("no test named '", n.name, "'");
            CallArgs args = eval_args(n.args);
            bool result = n.fn(*this, input, args);
            return Value::boolean(result != n.negated);
        }
        case ExprKind::list:
        case ExprKind::tuple: {
            const auto& n = static_cast<const ListExpr&>(e);
            ValueList items;
            items.reserve(n.items.size());
            for (const ExprPtr& item : n.items) items.push_back(eval(*item));
            check_items(items.size());
            return checked(e.kind == ExprKind::tuple ? Value::tuple(std::move(items))
                                                     : Value::list(std::move(items)));
        }
        case ExprKind::dict: {
            const auto& n = static_cast<const DictExpr&>(e);
            std::vector<std::pair<Value, Value>> entries;
            entries.reserve(n.items.size());
            for (const auto& [key_expr, value_expr] : n.items) {
                Value key = eval(*key_expr);
                Value value = eval(*value_expr);
                if (key.is_list() && !key.is_tuple()) fault("unhashable type: 'list'");
                if (key.is_dict()) fault("unhashable type: 'dict'");
                auto existing =
                    std::find_if(entries.begin(), entries.end(),
                                 [&](const auto& entry) { return equal(entry.first, key); });
                if (existing != entries.end()) {
                    existing->second = std::move(value);  // Python keeps the first key's place
                } else {
                    entries.emplace_back(std::move(key), std::move(value));
                }
            }
            check_items(entries.size() * 2);
            return checked(Value::dict(std::move(entries)));
        }
    }
    fault("unknown expression");
}

// ---- statements ----

Renderer::Flow Renderer::exec_body(const Body& body) {
    for (const StmtPtr& s : body) {
        Flow flow = exec(*s);
        if (flow != Flow::normal) return flow;
    }
    return Flow::normal;
}

Renderer::Flow Renderer::exec(const Stmt& s) {
    tick();
    try {
        return exec_node(s);
    } catch (TemplateFault& f) {
        f.set_offset_if_unknown(s.offset);
        throw;
    }
}

void Renderer::bind(Scope& scope, const Target& target, const Value& value) {
    switch (target.kind) {
        case Target::Kind::name:
            scope.set(target.name, value);
            return;
        case Target::Kind::tuple: {
            ValueList items = iterate(value);
            const std::size_t want = target.items.size();
            if (items.size() < want)
                fault("not enough values to unpack (expected ", want, ", got ", items.size(), ")");
            if (items.size() > want) fault("too many values to unpack (expected ", want, ")");
            for (std::size_t i = 0; i < want; ++i) bind(scope, target.items[i], items[i]);
            return;
        }
        case Target::Kind::attribute: {
            Value ns = lookup(target.name);
            auto* space = ns.is_object() ? dynamic_cast<Namespace*>(&ns.as_object()) : nullptr;
            if (space == nullptr) fault("cannot assign attribute on non-namespace object");
            space->set(target.attribute, value);
            return;
        }
    }
}

std::string Renderer::render_body_to_string(const Body& body) {
    OutputCapture capture(*this);
    ScopeSwitch inner(*this, std::make_shared<Scope>(scope_));
    exec_body(body);
    return capture.take();
}

Renderer::Flow Renderer::exec_node(const Stmt& s) {
    switch (s.kind) {
        case StmtKind::text:
            write(static_cast<const TextStmt&>(s).text);
            return Flow::normal;
        case StmtKind::output: {
            Value v = eval(*static_cast<const OutputStmt&>(s).expr);
            if (v.is_string()) {
                write(v.as_string());
            } else {
                write(to_str(v, value_limits_));
            }
            return Flow::normal;
        }
        case StmtKind::if_: {
            const auto& n = static_cast<const IfStmt&>(s);
            for (const auto& [condition, body] : n.branches)
                if (truthy(eval(*condition))) return exec_body(body);
            return exec_body(n.otherwise);
        }
        case StmtKind::for_:
            exec_for(static_cast<const ForStmt&>(s));
            return Flow::normal;
        case StmtKind::set: {
            const auto& n = static_cast<const SetStmt&>(s);
            Value v = eval(*n.value);
            bind(*scope_, n.target, v);
            return Flow::normal;
        }
        case StmtKind::set_block: {
            const auto& n = static_cast<const SetBlockStmt&>(s);
            Value v = make_string(render_body_to_string(n.body));
            for (const auto& f : n.filters) v = apply_filter_node(*f, v);
            bind(*scope_, n.target, v);
            return Flow::normal;
        }
        case StmtKind::macro: {
            const auto& n = static_cast<const MacroStmt&>(s);
            scope_->set(n.name, Value::object(std::make_shared<Macro>(n, scope_)));
            return Flow::normal;
        }
        case StmtKind::call_block: {
            const auto& n = static_cast<const CallBlockStmt&>(s);
            Value callee = eval(*n.call->callee);
            CallArgs args = eval_args(n.call->args);
            args.keywords.emplace_back("caller",
                                       Value::object(std::make_shared<Macro>(*n.caller, scope_)));
            Value result = call(callee, std::move(args));
            write(to_str(result, value_limits_));
            return Flow::normal;
        }
        case StmtKind::filter_block: {
            const auto& n = static_cast<const FilterBlockStmt&>(s);
            Value v = make_string(render_body_to_string(n.body));
            for (const auto& f : n.filters) v = apply_filter_node(*f, v);
            write(to_str(v, value_limits_));
            return Flow::normal;
        }
        case StmtKind::with: {
            const auto& n = static_cast<const WithStmt&>(s);
            auto inner = std::make_shared<Scope>(scope_);
            for (const auto& [target, value] : n.assignments) bind(*inner, target, eval(*value));
            ScopeSwitch with_scope(*this, std::move(inner));
            return exec_body(n.body);
        }
        case StmtKind::loop_control:
            return static_cast<const LoopControlStmt&>(s).is_break ? Flow::break_loop
                                                                   : Flow::continue_loop;
        case StmtKind::scope: {
            ScopeSwitch inner(*this, std::make_shared<Scope>(scope_));
            exec_body(static_cast<const ScopeStmt&>(s).body);
            return Flow::normal;
        }
    }
    return Flow::normal;
}

void Renderer::exec_for(const ForStmt& s) {
    Value iterable = eval(*s.iterable);
    std::shared_ptr<const ValueList> items;
    try {
        items = iterate_shared(iterable);
    } catch (TemplateFault& f) {
        f.set_offset_if_unknown(s.iterable->offset);
        throw;
    }
    run_loop(s, std::move(items), 1);
}

Value Renderer::run_recursive_loop(const ForStmt& loop, const std::shared_ptr<Scope>& closure,
                                   const Value& items, int depth) {
    CallDepth guard(*this, "a recursive loop");
    OutputCapture capture(*this);
    ScopeSwitch outer(*this, closure);
    run_loop(loop, iterate_shared(items), depth);
    return make_string(capture.take());
}

void Renderer::run_loop(const ForStmt& s, std::shared_ptr<const ValueList> items, int depth) {
    if (s.filter) {
        // `for x in y if cond`: the condition sees the loop variables, not `loop`.
        auto passed = std::make_shared<ValueList>();
        for (const Value& candidate : *items) {
            tick();
            auto probe = std::make_shared<Scope>(scope_);
            bind(*probe, s.target, candidate);
            ScopeSwitch in_probe(*this, probe);
            if (truthy(eval(*s.filter))) passed->push_back(candidate);
        }
        items = std::move(passed);
    }
    if (items->empty()) {
        ScopeSwitch inner(*this, std::make_shared<Scope>(scope_));
        exec_body(s.otherwise);
        return;
    }
    const std::shared_ptr<Scope> outer = scope_;
    auto loop = std::make_shared<LoopContext>(items, depth, s, outer);
    const Value loop_value = Value::object(loop);
    for (std::size_t i = 0; i < items->size(); ++i) {
        tick();
        loop->advance(i);
        auto iteration = std::make_shared<Scope>(outer);
        iteration->vars.reserve(4);  // the loop variables and `loop`, without regrowing
        bind(*iteration, s.target, (*items)[i]);
        iteration->set("loop", loop_value);
        ScopeSwitch in_iteration(*this, std::move(iteration));
        if (exec_body(s.body) == Flow::break_loop) break;
    }
}

Value Renderer::call_macro(const MacroStmt& macro, const std::shared_ptr<Scope>& closure,
                           CallArgs args) {
    CallDepth guard(*this, cat("macro '", macro.name, "'"));
    auto scope = std::make_shared<Scope>(closure);
    const std::size_t declared = macro.params.size();
    std::vector<bool> bound(declared, false);
    ValueList extra_positional;
    for (std::size_t i = 0; i < args.positional.size(); ++i) {
        if (i < declared) {
            scope->set(macro.params[i].name, std::move(args.positional[i]));
            bound[i] = true;
        } else {
            extra_positional.push_back(std::move(args.positional[i]));
        }
    }
    if (!extra_positional.empty() && !macro.uses_varargs)
        fault("macro '", macro.name, "' takes not more than ", declared, " argument(s)");
    std::vector<std::pair<Value, Value>> extra_keywords;
    Value caller = Value::undefined("No caller defined");
    for (auto& keyword : args.keywords) {
        // Named references, not a structured binding: lambdas may not capture those before
        // C++20 compilers caught up (clang 14 builds the fuzz targets).
        const auto& name = keyword.first;
        auto& value = keyword.second;
        auto param = std::find_if(macro.params.begin(), macro.params.end(),
                                  [&](const MacroParam& p) { return p.name == name; });
        if (param != macro.params.end()) {
            std::size_t index = static_cast<std::size_t>(param - macro.params.begin());
            if (bound[index])
                fault("macro '", macro.name, "' got multiple values for argument '", name, "'");
            scope->set(param->name, std::move(value));
            bound[index] = true;
        } else if (name == "caller" && macro.uses_caller) {
            caller = std::move(value);
        } else if (macro.uses_kwargs) {
            extra_keywords.emplace_back(Value::string(name), std::move(value));
        } else {
            fault("macro '", macro.name, "' takes no keyword argument '", name, "'");
        }
    }
    {
        // Defaults are evaluated in the macro's own scope, so they may use earlier parameters.
        ScopeSwitch in_macro(*this, scope);
        for (std::size_t i = 0; i < declared; ++i) {
            if (bound[i]) continue;
            const MacroParam& p = macro.params[i];
            scope->set(p.name, p.default_value ? eval(*p.default_value)
                                               : Value::undefined(cat("parameter '", p.name,
                                                                      "' was not provided")));
        }
    }
    if (macro.uses_varargs) scope->set("varargs", Value::tuple(std::move(extra_positional)));
    if (macro.uses_kwargs) scope->set("kwargs", Value::dict(std::move(extra_keywords)));
    if (macro.uses_caller) scope->set("caller", caller);
    OutputCapture capture(*this);
    ScopeSwitch in_macro(*this, scope);
    exec_body(macro.body);
    return make_string(capture.take());
}

}  // namespace ponder::jinja
