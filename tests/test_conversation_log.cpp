// The conversation log: exchanges survive reopening, conversations continue, search works, and a
// corrupt database is set aside rather than overwritten.
#include <gtest/gtest.h>

#include "engine/error.h"
#include "reason/conversation_log.h"
#include "tests/support.h"

namespace ponder {
namespace {

LoggedExchange exchange(const std::string& prompt, const std::string& answer,
                        int64_t conversation) {
    LoggedExchange e;
    e.conversation_id = conversation;
    e.mode = "quick";
    e.model = "m.gguf";
    e.prompt = prompt;
    e.answer = answer;
    e.options = {{"temp", 0.5}};
    e.timings = {{"gen_tps", 12.5}};
    return e;
}

TEST(ConversationLog, ExchangesPersistAcrossReopening) {
    test::TempDir dir;
    auto path = dir.path() / "sub" / "log.db";
    int64_t conv;
    {
        auto log = ConversationLog::open(path, nullptr);
        conv = log.start_conversation();
        log.append(exchange("first question", "first answer", conv));
        auto e = exchange("second", "two", conv);
        e.chains = nlohmann::json::array({{{"answer", "2"}}});
        log.append(e);
        log.append(exchange("other conversation", "x", 0));
    }
    auto log = ConversationLog::open(path, nullptr);
    auto c = log.conversation(conv);
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[0].prompt, "first question");
    EXPECT_EQ(c[1].chains[0]["answer"], "2");
    EXPECT_EQ(c[0].options["temp"], 0.5);
    EXPECT_FALSE(c[0].created_at.empty());
    auto last = log.last_conversation();
    ASSERT_TRUE(last.has_value());
    EXPECT_NE(*last, conv);  // the third exchange started its own conversation
    auto recent = log.recent(2);
    ASSERT_EQ(recent.size(), 2u);
    EXPECT_EQ(recent[0].prompt, "other conversation");
    auto found = log.recent(10, "FIRST ANS");
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].answer, "first answer");
}

TEST(ConversationLog, CorruptFileIsSetAsideNotOverwritten) {
    test::TempDir dir;
    auto path = dir.path() / "log.db";
    std::string garbage(8192, 'x');
    test::write_file(path, garbage);
    std::string warning;
    auto log = ConversationLog::open(path, [&](const std::string& w) { warning = w; });
    EXPECT_NE(warning.find("corrupt"), std::string::npos) << warning;
    log.append(exchange("q", "a", 0));
    int aside = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
        if (entry.path().filename().string().find("log.db.corrupt-") == 0) {
            EXPECT_EQ(test::read_file(entry.path()), garbage);
            ++aside;
        }
    }
    EXPECT_EQ(aside, 1);
    EXPECT_EQ(log.recent(5).size(), 1u);
}

}  // namespace
}  // namespace ponder
