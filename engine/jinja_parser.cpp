#include "engine/jinja_parser.h"

#include <algorithm>
#include <initializer_list>

#include "engine/jinja_builtins.h"
#include "engine/jinja_checks.h"

namespace ponder::jinja {

namespace {

std::string describe(const Token& t) {
    switch (t.kind) {
        case TokenKind::text:
            return "template text";
        case TokenKind::variable_begin:
            return "'{{'";
        case TokenKind::variable_end:
            return "end of print statement";
        case TokenKind::block_begin:
            return "'{%'";
        case TokenKind::block_end:
            return "end of statement block";
        case TokenKind::name:
            return cat("'", t.value, "'");
        case TokenKind::string:
            return "string";
        case TokenKind::integer:
            return "integer";
        case TokenKind::floating:
            return "float";
        case TokenKind::op:
            return cat("'", t.value, "'");
        case TokenKind::end:
            return "end of template";
    }
    return "token";
}

class Parser {
  public:
    Parser(const Program& program, std::vector<Token> tokens, const ParseOptions& options)
        : src_(program.source), tokens_(std::move(tokens)), options_(options) {}

    Body parse_template() {
        Body body = parse_body({}, nullptr);
        return body;
    }

  private:
    // A block statement waiting for its end tag, for error messages.
    struct OpenBlock {
        std::string_view tag;
        std::size_t offset;
    };

    // RAII guard for nesting depth, so hostile input cannot exhaust the stack.
    class Nest {
      public:
        Nest(Parser& p, std::size_t offset) : p_(p) {
            if (++p_.depth_ > p_.options_.max_nesting)
                syntax_error(p_.src_, offset, "template nested more than ", p_.options_.max_nesting,
                             " levels deep");
        }
        ~Nest() { --p_.depth_; }
        Nest(const Nest&) = delete;
        Nest& operator=(const Nest&) = delete;

      private:
        Parser& p_;
    };

    const Token& peek(std::size_t ahead = 0) const {
        return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
    }
    const Token& next() {
        const Token& t = peek();
        if (pos_ < tokens_.size() - 1) ++pos_;
        return t;
    }
    bool at_op(std::string_view op, std::size_t ahead = 0) const {
        const Token& t = peek(ahead);
        return t.kind == TokenKind::op && t.value == op;
    }
    bool at_name(std::string_view name, std::size_t ahead = 0) const {
        const Token& t = peek(ahead);
        return t.kind == TokenKind::name && t.value == name;
    }
    bool skip_op(std::string_view op) {
        if (!at_op(op)) return false;
        next();
        return true;
    }
    bool skip_name(std::string_view name) {
        if (!at_name(name)) return false;
        next();
        return true;
    }
    [[noreturn]] void unexpected(const Token& t, std::string_view expected) const {
        syntax_error(src_, t.offset, "expected ", expected, ", got ", describe(t));
    }
    void expect_op(std::string_view op) {
        if (!skip_op(op)) unexpected(peek(), cat("'", op, "'"));
    }
    std::string expect_name() {
        if (peek().kind != TokenKind::name) unexpected(peek(), "a name");
        return next().value;
    }
    void expect_block_end() {
        if (peek().kind != TokenKind::block_end) unexpected(peek(), "end of statement block");
        next();
    }

    // ------------------------------------------------------------------------------------------
    // Statements

    // Statements up to a {% tag %} named in `end_tags`; leaves the tag name as the next token.
    Body parse_body(std::initializer_list<std::string_view> end_tags, const OpenBlock* open) {
        Body body;
        while (true) {
            const Token& t = peek();
            switch (t.kind) {
                case TokenKind::text:
                    body.push_back(std::make_unique<TextStmt>(t.offset, t.value));
                    next();
                    break;
                case TokenKind::variable_begin: {
                    std::size_t offset = next().offset;
                    ExprPtr expr = parse_tuple(true, {}, false);
                    if (peek().kind != TokenKind::variable_end)
                        unexpected(peek(), "end of print statement");
                    next();
                    body.push_back(std::make_unique<OutputStmt>(offset, std::move(expr)));
                    break;
                }
                case TokenKind::block_begin: {
                    const Token& tag = peek(1);
                    if (tag.kind == TokenKind::name &&
                        std::find(end_tags.begin(), end_tags.end(), tag.value) != end_tags.end()) {
                        next();
                        return body;
                    }
                    std::size_t offset = next().offset;
                    body.push_back(parse_statement(offset, end_tags, open));
                    break;
                }
                case TokenKind::end:
                    if (open != nullptr)
                        syntax_error(src_, t.offset, "unexpected end of template: the '", open->tag,
                                     "' block opened at ", describe_location(src_, open->offset),
                                     " was never closed (expected ", tag_list(end_tags), ")");
                    return body;
                default:
                    unexpected(t, "template text or a tag");
            }
        }
    }

    static std::string tag_list(std::initializer_list<std::string_view> tags) {
        std::string out;
        std::size_t i = 0;
        for (std::string_view t : tags) {
            if (i > 0) out += i + 1 == tags.size() ? " or " : ", ";
            out += cat("'", t, "'");
            ++i;
        }
        return out;
    }

    StmtPtr parse_statement(std::size_t offset, std::initializer_list<std::string_view> end_tags,
                            const OpenBlock* open) {
        Nest nest(*this, offset);
        const Token& tag_token = peek();
        if (tag_token.kind != TokenKind::name) unexpected(tag_token, "a tag name");
        std::string tag = next().value;
        if (tag == "for") return parse_for(offset);
        if (tag == "if") return parse_if(offset);
        if (tag == "set") return parse_set(offset);
        if (tag == "macro") return parse_macro(offset);
        if (tag == "call") return parse_call_block(offset);
        if (tag == "filter") return parse_filter_block(offset);
        if (tag == "with") return parse_with(offset);
        if (tag == "block") return parse_block(offset);
        if (tag == "generation") return parse_generation(offset);
        if (tag == "break" || tag == "continue") {
            expect_block_end();
            return std::make_unique<LoopControlStmt>(offset, tag == "break");
        }
        if (tag == "extends" || tag == "include" || tag == "import" || tag == "from")
            syntax_error(src_, offset, "'", tag,
                         "' is not supported: a template cannot load other templates");
        std::string message = cat("unknown tag '", tag, "'");
        if (open != nullptr)
            message += cat(" (expected ", tag_list(end_tags), " to close the '", open->tag,
                           "' block opened at ", describe_location(src_, open->offset), ")");
        syntax_error(src_, offset, message);
    }

    std::unique_ptr<ForStmt> parse_for(std::size_t offset) {
        auto stmt = std::make_unique<ForStmt>(offset);
        stmt->target = parse_target(false, "in");
        if (!skip_name("in")) unexpected(peek(), "'in'");
        stmt->iterable = parse_tuple(false, "recursive", false);
        if (skip_name("if")) stmt->filter = parse_expression(true);
        stmt->recursive = skip_name("recursive");
        expect_block_end();
        OpenBlock open{"for", offset};
        stmt->body = parse_body({"endfor", "else"}, &open);
        if (next().value == "else") {
            expect_block_end();
            stmt->otherwise = parse_body({"endfor"}, &open);
            next();
        }
        expect_block_end();
        return stmt;
    }

    std::unique_ptr<IfStmt> parse_if(std::size_t offset) {
        auto stmt = std::make_unique<IfStmt>(offset);
        OpenBlock open{"if", offset};
        ExprPtr condition = parse_tuple(false, {}, false);
        expect_block_end();
        while (true) {
            Body body = parse_body({"elif", "else", "endif"}, &open);
            stmt->branches.emplace_back(std::move(condition), std::move(body));
            std::string tag = next().value;
            if (tag == "elif") {
                condition = parse_tuple(false, {}, false);
                expect_block_end();
                continue;
            }
            if (tag == "else") {
                expect_block_end();
                stmt->otherwise = parse_body({"endif"}, &open);
                next();
            }
            expect_block_end();
            return stmt;
        }
    }

    StmtPtr parse_set(std::size_t offset) {
        Target target = parse_target(true, {});
        if (skip_op("=")) {
            auto stmt = std::make_unique<SetStmt>(offset);
            stmt->target = std::move(target);
            stmt->value = parse_tuple(true, {}, false);
            expect_block_end();
            return stmt;
        }
        auto stmt = std::make_unique<SetBlockStmt>(offset);
        stmt->target = std::move(target);
        while (at_op("|")) {
            next();
            stmt->filters.push_back(parse_filter_call(nullptr));
        }
        expect_block_end();
        OpenBlock open{"set", offset};
        stmt->body = parse_body({"endset"}, &open);
        next();
        expect_block_end();
        return stmt;
    }

    void parse_signature(MacroStmt& macro) {
        expect_op("(");
        bool seen_default = false;
        while (!at_op(")")) {
            if (!macro.params.empty()) expect_op(",");
            MacroParam param;
            std::size_t at = peek().offset;
            param.name = expect_name();
            if (skip_op("=")) {
                param.default_value = parse_expression(true);
                seen_default = true;
            } else if (seen_default) {
                syntax_error(src_, at, "non-default argument follows default argument");
            }
            macro.params.push_back(std::move(param));
        }
        next();
    }

    std::unique_ptr<MacroStmt> parse_macro(std::size_t offset) {
        auto stmt = std::make_unique<MacroStmt>(offset);
        stmt->name = expect_name();
        parse_signature(*stmt);
        expect_block_end();
        OpenBlock open{"macro", offset};
        stmt->body = parse_body({"endmacro"}, &open);
        next();
        if (peek().kind == TokenKind::name) next();  // {% endmacro name %}
        expect_block_end();
        return stmt;
    }

    std::unique_ptr<CallBlockStmt> parse_call_block(std::size_t offset) {
        auto stmt = std::make_unique<CallBlockStmt>(offset);
        stmt->caller = std::make_unique<MacroStmt>(offset);
        stmt->caller->name = "caller";
        if (at_op("(")) parse_signature(*stmt->caller);
        std::size_t call_at = peek().offset;
        ExprPtr call = parse_expression(true);
        if (call->kind != ExprKind::call) syntax_error(src_, call_at, "expected a macro call");
        stmt->call.reset(static_cast<CallExpr*>(call.release()));
        expect_block_end();
        OpenBlock open{"call", offset};
        stmt->caller->body = parse_body({"endcall"}, &open);
        next();
        expect_block_end();
        return stmt;
    }

    std::unique_ptr<FilterBlockStmt> parse_filter_block(std::size_t offset) {
        auto stmt = std::make_unique<FilterBlockStmt>(offset);
        stmt->filters.push_back(parse_filter_call(nullptr));
        while (skip_op("|")) stmt->filters.push_back(parse_filter_call(nullptr));
        expect_block_end();
        OpenBlock open{"filter", offset};
        stmt->body = parse_body({"endfilter"}, &open);
        next();
        expect_block_end();
        return stmt;
    }

    std::unique_ptr<WithStmt> parse_with(std::size_t offset) {
        auto stmt = std::make_unique<WithStmt>(offset);
        while (peek().kind != TokenKind::block_end) {
            if (!stmt->assignments.empty()) expect_op(",");
            Target target = parse_target(false, {});
            expect_op("=");
            stmt->assignments.emplace_back(std::move(target), parse_expression(true));
        }
        next();
        OpenBlock open{"with", offset};
        stmt->body = parse_body({"endwith"}, &open);
        next();
        expect_block_end();
        return stmt;
    }

    std::unique_ptr<ScopeStmt> parse_block(std::size_t offset) {
        auto stmt = std::make_unique<ScopeStmt>(offset);
        expect_name();
        while (skip_name("scoped") || skip_name("required")) {
        }
        expect_block_end();
        OpenBlock open{"block", offset};
        stmt->body = parse_body({"endblock"}, &open);
        next();
        if (peek().kind == TokenKind::name) next();  // {% endblock name %}
        expect_block_end();
        return stmt;
    }

    // Hugging Face's {% generation %} marks assistant text for training masks; it renders its
    // body unchanged.
    std::unique_ptr<ScopeStmt> parse_generation(std::size_t offset) {
        auto stmt = std::make_unique<ScopeStmt>(offset);
        expect_block_end();
        OpenBlock open{"generation", offset};
        stmt->body = parse_body({"endgeneration"}, &open);
        next();
        expect_block_end();
        return stmt;
    }

    // A name, `a, b` (unpacking, when `allow_tuple`... always for loops), `(a, b)`, or ns.attr.
    Target parse_target(bool allow_attribute, std::string_view end_name) {
        std::size_t offset = peek().offset;
        if (allow_attribute && peek().kind == TokenKind::name && at_op(".", 1)) {
            Target t;
            t.kind = Target::Kind::attribute;
            t.offset = offset;
            t.name = next().value;
            next();
            t.attribute = expect_name();
            return t;
        }
        Target tuple;
        tuple.kind = Target::Kind::tuple;
        tuple.offset = offset;
        bool is_tuple = false;
        while (true) {
            if (!tuple.items.empty()) {
                const Token& t = peek();
                if (t.kind == TokenKind::block_end || at_op("=") ||
                    (!end_name.empty() && at_name(end_name)))
                    break;
            }
            tuple.items.push_back(parse_target_item());
            if (!skip_op(",")) break;
            is_tuple = true;
        }
        if (!is_tuple) return std::move(tuple.items.front());
        return tuple;
    }

    Target parse_target_item() {
        Target t;
        t.offset = peek().offset;
        if (skip_op("(")) {
            Nest nest(*this, t.offset);
            t.kind = Target::Kind::tuple;
            while (!at_op(")")) {
                if (!t.items.empty()) expect_op(",");
                if (at_op(")")) break;
                t.items.push_back(parse_target_item());
            }
            next();
            return t;
        }
        if (peek().kind != TokenKind::name) unexpected(peek(), "a variable name");
        t.name = next().value;
        if (t.name == "true" || t.name == "false" || t.name == "none" || t.name == "True" ||
            t.name == "False" || t.name == "None")
            syntax_error(src_, t.offset, "cannot assign to '", t.name, "'");
        return t;
    }

    // ------------------------------------------------------------------------------------------
    // Expressions

    bool at_tuple_end(std::string_view extra_end_name) const {
        const Token& t = peek();
        if (t.kind == TokenKind::variable_end || t.kind == TokenKind::block_end || at_op(")"))
            return true;
        return !extra_end_name.empty() && at_name(extra_end_name);
    }

    // Comma-separated expressions; more than one (or a trailing comma) makes a tuple.
    ExprPtr parse_tuple(bool with_condexpr, std::string_view extra_end_name, bool explicit_parens) {
        std::size_t offset = peek().offset;
        std::vector<ExprPtr> items;
        bool is_tuple = false;
        while (true) {
            if (!items.empty()) expect_op(",");
            if (at_tuple_end(extra_end_name)) break;
            items.push_back(parse_expression(with_condexpr));
            if (at_op(",")) {
                is_tuple = true;
            } else {
                break;
            }
        }
        if (!is_tuple) {
            if (!items.empty()) return std::move(items.front());
            if (!explicit_parens) unexpected(peek(), "an expression");
        }
        auto tuple = std::make_unique<ListExpr>(offset, true);
        tuple->items = std::move(items);
        return tuple;
    }

    ExprPtr parse_expression(bool with_condexpr) {
        Nest nest(*this, peek().offset);
        return with_condexpr ? parse_conditional() : parse_or();
    }

    ExprPtr parse_conditional() {
        ExprPtr expr = parse_or();
        while (at_name("if")) {
            std::size_t offset = next().offset;
            auto cond = std::make_unique<ConditionalExpr>(offset);
            cond->then = std::move(expr);
            cond->condition = parse_or();
            if (skip_name("else")) cond->otherwise = parse_conditional();
            expr = std::move(cond);
        }
        return expr;
    }

    ExprPtr parse_or() {
        ExprPtr left = parse_and();
        while (at_name("or")) {
            std::size_t offset = next().offset;
            left = std::make_unique<LogicalExpr>(offset, false, std::move(left), parse_and());
        }
        return left;
    }

    ExprPtr parse_and() {
        ExprPtr left = parse_not();
        while (at_name("and")) {
            std::size_t offset = next().offset;
            left = std::make_unique<LogicalExpr>(offset, true, std::move(left), parse_not());
        }
        return left;
    }

    ExprPtr parse_not() {
        if (at_name("not")) {
            std::size_t offset = next().offset;
            Nest nest(*this, offset);
            return std::make_unique<UnaryExpr>(offset, UnaryOp::logical_not, parse_not());
        }
        return parse_compare();
    }

    ExprPtr parse_compare() {
        std::size_t offset = peek().offset;
        ExprPtr first = parse_math1();
        std::unique_ptr<CompareExpr> chain;
        while (true) {
            CompareOp op;
            const Token& t = peek();
            if (t.kind == TokenKind::op && t.value == "==") {
                op = CompareOp::eq;
            } else if (t.kind == TokenKind::op && t.value == "!=") {
                op = CompareOp::ne;
            } else if (t.kind == TokenKind::op && t.value == "<") {
                op = CompareOp::lt;
            } else if (t.kind == TokenKind::op && t.value == "<=") {
                op = CompareOp::le;
            } else if (t.kind == TokenKind::op && t.value == ">") {
                op = CompareOp::gt;
            } else if (t.kind == TokenKind::op && t.value == ">=") {
                op = CompareOp::ge;
            } else if (at_name("in")) {
                op = CompareOp::in;
            } else if (at_name("not") && at_name("in", 1)) {
                next();
                op = CompareOp::not_in;
            } else {
                break;
            }
            next();
            if (!chain) {
                chain = std::make_unique<CompareExpr>(offset);
                chain->first = std::move(first);
            }
            chain->rest.emplace_back(op, parse_math1());
        }
        if (chain) return chain;
        return first;
    }

    ExprPtr parse_math1() {
        ExprPtr left = parse_concat();
        while (at_op("+") || at_op("-")) {
            const Token& t = next();
            BinaryOp op = t.value == "+" ? BinaryOp::add : BinaryOp::subtract;
            left = std::make_unique<BinaryExpr>(t.offset, op, std::move(left), parse_concat());
        }
        return left;
    }

    ExprPtr parse_concat() {
        ExprPtr left = parse_math2();
        while (at_op("~")) {
            std::size_t offset = next().offset;
            left = std::make_unique<BinaryExpr>(offset, BinaryOp::concat, std::move(left),
                                                parse_math2());
        }
        return left;
    }

    ExprPtr parse_math2() {
        ExprPtr left = parse_pow();
        while (true) {
            BinaryOp op;
            if (at_op("*")) {
                op = BinaryOp::multiply;
            } else if (at_op("/")) {
                op = BinaryOp::divide;
            } else if (at_op("//")) {
                op = BinaryOp::floor_divide;
            } else if (at_op("%")) {
                op = BinaryOp::modulo;
            } else {
                break;
            }
            std::size_t offset = next().offset;
            left = std::make_unique<BinaryExpr>(offset, op, std::move(left), parse_pow());
        }
        return left;
    }

    ExprPtr parse_pow() {
        ExprPtr left = parse_unary(true);
        while (at_op("**")) {
            std::size_t offset = next().offset;
            left = std::make_unique<BinaryExpr>(offset, BinaryOp::power, std::move(left),
                                                parse_unary(true));
        }
        return left;
    }

    ExprPtr parse_unary(bool with_filter) {
        std::size_t offset = peek().offset;
        Nest nest(*this, offset);
        ExprPtr node;
        if (at_op("-")) {
            next();
            node = std::make_unique<UnaryExpr>(offset, UnaryOp::negate, parse_unary(false));
        } else if (at_op("+")) {
            next();
            node = std::make_unique<UnaryExpr>(offset, UnaryOp::plus, parse_unary(false));
        } else {
            node = parse_primary();
        }
        node = parse_postfix(std::move(node));
        if (with_filter) node = parse_filter_expr(std::move(node));
        return node;
    }

    ExprPtr parse_primary() {
        const Token& t = peek();
        std::size_t offset = t.offset;
        switch (t.kind) {
            case TokenKind::name: {
                std::string name = next().value;
                if (name == "true" || name == "True")
                    return std::make_unique<LiteralExpr>(offset, Value::boolean(true));
                if (name == "false" || name == "False")
                    return std::make_unique<LiteralExpr>(offset, Value::boolean(false));
                if (name == "none" || name == "None")
                    return std::make_unique<LiteralExpr>(offset, Value::none());
                return std::make_unique<NameExpr>(offset, std::move(name));
            }
            case TokenKind::string: {
                std::string value = next().value;
                while (peek().kind == TokenKind::string) value += next().value;  // "a" "b"
                return std::make_unique<LiteralExpr>(offset, Value::string(std::move(value)));
            }
            case TokenKind::integer:
                return std::make_unique<LiteralExpr>(offset, Value::integer(next().int_value));
            case TokenKind::floating:
                return std::make_unique<LiteralExpr>(offset, Value::floating(next().float_value));
            case TokenKind::op:
                if (t.value == "(") {
                    next();
                    ExprPtr inner = parse_tuple(true, {}, true);
                    expect_op(")");
                    return inner;
                }
                if (t.value == "[") return parse_list();
                if (t.value == "{") return parse_dict();
                break;
            default:
                break;
        }
        unexpected(t, "an expression");
    }

    ExprPtr parse_list() {
        auto list = std::make_unique<ListExpr>(next().offset, false);
        while (!at_op("]")) {
            if (!list->items.empty()) expect_op(",");
            if (at_op("]")) break;
            list->items.push_back(parse_expression(true));
        }
        next();
        return list;
    }

    ExprPtr parse_dict() {
        auto dict = std::make_unique<DictExpr>(next().offset);
        while (!at_op("}")) {
            if (!dict->items.empty()) expect_op(",");
            if (at_op("}")) break;
            ExprPtr key = parse_expression(true);
            expect_op(":");
            dict->items.emplace_back(std::move(key), parse_expression(true));
        }
        next();
        return dict;
    }

    ExprPtr parse_postfix(ExprPtr node) {
        while (true) {
            if (at_op(".") || at_op("[")) {
                node = parse_subscript(std::move(node));
            } else if (at_op("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }

    ExprPtr parse_filter_expr(ExprPtr node) {
        while (true) {
            if (at_op("|")) {
                next();
                node = parse_filter_call(std::move(node));
            } else if (at_name("is")) {
                node = parse_test(std::move(node));
            } else if (at_op("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }

    ExprPtr parse_subscript(ExprPtr node) {
        const Token& t = next();
        if (t.value == ".") {
            const Token& attr = peek();
            if (attr.kind == TokenKind::name)
                return std::make_unique<AttributeExpr>(attr.offset, std::move(node), next().value);
            if (attr.kind == TokenKind::integer) {
                auto key =
                    std::make_unique<LiteralExpr>(attr.offset, Value::integer(next().int_value));
                return std::make_unique<ItemExpr>(attr.offset, std::move(node), std::move(key));
            }
            unexpected(attr, "an attribute name");
        }
        std::size_t offset = t.offset;
        std::vector<ExprPtr> keys;
        std::unique_ptr<SliceExpr> slice;
        while (!at_op("]")) {
            if (!keys.empty() || slice) expect_op(",");
            if (at_op("]")) break;
            ExprPtr start;
            if (!at_op(":")) {
                start = parse_expression(true);
                if (!at_op(":")) {
                    keys.push_back(std::move(start));
                    continue;
                }
            }
            if (slice || !keys.empty())
                syntax_error(src_, peek().offset, "slices inside tuples are not supported");
            slice = std::make_unique<SliceExpr>(offset);
            slice->start = std::move(start);
            next();  // ':'
            if (!at_op("]") && !at_op(",") && !at_op(":")) slice->stop = parse_expression(true);
            if (skip_op(":")) {
                if (!at_op("]") && !at_op(",")) slice->step = parse_expression(true);
            }
        }
        next();  // ']'
        if (slice) {
            if (!keys.empty()) syntax_error(src_, offset, "slices inside tuples are not supported");
            slice->object = std::move(node);
            return slice;
        }
        ExprPtr key;  // x[] is x[()] in jinja2
        if (keys.size() == 1) {
            key = std::move(keys.front());
        } else {
            auto tuple = std::make_unique<ListExpr>(offset, true);
            tuple->items = std::move(keys);
            key = std::move(tuple);
        }
        return std::make_unique<ItemExpr>(offset, std::move(node), std::move(key));
    }

    Arguments parse_call_args() {
        Arguments args;
        expect_op("(");
        bool first = true;
        while (!at_op(")")) {
            if (!first) {
                expect_op(",");
                if (at_op(")")) break;
            }
            first = false;
            std::size_t at = peek().offset;
            if (skip_op("*")) {
                if (args.star || args.star_star)
                    syntax_error(src_, at, "invalid syntax for function call expression");
                args.star = parse_expression(true);
            } else if (skip_op("**")) {
                if (args.star_star)
                    syntax_error(src_, at, "invalid syntax for function call expression");
                args.star_star = parse_expression(true);
            } else if (peek().kind == TokenKind::name && at_op("=", 1)) {
                if (args.star_star)
                    syntax_error(src_, at, "invalid syntax for function call expression");
                std::string key = next().value;
                next();
                args.keywords.emplace_back(std::move(key), parse_expression(true));
            } else {
                if (!args.keywords.empty() || args.star || args.star_star)
                    syntax_error(src_, at, "positional argument follows keyword argument");
                args.positional.push_back(parse_expression(true));
            }
        }
        next();
        return args;
    }

    ExprPtr parse_call(ExprPtr callee) {
        auto call = std::make_unique<CallExpr>(peek().offset, std::move(callee));
        call->args = parse_call_args();
        return call;
    }

    std::string parse_dotted_name() {
        std::string name = expect_name();
        while (at_op(".")) {
            next();
            name += "." + expect_name();
        }
        return name;
    }

    std::unique_ptr<FilterExpr> parse_filter_call(ExprPtr input) {
        std::size_t offset = peek().offset;
        auto filter = std::make_unique<FilterExpr>(offset, parse_dotted_name());
        filter->input = std::move(input);
        filter->fn = find_filter(filter->name);
        if (at_op("(")) filter->args = parse_call_args();
        return filter;
    }

    ExprPtr parse_test(ExprPtr input) {
        next();  // 'is'
        bool negated = skip_name("not");
        std::size_t offset = peek().offset;
        auto test = std::make_unique<TestExpr>(offset, parse_dotted_name());
        test->input = std::move(input);
        test->negated = negated;
        test->fn = find_test(test->name);
        const Token& t = peek();
        if (at_op("(")) {
            test->args = parse_call_args();
        } else if ((t.kind == TokenKind::name || t.kind == TokenKind::string ||
                    t.kind == TokenKind::integer || t.kind == TokenKind::floating || at_op("[") ||
                    at_op("{")) &&
                   !at_name("else") && !at_name("or") && !at_name("and")) {
            if (at_name("is"))
                syntax_error(src_, t.offset, "you cannot chain multiple tests with 'is'");
            test->args.positional.push_back(parse_postfix(parse_primary()));
        }
        return test;
    }

    const std::string& src_;
    std::vector<Token> tokens_;
    const ParseOptions& options_;
    std::size_t pos_ = 0;
    int depth_ = 0;
};

}  // namespace

std::unique_ptr<const Program> parse_program(std::string_view source, const ParseOptions& options) {
    auto program = std::make_unique<Program>();
    program->source = normalize_source(source, options.keep_trailing_newline);
    std::vector<Token> tokens = tokenize(program->source, options.lexer);
    program->body = Parser(*program, std::move(tokens), options).parse_template();
    check_program(*program);
    return program;
}

}  // namespace ponder::jinja
