#pragma once
// Walks a parsed template and writes its output: scopes, statements, expression evaluation,
// macros, loops and the bounds on a render. Filters, tests and methods live in jinja_builtins.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/jinja.h"
#include "engine/jinja_ast.h"

namespace ponder::jinja {

// Variables visible at one level: the template, a loop iteration, a macro call... Names are
// views of strings that outlive the render (the syntax tree, the context, literals).
struct Scope {
    explicit Scope(std::shared_ptr<Scope> enclosing) : parent(std::move(enclosing)) {}
    Value* find_local(std::string_view name);
    void set(std::string_view name, Value value);

    std::shared_ptr<Scope> parent;
    std::vector<std::pair<std::string_view, Value>> vars;
};

// One render of one template. A Template is immutable and may be rendered by several Renderers
// at once, on different threads; a Renderer itself is used once, by one thread.
class Renderer {
  public:
    Renderer(const Program& program, const TemplateOptions& template_options,
             const RenderOptions& options);
    ~Renderer();
    Renderer(const Renderer&) = delete;
    Renderer& operator=(const Renderer&) = delete;

    // `context` is a dict of the template's global variables.
    std::string render(const Value& context);

    // ---- services for filters, tests, methods and callable objects ----

    const Limits& limits() const { return options_.limits; }
    const ValueLimits& value_limits() const { return value_limits_; }
    TojsonStyle tojson_style() const { return template_options_.tojson; }
    std::chrono::system_clock::time_point now() const;

    // A string value, counted against the render's allocation budget and size limit.
    Value make_string(std::string s);
    // Counts `bytes` against the allocation budget.
    void charge(std::size_t bytes);
    // Faults if a list of `count` items is too long, and counts it against the budget.
    void check_items(std::size_t count);
    // Faults when a value nests lists and dicts too deeply.
    Value checked(Value v) const;

    Value attribute(const Value& object, std::string_view name);
    Value item(const Value& object, const Value& key);
    Value call(const Value& callee, CallArgs args);
    // Python iteration: list items, dict keys, string characters; Undefined is empty.
    ValueList iterate(const Value& v);
    // The same, sharing a list's items instead of copying them.
    std::shared_ptr<const ValueList> iterate_shared(const Value& v);
    bool contains(const Value& container, const Value& item);
    Value apply_filter(std::string_view name, const Value& input, CallArgs args);
    bool apply_test(std::string_view name, const Value& input, CallArgs args);
    std::shared_ptr<Namespace> make_namespace();

    // Calls a macro (or a call block's caller) defined in `closure`.
    Value call_macro(const MacroStmt& macro, const std::shared_ptr<Scope>& closure, CallArgs args);
    // Runs a `recursive` for loop again over `items` (loop(...) inside the loop), one level down.
    Value run_recursive_loop(const ForStmt& loop, const std::shared_ptr<Scope>& closure,
                             const Value& items, int depth);

  private:
    enum class Flow { normal, break_loop, continue_loop };
    class OutputCapture;
    class ScopeSwitch;
    class CallDepth;

    void tick();
    void write(std::string_view text);
    Value lookup(std::string_view name);
    // eval/exec count a step and tag faults with the node's position; *_node do the work.
    Value eval(const Expr& e);
    Value eval_node(const Expr& e);
    CallArgs eval_args(const Arguments& args);
    Value eval_call(const CallExpr& e);
    Value eval_compare(const CompareExpr& e);
    Value apply_filter_node(const FilterExpr& f, const Value& input);

    Flow exec_body(const Body& body);
    Flow exec(const Stmt& s);
    Flow exec_node(const Stmt& s);
    void exec_for(const ForStmt& s);
    void run_loop(const ForStmt& s, std::shared_ptr<const ValueList> items, int depth);
    void bind(Scope& scope, const Target& target, const Value& value);
    std::string render_body_to_string(const Body& body);

    const Program& program_;
    const TemplateOptions& template_options_;
    const RenderOptions& options_;
    ValueLimits value_limits_;
    std::shared_ptr<Scope> globals_;
    std::shared_ptr<Scope> scope_;
    std::string* out_ = nullptr;
    std::size_t steps_ = 0;
    std::size_t allocated_ = 0;
    int call_depth_ = 0;
    std::chrono::steady_clock::time_point deadline_;
    std::vector<std::weak_ptr<Namespace>> namespaces_;
};

}  // namespace ponder::jinja
