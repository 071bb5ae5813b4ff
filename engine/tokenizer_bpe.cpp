// BPE encoding by merge rank, as llama.cpp's BPE tokenizer does it: each word starts as one
// piece per character and the adjacent pair with the lowest merge rank is merged (the leftmost
// on ties) until no pair has a merge. Byte-level vocabularies (GGUF "gpt2") first cut the text
// into words with their pre-tokenizer and spell each byte as a printable character; the
// Hugging Face SentencePiece-like form merges the U+2581-escaped text itself.
#include <algorithm>

#include "engine/tokenizer_impl.h"
#include "engine/unicode.h"

namespace ponder {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581

struct Symbol {
    uint32_t offset;
    uint32_t length;  // 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
    int32_t piece;  // MergeTable piece id, -1 when the text is no known piece
};

struct Bigram {
    int32_t rank;
    int32_t left;
    int32_t right;
    int32_t left_piece;   // the pieces the pair was found with: a pair whose sides changed since
    int32_t right_piece;  // is stale
};

// Max-heap order: lowest rank first, then the leftmost pair.
bool lower_priority(const Bigram& a, const Bigram& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
}

// Merges `symbols` (in order, linked by prev/next) in place.
void merge_word(const MergeTable& merges, std::vector<Symbol>& symbols,
                std::vector<Bigram>& queue) {
    queue.clear();
    auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const MergeTable::Merge* merge = merges.find(symbols[left].piece, symbols[right].piece);
        if (!merge) return;
        queue.push_back({merge->rank, left, right, symbols[left].piece, symbols[right].piece});
        std::push_heap(queue.begin(), queue.end(), lower_priority);
    };
    for (int32_t i = 1; i < int32_t(symbols.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
        std::pop_heap(queue.begin(), queue.end(), lower_priority);
        const Bigram bigram = queue.back();
        queue.pop_back();
        Symbol& left = symbols[bigram.left];
        Symbol& right = symbols[bigram.right];
        if (left.length == 0 || right.length == 0 || left.piece != bigram.left_piece ||
            right.piece != bigram.right_piece) {
            continue;
        }
        left.piece = merges.find(left.piece, right.piece)->result;
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = bigram.left;
        try_add(left.prev, bigram.left);
        try_add(bigram.left, left.next);
    }
}

// One symbol per UTF-8 character of `text` (sized by its first byte, as llama.cpp cuts).
void make_symbols(std::string_view text, const MergeTable& merges, std::vector<Symbol>& symbols) {
    symbols.clear();
    for (size_t offset = 0; offset < text.size();) {
        const size_t length =
            std::min(unicode::sequence_length(uint8_t(text[offset])), text.size() - offset);
        const int32_t index = int32_t(symbols.size());
        const int32_t piece = merges.piece(text.substr(offset, length));
        symbols.push_back({uint32_t(offset), uint32_t(length), index - 1,
                           offset + length == text.size() ? -1 : index + 1, piece});
        offset += length;
    }
}

}  // namespace

void Tokenizer::Impl::encode_bpe_bytes(std::string_view raw, std::vector<TokenId>& out) const {
    std::vector<std::string> words;
    pre_tokenizer->split(raw, words);

    std::string encoded;
    std::vector<Symbol> symbols;
    std::vector<Bigram> queue;
    for (const std::string& word : words) {
        encoded.clear();
        for (char c : word) encoded.append(unicode::byte_to_char(uint8_t(c)));
        if (ignore_merges) {
            if (TokenId id = vocab.find(encoded); id >= 0) {
                out.push_back(id);
                continue;
            }
        }
        make_symbols(encoded, merges, symbols);
        merge_word(merges, symbols, queue);
        for (int32_t i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
            const Symbol& s = symbols[i];
            if (s.piece >= 0 && s.piece < vocab.size()) {
                out.push_back(s.piece);
                continue;
            }
            // Not a token: llama.cpp looks up each byte of its spelling on its own, which finds
            // only ASCII characters; the rest is dropped.
            for (size_t k = s.offset; k < s.offset + s.length; ++k) {
                if (TokenId id = vocab.find(std::string_view(encoded.data() + k, 1)); id >= 0) {
                    out.push_back(id);
                }
            }
        }
    }
}

void Tokenizer::Impl::encode_bpe_text(std::string_view raw, bool prefix_space,
                                      std::vector<TokenId>& out) const {
    std::string text;
    text.reserve(raw.size() + raw.size() / 4 + 3);
    if (prefix_space) text.append(kSpaceMark);
    for (char c : raw) {
        if (c == ' ')
            text.append(kSpaceMark);
        else
            text += c;
    }

    // Words: the whole text, or (Metaspace with split) a new word at every U+2581.
    std::vector<std::string_view> words;
    if (metaspace_split) {
        size_t start = 0;
        for (size_t pos = text.find(kSpaceMark, 1); pos != std::string::npos;
             pos = text.find(kSpaceMark, pos + kSpaceMark.size())) {
            words.push_back(std::string_view(text).substr(start, pos - start));
            start = pos;
        }
        words.push_back(std::string_view(text).substr(start));
    } else {
        words.push_back(text);
    }

    std::vector<Symbol> symbols;
    std::vector<Bigram> queue;
    for (std::string_view word : words) {
        if (word.empty()) continue;
        if (ignore_merges) {
            if (TokenId id = vocab.find(word); id >= 0) {
                out.push_back(id);
                continue;
            }
        }
        make_symbols(word, merges, symbols);
        merge_word(merges, symbols, queue);
        bool previous_unknown = false;
        for (int32_t i = 0; i != -1; i = symbols[i].next) {
            const Symbol& s = symbols[i];
            if (s.piece >= 0 && s.piece < vocab.size()) {
                out.push_back(s.piece);
                previous_unknown = false;
                continue;
            }
            // Byte fallback to <0xNN> tokens when the vocabulary has them all, else <unk>.
            const std::string_view piece = word.substr(s.offset, s.length);
            const bool all_bytes = std::all_of(
                piece.begin(), piece.end(), [&](char c) { return byte_tokens[uint8_t(c)] >= 0; });
            if (all_bytes) {
                for (char c : piece) out.push_back(byte_tokens[uint8_t(c)]);
                previous_unknown = false;
            } else if (unk >= 0 && !(fuse_unknown && previous_unknown)) {
                out.push_back(unk);
                previous_unknown = true;
            }
        }
    }
}

}  // namespace ponder
