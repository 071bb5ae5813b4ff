#pragma once
// A language model in conversation: renders messages with the model's chat template, keeps one
// inference context, and answers — reusing the cached keys and values of whatever prompt prefix
// it has already processed, so that each turn of a conversation costs only its new tokens.
#include <atomic>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/context.h"
#include "engine/generate.h"
#include "engine/language_model.h"
#include "reason/settings.h"

namespace ponder {

struct Message {
    std::string role;  // "system", "user", "assistant"
    std::string content;
};

struct AssistantOptions {
    int context = 0;      // tokens one conversation may use; 0: the model's training context,
                          // at most 4096
    int extra_cells = 0;  // more KV cells for parallel chains beyond the shared prompt
                          // (contemplation: chains x think tokens)
};

struct Reply {
    std::string text;
    StopReason stop_reason = StopReason::eos;
    GenerationTimings timings;  // timings.prompt_tokens counts the tokens actually processed
    int64_t prompt_tokens = 0;  // the whole prompt
    int64_t reused_tokens = 0;  // of which served from the cache
};

using TextCallback = std::function<void(std::string_view text)>;

// A reply's token counts and speeds as logged and printed by --json (load_seconds: the model's).
nlohmann::json timings_json(const Reply& reply, double load_seconds);

// The sampler and generation options a group of settings asks for.
GenerateOptions generate_options(const SamplingSettings& settings);

class Assistant {
  public:
    Assistant(std::shared_ptr<const LanguageModel> model, AssistantOptions options);

    const LanguageModel& model() const { return *model_; }
    std::shared_ptr<const LanguageModel> shared_model() const { return model_; }
    Context& context() { return context_; }
    // Tokens one conversation may use (the KV cache may hold more, for parallel chains).
    int64_t context_size() const { return context_size_; }

    // The prompt text for a conversation, through the model's chat template.
    std::string render(std::span<const Message> conversation,
                       bool add_generation_prompt = true) const;
    // Prompt text to tokens: BOS as the model wants it (never twice), special tokens parsed.
    // Throws ponder::Error when the text cannot fit in the context.
    std::vector<TokenId> tokenize_prompt(std::string_view prompt_text) const;

    // The next assistant message after `conversation`, streamed through `on_text`.
    Reply reply(std::span<const Message> conversation, const SamplingSettings& settings,
                const TextCallback& on_text = {}, const std::atomic<bool>* cancel = nullptr);
    // Continues a raw prompt, with no chat template.
    Reply complete(std::string_view raw_prompt, const SamplingSettings& settings,
                   const TextCallback& on_text = {}, const std::atomic<bool>* cancel = nullptr);

    // Generation on tokens, for callers that build their own prompts.
    Reply generate_from(std::vector<TokenId> prompt, const GenerateOptions& options,
                        const TextCallback& on_text = {});

    // Throws ponder::Error when text of this many bytes cannot fit in the context.
    void check_length(size_t text_bytes) const;

    // Call after using context() directly: the cached prefix is no longer known to be there.
    void forget_cache();

  private:
    std::shared_ptr<const LanguageModel> model_;
    int64_t context_size_;
    Context context_;
    size_t max_token_bytes_ = 1;
    std::vector<TokenId> cached_;  // tokens whose keys and values sequence 0 holds, in order
};

}  // namespace ponder
