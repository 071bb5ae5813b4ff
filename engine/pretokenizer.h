#pragma once
// Pre-tokenizers of byte-level BPE vocabularies: they cut text into words before BPE merges
// run, as llama.cpp does for each `tokenizer.ggml.pre` value. A pre-tokenizer is a list of
// regular expressions applied in turn; each one splits every piece so far into the parts it
// matches and the parts between them. Two common expressions (GPT-2's and Llama 3's) run as
// hand-written scanners, as in llama.cpp; the others run on PCRE2, over the same "collapsed"
// text llama.cpp matches \p{..} classes against (every non-ASCII code point replaced by a byte
// naming its category), so that both agree on every character.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ponder {

class PreTokenizer {
  public:
    // Applies `patterns` in order (llama.cpp's regex syntax: ECMAScript-like, with \p{L},
    // \p{N}, \p{P}, \p{S}, \p{M} and \p{Lu}.. classes). Throws ponder::Error when a pattern
    // does not compile.
    explicit PreTokenizer(const std::vector<std::string>& patterns);
    ~PreTokenizer();
    PreTokenizer(const PreTokenizer&);
    PreTokenizer& operator=(const PreTokenizer&);
    PreTokenizer(PreTokenizer&&) noexcept;
    PreTokenizer& operator=(PreTokenizer&&) noexcept;

    // Splits `text` into words, appended to `words` as UTF-8. Malformed UTF-8 bytes come out
    // as U+FFFD, as llama.cpp's pre-tokenizer turns them.
    void split(std::string_view text, std::vector<std::string>& words) const;

  private:
    struct Step;
    std::vector<std::shared_ptr<const Step>> steps_;  // immutable once built, so shared
};

// What llama.cpp derives from a `tokenizer.ggml.pre` value.
struct BpePreset {
    std::string name;                   // as given
    std::vector<std::string> patterns;  // for PreTokenizer
    bool ignore_merges = false;         // a word that is a whole token skips merging
    bool clean_spaces = true;           // detokenizer removes " ," and similar
    bool add_bos = false;               // BOS default when the file does not say
};

// Nullopt for a name llama.cpp does not know.
std::optional<BpePreset> bpe_preset(std::string_view pre_name);

// The pattern behind the Hugging Face `ByteLevel` pre-tokenizer (use_regex = true).
std::string_view gpt2_pattern();

}  // namespace ponder
