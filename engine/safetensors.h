#pragma once
// Hugging Face safetensors files: an 8-byte little-endian header length, a JSON header mapping
// tensor names to {dtype, shape, data_offsets}, then the raw data. Tensors are used in place
// from a memory map. Every offset and shape is checked against the file, so a malformed file is
// a ponder::Error naming the file and tensor, never a crash.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ggml_type.h"

namespace ponder {

class MappedFile;

struct SafetensorsTensor {
    std::string name;
    std::string dtype;             // as written: "F32", "F16", "BF16", ...
    std::optional<GgmlType> type;  // F32 / F16 / BF16; nullopt for dtypes ponder cannot use
    std::vector<uint64_t> shape;   // outermost first, as in the file (PyTorch order)
    std::span<const uint8_t> data;
};

class SafetensorsFile {
  public:
    static SafetensorsFile open(const std::filesystem::path& path);
    // Parses bytes that outlive the result; `name` is used in messages.
    static SafetensorsFile from_memory(std::span<const uint8_t> bytes, std::string name);

    const std::string& name() const { return name_; }
    const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
    const SafetensorsTensor* find(std::string_view name) const;
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

  private:
    void parse(std::span<const uint8_t> bytes);

    std::shared_ptr<const MappedFile> map_;
    std::string name_;
    std::vector<SafetensorsTensor> tensors_;
    std::map<std::string, size_t, std::less<>> index_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace ponder
