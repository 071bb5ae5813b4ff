// libFuzzer target: the tool-call parser (every template format) and the streaming filter that
// holds call markup back from the screen, on arbitrary model output.
#include <cstdint>
#include <string>
#include <string_view>

#include "reason/tool_calls.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)ponder::parse_tool_calls(text);
    const std::string known[] = {"calculator", "read_file"};
    (void)ponder::parse_tool_calls(text, known);

    // Streamed in uneven pieces, the filter shows and holds exactly the text it was given.
    ponder::ToolCallFilter filter;
    std::string shown;
    for (size_t at = 0, step = 1; at < text.size(); at += step, step = step % 7 + 1) {
        shown += filter.push(text.substr(at, step));
    }
    shown += filter.finish();
    if (shown != text) __builtin_trap();
    return 0;
}
