// SentencePiece-style encoding as llama.cpp's SPM tokenizer does it: spaces become U+2581, the
// text is cut into UTF-8 characters, and adjacent pieces whose concatenation is a token merge,
// the highest-scoring pair first. Pieces that are no token come out as <0xNN> byte tokens.
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
};

struct Bigram {
    float score;
    int32_t left;
    int32_t right;
    uint32_t length;  // of the merged text when the pair was found
};

// Max-heap order: higher score first, then the leftmost pair.
bool lower_priority(const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
}

}  // namespace

void Tokenizer::Impl::encode_spm(std::string_view raw, bool prefix_space,
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
    if (text.empty()) return;

    std::vector<Symbol> symbols;
    symbols.reserve(text.size());
    for (size_t offset = 0; offset < text.size();) {
        const size_t length =
            std::min(unicode::sequence_length(uint8_t(text[offset])), text.size() - offset);
        const int32_t index = int32_t(symbols.size());
        symbols.push_back({uint32_t(offset), uint32_t(length), index - 1,
                           offset + length == text.size() ? -1 : index + 1});
        offset += length;
    }

    std::vector<Bigram> queue;
    queue.reserve(symbols.size());
    auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const Symbol& l = symbols[left];
        const std::string_view joined(text.data() + l.offset, l.length + symbols[right].length);
        const TokenId id = vocab.find(joined);
        if (id < 0) return;
        queue.push_back({scores[id], left, right, uint32_t(joined.size())});
        std::push_heap(queue.begin(), queue.end(), lower_priority);
    };
    for (int32_t i = 1; i < int32_t(symbols.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
        std::pop_heap(queue.begin(), queue.end(), lower_priority);
        const Bigram bigram = queue.back();
        queue.pop_back();
        Symbol& left = symbols[bigram.left];
        Symbol& right = symbols[bigram.right];
        // Stale: one side was merged away or grew since the pair was queued.
        if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length)
            continue;
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = bigram.left;
        try_add(left.prev, bigram.left);
        try_add(bigram.left, left.next);
    }

    for (int32_t i = 0; i != -1; i = symbols[i].next) {
        const Symbol& s = symbols[i];
        const std::string_view piece(text.data() + s.offset, s.length);
        if (TokenId id = vocab.find(piece); id >= 0) {
            out.push_back(id);
            continue;
        }
        // Not a token: its bytes. A vocabulary without byte tokens gives <unk> instead (where
        // llama.cpp would fail).
        const bool all_bytes = std::all_of(piece.begin(), piece.end(),
                                           [&](char c) { return byte_tokens[uint8_t(c)] >= 0; });
        if (all_bytes) {
            for (char c : piece) out.push_back(byte_tokens[uint8_t(c)]);
        } else if (unk >= 0) {
            out.push_back(unk);
        }
    }
}

}  // namespace ponder
