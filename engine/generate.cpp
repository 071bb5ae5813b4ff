#include "engine/generate.h"

#include <algorithm>
#include <chrono>

#include "engine/context.h"
#include "engine/error.h"
#include "engine/thread_pool.h"

namespace ponder {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

bool cancelled(const GenerateOptions& o) {
    return o.cancel && o.cancel->load(std::memory_order_relaxed);
}

// Appends `prompt` to sequence `seq` and returns the position after it; the last token's
// logits are in the context afterwards (as its last output).
Pos feed_prompt(Context& ctx, SeqId seq, std::span<const TokenId> prompt) {
    KvCache& kv = ctx.kv_cache();
    const Pos start = kv.seq_pos_max(seq) + 1;
    if (prompt.empty()) fail("generation needs at least one prompt token");
    if (static_cast<int64_t>(prompt.size()) > kv.n_free())
        fail("the prompt has ", prompt.size(), " tokens but the context holds ", ctx.n_ctx(), " (",
             kv.n_used(), " in use): shorten the prompt or enlarge the context");
    Batch batch(prompt.size());
    for (size_t i = 0; i < prompt.size(); ++i)
        batch.add(prompt[i], start + static_cast<Pos>(i), seq, i + 1 == prompt.size());
    ctx.decode(batch);
    return start + static_cast<Pos>(prompt.size());
}

// One sequence's state while generating.
struct Stream {
    const GenerateOptions* options;
    std::unique_ptr<TokenText> owned_text;
    TokenText* text;
    Sampler sampler;
    StopMatcher stops;
    GenerationResult result;
    bool done = false;

    Stream(const GenerateOptions& o, TokenText* t)
        : options(&o), text(t), sampler(o.sampling), stops(o.stop) {}

    void finish(StopReason reason) {
        done = true;
        result.stop_reason = reason;
    }

    // The stream's prompt, `start` then `rest`, has been read: its timing, and its tokens into
    // the penalty history when the options ask.
    void read_prompt(std::span<const TokenId> start, std::span<const TokenId> rest,
                     double seconds) {
        result.timings.prompt_tokens = static_cast<int64_t>(start.size() + rest.size());
        result.timings.prompt_seconds = seconds;
        if (!options->penalize_prompt) return;
        for (TokenId tok : start) sampler.accept(tok);
        for (TokenId tok : rest) sampler.accept(tok);
    }

    // Samples the next token from `logits` (-1 when cancelled). It touches this stream's
    // sampler only, so several streams pick at once on different threads.
    TokenId pick(std::span<const float> logits) {
        return cancelled(*options) ? -1 : sampler.sample_and_accept(logits);
    }

    // Samples from `logits`, records and streams the token; returns the token to decode next
    // or -1 when this sequence has stopped.
    TokenId step(std::span<const float> logits,
                 const std::function<void(TokenId, std::string_view)>& emit) {
        return take(pick(logits), emit);
    }

    // Records and streams a picked token; returns it to decode next or -1 when this sequence
    // has stopped.
    TokenId take(TokenId token, const std::function<void(TokenId, std::string_view)>& emit) {
        if (token < 0) {
            finish(StopReason::cancelled);
            return -1;
        }
        if (text->is_end_of_generation(token)) {
            finish(StopReason::eos);
            return -1;
        }
        result.tokens.push_back(token);
        const std::string released = stops.push(text->push(token));
        result.text += released;
        if (emit) emit(token, released);
        if (stops.matched()) {
            finish(StopReason::stop_string);
            return -1;
        }
        if (options->max_tokens >= 0 &&
            static_cast<int32_t>(result.tokens.size()) >= options->max_tokens) {
            finish(StopReason::max_tokens);
            return -1;
        }
        return token;
    }

    // Releases text still held back once generation has ended for a reason other than a
    // stop string.
    void flush(const std::function<void(TokenId, std::string_view)>& emit) {
        if (result.stop_reason == StopReason::stop_string) return;
        std::string rest = stops.push(text->finish());
        rest += stops.flush();
        if (rest.empty()) return;
        result.text += rest;
        if (emit) emit(-1, rest);
    }
};

}  // namespace

std::string_view stop_reason_name(StopReason reason) {
    switch (reason) {
        case StopReason::eos:
            return "eos";
        case StopReason::stop_string:
            return "stop_string";
        case StopReason::max_tokens:
            return "max_tokens";
        case StopReason::context_full:
            return "context_full";
        case StopReason::cancelled:
            return "cancelled";
    }
    return "unknown";
}

// ---- StopMatcher ---------------------------------------------------------------------------

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
    std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

std::string StopMatcher::push(std::string_view text) {
    if (matched_) return {};
    held_ += text;
    if (stops_.empty()) return std::exchange(held_, {});
    // The earliest complete match wins.
    size_t best = std::string::npos;
    for (const auto& s : stops_) best = std::min(best, held_.find(s));
    if (best != std::string::npos) {
        matched_ = true;
        std::string out = held_.substr(0, best);
        held_.clear();
        return out;
    }
    // Hold back the longest tail that is the start of some stop string.
    size_t keep = 0;
    for (const auto& s : stops_) {
        for (size_t len = std::min(s.size() - 1, held_.size()); len > keep; --len) {
            if (held_.compare(held_.size() - len, len, s, 0, len) == 0) {
                keep = len;
                break;
            }
        }
    }
    std::string out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    return out;
}

std::string StopMatcher::flush() {
    return matched_ ? std::string() : std::exchange(held_, {});
}

// ---- One sequence --------------------------------------------------------------------------

GenerationResult generate(Context& ctx, TokenText& text, std::span<const TokenId> prompt,
                          const GenerateOptions& options, const TokenCallback& on_token) {
    constexpr SeqId kSeq = 0;
    Stream stream(options, &text);
    GenerationTimings& t = stream.result.timings;

    const auto prompt_start = Clock::now();
    Pos pos = feed_prompt(ctx, kSeq, prompt);
    stream.read_prompt(prompt, {}, seconds_since(prompt_start));

    const auto gen_start = Clock::now();
    // The context's own logits, valid until the next decode: each is sampled before that.
    std::span<const float> logits = ctx.output_logits(ctx.n_outputs() - 1);
    Batch one(1);
    KvCache& kv = ctx.kv_cache();
    for (;;) {
        const TokenId next = stream.step(logits, on_token);
        if (next < 0) break;
        if (kv.n_free() == 0) {
            // The token cannot be decoded: shift, or stop.
            const Pos used = kv.seq_pos_max(kSeq) + 1;
            const Pos n_keep = std::clamp<Pos>(options.n_keep, 0, used);
            const Pos n_discard = (used - n_keep) / 2;
            if (!options.context_shift || n_discard <= 0) {
                stream.finish(StopReason::context_full);
                break;
            }
            ctx.shift_context(kSeq, n_keep, n_discard);
            pos -= n_discard;
            ++stream.result.context_shifts;
        }
        one.clear();
        one.add(next, pos++, kSeq, true);
        ctx.decode(one);
        logits = ctx.logits(0);
    }
    stream.flush(on_token);
    t.generated_tokens = static_cast<int64_t>(stream.result.tokens.size());
    t.generation_seconds = seconds_since(gen_start);
    return std::move(stream.result);
}

// ---- Several sequences ---------------------------------------------------------------------

namespace {

using Streams = std::vector<std::unique_ptr<Stream>>;

Streams make_streams(const std::function<std::unique_ptr<TokenText>()>& make_text,
                     std::span<const GenerateOptions> options) {
    Streams streams;
    for (const GenerateOptions& o : options) {
        auto text = make_text();
        auto s = std::make_unique<Stream>(o, text.get());
        s->owned_text = std::move(text);
        streams.push_back(std::move(s));
    }
    return streams;
}

// Reads each sequence's own tokens (maybe none) from pos[i] on, all in one decode; logits[i]
// becomes its last token's. Sequences without tokens all go on from the same logits (a shared
// prompt's), which are the context's, valid until the next decode: they are kept aside in
// `kept` first.
void read_own_tokens(Context& ctx, std::span<const SeqId> seqs,
                     const std::function<std::span<const TokenId>(size_t)>& own,
                     std::vector<Pos>& pos, std::vector<std::span<const float>>& logits,
                     std::vector<float>& kept) {
    std::vector<int> batch_index(seqs.size(), -1);
    Batch batch;
    for (size_t i = 0; i < seqs.size(); ++i) {
        const std::span<const TokenId> tokens = own(i);
        for (size_t k = 0; k < tokens.size(); ++k) {
            const bool last = k + 1 == tokens.size();
            if (last) batch_index[i] = static_cast<int>(batch.size());
            batch.add(tokens[k], pos[i]++, seqs[i], last);
        }
    }
    if (batch.empty()) return;
    KvCache& kv = ctx.kv_cache();
    if (static_cast<int64_t>(batch.size()) > kv.n_free())
        fail("the sequences' own prompts have ", batch.size(),
             " tokens but the context has room for ", kv.n_free(), " more (", ctx.n_ctx(),
             " in all): shorten the prompts or enlarge the context");
    if (std::any_of(batch_index.begin(), batch_index.end(), [](int b) { return b < 0; })) {
        kept.assign(logits[0].begin(), logits[0].end());
        for (size_t i = 0; i < seqs.size(); ++i)
            if (batch_index[i] < 0) logits[i] = kept;
    }
    ctx.decode(batch);
    for (size_t i = 0; i < seqs.size(); ++i)
        if (batch_index[i] >= 0) logits[i] = ctx.logits(static_cast<size_t>(batch_index[i]));
}

// Advances every stream by one token per step, all in one batched decode, until each has
// stopped. Stream i is sequence seqs[i], which goes on at pos[i] from logits[i].
std::vector<GenerationResult> sample_together(Context& ctx, Streams& streams,
                                              std::span<const SeqId> seqs, std::vector<Pos>& pos,
                                              std::vector<std::span<const float>>& logits,
                                              const SequenceCallback& on_token) {
    KvCache& kv = ctx.kv_cache();
    const size_t n = streams.size();
    const auto gen_start = Clock::now();
    auto finish_sequence = [&](size_t i) {
        Stream& s = *streams[i];
        s.flush([&](TokenId tok, std::string_view txt) {
            if (on_token) on_token(static_cast<int>(i), tok, txt);
        });
        s.result.timings.generated_tokens = static_cast<int64_t>(s.result.tokens.size());
        s.result.timings.generation_seconds = seconds_since(gen_start);
        // Shared prompt cells stay while another sequence has them.
        if (!s.options->keep_cells) kv.seq_remove(seqs[i]);
    };

    std::vector<int> batch_index(n, -1);
    std::vector<TokenId> picked(n, -1);
    Batch batch(n);
    for (;;) {
        // Sampling is per stream: the threads share it (a step's sampling of a small model's
        // eight chains took a quarter of the step on one thread). Text and callbacks follow in
        // order on this thread.
        ctx.pool().parallel_for(static_cast<int64_t>(n), 1, [&](int64_t i0, int64_t i1, int) {
            for (auto i = static_cast<size_t>(i0); i < static_cast<size_t>(i1); ++i)
                if (!streams[i]->done) picked[i] = streams[i]->pick(logits[i]);
        });
        batch.clear();
        for (size_t i = 0; i < n; ++i) {
            Stream& s = *streams[i];
            batch_index[i] = -1;
            if (s.done) continue;
            const TokenId next = s.take(picked[i], [&](TokenId tok, std::string_view txt) {
                if (on_token) on_token(static_cast<int>(i), tok, txt);
            });
            if (next < 0) {
                finish_sequence(i);
                continue;
            }
            batch_index[i] = static_cast<int>(batch.size());
            batch.add(next, pos[i]++, seqs[i], true);
        }
        if (batch.empty()) break;
        if (static_cast<int64_t>(batch.size()) > kv.n_free()) {
            for (size_t i = 0; i < n; ++i) {
                if (streams[i]->done) continue;
                streams[i]->finish(StopReason::context_full);
                finish_sequence(i);
            }
            break;
        }
        ctx.decode(batch);
        for (size_t i = 0; i < n; ++i)
            if (batch_index[i] >= 0) logits[i] = ctx.logits(static_cast<size_t>(batch_index[i]));
    }

    std::vector<GenerationResult> results;
    for (auto& s : streams) results.push_back(std::move(s->result));
    return results;
}

void check_sequence_count(size_t n) {
    if (n == 0 || n > static_cast<size_t>(KvCache::kMaxSequences))
        fail("parallel generation needs 1 to ", KvCache::kMaxSequences, " sequences, not ", n);
}

}  // namespace

std::vector<GenerationResult> generate_parallel(
    Context& ctx, const std::function<std::unique_ptr<TokenText>()>& make_text,
    std::span<const TokenId> prompt, std::span<const GenerateOptions> options,
    const SequenceCallback& on_token) {
    return generate_parallel(ctx, make_text, prompt, {}, options, on_token);
}

std::vector<GenerationResult> generate_parallel(
    Context& ctx, const std::function<std::unique_ptr<TokenText>()>& make_text,
    std::span<const TokenId> prompt, std::span<const std::vector<TokenId>> own_prompts,
    std::span<const GenerateOptions> options, const SequenceCallback& on_token) {
    const size_t n = options.size();
    check_sequence_count(n);
    if (!own_prompts.empty() && own_prompts.size() != n)
        fail("parallel generation: ", own_prompts.size(), " own prompts for ", n, " sequences");
    KvCache& kv = ctx.kv_cache();
    std::vector<SeqId> seqs(n);
    for (size_t i = 0; i < n; ++i) {
        seqs[i] = static_cast<SeqId>(i);
        if (i > 0 && kv.seq_cell_count(seqs[i]) != 0) fail("sequence ", i, " is not empty");
    }
    auto own = [&](size_t i) {
        return own_prompts.empty() ? std::span<const TokenId>()
                                   : std::span<const TokenId>(own_prompts[i]);
    };
    Streams streams = make_streams(make_text, options);

    const auto prompt_start = Clock::now();
    std::vector<Pos> pos(n, feed_prompt(ctx, 0, prompt));
    for (size_t i = 1; i < n; ++i) kv.seq_copy(0, seqs[i]);
    // Every sequence starts from the last logits of its prompt: the shared one's, or its own
    // tokens' after it.
    std::vector<std::span<const float>> logits(n, ctx.output_logits(ctx.n_outputs() - 1));
    std::vector<float> kept;
    read_own_tokens(ctx, seqs, own, pos, logits, kept);
    const double prompt_seconds = seconds_since(prompt_start);
    for (size_t i = 0; i < n; ++i) streams[i]->read_prompt(prompt, own(i), prompt_seconds);
    return sample_together(ctx, streams, seqs, pos, logits, on_token);
}

std::vector<GenerationResult> generate_continuations(
    Context& ctx, const std::function<std::unique_ptr<TokenText>()>& make_text,
    std::span<const Continuation> items, const SequenceCallback& on_token) {
    const size_t n = items.size();
    check_sequence_count(n);
    KvCache& kv = ctx.kv_cache();
    std::vector<SeqId> seqs(n);
    std::vector<Pos> pos(n);
    std::vector<GenerateOptions> options(n);
    for (size_t i = 0; i < n; ++i) {
        const Continuation& c = items[i];
        seqs[i] = c.seq;
        for (size_t j = 0; j < i; ++j)
            if (seqs[j] == c.seq) fail("sequence ", c.seq, " is continued twice");
        if (c.held >= c.prompt.size())
            fail("sequence ", c.seq, " has nothing to read: ", c.held, " of its ", c.prompt.size(),
                 " prompt tokens are held");
        if (kv.seq_pos_max(c.seq) + 1 < static_cast<Pos>(c.held))
            fail("sequence ", c.seq, " holds ", kv.seq_pos_max(c.seq) + 1, " cells, not ", c.held);
        pos[i] = static_cast<Pos>(c.held);
        options[i] = c.options;
    }
    // Checked first: an invalid item changes nothing.
    for (const Continuation& c : items) kv.seq_remove(c.seq, static_cast<Pos>(c.held), -1);
    Streams streams = make_streams(make_text, options);

    const auto prompt_start = Clock::now();
    auto rest = [&](size_t i) {
        return std::span<const TokenId>(items[i].prompt).subspan(items[i].held);
    };
    std::vector<std::span<const float>> logits(n);
    std::vector<float> kept;
    read_own_tokens(ctx, seqs, rest, pos, logits, kept);
    const double prompt_seconds = seconds_since(prompt_start);
    for (size_t i = 0; i < n; ++i) streams[i]->read_prompt(items[i].prompt, {}, prompt_seconds);
    return sample_together(ctx, streams, seqs, pos, logits, on_token);
}

}  // namespace ponder
