#include "reason/assistant.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace ponder {

GenerateOptions generate_options(const SamplingSettings& s) {
    GenerateOptions o;
    o.max_tokens = s.max_tokens;
    o.stop = s.stop;
    o.sampling.temperature = s.temperature;
    o.sampling.top_k = s.top_k;
    o.sampling.top_p = s.top_p;
    o.sampling.min_p = s.min_p;
    o.sampling.repeat_penalty = s.repeat_penalty;
    o.sampling.penalty_last_n = s.repeat_last_n;
    o.sampling.frequency_penalty = s.frequency_penalty;
    o.sampling.presence_penalty = s.presence_penalty;
    o.sampling.seed = s.seed;
    return o;
}

nlohmann::json timings_json(const Reply& reply, double load_seconds) {
    const GenerationTimings& t = reply.timings;
    return {{"prompt_tokens", reply.prompt_tokens},
            {"prompt_tokens_processed", t.prompt_tokens},
            {"prompt_seconds", t.prompt_seconds},
            {"prompt_tokens_per_second", t.prompt_tokens_per_second()},
            {"answer_tokens", t.generated_tokens},
            {"generation_seconds", t.generation_seconds},
            {"generated_tokens_per_second", t.generated_tokens_per_second()},
            {"load_seconds", load_seconds}};
}

namespace {

int64_t conversation_context(const LanguageModel& model, int requested) {
    if (requested > 0) return requested;
    const int64_t trained = model.model().config().n_ctx_train;
    return trained > 0 ? std::min<int64_t>(trained, 4096) : 4096;
}

}  // namespace

Assistant::Assistant(std::shared_ptr<const LanguageModel> model, AssistantOptions options)
    : model_(std::move(model)),
      context_size_(conversation_context(*model_, options.context)),
      context_(model_->model(),
               ContextOptions{.n_ctx = context_size_ + std::max(0, options.extra_cells),
                              .n_batch = 512,
                              .n_threads = 0}) {
    const Tokenizer& tok = model_->tokenizer();
    for (TokenId id = 0; id < tok.vocab_size(); ++id) {
        max_token_bytes_ = std::max(max_token_bytes_, tok.token_text(id).size());
    }
}

std::string Assistant::render(std::span<const Message> conversation,
                              bool add_generation_prompt) const {
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    for (const auto& m : conversation)
        messages.push_back({{"role", m.role}, {"content", m.content}});
    ChatTemplateOptions options;
    options.add_generation_prompt = add_generation_prompt;
    const Tokenizer& tok = model_->tokenizer();
    if (auto bos = tok.bos()) options.bos_token = std::string(tok.token_text(*bos));
    if (auto eos = tok.eos()) options.eos_token = std::string(tok.token_text(*eos));
    return model_->chat_template().render(messages, options);
}

void Assistant::check_length(size_t text_bytes) const {
    // Every token covers at most max_token_bytes_ bytes, so longer text cannot fit; refusing it
    // here spares rendering and tokenizing (say) 100 MB of piped input only to refuse it later.
    const auto n_ctx = static_cast<size_t>(context_size_);
    if (text_bytes / max_token_bytes_ > n_ctx) {
        fail("the prompt (", text_bytes, " bytes) is longer than the context of ", n_ctx,
             " tokens; use a shorter input or a larger --ctx");
    }
}

std::vector<TokenId> Assistant::tokenize_prompt(std::string_view prompt_text) const {
    check_length(prompt_text.size());
    const auto n_ctx = static_cast<size_t>(context_size_);
    const Tokenizer& tok = model_->tokenizer();
    std::vector<TokenId> tokens =
        tok.encode(prompt_text, /*add_special=*/true, /*parse_special=*/true);
    // Templates that print bos_token themselves would otherwise get a second one.
    if (tokens.size() >= 2 && tok.bos() && tokens[0] == *tok.bos() && tokens[1] == *tok.bos()) {
        tokens.erase(tokens.begin());
    }
    if (tokens.size() >= n_ctx) {
        fail("the prompt (", tokens.size(), " tokens) does not fit in the context of ", n_ctx,
             " tokens; use a shorter input or a larger --ctx");
    }
    return tokens;
}

void Assistant::forget_cache() {
    cached_.clear();
    context_.kv_cache().clear();
}

Reply Assistant::generate_from(std::vector<TokenId> prompt, const GenerateOptions& options,
                               const TextCallback& on_text) {
    if (prompt.empty()) fail("empty prompt");
    // Keep the longest cached prefix, but always leave at least one token to process: its
    // logits start the answer.
    size_t common = 0;
    while (common < cached_.size() && common + 1 < prompt.size() &&
           cached_[common] == prompt[common])
        ++common;
    KvCache& kv = context_.kv_cache();
    kv.seq_keep(0);
    kv.seq_remove(0, static_cast<Pos>(common), -1);
    cached_.resize(common);

    Reply reply;
    reply.prompt_tokens = static_cast<int64_t>(prompt.size());
    reply.reused_tokens = static_cast<int64_t>(common);
    std::span<const TokenId> fresh(prompt.data() + common, prompt.size() - common);
    GenerationResult result = generate(context_, model_->tokenizer(), fresh, options,
                                       [&](TokenId, std::string_view text) {
                                           if (on_text && !text.empty()) on_text(text);
                                       });
    // Sequence 0 now holds the keys and values of a prefix of prompt + generated tokens (the
    // last sampled token is never decoded); a context shift breaks that correspondence.
    cached_ = std::move(prompt);
    cached_.insert(cached_.end(), result.tokens.begin(), result.tokens.end());
    const auto held = static_cast<size_t>(kv.seq_pos_max(0) + 1);
    if (result.context_shifts == 0 && held <= cached_.size()) {
        cached_.resize(held);
    } else {
        forget_cache();
    }
    reply.text = std::move(result.text);
    reply.stop_reason = result.stop_reason;
    reply.timings = result.timings;
    return reply;
}

Reply Assistant::reply(std::span<const Message> conversation, const SamplingSettings& settings,
                       const TextCallback& on_text, const std::atomic<bool>* cancel) {
    size_t bytes = 0;
    for (const auto& m : conversation) bytes += m.content.size();
    check_length(bytes);
    GenerateOptions options = generate_options(settings);
    options.cancel = cancel;
    return generate_from(tokenize_prompt(render(conversation)), options, on_text);
}

Reply Assistant::complete(std::string_view raw_prompt, const SamplingSettings& settings,
                          const TextCallback& on_text, const std::atomic<bool>* cancel) {
    GenerateOptions options = generate_options(settings);
    options.cancel = cancel;
    return generate_from(tokenize_prompt(raw_prompt), options, on_text);
}

}  // namespace ponder
