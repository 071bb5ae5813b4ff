#pragma once
// SHA-256 (FIPS 180-4), for checking downloaded model files against the hub's checksums.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ponder::cli {

class Sha256 {
  public:
    Sha256();
    void update(const void* data, size_t size);
    // The digest as 64 lowercase hex digits; the object is spent afterwards.
    std::string hex_digest();

  private:
    void block(const uint8_t* p);
    std::array<uint32_t, 8> h_;
    std::array<uint8_t, 64> buffer_{};
    size_t buffered_ = 0;
    uint64_t length_ = 0;
};

// The SHA-256 of a file's contents; throws ponder::Error when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace ponder::cli
