#pragma once
// GGUF (v2/v3) files: metadata and tensor directory, with tensor data used in place from a
// memory map. Every count, length, offset and dimension is checked against the file size before
// it is used, so a truncated or hostile file yields a ponder::Error naming the file, the field and
// the byte offset — never a crash or a huge allocation.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/ggml_type.h"

namespace ponder {

class MappedFile;

// Metadata value types, as numbered in the GGUF format.
enum class GgufValueType : uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12,
};

std::string_view gguf_value_type_name(GgufValueType type);

class GgufValue;

struct GgufArray {
    GgufValueType element_type = GgufValueType::UINT8;
    std::vector<GgufValue> items;
};

// One metadata value. Integers keep their declared width in `type()`; accessors convert.
class GgufValue {
  public:
    GgufValue() = default;
    static GgufValue of_uint(GgufValueType type, uint64_t v);
    static GgufValue of_int(GgufValueType type, int64_t v);
    static GgufValue of_float(GgufValueType type, double v);
    static GgufValue of_bool(bool v);
    static GgufValue of_string(std::string v);
    static GgufValue of_array(GgufArray v);

    // Convenience constructors for writers.
    static GgufValue u32(uint32_t v) { return of_uint(GgufValueType::UINT32, v); }
    static GgufValue i32(int32_t v) { return of_int(GgufValueType::INT32, v); }
    static GgufValue u64(uint64_t v) { return of_uint(GgufValueType::UINT64, v); }
    static GgufValue f32(float v) { return of_float(GgufValueType::FLOAT32, v); }
    static GgufValue string_array(std::span<const std::string> v);
    static GgufValue f32_array(std::span<const float> v);
    static GgufValue i32_array(std::span<const int32_t> v);

    GgufValueType type() const { return type_; }
    bool is_integer() const;
    bool is_float() const {
        return type_ == GgufValueType::FLOAT32 || type_ == GgufValueType::FLOAT64;
    }

    std::optional<int64_t> as_int() const;   // any integer type that fits in int64
    std::optional<double> as_float() const;  // floats, and integers converted
    std::optional<bool> as_bool() const;
    const std::string* as_string() const;
    const GgufArray* as_array() const;

    // JSON view for `ponder info --json`; arrays longer than `max_items` are summarised.
    nlohmann::json to_json(size_t max_items) const;
    // One-line human form, long strings and arrays shortened.
    std::string to_display(size_t max_chars) const;

  private:
    GgufValueType type_ = GgufValueType::UINT8;
    std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> value_;
};

struct GgufKeyValue {
    std::string key;
    GgufValue value;
};

struct GgufTensorInfo {
    std::string name;
    std::vector<uint64_t> dims;  // dims[0] varies fastest (a row); at most 4 dims
    GgmlType type = GgmlType::F32;
    uint64_t offset = 0;  // from the start of the data section
    uint64_t n_elements = 0;
    uint64_t n_bytes = 0;
    uint64_t info_offset = 0;  // byte offset of this entry in the file, for messages
};

class GgufFile {
  public:
    // Maps and parses a file. Throws ponder::Error.
    static GgufFile open(const std::filesystem::path& path);
    // Parses bytes that outlive the result (e.g. a model embedded in the binary). `name` is used
    // in messages.
    static GgufFile from_memory(std::span<const uint8_t> bytes, std::string name);

    const std::string& name() const { return name_; }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t file_size() const { return bytes_.size(); }
    uint64_t data_offset() const { return data_offset_; }

    const std::vector<GgufKeyValue>& metadata() const { return metadata_; }
    const GgufValue* find(std::string_view key) const;

    // Typed lookups: nullopt when the key is absent, ponder::Error when it has the wrong type.
    std::optional<std::string> get_string(std::string_view key) const;
    std::optional<int64_t> get_int(std::string_view key) const;
    std::optional<double> get_float(std::string_view key) const;
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::vector<std::string>> get_string_array(std::string_view key) const;
    std::optional<std::vector<float>> get_float_array(std::string_view key) const;
    std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;

    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(std::string_view name) const;
    // The tensor's bytes, in place in the map.
    std::span<const uint8_t> tensor_data(const GgufTensorInfo& tensor) const;
    // For a file opened from disk: drops the pages of `bytes` (a tensor's data that has been
    // copied, e.g. packed for the kernels) from memory; they page back in if read. Otherwise
    // nothing (memory given to from_memory is not ours to drop).
    void release_pages(std::span<const uint8_t> bytes) const;

  private:
    GgufFile() = default;
    void parse();

    std::shared_ptr<const void> storage_;  // keeps the map alive
    const MappedFile* map_ = nullptr;      // the map, when opened from a file
    std::span<const uint8_t> bytes_;
    std::string name_;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::vector<GgufKeyValue> metadata_;
    std::unordered_map<std::string, size_t> metadata_index_;
    std::vector<GgufTensorInfo> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
};

// Writes GGUF v3 files: metadata in insertion order, then tensors, each aligned.
class GgufWriter {
  public:
    void set(std::string key, GgufValue value);  // replaces an earlier value of the same key
    void set_string(std::string key, std::string value) {
        set(std::move(key), GgufValue::of_string(std::move(value)));
    }
    void set_u32(std::string key, uint32_t value) { set(std::move(key), GgufValue::u32(value)); }
    void set_f32(std::string key, float value) { set(std::move(key), GgufValue::f32(value)); }
    void set_bool(std::string key, bool value) { set(std::move(key), GgufValue::of_bool(value)); }

    // `dims[0]` is the row length. The bytes must match the type's size for those dims.
    void add_tensor(std::string name, GgmlType type, std::vector<uint64_t> dims,
                    std::vector<uint8_t> bytes);

    // Writes to a temporary file beside `path`, then renames it into place.
    void write(const std::filesystem::path& path) const;

  private:
    struct PendingTensor {
        std::string name;
        GgmlType type;
        std::vector<uint64_t> dims;
        std::vector<uint8_t> bytes;
    };
    std::vector<GgufKeyValue> metadata_;
    std::vector<PendingTensor> tensors_;
};

}  // namespace ponder
