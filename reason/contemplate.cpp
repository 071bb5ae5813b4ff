#include "reason/contemplate.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <random>

#include "engine/context.h"
#include "engine/error.h"
#include "engine/tokenizer.h"

namespace ponder {

namespace {

// A chain keeps this share of its weight per slip left after correction (a false arithmetic
// result, or a number found neither in the question nor earlier in the chain).
constexpr double kFalseStepFactor = 0.25;
// A chain's false arithmetic steps put right, at most, before it is scored as it is.
constexpr int kMaxCorrections = 3;
// Most candidates shown to the verifier and to a refinement round.
constexpr size_t kMaxVerified = 8;
constexpr size_t kMaxRefinementCandidates = 3;

using Clock = std::chrono::steady_clock;

std::string one_line(std::string_view text, size_t max_chars) {
    std::string out;
    for (char c : text) {
        if (c == '\n') {
            // Steps joined by commas, as the bundled model saw earlier attempts in training.
            if (!out.empty() && out.back() != ' ') out += ", ";
        } else if (c != '\r') {
            out += c;
        }
        if (out.size() >= max_chars) break;
    }
    while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
    return out;
}

// The reasoning without its final answer line.
std::string reasoning_of(const std::string& chain) {
    std::string text = chain;
    size_t at = text.rfind("Answer:");
    if (at != std::string::npos) {
        size_t line_start = text.rfind('\n', at);
        text.resize(line_start == std::string::npos ? 0 : line_start);
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

std::vector<Message> reasoning_conversation(std::span<const Message> conversation,
                                            const std::string& user_turn) {
    std::vector<Message> out;
    std::string system(kReasoningPrompt);
    for (const auto& m : conversation) {
        if (m.role == "system") system = m.content + "\n\n" + system;
    }
    out.push_back({"system", system});
    for (size_t i = 0; i + 1 < conversation.size(); ++i) {
        if (conversation[i].role != "system") out.push_back(conversation[i]);
    }
    out.push_back({"user", user_turn});
    return out;
}

// The reasoning of the heaviest chain behind a candidate, on one line: it speaks for the
// candidate in refinement and verifier prompts.
std::string best_reasoning(const CandidateReport& candidate,
                           const std::vector<ChainReport>& chains) {
    const ChainReport* best = nullptr;
    for (int i : candidate.chains) {
        if (!best || chains[static_cast<size_t>(i)].weight > best->weight)
            best = &chains[static_cast<size_t>(i)];
    }
    return best ? one_line(reasoning_of(best->text), 160) : "";
}

std::string refinement_turn(const std::string& question,
                            const std::vector<CandidateReport>& candidates,
                            const std::vector<ChainReport>& chains) {
    std::string turn = "Question: " + question + "\nEarlier attempts:\n";
    size_t shown = 0;
    for (const auto& c : candidates) {
        if (shown++ == kMaxRefinementCandidates) break;
        turn += "- " + c.answer.display + ": " + best_reasoning(c, chains) + "\n";
    }
    turn += "Check the attempts and solve the question again step by step.";
    return turn;
}

// After its own solution, the verifier is asked about one candidate in a turn of its own.
std::string verdict_turn(const std::string& answer) {
    return "Proposed answer: " + answer + "\nIs the proposed answer correct? Reply yes or no.";
}

// The model judges a candidate with the worked solution behind it, so that it can check the
// steps rather than solve the question again in its head.
std::string verifier_turn(const std::string& question, const std::string& solution,
                          const std::string& answer) {
    std::string turn = "Question: " + question + "\n";
    if (!solution.empty()) turn += "Proposed solution: " + solution + "\n";
    return turn + verdict_turn(answer);
}

// Token ids that begin a "yes" or a "no" reply, in the spellings models use.
std::pair<std::vector<TokenId>, std::vector<TokenId>> yes_no_tokens(const Tokenizer& tok) {
    std::vector<TokenId> yes, no;
    auto add = [&](std::vector<TokenId>& out, std::string_view word) {
        auto ids = tok.encode(word, false, false);
        if (!ids.empty() && std::find(out.begin(), out.end(), ids.front()) == out.end()) {
            // Only a token that spells the whole word (or its start) counts.
            std::string piece = tok.piece(ids.front(), false);
            if (!piece.empty()) out.push_back(ids.front());
        }
    };
    for (std::string_view w : {"yes", "Yes", "YES", " yes", " Yes"}) add(yes, w);
    for (std::string_view w : {"no", "No", "NO", " no", " No"}) add(no, w);
    // A token shared by both lists (e.g. a lone space) tells nothing.
    std::vector<TokenId> shared;
    for (TokenId t : yes) {
        if (std::find(no.begin(), no.end(), t) != no.end()) shared.push_back(t);
    }
    std::erase_if(
        yes, [&](TokenId t) { return std::find(shared.begin(), shared.end(), t) != shared.end(); });
    std::erase_if(
        no, [&](TokenId t) { return std::find(shared.begin(), shared.end(), t) != shared.end(); });
    return {yes, no};
}

// P(yes) after each prompt: their common prefix processed once and shared, the rest of every
// prompt in one batch. -1 for all when the model has no yes/no tokens or the cache no room.
std::vector<double> p_yes_after(Assistant& assistant,
                                const std::vector<std::vector<TokenId>>& prompts) {
    const size_t count = prompts.size();
    std::vector<double> p_yes(count, -1);
    if (count == 0) return p_yes;
    auto [yes, no] = yes_no_tokens(assistant.model().tokenizer());
    if (yes.empty() || no.empty()) return p_yes;

    size_t common = prompts[0].size() - 1;
    for (const auto& p : prompts) {
        size_t k = 0;
        while (k < common && k + 1 < p.size() && p[k] == prompts[0][k]) ++k;
        common = k;
    }

    Context& ctx = assistant.context();
    assistant.forget_cache();
    KvCache& kv = ctx.kv_cache();
    size_t needed = common;
    for (const auto& p : prompts) needed += p.size() - common;
    if (static_cast<int64_t>(needed) > kv.n_free()) return p_yes;  // no room: skip the verifier

    Batch batch(std::max<size_t>(common, 1));
    for (size_t i = 0; i < common; ++i) batch.add(prompts[0][i], static_cast<Pos>(i), 0, false);
    if (!batch.empty()) ctx.decode(batch);
    for (size_t c = 1; c < count; ++c) kv.seq_copy(0, static_cast<SeqId>(c));

    batch.clear();
    std::vector<size_t> last_entry(count);
    for (size_t c = 0; c < count; ++c) {
        for (size_t i = common; i < prompts[c].size(); ++i) {
            bool last = i + 1 == prompts[c].size();
            if (last) last_entry[c] = batch.size();
            batch.add(prompts[c][i], static_cast<Pos>(i), static_cast<SeqId>(c), last);
        }
    }
    ctx.decode(batch);
    for (size_t c = 0; c < count; ++c) {
        auto logits = ctx.logits(last_entry[c]);
        // Softmax restricted to the yes and no tokens.
        float top = -INFINITY;
        for (TokenId t : yes) top = std::max(top, logits[static_cast<size_t>(t)]);
        for (TokenId t : no) top = std::max(top, logits[static_cast<size_t>(t)]);
        double sum_yes = 0, sum_no = 0;
        for (TokenId t : yes) sum_yes += std::exp(logits[static_cast<size_t>(t)] - top);
        for (TokenId t : no) sum_no += std::exp(logits[static_cast<size_t>(t)] - top);
        p_yes[c] = sum_yes / (sum_yes + sum_no);
    }
    assistant.forget_cache();
    return p_yes;
}

// The verifier's judgement of the first `count` candidates. After a solution of its own (the
// question solved greedily in `question_turns`), it is asked about each candidate in a second
// turn; without one, it judges each candidate beside that candidate's best chain, in one pass.
std::vector<double> verify(Assistant& assistant, std::span<const Message> question_turns,
                           const ChainReport* own_solution,
                           const std::vector<CandidateReport>& candidates,
                           const std::vector<ChainReport>& chains, size_t count) {
    const std::string& question = question_turns.back().content;
    std::vector<std::vector<TokenId>> prompts;
    for (size_t c = 0; c < count; ++c) {
        std::vector<Message> turns;
        if (own_solution) {
            turns.assign(question_turns.begin(), question_turns.end());
            // Its steps and its answer line, as the model writes a solution.
            std::string steps = reasoning_of(own_solution->text);
            if (!steps.empty()) steps += '\n';
            turns.push_back({"assistant", steps + "Answer: " + own_solution->answer.display});
            turns.push_back({"user", verdict_turn(candidates[c].answer.display)});
        } else {
            for (const auto& m : question_turns) {
                if (m.role == "system") turns.push_back(m);
            }
            turns.push_back({"user", verifier_turn(question, best_reasoning(candidates[c], chains),
                                                   candidates[c].answer.display)});
        }
        prompts.push_back(assistant.tokenize_prompt(assistant.render(turns)));
    }
    return p_yes_after(assistant, prompts);
}

// The verdict on one candidate from the verifier's "yes" probability (-1: not asked) and, when it
// solved the question itself, from whether the candidate equals its own answer. Both count the
// same: a model that compares well says "yes" exactly when they are equal, and for one that has
// not learnt to compare (the bundled demo model), its own careful solution still tells.
void judge(CandidateReport& candidate, double p_yes, const ChainReport* own_solution) {
    candidate.verifier_yes = p_yes;
    candidate.verifier = p_yes;
    if (!own_solution) return;
    const bool agrees = candidate.answer.key == own_solution->answer.key;
    candidate.agrees_with_verifier = agrees;
    const double equal = agrees ? 1.0 : 0.0;
    candidate.verifier = p_yes >= 0 ? (p_yes + equal) / 2 : equal;
}

struct Round {
    std::vector<ChainReport> chains;
    std::optional<ChainReport> verifier_solution;  // when asked for
    int64_t prompt_tokens = 0;
    // With keep_cells: what sequence i still holds in the cache (the prompt and the chain's
    // tokens, but for one sampled last), chains first, then the verifier's solution.
    std::vector<std::vector<TokenId>> held;
};

// The tokens of `prompt` + `generated` that sequence `seq` holds in the cache.
std::vector<TokenId> held_tokens(const KvCache& kv, SeqId seq, std::span<const TokenId> prompt,
                                 std::span<const TokenId> generated) {
    std::vector<TokenId> held(prompt.begin(), prompt.end());
    held.insert(held.end(), generated.begin(), generated.end());
    held.resize(std::min(held.size(), static_cast<size_t>(kv.seq_pos_max(seq) + 1)));
    return held;
}

// The chains of one round, sampled in one batched decode; with `verifier_solution`, one more
// sequence beside them solves the question greedily for the verifier (it does not vote).
// With `keep_cells`, the sequences stay in the cache for correct_chains.
Round sample_chains(Assistant& assistant, const std::vector<TokenId>& prompt,
                    const Settings& settings, int round, int first_index, uint64_t base_seed,
                    bool verifier_solution, bool keep_cells, const ContemplationHooks& hooks,
                    std::vector<ChainProgress>& progress, const std::atomic<bool>* cancel) {
    const ContemplateSettings& cs = settings.contemplate;
    const int n = std::clamp(cs.chains, 1, KvCache::kMaxSequences);
    verifier_solution = verifier_solution && n < KvCache::kMaxSequences;
    std::vector<GenerateOptions> options;
    std::vector<uint64_t> seeds;
    for (int i = 0; i < n + (verifier_solution ? 1 : 0); ++i) {
        GenerateOptions o = generate_options(settings.sampling);
        o.sampling.temperature = i < n ? cs.temperature : 0.0f;
        o.max_tokens = cs.think_tokens;
        o.stop.clear();
        seeds.push_back(base_seed + static_cast<uint64_t>(round) * 1000 + static_cast<uint64_t>(i));
        o.sampling.seed = seeds.back();
        o.cancel = cancel;
        o.keep_cells = keep_cells;
        options.push_back(std::move(o));
    }
    progress.assign(static_cast<size_t>(n), ChainProgress{});
    std::vector<std::string> partial(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        progress[static_cast<size_t>(i)].index = first_index + i;
        progress[static_cast<size_t>(i)].round = round;
    }

    assistant.forget_cache();
    const Tokenizer& tok = assistant.model().tokenizer();
    auto results = generate_parallel(
        assistant.context(), [&] { return token_text(tok); }, prompt, options,
        [&](int i, TokenId, std::string_view text) {
            if (i >= n) return;  // the verifier's own solution is not a chain
            auto& p = progress[static_cast<size_t>(i)];
            ++p.tokens;
            std::string& so_far = partial[static_cast<size_t>(i)];
            so_far += text;
            if (p.answer.empty() && so_far.find("Answer:") != std::string::npos &&
                text.find('\n') != std::string_view::npos) {
                p.answer = extract_answer(so_far).display;
            }
            if (hooks.on_progress) hooks.on_progress(progress);
        });

    Round out;
    out.prompt_tokens = static_cast<int64_t>(prompt.size());
    if (keep_cells) {
        for (size_t i = 0; i < results.size(); ++i)
            out.held.push_back(held_tokens(assistant.context().kv_cache(), static_cast<SeqId>(i),
                                           prompt, results[i].tokens));
    } else {
        assistant.forget_cache();
    }
    for (size_t i = 0; i < results.size(); ++i) {
        auto& r = results[i];
        ChainReport c;
        c.index = i < static_cast<size_t>(n) ? first_index + static_cast<int>(i) : -1;
        c.round = round;
        c.seed = seeds[i];
        c.text = r.text;
        c.stop_reason = r.stop_reason;
        c.tokens = static_cast<int64_t>(r.tokens.size());
        c.answer = extract_answer(c.text);
        if (i == static_cast<size_t>(n)) {
            out.verifier_solution = std::move(c);
            continue;
        }
        auto& p = progress[i];
        p.finished = true;
        p.answer = c.answer.display;
        out.chains.push_back(std::move(c));
    }
    if (hooks.on_progress) hooks.on_progress(progress);
    return out;
}

// The numbers written in `text` ("12", "3.5"), as written.
std::vector<std::string_view> numbers_in(std::string_view text) {
    std::vector<std::string_view> out;
    for (size_t i = 0; i < text.size();) {
        if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
            ++i;
            continue;
        }
        size_t end = i;
        while (end < text.size() && (std::isdigit(static_cast<unsigned char>(text[end])) ||
                                     (text[end] == '.' && end + 1 < text.size() &&
                                      std::isdigit(static_cast<unsigned char>(text[end + 1]))))) {
            ++end;
        }
        out.push_back(text.substr(i, end - i));
        i = end;
    }
    return out;
}

// Where a chain goes wrong in ways the calculator can tell, in order, each with the text to go
// on from: an equation that uses a number found neither in the question nor earlier in the chain
// (a misread quantity: that line is to be sampled again), or a false result (replaced by the
// exact value).
std::vector<std::string> find_slips(std::string_view question, const std::string& chain,
                                    std::span<const ArithmeticClaim> claims) {
    const auto given = numbers_in(question);
    std::vector<std::string> slips;
    for (const ArithmeticClaim& claim : claims) {
        const size_t newline = chain.rfind('\n', claim.offset);
        const std::string_view before(chain.data(), newline == std::string::npos ? 0 : newline + 1);
        const auto seen = numbers_in(before);
        const auto operands = numbers_in(claim.expression);
        const bool misread = std::any_of(operands.begin(), operands.end(), [&](std::string_view n) {
            return std::find(given.begin(), given.end(), n) == given.end() &&
                   std::find(seen.begin(), seen.end(), n) == seen.end();
        });
        if (misread) {
            slips.emplace_back(before);
        } else if (!claim.correct) {
            slips.push_back(chain.substr(0, claim.offset + 1) + " " + claim.actual + "\n");
        }
    }
    return slips;
}

// Tokens at the start of `a` that `b` starts with too.
size_t common_start(std::span<const TokenId> a, std::span<const TokenId> b) {
    return static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first -
                               a.begin());
}

// Generates every item's continuation in an empty cache: the common start of all prompts is
// read once, then as many items at a time as the context holds with all they may write (one that
// does not fit alone goes alone and stops where the context is full).
std::vector<GenerationResult> generate_afresh(Assistant& assistant,
                                              std::span<const Continuation> items) {
    const Tokenizer& tok = assistant.model().tokenizer();
    size_t common = items[0].prompt.size();
    for (const Continuation& item : items)
        common = std::min(common, common_start(item.prompt, items[0].prompt));
    std::vector<std::vector<TokenId>> own;
    std::vector<GenerateOptions> options;
    for (const Continuation& item : items) {
        own.emplace_back(item.prompt.begin() + static_cast<std::ptrdiff_t>(common),
                         item.prompt.end());
        options.push_back(item.options);
        options.back().keep_cells = false;
    }
    std::vector<GenerationResult> results;
    const int64_t n_ctx = assistant.context().n_ctx();
    for (size_t begin = 0; begin < items.size();) {
        size_t end = begin;
        int64_t cells = static_cast<int64_t>(common);
        while (end < items.size()) {
            cells += static_cast<int64_t>(own[end].size()) + options[end].max_tokens;
            if (end > begin && cells > n_ctx) break;
            ++end;
        }
        assistant.forget_cache();
        auto group = generate_parallel(
            assistant.context(), [&] { return token_text(tok); },
            std::span<const TokenId>(items[0].prompt).first(common),
            std::span<const std::vector<TokenId>>(own).subspan(begin, end - begin),
            std::span<const GenerateOptions>(options).subspan(begin, end - begin));
        for (auto& r : group) results.push_back(std::move(r));
        begin = end;
    }
    assistant.forget_cache();
    return results;
}

// The exact check can do more than penalise: a chain that slipped on one step usually knows what
// to do with the right number. The chain is cut at its first slip, put right, and the
// model goes on from there; at most kMaxCorrections times. The chains that slipped are put right
// together, one batched generation a pass, and each goes on as it would alone (the same tokens,
// seed and sampling). Chain i is sequence i of the cache, which holds held[i] (sample_chains
// kept them): a corrected prompt is read from where it leaves what the sequence holds, so only
// the corrected line is new. When the cache has no room for that, they start afresh
// (generate_afresh).
void correct_chains(Assistant& assistant, const std::string& prompt_text, std::string_view question,
                    std::span<ChainReport* const> chains, std::span<const float> temperatures,
                    std::vector<std::vector<TokenId>> held, const Settings& settings,
                    const std::atomic<bool>* cancel) {
    const ContemplateSettings& cs = settings.contemplate;
    const Tokenizer& tok = assistant.model().tokenizer();
    auto make_text = [&] { return token_text(tok); };
    KvCache& kv = assistant.context().kv_cache();
    bool in_cache = held.size() == chains.size();
    if (!in_cache) assistant.forget_cache();
    for (int k = 0; k < kMaxCorrections && !(cancel && cancel->load()); ++k) {
        std::vector<size_t> slipped;  // indexes into chains
        std::vector<std::string> fixed;
        std::vector<Continuation> items;
        for (size_t i = 0; i < chains.size(); ++i) {
            ChainReport& c = *chains[i];
            std::vector<std::string> slips =
                c.tokens < cs.think_tokens ? find_slips(question, c.text, check_arithmetic(c.text))
                                           : std::vector<std::string>{};
            if (slips.empty()) {
                // Done: its cells are not needed any more.
                if (in_cache) kv.seq_remove(static_cast<SeqId>(i));
                continue;
            }
            Continuation item;
            item.seq = static_cast<SeqId>(i);
            item.prompt = assistant.tokenize_prompt(prompt_text + slips.front());
            item.options = generate_options(settings.sampling);
            item.options.sampling.temperature = temperatures[i];
            item.options.sampling.seed = c.seed + 7919 * static_cast<uint64_t>(k + 1);
            item.options.max_tokens = static_cast<int32_t>(cs.think_tokens - c.tokens);
            item.options.stop.clear();
            item.options.cancel = cancel;
            item.options.keep_cells = true;
            if (in_cache) {
                // At least one token is read: its logits start the correction.
                item.held = std::min(common_start(item.prompt, held[i]), item.prompt.size() - 1);
                kv.seq_remove(item.seq, static_cast<Pos>(item.held), -1);
            }
            items.push_back(std::move(item));
            fixed.push_back(std::move(slips.front()));
            slipped.push_back(i);
        }
        if (slipped.empty()) break;

        int64_t room = 0;  // cells the corrections may need beyond what stays
        for (const Continuation& item : items)
            room += static_cast<int64_t>(item.prompt.size() - item.held) + item.options.max_tokens;
        if (in_cache && room > kv.n_free()) {
            assistant.forget_cache();
            in_cache = false;
        }
        const std::vector<GenerationResult> results =
            in_cache ? generate_continuations(assistant.context(), make_text, items)
                     : generate_afresh(assistant, items);
        for (size_t j = 0; j < slipped.size(); ++j) {
            const GenerationResult& r = results[j];
            ChainReport& c = *chains[slipped[j]];
            ++c.corrections;
            c.text = fixed[j] + r.text;
            c.stop_reason = r.stop_reason;
            c.tokens += static_cast<int64_t>(r.tokens.size());
            if (in_cache)
                held[slipped[j]] = held_tokens(kv, items[j].seq, items[j].prompt, r.tokens);
        }
    }
    assistant.forget_cache();
    for (ChainReport* c : chains) c->answer = extract_answer(c->text);
}

void score_chain(ChainReport& c, std::string_view question, const ContemplateSettings& cs,
                 const ContemplationHooks& hooks) {
    if (c.answer.empty()) {
        c.weight = 0;
        return;
    }
    c.weight = 1.0;
    if (cs.arithmetic_check) {
        c.claims = check_arithmetic(c.text);
        c.false_claims = static_cast<int>(find_slips(question, c.text, c.claims).size());
        c.weight *= std::pow(kFalseStepFactor, c.false_claims);
    }
    if (c.stop_reason == StopReason::max_tokens || c.stop_reason == StopReason::context_full)
        c.weight *= 0.5;
    if (hooks.check) {
        c.custom_check = std::max(0.0, hooks.check(c));
        c.weight *= c.custom_check;
    }
}

std::vector<CandidateReport> tally(const std::vector<ChainReport>& chains, bool vote) {
    std::map<std::string, CandidateReport> by_key;
    std::vector<std::string> order;
    double total = 0;
    for (const auto& c : chains) {
        if (c.answer.empty()) continue;
        auto [it, inserted] = by_key.try_emplace(c.answer.key);
        if (inserted) {
            it->second.answer = c.answer;
            order.push_back(c.answer.key);
        }
        it->second.chains.push_back(c.index);
        // Without the vote, a candidate is as strong as its best chain.
        it->second.vote_share =
            vote ? it->second.vote_share + c.weight : std::max(it->second.vote_share, c.weight);
        total += c.weight;
    }
    std::vector<CandidateReport> out;
    for (const auto& key : order) {
        CandidateReport c = std::move(by_key[key]);
        if (vote) c.vote_share = total > 0 ? c.vote_share / total : 0;
        out.push_back(std::move(c));
    }
    return out;
}

void rank(std::vector<CandidateReport>& candidates) {
    for (auto& c : candidates) {
        // The verifier scales the vote; it cannot carry an answer no chain supports. A candidate
        // it did not judge counts as one it has no opinion on, so that it ranks neither above
        // nor below the judged ones for want of a verdict.
        const double verdict = c.verifier >= 0 ? c.verifier : 0.5;
        c.score = c.vote_share * (0.25 + verdict);
    }
    std::stable_sort(
        candidates.begin(), candidates.end(),
        [](const CandidateReport& a, const CandidateReport& b) { return a.score > b.score; });
}

}  // namespace

nlohmann::json ContemplationResult::verifier_solution_json() const {
    if (!verifier_solution) return nullptr;
    return {{"text", verifier_solution->text},
            {"answer", verifier_solution->answer.display},
            {"corrections", verifier_solution->corrections},
            {"tokens", verifier_solution->tokens}};
}

nlohmann::json ContemplationResult::to_json() const {
    nlohmann::json j;
    j["answer"] = answer.display;
    j["answer_kind"] = std::string(answer_kind_name(answer.kind));
    j["justification"] = justification;
    j["justified_by"] = justified_by >= 0 ? nlohmann::json(justified_by) : nlohmann::json(nullptr);
    j["confidence"] = confidence;
    j["rounds"] = rounds;
    j["cancelled"] = cancelled;
    j["seconds"] = seconds;
    j["prompt_tokens"] = prompt_tokens;
    j["generated_tokens"] = generated_tokens;
    nlohmann::json cs = nlohmann::json::array();
    for (const auto& c : chains) {
        nlohmann::json claims = nlohmann::json::array();
        for (const auto& a : c.claims) {
            claims.push_back({{"expression", a.expression},
                              {"claimed", a.claimed},
                              {"actual", a.actual},
                              {"correct", a.correct}});
        }
        cs.push_back({{"index", c.index},
                      {"round", c.round},
                      {"seed", c.seed},
                      {"text", c.text},
                      {"answer", c.answer.display},
                      {"answer_key", c.answer.key},
                      {"answer_source", c.answer.source},
                      {"arithmetic", claims},
                      {"false_steps", c.false_claims},
                      {"corrections", c.corrections},
                      {"custom_check", c.custom_check},
                      {"weight", c.weight},
                      {"tokens", c.tokens},
                      {"stop_reason", stop_reason_name(c.stop_reason)}});
    }
    j["chains"] = cs;
    j["verifier_solution"] = verifier_solution_json();
    nlohmann::json votes = nlohmann::json::array();
    for (const auto& c : candidates) {
        votes.push_back(
            {{"answer", c.answer.display},
             {"chains", c.chains},
             {"solution", best_reasoning(c, chains)},
             {"vote_share", c.vote_share},
             {"verifier", c.verifier < 0 ? nlohmann::json() : nlohmann::json(c.verifier)},
             {"verifier_yes",
              c.verifier_yes < 0 ? nlohmann::json() : nlohmann::json(c.verifier_yes)},
             {"agrees_with_verifier",
              c.agrees_with_verifier ? nlohmann::json(*c.agrees_with_verifier) : nlohmann::json()},
             {"score", c.score}});
    }
    j["votes"] = votes;
    return j;
}

ContemplationResult contemplate(Assistant& assistant, std::span<const Message> conversation,
                                const Settings& settings, const ContemplationHooks& hooks,
                                const std::atomic<bool>* cancel) {
    if (conversation.empty() || conversation.back().role != "user")
        fail("contemplate: the conversation must end with a question");
    const auto start = Clock::now();
    const ContemplateSettings& cs = settings.contemplate;
    const std::string question = conversation.back().content;
    const uint64_t base_seed =
        settings.sampling.seed ? *settings.sampling.seed : std::random_device{}();

    ContemplationResult result;
    std::vector<ChainProgress> progress;
    std::vector<Message> messages = reasoning_conversation(conversation, question);
    const std::vector<Message> question_turns = messages;  // as the verifier's solution saw them
    for (int round = 0; round <= cs.rounds; ++round) {
        if (round > 0)
            messages.back().content = refinement_turn(question, result.candidates, result.chains);
        if (hooks.on_stage) hooks.on_stage(round, round == 0 ? "sampling" : "refining");
        const std::string prompt_text = assistant.render(messages);
        auto prompt = assistant.tokenize_prompt(prompt_text);
        Round r = sample_chains(assistant, prompt, settings, round,
                                static_cast<int>(result.chains.size()), base_seed,
                                cs.verifier && cs.verifier_solves && round == 0,
                                cs.arithmetic_check, hooks, progress, cancel);
        result.prompt_tokens += r.prompt_tokens;
        if (cs.arithmetic_check) {
            if (hooks.on_stage) hooks.on_stage(round, "correcting");
            // The verifier's own solution is put right too, greedily as it was sampled.
            std::vector<ChainReport*> chains;
            std::vector<float> temperatures;
            for (auto& c : r.chains) chains.push_back(&c), temperatures.push_back(cs.temperature);
            if (r.verifier_solution)
                chains.push_back(&*r.verifier_solution), temperatures.push_back(0.0f);
            correct_chains(assistant, prompt_text, question, chains, temperatures,
                           std::move(r.held), settings, cancel);
        }
        if (r.verifier_solution) {
            result.generated_tokens += r.verifier_solution->tokens;
            result.verifier_solution = std::move(r.verifier_solution);
        }
        for (auto& c : r.chains) {
            score_chain(c, question, cs, hooks);
            result.generated_tokens += c.tokens;
            result.chains.push_back(std::move(c));
        }
        result.rounds = round + 1;
        result.cancelled = cancel && cancel->load();
        result.candidates = tally(result.chains, cs.vote);
        if (cs.verifier && !result.cancelled && !result.candidates.empty()) {
            if (hooks.on_stage) hooks.on_stage(round, "verifying");
            // Candidates with the most support first; the verifier sees at most kMaxVerified.
            std::stable_sort(
                result.candidates.begin(), result.candidates.end(),
                [](const auto& a, const auto& b) { return a.vote_share > b.vote_share; });
            size_t count = std::min(result.candidates.size(), kMaxVerified);
            // A verifier's solution without an answer has nothing to compare with.
            const ChainReport* own =
                result.verifier_solution && !result.verifier_solution->answer.empty()
                    ? &*result.verifier_solution
                    : nullptr;
            auto p =
                verify(assistant, question_turns, own, result.candidates, result.chains, count);
            // Beyond the first `count`, the model is not asked, but its own answer still tells.
            for (size_t i = 0; i < result.candidates.size(); ++i)
                judge(result.candidates[i], i < count ? p[i] : -1, own);
        }
        rank(result.candidates);
        if (result.cancelled || result.candidates.empty()) {
            if (result.cancelled) break;
            continue;  // no chain gave an answer: another round may
        }
        const auto& top = result.candidates.front();
        // A split vote is settled too when the verifier's own solution reached its leader.
        bool settled = !cs.vote || top.vote_share >= cs.agreement_threshold ||
                       result.candidates.size() == 1 || top.agrees_with_verifier.value_or(false);
        if (settled) break;
    }

    if (!result.candidates.empty()) {
        const CandidateReport& top = result.candidates.front();
        result.answer = top.answer;
        result.confidence =
            top.verifier >= 0 ? (top.vote_share + top.verifier) / 2 : top.vote_share;
        if (!cs.vote)
            result.confidence = top.verifier >= 0 ? top.verifier : std::min(1.0, top.vote_share);
        const ChainReport* best = nullptr;
        for (int i : top.chains) {
            const ChainReport& c = result.chains[static_cast<size_t>(i)];
            if (!best || c.weight > best->weight ||
                (c.weight == best->weight && c.text.size() < best->text.size()))
                best = &c;
        }
        if (best) {
            result.justification = reasoning_of(best->text);
            result.justified_by = best->index;
            result.confidence *= std::min(1.0, best->weight);
        }
    }
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

}  // namespace ponder
