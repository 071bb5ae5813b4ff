#include "reason/rational.h"

#include <cctype>
#include <string>

#include "engine/error.h"

namespace ponder {

namespace {

__int128 gcd(__int128 a, __int128 b) {
    if (a < 0) a = -a;
    if (b < 0) b = -b;
    while (b != 0) {
        __int128 t = a % b;
        a = b;
        b = t;
    }
    return a;
}

[[noreturn]] void overflow() {
    fail("number too large for exact arithmetic");
}

__int128 mul(__int128 a, __int128 b) {
    __int128 r;
    if (__builtin_mul_overflow(a, b, &r)) overflow();
    return r;
}

__int128 add(__int128 a, __int128 b) {
    __int128 r;
    if (__builtin_add_overflow(a, b, &r)) overflow();
    return r;
}

std::string int128_to_string(__int128 v) {
    if (v == 0) return "0";
    bool negative = v < 0;
    std::string digits;
    while (v != 0) {
        int d = static_cast<int>(v % 10);
        digits.insert(digits.begin(), static_cast<char>('0' + (d < 0 ? -d : d)));
        v /= 10;
    }
    return negative ? "-" + digits : digits;
}

}  // namespace

Rational Rational::of(__int128 num, __int128 den) {
    if (den == 0) fail("division by zero");
    if (den < 0) {
        num = mul(num, -1);
        den = mul(den, -1);
    }
    __int128 g = gcd(num, den);
    Rational r;
    r.num_ = g ? num / g : 0;
    r.den_ = g ? den / g : 1;
    return r;
}

std::optional<Rational> Rational::parse(std::string_view text) {
    size_t slash = text.find('/');
    if (slash != std::string_view::npos) {
        auto a = parse(text.substr(0, slash)), b = parse(text.substr(slash + 1));
        if (!a || !b || !a->is_integer() || !b->is_integer() || b->num_ == 0) return std::nullopt;
        return *a / *b;
    }
    size_t i = 0;
    bool negative = false;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
    __int128 num = 0, den = 1;
    bool digits = false, point = false;
    size_t group_digits = 0;  // digits since the last thousands comma
    bool had_comma = false;
    try {
        for (; i < text.size(); ++i) {
            char c = text[i];
            if (std::isdigit(static_cast<unsigned char>(c))) {
                num = add(mul(num, 10), c - '0');
                if (point) den = mul(den, 10);
                digits = true;
                ++group_digits;
            } else if (c == ',' && !point && digits) {
                // Thousands separators must separate groups of three.
                if (had_comma && group_digits != 3) return std::nullopt;
                if (!had_comma && group_digits > 3) return std::nullopt;
                had_comma = true;
                group_digits = 0;
            } else if (c == '.' && !point) {
                if (had_comma && group_digits != 3) return std::nullopt;
                point = true;
            } else if ((c == 'e' || c == 'E') && digits) {
                int exponent = 0;
                bool exp_negative = false;
                size_t j = i + 1;
                if (j < text.size() && (text[j] == '-' || text[j] == '+'))
                    exp_negative = text[j++] == '-';
                if (j >= text.size()) return std::nullopt;
                for (; j < text.size(); ++j) {
                    if (!std::isdigit(static_cast<unsigned char>(text[j])) || exponent > 30)
                        return std::nullopt;
                    exponent = exponent * 10 + (text[j] - '0');
                }
                for (int k = 0; k < exponent; ++k) {
                    if (exp_negative)
                        den = mul(den, 10);
                    else
                        num = mul(num, 10);
                }
                i = text.size();
                break;
            } else {
                return std::nullopt;
            }
        }
        if (!digits) return std::nullopt;
        if (had_comma && !point && group_digits != 3) return std::nullopt;
        return of(negative ? -num : num, den);
    } catch (const Error&) {
        return std::nullopt;
    }
}

Rational Rational::operator+(const Rational& o) const {
    return of(add(mul(num_, o.den_), mul(o.num_, den_)), mul(den_, o.den_));
}
Rational Rational::operator-(const Rational& o) const {
    return *this + (-o);
}
Rational Rational::operator*(const Rational& o) const {
    // Cross-reduce first so that products stay small.
    __int128 g1 = gcd(num_, o.den_), g2 = gcd(o.num_, den_);
    if (g1 == 0) g1 = 1;
    if (g2 == 0) g2 = 1;
    return of(mul(num_ / g1, o.num_ / g2), mul(den_ / g2, o.den_ / g1));
}
Rational Rational::operator/(const Rational& o) const {
    if (o.num_ == 0) fail("division by zero");
    return *this * of(o.den_, o.num_);
}
Rational Rational::operator-() const {
    return of(mul(num_, -1), den_);
}

Rational Rational::pow(const Rational& exponent) const {
    if (!exponent.is_integer()) fail("only whole-number exponents are exact");
    __int128 e = exponent.num_;
    if (e > 4096 || e < -4096) fail("exponent too large");
    Rational base = e < 0 ? Rational::of(1, 1) / *this : *this;
    if (e < 0) e = -e;
    Rational result(1);
    while (e > 0) {
        if (e & 1) result = result * base;
        e >>= 1;
        if (e > 0) base = base * base;
    }
    return result;
}

bool Rational::operator<(const Rational& o) const {
    return mul(num_, o.den_) < mul(o.num_, den_);
}

std::string Rational::to_string(bool decimal) const {
    if (den_ == 1) return int128_to_string(num_);
    if (decimal) {
        // A fraction terminates in decimal when its denominator has only the factors 2 and 5.
        __int128 d = den_;
        int twos = 0, fives = 0;
        while (d % 2 == 0) d /= 2, ++twos;
        while (d % 5 == 0) d /= 5, ++fives;
        if (d == 1 && std::max(twos, fives) <= 30) {
            int places = std::max(twos, fives);
            __int128 scale = 1;
            for (int k = 0; k < places; ++k) scale *= 10;
            __int128 scaled = num_ * (scale / den_);
            std::string digits = int128_to_string(scaled < 0 ? -scaled : scaled);
            while (static_cast<int>(digits.size()) <= places) digits.insert(digits.begin(), '0');
            digits.insert(digits.end() - places, '.');
            return (scaled < 0 ? "-" : "") + digits;
        }
    }
    return int128_to_string(num_) + "/" + int128_to_string(den_);
}

double Rational::to_double() const {
    return static_cast<double>(num_) / static_cast<double>(den_);
}

}  // namespace ponder
