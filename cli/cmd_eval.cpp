// `ponder eval --data FILE.jsonl [--mode quick,contemplate] [--chains N] [--ablations] [--json]`:
// accuracy, mean wall time and tokens per question of each mode on one question/answer set, so
// that quick answers and contemplation are compared on the same questions in one run.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "cli/model_choice.h"
#include "engine/error.h"
#include "reason/answer.h"
#include "reason/assistant.h"
#include "reason/calibration.h"
#include "reason/contemplate.h"
#include "reason/interrupt.h"

namespace ponder::cli {

namespace {

struct EvalOptions {
    std::string model;
    std::string data;
    std::vector<std::string> modes{"quick", "contemplate"};
    bool ablations = false;
    int chains = 5;
    int rounds = 2;
    int think_tokens = 256;
    float quick_temp = 0;
    float chain_temp = ContemplateSettings{}.temperature;
    int limit = 0;
    uint64_t seed = 1;
    bool json = false;
    bool quiet = false;
};

struct Item {
    std::string question;
    std::string answer;
};

struct ModeRun {
    std::string name;  // as reported
    bool contemplate = false;
    Settings settings;
    int correct = 0;
    int answered = 0;
    double seconds = 0;
    int64_t tokens = 0;
    // Contemplation: each answer's confidence and whether it is right.
    std::vector<Graded> graded{};
    nlohmann::json per_question = nlohmann::json::array();
};

nlohmann::json optional_json(std::optional<double> v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

std::vector<Item> read_items(const std::string& path, int limit) {
    std::ifstream in(path);
    if (!in) fail(path, ": cannot read the evaluation set");
    std::vector<Item> items;
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("question") ||
            !j.contains("answer")) {
            fail(path, ":", line_no, ": expected a JSON object with \"question\" and \"answer\"");
        }
        const auto& a = j["answer"];
        items.push_back(
            {j["question"].get<std::string>(), a.is_string() ? a.get<std::string>() : a.dump()});
        if (limit > 0 && static_cast<int>(items.size()) == limit) break;
    }
    if (items.empty()) fail(path, ": no questions");
    return items;
}

std::vector<ModeRun> plan(const EvalOptions& opt) {
    std::vector<ModeRun> runs;
    Settings base;
    base.sampling.seed = opt.seed;
    base.contemplate.chains = opt.chains;
    base.contemplate.rounds = opt.rounds;
    base.contemplate.think_tokens = opt.think_tokens;
    base.contemplate.temperature = opt.chain_temp;
    for (const auto& mode : opt.modes) {
        if (mode == "quick") {
            ModeRun r{"quick", false, base};
            r.settings.sampling.temperature = opt.quick_temp;
            r.settings.sampling.max_tokens = opt.think_tokens;
            runs.push_back(r);
        } else if (mode == "contemplate") {
            runs.push_back({"contemplate (" + std::to_string(opt.chains) +
                                (opt.chains == 1 ? " chain)" : " chains)"),
                            true, base});
            if (opt.ablations) {
                ModeRun no_check{"  without arithmetic check", true, base};
                no_check.settings.contemplate.arithmetic_check = false;
                ModeRun no_verifier{"  without verifier", true, base};
                no_verifier.settings.contemplate.verifier = false;
                ModeRun one_pass{"  verifier without its own solution", true, base};
                one_pass.settings.contemplate.verifier_solves = false;
                ModeRun no_vote{"  without vote (best chain)", true, base};
                no_vote.settings.contemplate.vote = false;
                // The vote and the verifier's own answer can stand in for each other; this
                // shows what the vote adds where the verifier does not.
                ModeRun neither{"  without verifier or vote", true, base};
                neither.settings.contemplate.verifier = false;
                neither.settings.contemplate.vote = false;
                ModeRun bare{"  without any check or vote", true, base};
                bare.settings.contemplate.arithmetic_check = false;
                bare.settings.contemplate.verifier = false;
                bare.settings.contemplate.vote = false;
                runs.insert(runs.end(), {no_check, no_verifier, one_pass, no_vote, neither, bare});
            }
        } else {
            fail("--mode: unknown mode '", mode, "' (quick or contemplate)");
        }
    }
    return runs;
}

int run_eval(const EvalOptions& opt, const std::optional<Config>& config) {
    auto items = read_items(opt.data, opt.limit);
    auto runs = plan(opt);
    ModelChoice choice = choose_configured_model(opt.model, config);
    auto model = load_model(choice);
    Assistant assistant(
        model, AssistantOptions{.context = 0, .extra_cells = opt.chains * opt.think_tokens});
    install_interrupt_handler();
    clear_interrupt();
    const bool progress = !opt.quiet && isatty(STDERR_FILENO);

    for (auto& run : runs) {
        for (size_t q = 0; q < items.size() && !interrupted(); ++q) {
            if (progress)
                std::fprintf(stderr, "\r\033[K%s: %zu/%zu", run.name.c_str(), q + 1, items.size());
            const Item& item = items[q];
            std::vector<Message> conversation{{"user", item.question}};
            auto start = std::chrono::steady_clock::now();
            Answer got;
            int64_t tokens = 0;
            nlohmann::json how;  // the reply, or the whole contemplation trace
            double confidence = 0;
            if (run.contemplate) {
                auto r = contemplate(assistant, conversation, run.settings, {}, &interrupt_flag());
                got = r.answer;
                tokens = r.generated_tokens;
                confidence = r.confidence;
                if (opt.json) how = r.to_json();
            } else {
                Reply reply =
                    assistant.reply(conversation, run.settings.sampling, {}, &interrupt_flag());
                got = extract_answer(reply.text);
                tokens = reply.timings.generated_tokens;
                if (opt.json) how = reply.text;
            }
            double seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            bool correct = !got.empty() && got.key == normalize_answer(item.answer).key;
            run.correct += correct;
            run.answered += !got.empty();
            run.seconds += seconds;
            run.tokens += tokens;
            if (run.contemplate) run.graded.push_back({confidence, correct});
            run.per_question.push_back({{"question", item.question},
                                        {"expected", item.answer},
                                        {"answer", got.display},
                                        {"correct", correct},
                                        {"seconds", seconds},
                                        {"tokens", tokens}});
            if (opt.json) run.per_question.back()[run.contemplate ? "trace" : "text"] = how;
        }
    }
    if (progress) std::fputs("\r\033[K", stderr);
    if (interrupted()) fail("interrupted");

    const double n = static_cast<double>(items.size());
    if (opt.json) {
        nlohmann::json out = {
            {"data", opt.data},
            {"model", choice.path.empty() ? kBundledModelName : choice.path.string()},
            {"questions", items.size()},
            {"modes", nlohmann::json::array()}};
        for (const auto& r : runs) {
            out["modes"].push_back({{"mode", r.name.substr(r.name.find_first_not_of(' '))},
                                    {"settings", settings_to_json(r.settings)},
                                    {"accuracy", r.correct / n},
                                    {"correct", r.correct},
                                    {"answered", r.answered},
                                    {"mean_seconds", r.seconds / n},
                                    {"mean_tokens", static_cast<double>(r.tokens) / n},
                                    {"brier_score", optional_json(brier_score(r.graded))},
                                    {"confidence_auroc", optional_json(confidence_auroc(r.graded))},
                                    {"results", r.per_question}});
        }
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    std::printf("%zu questions from %s\n\n", items.size(), opt.data.c_str());
    std::printf("%-34s %16s %11s %16s %6s %6s\n", "mode", "accuracy", "s/question",
                "tokens/question", "Brier", "AUROC");
    auto figure = [](std::optional<double> v) {
        char buf[16] = "-";
        if (v) std::snprintf(buf, sizeof buf, "%.3f", *v);
        return std::string(buf);
    };
    for (const auto& r : runs) {
        char acc[32];
        std::snprintf(acc, sizeof acc, "%.1f%% (%d)", 100.0 * r.correct / n, r.correct);
        std::printf("%-34s %16s %11.3f %16.1f %6s %6s\n", r.name.c_str(), acc, r.seconds / n,
                    static_cast<double>(r.tokens) / n, figure(brier_score(r.graded)).c_str(),
                    figure(confidence_auroc(r.graded)).c_str());
    }
    std::printf(
        "\nBrier: mean squared gap between confidence and outcome (lower is better). AUROC: how\n"
        "often a right answer got more confidence than a wrong one (0.5: the confidence says\n"
        "nothing).\n");
    return 0;
}

}  // namespace

void add_eval_command(CLI::App& app, CommandAction& action, const std::optional<Config>& config) {
    auto opt = std::make_shared<EvalOptions>();
    CLI::App* cmd = app.add_subcommand(
        "eval", "Measure accuracy of quick and contemplating modes on a question set");
    cmd->add_option("--data", opt->data, "JSON lines: {\"question\": ..., \"answer\": ...}")
        ->required()
        ->type_name("FILE");
    cmd->add_option("-m,--model", opt->model, "Model (default as for questions)")
        ->type_name("PATH|NAME");
    cmd->add_option("--mode", opt->modes, "Modes to run, in order")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_flag("--ablations", opt->ablations,
                  "Also run contemplation with each check and the vote disabled");
    cmd->add_option("--chains", opt->chains, "Chains per contemplation")
        ->capture_default_str()
        ->check(CLI::Range(1, 64));
    cmd->add_option("--rounds", opt->rounds, "Refinement rounds")
        ->capture_default_str()
        ->check(CLI::Range(0, 8));
    cmd->add_option("--think-tokens", opt->think_tokens, "Most tokens per answer or chain")
        ->capture_default_str();
    cmd->add_option("--chain-temp", opt->chain_temp, "Sampling temperature of the chains")
        ->capture_default_str();
    cmd->add_option("--quick-temp", opt->quick_temp, "Sampling temperature of quick answers")
        ->capture_default_str();
    cmd->add_option("--limit", opt->limit, "Only the first N questions (0: all)")
        ->capture_default_str();
    cmd->add_option("--seed", opt->seed, "Random seed")->capture_default_str();
    cmd->add_flag("--json", opt->json, "Print one JSON object with every answer");
    cmd->add_flag("-q,--quiet", opt->quiet, "No progress on stderr");
    cmd->callback(
        [opt, &action, &config] { action = [opt, &config] { return run_eval(*opt, config); }; });
}

}  // namespace ponder::cli
