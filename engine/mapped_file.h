#pragma once
// A read-only memory map of a whole file (RAII). Model weights are used in place from the map,
// never copied.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace ponder {

class MappedFile {
  public:
    // Throws ponder::Error naming the path when the file cannot be opened or mapped.
    explicit MappedFile(const std::filesystem::path& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    std::span<const uint8_t> bytes() const { return {data_, size_}; }
    const std::string& path() const { return path_; }

    // Drops the pages wholly inside `range` (part of bytes()) from this process's memory: data
    // that has been copied elsewhere (packed weights) stops counting as resident. Reading the
    // range again is still valid; it pages back in from the file.
    void release(std::span<const uint8_t> range) const;

  private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace ponder
