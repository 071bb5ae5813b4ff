// The reasoning toolkit: exact arithmetic, answer extraction and normalisation, and the
// re-checking of arithmetic claims in chains.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "engine/error.h"
#include "reason/answer.h"
#include "reason/arithmetic_check.h"
#include "reason/calculator.h"
#include "reason/calibration.h"
#include "reason/rational.h"

namespace ponder {
namespace {

std::string calc(const char* e) {
    return evaluate_expression(e).to_string();
}

TEST(Calculator, ExactArithmeticWithPrecedence) {
    EXPECT_EQ(calc("3 * 12 - 7"), "29");
    EXPECT_EQ(calc("2 + 3 * 4 ^ 2"), "50");
    EXPECT_EQ(calc("2 ^ 3 ^ 2"), "512");
    EXPECT_EQ(calc("(1 + 2) * -3"), "-9");
    EXPECT_EQ(calc("1/3 + 1/6"), "0.5");
    EXPECT_EQ(calc("1 / 3"), "1/3");
    EXPECT_EQ(calc("0.1 + 0.2"), "0.3");
    EXPECT_EQ(calc("1,234 + 1"), "1235");
    EXPECT_EQ(calc("12 × 3 ÷ 4"), "9");
    EXPECT_EQ(calc("3 x 4"), "12");
    EXPECT_EQ(calc("2**10"), "1024");
    EXPECT_EQ(calc("50% * 30"), "15");
    EXPECT_EQ(calc("2^-2"), "0.25");
    EXPECT_EQ(calc("123456789012345678 * 1000"), "123456789012345678000");
}

TEST(Calculator, ErrorsAreClearAndBounded) {
    for (const char* bad :
         {"1 / 0", "2 +", "(1 + 2", "abc", "1 2", "2 ^ 0.5", "10 ^ 100000", "", "9^9^9"}) {
        EXPECT_THROW(evaluate_expression(bad), Error) << bad;
    }
    EXPECT_THROW(evaluate_expression(std::string(5000, '(') + "1" + std::string(5000, ')')), Error);
    EXPECT_THROW(
        evaluate_expression("99999999999999999999 * 99999999999999999999 * 99999999999999999999"),
        Error);
    try {
        evaluate_expression("1 + * 2");
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("position"), std::string::npos);
    }
}

TEST(Rational, ParsesWrittenNumbers) {
    EXPECT_EQ(Rational::parse("1,234.50")->to_string(), "1234.5");
    EXPECT_EQ(Rational::parse("-3/4")->to_string(false), "-3/4");
    EXPECT_EQ(Rational::parse("1e3")->to_string(), "1000");
    EXPECT_FALSE(Rational::parse("1,23").has_value());
    EXPECT_FALSE(Rational::parse("12a").has_value());
    EXPECT_FALSE(Rational::parse("-").has_value());
    EXPECT_FALSE(Rational::parse("1/0").has_value());
}

struct ExtractCase {
    const char* chain;
    AnswerKind kind;
    const char* key;
    const char* source;
};

TEST(Answer, ExtractsFromTheUsualPlaces) {
    const ExtractCase cases[] = {
        {"3 * 12 = 36\n36 - 7 = 29\nAnswer: 29", AnswerKind::number, "29", "answer-line"},
        {"so we get \\boxed{\\frac{3}{4}} in the end", AnswerKind::number, "3/4", "boxed"},
        {"**Final Answer:** $1,250.00", AnswerKind::number, "1250", "answer-line"},
        {"Thus the answer is 42 pens.", AnswerKind::number, "42", "answer-is"},
        {"We add 2 and 3 to get 5, then double it: 10", AnswerKind::number, "10", "last-number"},
        {"Answer: Yes, it is prime.", AnswerKind::yes_no, "yes", "answer-line"},
        {"Answer: (c)", AnswerKind::option, "C", "answer-line"},
        {"Final answer: The Eiffel Tower.", AnswerKind::text, "eiffel tower", "answer-line"},
        {"#### 72", AnswerKind::number, "72", "answer-line"},
        {"Answer: 0.75", AnswerKind::number, "3/4", "answer-line"},
        {"Answer: 12%", AnswerKind::number, "12%", "answer-line"},
        {"Answer: 7\nAnswer: 8", AnswerKind::number, "8", "answer-line"},
    };
    for (const auto& c : cases) {
        Answer a = extract_answer(c.chain);
        EXPECT_EQ(a.kind, c.kind) << c.chain;
        EXPECT_EQ(a.key, c.key) << c.chain;
        EXPECT_EQ(a.source, c.source) << c.chain;
    }
    EXPECT_TRUE(extract_answer("I do not know.").empty());
    // Digits inside names are not numbers of the answer.
    EXPECT_TRUE(
        extract_answer("I can only do arithmetic: load a SmolLM2 or Qwen2.5 model, or GPT-4.")
            .empty());
    EXPECT_EQ(extract_answer("Qwen2.5 says 3 + 4 = 7").key, "7");
    EXPECT_TRUE(extract_answer("").empty());
}

TEST(Answer, EqualAnswersClusterDifferentOnesDoNot) {
    auto key = [](const char* s) { return normalize_answer(s).key; };
    EXPECT_EQ(key("29"), key("29 pens"));
    EXPECT_EQ(key("$29.00"), key("29"));
    EXPECT_EQ(key("3/4"), key("0.75"));
    EXPECT_EQ(key("Yes."), key("yes"));
    EXPECT_EQ(key("Option B"), key("(B)"));
    EXPECT_EQ(key("The Answer"), key("answer"));
    EXPECT_NE(key("29"), key("30"));
    EXPECT_NE(key("yes"), key("no"));
    EXPECT_NE(key("B"), key("C"));
    EXPECT_EQ(normalize_answer("0.75").display, "0.75");
}

TEST(Answer, LongAndHostileInputStaysBounded) {
    std::string huge(2'000'000, 'a');
    huge += "\nAnswer: 5";
    EXPECT_EQ(extract_answer(huge).key, "5");
    std::string digits(100'000, '9');
    (void)extract_answer(digits);  // must not crash or hang
    (void)normalize_answer(std::string(100'000, '('));
}

TEST(ArithmeticCheck, FindsTrueAndFalseClaims) {
    auto claims =
        check_arithmetic("Tom has 3 boxes, so 3 * 12 = 36 pens. Then 36 - 7 = 28.\nAnswer: 28");
    ASSERT_EQ(claims.size(), 2u);
    EXPECT_EQ(claims[0].expression, "3 * 12");
    EXPECT_TRUE(claims[0].correct);
    EXPECT_EQ(claims[1].claimed, "28");
    EXPECT_EQ(claims[1].actual, "29");
    EXPECT_FALSE(claims[1].correct);
}

TEST(ArithmeticCheck, ChainsRoundingAndNonClaims) {
    auto claims = check_arithmetic(
        "3 * 12 = 36 - 7 = 29; 10 / 3 = 3.33; 10 / 3 = 3.4; x = 5; a == b; 1,200 + 300 = 1,500; "
        "1/2 + 1/4 = 3/4");
    ASSERT_EQ(claims.size(), 6u);
    for (size_t i : {0u, 1u, 2u, 4u, 5u})
        EXPECT_TRUE(claims[i].correct) << claims[i].expression << " = " << claims[i].claimed;
    EXPECT_FALSE(claims[3].correct);
    EXPECT_TRUE(check_arithmetic("The year 2024 = a leap year. Step 1: 5 = 5").empty());
}

// A claim whose numbers overflow exact arithmetic (found by fuzz_answer) is left unchecked; the
// claims beside it still are, and nothing is thrown.
TEST(ArithmeticCheck, NumbersBeyondExactArithmeticAreNotClaims) {
    std::vector<ArithmeticClaim> claims;
    ASSERT_NO_THROW(
        claims = check_arithmetic("2 + 2 = 4; 10 / 33 = 0.3311111111111111111111111111111111; "
                                  "3 * 3 = 9"));
    ASSERT_EQ(claims.size(), 2u);
    EXPECT_EQ(claims[0].expression, "2 + 2");
    EXPECT_EQ(claims[1].expression, "3 * 3");
}

TEST(Calibration, BrierScoreAndAurocOfConfidence) {
    const std::vector<Graded> separated = {{0.9, true}, {0.9, true}, {0.1, false}};
    EXPECT_DOUBLE_EQ(*confidence_auroc(separated), 1.0);
    EXPECT_NEAR(*brier_score(separated), 0.01, 1e-12);
    const std::vector<Graded> reversed = {{0.2, true}, {0.7, false}};
    EXPECT_DOUBLE_EQ(*confidence_auroc(reversed), 0.0);
    const std::vector<Graded> constant = {{0.5, true}, {0.5, false}, {0.5, false}};
    EXPECT_DOUBLE_EQ(*confidence_auroc(constant), 0.5);
    EXPECT_DOUBLE_EQ(*brier_score(constant), 0.25);
    // A tie between a right and a wrong answer counts half: (1 + 1 + 0.5 + 1) / 4.
    const std::vector<Graded> tied = {{0.8, true}, {0.5, true}, {0.5, false}, {0.2, false}};
    EXPECT_DOUBLE_EQ(*confidence_auroc(tied), 0.875);
    // Undefined without both kinds of answer, or without answers.
    EXPECT_FALSE(confidence_auroc(std::vector<Graded>{{0.3, true}, {0.9, true}}));
    EXPECT_FALSE(brier_score({}));

    // Against counting every (right, wrong) pair, on sets with many ties.
    std::mt19937 rng(7);
    for (int trial = 0; trial < 50; ++trial) {
        std::vector<Graded> set(1 + rng() % 120);
        for (auto& g : set) {
            g.confidence = static_cast<double>(rng() % 11) / 10;
            g.correct = rng() % 3 != 0;
        }
        double pairs = 0, wins = 0;
        for (const auto& a : set)
            for (const auto& b : set)
                if (a.correct && !b.correct) {
                    ++pairs;
                    wins += a.confidence > b.confidence    ? 1
                            : a.confidence == b.confidence ? 0.5
                                                           : 0;
                }
        const auto auroc = confidence_auroc(set);
        ASSERT_EQ(auroc.has_value(), pairs > 0) << trial;
        if (auroc) {
            EXPECT_NEAR(*auroc, wins / pairs, 1e-12) << trial;
        }
    }
}

}  // namespace
}  // namespace ponder
