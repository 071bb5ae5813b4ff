// The command-line front end, driven as a user would: the real binary in a subprocess.
#include <gtest/gtest.h>

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
