// libFuzzer target: the Jinja interpreter parses and renders arbitrary templates against a fixed
// conversation; errors are ponder::Errors, runaway templates hit the limits.
#include <cstdint>
#include <string_view>

#include "engine/chat_template.h"
#include "engine/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view source(reinterpret_cast<const char*>(data), size);
    static const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(
        R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi <b>"},)"
        R"({"role":"assistant","content":"Hello"},{"role":"user","content":"2+2?"}])");
    try {
        auto tmpl = ponder::ChatTemplate::parse(source);
        ponder::ChatTemplateOptions options;
        options.bos_token = "<s>";
        options.eos_token = "</s>";
        options.limits.max_output_bytes = 1 << 20;
        options.limits.max_steps = 200000;
        (void)tmpl.render(messages, options);
    } catch (const ponder::Error&) {
    }
    return 0;
}
