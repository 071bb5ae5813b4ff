#pragma once
// The generated code point table behind ponder::unicode::category (see tools/gen_unicode_data.py).
#include <cstdint>
#include <span>

#include "engine/unicode.h"

namespace ponder::unicode::data {

struct CategoryRange {
    uint32_t first;  // the range runs to the next entry's `first` (exclusive)
    Category category;
};

// Sorted by `first`, starting at 0, covering every code point up to U+10FFFF.
std::span<const CategoryRange> category_ranges();

}  // namespace ponder::unicode::data
