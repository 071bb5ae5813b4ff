#pragma once
// Text generation on a Context: one sequence (generate) or several continuations of one prompt
// sampled in parallel, one batched decode per step (generate_parallel — what contemplation
// builds on). Streaming text, stop strings, end-of-generation tokens, token limits,
// cancellation from another thread, context limits, and timing figures.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/batch.h"
#include "engine/sampler.h"

namespace ponder {

class Context;
class Tokenizer;

enum class StopReason { eos, stop_string, max_tokens, context_full, cancelled };
std::string_view stop_reason_name(StopReason reason);  // "eos", "stop_string", ...

// How generated tokens become text. The Tokenizer adapter (token_text) streams through the
// tokenizer's StreamDecoder; tests can supply their own.
class TokenText {
  public:
    virtual ~TokenText() = default;
    // Text completed by this token (may be empty while a UTF-8 character is pending).
    virtual std::string push(TokenId token) = 0;
    // Whatever is still pending at the end.
    virtual std::string finish() = 0;
    // EOS, EOT, <|im_end|>, ...: generation stops without emitting the token.
    virtual bool is_end_of_generation(TokenId token) const = 0;
};

std::unique_ptr<TokenText> token_text(const Tokenizer& tokenizer, bool render_special = false);

struct GenerateOptions {
    int32_t max_tokens = -1;        // < 0: until another reason stops generation
    std::vector<std::string> stop;  // stop strings: the text ends before the first match
    SamplerOptions sampling;
    bool penalize_prompt = true;  // prompt tokens enter the penalty history (as llama.cpp)
    // When the context is full: false stops with context_full; true drops the oldest half of
    // the tokens after the first n_keep and re-rotates the keys of the rest (llama.cpp's
    // context shift), then goes on. Single-sequence generation only.
    bool context_shift = false;
    int32_t n_keep = 0;
    const std::atomic<bool>* cancel = nullptr;  // checked between tokens (e.g. set on Ctrl-C)
    // Parallel generation: the sequence keeps its cells when it stops (all but the token
    // sampled last), so that generate_continuations can go on from them.
    bool keep_cells = false;
};

struct GenerationTimings {
    int64_t prompt_tokens = 0;
    double prompt_seconds = 0;
    int64_t generated_tokens = 0;
    double generation_seconds = 0;
    double load_seconds = 0;  // filled in by callers that loaded the model

    double prompt_tokens_per_second() const {
        return prompt_seconds > 0 ? static_cast<double>(prompt_tokens) / prompt_seconds : 0;
    }
    double generated_tokens_per_second() const {
        return generation_seconds > 0 ? static_cast<double>(generated_tokens) / generation_seconds
                                      : 0;
    }
};

struct GenerationResult {
    std::vector<TokenId> tokens;  // generated tokens (not the end-of-generation token)
    std::string text;             // their text, without the stop string
    StopReason stop_reason = StopReason::max_tokens;
    int32_t context_shifts = 0;
    GenerationTimings timings;
};

// Called for each generated token with the text it releases (held back while it might still
// become a stop string; may be empty). A last call with token -1 releases text still held back
// when generation ends for a reason other than a stop string.
using TokenCallback = std::function<void(TokenId token, std::string_view text)>;

// Appends `prompt` to sequence 0 of the context (whose existing cells are kept, so a
// conversation can go on; clear the cache for a fresh start), then samples until a stop reason.
// The last sampled token is not decoded into the cache. Throws ponder::Error when the prompt
// does not fit in the context (naming both sizes).
GenerationResult generate(Context& ctx, TokenText& text, std::span<const TokenId> prompt,
                          const GenerateOptions& options, const TokenCallback& on_token = {});
GenerationResult generate(Context& ctx, const Tokenizer& tokenizer, std::span<const TokenId> prompt,
                          const GenerateOptions& options, const TokenCallback& on_token = {});

// Several continuations of one prompt: the prompt is appended to sequence 0 once, shared with
// sequences 1..N-1 (no copy), and each step advances every unfinished sequence by one token in
// one batched decode. Sequence i has its own options (sampler, seed, limits, stop strings) and
// text decoder; finished sequences leave the batch and their cells are freed (the shared prompt
// stays while any sequence uses it). When the cache cannot hold the next step, every unfinished
// sequence stops with context_full. N <= 64; sequences 1..N-1 must be empty.
using SequenceCallback = std::function<void(int index, TokenId token, std::string_view text)>;
std::vector<GenerationResult> generate_parallel(
    Context& ctx, const std::function<std::unique_ptr<TokenText>()>& make_text,
    std::span<const TokenId> prompt, std::span<const GenerateOptions> options,
    const SequenceCallback& on_token = {});
// As above, and sequence i reads its own tokens `own_prompts[i]` (maybe none) after the shared
// prompt before it samples: prompts that differ only in their ends (one per sequence, or none)
// share the cells of their common start. All own prompts go through one decode.
std::vector<GenerationResult> generate_parallel(
    Context& ctx, const std::function<std::unique_ptr<TokenText>()>& make_text,
    std::span<const TokenId> prompt, std::span<const std::vector<TokenId>> own_prompts,
    std::span<const GenerateOptions> options, const SequenceCallback& on_token = {});

// Goes on with sequences that already hold the start of their prompts (as parallel generation
// with keep_cells leaves them): item i's sequence holds the first `held` tokens of `prompt` at
// positions 0..held-1; its later cells are dropped, the rest of the prompt (at least one token)
// is read, all sequences' in one decode, and they are sampled together as above. Each result
// is what generating from the whole prompt alone gives. Throws when a sequence appears twice,
// holds fewer cells than `held`, or has nothing left to read.
struct Continuation {
    SeqId seq = 0;
    std::vector<TokenId> prompt;
    size_t held = 0;
    GenerateOptions options;
};
std::vector<GenerationResult> generate_continuations(
    Context& ctx, const std::function<std::unique_ptr<TokenText>()>& make_text,
    std::span<const Continuation> items, const SequenceCallback& on_token = {});

// Holds back text that could still become a stop string. Exposed for tests.
class StopMatcher {
  public:
    explicit StopMatcher(std::vector<std::string> stops);
    // Adds text; returns what can be released now. After a match, matched() is true and the
    // returned text ends just before the stop string.
    std::string push(std::string_view text);
    std::string flush();  // the held-back rest (when generation ends for another reason)
    bool matched() const { return matched_; }

  private:
    std::vector<std::string> stops_;
    std::string held_;
    bool matched_ = false;
};

}  // namespace ponder
