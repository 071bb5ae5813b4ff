// The command-line front end, driven as a user would: the real binary in a subprocess.
#include <gtest/gtest.h>

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
