#pragma once
// The one error type the engine throws. Messages carry their context (file, field, byte offset)
// so that the front end can print them as they are, on one line.
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace ponder {

class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Concatenates anything streamable: cat("tensor ", name, " at offset ", off).
template <typename... Parts>
std::string cat(Parts&&... parts) {
    std::ostringstream out;
    (out << ... << std::forward<Parts>(parts));
    return out.str();
}

template <typename... Parts>
[[noreturn]] void fail(Parts&&... parts) {
    throw Error(cat(std::forward<Parts>(parts)...));
}

}  // namespace ponder
