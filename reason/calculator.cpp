#include "reason/calculator.h"

#include <cctype>

#include "engine/error.h"

namespace ponder {

namespace {

constexpr int kMaxDepth = 200;  // bounds recursion on "((((((..."

class Parser {
  public:
    explicit Parser(std::string_view text) : text_(text) {}

    Rational parse() {
        Rational v = sum();
        skip_space();
        if (pos_ < text_.size()) error("unexpected '" + std::string(1, text_[pos_]) + "'");
        return v;
    }

  private:
    [[noreturn]] void error(const std::string& what) const {
        fail("calculator: ", what, " at position ", pos_ + 1, " of '", text_, "'");
    }

    void skip_space() {
        while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    }

    bool match(std::string_view token) {
        skip_space();
        if (text_.substr(pos_, token.size()) == token) {
            pos_ += token.size();
            return true;
        }
        return false;
    }

    Rational sum() {
        Rational v = product();
        for (;;) {
            if (match("+"))
                v = v + product();
            else if (match("-") || match("\u2212"))
                v = v - product();
            else
                return v;
        }
    }

    Rational product() {
        Rational v = power();
        for (;;) {
            skip_space();
            if (text_.substr(pos_, 2) == "**") return v;  // handled by power()
            if (match("*") || match("\u00d7") || match("\u22c5") || match_times_letter())
                v = v * power();
            else if (match("/") || match("\u00f7"))
                v = v / power();
            else
                return v;
        }
    }

    // "3 x 4": the letter x multiplies only when a number or '(' follows.
    bool match_times_letter() {
        skip_space();
        if (pos_ < text_.size() && (text_[pos_] == 'x' || text_[pos_] == 'X')) {
            size_t after = pos_ + 1;
            while (after < text_.size() && text_[after] == ' ') ++after;
            if (after < text_.size() &&
                (std::isdigit(static_cast<unsigned char>(text_[after])) || text_[after] == '(')) {
                pos_ += 1;
                return true;
            }
        }
        return false;
    }

    Rational power() {
        Rational base = unary();
        if (match("^") || match("**")) {
            Rational exponent = power();  // right-associative
            return base.pow(exponent);
        }
        return base;
    }

    Rational unary() {
        if (match("-") || match("\u2212")) return -unary();
        if (match("+")) return unary();
        return primary();
    }

    Rational primary() {
        skip_space();
        if (match("(")) {
            if (++depth_ > kMaxDepth) error("expression nested too deeply");
            Rational v = sum();
            if (!match(")")) error("missing ')'");
            --depth_;
            return percent(v);
        }
        size_t start = pos_;
        while (pos_ < text_.size()) {
            char c = text_[pos_];
            bool digit = std::isdigit(static_cast<unsigned char>(c));
            // A comma belongs to the number only as a thousands separator: ",ddd" then a non-digit.
            bool thousands = c == ',' && pos_ + 3 < text_.size() &&
                             std::isdigit(static_cast<unsigned char>(text_[pos_ + 1])) &&
                             std::isdigit(static_cast<unsigned char>(text_[pos_ + 2])) &&
                             std::isdigit(static_cast<unsigned char>(text_[pos_ + 3])) &&
                             (pos_ + 4 >= text_.size() ||
                              !std::isdigit(static_cast<unsigned char>(text_[pos_ + 4])));
            if (digit || c == '.' || thousands)
                ++pos_;
            else
                break;
        }
        if (start == pos_) {
            if (pos_ >= text_.size()) error("expression ends too early");
            error("expected a number");
        }
        auto value = Rational::parse(text_.substr(start, pos_ - start));
        if (!value) error("bad number '" + std::string(text_.substr(start, pos_ - start)) + "'");
        return percent(*value);
    }

    Rational percent(Rational v) {
        if (match("%")) return v / Rational(100);
        return v;
    }

    std::string_view text_;
    size_t pos_ = 0;
    int depth_ = 0;
};

}  // namespace

Rational evaluate_expression(std::string_view expression) {
    if (expression.size() > 10000) fail("calculator: expression longer than 10000 characters");
    return Parser(expression).parse();
}

}  // namespace ponder
