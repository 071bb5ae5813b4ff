// `ponder convert DIR -o OUT.gguf [--type q8_0]`: a Hugging Face model directory to GGUF.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "engine/convert.h"
#include "engine/error.h"

namespace ponder::cli {

namespace {

struct ConvertCommandOptions {
    std::string input;
    std::string output;
    std::string type = "q8_0";
    std::string name;
};

int run_convert(const ConvertCommandOptions& opt) {
    auto type = ggml_type_from_name(opt.type);
    if (!type) fail("--type: unknown tensor type '", opt.type, "'");
    convert_huggingface_to_gguf(opt.input, opt.output, ConvertOptions{*type, opt.name});
    std::fprintf(stderr, "ponder: wrote %s\n", opt.output.c_str());
    return 0;
}

}  // namespace

void add_convert_command(CLI::App& app, CommandAction& action) {
    auto opt = std::make_shared<ConvertCommandOptions>();
    CLI::App* cmd = app.add_subcommand("convert", "Convert a Hugging Face model directory to GGUF");
    cmd->add_option("input", opt->input,
                    "Directory with config.json, model.safetensors, tokenizer.json")
        ->required()
        ->check(CLI::ExistingDirectory);
    cmd->add_option("-o,--output", opt->output, "GGUF file to write")->required();
    cmd->add_option("--type", opt->type,
                    "Type of the weight matrices: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k, ...")
        ->capture_default_str();
    cmd->add_option("--name", opt->name, "general.name (default: the directory's name)");
    cmd->callback([opt, &action] { action = [opt] { return run_convert(*opt); }; });
}

}  // namespace ponder::cli
