// Generation: limits, stop strings, end of generation, cancellation, the context limit (stop or
// shift), and parallel continuations of one prompt. Token text comes from a stand-in decoder
// ("<id> " per token) so these tests need no tokenizer; the tokens are checked against
// llama.cpp's greedy continuations.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/error.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "tests/support.h"

namespace {

using namespace ponder;
using ponder::test::shared_dir;

// "<id> " (built piecewise: GCC 12 warns falsely on "<" + std::to_string(...) chains).
std::string id_text(TokenId t) {
    std::string s = "<";
    s += std::to_string(t);
    s += "> ";
    return s;
}

class IdText : public TokenText {
  public:
    explicit IdText(std::set<TokenId> end = {2}) : end_(std::move(end)) {}
    std::string push(TokenId t) override { return id_text(t); }
    std::string finish() override { return {}; }
    bool is_end_of_generation(TokenId t) const override { return end_.count(t) > 0; }

  private:
    std::set<TokenId> end_;
};

struct Reference {
    std::vector<TokenId> prompt, greedy;
};

Reference stories_reference() {
    auto j = nlohmann::json::parse(
        ponder::test::read_file(shared_dir() / "reference/stories260K.story.json"));
    return {j[0]["tokens"].get<std::vector<TokenId>>(), j[0]["greedy"].get<std::vector<TokenId>>()};
}

class Generate : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!ponder::test::have_shared("models/stories260K.gguf") ||
            !ponder::test::have_shared("reference/stories260K.story.json"))
            GTEST_SKIP() << "shared data missing";
        model_ = std::make_unique<Model>(Model::load(shared_dir() / "models/stories260K.gguf"));
        ref_ = stories_reference();
    }
    std::unique_ptr<Context> context(int64_t n_ctx) {
        ContextOptions o;
        o.n_ctx = n_ctx;
        return std::make_unique<Context>(*model_, o);
    }
    static GenerateOptions greedy(int max_tokens) {
        GenerateOptions o;
        o.sampling = SamplerOptions::greedy();
        o.max_tokens = max_tokens;
        return o;
    }
    std::unique_ptr<Model> model_;
    Reference ref_;
};

TEST_F(Generate, GreedyMatchesLlamaCppAndStopsAtMaxTokens) {
    auto ctx = context(128);
    IdText text;
    std::string streamed;
    int calls = 0;
    auto r = generate(*ctx, text, ref_.prompt, greedy(20), [&](TokenId, std::string_view s) {
        streamed += s;
        ++calls;
    });
    EXPECT_EQ(r.stop_reason, StopReason::max_tokens);
    ASSERT_EQ(r.tokens.size(), 20u);
    EXPECT_EQ(r.tokens, std::vector<TokenId>(ref_.greedy.begin(), ref_.greedy.begin() + 20));
    EXPECT_EQ(streamed, r.text);
    EXPECT_EQ(calls, 20);
    EXPECT_EQ(r.timings.prompt_tokens, static_cast<int64_t>(ref_.prompt.size()));
    EXPECT_EQ(r.timings.generated_tokens, 20);
    EXPECT_GT(r.timings.prompt_tokens_per_second(), 0);
    EXPECT_GT(r.timings.generated_tokens_per_second(), 0);
    // Everything but the last sampled token is in the cache.
    EXPECT_EQ(ctx->kv_cache().seq_cell_count(0), static_cast<int64_t>(ref_.prompt.size()) + 19);
}

TEST_F(Generate, StopStringEndsTextBeforeIt) {
    auto ctx = context(128);
    IdText text;
    GenerateOptions o = greedy(30);
    std::string third = id_text(ref_.greedy[2]);
    third.pop_back();  // "<id>"
    o.stop = {"no such thing", third};
    std::string streamed;
    auto r =
        generate(*ctx, text, ref_.prompt, o, [&](TokenId, std::string_view s) { streamed += s; });
    EXPECT_EQ(r.stop_reason, StopReason::stop_string);
    EXPECT_EQ(r.tokens.size(), 3u);
    const std::string want = id_text(ref_.greedy[0]) + id_text(ref_.greedy[1]);
    EXPECT_EQ(r.text, want);
    EXPECT_EQ(streamed, want);
}

TEST_F(Generate, EndOfGenerationTokenStopsWithoutBeingEmitted) {
    auto ctx = context(128);
    IdText text({ref_.greedy[4]});
    auto r = generate(*ctx, text, ref_.prompt, greedy(30));
    EXPECT_EQ(r.stop_reason, StopReason::eos);
    EXPECT_EQ(r.tokens, std::vector<TokenId>(ref_.greedy.begin(), ref_.greedy.begin() + 4));
}

TEST_F(Generate, CancellationBetweenTokens) {
    auto ctx = context(128);
    IdText text;
    std::atomic<bool> stop{false};
    GenerateOptions o = greedy(30);
    o.cancel = &stop;
    int seen = 0;
    auto r = generate(*ctx, text, ref_.prompt, o, [&](TokenId, std::string_view) {
        if (++seen == 3) stop = true;
    });
    EXPECT_EQ(r.stop_reason, StopReason::cancelled);
    EXPECT_EQ(r.tokens.size(), 3u);
}

TEST_F(Generate, PromptLongerThanContextIsAnError) {
    auto ctx = context(4);
    IdText text;
    try {
        generate(*ctx, text, ref_.prompt, greedy(3));
        FAIL() << "expected an error";
    } catch (const Error& e) {
        const std::string m = e.what();
        std::string count = std::to_string(ref_.prompt.size());
        count += " tokens";
        EXPECT_NE(m.find(count), std::string::npos) << m;
        EXPECT_NE(m.find("holds 4"), std::string::npos) << m;
    }
}

TEST_F(Generate, StopsWhenTheContextIsFull) {
    const int64_t n_ctx = static_cast<int64_t>(ref_.prompt.size()) + 6;
    auto ctx = context(n_ctx);
    IdText text;
    auto r = generate(*ctx, text, ref_.prompt, greedy(-1));
    EXPECT_EQ(r.stop_reason, StopReason::context_full);
    // Six more cells hold six generated tokens; the seventh was sampled but has no cell.
    EXPECT_EQ(r.tokens.size(), 7u);
    EXPECT_EQ(r.tokens, std::vector<TokenId>(ref_.greedy.begin(), ref_.greedy.begin() + 7));
}

TEST_F(Generate, ContextShiftGoesOnPastTheLimit) {
    const int64_t n_ctx = static_cast<int64_t>(ref_.prompt.size()) + 8;
    auto ctx = context(n_ctx);
    IdText text;
    GenerateOptions o = greedy(40);
    o.context_shift = true;
    o.n_keep = 1;  // keep BOS
    auto r = generate(*ctx, text, ref_.prompt, o);
    EXPECT_EQ(r.stop_reason, StopReason::max_tokens);
    EXPECT_EQ(r.tokens.size(), 40u);
    EXPECT_GT(r.context_shifts, 0);
    // Until the first shift the output is the plain greedy continuation.
    EXPECT_EQ(std::vector<TokenId>(r.tokens.begin(), r.tokens.begin() + 9),
              std::vector<TokenId>(ref_.greedy.begin(), ref_.greedy.begin() + 9));
    EXPECT_LE(ctx->kv_cache().n_used(), n_ctx);
}

TEST_F(Generate, SampledRunsAreReproducible) {
    GenerateOptions o;
    o.max_tokens = 24;
    o.sampling.temperature = 1.0f;
    o.sampling.seed = 1234;
    IdText t1, t2;
    auto c1 = context(128), c2 = context(128);
    auto a = generate(*c1, t1, ref_.prompt, o), b = generate(*c2, t2, ref_.prompt, o);
    EXPECT_EQ(a.tokens, b.tokens);
    o.sampling.seed = 99;
    IdText t3;
    auto c3 = context(128);
    EXPECT_NE(generate(*c3, t3, ref_.prompt, o).tokens, a.tokens);
}

TEST_F(Generate, ParallelSequencesEqualSoloRunsAndFinishIndependently) {
    std::vector<GenerateOptions> opts(4);
    const int limits[4] = {12, 5, 9, 12};
    for (int i = 0; i < 4; ++i) {
        opts[i].max_tokens = limits[i];
        opts[i].sampling.temperature = 0.9f;
        opts[i].sampling.seed = 100 + static_cast<uint64_t>(i);
    }
    opts[3].sampling = SamplerOptions::greedy();
    auto ctx = context(128);
    std::vector<int> streamed(4, 0);
    auto results = generate_parallel(
        *ctx, [] { return std::make_unique<IdText>(); }, ref_.prompt, opts,
        [&](int i, TokenId tok, std::string_view) {
            if (tok >= 0) ++streamed[static_cast<size_t>(i)];
        });
    ASSERT_EQ(results.size(), 4u);
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(results[i].tokens.size(), static_cast<size_t>(limits[i])) << i;
        EXPECT_EQ(streamed[i], limits[i]);
        EXPECT_EQ(results[i].stop_reason, StopReason::max_tokens);
        // The same options alone give the same tokens.
        auto solo_ctx = context(128);
        IdText text;
        auto solo = generate(*solo_ctx, text, ref_.prompt, opts[i]);
        EXPECT_EQ(results[i].tokens, solo.tokens) << "sequence " << i;
    }
    EXPECT_EQ(results[3].tokens,
              std::vector<TokenId>(ref_.greedy.begin(), ref_.greedy.begin() + 12));
    // Every sequence finished and freed its cells, the shared prompt included.
    EXPECT_EQ(ctx->kv_cache().n_used(), 0);
}

TEST_F(Generate, ParallelSequencesWithOwnPromptsEqualSoloRunsOfTheirWholePrompts) {
    // A shared start, then: nothing more (it samples from the shared prompt's logits, which the
    // decode of the others' own tokens must not overwrite), the rest of the reference prompt,
    // other tokens, one token.
    const size_t split = ref_.prompt.size() / 2;
    const std::vector<TokenId> shared(ref_.prompt.begin(), ref_.prompt.begin() + split);
    const std::vector<std::vector<TokenId>> own = {
        {}, {ref_.prompt.begin() + split, ref_.prompt.end()}, {50, 61, 72, 83, 94}, {7}};
    std::vector<GenerateOptions> opts(4);
    for (int i = 0; i < 4; ++i) {
        opts[i].max_tokens = 8 + i;
        opts[i].sampling.temperature = 0.9f;
        opts[i].sampling.seed = 200 + static_cast<uint64_t>(i);
    }
    opts[1].sampling = SamplerOptions::greedy();
    auto ctx = context(128);
    auto results = generate_parallel(
        *ctx, [] { return std::make_unique<IdText>(); }, shared, own, opts);
    ASSERT_EQ(results.size(), 4u);
    for (int i = 0; i < 4; ++i) {
        std::vector<TokenId> whole = shared;
        whole.insert(whole.end(), own[i].begin(), own[i].end());
        auto solo_ctx = context(128);
        IdText text;
        auto solo = generate(*solo_ctx, text, whole, opts[i]);
        EXPECT_EQ(results[i].tokens, solo.tokens) << "sequence " << i;
        EXPECT_EQ(results[i].timings.prompt_tokens, static_cast<int64_t>(whole.size()));
    }
    EXPECT_EQ(results[1].tokens,
              std::vector<TokenId>(ref_.greedy.begin(), ref_.greedy.begin() + 9));
    EXPECT_EQ(ctx->kv_cache().n_used(), 0);

    const std::vector<std::vector<TokenId>> too_few = {{1}, {2}};
    EXPECT_THROW(
        generate_parallel(
            *context(128), [] { return std::make_unique<IdText>(); }, shared, too_few, opts),
        Error);
}

TEST_F(Generate, ContinuationsGoOnFromKeptCellsAsWholePromptsAlone) {
    std::vector<GenerateOptions> opts(3);
    for (int i = 0; i < 3; ++i) {
        opts[i].max_tokens = 6 + i;
        opts[i].sampling.temperature = 0.9f;
        opts[i].sampling.seed = 300 + static_cast<uint64_t>(i);
        opts[i].keep_cells = true;
    }
    auto ctx = context(128);
    auto make_text = [] { return std::make_unique<IdText>(); };
    const auto first = generate_parallel(*ctx, make_text, ref_.prompt, opts);
    // Each keeps the prompt and what it generated, but for the token it sampled last.
    std::vector<std::vector<TokenId>> held(3, ref_.prompt);
    for (int i = 0; i < 3; ++i) {
        held[i].insert(held[i].end(), first[i].tokens.begin(), first[i].tokens.end() - 1);
        EXPECT_EQ(ctx->kv_cache().seq_pos_max(i) + 1, static_cast<Pos>(held[i].size())) << i;
    }

    // Sequence 1 goes back to just after the prompt and reads other tokens; sequence 0 reads
    // one more token after all it holds; sequence 2 is left as it is.
    std::vector<Continuation> items(2);
    items[0].seq = 1;
    items[0].prompt = ref_.prompt;
    items[0].prompt.insert(items[0].prompt.end(), {50, 61, 72});
    items[0].held = ref_.prompt.size();
    items[1].seq = 0;
    items[1].prompt = held[0];
    items[1].prompt.push_back(first[0].tokens.back());
    items[1].held = held[0].size();
    for (auto& item : items) {
        item.options.max_tokens = 7;
        item.options.sampling.temperature = 0.8f;
        item.options.sampling.seed = 400 + static_cast<uint64_t>(item.seq);
    }
    const auto next = generate_continuations(*ctx, make_text, items);
    ASSERT_EQ(next.size(), 2u);
    for (size_t i = 0; i < items.size(); ++i) {
        auto solo_ctx = context(128);
        IdText text;
        const auto solo = generate(*solo_ctx, text, items[i].prompt, items[i].options);
        EXPECT_EQ(next[i].tokens, solo.tokens) << "item " << i;
        EXPECT_EQ(next[i].timings.prompt_tokens, static_cast<int64_t>(items[i].prompt.size()));
    }
    // Without keep_cells the continued sequences are gone; the one left alone is not.
    EXPECT_EQ(ctx->kv_cache().seq_cell_count(0), 0);
    EXPECT_EQ(ctx->kv_cache().seq_cell_count(1), 0);
    EXPECT_EQ(ctx->kv_cache().seq_pos_max(2) + 1, static_cast<Pos>(held[2].size()));

    Continuation bad;
    bad.seq = 2;
    bad.prompt = held[2];
    bad.held = held[2].size();  // nothing left to read
    EXPECT_THROW(generate_continuations(*ctx, make_text, std::span(&bad, 1)), Error);
    bad.prompt.insert(bad.prompt.end(), {5, 6});
    bad.held = held[2].size() + 1;  // more than it holds
    EXPECT_THROW(generate_continuations(*ctx, make_text, std::span(&bad, 1)), Error);
    const std::vector<Continuation> twice(2, items[0]);
    EXPECT_THROW(generate_continuations(*ctx, make_text, twice), Error);
    // An invalid item changes nothing, not even for the valid ones before it.
    std::vector<Continuation> mixed(2);
    mixed[0].seq = 2;
    mixed[0].prompt = {1, 2, 3, 4};
    mixed[0].held = 2;
    mixed[1].seq = 5;  // holds nothing
    mixed[1].prompt = {1, 2, 3};
    mixed[1].held = 2;
    EXPECT_THROW(generate_continuations(*ctx, make_text, mixed), Error);
    EXPECT_EQ(ctx->kv_cache().seq_pos_max(2) + 1, static_cast<Pos>(held[2].size()));
}

TEST_F(Generate, ParallelSequencesStopTogetherWhenTheContextIsFull) {
    const int64_t n_ctx = static_cast<int64_t>(ref_.prompt.size()) + 6;  // 3 steps of 2
    auto ctx = context(n_ctx);
    std::vector<GenerateOptions> opts(2, greedy(-1));
    auto results = generate_parallel(
        *ctx, [] { return std::make_unique<IdText>(); }, ref_.prompt, opts);
    for (const auto& r : results) {
        EXPECT_EQ(r.stop_reason, StopReason::context_full);
        EXPECT_EQ(r.tokens.size(), 4u);
    }
}

TEST(StopMatcher, HoldsBackPossibleStarts) {
    StopMatcher m({"</end>", "STOP"});
    EXPECT_EQ(m.push("hello </e"), "hello ");
    EXPECT_EQ(m.push("x"), "</ex");
    EXPECT_EQ(m.push(" and ST"), " and ");
    EXPECT_FALSE(m.matched());
    EXPECT_EQ(m.push("OP more"), "");
    EXPECT_TRUE(m.matched());
    EXPECT_EQ(m.push("after"), "");
    StopMatcher n({"ab"});
    EXPECT_EQ(n.push("xa"), "x");
    EXPECT_EQ(n.flush(), "a");
    StopMatcher none({});
    EXPECT_EQ(none.push("anything"), "anything");
}

}  // namespace

#include "engine/gguf.h"
#include "engine/tokenizer.h"

namespace {

// With the model's own tokenizer, the streamed text is llama.cpp's greedy text.
TEST(GenerateWithTokenizer, StreamsTheReferenceText) {
    PONDER_REQUIRE_SHARED("models/stories260K.gguf");
    Model model = Model::load(shared_dir() / "models/stories260K.gguf");
    Tokenizer tok = Tokenizer::from_gguf(*model.gguf());
    auto j = nlohmann::json::parse(
        ponder::test::read_file(shared_dir() / "reference/stories260K.story.json"));
    const auto prompt = j[0]["tokens"].get<std::vector<TokenId>>();
    EXPECT_EQ(tok.encode(j[0]["prompt"].get<std::string>(), true, true), prompt);
    ContextOptions copt;
    copt.n_ctx = 128;
    Context ctx(model, copt);
    GenerateOptions o;
    o.sampling = SamplerOptions::greedy();
    o.max_tokens = 32;
    std::string streamed;
    auto r = generate(ctx, tok, prompt, o, [&](TokenId, std::string_view s) { streamed += s; });
    EXPECT_EQ(r.text, j[0]["greedy_text"].get<std::string>());
    EXPECT_EQ(streamed, r.text);
}

}  // namespace
