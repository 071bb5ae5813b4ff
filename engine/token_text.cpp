// The Tokenizer side of generation, in its own file so that code using generate() with its own
// TokenText does not need the tokenizer linked in.
#include <memory>

#include "engine/generate.h"
#include "engine/tokenizer.h"

namespace ponder {

namespace {

class TokenizerText : public TokenText {
  public:
    TokenizerText(const Tokenizer& tokenizer, bool render_special)
        : tokenizer_(&tokenizer), decoder_(tokenizer, render_special) {}
    std::string push(TokenId token) override { return decoder_.push(token); }
    std::string finish() override { return decoder_.finish(); }
    bool is_end_of_generation(TokenId token) const override {
        return tokenizer_->is_end_of_generation(token);
    }

  private:
    const Tokenizer* tokenizer_;
    StreamDecoder decoder_;
};

}  // namespace

std::unique_ptr<TokenText> token_text(const Tokenizer& tokenizer, bool render_special) {
    return std::make_unique<TokenizerText>(tokenizer, render_special);
}

GenerationResult generate(Context& ctx, const Tokenizer& tokenizer, std::span<const TokenId> prompt,
                          const GenerateOptions& options, const TokenCallback& on_token) {
    TokenizerText text(tokenizer, false);
    return generate(ctx, text, prompt, options, on_token);
}

}  // namespace ponder
