#pragma once
// The syntax tree of a parsed Jinja template. Every node records the byte offset of its source
// text so that runtime errors can say where they happened.
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/jinja_value.h"

namespace ponder::jinja {

using FilterFn = Value (*)(Renderer& renderer, const Value& input, CallArgs& args);
using TestFn = bool (*)(Renderer& renderer, const Value& input, CallArgs& args);

// ----------------------------------------------------------------------------------------------
// Expressions

enum class ExprKind {
    literal,
    name,
    attribute,    // a.b
    item,         // a[b]
    slice,        // a[b:c:d]
    unary,        // -a, +a, not a
    binary,       // arithmetic and ~
    logical,      // and, or
    compare,      // ==, <, in, not in, ... (chained)
    conditional,  // a if b else c
    call,
    filter,
    test,
    list,
    tuple,
    dict,
};

struct Expr {
    Expr(ExprKind k, std::size_t off) : kind(k), offset(off) {}
    virtual ~Expr() = default;
    Expr(const Expr&) = delete;
    Expr& operator=(const Expr&) = delete;
    ExprKind kind;
    std::size_t offset;
};
using ExprPtr = std::unique_ptr<Expr>;

struct LiteralExpr final : Expr {
    LiteralExpr(std::size_t off, Value v) : Expr(ExprKind::literal, off), value(std::move(v)) {}
    Value value;
};

struct NameExpr final : Expr {
    NameExpr(std::size_t off, std::string n) : Expr(ExprKind::name, off), name(std::move(n)) {}
    std::string name;
};

struct AttributeExpr final : Expr {
    AttributeExpr(std::size_t off, ExprPtr obj, std::string n)
        : Expr(ExprKind::attribute, off), object(std::move(obj)), name(std::move(n)) {}
    ExprPtr object;
    std::string name;
};

struct ItemExpr final : Expr {
    ItemExpr(std::size_t off, ExprPtr obj, ExprPtr k)
        : Expr(ExprKind::item, off), object(std::move(obj)), key(std::move(k)) {}
    ExprPtr object;
    ExprPtr key;
};

struct SliceExpr final : Expr {
    explicit SliceExpr(std::size_t off) : Expr(ExprKind::slice, off) {}
    ExprPtr object;
    ExprPtr start, stop, step;  // each may be null
};

enum class UnaryOp { negate, plus, logical_not };

struct UnaryExpr final : Expr {
    UnaryExpr(std::size_t off, UnaryOp o, ExprPtr e)
        : Expr(ExprKind::unary, off), op(o), operand(std::move(e)) {}
    UnaryOp op;
    ExprPtr operand;
};

enum class BinaryOp { add, subtract, multiply, divide, floor_divide, modulo, power, concat };

struct BinaryExpr final : Expr {
    BinaryExpr(std::size_t off, BinaryOp o, ExprPtr l, ExprPtr r)
        : Expr(ExprKind::binary, off), op(o), left(std::move(l)), right(std::move(r)) {}
    BinaryOp op;
    ExprPtr left, right;
};

struct LogicalExpr final : Expr {
    LogicalExpr(std::size_t off, bool is_and, ExprPtr l, ExprPtr r)
        : Expr(ExprKind::logical, off), is_and(is_and), left(std::move(l)), right(std::move(r)) {}
    bool is_and;
    ExprPtr left, right;
};

enum class CompareOp { eq, ne, lt, le, gt, ge, in, not_in };

struct CompareExpr final : Expr {
    explicit CompareExpr(std::size_t off) : Expr(ExprKind::compare, off) {}
    ExprPtr first;
    std::vector<std::pair<CompareOp, ExprPtr>> rest;
};

struct ConditionalExpr final : Expr {
    explicit ConditionalExpr(std::size_t off) : Expr(ExprKind::conditional, off) {}
    ExprPtr condition, then, otherwise;  // otherwise may be null: undefined when false
};

struct Arguments {
    std::vector<ExprPtr> positional;
    std::vector<std::pair<std::string, ExprPtr>> keywords;
    ExprPtr star;       // *args
    ExprPtr star_star;  // **kwargs
};

struct CallExpr final : Expr {
    CallExpr(std::size_t off, ExprPtr c) : Expr(ExprKind::call, off), callee(std::move(c)) {}
    ExprPtr callee;
    Arguments args;
};

struct FilterExpr final : Expr {
    FilterExpr(std::size_t off, std::string n) : Expr(ExprKind::filter, off), name(std::move(n)) {}
    ExprPtr input;  // null inside {% filter %} and {% set x | f %} blocks: the block's output
    std::string name;
    FilterFn fn = nullptr;  // null: unknown filter in a conditional branch, an error if reached
    Arguments args;
};

struct TestExpr final : Expr {
    TestExpr(std::size_t off, std::string n) : Expr(ExprKind::test, off), name(std::move(n)) {}
    ExprPtr input;
    std::string name;
    TestFn fn = nullptr;  // null: unknown test in a conditional branch, an error if reached
    Arguments args;
    bool negated = false;  // `is not`
};

struct ListExpr final : Expr {
    ListExpr(std::size_t off, bool tuple) : Expr(tuple ? ExprKind::tuple : ExprKind::list, off) {}
    std::vector<ExprPtr> items;
};

struct DictExpr final : Expr {
    explicit DictExpr(std::size_t off) : Expr(ExprKind::dict, off) {}
    std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

// ----------------------------------------------------------------------------------------------
// Statements

enum class StmtKind {
    text,
    output,  // {{ expr }}
    if_,
    for_,
    set,
    set_block,  // {% set x %}...{% endset %}
    macro,
    call_block,
    filter_block,
    with,
    loop_control,  // break, continue
    scope,         // {% block %}, {% generation %}: a body rendered in place
};

struct Stmt {
    Stmt(StmtKind k, std::size_t off) : kind(k), offset(off) {}
    virtual ~Stmt() = default;
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    StmtKind kind;
    std::size_t offset;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// Where an assignment or loop stores values: a name, a tuple to unpack, or ns.attribute.
struct Target {
    enum class Kind { name, tuple, attribute } kind = Kind::name;
    std::string name;       // name, or the namespace variable for attribute targets
    std::string attribute;  // attribute targets
    std::vector<Target> items;
    std::size_t offset = 0;
};

struct TextStmt final : Stmt {
    TextStmt(std::size_t off, std::string t) : Stmt(StmtKind::text, off), text(std::move(t)) {}
    std::string text;
};

struct OutputStmt final : Stmt {
    OutputStmt(std::size_t off, ExprPtr e) : Stmt(StmtKind::output, off), expr(std::move(e)) {}
    ExprPtr expr;
};

struct IfStmt final : Stmt {
    explicit IfStmt(std::size_t off) : Stmt(StmtKind::if_, off) {}
    std::vector<std::pair<ExprPtr, Body>> branches;  // if, elif...
    Body otherwise;
};

struct ForStmt final : Stmt {
    explicit ForStmt(std::size_t off) : Stmt(StmtKind::for_, off) {}
    Target target;
    ExprPtr iterable;
    ExprPtr filter;  // for x in y if cond
    Body body;
    Body otherwise;  // runs when no item passed
    bool recursive = false;
};

struct SetStmt final : Stmt {
    explicit SetStmt(std::size_t off) : Stmt(StmtKind::set, off) {}
    Target target;
    ExprPtr value;
};

struct SetBlockStmt final : Stmt {
    explicit SetBlockStmt(std::size_t off) : Stmt(StmtKind::set_block, off) {}
    Target target;
    std::vector<std::unique_ptr<FilterExpr>> filters;  // applied in order to the body's output
    Body body;
};

struct MacroParam {
    std::string name;
    ExprPtr default_value;  // may be null
};

struct MacroStmt final : Stmt {
    explicit MacroStmt(std::size_t off) : Stmt(StmtKind::macro, off) {}
    std::string name;
    std::vector<MacroParam> params;
    Body body;
    // Which of jinja2's implicit macro variables the body refers to.
    bool uses_caller = false;
    bool uses_varargs = false;
    bool uses_kwargs = false;
};

struct CallBlockStmt final : Stmt {
    explicit CallBlockStmt(std::size_t off) : Stmt(StmtKind::call_block, off) {}
    std::unique_ptr<CallExpr> call;
    std::unique_ptr<MacroStmt> caller;  // the block body, callable as caller(...)
};

struct FilterBlockStmt final : Stmt {
    explicit FilterBlockStmt(std::size_t off) : Stmt(StmtKind::filter_block, off) {}
    std::vector<std::unique_ptr<FilterExpr>> filters;
    Body body;
};

struct WithStmt final : Stmt {
    explicit WithStmt(std::size_t off) : Stmt(StmtKind::with, off) {}
    std::vector<std::pair<Target, ExprPtr>> assignments;
    Body body;
};

struct LoopControlStmt final : Stmt {
    LoopControlStmt(std::size_t off, bool brk) : Stmt(StmtKind::loop_control, off), is_break(brk) {}
    bool is_break;
};

struct ScopeStmt final : Stmt {
    explicit ScopeStmt(std::size_t off) : Stmt(StmtKind::scope, off) {}
    Body body;
};

// A parsed template: its normalized source (for error positions) and statements.
struct Program {
    std::string source;
    Body body;
};

}  // namespace ponder::jinja
