// libFuzzer target: the config readers (TOML subset and JSON) on arbitrary bytes.
#include <cstdint>
#include <string_view>

#include "cli/config.h"
#include "engine/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    for (auto parse : {&ponder::cli::parse_toml_config, &ponder::cli::parse_json_config}) {
        try {
            (void)parse(text, "fuzz.config");
        } catch (const ponder::Error&) {
        }
    }
    return 0;
}
