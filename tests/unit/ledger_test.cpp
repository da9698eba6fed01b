// The ledger's pure pieces: time, checked arithmetic, ids, and the balance assertion.
#include <gtest/gtest.h>

#include "ledger/amounts.hpp"
#include "ledger/journal.hpp"
#include "platform/digest.hpp"
#include "platform/ids.hpp"
#include "platform/time.hpp"

namespace loyalty {
namespace {

TEST(Time, FormatsAndParsesRfc3339InUtc) {
  const auto instant = parse_rfc3339("2026-11-22T08:00:00Z");
  ASSERT_TRUE(instant);
  EXPECT_EQ(format_rfc3339(*instant), "2026-11-22T08:00:00Z");
  EXPECT_EQ(format_rfc3339(*parse_rfc3339("2026-11-22T16:00:00.25+08:00")), "2026-11-22T08:00:00.250000Z");
  EXPECT_EQ(format_rfc3339(*parse_rfc3339("2026-11-22 08:00:00.123456+00")), "2026-11-22T08:00:00.123456Z");
}

TEST(Time, RefusesWhatIsNotATime) {
  for (const char* text : {"", "2026-11-22", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-22T08:00:00",
                           "2026-11-22T24:00:00Z", "2026-11-22T08:00:00Zjunk", "2026-11-22T08:00:00."}) {
    EXPECT_FALSE(parse_rfc3339(text)) << text;
  }
}

TEST(Amounts, NeverWrap) {
  EXPECT_FALSE(ledger::checked_add(INT64_MAX, 1));
  EXPECT_FALSE(ledger::checked_sub(INT64_MIN, 1));
  EXPECT_FALSE(ledger::checked_mul(INT64_MAX / 2 + 1, 2));
  EXPECT_EQ(ledger::checked_add(INT64_MAX - 1, 1), INT64_MAX);
}

TEST(Ids, HaveThePrefixAndTwentyCharactersAndDoNotRepeat) {
  const auto a = new_id("mem_"), b = new_id("mem_");
  EXPECT_EQ(a.size(), 24u);
  EXPECT_EQ(a.rfind("mem_", 0), 0u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789", 4), std::string::npos);
}

TEST(Digest, Sha256AndBase64MatchKnownValues) {
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(base64_encode("ab"), "YWI=");
  EXPECT_EQ(base64_decode("YWI="), "ab");
  EXPECT_EQ(base64_decode("YWJj"), "abc");
  EXPECT_FALSE(base64_decode("YW"));
}

ledger::EntryDraft draft(std::vector<ledger::PostingDraft> postings) {
  ledger::EntryDraft entry{"adjustment", now_utc()};
  entry.postings = std::move(postings);
  return entry;
}

TEST(Journal, ABalancedEntryPassesTheAssertion) {
  ledger::assert_balanced(draft({{1, "POINTS", 5}, {2, "POINTS", -5}, {3, "GROWTH", 1}, {4, "GROWTH", -1}}));
}

using JournalDeathTest = ::testing::Test;

TEST_F(JournalDeathTest, AnUnbalancedEntryStopsTheProcessBeforeAnythingIsWritten) {
  EXPECT_DEATH(ledger::assert_balanced(draft({{1, "POINTS", 5}, {2, "POINTS", -4}})), "sum to zero");
  EXPECT_DEATH(ledger::assert_balanced(draft({{1, "POINTS", 5}, {2, "GROWTH", -5}})), "sum to zero");
  EXPECT_DEATH(ledger::assert_balanced(draft({{1, "POINTS", 5}})), "two or more");
  EXPECT_DEATH(ledger::assert_balanced(draft({{1, "POINTS", 0}, {2, "POINTS", 0}})), "zero");
  EXPECT_DEATH(ledger::assert_balanced(draft({{1, "POINTS", INT64_MAX}, {2, "POINTS", INT64_MAX}, {3, "POINTS", 2}})),
               "overflow");
}

}  // namespace
}  // namespace loyalty
