#pragma once
// A Jinja template interpreter: the subset of jinja2 that model chat templates use, with jinja2's
// semantics (whitespace control, Undefined, Python-like values and errors). Templates are
// sandboxed: they cannot read files, import other templates or run code, and every render is
// bounded in time and memory by Limits.
//
//   auto t = ponder::jinja::Template::parse("{% for m in messages %}{{ m.content }}{% endfor %}");
//   std::string text = t.render({{"messages", messages}});
//
// Errors are ponder::Error, with the template position: "template error at line 3:14: ...".
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ponder::jinja {

struct Program;

// Bounds on one render. Exceeding any of them ends the render with an Error that says which.
struct Limits {
    std::size_t max_output_bytes = 16u << 20;  // also the longest string a template may build
    std::size_t max_steps = 10'000'000;        // expressions evaluated and statements run
    std::chrono::milliseconds max_time{10'000};
    int max_call_depth = 100;                      // nested macro calls and recursive loops
    int max_nesting = 64;                          // lists and dicts inside each other
    std::size_t max_items = 1'000'000;             // elements of one list a template builds
    std::size_t max_allocated_bytes = 256u << 20;  // strings and lists built, summed
};

// What the tojson filter writes.
enum class TojsonStyle {
    // Python's json.dumps(ensure_ascii=False): keys in their given order, no HTML escaping,
    // with json.dumps' keyword arguments (indent, separators, sort_keys, ensure_ascii). This is
    // the filter Hugging Face transformers installs for chat templates.
    python_json_dumps,
    // jinja2's built-in filter: keys sorted, non-ASCII escaped, and <, >, &, ' written as
    // \u003c, \u003e, \u0026, \u0027 so the output is safe inside HTML; only `indent`.
    jinja2_html_safe,
};

// Defaults are those of a plain jinja2.Environment().
struct TemplateOptions {
    bool trim_blocks = false;    // drop the first newline after a block tag
    bool lstrip_blocks = false;  // drop spaces and tabs before a block tag on its own line
    bool keep_trailing_newline = false;
    TojsonStyle tojson = TojsonStyle::jinja2_html_safe;
};

struct RenderOptions {
    Limits limits;
    // The time strftime_now() formats, in local time; the system clock when absent.
    std::optional<std::chrono::system_clock::time_point> now;
};

class Template {
  public:
    // Throws Error ("template syntax error at line L:C: ...") if the source is not valid.
    static Template parse(std::string_view source, const TemplateOptions& options = {});

    // Renders with the members of `context` (a JSON object; key order is kept) as variables.
    // Besides jinja2's globals (range, dict, namespace, cycler, joiner) templates may call
    // raise_exception(message) and strftime_now(format), as under Hugging Face transformers.
    std::string render(const nlohmann::ordered_json& context,
                       const RenderOptions& options = {}) const;

    const TemplateOptions& options() const { return options_; }

  private:
    Template(std::shared_ptr<const Program> program, TemplateOptions options);

    std::shared_ptr<const Program> program_;
    TemplateOptions options_;
};

}  // namespace ponder::jinja
