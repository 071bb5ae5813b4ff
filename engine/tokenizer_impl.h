#pragma once
// Internals of ponder::Tokenizer shared by its source files (GGUF and Hugging Face loading,
// the SentencePiece and BPE encoders, decoding). Not for use outside engine/tokenizer*.cpp.
#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/pretokenizer.h"
#include "engine/tokenizer.h"

namespace ponder {

// Token attributes as llama.cpp keeps them: the GGUF token type, plus what the loader adds
// (e.g. CONTROL for "<|im_end|>"-like tokens stored as normal ones) and how special-token
// matching treats surrounding white space.
enum TokenAttr : uint16_t {
    attr_unknown = 1 << 0,
    attr_unused = 1 << 1,
    attr_normal = 1 << 2,
    attr_control = 1 << 3,
    attr_user_defined = 1 << 4,
    attr_byte = 1 << 5,
    attr_lstrip = 1 << 7,  // a special token swallows the white space before it
    attr_rstrip = 1 << 8,  // ... and after it
};

uint16_t attr_of_kind(TokenKind kind);

// A string hash for the lookup tables below (FNV-1a, 64 bits, then mixed): token texts are
// short. hash_text(a, b) is the hash of a and b joined.
inline uint64_t hash_text(std::string_view a, std::string_view b = {}) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : a) h = (h ^ c) * 0x100000001b3ull;
    for (unsigned char c : b) h = (h ^ c) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

// Token texts in one buffer, with an open-addressing hash index (flat, so that building it
// for a 150k vocabulary and looking texts up stays in cache).
class Vocabulary {
  public:
    void reserve(size_t n_tokens, size_t n_bytes);
    // Adds the next id's text.
    void add(std::string_view text, std::string_view source);
    // Builds the index; call once after the last add(). Throws on a duplicate text (as
    // llama.cpp does), naming `source`.
    void index(std::string_view source);

    int32_t size() const { return int32_t(offsets_.size()) - 1; }
    std::string_view text(TokenId id) const {
        return {arena_.data() + offsets_[id], offsets_[id + 1] - offsets_[id]};
    }
    // Loads the index slot `text` with hash `h` starts at into the cache.
    void prefetch(uint64_t h) const {
        if (!slots_.empty()) __builtin_prefetch(&slots_[h & mask_]);
    }
    // The id of `text`, or -1.
    TokenId find(std::string_view text) const { return find(text, hash_text(text)); }
    TokenId find(std::string_view text, uint64_t h) const {
        if (slots_.empty()) return -1;
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            const uint64_t slot = slots_[i];
            if (slot == 0) return -1;
            const TokenId id = TokenId(uint32_t(slot)) - 1;
            if ((slot >> 32) == (h >> 32) && this->text(id) == text) return id;
        }
    }

  private:
    std::string arena_;
    std::vector<uint32_t> offsets_{0};
    std::vector<uint64_t> slots_;  // high 32 bits of the hash, id + 1; 0 when empty
    size_t mask_ = 0;
};

// BPE merges as a table from a pair of piece ids to the merge's rank and result. Pieces are
// vocabulary ids, or ids past the vocabulary for merge operands the vocabulary lacks.
class MergeTable {
  public:
    struct Merge {
        int32_t rank;
        int32_t result;
    };
    explicit MergeTable(const Vocabulary* vocab = nullptr) : vocab_(vocab) {}
    // Adds `merges` (left and right operand), ranked by their order; a pair's first merge
    // counts.
    void build(std::span<const std::pair<std::string_view, std::string_view>> merges);
    const Merge* find(int32_t left, int32_t right) const {
        if (left < 0 || right < 0 || slots_.empty()) return nullptr;
        const uint64_t k = key(left, right);
        for (size_t i = mix(k) & mask_;; i = (i + 1) & mask_) {
            const Slot& slot = slots_[i];
            if (slot.key == kEmpty) return nullptr;
            if (slot.key == k) return &slot.merge;
        }
    }
    // The piece id of `text`: a vocabulary id, an extra piece's id, or -1.
    int32_t piece(std::string_view text) const {
        if (TokenId id = vocab_->find(text); id >= 0) return id;
        if (extra_ids_.empty()) return -1;
        auto it = extra_ids_.find(text);
        return it == extra_ids_.end() ? -1 : it->second;
    }
    size_t size() const { return count_; }

  private:
    static constexpr uint64_t kEmpty = ~0ull;
    struct Slot {
        uint64_t key = kEmpty;
        Merge merge{};
    };
    static uint64_t key(int32_t left, int32_t right) {
        return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
    }
    static uint64_t mix(uint64_t k) {
        k ^= k >> 33;
        k *= 0xff51afd7ed558ccdull;
        return k ^ (k >> 33);
    }
    int32_t piece_or_add(std::string_view text, uint64_t h);
    void insert(int32_t left, int32_t right, Merge merge);

    const Vocabulary* vocab_;
    std::vector<Slot> slots_;
    size_t mask_ = 0;
    size_t count_ = 0;
    std::deque<std::string> extra_texts_;  // stable addresses for extra_ids_' keys
    std::unordered_map<std::string_view, int32_t> extra_ids_;
};

struct Tokenizer::Impl {
    std::string source;      // file name, for messages
    std::string model_type;  // "llama" or "gpt2"
    std::string pre_type;    // the tokenizer.ggml.pre value in effect

    // How text becomes tokens.
    enum class Algorithm {
        spm,        // SentencePiece: merge adjacent pieces by vocabulary score
        bpe_bytes,  // byte-level BPE: pre-tokenizer, GPT-2 byte alphabet, merge ranks
        bpe_text,   // BPE by merge ranks on the text itself (Hugging Face SentencePiece-like)
    } algorithm = Algorithm::spm;
    bool sentencepiece_text = true;  // spaces as U+2581, byte tokens <0xNN> (model "llama")

    Vocabulary vocab;
    std::vector<float> scores;
    std::vector<uint16_t> attrs;
    MergeTable merges{&vocab};
    std::optional<PreTokenizer> pre_tokenizer;

    bool add_space_prefix = false;
    bool add_bos = false;
    bool add_eos = false;
    bool ignore_merges = false;
    bool clean_spaces = false;
    bool metaspace_split = false;  // bpe_text: a word starts at every U+2581
    bool fuse_unknown = false;     // bpe_text: consecutive unknown characters give one <unk>

    TokenId bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, sep = -1, pad = -1, mask = -1;
    TokenId fim_pre = -1, fim_suf = -1, fim_mid = -1, fim_pad = -1, fim_rep = -1, fim_sep = -1;

    std::vector<TokenId> end_of_generation;  // sorted
    std::vector<TokenId> special_tokens;     // matched in raw text, longest first
    // Per byte: its <0xNN> token (SentencePiece) or its alphabet character's token (byte-level
    // BPE); -1 when absent.
    std::array<TokenId, 256> byte_tokens{};

    // After the vocabulary, types, flags and special ids are set: what llama.cpp derives at
    // load time (end-of-generation set, control-looking tokens, special-token order, ...).
    void finish_loading();

    bool valid(TokenId id) const { return id >= 0 && id < vocab.size(); }
    void check(TokenId id) const;

    std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const;
    void encode_spm(std::string_view text, bool prefix_space, std::vector<TokenId>& out) const;
    void encode_bpe_bytes(std::string_view text, std::vector<TokenId>& out) const;
    void encode_bpe_text(std::string_view text, bool prefix_space, std::vector<TokenId>& out) const;

    void append_piece(TokenId id, bool render_special, std::string& out) const;
    std::string decode(std::span<const TokenId> ids, bool render_special) const;
};

// The detokenizer's clean-up of spaces before punctuation and in contractions (llama.cpp's
// clean_spaces): for each byte of `text`, whether it survives.
std::vector<bool> clean_spaces_keep(std::string_view text);
std::string apply_clean_spaces(std::string_view text);

}  // namespace ponder
