// The model linked into the binary by cli/bundled_model.S (when the build found one).
#include "cli/model_choice.h"

#ifdef PONDER_HAVE_BUNDLED_MODEL
extern "C" const uint8_t ponder_bundled_model_start[];
extern "C" const uint8_t ponder_bundled_model_end[];
#endif

namespace ponder::cli {

std::span<const uint8_t> bundled_model_bytes() {
#ifdef PONDER_HAVE_BUNDLED_MODEL
    return {ponder_bundled_model_start,
            static_cast<size_t>(ponder_bundled_model_end - ponder_bundled_model_start)};
#else
    return {};
#endif
}

}  // namespace ponder::cli
