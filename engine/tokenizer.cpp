// Vocabulary loading from GGUF, what llama.cpp derives at load time (special and
// end-of-generation tokens), special-token splitting, encode dispatch, pieces and decoding.
#include <algorithm>
#include <cstring>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/tokenizer_impl.h"
#include "engine/unicode.h"

namespace ponder {

namespace {

bool is_ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

std::string lowercase_ascii(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    }
    return out;
}

// Texts by which llama.cpp recognises tokens its GGUF metadata may not name.
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|eot_id|>",         "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>",    "<EOT>",      "_<EOT>",  "[EOT]",         "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
};
constexpr std::string_view kEndOfGenerationTexts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
};
constexpr std::string_view kFimPreTexts[] = {"<|fim_prefix|>",  "<fim-prefix>", "<fim_prefix>",
                                             "<｜fim▁begin｜>", "<PRE>",        "▁<PRE>",
                                             "<|code_prefix|>", "<|prefix|>"};
constexpr std::string_view kFimSufTexts[] = {"<|fim_suffix|>",  "<fim-suffix>", "<fim_suffix>",
                                             "<｜fim▁hole｜>",  "<SUF>",        "▁<SUF>",
                                             "<|code_suffix|>", "<|suffix|>"};
constexpr std::string_view kFimMidTexts[] = {"<|fim_middle|>",  "<fim-middle>", "<fim_middle>",
                                             "<｜fim▁end｜>",   "<MID>",        "▁<MID>",
                                             "<|code_middle|>", "<|middle|>"};
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
                                             "[PAD]"};
constexpr std::string_view kFimRepTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                             "<REPO>", "<reponame>"};
constexpr std::string_view kFimSepTexts[] = {"<|file_sep|>"};

uint8_t hex_digit(char c) {
    if (c >= '0' && c <= '9') return uint8_t(c - '0');
    if (c >= 'A' && c <= 'F') return uint8_t(c - 'A' + 10);
    if (c >= 'a' && c <= 'f') return uint8_t(c - 'a' + 10);
    return 0;
}

// The byte of a "<0xNN>" token.
char byte_of_token(std::string_view text) {
    if (text.size() < 5) return 0;
    return char((hex_digit(text[3]) << 4) | hex_digit(text[4]));
}

}  // namespace

uint16_t attr_of_kind(TokenKind kind) {
    switch (kind) {
        case TokenKind::normal:
            return attr_normal;
        case TokenKind::unknown:
            return attr_unknown;
        case TokenKind::control:
            return attr_control;
        case TokenKind::user_defined:
            return attr_user_defined;
        case TokenKind::unused:
            return attr_unused;
        case TokenKind::byte:
            return attr_byte;
        default:
            return 0;
    }
}

// ---------------------------------------------------------------------------------------------
// Vocabulary and merges

namespace {
// A power-of-two table size with at most half the slots used.
size_t table_size(size_t n) {
    size_t size = 16;
    while (size < 2 * n) size *= 2;
    return size;
}
}  // namespace

void Vocabulary::reserve(size_t n_tokens, size_t n_bytes) {
    offsets_.reserve(n_tokens + 1);
    arena_.reserve(n_bytes);
}

void Vocabulary::add(std::string_view text, std::string_view source) {
    if (arena_.size() + text.size() > UINT32_MAX) fail(source, ": vocabulary text too large");
    arena_.append(text);
    offsets_.push_back(uint32_t(arena_.size()));
}

void Vocabulary::index(std::string_view source) {
    slots_.assign(table_size(size_t(size())), 0);
    mask_ = slots_.size() - 1;
    // Hashes first (a sequential pass), so that each insert's slot can be fetched ahead.
    std::vector<uint64_t> hashes(static_cast<size_t>(size()));
    for (TokenId id = 0; id < size(); ++id) hashes[size_t(id)] = hash_text(text(id));
    constexpr TokenId kAhead = 16;
    for (TokenId id = 0; id < size(); ++id) {
        if (id + kAhead < size()) prefetch(hashes[size_t(id + kAhead)]);
        const std::string_view t = text(id);
        const uint64_t h = hashes[size_t(id)];
        size_t i = h & mask_;
        for (; slots_[i] != 0; i = (i + 1) & mask_) {
            const TokenId other = TokenId(uint32_t(slots_[i])) - 1;
            if ((slots_[i] >> 32) == (h >> 32) && text(other) == t) {
                fail(source, ": duplicate token in vocabulary: '", t, "' has ids ", other, " and ",
                     id);
            }
        }
        slots_[i] = ((h >> 32) << 32) | uint64_t(uint32_t(id) + 1);
    }
}

int32_t MergeTable::piece_or_add(std::string_view text, uint64_t h) {
    if (TokenId id = vocab_->find(text, h); id >= 0) return id;
    if (auto it = extra_ids_.find(text); it != extra_ids_.end()) return it->second;
    const int32_t id = vocab_->size() + int32_t(extra_texts_.size());
    const std::string& stored = extra_texts_.emplace_back(text);
    extra_ids_.emplace(stored, id);
    return id;
}

void MergeTable::insert(int32_t left, int32_t right, Merge merge) {
    const uint64_t k = key(left, right);
    size_t i = mix(k) & mask_;
    for (; slots_[i].key != kEmpty; i = (i + 1) & mask_) {
        if (slots_[i].key == k) return;  // the first (lowest-ranked) merge of a pair counts
    }
    slots_[i] = Slot{k, merge};
    ++count_;
}

void MergeTable::build(std::span<const std::pair<std::string_view, std::string_view>> merges) {
    slots_.assign(table_size(merges.size()), Slot{});
    mask_ = slots_.size() - 1;
    count_ = 0;
    // Each merge takes three vocabulary lookups and one table insert, all likely cache misses
    // in a large vocabulary. A three-stage pipeline hides them: hash and fetch the index slots,
    // kStage merges later resolve the pieces and fetch the merge slot, kStage merges later
    // insert.
    constexpr size_t kStage = 8;
    struct Pending {
        uint64_t left_hash, right_hash, joined_hash;
        int32_t left, right, result;
    };
    std::array<Pending, 2 * kStage> ring{};
    std::string joined;
    const size_t n = merges.size();
    for (size_t i = 0; i < n + 2 * kStage; ++i) {
        if (i >= 2 * kStage) {
            const size_t m = i - 2 * kStage;
            const Pending& p = ring[m % ring.size()];
            insert(p.left, p.right, Merge{int32_t(m), p.result});
        }
        if (i >= kStage && i - kStage < n) {
            const size_t m = i - kStage;
            const auto& [l, r] = merges[m];
            Pending& p = ring[m % ring.size()];
            p.left = piece_or_add(l, p.left_hash);
            p.right = piece_or_add(r, p.right_hash);
            joined.assign(l).append(r);
            p.result = piece_or_add(joined, p.joined_hash);
            __builtin_prefetch(&slots_[mix(key(p.left, p.right)) & mask_]);
        }
        if (i < n) {
            const auto& [l, r] = merges[i];
            Pending& p = ring[i % ring.size()];  // merge i - 2 * kStage is done with it
            p.left_hash = hash_text(l);
            p.right_hash = hash_text(r);
            p.joined_hash = hash_text(l, r);
            vocab_->prefetch(p.left_hash);
            vocab_->prefetch(p.right_hash);
            vocab_->prefetch(p.joined_hash);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Loading from GGUF

Tokenizer Tokenizer::from_gguf(const GgufFile& file) {
    auto impl = std::make_unique<Impl>();
    Impl& t = *impl;
    t.source = file.name();
    const std::string& src = t.source;

    auto model = file.get_string("tokenizer.ggml.model");
    if (!model)
        fail(src, ": metadata 'tokenizer.ggml.model' is missing (no tokenizer in this file)");
    t.model_type = *model;
    const std::string pre = file.get_string("tokenizer.ggml.pre").value_or("");

    std::optional<BpePreset> preset;
    if (t.model_type == "llama") {
        t.algorithm = Impl::Algorithm::spm;
        t.sentencepiece_text = true;
        t.pre_type = "default";  // llama.cpp ignores tokenizer.ggml.pre for SentencePiece
        t.bos = 1;
        t.eos = 2;
        t.unk = 0;
        t.add_space_prefix = true;
        t.add_bos = true;
    } else if (t.model_type == "gpt2") {
        t.algorithm = Impl::Algorithm::bpe_bytes;
        t.sentencepiece_text = false;
        // llama.cpp uses "default" when the key is missing (and warns that quality suffers).
        t.pre_type = pre.empty() ? "default" : pre;
        preset = bpe_preset(t.pre_type);
        if (!preset) {
            fail(src, ": unsupported tokenizer.ggml.pre '", pre,
                 "' (this pre-tokenizer is unknown to ponder)");
        }
        t.pre_tokenizer.emplace(preset->patterns);
        t.ignore_merges = preset->ignore_merges;
        t.clean_spaces = preset->clean_spaces;
        t.add_bos = preset->add_bos;
        t.bos = 11;  // llama.cpp's defaults for BPE vocabularies
        t.eos = 11;
    } else {
        fail(src, ": unsupported tokenizer.ggml.model '", t.model_type,
             "' (supported: llama, gpt2)");
    }
    if (auto v = file.get_bool("tokenizer.ggml.add_space_prefix")) t.add_space_prefix = *v;

    // Token texts, used in place from the parsed metadata.
    const GgufValue* tokens_value = file.find("tokenizer.ggml.tokens");
    if (!tokens_value) fail(src, ": metadata 'tokenizer.ggml.tokens' is missing");
    const GgufArray* tokens = tokens_value->as_array();
    if (!tokens || tokens->element_type != GgufValueType::STRING) {
        fail(src, ": metadata 'tokenizer.ggml.tokens' is not an array of strings");
    }
    const size_t n = tokens->items.size();
    if (n == 0) fail(src, ": metadata 'tokenizer.ggml.tokens' is empty");
    if (n > size_t(INT32_MAX / 2)) fail(src, ": vocabulary of ", n, " tokens is too large");
    size_t total_bytes = 0;
    for (const auto& item : tokens->items) total_bytes += item.as_string()->size();
    t.vocab.reserve(n, total_bytes);
    for (size_t i = 0; i < n; ++i) {
        const std::string& text = *tokens->items[i].as_string();
        if (text.empty()) {
            t.vocab.add("[EMPTY_" + std::to_string(i) + "]", src);
        } else {
            t.vocab.add(text, src);
        }
    }
    t.vocab.index(src);

    if (auto scores = file.get_float_array("tokenizer.ggml.scores")) {
        if (scores->size() < n) {
            fail(src, ": metadata 'tokenizer.ggml.scores' has ", scores->size(), " entries for ", n,
                 " tokens");
        }
        scores->resize(n);
        t.scores = std::move(*scores);
    } else {
        t.scores.assign(n, 0.0f);
    }
    t.attrs.assign(n, attr_normal);
    if (auto types = file.get_int_array("tokenizer.ggml.token_type")) {
        if (types->size() < n) {
            fail(src, ": metadata 'tokenizer.ggml.token_type' has ", types->size(), " entries for ",
                 n, " tokens");
        }
        for (size_t i = 0; i < n; ++i) {
            const int64_t type = (*types)[i];
            t.attrs[i] = type >= 1 && type <= 6 ? attr_of_kind(TokenKind(type)) : 0;
        }
    }

    if (t.algorithm == Impl::Algorithm::bpe_bytes) {
        const GgufValue* merges_value = file.find("tokenizer.ggml.merges");
        if (!merges_value)
            fail(src, ": metadata 'tokenizer.ggml.merges' is missing (needed for gpt2)");
        const GgufArray* merges = merges_value->as_array();
        if (!merges || merges->element_type != GgufValueType::STRING) {
            fail(src, ": metadata 'tokenizer.ggml.merges' is not an array of strings");
        }
        std::vector<std::pair<std::string_view, std::string_view>> operands;
        operands.reserve(merges->items.size());
        for (const GgufValue& item : merges->items) {
            std::string_view merge = *item.as_string();
            // The operands are separated by the first space after the first byte; llama.cpp
            // reads a merge without one as ("", "").
            const size_t space = merge.find(' ', 1);
            if (space == std::string_view::npos) {
                operands.emplace_back();
            } else {
                operands.emplace_back(merge.substr(0, space), merge.substr(space + 1));
            }
        }
        t.merges.build(operands);
    }

    // Special token ids: a default out of range is disabled; a bad value keeps the default.
    const std::pair<const char*, TokenId*> special_keys[] = {
        {"tokenizer.ggml.bos_token_id", &t.bos},
        {"tokenizer.ggml.eos_token_id", &t.eos},
        {"tokenizer.ggml.eot_token_id", &t.eot},
        {"tokenizer.ggml.eom_token_id", &t.eom},
        {"tokenizer.ggml.unknown_token_id", &t.unk},
        {"tokenizer.ggml.seperator_token_id", &t.sep},
        {"tokenizer.ggml.padding_token_id", &t.pad},
        {"tokenizer.ggml.mask_token_id", &t.mask},
        {"tokenizer.ggml.fim_pre_token_id", &t.fim_pre},
        {"tokenizer.ggml.fim_suf_token_id", &t.fim_suf},
        {"tokenizer.ggml.fim_mid_token_id", &t.fim_mid},
        {"tokenizer.ggml.fim_pad_token_id", &t.fim_pad},
        {"tokenizer.ggml.fim_rep_token_id", &t.fim_rep},
        {"tokenizer.ggml.fim_sep_token_id", &t.fim_sep},
        {"tokenizer.ggml.prefix_token_id", &t.fim_pre},
        {"tokenizer.ggml.suffix_token_id", &t.fim_suf},
        {"tokenizer.ggml.middle_token_id", &t.fim_mid},
    };
    for (const auto& [key, id] : special_keys) {
        if (!t.valid(*id)) *id = -1;
        const GgufValue* value = file.find(key);
        if (!value) continue;
        auto v = value->as_int();
        if (v && *v >= 0 && *v < t.vocab.size()) *id = TokenId(*v);
    }
    if (auto v = file.get_bool("tokenizer.ggml.add_bos_token")) t.add_bos = *v;
    if (auto v = file.get_bool("tokenizer.ggml.add_eos_token")) t.add_eos = *v;
    if (t.add_bos && t.bos < 0) {
        fail(src,
             ": tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is not set");
    }
    if (t.add_eos && t.eos < 0) {
        fail(src,
             ": tokenizer.ggml.add_eos_token is true, but tokenizer.ggml.eos_token_id is not set");
    }

    t.finish_loading();

    // llama.cpp strips white space around special tokens only for Phi-3 and a few encoders.
    const std::string name = lowercase_ascii(file.get_string("general.name").value_or(""));
    const std::string arch = file.get_string("general.architecture").value_or("");
    auto set_attr = [&](std::string_view text, uint16_t attr, bool on) {
        if (TokenId id = t.vocab.find(text); id >= 0) {
            t.attrs[id] = on ? uint16_t(t.attrs[id] | attr) : uint16_t(t.attrs[id] & ~attr);
        }
    };
    if (pre.find("jina-v2-de") != std::string::npos ||
        pre.find("jina-v2-es") != std::string::npos ||
        pre.find("jina-v2-code") != std::string::npos ||
        arch.find("nomic-bert-moe") != std::string::npos ||
        arch.find("jina-bert-v3") != std::string::npos) {
        set_attr("<mask>", attr_lstrip, true);
    } else if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
        for (TokenId id : t.special_tokens) t.attrs[id] |= attr_rstrip;
        set_attr("</s>", attr_rstrip, true);
        for (std::string_view text : {"<unk>", "<s>", "<|endoftext|>"})
            set_attr(text, attr_rstrip, false);
    } else if (name.find("modern-bert") != std::string::npos) {
        set_attr("[MASK]", attr_lstrip, true);
    }
    return Tokenizer(std::move(impl));
}

void Tokenizer::Impl::finish_loading() {
    auto find_any = [&](std::span<const std::string_view> texts) {
        // The lowest id among the matches (llama.cpp takes whichever its hash map yields first).
        TokenId best = -1;
        for (std::string_view text : texts) {
            TokenId id = vocab.find(text);
            if (id >= 0 && (best < 0 || id < best)) best = id;
        }
        return best;
    };
    auto make_control = [&](TokenId id) {
        if (id >= 0) attrs[id] |= attr_control;
    };
    auto detect = [&](TokenId& id, std::span<const std::string_view> texts) {
        if (id >= 0) return;
        id = find_any(texts);
        make_control(id);
    };
    detect(eot, kEndOfTurnTexts);
    constexpr std::string_view eom_texts[] = {"<|eom_id|>"};
    detect(eom, eom_texts);
    detect(fim_pre, kFimPreTexts);
    detect(fim_suf, kFimSufTexts);
    detect(fim_mid, kFimMidTexts);
    detect(fim_pad, kFimPadTexts);
    detect(fim_rep, kFimRepTexts);
    detect(fim_sep, kFimSepTexts);

    std::vector<TokenId> eog;
    for (TokenId id : {fim_pad, fim_rep, fim_sep}) {
        if (id >= 0) eog.push_back(id);
    }
    for (std::string_view text : kEndOfGenerationTexts) {
        if (TokenId id = vocab.find(text); id >= 0) {
            eog.push_back(id);
            make_control(id);
        }
    }
    // gpt-oss renders these structural tokens always (llama.cpp's override).
    for (std::string_view text : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
        if (TokenId id = vocab.find(text); id >= 0) attrs[id] = attr_user_defined;
    }
    for (TokenId id : {eos, eot, eom}) {
        if (id >= 0) eog.push_back(id);
    }
    std::sort(eog.begin(), eog.end());
    eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
    auto has = [&](std::string_view text) {
        TokenId id = vocab.find(text);
        return id >= 0 && std::binary_search(eog.begin(), eog.end(), id);
    };
    auto drop = [&](std::string_view text, uint16_t new_attr) {
        TokenId id = vocab.find(text);
        eog.erase(std::remove(eog.begin(), eog.end(), id), eog.end());
        attrs[id] = new_attr;
    };
    // Harmony-style vocabularies end a message with <|end|> but keep generating after it.
    if (has("<|end|>") && ((has("<|return|>") && has("<|call|>")) ||
                           ((has("<|call|>") || has("<|calls|>")) && has("<|flush|>")))) {
        drop("<|end|>", attr_user_defined);
    }
    if (has("<|tool_response>") && has("</s>")) drop("</s>", attr_normal);
    end_of_generation = std::move(eog);

    // Special tokens are matched in raw text longest first (ties by id, for a stable order).
    special_tokens.clear();
    for (TokenId id = 0; id < vocab.size(); ++id) {
        if (attrs[id] & (attr_control | attr_user_defined | attr_unknown))
            special_tokens.push_back(id);
    }
    std::stable_sort(special_tokens.begin(), special_tokens.end(), [&](TokenId a, TokenId b) {
        return vocab.text(a).size() > vocab.text(b).size();
    });

    byte_tokens.fill(-1);
    for (int b = 0; b < 256; ++b) {
        if (sentencepiece_text) {
            static constexpr char hex[] = "0123456789ABCDEF";
            const char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
            TokenId id = vocab.find(std::string_view(name, 6));
            if (id < 0) id = vocab.find(std::string_view(reinterpret_cast<const char*>(&b), 1));
            byte_tokens[b] = id;
        } else {
            byte_tokens[b] = vocab.find(unicode::byte_to_char(uint8_t(b)));
        }
    }
}

void Tokenizer::Impl::check(TokenId id) const {
    if (!valid(id)) fail("token id ", id, " is out of range (vocabulary of ", vocab.size(), ")");
}

// ---------------------------------------------------------------------------------------------
// Encoding

std::vector<TokenId> Tokenizer::Impl::encode(std::string_view text, bool add_special,
                                             bool parse_special) const {
    // Split the text around special tokens, as llama.cpp's tokenizer_st_partition does: each
    // special token in turn (longest first) is cut out of every raw fragment left.
    struct Fragment {
        size_t offset, length;
        TokenId token;  // -1 for raw text
    };
    std::vector<Fragment> fragments, next;
    if (!text.empty()) fragments.push_back({0, text.size(), -1});
    // Which byte pairs occur in the text: most special tokens (e.g. thousands of "<unused..>")
    // can be skipped without searching for them.
    std::vector<bool> pairs(text.size() > 1024 ? 65536 : 0);
    for (size_t i = 0; !pairs.empty() && i + 1 < text.size(); ++i) {
        pairs[size_t(uint8_t(text[i])) << 8 | uint8_t(text[i + 1])] = true;
    }
    for (TokenId special : special_tokens) {
        const uint16_t attr = attrs[special];
        if (!parse_special && (attr & (attr_control | attr_unknown))) continue;
        const std::string_view token_text = vocab.text(special);
        if (!pairs.empty() && token_text.size() > 1 &&
            !pairs[size_t(uint8_t(token_text[0])) << 8 | uint8_t(token_text[1])]) {
            continue;
        }
        bool split = false;
        next.clear();
        for (const Fragment& f : fragments) {
            if (f.token >= 0) {
                next.push_back(f);
                continue;
            }
            size_t base = f.offset, length = f.length;
            while (length > 0) {
                const size_t match = text.substr(0, base + length).find(token_text, base);
                if (match == std::string_view::npos) {
                    next.push_back({base, length, -1});
                    break;
                }
                split = true;
                size_t left = match - base;
                if (attr & attr_lstrip) {
                    while (left > 0 && is_ascii_space(text[base + left - 1])) --left;
                }
                if (left > 0) next.push_back({base, left, -1});
                next.push_back({0, 0, special});
                size_t right = match + token_text.size();
                size_t right_length = base + length - right;
                if (attr & attr_rstrip) {
                    while (right_length > 0 && is_ascii_space(text[right])) {
                        ++right;
                        --right_length;
                    }
                }
                base = right;
                length = right_length;
            }
        }
        if (split) fragments.swap(next);
    }

    std::vector<TokenId> out;
    out.reserve(text.size() / 3 + 4);
    if (add_special && add_bos) out.push_back(bos);
    bool after_special = true;  // SentencePiece puts a space before text that starts a segment
    for (const Fragment& f : fragments) {
        if (f.token >= 0) {
            out.push_back(f.token);
            after_special = true;
            continue;
        }
        const std::string_view raw = text.substr(f.offset, f.length);
        switch (algorithm) {
            case Algorithm::spm:
                encode_spm(raw, add_space_prefix && after_special, out);
                break;
            case Algorithm::bpe_bytes:
                encode_bpe_bytes(raw, out);
                break;
            case Algorithm::bpe_text:
                encode_bpe_text(raw, add_space_prefix && after_special, out);
                break;
        }
        after_special = false;
    }
    if (add_special && add_eos) out.push_back(eos);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Pieces and decoding

void Tokenizer::Impl::append_piece(TokenId id, bool render_special, std::string& out) const {
    const uint16_t attr = attrs[id];
    if (!render_special && (attr & (attr_unknown | attr_control))) return;
    const std::string_view text = vocab.text(id);
    if (attr & (attr_unknown | attr_control | attr_user_defined)) {
        out.append(text);
    } else if (attr & attr_normal) {
        if (sentencepiece_text) {
            // U+2581 stands for a space.
            for (size_t i = 0; i < text.size();) {
                if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
                    out += ' ';
                    i += 3;
                } else {
                    out += text[i++];
                }
            }
        } else {
            for (size_t offset = 0; offset < text.size();) {
                const char32_t cpt = unicode::decode_one(text, offset);
                if (auto byte = unicode::char_to_byte(cpt)) {
                    out += char(*byte);
                } else {
                    // What llama.cpp writes for a character outside the byte alphabet.
                    static constexpr char hex[] = "0123456789abcdef";
                    out += "[UNK_BYTE_0x";
                    for (char c : unicode::to_utf8(cpt)) {
                        out += hex[uint8_t(c) >> 4];
                        out += hex[uint8_t(c) & 15];
                    }
                    out.append(text);
                    out += ']';
                }
            }
        }
    } else if (attr & attr_byte) {
        out += byte_of_token(text);
    }
}

std::string Tokenizer::Impl::decode(std::span<const TokenId> ids, bool render_special) const {
    std::string out;
    bool strip_space = add_space_prefix;  // only the first token's leading space
    for (TokenId id : ids) {
        check(id);
        const size_t before = out.size();
        append_piece(id, render_special, out);
        if (strip_space && out.size() > before && out[before] == ' ') out.erase(before, 1);
        strip_space = false;
    }
    if (clean_spaces) out = apply_clean_spaces(out);
    return out;
}

std::vector<bool> clean_spaces_keep(std::string_view text) {
    // Three passes, each on what the previous one kept; `kept` holds positions in `text`.
    std::vector<size_t> kept(text.size());
    for (size_t i = 0; i < text.size(); ++i) kept[i] = i;
    std::vector<size_t> next;
    auto at = [&](size_t i) { return text[kept[i]]; };

    // " ?", " !", " .", " ," lose the space.
    next.clear();
    for (size_t i = 0; i < kept.size(); ++i) {
        const char x = at(i);
        if (i > 0 && at(i - 1) == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
            next.pop_back();
        next.push_back(kept[i]);
    }
    kept.swap(next);

    // " ' " becomes "'".
    next.clear();
    bool previous_removed = false;  // the previous character was the space after such a quote
    for (size_t i = 0; i < kept.size(); ++i) {
        const char x = at(i);
        if (i > 0 && x == '\'' && i + 1 < kept.size() && !previous_removed && at(i - 1) == ' ' &&
            at(i + 1) == ' ') {
            next.pop_back();
            next.push_back(kept[i]);
            ++i;  // drop the space after it
            previous_removed = true;
            continue;
        }
        previous_removed = false;
        next.push_back(kept[i]);
    }
    kept.swap(next);

    // " 's", " 'm", " 're", " 've" lose the space (" 't", " 'd", " 'll" keep it).
    next.clear();
    for (size_t i = 0; i < kept.size(); ++i) {
        const char x = at(i);
        if (i > 0 && at(i - 1) == ' ' && x == '\'' && i + 1 < kept.size()) {
            const char x1 = at(i + 1);
            if (x1 == 's' || x1 == 'm') {
                next.pop_back();
            } else if (x1 != 't' && x1 != 'd' && i + 2 < kept.size()) {
                const char x2 = at(i + 2);
                if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) next.pop_back();
            }
        }
        next.push_back(kept[i]);
    }
    kept.swap(next);

    std::vector<bool> keep(text.size(), false);
    for (size_t i : kept) keep[i] = true;
    return keep;
}

std::string apply_clean_spaces(std::string_view text) {
    const std::vector<bool> keep = clean_spaces_keep(text);
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (keep[i]) out += text[i];
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Public interface

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
    return impl_->encode(text, add_special, parse_special);
}

std::string Tokenizer::piece(TokenId id, bool render_special) const {
    impl_->check(id);
    std::string out;
    impl_->append_piece(id, render_special, out);
    return out;
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool render_special) const {
    return impl_->decode(ids, render_special);
}

int32_t Tokenizer::vocab_size() const {
    return impl_->vocab.size();
}

std::string_view Tokenizer::token_text(TokenId id) const {
    impl_->check(id);
    return impl_->vocab.text(id);
}

TokenKind Tokenizer::kind(TokenId id) const {
    impl_->check(id);
    const uint16_t attr = impl_->attrs[id];
    if (attr & attr_control) return TokenKind::control;
    if (attr & attr_user_defined) return TokenKind::user_defined;
    if (attr & attr_unknown) return TokenKind::unknown;
    if (attr & attr_byte) return TokenKind::byte;
    if (attr & attr_unused) return TokenKind::unused;
    if (attr & attr_normal) return TokenKind::normal;
    return TokenKind::undefined;
}

std::optional<TokenId> Tokenizer::find(std::string_view token_text) const {
    TokenId id = impl_->vocab.find(token_text);
    if (id < 0) return std::nullopt;
    return id;
}

namespace {
std::optional<TokenId> optional_id(TokenId id) {
    if (id < 0) return std::nullopt;
    return id;
}
}  // namespace

std::optional<TokenId> Tokenizer::bos() const {
    return optional_id(impl_->bos);
}
std::optional<TokenId> Tokenizer::eos() const {
    return optional_id(impl_->eos);
}
std::optional<TokenId> Tokenizer::eot() const {
    return optional_id(impl_->eot);
}
std::optional<TokenId> Tokenizer::unk() const {
    return optional_id(impl_->unk);
}
bool Tokenizer::adds_bos() const {
    return impl_->add_bos;
}
bool Tokenizer::adds_eos() const {
    return impl_->add_eos;
}
bool Tokenizer::adds_space_prefix() const {
    return impl_->add_space_prefix;
}
bool Tokenizer::cleans_spaces() const {
    return impl_->clean_spaces;
}

bool Tokenizer::is_end_of_generation(TokenId id) const {
    return std::binary_search(impl_->end_of_generation.begin(), impl_->end_of_generation.end(), id);
}

std::span<const TokenId> Tokenizer::end_of_generation_tokens() const {
    return impl_->end_of_generation;
}

std::string_view Tokenizer::model_type() const {
    return impl_->model_type;
}
std::string_view Tokenizer::pre_type() const {
    return impl_->pre_type;
}

}  // namespace ponder
