#include "engine/safetensors.h"

#include <nlohmann/json.hpp>

#include <cstring>

#include "engine/error.h"
#include "engine/mapped_file.h"

namespace ponder {

namespace {

struct DtypeInfo {
    std::string_view name;
    uint64_t bytes;
    std::optional<GgmlType> type;
};

constexpr DtypeInfo kDtypes[] = {
    {"F32", 4, GgmlType::F32}, {"F16", 2, GgmlType::F16},    {"BF16", 2, GgmlType::BF16},
    {"F64", 8, std::nullopt},  {"I64", 8, std::nullopt},     {"I32", 4, std::nullopt},
    {"I16", 2, std::nullopt},  {"I8", 1, std::nullopt},      {"U8", 1, std::nullopt},
    {"BOOL", 1, std::nullopt}, {"F8_E4M3", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt},
    {"U16", 2, std::nullopt},  {"U32", 4, std::nullopt},     {"U64", 8, std::nullopt},
};

// Largest header we accept: real headers are well under a few MiB.
constexpr uint64_t kMaxHeader = 100ull << 20;

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
    auto map = std::make_shared<const MappedFile>(path);
    SafetensorsFile f;
    f.map_ = map;
    f.name_ = path.string();
    f.parse(map->bytes());
    return f;
}

SafetensorsFile SafetensorsFile::from_memory(std::span<const uint8_t> bytes, std::string name) {
    SafetensorsFile f;
    f.name_ = std::move(name);
    f.parse(bytes);
    return f;
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

void SafetensorsFile::parse(std::span<const uint8_t> bytes) {
    if (bytes.size() < 8) fail(name_, ": not a safetensors file (", bytes.size(), " bytes)");
    uint64_t header_len;
    std::memcpy(&header_len, bytes.data(), 8);
    if (header_len > kMaxHeader || header_len > bytes.size() - 8)
        fail(name_, ": safetensors header length ", header_len, " exceeds the file (", bytes.size(),
             " bytes)");
    const auto* header_begin = reinterpret_cast<const char*>(bytes.data() + 8);
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(header_begin, header_begin + header_len);
    } catch (const nlohmann::json::exception& e) {
        fail(name_, ": malformed safetensors header: ", e.what());
    }
    if (!header.is_object()) fail(name_, ": safetensors header is not a JSON object");
    const uint64_t data_start = 8 + header_len;
    const uint64_t data_size = bytes.size() - data_start;

    for (const auto& [key, value] : header.items()) {
        if (key == "__metadata__") {
            if (value.is_object())
                for (const auto& [k, v] : value.items())
                    if (v.is_string()) metadata_[k] = v.get<std::string>();
            continue;
        }
        if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
            !value.contains("data_offsets") || !value["dtype"].is_string() ||
            !value["shape"].is_array() || !value["data_offsets"].is_array() ||
            value["data_offsets"].size() != 2)
            fail(name_, ": tensor ", key, " has a malformed header entry");
        SafetensorsTensor t;
        t.name = key;
        t.dtype = value["dtype"].get<std::string>();
        const DtypeInfo* info = nullptr;
        for (const auto& d : kDtypes)
            if (d.name == t.dtype) info = &d;
        if (!info) fail(name_, ": tensor ", key, " has unknown dtype ", t.dtype);
        t.type = info->type;
        uint64_t n = 1;
        for (const auto& dim : value["shape"]) {
            if (!dim.is_number_unsigned()) fail(name_, ": tensor ", key, " has a malformed shape");
            const uint64_t d = dim.get<uint64_t>();
            if (d != 0 && n > (UINT64_MAX / 8) / d)
                fail(name_, ": tensor ", key, " has an impossibly large shape");
            n *= d;
            t.shape.push_back(d);
        }
        const auto& offsets = value["data_offsets"];
        if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
            fail(name_, ": tensor ", key, " has malformed data_offsets");
        const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
        if (begin > end || end > data_size)
            fail(name_, ": tensor ", key, " data [", begin, ", ", end, ") lies outside the ",
                 data_size, " data bytes");
        if (end - begin != n * info->bytes)
            fail(name_, ": tensor ", key, " has ", end - begin, " bytes but its shape needs ",
                 n * info->bytes);
        t.data = bytes.subspan(data_start + begin, end - begin);
        index_[t.name] = tensors_.size();
        tensors_.push_back(std::move(t));
    }
}

}  // namespace ponder
