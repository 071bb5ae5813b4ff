// The front end's building blocks: config files, gathering the user's turn from words, stdin
// and files.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/config.h"
#include "cli/input.h"
#include "engine/error.h"
#include "tests/support.h"

namespace ponder::cli {
namespace {

TEST(Config, TomlSubsetParsesStringsNumbersBoolsArrays) {
    auto c = parse_toml_config(
        "# comment\nmodel = \"~/m.gguf\"  # trailing\ntemp = 0.5\nmax_tokens = 1_000\n"
        "stop = [\"END\", 'x\\y']\nquiet = true\n\n",
        "config.toml");
    ASSERT_EQ(c.entries.size(), 5u);
    EXPECT_EQ(c.find("model")->values, std::vector<std::string>{"~/m.gguf"});
    EXPECT_EQ(c.find("temp")->values, std::vector<std::string>{"0.5"});
    EXPECT_EQ(c.find("max-tokens")->values, std::vector<std::string>{"1000"});
    EXPECT_EQ(c.find("stop")->values, (std::vector<std::string>{"END", "x\\y"}));
    EXPECT_EQ(c.find("quiet")->line, 6);
}

TEST(Config, MalformedTomlNamesFileAndLine) {
    for (const char* text : {"temp 0.5", "temp = ", "model = \"open", "[section]\nx = 1",
                             "name = bareword", "a = 1\na = 2", "x = [1, [2]]", "x = 1 2"}) {
        try {
            parse_toml_config(text, "/home/u/.config/ponder/config.toml");
            ADD_FAILURE() << "accepted: " << text;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("config.toml:"), std::string::npos) << e.what();
        }
    }
}

TEST(Config, JsonFormAndErrors) {
    auto c = parse_json_config(R"({"temp": 0.2, "seed": 7, "stop": ["a", "b"], "raw": false})",
                               "c.json");
    EXPECT_EQ(c.find("temp")->values[0], "0.2");
    EXPECT_EQ(c.find("stop")->values.size(), 2u);
    EXPECT_EQ(c.find("raw")->values[0], "false");
    EXPECT_THROW(parse_json_config("{nope", "c.json"), Error);
    EXPECT_THROW(parse_json_config("[1]", "c.json"), Error);
    EXPECT_THROW(parse_json_config(R"({"a": {"b": 1}})", "c.json"), Error);
    // A number beyond a double's range (found by fuzz_config) is an error naming the file, not
    // an exception escaping the parser.
    try {
        parse_json_config(R"({"p": 99E7110})", "c.json");
        ADD_FAILURE() << "no error for an out-of-range number";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("c.json"), std::string::npos) << e.what();
    }
}

TEST(Config, AppliesOnlyWhereTheCommandLineIsSilent) {
    CLI::App app;
    double temp = 0.8;
    int seed = 0;
    std::vector<std::string> stop;
    app.add_option("--temp", temp);
    app.add_option("--seed", seed);
    app.add_option("--stop", stop);
    const char* argv[] = {"ponder", "--seed", "3"};
    app.parse(3, const_cast<char**>(argv));
    auto c =
        parse_toml_config("temp = 0.1\nseed = 99\nstop = [\"A\", \"B\"]\nmodel = \"x\"", "c.toml");
    apply_config(c, app, {"model"});
    EXPECT_DOUBLE_EQ(temp, 0.1);
    EXPECT_EQ(seed, 3);
    EXPECT_EQ(stop, (std::vector<std::string>{"A", "B"}));

    auto unknown = parse_toml_config("tempreature = 1", "c.toml");
    EXPECT_THROW(apply_config(unknown, app, {}), Error);
    auto bad = parse_toml_config("seed = \"abc\"", "c.toml");
    CLI::App app2;
    app2.add_option("--seed", seed);
    app2.parse(1, const_cast<char**>(argv));
    EXPECT_THROW(apply_config(bad, app2, {}), Error);
}

TEST(Config, LoadsTomlOrJsonButNotBoth) {
    test::TempDir dir;
    EXPECT_FALSE(load_config(dir.path()).has_value());
    test::write_file(dir.path() / "config.json", R"({"temp": 1})");
    EXPECT_EQ(load_config(dir.path())->find("temp")->values[0], "1");
    test::write_file(dir.path() / "config.toml", "temp = 2");
    EXPECT_THROW(load_config(dir.path()), Error);
}

TEST(Input, WordsStdinAndFilesCombineInstructionLast) {
    test::TempDir dir;
    test::write_file(dir.path() / "a.txt", "alpha\n");
    std::istringstream in("piped text\n");
    InputSources s;
    s.prompt_words = {"summarize", "this"};
    s.files = {(dir.path() / "a.txt").string()};
    s.stdin_is_terminal = false;
    auto g = gather_input(s, in);
    EXPECT_TRUE(g.used_stdin);
    ASSERT_EQ(g.attached.size(), 1u);
    auto a = g.text.find("alpha"), p = g.text.find("piped text"), w = g.text.find("summarize this");
    ASSERT_NE(a, std::string::npos);
    ASSERT_NE(p, std::string::npos);
    ASSERT_NE(w, std::string::npos);
    EXPECT_LT(a, p);
    EXPECT_LT(p, w);
    EXPECT_NE(g.text.find("a.txt"), std::string::npos);
}

TEST(Input, TerminalStdinIsNeverRead) {
    std::istringstream in("must not be read");
    InputSources s;
    s.prompt_words = {"hi"};
    auto g = gather_input(s, in);
    EXPECT_EQ(g.text, "hi");
    EXPECT_FALSE(g.used_stdin);
}

TEST(Input, RefusesDirectoriesBinaryAndMissingFiles) {
    test::TempDir dir;
    std::istringstream in;
    InputSources s;
    s.files = {dir.path().string()};
    try {
        gather_input(s, in);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--recursive"), std::string::npos);
    }
    test::write_file(dir.path() / "bin.dat", std::string("ab\0cd", 5));
    s.files = {(dir.path() / "bin.dat").string()};
    EXPECT_THROW(gather_input(s, in), Error);
    test::write_file(dir.path() / "latin1.txt", "caf\xe9");
    s.files = {(dir.path() / "latin1.txt").string()};
    EXPECT_THROW(gather_input(s, in), Error);
    s.files = {(dir.path() / "missing.txt").string()};
    EXPECT_THROW(gather_input(s, in), Error);
}

TEST(Input, RecursiveAttachesTextFilesSortedSkippingBinaryAndHidden) {
    test::TempDir dir;
    std::filesystem::create_directories(dir.path() / "src" / ".git");
    test::write_file(dir.path() / "src" / "b.c", "int b;");
    test::write_file(dir.path() / "src" / "a.c", "int a;");
    test::write_file(dir.path() / "src" / "x.bin", std::string("\0\1", 2));
    test::write_file(dir.path() / "src" / ".git" / "HEAD", "ref");
    std::istringstream in;
    InputSources s;
    s.files = {(dir.path() / "src").string()};
    s.recursive = true;
    auto g = gather_input(s, in);
    ASSERT_EQ(g.attached.size(), 2u);
    EXPECT_LT(g.text.find("int a;"), g.text.find("int b;"));
    EXPECT_EQ(g.text.find("ref"), std::string::npos);
    EXPECT_EQ(g.warnings.size(), 1u);
}

TEST(Input, FenceIsLongerThanAnyBacktickRun) {
    std::string fenced = fence_file("x.md", "a ```` b");
    EXPECT_NE(fenced.find("`````\na ```` b\n`````"), std::string::npos) << fenced;
    EXPECT_FALSE(looks_binary("héllo wörld ✓"));
    EXPECT_TRUE(looks_binary("\xff\xfe"));
    EXPECT_TRUE(looks_binary("\xe2\x9c"));  // cut inside a character
}

}  // namespace
}  // namespace ponder::cli
