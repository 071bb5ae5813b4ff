// `ponder convert DIR|FILE.gguf -o OUT.gguf [--type q8_0]`: a Hugging Face model directory to
// GGUF, or a GGUF file to another weight type.
#include <cstdio>
#include <filesystem>
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
    const ConvertOptions options{parse_file_type(opt.type), opt.name};
    if (std::filesystem::is_directory(opt.input)) {
        convert_huggingface_to_gguf(opt.input, opt.output, options);
    } else {
        convert_gguf(opt.input, opt.output, options);
    }
    // Matrices whose rows are not whole blocks of the type were written in F16: the counts
    // show it.
    std::fprintf(stderr, "ponder: wrote %s (%s)\n", opt.output.c_str(),
                 tensor_types_text(GgufFile::open(opt.output)).c_str());
    return 0;
}

}  // namespace

void add_convert_command(CLI::App& app, CommandAction& action) {
    auto opt = std::make_shared<ConvertCommandOptions>();
    CLI::App* cmd = app.add_subcommand(
        "convert",
        "Convert a Hugging Face model directory to GGUF, or a GGUF file to another type");
    cmd->add_option("input", opt->input,
                    "Directory with config.json, model.safetensors, tokenizer.json; or a GGUF file")
        ->required()
        ->check(CLI::ExistingPath);
    cmd->add_option("-o,--output", opt->output, "GGUF file to write")->required();
    cmd->add_option("--type", opt->type,
                    "Type of the weight matrices (f32, f16, bf16, q8_0, q4_0, q4_k, q6_k, ...) "
                    "or llama.cpp's mixes q4_k_m, q5_k_m; as with llama-quantize, the output "
                    "matrix gets Q6_K in quantized types other than q8_0")
        ->capture_default_str();
    cmd->add_option("--name", opt->name,
                    "general.name (default: the directory's name, or the GGUF file's own)");
    cmd->callback([opt, &action] { action = [opt] { return run_convert(*opt); }; });
}

}  // namespace ponder::cli
