// `ponder template (--model F | --template FILE) --messages conv.json [--tools tools.json]`:
// renders a conversation with a chat template, exactly as the model would see it.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "engine/chat_template.h"
#include "engine/error.h"
#include "engine/model_files.h"
#include "engine/tokenizer.h"

namespace ponder::cli {

namespace {

struct TemplateOptions {
    std::string model;
    std::string template_file;
    std::string messages_file;
    std::string tools_file;
    bool no_generation_prompt = false;
    std::string bos = "<s>";
    std::string eos = "</s>";
    std::string date;  // YYYY-MM-DD for strftime_now, or empty for today
};

// Noon of a YYYY-MM-DD day in local time (strftime_now formats local time; noon keeps the
// day whatever the daylight-saving offset).
std::chrono::system_clock::time_point parse_date(const std::string& text) {
    std::tm tm{};
    char rest = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &rest) !=
            3 ||
        tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31)
        fail("--date ", text, ": expected a day as YYYY-MM-DD");
    const int month = tm.tm_mon, day = tm.tm_mday;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_hour = 12;
    tm.tm_isdst = -1;
    const std::time_t t = std::mktime(&tm);
    if (t == -1 || tm.tm_mon + 1 != month || tm.tm_mday != day)
        fail("--date ", text, ": no such day");
    return std::chrono::system_clock::from_time_t(t);
}

std::string read_all(const std::string& path) {
    if (path == "-") return text_or_stdin("-");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, ": cannot read file");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

nlohmann::ordered_json read_json(const std::string& path, const char* what) {
    auto j = nlohmann::ordered_json::parse(read_all(path), nullptr, false);
    if (j.is_discarded()) fail(path, ": ", what, " is not valid JSON");
    return j;
}

int run_template(const TemplateOptions& opt) {
    std::string source;
    ChatTemplateOptions render;
    render.bos_token = opt.bos;
    render.eos_token = opt.eos;
    if (!opt.date.empty()) render.now = parse_date(opt.date);
    if (!opt.model.empty()) {
        auto found = model_chat_template(opt.model);
        if (!found) fail(opt.model, ": the model has no chat template (use --template FILE)");
        source = *found;
        Tokenizer tokenizer = Tokenizer::from_path(opt.model);
        if (auto bos = tokenizer.bos()) render.bos_token = std::string(tokenizer.token_text(*bos));
        if (auto eos = tokenizer.eos()) render.eos_token = std::string(tokenizer.token_text(*eos));
    } else {
        source = read_all(opt.template_file);
    }
    auto messages = read_json(opt.messages_file, "the conversation");
    // Accept either a bare list of messages or {"messages": [...], "tools": [...]}.
    if (messages.is_object()) {
        if (messages.contains("tools") && opt.tools_file.empty()) render.tools = messages["tools"];
        if (messages.contains("add_generation_prompt")) {
            render.add_generation_prompt = messages["add_generation_prompt"].get<bool>();
        }
        messages = messages.value("messages", nlohmann::ordered_json::array());
    }
    if (!messages.is_array()) fail(opt.messages_file, ": expected a JSON array of messages");
    if (!opt.tools_file.empty()) render.tools = read_json(opt.tools_file, "the tool list");
    if (opt.no_generation_prompt) render.add_generation_prompt = false;
    std::string prompt = ChatTemplate::parse(source).render(messages, render);
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    return 0;
}

}  // namespace

void add_template_command(CLI::App& app, CommandAction& action) {
    auto opt = std::make_shared<TemplateOptions>();
    CLI::App* cmd = app.add_subcommand("template", "Render a conversation with a chat template");
    auto* model = cmd->add_option("-m,--model", opt->model,
                                  "Use this model's chat template (GGUF or HF directory)");
    auto* file = cmd->add_option("--template", opt->template_file, "A Jinja chat template file");
    model->excludes(file);
    cmd->add_option("--messages", opt->messages_file,
                    "Conversation: a JSON array of {role, content} (- for stdin)")
        ->required();
    cmd->add_option("--tools", opt->tools_file, "Tool definitions: a JSON array");
    cmd->add_flag("--no-generation-prompt", opt->no_generation_prompt,
                  "Do not open the assistant's turn");
    cmd->add_option("--bos", opt->bos, "bos_token for --template")->capture_default_str();
    cmd->add_option("--eos", opt->eos, "eos_token for --template")->capture_default_str();
    cmd->add_option("--date", opt->date,
                    "Render as on this day (YYYY-MM-DD): what strftime_now() sees");
    cmd->callback([opt, &action, model, file] {
        if (!*model && !*file) throw CLI::RequiredError("--model or --template");
        action = [opt] { return run_template(*opt); };
    });
}

}  // namespace ponder::cli
