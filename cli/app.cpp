#include "cli/app.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <iostream>
#include <iterator>
#include <string>

#include "cli/commands.h"
#include "engine/error.h"
#include "ponder_version.h"

namespace ponder::cli {

namespace {

std::string version_line() {
    return std::string("ponder ") + PONDER_VERSION + " (" + PONDER_GIT_REVISION + ")";
}

}  // namespace

std::string text_or_stdin(const std::string& argument) {
    if (argument != "-") return argument;
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

int run(int argc, char** argv) {
    CLI::App app{"ponder: ask a local language model, quickly or after contemplating", "ponder"};
    app.set_version_flag("-V,--version", version_line());
    app.get_formatter()->column_width(34);
    app.require_subcommand(0, 1);

    std::string model;
    app.add_option("-m,--model", model, "GGUF file, Hugging Face directory, or model name")
        ->group("Model")
        ->capture_default_str();

    CommandAction action;
    add_info_command(app, action);
    add_logs_command(app, action);
    add_tokenize_command(app, action);
    add_template_command(app, action);
    add_logits_command(app, action);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    try {
        if (action) return action();
        std::fprintf(stderr, "ponder: nothing to do yet\n");
        return 1;
    } catch (const Error& e) {
        std::fprintf(stderr, "ponder: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ponder: internal error: %s\n", e.what());
        return 1;
    }
}

}  // namespace ponder::cli
