// Chat templates and the Jinja interpreter behind them. Expected outputs come from the Python
// jinja2 reference (3.1, in the environment Hugging Face transformers uses unless a test says
// otherwise), so each table row is a check against jinja2, not against this implementation.
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/chat_template.h"
#include "engine/error.h"
#include "engine/jinja.h"
#include "tests/support.h"

namespace {

using json = nlohmann::ordered_json;
using ponder::ChatTemplate;
using ponder::ChatTemplateOptions;
namespace jinja = ponder::jinja;

// 22 Nov 2026, noon local time: the day the shared reference outputs were rendered for.
std::chrono::system_clock::time_point november_22_2026() {
    std::tm tm{};
    tm.tm_year = 2026 - 1900;
    tm.tm_mon = 10;
    tm.tm_mday = 22;
    tm.tm_hour = 12;
    tm.tm_isdst = -1;
    return std::chrono::system_clock::from_time_t(std::mktime(&tm));
}

jinja::TemplateOptions huggingface_environment() {
    jinja::TemplateOptions options;
    options.trim_blocks = true;
    options.lstrip_blocks = true;
    options.tojson = jinja::TojsonStyle::python_json_dumps;
    return options;
}

// The variables the table-driven tests render with.
const json& sample_context() {
    static const json context = json::parse(R"({
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        "people": [{"name": "bob", "age": 30}, {"name": "Al", "age": 25}, {"name": "cy", "age": 41}],
        "data": {"b": 1, "a": [1, 2], "c": "<tag> & 'q' é"},
        "words": ["b", "A", "a", "B"],
        "n": 7,
        "none_val": null
    })");
    return context;
}

std::string render(std::string_view source, const jinja::TemplateOptions& options,
                   const json& context = sample_context(),
                   jinja::RenderOptions render_options = {}) {
    if (!render_options.now) render_options.now = november_22_2026();
    return jinja::Template::parse(source, options).render(context, render_options);
}

std::string render_hf(std::string_view source, const json& context = sample_context()) {
    return render(source, huggingface_environment(), context);
}

// The message of the ponder::Error `action` throws; fails the test if it throws nothing.
std::string error_from(const std::function<void()>& action) {
    try {
        action();
    } catch (const ponder::Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "expected a ponder::Error";
    return {};
}

std::string render_error(std::string_view source, const json& context = sample_context(),
                         jinja::RenderOptions render_options = {}) {
    return error_from([&] { render(source, huggingface_environment(), context, render_options); });
}

struct Case {
    const char* source;
    const char* expected;
};

void expect_cases(const std::vector<Case>& cases, const jinja::TemplateOptions& options) {
    for (const Case& c : cases) {
        SCOPED_TRACE(c.source);
        try {
            EXPECT_EQ(render(c.source, options), c.expected);
        } catch (const ponder::Error& e) {
            ADD_FAILURE() << "threw: " << e.what();
        }
    }
}

// trim_blocks and lstrip_blocks on, as transformers renders chat templates; \r\n reads as \n
// and one trailing newline is dropped.
TEST(ChatTemplateJinja, WhitespaceControlAsHuggingFace) {
    expect_cases(
        {
            {"{% if true %}\nyes\n{% endif %}\n", "yes\n"},
            {"<ul>\n  {% for x in [1, 2] %}\n  <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n",
             "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>"},
            {"a  {%- if true -%}  b  {%- endif -%}  c", "abc"},
            {"  {%+ if true %}x{% endif %}\n  {% if true +%}\ny{% endif %}", "  x\ny"},
            {"  {{ 'x' }}\n{{ 'y' }}\n", "  x\ny"},
            {"a\n  {# note #}\nb\n{#- trimmed -#}   c", "a\nbc"},
            {"{% raw %}{{ x }} {% if %}{% endraw %}\n", "{{ x }} {% if %}"},
            {"{{ 'a' -}}\n\n  {{- 'b' }}\n\n", "ab\n"},
            {"\t{% set x = 1 %}\n{{ x }}\r\n{% if x %}\r\n  one\r\n{% endif %}", "1\n  one\n"},
        },
        huggingface_environment());
}

// A plain jinja2.Environment(): block tags keep their newlines and indentation.
TEST(ChatTemplateJinja, WhitespaceControlAsJinja2Defaults) {
    expect_cases(
        {
            {"{% if true %}\nyes\n{% endif %}\n", "\nyes\n"},
            {"<ul>\n  {% for x in [1, 2] %}\n  <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n",
             "<ul>\n  \n  <li>1</li>\n  \n  <li>2</li>\n  \n</ul>"},
            {"a\n  {# note #}\nb", "a\n  \nb"},
        },
        jinja::TemplateOptions{});
}

// loop variables, filtering, else, unpacking, break/continue, scoping, recursion.
TEST(ChatTemplateJinja, ForLoops) {
    expect_cases(
        {
            {"{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ "
             "loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }} {% endfor %}",
             "1032TrueFalse3 2121FalseFalse3 3210FalseTrue3 "},
            {"{% for x in [1, 2, 3, 4] if x is even %}{{ x }}:{{ loop.index }}/{{ loop.length }} "
             "{% else %}none{% endfor %}",
             "2:1/2 4:2/2 "},
            {"{% for x in [] %}x{% else %}empty{% endfor %}", "empty"},
            {"{% for k, v in data.items() %}{{ k }}={{ v }};{% endfor %}",
             "b=1;a=[1, 2];c=<tag> & 'q' é;"},
            {"{% for k, v in data|items %}{{ k }} {% endfor %}{% for k in data %}{{ k }}{% endfor "
             "%}",
             "b a c bac"},
            {"{% for (a, b), c in [((1, 2), 3)] %}{{ a }}{{ b }}{{ c }}{% endfor %}", "123"},
            {"{% for x in range(10) %}{% if x is odd %}{% continue %}{% endif %}{% if x > 6 %}{% "
             "break %}{% endif %}{{ x }}{% endfor %}",
             "0246"},
            {"{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}",
             "231"},
            {"{% set ns = namespace(x=1, seen=[]) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i "
             "%}{% set ns.seen = ns.seen + [i] %}{% endfor %}{{ ns.x }} {{ ns.seen }}",
             "4 [1, 2]"},
            {"{% for item in [{'n': 'a', 'kids': [{'n': 'b', 'kids': [{'n': 'c', 'kids': []}]}]}] "
             "recursive %}{{ item.n }}{{ loop.depth }}[{{ loop(item.kids) }}]{% endfor %}",
             "a1[b2[c3[]]]"},
            {"{% for x in [1, 2, 3] %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}|{{ "
             "loop.cycle('odd', 'even') }} {% endfor %}",
             "<1>2|odd 1<2>3|even 2<3>|odd "},
            {"{% for x in [1, 1, 2, 1] %}{{ loop.changed(x) }} {% endfor %}",
             "True False True True "},
            {"{% for row in [[1, 2], [3, 4]] %}{% for x in row %}{{ loop.index }}{{ x }} {% endfor "
             "%}{{ loop.index }}|{% endfor %}",
             "11 22 1|13 24 2|"},
            {"{% for c in 'héllo' %}{{ c }}.{% endfor %}", "h.é.l.l.o."},
        },
        huggingface_environment());
}

// Python operators, precedence, number printing, literals, subscripts and slices.
TEST(ChatTemplateJinja, Expressions) {
    expect_cases(
        {
            {"{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 3 ** 2 "
             "}} {{ -2 ** 2 }} {{ 10 / 5 }}",
             "7 3 -4 2 3.5 64 4 2.0"},
            {"{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 0.00001 }} {{ 1.5e-3 }} {{ 3.0 }} {{ 0x1F + "
             "0o7 + 0b1 + 1_000 }}",
             "0.30000000000000004 1e+16 1000000000000000.0 1e-05 0.0015 3.0 1039"},
            {"{{ 'a' ~ 1 ~ none ~ true ~ [1, 'x'] }} {{ 'ab' * 2 }} {{ [0] * 3 }}",
             "a1NoneTrue[1, 'x'] abab [0, 0, 0]"},
            {"{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' in 'cat' }} {{ "
             "2 not in [1] }} {{ 'k' in {'k': 1} }}",
             "True False True True True True True"},
            {"{{ none or 'x' }} {{ 0 and 'y' }} {{ not '' }} {{ 'yes' if n > 5 else 'no' }} [{{ "
             "'x' if false }}]",
             "x 0 True yes []"},
            {"{{ [1, 2, 3][1:] }} {{ 'hello'[::-1] }} {{ 'hello'[1:4] }} {{ [1, 2, 3][-1] }} {{ "
             "'héllo'[1] }} {{ [1, 2, 3, 4, 5][::2] }}",
             "[2, 3] olleh ell 3 é [1, 3, 5]"},
            {"{{ {'a': 1, 'b': [1, 'two', none, true, 2.5]} }} {{ (1, 'x') }} {{ (1,) }} {{ "
             "\"it's\" }} {{ ['it\\'s'] }}",
             "{'a': 1, 'b': [1, 'two', None, True, 2.5]} (1, 'x') (1,) it's [\"it's\"]"},
            {"{{ data.b }} {{ data['a'][1] }} {{ data.a.0 }} {{ data.get('zz', 'dflt') }} {{ "
             "data.keys()|list }}",
             "1 2 1 dflt ['b', 'a', 'c']"},
            {"{{ 'a\\tb\\n'|length }} {{ '\\u00e9\\x41' }} {{ 'x' 'y' }}", "4 éA xy"},
        },
        huggingface_environment());
}

// jinja2's filters with their defaults (case-insensitive sort and unique, banker's round...).
TEST(ChatTemplateJinja, Filters) {
    expect_cases(
        {
            {"{{ '  hi  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'hello world'|title }}|{{ "
             "'hELLO'|capitalize }}|{{ 'Hi'|upper }}{{ 'Hi'|lower }}",
             "hi|hi|Hello World|Hello|HIhi"},
            {"{{ 'a-b-c'|replace('-', '+') }} {{ 'a-b-c'|replace('-', '+', 1) }} {{ [1, 2]|join(', "
             "') }} {{ people|join('/', attribute='name') }}",
             "a+b+c a+b-c 1, 2 bob/Al/cy"},
            {"{{ [3, 1, 2]|first }}{{ [3, 1, 2]|last }}{{ [3, 1, 2]|length }}{{ 'héllo'|count }}{{ "
             "data|length }}",
             "32353"},
            {"{{ words|sort }} {{ words|sort(case_sensitive=true) }} {{ words|sort(reverse=true) "
             "}} {{ words|unique|list }}",
             "['A', 'a', 'b', 'B'] ['A', 'B', 'a', 'b'] ['b', 'B', 'A', 'a'] ['b', 'A']"},
            {"{{ people|sort(attribute='age')|map(attribute='name')|list }} {{ "
             "people|map(attribute='height', default=0)|list }}",
             "['Al', 'bob', 'cy'] [0, 0, 0]"},
            {"{{ people|selectattr('age', 'gt', 28)|map(attribute='name')|join(',') }} {{ "
             "people|rejectattr('name', 'equalto', 'bob')|list|length }}",
             "bob,cy 2"},
            {"{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ [0, "
             "1, '', 'a', none]|select|list }} {{ ['a', 'b']|map('upper')|list }}",
             "[1, 3] [2, 4] [1, 'a'] ['A', 'B']"},
            {"{{ 3.7|int }} {{ '42'|int }} {{ '4.9'|int }} {{ 'x'|int(-1) }} {{ '3.5'|float }} {{ "
             "2|float }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(0, "
             "'ceil') }} {{ -3|abs }}",
             "3 42 4 -1 3.5 2.0 2.0 4.0 2.67 3.0 3"},
            {"{{ none_val|default('d') }} {{ missing|default('d') }} {{ ''|default('d') }} {{ "
             "''|default('d', true) }} {{ missing|d('x') }}",
             "None d  d x"},
            {"{{ data|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ data|list }} {{ "
             "data|items|list }}",
             "[('a', [1, 2]), ('b', 1), ('c', \"<tag> & 'q' é\")] [('b', 1), ('a', 2)] ['b', 'a', "
             "'c'] [('b', 1), ('a', [1, 2]), ('c', \"<tag> & 'q' é\")]"},
            {"{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent('> ', "
             "blank=true) }}",
             "a\n    b\n\n    c|  a\n  b|a\n> \n> b"},
            {"{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3, 4, 5]|batch(2, 0)|list }} {{ [1, 2, "
             "3, 4, 5]|slice(2)|list }}",
             "[[1, 2], [3, 4], [5]] [[1, 2], [3, 4], [5, 0]] [[1, 2, 3], [4, 5]]"},
            {"{{ [1, 2, 3]|sum }} {{ people|sum(attribute='age') }} {{ [3, 1, 2]|max }} {{ [3, 1, "
             "2]|min }} {{ people|max(attribute='age') }}",
             "6 96 3 1 {'name': 'cy', 'age': 41}"},
            {"{{ 'hello world foo'|truncate(9) }} {{ 'hello world'|truncate(5, true, '!') }} {{ "
             "'x'|center(5) }}| {{ 'a b  c'|wordcount }}",
             "hello... hell!   x  | 3"},
            {"{{ '<a href=\"x\">&</a>'|escape }} {{ '<b>'|e }} {{ '<b>'|safe }} {{ 42|string ~ 'x' "
             "}} {{ [1, 2]|string }} {{ 'abc'|list }} {{ 'abc'|reverse }}",
             "&lt;a href=&#34;x&#34;&gt;&amp;&lt;/a&gt; &lt;b&gt; <b> 42x [1, 2] ['a', 'b', 'c'] "
             "cba"},
            {"{{ '%s is %d years, %.1f%%'|format('Al', 25, 99.44) }} {{ "
             "'%(name)s!'|format(name='Cy') }} {{ '%5s|%-5s|%05d|%x'|format('r', 'l', 42, 255) }} "
             "{{ '%s' % 'x' }}",
             "Al is 25 years, 99.4% Cy!     r|l    |00042|ff x"},
            {"{{ '{} and {}'.format('a', 'b') }} {{ '{0}{1}{0}'.format('x', 'y') }} {{ "
             "'{name:>6}|{v:.2f}|{n:,}'.format(name='r', v=3.14159, n=1234567) }}",
             "a and b xyx      r|3.14|1,234,567"},
        },
        huggingface_environment());
}

// Python str methods, which templates call directly.
TEST(ChatTemplateJinja, StringMethods) {
    expect_cases(
        {
            {"{{ '  hi  '.strip() }}|{{ '  hi  '.lstrip() }}|{{ '  hi  '.rstrip() }}|{{ "
             "'xxhixx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b "
             "c'.split(' ', 1) }}|{{ 'a b c'.rsplit(' ', 1) }}",
             "hi|hi  |  hi|hi|['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|['a b', 'c']"},
            {"{{ 'Hello'.startswith('He') }} {{ 'Hello'.endswith(('x', 'lo')) }} {{ 'hello "
             "world'.title() }} {{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ 'a-b'.replace('-', "
             "'') }} {{ 'héllo'.find('l') }} {{ 'banana'.count('an') }}",
             "True True Hello World HELLO hello ab 2 2"},
            {"{{ ', '.join(['a', 'b']) }} {{ 'a=b=c'.partition('=') }} {{ 'x'.center(5, '*') }} {{ "
             "'7'.zfill(3) }} {{ 'abc'.removeprefix('a') }} {{ '12'.isdigit() }} {{ "
             "'line1\\nline2'.splitlines() }}",
             "a, b ('a', '=', 'b=c') **x** 007 bc True ['line1', 'line2']"},
        },
        huggingface_environment());
}

// macros (defaults, varargs, kwargs, recursion, late binding), call blocks, set blocks, filter and
// with blocks, cycler, joiner, range, dict, namespace.
TEST(ChatTemplateJinja, MacrosCallsAndBlocks) {
    expect_cases(
        {
            {"{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ "
             "greet('Bob') }} {{ greet('Al', greeting='Hi') }} {{ greet(name='Cy') }}",
             "Hello, Bob! Hi, Al! Hello, Cy!"},
            {"{% macro m(a, b=a * 2) %}{{ a }}{{ b }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ "
             "m(1) }} {{ m(1, 2, 3, x=4) }}",
             "12(){} 12(3,){'x': 4}"},
            {"{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }}", "[]"},
            {"{% macro countdown(n) %}{% if n > 0 %}{{ n }} {{ countdown(n - 1) }}{% else %}go{% "
             "endif %}{% endmacro %}{{ countdown(3) }}",
             "3 2 1 go"},
            {"{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call "
             "wrap('b') %}bold {{ n }}{% endcall %}",
             "<b>bold 7</b>"},
            {"{% macro each(items) %}{% for i in items %}{{ caller(i, loop.index) }}{% endfor %}{% "
             "endmacro %}{% call(x, i) each(['a', 'b']) %}{{ i }}={{ x }} {% endcall %}",
             "1=a 2=b "},
            {"{% macro show() %}{{ late }}{% endmacro %}{% set late = 'seen at call time' %}{{ "
             "show() }}",
             "seen at call time"},
            {"{% set out %}  {{ n }} items {% endset %}[{{ out }}]{% set loud | upper | trim %} "
             "quiet {% endset %}[{{ loud }}]",
             "[  7 items ][QUIET]"},
            {"{% filter upper %}abc {{ n }}{% endfilter %}|{% with a = 1, b = n %}{{ a + b }}{% "
             "endwith %}[{{ a }}]",
             "ABC 7|8[]"},
            {"{% set c = cycler('x', 'y') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current "
             "}} {% set j = joiner('+') %}{% for i in [1, 2, 3] %}{{ j() }}{{ i }}{% endfor %}",
             "xyxy 1+2+3"},
            {"{{ dict(a=1, b=2) }} {{ range(3)|list }} {{ range(1, 10, 4)|list }} {{ range(3, 0, "
             "-1)|list }} {{ namespace(a=1).a }}",
             "{'a': 1, 'b': 2} [0, 1, 2] [1, 5, 9] [3, 2, 1] 1"},
        },
        huggingface_environment());
}

// jinja2's default Undefined: empty when printed or iterated; None prints as None.
TEST(ChatTemplateJinja, UndefinedPrintsNothingButNoneIsAValue) {
    expect_cases(
        {
            {"[{{ missing }}] [{{ missing|length }}] [{{ missing|upper }}] [{{ missing ~ 'x' }}] "
             "[{{ missing is defined }}] [{{ missing is undefined }}] [{{ missing is iterable }}]",
             "[] [0] [] [x] [False] [True] [True]"},
            {"[{% for x in missing %}x{% endfor %}] [{{ 'a' in missing }}] [{{ missing == missing "
             "}}] [{{ data.zz }}] [{{ data['zz'] }}] [{{ none_val.x }}] [{{ [1][5] }}]",
             "[] [False] [True] [] [] [] []"},
            {"[{{ none_val }}] [{{ none_val|string }}] [{{ none_val is none }}] [{{ "
             "none_val|tojson }}] [{{ none_val is defined }}]",
             "[None] [None] [True] [null] [True]"},
        },
        huggingface_environment());
}

// transformers' tojson is json.dumps(ensure_ascii=False): keys in their given order, no HTML
// escaping, non-ASCII kept; indent, separators, sort_keys and ensure_ascii pass through.
TEST(ChatTemplateJinja, TojsonAsHuggingFace) {
    expect_cases(
        {
            {"{{ data|tojson }}", "{\"b\": 1, \"a\": [1, 2], \"c\": \"<tag> & 'q' é\"}"},
            {"{{ data|tojson(indent=2) }}",
             "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2\n  ],\n  \"c\": \"<tag> & 'q' é\"\n}"},
            {"{{ {'k': 'é🙂\\n\\u2028'}|tojson }} {{ {'k': 'é'}|tojson(ensure_ascii=true) }} "
             "{{ "
             "{'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ [1, {'a': 2}]|tojson(separators=(',', "
             "':')) }}",
             "{\"k\": \"é🙂\\n\u2028\"} {\"k\": \"\\u00e9\"} {\"a\": 2, \"b\": 1} "
             "[1,{\"a\":2}]"},
            {"{{ [1.0, 1e16, 2.5, none, true, 'x'] | tojson }} {{ []|tojson(indent=2) }} {{ "
             "'q\"\\\\'|tojson }}",
             "[1.0, 1e+16, 2.5, null, true, \"x\"] [] \"q\\\"\\\\\""},
        },
        huggingface_environment());
}

// jinja2's own tojson sorts keys, escapes non-ASCII and writes <, >, &, ' as \u003c, \u003e,
// \u0026, \u0027.
TEST(ChatTemplateJinja, TojsonAsJinja2HtmlSafe) {
    expect_cases(
        {
            {"{{ data|tojson }}",
             "{\"a\": [1, 2], \"b\": 1, \"c\": \"\\u003ctag\\u003e \\u0026 \\u0027q\\u0027 "
             "\\u00e9\"}"},
            {"{{ {'b': \"it's <b>&</b>\", 'a': 'é'}|tojson(2) }}",
             "{\n  \"a\": \"\\u00e9\",\n  \"b\": \"it\\u0027s "
             "\\u003cb\\u003e\\u0026\\u003c/b\\u003e\"\n}"},
        },
        jinja::TemplateOptions{});
}
// ---- errors ----------------------------------------------------------------------------------

// Runtime errors carry jinja2's message and the template position of the failing expression.
TEST(ChatTemplateJinja, RuntimeErrorsNameTheProblemAndPosition) {
    struct ErrorCase {
        const char* source;
        const char* message;  // expected substring
    };
    const std::vector<ErrorCase> cases = {
        {"{% for x in none_val %}{% endfor %}",
         "template error at line 1:13: 'NoneType' object is not iterable"},
        {"{% for x in n %}{% endfor %}", "line 1:13: 'int' object is not iterable"},
        {"{{ missing.attr }}", "line 1:12: 'missing' is undefined"},
        {"line one\n{{ data.zz.y }}", "line 2:12: 'dict object' has no attribute 'zz'"},
        {"{{ none_val.x.y }}", "'None' has no attribute 'x'"},
        {"{{ [1][5].x }}", "list object has no element 5"},
        {"{{ 'a' + 1 }}", "line 1:8: can only concatenate str (not \"int\") to str"},
        {"{{ 1 + 'a' }}", "unsupported operand type(s) for +: 'int' and 'str'"},
        {"{{ 1 // 0 }}", "integer division or modulo by zero"},
        {"{{ 'a' < 1 }}", "'<' not supported between instances of 'str' and 'int'"},
        {"{{ none_val|length }}", "object of type 'NoneType' has no len()"},
        {"{{ n() }}", "'int' object is not callable"},
        {"{% set a, b = [1] %}", "not enough values to unpack (expected 2, got 1)"},
        {"{% set x = 1 %}{% set x.y = 2 %}", "cannot assign attribute on non-namespace object"},
        {"{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}",
         "macro 'm' takes not more than 1 argument(s)"},
        {"{% macro m(a) %}{% endmacro %}{{ m(b=1) }}", "macro 'm' takes no keyword argument 'b'"},
        {"{% if false %}{{ x|no_such_filter }}{% endif %}{{ 1|no_such_filter }}", "no_such_filter"},
        {"{{ 'x' in none_val }}", "argument of type 'NoneType' is not iterable"},
    };
    for (const ErrorCase& c : cases) {
        SCOPED_TRACE(c.source);
        std::string message = render_error(c.source);
        EXPECT_NE(message.find(c.message), std::string::npos) << message;
    }
}

// jinja2's immutable sandbox: templates may read lists and dicts but not change them.
TEST(ChatTemplateJinja, SandboxRefusesToMutateValues) {
    EXPECT_NE(render_error("{% set l = [1] %}{{ l.append(2) }}")
                  .find("access to attribute 'append' of 'list' object is unsafe"),
              std::string::npos);
    EXPECT_NE(render_error("{{ data.update({'x': 1}) }}")
                  .find("access to attribute 'update' of 'dict' object is unsafe"),
              std::string::npos);
    // Python internals are not reachable.
    EXPECT_EQ(render_hf("[{{ ''.__class__ }}][{{ data.__init__ }}]"), "[][]");
}

TEST(ChatTemplateJinja, RaiseExceptionStopsTheRender) {
    std::string message =
        render_error("ok\n{{ raise_exception('Conversation roles must alternate') }}");
    EXPECT_NE(message.find("raised an error at line 2:19: Conversation roles must alternate"),
              std::string::npos)
        << message;
    // Only evaluated branches raise.
    EXPECT_EQ(render_hf("{{ 'fine' if true else raise_exception('no') }}"), "fine");
}

TEST(ChatTemplateJinja, SyntaxErrorsNameLineAndColumn) {
    struct SyntaxCase {
        const char* source;
        const char* message;
    };
    const std::vector<SyntaxCase> cases = {
        {"{% for x in %}{% endfor %}", "syntax error at line 1:13: expected an expression"},
        {"a\n{% if true %}\nunclosed",
         "line 3:9: unexpected end of template: the 'if' block opened at line 2:1"},
        {"{{ x }\n", "line 1:6: unexpected '}'"},
        {"{% frobnicate %}", "line 1:1: unknown tag 'frobnicate'"},
        {"{% for x in y %}{% endif %}", "unknown tag 'endif' (expected 'endfor' or 'else'"},
        {"{{ 'unterminated }}", "unterminated string literal"},
        {"{# open comment\n{{ x }}", "missing end of comment tag"},
        {"x\n  {{ 1|no_such_filter }}", "line 2:8: no filter named 'no_such_filter'"},
        {"{% break %}", "'break' outside of a loop"},
        {"{% include 'other.jinja' %}", "a template cannot load other templates"},
        {"{% macro m(a=1, b) %}{% endmacro %}", "non-default argument follows default argument"},
    };
    for (const SyntaxCase& c : cases) {
        SCOPED_TRACE(c.source);
        std::string message =
            error_from([&] { jinja::Template::parse(c.source, huggingface_environment()); });
        EXPECT_NE(message.find(c.message), std::string::npos) << message;
    }
}

// ---- bounded execution ---------------------------------------------------------------------

class ChatTemplateLimits : public ::testing::Test {
  protected:
    // Renders a runaway template (with the default limits unless told otherwise); it must fail
    // quickly with `reason`.
    void expect_stopped(std::string_view source, std::string_view reason,
                        const jinja::RenderOptions& options = {}) {
        SCOPED_TRACE(source);
        auto start = std::chrono::steady_clock::now();
        std::string message = render_error(source, sample_context(), options);
        auto elapsed = std::chrono::steady_clock::now() - start;
        EXPECT_NE(message.find(reason), std::string::npos) << message;
        EXPECT_LT(elapsed, std::chrono::seconds(30)) << "limits must stop a runaway render early";
    }
};

TEST_F(ChatTemplateLimits, HugeRangeIsRefused) {
    expect_stopped("{% for i in range(1000000000) %}{% endfor %}",
                   "range() of more than 1000000 items");
}

TEST_F(ChatTemplateLimits, EndlessLoopingRunsOutOfSteps) {
    // A smaller step budget than the default (10 million), so that slow sanitizer builds reach it
    // before the time limit.
    jinja::RenderOptions options;
    options.limits.max_steps = 1'000'000;
    expect_stopped(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "template ran more than 1000000 steps (rendering limit)", options);
}

TEST_F(ChatTemplateLimits, RunawayMacroRecursionIsStopped) {
    expect_stopped("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
                   "maximum recursion depth (100) exceeded calling macro 'f'");
}

TEST_F(ChatTemplateLimits, ExponentialStringGrowthIsStopped) {
    expect_stopped(
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}",
        "bytes (rendering limit)");
}

TEST_F(ChatTemplateLimits, ExponentialListGrowthIsStopped) {
    expect_stopped(
        "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}"
        "{% endfor %}",
        "items (rendering limit)");
}

TEST_F(ChatTemplateLimits, OutputSizeIsCapped) {
    expect_stopped("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
                   "output of more than 16777216 bytes");
}

TEST_F(ChatTemplateLimits, TotalAllocationIsCapped) {
    expect_stopped("{% for i in range(1000) %}{% set s = 'x' * 1000000 %}{% endfor %}",
                   "bytes of strings and lists (rendering limit)");
}

TEST_F(ChatTemplateLimits, DeeplyNestedValuesAreRefused) {
    expect_stopped(
        "{% set ns = namespace(x=1) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor "
        "%}",
        "nested more than 64 levels deep");
}

TEST_F(ChatTemplateLimits, TimeLimitStopsExpensiveWork) {
    jinja::RenderOptions options;
    options.limits.max_steps = std::numeric_limits<std::size_t>::max();
    options.limits.max_time = std::chrono::milliseconds(50);
    auto start = std::chrono::steady_clock::now();
    std::string message = render_error(
        "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        sample_context(), options);
    EXPECT_NE(message.find("longer than 50 ms"), std::string::npos) << message;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(ChatTemplateLimits, DeepSyntaxAndDeepInputDoNotCrash) {
    std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
    std::string message = error_from([&] { jinja::Template::parse(deep); });
    EXPECT_NE(message.find("nested more than"), std::string::npos) << message;

    // Moved, not copied, into the context: nlohmann::json copies recursively.
    json context = json::object();
    context["deep"] = json::parse(std::string(5000, '[') + std::string(5000, ']'));
    message = render_error("{{ deep }}", context);
    EXPECT_NE(message.find("nested more than 64 levels deep"), std::string::npos) << message;

    json messages = json::array();
    messages.push_back(json::object({{"role", "user"}}));
    messages[0]["content"] = std::move(context["deep"]);
    message = error_from([&] { ChatTemplate::chatml().render(messages); });
    EXPECT_NE(message.find("messages nested more than 64 levels deep"), std::string::npos)
        << message;
}

TEST_F(ChatTemplateLimits, CustomLimitsApply) {
    jinja::RenderOptions options;
    options.limits.max_output_bytes = 10;
    std::string message =
        render_error("{{ 'this is longer than ten bytes' }}", sample_context(), options);
    EXPECT_NE(message.find("output of more than 10 bytes"), std::string::npos) << message;
    options.limits = {};
    options.limits.max_call_depth = 3;
    message = render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
                           sample_context(), options);
    EXPECT_NE(message.find("maximum recursion depth (3)"), std::string::npos) << message;
}

// ---- Hugging Face globals --------------------------------------------------------------------

TEST(ChatTemplateJinja, StrftimeNowUsesTheInjectedClock) {
    EXPECT_EQ(render_hf("{{ strftime_now('%d %b %Y') }}"), "22 Nov 2026");
    EXPECT_EQ(
        render_hf("{{ strftime_now('%A %B %j %a %p %I %y %e %-d %U %W %V %G %u %w %F %T %%') }}"),
        "Sunday November 326 Sun PM 12 26 22 22 47 46 47 2026 7 0 2026-11-22 12:00:00 %");
    // Without an injected time, the real clock is used.
    jinja::RenderOptions now;
    now.now = std::nullopt;
    std::string year =
        jinja::Template::parse("{{ strftime_now('%Y') }}").render(json::object(), now);
    EXPECT_EQ(year.size(), 4u);
    EXPECT_GE(std::stoi(year), 2024);
}

// ---- ChatTemplate ----------------------------------------------------------------------------

json conversation() {
    return json::parse(R"([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"}
    ])");
}

TEST(ChatTemplate, ChatmlFallback) {
    ChatTemplate chatml = ChatTemplate::chatml();
    EXPECT_EQ(chatml.render(conversation()),
              "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
              "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
              "<|im_start|>assistant\n");
    ChatTemplateOptions options;
    options.add_generation_prompt = false;
    EXPECT_EQ(chatml.render(json::parse(R"([{"role": "user", "content": "x"}])"), options),
              "<|im_start|>user\nx<|im_end|>\n");
    EXPECT_EQ(chatml.source(), ponder::chatml_template_source());
}

TEST(ChatTemplate, PassesTheVariablesTransformersPasses) {
    ChatTemplate t = ChatTemplate::parse(
        "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ tools }}|{{ documents }}|"
        "{{ messages|length }}|{{ messages[1].name }}|{{ date_string|default('none') }}");
    ChatTemplateOptions options;
    options.bos_token = "<s>";
    options.eos_token = "</s>";
    options.add_generation_prompt = false;
    json messages = json::parse(R"([{"role": "user", "content": "a"},
                                    {"role": "tool", "name": "calc", "content": "4"}])");
    EXPECT_EQ(t.render(messages, options), "<s>|</s>|False|None|None|2|calc|none");

    options.tools = json::parse(R"([{"type": "function", "function": {"name": "f"}}])");
    options.extra_context = json{{"date_string", "1 Jan 2025"}};
    EXPECT_EQ(
        t.render(messages, options),
        "<s>|</s>|False|[{'type': 'function', 'function': {'name': 'f'}}]|None|2|calc|1 Jan 2025");
}

TEST(ChatTemplate, RejectsMalformedInput) {
    ChatTemplate t = ChatTemplate::chatml();
    EXPECT_NE(error_from([&] { t.render(json::object()); }).find("messages must be a JSON array"),
              std::string::npos);
    ChatTemplateOptions options;
    options.extra_context = json{{"messages", json::array()}};
    EXPECT_NE(error_from([&] { t.render(conversation(), options); }).find("may not set 'messages'"),
              std::string::npos);
    // A message without content: ChatML concatenates strings, so the template itself fails.
    std::string message = error_from([&] { t.render(json::parse(R"([{"role": "user"}])")); });
    EXPECT_NE(message.find("chat template error at line 1:"), std::string::npos) << message;
}

TEST(ChatTemplate, SyntaxErrorsSayChatTemplate) {
    std::string message = error_from([] { ChatTemplate::parse("{% for m in messages %}"); });
    EXPECT_NE(message.find("chat template syntax error at line 1:24: unexpected end of template: "
                           "the 'for' block opened at line 1:1"),
              std::string::npos)
        << message;
}

// Every template of ../shared/templates, on every conversation, renders byte for byte as
// transformers does, or fails where transformers fails.
TEST(ChatTemplate, MatchesTransformersOnSharedTemplates) {
    PONDER_REQUIRE_SHARED("templates/expected.json");
    const auto dir = ponder::test::shared_dir() / "templates";
    const json expected = json::parse(ponder::test::read_file(dir / "expected.json"));
    const json conversations = json::parse(ponder::test::read_file(dir / "conversations.json"));
    ASSERT_TRUE(expected.is_array());
    ASSERT_FALSE(expected.empty());

    std::size_t passed = 0;
    for (const json& entry : expected) {
        const std::string name = entry.at("template").get<std::string>();
        const std::string case_name = entry.at("case").get<std::string>();
        SCOPED_TRACE(name + " / " + case_name);
        const json* conversation = nullptr;
        for (const json& c : conversations)
            if (c.at("name") == case_name) conversation = &c;
        ASSERT_NE(conversation, nullptr) << "no conversation named " << case_name;

        ChatTemplateOptions options;
        options.bos_token = "<s>";
        options.eos_token = "</s>";
        options.now = november_22_2026();
        options.add_generation_prompt = conversation->value("add_generation_prompt", true);
        if (conversation->contains("tools")) options.tools = conversation->at("tools");

        const ChatTemplate tmpl = ChatTemplate::parse(ponder::test::read_file(dir / name));
        if (entry.contains("error")) {
            const std::string message =
                error_from([&] { tmpl.render(conversation->at("messages"), options); });
            // The reference's own message, and where in the template it happened.
            const bool meaningful =
                message.find(entry.at("error").get<std::string>()) != std::string::npos &&
                message.find(" at line ") != std::string::npos;
            EXPECT_TRUE(meaningful) << message;
            passed += meaningful;
        } else {
            std::string rendered;
            try {
                rendered = tmpl.render(conversation->at("messages"), options);
            } catch (const ponder::Error& e) {
                ADD_FAILURE() << "threw: " << e.what();
                continue;
            }
            const bool same = rendered == entry.at("rendered").get<std::string>();
            EXPECT_EQ(rendered, entry.at("rendered").get<std::string>());
            passed += same;
        }
    }
    EXPECT_EQ(passed, expected.size());
    std::printf("[          ] %zu of %zu shared template renderings match transformers\n", passed,
                expected.size());
}

}  // namespace
