// libFuzzer target: the GGUF reader on arbitrary bytes must give a ponder::Error or a file whose
// tensors all lie inside it; never a crash, a hang or a huge allocation.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "engine/error.h"
#include "engine/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        auto file =
            ponder::GgufFile::from_memory(std::span<const uint8_t>(data, size), "fuzz.gguf");
        for (const auto& t : file.tensors()) {
            if (file.data_offset() + t.offset + t.n_bytes > size) std::abort();
            (void)file.tensor_data(t);
        }
        for (const auto& kv : file.metadata()) (void)kv.value.to_display(64);
    } catch (const ponder::Error&) {
    }
    return 0;
}
