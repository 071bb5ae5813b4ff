#include "reason/builtin_tools.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "engine/error.h"
#include "reason/calculator.h"

namespace ponder {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

constexpr size_t kListLimit = 500;

std::string string_argument(const json& arguments, const char* name,
                            const char* fallback = nullptr) {
    auto it = arguments.find(name);
    if (it == arguments.end() || it->is_null()) {
        if (fallback) return fallback;
        fail("missing argument \"", name, "\"");
    }
    if (!it->is_string()) fail("argument \"", name, "\" must be a string");
    return it->get<std::string>();
}

json path_schema(const char* description) {
    return {{"type", "object"},
            {"properties", {{"path", {{"type", "string"}, {"description", description}}}}},
            {"required", json::array({"path"})}};
}

// The path as the model should see it: relative to the working directory when inside it.
std::string shown(const fs::path& path, const ReadableDirs& access) {
    fs::path resolved = resolve_path(path);
    if (path_inside(resolved, access.working_dir())) {
        fs::path relative = resolved.lexically_relative(access.working_dir());
        return relative.empty() ? "." : relative.string();
    }
    return resolved.string();
}

void check_readable(const fs::path& path, const ReadableDirs& access) {
    if (!access.allows(path)) {
        std::string dirs;
        for (const auto& d : access.dirs()) dirs += (dirs.empty() ? "" : ", ") + d.string();
        fail(path.string(), " is outside the readable directories (", dirs, ")");
    }
}

}  // namespace

Tool calculator_tool() {
    Tool tool;
    tool.definition.name = "calculator";
    tool.definition.description =
        "Evaluate an arithmetic expression exactly: + - * / ^, parentheses, decimals and "
        "fractions.";
    tool.definition.parameters = {
        {"type", "object"},
        {"properties",
         {{"expression", {{"type", "string"}, {"description", "e.g. (17*23 + 4) / 3"}}}}},
        {"required", json::array({"expression"})}};
    tool.run = [](const json& arguments) {
        Rational value = evaluate_expression(string_argument(arguments, "expression"));
        std::string text = value.to_string();
        if (!value.is_integer() && text.find('/') != std::string::npos) {
            char approx[64];
            std::snprintf(approx, sizeof approx, " (about %.10g)", value.to_double());
            text += approx;
        }
        return text;
    };
    return tool;
}

std::vector<Tool> file_tools(ReadableDirs access) {
    auto shared = std::make_shared<const ReadableDirs>(std::move(access));
    Tool list;
    list.definition.name = "list_files";
    list.definition.description =
        "List the files and folders in a folder (\".\" is the working directory). Folders end in "
        "/.";
    list.definition.parameters = path_schema("folder to list, e.g. \".\" or \"docs\"");
    list.definition.parameters["required"] = json::array();
    list.run = [shared](const json& arguments) {
        fs::path dir = string_argument(arguments, "path", ".");
        check_readable(dir, *shared);
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) fail(dir.string(), " is not a folder");
        std::vector<std::string> entries;
        for (const auto& entry :
             fs::directory_iterator(dir, fs::directory_options::skip_permission_denied, ec)) {
            std::string name = entry.path().filename().string();
            if (entry.is_directory(ec)) name += "/";
            entries.push_back(std::move(name));
        }
        if (ec) fail("cannot list ", dir.string(), ": ", ec.message());
        std::sort(entries.begin(), entries.end());
        std::string out;
        size_t n = 0;
        for (const auto& e : entries) {
            if (++n > kListLimit) {
                out += cat("... and ", entries.size() - kListLimit, " more\n");
                break;
            }
            out += e + "\n";
        }
        return out.empty() ? std::string("(empty folder ") + shown(dir, *shared) + ")" : out;
    };

    Tool read;
    read.definition.name = "read_file";
    read.definition.description = "Read a text file (at most 64 KiB).";
    read.definition.parameters = path_schema("file to read, relative to the working directory");
    read.run = [shared](const json& arguments) {
        fs::path path = string_argument(arguments, "path");
        check_readable(path, *shared);
        std::error_code ec;
        if (fs::is_directory(path, ec)) fail(path.string(), " is a folder; use list_files");
        std::ifstream in(path, std::ios::binary);
        if (!in) fail("cannot read ", path.string(), ": no such file");
        std::string text(kReadFileLimit + 1, '\0');
        in.read(text.data(), static_cast<std::streamsize>(text.size()));
        text.resize(static_cast<size_t>(in.gcount()));
        if (text.find('\0') != std::string::npos) fail(path.string(), " is a binary file");
        if (text.size() > kReadFileLimit) {
            text.resize(kReadFileLimit);
            text += "\n[... cut at 64 KiB]";
        }
        return text;
    };
    return {std::move(list), std::move(read)};
}

std::vector<Tool> builtin_tools(std::string_view name, const ReadableDirs& access) {
    if (name == "calculator") return {calculator_tool()};
    if (name == "files") return file_tools(access);
    fail("unknown tool '", name, "' (built-in tools: ", kBuiltinToolNames, ")");
}

}  // namespace ponder
