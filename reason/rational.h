#pragma once
// Exact rational numbers for the calculator and the arithmetic checks. 128-bit numerator and
// denominator, always reduced, denominator positive; any overflow throws rather than rounding.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ponder {

class Rational {
  public:
    Rational() = default;
    Rational(int64_t n) : num_(n) {}  // NOLINT: integers convert implicitly
    // Throws ponder::Error on a zero denominator or overflow.
    static Rational of(__int128 num, __int128 den);
    // "12", "-3.25", "1,234", "3/4", "1e3": nullopt when the text is not a number.
    static std::optional<Rational> parse(std::string_view text);

    __int128 num() const { return num_; }
    __int128 den() const { return den_; }
    bool is_integer() const { return den_ == 1; }

    Rational operator+(const Rational& o) const;
    Rational operator-(const Rational& o) const;
    Rational operator*(const Rational& o) const;
    Rational operator/(const Rational& o) const;  // throws on division by zero
    Rational operator-() const;
    // Integer exponent only (|exponent| <= 4096); throws otherwise.
    Rational pow(const Rational& exponent) const;
    bool operator==(const Rational& o) const { return num_ == o.num_ && den_ == o.den_; }
    bool operator<(const Rational& o) const;

    // "29", "-3/4"; `decimal` prints terminating fractions as decimals ("0.75").
    std::string to_string(bool decimal = true) const;
    double to_double() const;

  private:
    __int128 num_ = 0;
    __int128 den_ = 1;
};

}  // namespace ponder
