// Masking of personal data and the small pure parts of exports; no I/O.
#include <gtest/gtest.h>

#include "audit/export.hpp"
#include "audit/privacy.hpp"

namespace loyalty::audit {
namespace {

TEST(AuditPrivacy, APhoneNumberKeepsItsFirstThreeAndLastFourDigits) {
  EXPECT_EQ(mask_phone("13812341234"), "138****1234");
  EXPECT_EQ(mask_phone("+86 138-1234-1234"), "861******1234");
  EXPECT_EQ(mask_phone("123"), "***");
}

TEST(AuditPrivacy, FreeTextMasksEveryLongRunOfDigitsAndNothingElse) {
  EXPECT_EQ(mask_phone_numbers("call 13812341234 or 13900001111."), "call 138****1234 or 139****1111.");
  EXPECT_EQ(mask_phone_numbers("order 123456 on 2026-11-22"), "order 123456 on 2026-11-22");
  EXPECT_EQ(mask_phone_numbers(""), "");
}

TEST(AuditExport, FormatsAreAClosedSet) {
  std::string unknown;
  const auto formats = parse_formats({"csv", "ledger"}, &unknown);
  ASSERT_TRUE(formats.has_value());
  EXPECT_TRUE(formats->csv);
  EXPECT_FALSE(formats->jsonl);
  EXPECT_FALSE(parse_formats({"csv", "pdf"}, &unknown).has_value());
  EXPECT_EQ(unknown, "pdf");
  EXPECT_FALSE(parse_formats({}).has_value());
}

TEST(AuditExport, CommoditiesThatAreNotPlainLettersAreQuotedForTheJournal) {
  EXPECT_EQ(journal_commodity("POINTS"), "POINTS");
  EXPECT_EQ(journal_commodity("ACME_MILES"), "\"ACME_MILES\"");
}

}  // namespace
}  // namespace loyalty::audit
