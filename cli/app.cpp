#include "cli/app.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

#include "ponder_version.h"

namespace ponder::cli {

namespace {

std::string version_line() {
    return std::string("ponder ") + PONDER_VERSION + " (" + PONDER_GIT_REVISION + ")";
}

}  // namespace

int run(int argc, char** argv) {
    CLI::App app{"ponder: ask a local language model, quickly or after contemplating", "ponder"};
    app.set_version_flag("-V,--version", version_line());
    app.get_formatter()->column_width(34);

    std::string model;
    app.add_option("-m,--model", model, "GGUF file, Hugging Face directory, or model name")
        ->group("Model")
        ->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    std::fprintf(stderr, "ponder: nothing to do yet\n");
    return 1;
}

}  // namespace ponder::cli
