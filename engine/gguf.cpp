#include "engine/gguf.h"

#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/mapped_file.h"

namespace ponder {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr uint32_t kMaxDims = 4;
constexpr int kMaxArrayNesting = 4;

size_t scalar_size(GgufValueType type) {
    switch (type) {
        case GgufValueType::UINT8:
        case GgufValueType::INT8:
        case GgufValueType::BOOL:
            return 1;
        case GgufValueType::UINT16:
        case GgufValueType::INT16:
            return 2;
        case GgufValueType::UINT32:
        case GgufValueType::INT32:
        case GgufValueType::FLOAT32:
            return 4;
        case GgufValueType::UINT64:
        case GgufValueType::INT64:
        case GgufValueType::FLOAT64:
            return 8;
        case GgufValueType::STRING:
        case GgufValueType::ARRAY:
            return 0;
    }
    return 0;
}

bool known_value_type(uint32_t raw) {
    return raw <= static_cast<uint32_t>(GgufValueType::FLOAT64);
}

// The fewest bytes one element of this type can occupy: bounds array counts before allocating.
uint64_t min_encoded_size(GgufValueType type) {
    if (type == GgufValueType::STRING) return 8;
    if (type == GgufValueType::ARRAY) return 12;
    return scalar_size(type);
}

// A bounds-checked cursor over the file's bytes.
class Cursor {
  public:
    Cursor(std::span<const uint8_t> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

    uint64_t offset() const { return pos_; }
    uint64_t remaining() const { return bytes_.size() - pos_; }

    [[noreturn]] void error(std::string_view what, uint64_t at) const {
        fail(name_, ": ", what, " (byte offset ", at, ")");
    }

    void need(uint64_t n, std::string_view field) const {
        if (n > remaining()) {
            error(cat("truncated file: ", field, " needs ", n, " bytes, only ", remaining(),
                      " remain of ", bytes_.size()),
                  pos_);
        }
    }

    template <typename T>
    T read(std::string_view field) {
        need(sizeof(T), field);
        T value;
        std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return value;
    }

    std::string read_string(std::string_view field) {
        uint64_t at = pos_;
        uint64_t length = read<uint64_t>(field);
        if (length > remaining()) {
            error(cat(field, ": string length ", length, " exceeds the ", remaining(),
                      " bytes left in the file"),
                  at);
        }
        std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
        pos_ += length;
        return s;
    }

    void seek(uint64_t pos) { pos_ = pos; }

  private:
    std::span<const uint8_t> bytes_;
    const std::string& name_;
    uint64_t pos_ = 0;
};

GgufValue read_value(Cursor& in, GgufValueType type, const std::string& key, int depth);

GgufValue read_scalar(Cursor& in, GgufValueType type, const std::string& key) {
    switch (type) {
        case GgufValueType::UINT8:
            return GgufValue::of_uint(type, in.read<uint8_t>(key));
        case GgufValueType::INT8:
            return GgufValue::of_int(type, in.read<int8_t>(key));
        case GgufValueType::UINT16:
            return GgufValue::of_uint(type, in.read<uint16_t>(key));
        case GgufValueType::INT16:
            return GgufValue::of_int(type, in.read<int16_t>(key));
        case GgufValueType::UINT32:
            return GgufValue::of_uint(type, in.read<uint32_t>(key));
        case GgufValueType::INT32:
            return GgufValue::of_int(type, in.read<int32_t>(key));
        case GgufValueType::UINT64:
            return GgufValue::of_uint(type, in.read<uint64_t>(key));
        case GgufValueType::INT64:
            return GgufValue::of_int(type, in.read<int64_t>(key));
        case GgufValueType::FLOAT32:
            return GgufValue::of_float(type, in.read<float>(key));
        case GgufValueType::FLOAT64:
            return GgufValue::of_float(type, in.read<double>(key));
        case GgufValueType::BOOL: {
            uint64_t at = in.offset();
            uint8_t b = in.read<uint8_t>(key);
            if (b > 1)
                in.error(cat("metadata '", key, "': bool value ", int(b), " is not 0 or 1"), at);
            return GgufValue::of_bool(b != 0);
        }
        case GgufValueType::STRING:
            return GgufValue::of_string(in.read_string(key));
        case GgufValueType::ARRAY:
            break;
    }
    return {};
}

GgufValue read_value(Cursor& in, GgufValueType type, const std::string& key, int depth) {
    if (type != GgufValueType::ARRAY) return read_scalar(in, type, key);
    if (depth >= kMaxArrayNesting)
        in.error(cat("metadata '", key, "': arrays nested too deeply"), in.offset());
    uint64_t at = in.offset();
    uint32_t raw_type = in.read<uint32_t>(key);
    if (!known_value_type(raw_type)) {
        in.error(cat("metadata '", key, "': unknown array element type ", raw_type), at);
    }
    auto element_type = static_cast<GgufValueType>(raw_type);
    uint64_t count_at = in.offset();
    uint64_t count = in.read<uint64_t>(key);
    uint64_t min_size = min_encoded_size(element_type);
    if (min_size > 0 && count > in.remaining() / min_size) {
        in.error(cat("metadata '", key, "': array of ", count, " elements cannot fit in the ",
                     in.remaining(), " bytes left"),
                 count_at);
    }
    GgufArray array;
    array.element_type = element_type;
    array.items.reserve(count);
    for (uint64_t i = 0; i < count; ++i)
        array.items.push_back(read_value(in, element_type, key, depth + 1));
    return GgufValue::of_array(std::move(array));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// GgufValue

std::string_view gguf_value_type_name(GgufValueType type) {
    switch (type) {
        case GgufValueType::UINT8:
            return "u8";
        case GgufValueType::INT8:
            return "i8";
        case GgufValueType::UINT16:
            return "u16";
        case GgufValueType::INT16:
            return "i16";
        case GgufValueType::UINT32:
            return "u32";
        case GgufValueType::INT32:
            return "i32";
        case GgufValueType::FLOAT32:
            return "f32";
        case GgufValueType::BOOL:
            return "bool";
        case GgufValueType::STRING:
            return "string";
        case GgufValueType::ARRAY:
            return "array";
        case GgufValueType::UINT64:
            return "u64";
        case GgufValueType::INT64:
            return "i64";
        case GgufValueType::FLOAT64:
            return "f64";
    }
    return "?";
}

GgufValue GgufValue::of_uint(GgufValueType type, uint64_t v) {
    GgufValue out;
    out.type_ = type;
    out.value_ = v;
    return out;
}
GgufValue GgufValue::of_int(GgufValueType type, int64_t v) {
    GgufValue out;
    out.type_ = type;
    out.value_ = v;
    return out;
}
GgufValue GgufValue::of_float(GgufValueType type, double v) {
    GgufValue out;
    out.type_ = type;
    out.value_ = v;
    return out;
}
GgufValue GgufValue::of_bool(bool v) {
    GgufValue out;
    out.type_ = GgufValueType::BOOL;
    out.value_ = v;
    return out;
}
GgufValue GgufValue::of_string(std::string v) {
    GgufValue out;
    out.type_ = GgufValueType::STRING;
    out.value_ = std::move(v);
    return out;
}
GgufValue GgufValue::of_array(GgufArray v) {
    GgufValue out;
    out.type_ = GgufValueType::ARRAY;
    out.value_ = std::move(v);
    return out;
}
GgufValue GgufValue::string_array(std::span<const std::string> v) {
    GgufArray a{GgufValueType::STRING, {}};
    a.items.reserve(v.size());
    for (const auto& s : v) a.items.push_back(of_string(s));
    return of_array(std::move(a));
}
GgufValue GgufValue::f32_array(std::span<const float> v) {
    GgufArray a{GgufValueType::FLOAT32, {}};
    a.items.reserve(v.size());
    for (float x : v) a.items.push_back(f32(x));
    return of_array(std::move(a));
}
GgufValue GgufValue::i32_array(std::span<const int32_t> v) {
    GgufArray a{GgufValueType::INT32, {}};
    a.items.reserve(v.size());
    for (int32_t x : v) a.items.push_back(i32(x));
    return of_array(std::move(a));
}

bool GgufValue::is_integer() const {
    return std::holds_alternative<uint64_t>(value_) || std::holds_alternative<int64_t>(value_);
}

std::optional<int64_t> GgufValue::as_int() const {
    if (auto* u = std::get_if<uint64_t>(&value_)) {
        if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
        return static_cast<int64_t>(*u);
    }
    if (auto* i = std::get_if<int64_t>(&value_)) return *i;
    return std::nullopt;
}

std::optional<double> GgufValue::as_float() const {
    if (auto* d = std::get_if<double>(&value_)) return *d;
    if (auto* u = std::get_if<uint64_t>(&value_)) return static_cast<double>(*u);
    if (auto* i = std::get_if<int64_t>(&value_)) return static_cast<double>(*i);
    return std::nullopt;
}

std::optional<bool> GgufValue::as_bool() const {
    if (auto* b = std::get_if<bool>(&value_)) return *b;
    return std::nullopt;
}

const std::string* GgufValue::as_string() const {
    return std::get_if<std::string>(&value_);
}
const GgufArray* GgufValue::as_array() const {
    return std::get_if<GgufArray>(&value_);
}

nlohmann::json GgufValue::to_json(size_t max_items) const {
    if (auto* u = std::get_if<uint64_t>(&value_)) return *u;
    if (auto* i = std::get_if<int64_t>(&value_)) return *i;
    if (auto* d = std::get_if<double>(&value_)) return *d;
    if (auto* b = std::get_if<bool>(&value_)) return *b;
    if (auto* s = std::get_if<std::string>(&value_)) return *s;
    const auto& a = std::get<GgufArray>(value_);
    if (a.items.size() > max_items) {
        return {{"type", std::string(gguf_value_type_name(a.element_type))},
                {"length", a.items.size()}};
    }
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : a.items) out.push_back(item.to_json(max_items));
    return out;
}

std::string GgufValue::to_display(size_t max_chars) const {
    std::string text;
    if (auto* s = std::get_if<std::string>(&value_)) {
        text = *s;
    } else if (auto* a = std::get_if<GgufArray>(&value_)) {
        text = cat("[", a->items.size(), " x ", gguf_value_type_name(a->element_type), "]");
    } else {
        text = to_json(0).dump();
    }
    // Control characters (newlines in templates) would break the one-line form.
    std::string out;
    for (char c : text) {
        if (c == '\n')
            out += "\\n";
        else if (static_cast<unsigned char>(c) < 0x20)
            out += ' ';
        else
            out += c;
        if (out.size() >= max_chars) {
            out += "...";
            break;
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// GgufFile

GgufFile GgufFile::open(const std::filesystem::path& path) {
    auto map = std::make_shared<MappedFile>(path);
    GgufFile file;
    file.bytes_ = map->bytes();
    file.storage_ = map;
    file.map_ = map.get();
    file.name_ = path.string();
    file.parse();
    return file;
}

void GgufFile::release_pages(std::span<const uint8_t> bytes) const {
    if (map_) map_->release(bytes);
}

GgufFile GgufFile::from_memory(std::span<const uint8_t> bytes, std::string name) {
    GgufFile file;
    file.bytes_ = bytes;
    file.name_ = std::move(name);
    file.parse();
    return file;
}

void GgufFile::parse() {
    Cursor in(bytes_, name_);
    if (bytes_.size() < 4) in.error("not a GGUF file: shorter than the 4-byte magic", 0);
    uint32_t magic = in.read<uint32_t>("magic");
    if (magic != kMagic) in.error("not a GGUF file: bad magic", 0);
    version_ = in.read<uint32_t>("version");
    if (version_ == 1)
        in.error("GGUF version 1 is not supported (re-convert the model with a current llama.cpp)",
                 4);
    if (version_ != 2 && version_ != 3) {
        if (__builtin_bswap32(version_) == 2 || __builtin_bswap32(version_) == 3) {
            in.error("big-endian GGUF files are not supported", 4);
        }
        in.error(cat("unsupported GGUF version ", version_), 4);
    }
    uint64_t tensor_count_at = in.offset();
    uint64_t tensor_count = in.read<uint64_t>("tensor count");
    uint64_t kv_count_at = in.offset();
    uint64_t kv_count = in.read<uint64_t>("metadata count");
    // Smallest possible entries: a key-value is a length, a type and one byte; a tensor info is
    // a name length, a dim count, a type and an offset.
    if (kv_count > in.remaining() / 13) {
        in.error(
            cat("metadata count ", kv_count, " cannot fit in a file of ", bytes_.size(), " bytes"),
            kv_count_at);
    }
    if (tensor_count > in.remaining() / 24) {
        in.error(cat("tensor count ", tensor_count, " cannot fit in a file of ", bytes_.size(),
                     " bytes"),
                 tensor_count_at);
    }

    metadata_.reserve(kv_count);
    for (uint64_t i = 0; i < kv_count; ++i) {
        uint64_t at = in.offset();
        std::string key = in.read_string(cat("key of metadata entry #", i));
        uint64_t type_at = in.offset();
        uint32_t raw_type = in.read<uint32_t>(key);
        if (!known_value_type(raw_type)) {
            in.error(cat("metadata '", key, "': unknown value type ", raw_type), type_at);
        }
        GgufValue value = read_value(in, static_cast<GgufValueType>(raw_type), key, 0);
        if (!metadata_index_.emplace(key, metadata_.size()).second) {
            in.error(cat("duplicate metadata key '", key, "'"), at);
        }
        metadata_.push_back({std::move(key), std::move(value)});
    }

    if (const GgufValue* align = find("general.alignment")) {
        auto a = align->as_int();
        if (!a || *a <= 0 || !std::has_single_bit(static_cast<uint64_t>(*a)) || *a > (1 << 20)) {
            in.error("general.alignment must be a power of two", 0);
        }
        alignment_ = static_cast<uint64_t>(*a);
    }

    tensors_.reserve(tensor_count);
    for (uint64_t i = 0; i < tensor_count; ++i) {
        GgufTensorInfo t;
        t.info_offset = in.offset();
        t.name = in.read_string(cat("name of tensor #", i));
        const std::string field = cat("tensor '", t.name, "'");
        uint64_t dims_at = in.offset();
        uint32_t n_dims = in.read<uint32_t>(field);
        if (n_dims == 0 || n_dims > kMaxDims) {
            in.error(cat(field, ": ", n_dims, " dimensions (1 to ", kMaxDims, " allowed)"),
                     dims_at);
        }
        t.n_elements = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            uint64_t dim_at = in.offset();
            uint64_t dim = in.read<uint64_t>(field);
            if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
                __builtin_mul_overflow(t.n_elements, dim, &t.n_elements) ||
                t.n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                in.error(cat(field, ": dimensions overflow"), dim_at);
            }
            t.dims.push_back(dim);
        }
        uint64_t type_at = in.offset();
        uint32_t raw_type = in.read<uint32_t>(field);
        auto traits = ggml_type_traits(raw_type);
        if (!traits) in.error(cat(field, ": unknown tensor type ", raw_type), type_at);
        t.type = static_cast<GgmlType>(raw_type);
        if (t.dims[0] % traits->block_size != 0) {
            in.error(cat(field, ": row of ", t.dims[0], " elements is not a whole number of ",
                         traits->name, " blocks of ", traits->block_size),
                     dims_at);
        }
        t.n_bytes = t.n_elements / traits->block_size * traits->block_bytes;
        uint64_t offset_at = in.offset();
        t.offset = in.read<uint64_t>(field);
        if (t.offset % alignment_ != 0) {
            in.error(cat(field, ": data offset ", t.offset, " is not aligned to ", alignment_),
                     offset_at);
        }
        if (!tensor_index_.emplace(t.name, tensors_.size()).second) {
            in.error(cat("duplicate tensor name '", t.name, "'"), t.info_offset);
        }
        tensors_.push_back(std::move(t));
    }

    // Tensor data starts at the next aligned offset after the directory.
    uint64_t end_of_infos = in.offset();
    data_offset_ = (end_of_infos + alignment_ - 1) / alignment_ * alignment_;
    uint64_t data_size = data_offset_ <= bytes_.size() ? bytes_.size() - data_offset_ : 0;
    if (!tensors_.empty() && data_offset_ > bytes_.size()) {
        in.error("truncated file: the tensor data section is missing", end_of_infos);
    }
    for (const auto& t : tensors_) {
        if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
            in.error(cat("tensor '", t.name, "': data [", data_offset_ + t.offset, ", +", t.n_bytes,
                         ") runs past the end of the file (", bytes_.size(), " bytes)"),
                     t.info_offset);
        }
    }
}

const GgufValue* GgufFile::find(std::string_view key) const {
    auto it = metadata_index_.find(std::string(key));
    return it == metadata_index_.end() ? nullptr : &metadata_[it->second].value;
}

namespace {

[[noreturn]] void wrong_type(const std::string& file, std::string_view key, const GgufValue& v,
                             std::string_view expected) {
    std::string_view actual = gguf_value_type_name(v.type());
    if (const GgufArray* a = v.as_array()) {
        fail(file, ": metadata '", key, "' is an array of ", gguf_value_type_name(a->element_type),
             ", expected ", expected);
    }
    fail(file, ": metadata '", key, "' has type ", actual, ", expected ", expected);
}

}  // namespace

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (const std::string* s = v->as_string()) return *s;
    wrong_type(name_, key, *v, "string");
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (auto i = v->as_int()) return i;
    wrong_type(name_, key, *v, "integer");
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (auto f = v->as_float()) return f;
    wrong_type(name_, key, *v, "number");
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (auto b = v->as_bool()) return b;
    wrong_type(name_, key, *v, "bool");
}

std::optional<std::vector<std::string>> GgufFile::get_string_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    const GgufArray* a = v->as_array();
    if (!a || a->element_type != GgufValueType::STRING)
        wrong_type(name_, key, *v, "array of string");
    std::vector<std::string> out;
    out.reserve(a->items.size());
    for (const auto& item : a->items) out.push_back(*item.as_string());
    return out;
}

std::optional<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    const GgufArray* a = v->as_array();
    if (!a || a->element_type == GgufValueType::STRING || a->element_type == GgufValueType::ARRAY ||
        a->element_type == GgufValueType::BOOL) {
        wrong_type(name_, key, *v, "array of numbers");
    }
    std::vector<float> out;
    out.reserve(a->items.size());
    for (const auto& item : a->items) out.push_back(static_cast<float>(*item.as_float()));
    return out;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    const GgufArray* a = v->as_array();
    if (!a || !(a->items.empty() || a->items.front().is_integer())) {
        wrong_type(name_, key, *v, "array of integers");
    }
    std::vector<int64_t> out;
    out.reserve(a->items.size());
    for (const auto& item : a->items) {
        auto i = item.as_int();
        if (!i) fail(name_, ": metadata '", key, "' holds an integer too large for int64");
        out.push_back(*i);
    }
    return out;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> GgufFile::tensor_data(const GgufTensorInfo& tensor) const {
    return bytes_.subspan(data_offset_ + tensor.offset, tensor.n_bytes);
}

// ---------------------------------------------------------------------------------------------
// GgufWriter

void GgufWriter::set(std::string key, GgufValue value) {
    for (auto& kv : metadata_) {
        if (kv.key == key) {
            kv.value = std::move(value);
            return;
        }
    }
    metadata_.push_back({std::move(key), std::move(value)});
}

void GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<uint64_t> dims,
                            std::vector<uint8_t> bytes) {
    if (dims.empty() || dims.size() > kMaxDims)
        fail("tensor '", name, "': 1 to 4 dimensions needed");
    uint64_t n = 1;
    for (uint64_t d : dims) n *= d;
    auto row = ggml_row_bytes(type, dims[0]);
    if (!row) fail("tensor '", name, "': row length ", dims[0], " is not a whole number of blocks");
    uint64_t expected = n / dims[0] * *row;
    if (dims[0] == 0) expected = 0;
    if (bytes.size() != expected) {
        fail("tensor '", name, "': ", bytes.size(), " bytes given, ", expected, " expected");
    }
    tensors_.push_back({std::move(name), type, std::move(dims), std::move(bytes)});
}

namespace {

class ByteSink {
  public:
    explicit ByteSink(std::ofstream& out) : out_(out) {}
    template <typename T>
    void put(T v) {
        out_.write(reinterpret_cast<const char*>(&v), sizeof v);
        pos_ += sizeof v;
    }
    void put_string(const std::string& s) {
        put<uint64_t>(s.size());
        out_.write(s.data(), static_cast<std::streamsize>(s.size()));
        pos_ += s.size();
    }
    void put_bytes(std::span<const uint8_t> b) {
        out_.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
        pos_ += b.size();
    }
    void pad_to(uint64_t alignment) {
        while (pos_ % alignment) put<uint8_t>(0);
    }
    void put_value(const GgufValue& v) {
        switch (v.type()) {
            case GgufValueType::UINT8:
                put<uint8_t>(static_cast<uint8_t>(*v.as_int()));
                break;
            case GgufValueType::INT8:
                put<int8_t>(static_cast<int8_t>(*v.as_int()));
                break;
            case GgufValueType::UINT16:
                put<uint16_t>(static_cast<uint16_t>(*v.as_int()));
                break;
            case GgufValueType::INT16:
                put<int16_t>(static_cast<int16_t>(*v.as_int()));
                break;
            case GgufValueType::UINT32:
                put<uint32_t>(static_cast<uint32_t>(*v.as_int()));
                break;
            case GgufValueType::INT32:
                put<int32_t>(static_cast<int32_t>(*v.as_int()));
                break;
            case GgufValueType::UINT64:
                put<uint64_t>(static_cast<uint64_t>(*v.as_int()));
                break;
            case GgufValueType::INT64:
                put<int64_t>(*v.as_int());
                break;
            case GgufValueType::FLOAT32:
                put<float>(static_cast<float>(*v.as_float()));
                break;
            case GgufValueType::FLOAT64:
                put<double>(*v.as_float());
                break;
            case GgufValueType::BOOL:
                put<uint8_t>(*v.as_bool() ? 1 : 0);
                break;
            case GgufValueType::STRING:
                put_string(*v.as_string());
                break;
            case GgufValueType::ARRAY: {
                const GgufArray& a = *v.as_array();
                put<uint32_t>(static_cast<uint32_t>(a.element_type));
                put<uint64_t>(a.items.size());
                for (const auto& item : a.items) put_value(item);
                break;
            }
        }
    }

  private:
    std::ofstream& out_;
    uint64_t pos_ = 0;
};

}  // namespace

void GgufWriter::write(const std::filesystem::path& path) const {
    uint64_t alignment = 32;
    for (const auto& kv : metadata_) {
        if (kv.key == "general.alignment")
            alignment = static_cast<uint64_t>(kv.value.as_int().value_or(32));
    }
    std::filesystem::path temp = path;
    temp += ".partial";
    {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        if (!out) fail(temp.string(), ": cannot create file");
        ByteSink sink(out);
        sink.put<uint32_t>(kMagic);
        sink.put<uint32_t>(3);
        sink.put<uint64_t>(tensors_.size());
        sink.put<uint64_t>(metadata_.size());
        for (const auto& kv : metadata_) {
            sink.put_string(kv.key);
            sink.put<uint32_t>(static_cast<uint32_t>(kv.value.type()));
            sink.put_value(kv.value);
        }
        uint64_t offset = 0;
        for (const auto& t : tensors_) {
            sink.put_string(t.name);
            sink.put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
            for (uint64_t d : t.dims) sink.put<uint64_t>(d);
            sink.put<uint32_t>(static_cast<uint32_t>(t.type));
            sink.put<uint64_t>(offset);
            offset += (t.bytes.size() + alignment - 1) / alignment * alignment;
        }
        sink.pad_to(alignment);
        for (const auto& t : tensors_) {
            sink.put_bytes(t.bytes);
            sink.pad_to(alignment);
        }
        out.flush();
        if (!out) fail(temp.string(), ": write failed");
    }
    std::error_code ec;
    std::filesystem::rename(temp, path, ec);
    if (ec) fail(path.string(), ": cannot rename into place: ", ec.message());
}

}  // namespace ponder
