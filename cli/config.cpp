#include "cli/config.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/error.h"

namespace ponder::cli {

namespace {

std::string normalise_key(std::string key) {
    std::replace(key.begin(), key.end(), '_', '-');
    return key;
}

std::string trim(std::string_view s) {
    size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) return {};
    size_t e = s.find_last_not_of(" \t\r");
    return std::string(s.substr(b, e - b + 1));
}

// A small TOML subset: `key = value` lines at the top level, where a value is a basic or literal
// string, a number, a boolean, or a one-line array of those. Comments start with '#'.
class TomlLine {
  public:
    TomlLine(std::string_view text, const std::filesystem::path& path, int line)
        : text_(text), path_(path), line_(line) {}

    [[noreturn]] void error(std::string_view what) const {
        fail(path_.string(), ":", line_, ": ", what);
    }

    void skip_space() {
        while (pos_ < text_.size() &&
               (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\r'))
            ++pos_;
    }
    bool at_end_or_comment() {
        skip_space();
        return pos_ >= text_.size() || text_[pos_] == '#';
    }
    bool consume(char c) {
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }

    std::string key() {
        skip_space();
        size_t start = pos_;
        while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                       text_[pos_] == '_' || text_[pos_] == '-'))
            ++pos_;
        if (start == pos_) error("expected a key");
        return std::string(text_.substr(start, pos_ - start));
    }

    // Appends the value's text form(s) to `out`.
    void value(std::vector<std::string>& out, bool in_array = false) {
        skip_space();
        if (pos_ >= text_.size()) error("missing value");
        char c = text_[pos_];
        if (c == '"') {
            out.push_back(basic_string());
        } else if (c == '\'') {
            size_t end = text_.find('\'', pos_ + 1);
            if (end == std::string_view::npos) error("unterminated string");
            out.emplace_back(text_.substr(pos_ + 1, end - pos_ - 1));
            pos_ = end + 1;
        } else if (c == '[') {
            if (in_array) error("nested arrays are not supported");
            ++pos_;
            if (consume(']')) return;
            do {
                value(out, true);
            } while (consume(','));
            if (!consume(']')) error("expected ',' or ']' in array");
        } else {
            size_t start = pos_;
            while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != ']' &&
                   text_[pos_] != '#' && text_[pos_] != ' ' && text_[pos_] != '\t')
                ++pos_;
            std::string bare(text_.substr(start, pos_ - start));
            bool is_number =
                !bare.empty() && bare.find_first_not_of("+-0123456789._eE") == std::string::npos;
            if (bare != "true" && bare != "false" && !is_number) {
                error("value '" + bare + "' is not a string, number or boolean (quote strings)");
            }
            bare.erase(std::remove(bare.begin(), bare.end(), '_'), bare.end());
            out.push_back(bare);
        }
    }

  private:
    std::string basic_string() {
        std::string s;
        ++pos_;
        while (pos_ < text_.size() && text_[pos_] != '"') {
            char c = text_[pos_++];
            if (c != '\\') {
                s += c;
                continue;
            }
            if (pos_ >= text_.size()) break;
            char e = text_[pos_++];
            switch (e) {
                case 'n':
                    s += '\n';
                    break;
                case 't':
                    s += '\t';
                    break;
                case 'r':
                    s += '\r';
                    break;
                case '"':
                    s += '"';
                    break;
                case '\\':
                    s += '\\';
                    break;
                default:
                    error(std::string("unknown escape \\") + e);
            }
        }
        if (pos_ >= text_.size()) error("unterminated string");
        ++pos_;
        return s;
    }

    std::string_view text_;
    const std::filesystem::path& path_;
    int line_;
    size_t pos_ = 0;
};

}  // namespace

const ConfigEntry* Config::find(std::string_view key) const {
    for (const auto& e : entries) {
        if (e.key == key) return &e;
    }
    return nullptr;
}

Config parse_toml_config(std::string_view text, const std::filesystem::path& path) {
    Config config{path, {}};
    int line_no = 0;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view raw = text.substr(start, end - start);
        start = end + 1;
        ++line_no;
        TomlLine line(raw, path, line_no);
        if (line.at_end_or_comment()) continue;
        if (trim(raw).front() == '[')
            line.error("tables ([section]) are not supported; put settings at the top level");
        ConfigEntry entry;
        entry.key = normalise_key(line.key());
        entry.line = line_no;
        if (!line.consume('=')) line.error("expected '=' after '" + entry.key + "'");
        line.value(entry.values);
        if (!line.at_end_or_comment()) line.error("unexpected text after the value");
        if (config.find(entry.key)) line.error("'" + entry.key + "' is set twice");
        config.entries.push_back(std::move(entry));
    }
    return config;
}

Config parse_json_config(std::string_view text, const std::filesystem::path& path) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        // Not only syntax errors: a number beyond a double's range (1e999) is out_of_range.
        fail(path.string(), ": not valid JSON: ", e.what());
    }
    if (!j.is_object()) fail(path.string(), ": must hold one JSON object of settings");
    Config config{path, {}};
    auto scalar = [&](const std::string& key, const nlohmann::json& v) -> std::string {
        if (v.is_string()) return v.get<std::string>();
        if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
        if (v.is_number()) return v.dump();
        fail(path.string(), ": '", key, "' must be a string, number, boolean or array of those");
    };
    for (const auto& [key, value] : j.items()) {
        ConfigEntry entry;
        entry.key = normalise_key(key);
        if (value.is_array()) {
            for (const auto& item : value) entry.values.push_back(scalar(key, item));
        } else {
            entry.values.push_back(scalar(key, value));
        }
        config.entries.push_back(std::move(entry));
    }
    return config;
}

std::optional<Config> load_config(const std::filesystem::path& dir) {
    auto toml = dir / "config.toml";
    auto json = dir / "config.json";
    bool has_toml = std::filesystem::exists(toml), has_json = std::filesystem::exists(json);
    if (has_toml && has_json) {
        fail(dir.string(), ": both config.toml and config.json exist; keep one");
    }
    if (!has_toml && !has_json) return std::nullopt;
    const auto& path = has_toml ? toml : json;
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot read");
    std::ostringstream ss;
    ss << in.rdbuf();
    return has_toml ? parse_toml_config(ss.str(), path) : parse_json_config(ss.str(), path);
}

void apply_config(const Config& config, CLI::App& app,
                  const std::vector<std::string>& handled_elsewhere) {
    for (const auto& entry : config.entries) {
        if (std::find(handled_elsewhere.begin(), handled_elsewhere.end(), entry.key) !=
            handled_elsewhere.end())
            continue;
        std::string where =
            config.path.string() + (entry.line ? ":" + std::to_string(entry.line) : "");
        CLI::Option* opt = app.get_option_no_throw("--" + entry.key);
        if (!opt)
            fail(where, ": unknown setting '", entry.key, "' (see ponder --help for option names)");
        if (opt->count() > 0) continue;  // the command line wins
        for (const auto& v : entry.values) opt->add_result(v);
        try {
            opt->run_callback();
        } catch (const CLI::Error& e) {
            fail(where, ": bad value for '", entry.key, "': ", e.what());
        }
    }
}

}  // namespace ponder::cli
