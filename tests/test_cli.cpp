// The command-line front end, driven as a user would: the real binary in a subprocess.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "tests/support.h"

using ponder::test::run_ponder;

TEST(Cli, VersionPrintsNameAndVersion) {
    auto r = run_ponder({"--version"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("ponder "), std::string::npos) << r.out;
}

TEST(Cli, HelpListsOptionGroups) {
    auto r = run_ponder({"--help"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("--model"), std::string::npos) << r.out;
}

TEST(Cli, UnknownOptionIsAUsageError) {
    auto r = run_ponder({"--no-such-option"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("no-such-option"), std::string::npos) << r.err;
}

TEST(CliTemplate, RendersSharedTemplateLikeTheReference) {
    PONDER_REQUIRE_SHARED("templates/expected.json");
    auto expected = nlohmann::json::parse(
        ponder::test::read_file(ponder::test::shared_dir() / "templates/expected.json"));
    auto conversations = nlohmann::json::parse(
        ponder::test::read_file(ponder::test::shared_dir() / "templates/conversations.json"));
    ponder::test::TempDir dir;
    int checked = 0;
    for (const auto& e : expected) {
        if (!e.contains("rendered") || e["case"] != "system-multi-turn") continue;
        nlohmann::json conv;
        for (const auto& c : conversations)
            if (c["name"] == e["case"]) conv = c;
        ponder::test::write_file(dir.path() / "m.json", conv["messages"].dump());
        auto r = run_ponder(
            {"template", "--template",
             (ponder::test::shared_dir() / "templates" / e["template"].get<std::string>()).string(),
             "--messages", (dir.path() / "m.json").string(),
             // The reference renderings fix strftime_now to this day (../shared/README.md).
             "--date", "2026-11-22"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out, e["rendered"].get<std::string>()) << e["template"];
        ++checked;
    }
    EXPECT_GE(checked, 5);
}

TEST(CliTemplate, ModelTemplateAndErrors) {
    PONDER_REQUIRE_SHARED("models/rand-llama-q8_0.gguf");
    ponder::test::TempDir dir;
    ponder::test::write_file(dir.path() / "m.json", R"([{"role":"user","content":"Ping"}])");
    auto r = run_ponder({"template", "-m",
                         (ponder::test::shared_dir() / "models/rand-llama-q8_0.gguf").string(),
                         "--messages", (dir.path() / "m.json").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("<|im_start|>user\nPing<|im_end|>\n<|im_start|>assistant\n"),
              std::string::npos)
        << r.out;

    r = run_ponder({"template", "-m",
                    (ponder::test::shared_dir() / "models/stories260K.gguf").string(), "--messages",
                    (dir.path() / "m.json").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no chat template"), std::string::npos) << r.err;

    ponder::test::write_file(dir.path() / "bad.jinja", "{% for x in %}");
    r = run_ponder({"template", "--template", (dir.path() / "bad.jinja").string(), "--messages",
                    (dir.path() / "m.json").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("line 1"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

    ponder::test::write_file(dir.path() / "date.jinja", "{{ strftime_now('%d %b %Y') }}");
    for (const char* day : {"2026-02-30", "22-11-2026", "2026-11-22x"}) {
        r = run_ponder({"template", "--template", (dir.path() / "date.jinja").string(),
                        "--messages", (dir.path() / "m.json").string(), "--date", day});
        EXPECT_EQ(r.exit_code, 1) << day;
        EXPECT_NE(r.err.find(std::string("--date ") + day), std::string::npos) << r.err;
    }
    r = run_ponder({"template", "--template", (dir.path() / "date.jinja").string(), "--messages",
                    (dir.path() / "m.json").string(), "--date", "2024-02-29"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "29 Feb 2024");
}

TEST(CliConvert, AGgufFileInQ8_0AnswersAsLlamaQuantizesQ8_0Does) {
    PONDER_REQUIRE_SHARED("models/TinyStories-656K-Q8_0.gguf");
    ponder::test::TempDir dir;
    const std::string source =
        (ponder::test::shared_dir() / "models/TinyStories-656K-F32.gguf").string();
    const std::string out = (dir.path() / "q8.gguf").string();
    auto r = run_ponder({"convert", source, "-o", out, "--type", "q8_0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // What was written, by type: the norms stay F32.
    EXPECT_NE(r.err.find("(f32 x5, q8_0 x15)"), std::string::npos) << r.err;
    auto greedy = [](const std::string& model) {
        return run_ponder({"-m", model, "--raw", "--temp", "0", "-n", "12", "-q", "--no-log",
                           "Once upon a time"})
            .out;
    };
    EXPECT_EQ(greedy(out),
              greedy((ponder::test::shared_dir() / "models/TinyStories-656K-Q8_0.gguf").string()));

    // Rows of 128 values are not whole Q4_K blocks of 256: the summary says where they went
    // (Q5_0, and Q8_0 for the output matrix's Q6_K, as llama-quantize does).
    r = run_ponder({"convert", source, "-o", out, "--type", "Q4_K_M"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("(f32 x5, q5_0 x12, q8_0 x3)"), std::string::npos) << r.err;
    r = run_ponder({"convert", source, "-o", out, "--type", "q4_kk"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("q4_kk"), std::string::npos) << r.err;

    r = run_ponder({"convert", (dir.path() / "q8.gguf").string() + "x", "-o", out});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    ponder::test::write_file(dir.path() / "notes.txt", "hello");
    r = run_ponder({"convert", (dir.path() / "notes.txt").string(), "-o", out});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("notes.txt: not a GGUF file"), std::string::npos) << r.err;
}

TEST(CliInfo, WithoutAModelShowsTheOneAQuestionWouldUse) {
    auto r = run_ponder({"info", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto bundled = nlohmann::json::parse(r.out);
    EXPECT_EQ(bundled["file"], "ponder-tiny (bundled)");
    EXPECT_EQ(bundled["architecture"], "llama");

    PONDER_REQUIRE_SHARED("models/stories260K.gguf");
    const auto shared = ponder::test::shared_dir() / "models";
    r = run_ponder({"info"}, "", {"PONDER_MODEL=" + (shared / "stories260K.gguf").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("stories260K.gguf"), std::string::npos) << r.out;

    // The config file's model, as for a question.
    ponder::test::TempDir config_home;
    std::filesystem::create_directories(config_home.path() / "ponder");
    ponder::test::write_file(
        config_home.path() / "ponder/config.toml",
        "model = \"" + (shared / "TinyStories-656K-Q8_0.gguf").string() + "\"\n");
    r = run_ponder({"info"}, "", {"XDG_CONFIG_HOME=" + config_home.path().string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("TinyStories-656K-Q8_0.gguf"), std::string::npos) << r.out;

    r = run_ponder({"info", "-m", (shared / "tinystories-656k-hf").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("tinystories-656k-hf: a Hugging Face directory"), std::string::npos)
        << r.err;
}
