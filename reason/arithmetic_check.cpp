#include "reason/arithmetic_check.h"

#include <cctype>
#include <optional>

#include "engine/error.h"
#include "reason/calculator.h"

namespace ponder {

namespace {

bool is_digit(char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
}

// Characters an arithmetic expression is made of (ASCII; × and ÷ are handled as UTF-8 bytes).
bool expression_byte(unsigned char c) {
    return std::isdigit(c) || c == ' ' || c == '.' || c == ',' || c == '+' || c == '-' ||
           c == '*' || c == '/' || c == '(' || c == ')' || c == '^' || c == '%' || c == 'x' ||
           c == 'X' || c >= 0x80;
}

bool has_operator_between_numbers(std::string_view e) {
    bool seen_digit = false;
    for (size_t i = 0; i < e.size(); ++i) {
        char c = e[i];
        if (is_digit(c))
            seen_digit = true;
        else if (seen_digit && (c == '+' || c == '*' || c == '/' || c == '^' || c == 'x' ||
                                c == 'X' || c == '-' || static_cast<unsigned char>(c) >= 0x80)) {
            for (size_t j = i + 1; j < e.size(); ++j) {
                if (is_digit(e[j])) return true;
            }
        }
    }
    return false;
}

// The longest suffix of `left` that evaluates: "Tom has 3 boxes, so 3 * 12" → "3 * 12".
std::optional<std::pair<std::string, Rational>> evaluate_suffix(std::string_view left) {
    for (size_t start = 0; start < left.size(); ++start) {
        char c = left[start];
        if (!(is_digit(c) || c == '(' || c == '-')) continue;
        if (start > 0 && (is_digit(left[start - 1]) || left[start - 1] == '.')) continue;
        std::string_view candidate = left.substr(start);
        if (!has_operator_between_numbers(candidate)) return std::nullopt;
        try {
            return std::make_pair(std::string(candidate), evaluate_expression(candidate));
        } catch (const Error&) {
        }
    }
    return std::nullopt;
}

// Half a unit in the last written decimal place: "3.33" allows ±0.005.
Rational rounding_tolerance(std::string_view number) {
    size_t point = number.find('.');
    if (point == std::string_view::npos) return Rational(0);
    __int128 scale = 1;
    for (size_t i = point + 1; i < number.size() && is_digit(number[i]) && i < point + 30; ++i)
        scale *= 10;
    return Rational::of(1, 2 * scale);
}

std::string trim(std::string_view s) {
    size_t b = s.find_first_not_of(' ');
    size_t e = s.find_last_not_of(' ');
    return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

}  // namespace

std::vector<ArithmeticClaim> check_arithmetic(std::string_view text) {
    std::vector<ArithmeticClaim> claims;
    for (size_t eq = text.find('='); eq != std::string_view::npos; eq = text.find('=', eq + 1)) {
        // "==", "<=", ">=", "!=" are not claims of equality of a computation.
        if ((eq + 1 < text.size() && text[eq + 1] == '=') ||
            (eq > 0 && std::string_view("=<>!").find(text[eq - 1]) != std::string_view::npos)) {
            continue;
        }
        size_t left_start = eq;
        while (left_start > 0 &&
               expression_byte(static_cast<unsigned char>(text[left_start - 1])) &&
               eq - left_start < 200) {
            --left_start;
        }
        auto left = evaluate_suffix(text.substr(left_start, eq - left_start));
        if (!left) continue;

        // The right-hand side: a number, optionally after a currency sign.
        size_t r = eq + 1;
        while (r < text.size() && (text[r] == ' ' || text[r] == '$')) ++r;
        size_t number_start = r;
        if (r < text.size() && text[r] == '-') ++r;
        while (r < text.size() &&
               (is_digit(text[r]) || ((text[r] == '.' || text[r] == ',') && r + 1 < text.size() &&
                                      is_digit(text[r + 1])))) {
            ++r;
        }
        std::string claimed(text.substr(number_start, r - number_start));
        std::string compact;
        for (char c : claimed) {
            if (c != ',') compact += c;
        }
        // Numbers beyond exact arithmetic (the model can write anything) make a claim that
        // cannot be checked, not an error.
        try {
            auto claimed_value = Rational::parse(compact);
            if (!claimed_value) continue;
            // A fraction on the right ("= 3/4") is part of the claimed value.
            if (r + 1 < text.size() && text[r] == '/' && is_digit(text[r + 1])) {
                size_t d = r + 1;
                while (d < text.size() && is_digit(text[d])) ++d;
                auto den = Rational::parse(text.substr(r + 1, d - r - 1));
                if (den && den->num() != 0) {
                    claimed_value = *claimed_value / *den;
                    claimed = std::string(text.substr(number_start, d - number_start));
                    compact = claimed;
                }
            }

            ArithmeticClaim claim;
            claim.expression = trim(left->first);
            claim.claimed = claimed;
            claim.actual = left->second.to_string(true);
            claim.offset = eq;
            Rational diff = left->second - *claimed_value;
            if (diff < Rational(0)) diff = -diff;
            claim.correct = diff == Rational(0) || !(rounding_tolerance(compact) < diff);
            claims.push_back(std::move(claim));
        } catch (const Error&) {
        }
    }
    return claims;
}

}  // namespace ponder
