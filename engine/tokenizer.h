#pragma once
// Tokenizers built from a model's own vocabulary: SentencePiece-style (GGUF
// `tokenizer.ggml.model = llama`, with byte fallback) and GPT-2-style byte-level BPE (`gpt2`,
// with the pre-tokenizer that `tokenizer.ggml.pre` names). They tokenize and detokenize exactly
// as llama.cpp does for the same file.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ponder {

class GgufFile;

using TokenId = int32_t;

// GGUF `tokenizer.ggml.token_type` values (`undefined` for any other value).
enum class TokenKind : uint8_t {
    undefined = 0,
    normal = 1,
    unknown = 2,
    control = 3,
    user_defined = 4,
    unused = 5,
    byte = 6,
};

class Tokenizer {
  public:
    // Reads the vocabulary from GGUF metadata (works on vocab-only files). Throws ponder::Error
    // naming the file and key on missing or malformed metadata, or an unsupported
    // tokenizer.ggml.model / tokenizer.ggml.pre.
    static Tokenizer from_gguf(const GgufFile& file);
    // Reads a Hugging Face tokenizer.json (BPE, byte-level or SentencePiece-like), plus the
    // tokenizer_config.json beside it when present (BOS/EOS flags and tokens).
    static Tokenizer from_hf(const std::filesystem::path& tokenizer_json);
    // A GGUF file, a tokenizer.json, or a directory holding one. Throws ponder::Error naming
    // the path when it is none of these.
    static Tokenizer from_path(const std::filesystem::path& model);

    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

    // Text to ids. `add_special` adds BOS/EOS as the model's flags say; `parse_special`
    // recognises the text of control/user-defined tokens (e.g. "<|im_start|>") as those tokens.
    std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const;

    // The bytes a token stands for (possibly part of a UTF-8 character). Control tokens give
    // their text only when `render_special`.
    std::string piece(TokenId id, bool render_special) const;
    // A whole sequence, as llama.cpp's detokenizer joins it (SentencePiece drops the space it
    // put before the first word).
    std::string decode(std::span<const TokenId> ids, bool render_special) const;

    int32_t vocab_size() const;
    std::string_view token_text(TokenId id) const;  // the vocabulary entry as stored
    TokenKind kind(TokenId id) const;
    std::optional<TokenId> find(std::string_view token_text) const;

    std::optional<TokenId> bos() const;
    std::optional<TokenId> eos() const;
    std::optional<TokenId> eot() const;  // end of turn, e.g. <|im_end|> or <|eot_id|>
    std::optional<TokenId> unk() const;
    bool adds_bos() const;
    bool adds_eos() const;
    // SentencePiece: a space is put before the text (and decode() drops it again).
    bool adds_space_prefix() const;
    // decode() removes spaces before punctuation and in contractions (" ," -> ",", " 's" ->
    // "'s"), as llama.cpp's detokenizer does for GPT-2-style vocabularies.
    bool cleans_spaces() const;
    // True for every token that ends a turn or the text (EOS, EOT, <|im_end|>, <|eot_id|>, ...).
    bool is_end_of_generation(TokenId id) const;
    std::span<const TokenId> end_of_generation_tokens() const;

    std::string_view model_type() const;  // "llama" or "gpt2"
    std::string_view pre_type() const;    // e.g. "default", "llama-bpe", "qwen2", "smollm"

  private:
    struct Impl;
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    static Tokenizer load_hf(const std::filesystem::path& tokenizer_json);
    std::unique_ptr<Impl> impl_;
};

// Turns generated ids into text as they arrive, never splitting a UTF-8 character between
// two pieces of output. For valid UTF-8 the concatenated output equals decode() of all ids;
// bytes that can never form a character come out as U+FFFD. Where decode() cleans spaces, a
// space is held back until the next few characters show whether it stays.
class StreamDecoder {
  public:
    explicit StreamDecoder(const Tokenizer& tokenizer, bool render_special = false);
    // Complete text made available by this token (may be empty while a character is pending).
    std::string push(TokenId id);
    // Whatever is still pending, with incomplete characters replaced by U+FFFD. The decoder
    // then starts afresh.
    std::string finish();

  private:
    std::string drain(bool at_end);

    const Tokenizer* tokenizer_;
    bool render_special_;
    bool first_ = true;
    std::string pending_;     // text whose space clean-up is not decided yet (with some context)
    size_t decided_ = 0;      // bytes at the start of pending_ already passed on
    std::string unfinished_;  // decided bytes that may still be the start of a character
};

}  // namespace ponder
