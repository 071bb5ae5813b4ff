// libFuzzer target: both tokenizers (SentencePiece and byte-level BPE) encode arbitrary bytes,
// decode arbitrary id sequences, and stream-decode without splitting UTF-8 or crashing.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"

namespace {

std::vector<ponder::Tokenizer>& tokenizers() {
    static std::vector<ponder::Tokenizer> all = [] {
        std::vector<ponder::Tokenizer> out;
        for (const char* name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf",
                                 "ggml-vocab-deepseek-coder.gguf"}) {
            try {
                out.push_back(ponder::Tokenizer::from_gguf(
                    ponder::GgufFile::open(std::string(PONDER_SHARED_DIR) + "/vocab/" + name)));
            } catch (const ponder::Error&) {
            }
        }
        return out;
    }();
    return all;
}

bool valid_utf8_prefix_free(const std::string& s) {
    // Every emitted piece must be whole UTF-8 characters (U+FFFD replaces broken ones).
    size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        i += n;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    for (const auto& tok : tokenizers()) {
        try {
            auto ids = tok.encode(text, true, size % 2 == 0);
            for (auto id : ids) {
                if (id < 0 || id >= tok.vocab_size()) std::abort();
            }
            (void)tok.decode(ids, true);
            // Arbitrary ids from the input bytes.
            std::vector<ponder::TokenId> random_ids;
            for (size_t i = 0; i + 1 < size; i += 2) {
                random_ids.push_back(
                    static_cast<ponder::TokenId>((data[i] | data[i + 1] << 8) % tok.vocab_size()));
            }
            ponder::StreamDecoder stream(tok);
            for (auto id : random_ids) {
                if (!valid_utf8_prefix_free(stream.push(id))) std::abort();
            }
            if (!valid_utf8_prefix_free(stream.finish())) std::abort();
        } catch (const ponder::Error&) {
        }
    }
    return 0;
}
