// The checks jinja2's compiler makes before a template runs.
#include "engine/jinja_checks.h"

#include "engine/jinja_lexer.h"

namespace ponder::jinja {

namespace {

// Checks jinja2 makes when compiling: unknown filters and tests outside conditional code,
// break/continue outside loops; and notes which implicit variables each macro uses.
class Analyzer {
  public:
    explicit Analyzer(const std::string& source) : src_(source) {}

    void body(Body& stmts, bool soft, int loops, MacroStmt* macro) {
        for (StmtPtr& s : stmts) stmt(*s, soft, loops, macro);
    }

  private:
    void stmt(Stmt& s, bool soft, int loops, MacroStmt* macro) {
        switch (s.kind) {
            case StmtKind::text:
                return;
            case StmtKind::output:
                expr(static_cast<OutputStmt&>(s).expr.get(), soft, macro);
                return;
            case StmtKind::if_: {
                auto& n = static_cast<IfStmt&>(s);
                for (auto& [condition, branch] : n.branches) {
                    expr(condition.get(), true, macro);
                    body(branch, true, loops, macro);
                }
                body(n.otherwise, true, loops, macro);
                return;
            }
            case StmtKind::for_: {
                auto& n = static_cast<ForStmt&>(s);
                expr(n.iterable.get(), soft, macro);
                expr(n.filter.get(), false, macro);
                body(n.body, false, loops + 1, macro);
                body(n.otherwise, false, loops, macro);
                return;
            }
            case StmtKind::set:
                expr(static_cast<SetStmt&>(s).value.get(), soft, macro);
                return;
            case StmtKind::set_block: {
                auto& n = static_cast<SetBlockStmt&>(s);
                for (const auto& f : n.filters) expr(f.get(), soft, macro);
                body(n.body, false, loops, macro);
                return;
            }
            case StmtKind::macro: {
                auto& n = static_cast<MacroStmt&>(s);
                for (const MacroParam& p : n.params) expr(p.default_value.get(), false, &n);
                body(n.body, false, 0, &n);
                return;
            }
            case StmtKind::call_block: {
                auto& n = static_cast<CallBlockStmt&>(s);
                expr(n.call.get(), soft, macro);
                MacroStmt& caller = *n.caller;
                for (const MacroParam& p : caller.params)
                    expr(p.default_value.get(), false, &caller);
                body(caller.body, false, 0, &caller);
                return;
            }
            case StmtKind::filter_block: {
                auto& n = static_cast<FilterBlockStmt&>(s);
                for (const auto& f : n.filters) expr(f.get(), soft, macro);
                body(n.body, false, loops, macro);
                return;
            }
            case StmtKind::with: {
                auto& n = static_cast<WithStmt&>(s);
                for (auto& [target, value] : n.assignments) expr(value.get(), soft, macro);
                body(n.body, false, loops, macro);
                return;
            }
            case StmtKind::loop_control:
                if (loops == 0)
                    syntax_error(src_, s.offset, "'",
                                 static_cast<LoopControlStmt&>(s).is_break ? "break" : "continue",
                                 "' outside of a loop");
                return;
            case StmtKind::scope:
                body(static_cast<ScopeStmt&>(s).body, false, 0, macro);
                return;
        }
    }

    void args(const Arguments& a, bool soft, MacroStmt* macro) {
        for (const ExprPtr& e : a.positional) expr(e.get(), soft, macro);
        for (const auto& [name, e] : a.keywords) expr(e.get(), soft, macro);
        expr(a.star.get(), soft, macro);
        expr(a.star_star.get(), soft, macro);
    }

    void expr(const Expr* e, bool soft, MacroStmt* macro) {
        if (e == nullptr) return;
        switch (e->kind) {
            case ExprKind::literal:
                return;
            case ExprKind::name: {
                const std::string& name = static_cast<const NameExpr*>(e)->name;
                if (macro != nullptr) {
                    if (name == "caller") macro->uses_caller = true;
                    if (name == "varargs") macro->uses_varargs = true;
                    if (name == "kwargs") macro->uses_kwargs = true;
                }
                return;
            }
            case ExprKind::attribute:
                expr(static_cast<const AttributeExpr*>(e)->object.get(), soft, macro);
                return;
            case ExprKind::item: {
                const auto* n = static_cast<const ItemExpr*>(e);
                expr(n->object.get(), soft, macro);
                expr(n->key.get(), soft, macro);
                return;
            }
            case ExprKind::slice: {
                const auto* n = static_cast<const SliceExpr*>(e);
                for (const Expr* part :
                     {n->object.get(), n->start.get(), n->stop.get(), n->step.get()})
                    expr(part, soft, macro);
                return;
            }
            case ExprKind::unary:
                expr(static_cast<const UnaryExpr*>(e)->operand.get(), soft, macro);
                return;
            case ExprKind::binary: {
                const auto* n = static_cast<const BinaryExpr*>(e);
                expr(n->left.get(), soft, macro);
                expr(n->right.get(), soft, macro);
                return;
            }
            case ExprKind::logical: {
                const auto* n = static_cast<const LogicalExpr*>(e);
                expr(n->left.get(), soft, macro);
                expr(n->right.get(), soft, macro);
                return;
            }
            case ExprKind::compare: {
                const auto* n = static_cast<const CompareExpr*>(e);
                expr(n->first.get(), soft, macro);
                for (const auto& [op, operand] : n->rest) expr(operand.get(), soft, macro);
                return;
            }
            case ExprKind::conditional: {
                const auto* n = static_cast<const ConditionalExpr*>(e);
                for (const Expr* part : {n->condition.get(), n->then.get(), n->otherwise.get()})
                    expr(part, true, macro);
                return;
            }
            case ExprKind::call: {
                const auto* n = static_cast<const CallExpr*>(e);
                expr(n->callee.get(), soft, macro);
                args(n->args, soft, macro);
                return;
            }
            case ExprKind::filter: {
                const auto* n = static_cast<const FilterExpr*>(e);
                if (n->fn == nullptr && !soft)
                    syntax_error(src_, n->offset, "no filter named '", n->name, "'");
                expr(n->input.get(), soft, macro);
                args(n->args, soft, macro);
                return;
            }
            case ExprKind::test: {
                const auto* n = static_cast<const TestExpr*>(e);
                if (n->fn == nullptr && !soft)
                    syntax_error(src_, n->offset, "no test named '", n->name, "'");
                expr(n->input.get(), soft, macro);
                args(n->args, soft, macro);
                return;
            }
            case ExprKind::list:
            case ExprKind::tuple:
                for (const ExprPtr& item : static_cast<const ListExpr*>(e)->items)
                    expr(item.get(), soft, macro);
                return;
            case ExprKind::dict:
                for (const auto& [key, value] : static_cast<const DictExpr*>(e)->items) {
                    expr(key.get(), soft, macro);
                    expr(value.get(), soft, macro);
                }
                return;
        }
    }

    const std::string& src_;
};

}  // namespace

void check_program(Program& program) {
    Analyzer(program.source).body(program.body, false, 0, nullptr);
}

}  // namespace ponder::jinja
