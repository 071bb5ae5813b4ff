#include "engine/generate.h"

#include <algorithm>
#include <chrono>

#include "engine/context.h"
#include "engine/error.h"

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

    // Samples from `logits`, records and streams the token; returns the token to decode next
    // or -1 when this sequence has stopped.
    TokenId step(std::span<const float> logits,
                 const std::function<void(TokenId, std::string_view)>& emit) {
        if (cancelled(*options)) {
            finish(StopReason::cancelled);
            return -1;
        }
        const TokenId token = sampler.sample_and_accept(logits);
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
    t.prompt_tokens = static_cast<int64_t>(prompt.size());
    t.prompt_seconds = seconds_since(prompt_start);
    if (options.penalize_prompt)
        for (TokenId tok : prompt) stream.sampler.accept(tok);

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
    const int n = static_cast<int>(options.size());
    if (n <= 0 || n > KvCache::kMaxSequences)
        fail("parallel generation needs 1 to ", KvCache::kMaxSequences, " sequences, not ", n);
    if (!own_prompts.empty() && own_prompts.size() != options.size())
        fail("parallel generation: ", own_prompts.size(), " own prompts for ", n, " sequences");
    KvCache& kv = ctx.kv_cache();
    for (SeqId s = 1; s < n; ++s)
        if (kv.seq_cell_count(s) != 0) fail("sequence ", s, " is not empty");
    auto own_prompt = [&](int i) {
        return own_prompts.empty() ? std::span<const TokenId>()
                                   : std::span<const TokenId>(own_prompts[static_cast<size_t>(i)]);
    };

    std::vector<std::unique_ptr<Stream>> streams;
    for (int i = 0; i < n; ++i) {
        auto text = make_text();
        auto s = std::make_unique<Stream>(options[static_cast<size_t>(i)], text.get());
        s->owned_text = std::move(text);
        streams.push_back(std::move(s));
    }

    const auto prompt_start = Clock::now();
    const Pos prompt_end = feed_prompt(ctx, 0, prompt);
    for (SeqId s = 1; s < n; ++s) kv.seq_copy(0, s);
    // Every sequence starts from the last logits of its prompt: the shared one's, or its own
    // tokens' after it, all of which go through one decode. The context's logits are valid
    // until the next decode, so the shared prompt's are kept aside when that decode comes.
    std::vector<float> shared_logits;
    std::vector<Pos> pos(static_cast<size_t>(n), prompt_end);
    std::vector<int> batch_index(static_cast<size_t>(n), -1);
    Batch batch(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        const std::span<const TokenId> own = own_prompt(i);
        for (size_t k = 0; k < own.size(); ++k) {
            if (k + 1 == own.size())
                batch_index[static_cast<size_t>(i)] = static_cast<int>(batch.size());
            batch.add(own[k], pos[static_cast<size_t>(i)]++, i, k + 1 == own.size());
        }
    }
    std::vector<std::span<const float>> logits(static_cast<size_t>(n),
                                               ctx.output_logits(ctx.n_outputs() - 1));
    if (!batch.empty()) {
        if (static_cast<int64_t>(batch.size()) > kv.n_free())
            fail("the sequences' own prompts have ", batch.size(),
                 " tokens but the context has room for ", kv.n_free(), " more (", ctx.n_ctx(),
                 " in all): shorten the prompts or enlarge the context");
        if (std::any_of(batch_index.begin(), batch_index.end(), [](int b) { return b < 0; })) {
            shared_logits.assign(logits[0].begin(), logits[0].end());
            std::fill(logits.begin(), logits.end(), std::span<const float>(shared_logits));
        }
        ctx.decode(batch);
        for (int i = 0; i < n; ++i)
            if (const int b = batch_index[static_cast<size_t>(i)]; b >= 0)
                logits[static_cast<size_t>(i)] = ctx.logits(static_cast<size_t>(b));
    }
    const double prompt_seconds = seconds_since(prompt_start);
    for (int i = 0; i < n; ++i) {
        Stream& s = *streams[static_cast<size_t>(i)];
        const std::span<const TokenId> own = own_prompt(i);
        s.result.timings.prompt_tokens = static_cast<int64_t>(prompt.size() + own.size());
        s.result.timings.prompt_seconds = prompt_seconds;
        if (s.options->penalize_prompt) {
            for (TokenId tok : prompt) s.sampler.accept(tok);
            for (TokenId tok : own) s.sampler.accept(tok);
        }
    }

    const auto gen_start = Clock::now();
    auto finish_sequence = [&](int i) {
        Stream& s = *streams[static_cast<size_t>(i)];
        s.flush([&](TokenId tok, std::string_view txt) {
            if (on_token) on_token(i, tok, txt);
        });
        s.result.timings.generated_tokens = static_cast<int64_t>(s.result.tokens.size());
        s.result.timings.generation_seconds = seconds_since(gen_start);
        kv.seq_remove(i);  // shared prompt cells stay while another sequence has them
    };

    for (;;) {
        batch.clear();
        for (int i = 0; i < n; ++i) {
            Stream& s = *streams[static_cast<size_t>(i)];
            batch_index[static_cast<size_t>(i)] = -1;
            if (s.done) continue;
            const TokenId next =
                s.step(logits[static_cast<size_t>(i)], [&](TokenId tok, std::string_view txt) {
                    if (on_token) on_token(i, tok, txt);
                });
            if (next < 0) {
                finish_sequence(i);
                continue;
            }
            batch_index[static_cast<size_t>(i)] = static_cast<int>(batch.size());
            batch.add(next, pos[static_cast<size_t>(i)]++, i, true);
        }
        if (batch.empty()) break;
        if (static_cast<int64_t>(batch.size()) > kv.n_free()) {
            for (int i = 0; i < n; ++i) {
                if (streams[static_cast<size_t>(i)]->done) continue;
                streams[static_cast<size_t>(i)]->finish(StopReason::context_full);
                finish_sequence(i);
            }
            break;
        }
        ctx.decode(batch);
        for (int i = 0; i < n; ++i) {
            const int b = batch_index[static_cast<size_t>(i)];
            if (b < 0) continue;
            logits[static_cast<size_t>(i)] = ctx.logits(static_cast<size_t>(b));
        }
    }

    std::vector<GenerationResult> results;
    for (auto& s : streams) results.push_back(std::move(s->result));
    return results;
}

}  // namespace ponder
