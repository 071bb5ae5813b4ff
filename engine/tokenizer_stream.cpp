// StreamDecoder: incremental detokenization that agrees with Tokenizer::decode().
#include "engine/tokenizer.h"

#include "engine/tokenizer_impl.h"
#include "engine/unicode.h"

namespace ponder {

namespace {

// Whether the clean-up keeps a space is settled by at most this many following bytes.
constexpr size_t kCleanLookahead = 8;

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool render_special)
    : tokenizer_(&tokenizer), render_special_(render_special) {}

std::string StreamDecoder::push(TokenId id) {
    std::string piece = tokenizer_->piece(id, render_special_);
    if (first_) {
        // decode() drops the space SentencePiece put before the first word.
        if (tokenizer_->adds_space_prefix() && !piece.empty() && piece.front() == ' ')
            piece.erase(0, 1);
        first_ = false;
    }
    pending_ += piece;
    return drain(false);
}

std::string StreamDecoder::finish() {
    std::string out = drain(true);
    first_ = true;
    pending_.clear();
    decided_ = 0;
    unfinished_.clear();
    return out;
}

std::string StreamDecoder::drain(bool at_end) {
    if (!tokenizer_->cleans_spaces()) {
        unfinished_ += pending_;
        pending_.clear();
    } else {
        const std::vector<bool> keep = clean_spaces_keep(pending_);
        // Everything up to the first space whose fate is still open.
        size_t limit = pending_.size();
        if (!at_end) {
            for (size_t j = decided_; j < pending_.size(); ++j) {
                if (pending_[j] == ' ' && j + kCleanLookahead >= pending_.size()) {
                    limit = j;
                    break;
                }
            }
        }
        for (size_t j = decided_; j < limit; ++j) {
            if (keep[j]) unfinished_ += pending_[j];
        }
        decided_ = limit;
        // Keep context from the last character that is neither a space nor a quote: the
        // clean-up never looks back past one.
        size_t start = decided_;
        while (start > 0 && (pending_[start - 1] == ' ' || pending_[start - 1] == '\'')) --start;
        if (start > 0) {
            pending_.erase(0, start - 1);
            decided_ -= start - 1;
        }
    }

    std::string out;
    size_t pos = 0;
    while (pos < unfinished_.size()) {
        const int length = unicode::strict_char_length(unfinished_, pos);
        if (length > 0) {
            out.append(unfinished_, pos, size_t(length));
            pos += size_t(length);
        } else if (length == 0) {
            unicode::append_utf8(out, unicode::kReplacement);
            ++pos;
        } else if (at_end) {
            unicode::append_utf8(out, unicode::kReplacement);
            pos = unfinished_.size();
        } else {
            break;  // the rest of the character is still to come
        }
    }
    unfinished_.erase(0, pos);
    return out;
}

}  // namespace ponder
