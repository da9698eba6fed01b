// Hostile input to the pure pieces: times, text, both body encodings, the program document
// (JSON and YAML), CSV reading and writing, and masking. Each is refused with a sentence,
// never a crash.
#include <gtest/gtest.h>

#include <sstream>

#include "api/json_codec.hpp"
#include "api/limits.hpp"
#include "api/proto/loyalty/v1/loyalty.pb.h"
#include "audit/csv.hpp"
#include "audit/export.hpp"
#include "audit/privacy.hpp"
#include "partners/reconcile.hpp"
#include "platform/text.hpp"
#include "platform/time.hpp"
#include "program/document.hpp"

namespace loyalty {
namespace {

TEST(HostileTimes, YearsStayWithin0001And9999AfterTheOffset) {
  EXPECT_FALSE(parse_rfc3339("9999-12-31T23:59:59-12:00"));  // 10000-01-01T11:59:59Z
  EXPECT_FALSE(parse_rfc3339("0001-01-01T00:00:00+00:01"));  // 0000-12-31T23:59:00Z
  EXPECT_FALSE(parse_rfc3339("0000-06-01T00:00:00Z"));
  ASSERT_TRUE(parse_rfc3339("9999-12-31T23:59:59.999999Z"));
  EXPECT_EQ(*parse_rfc3339("9999-12-31T23:59:59.999999Z"), time_max);
  EXPECT_EQ(*parse_rfc3339("0001-01-01T00:00:00Z"), time_min);
  EXPECT_TRUE(parse_rfc3339("9999-12-31T10:00:00-12:00"));
  EXPECT_FALSE(parse_rfc3339("2026-11-22T08:00:00+24:00"));
  EXPECT_FALSE(parse_rfc3339("2026-11-22T08:00:00+05:60"));
  EXPECT_FALSE(parse_rfc3339("2026-11-22T08:00:00." + std::string(100000, '9') + "Zx"));
  EXPECT_TRUE(parse_rfc3339("2026-11-22T08:00:00." + std::string(1000, '9') + "Z"));
  // Early years are written with four digits, so that what is written parses back.
  EXPECT_EQ(format_rfc3339(*parse_rfc3339("0226-11-22T08:00:00Z")), "0226-11-22T08:00:00Z");
  EXPECT_EQ(format_rfc3339(time_min), "0001-01-01T00:00:00Z");
}

TEST(HostileTimes, TheDatabasesWholeRangeIsReadable) {
  const auto beyond = parse_database_time("10000-01-01 11:59:59+00");
  ASSERT_TRUE(beyond);
  EXPECT_GT(*beyond, time_max);
  EXPECT_EQ(format_rfc3339(*beyond), "10000-01-01T11:59:59Z");
  const auto before_christ = parse_database_time("0044-03-15 12:00:00+00 BC");
  ASSERT_TRUE(before_christ);
  EXPECT_LT(*before_christ, time_min);
  EXPECT_TRUE(parse_database_time("infinity"));
  EXPECT_TRUE(parse_database_time("-infinity"));
  EXPECT_TRUE(parse_database_time("294276-12-31 23:59:59.999999+00"));
  EXPECT_EQ(*parse_database_time("2026-11-22 08:00:00.123456+00"), *parse_rfc3339("2026-11-22T08:00:00.123456Z"));
  EXPECT_FALSE(parse_database_time("not a time"));
  EXPECT_FALSE(parse_database_time(""));
}

TEST(HostileTimes, DatesAreDaysThatExist) {
  using namespace std::chrono;
  const sys_days leap{year{2028} / February / 29};
  EXPECT_EQ(format_date(leap), "2028-02-29");
  EXPECT_EQ(parse_date("2028-02-29"), leap);
  EXPECT_EQ(parse_date(format_date(sys_days{year{1} / January / 1})), sys_days{year{1} / January / 1});
  EXPECT_FALSE(parse_date("2026-02-29"));
  EXPECT_FALSE(parse_date("2026-13-01"));
  EXPECT_FALSE(parse_date("2026-1-01"));
  EXPECT_FALSE(parse_date("2026-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_date(""));
}

TEST(HostileText, CleanTextIsUtf8WithoutNul) {
  EXPECT_TRUE(is_clean_text("plain, ünïcödé, 积分, 🚗"));
  EXPECT_FALSE(is_clean_text(std::string("a\0b", 3)));
  EXPECT_FALSE(is_clean_text("\xC3\x28"));          // a broken two-byte sequence
  EXPECT_FALSE(is_clean_text("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_clean_text("\xED\xA0\x80"));      // a UTF-16 surrogate
  EXPECT_FALSE(is_clean_text("\xF4\x90\x80\x80"));  // beyond U+10FFFF
  EXPECT_FALSE(is_clean_text("\xE2\x82"));          // cut short
}

std::string nested(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(HostileBodies, NestingIsRefusedBeforeTheParserInJsonAndAfterItInBinary) {
  v1::RecordEventRequest request;
  const auto deep = api::parse_json(R"({"attributes":{"x":)" + nested(500'000) + "}}", request);
  ASSERT_TRUE(deep);
  EXPECT_NE(deep->find("deeper than 32"), std::string::npos) << *deep;
  v1::RecordEventRequest shallow;
  EXPECT_FALSE(api::parse_json(R"({"attributes":{"x":)" + nested(20) + "}}", shallow));

  v1::RecordEventRequest binary;
  google::protobuf::Value* value = &(*binary.mutable_attributes()->mutable_fields())["x"];
  for (int i = 0; i < 40; ++i) value = value->mutable_list_value()->add_values();
  v1::RecordEventRequest parsed;
  EXPECT_TRUE(api::parse_binary(binary.SerializeAsString(), parsed));
}

TEST(HostileBodies, TextMustBeUtf8WithoutNulInBothEncodings) {
  v1::CreateAdjustmentRequest request;
  EXPECT_TRUE(api::parse_json(R"({"note":"a\u0000b"})", request));
  EXPECT_TRUE(api::parse_json(R"({"note":"\ud800"})", request));
  EXPECT_TRUE(api::parse_json("{\"note\":\"\xC3\x28\"}", request));
  EXPECT_FALSE(api::parse_json(R"({"note":"fine \u00e9"})", request));
  v1::CreateAdjustmentRequest with_nul;
  with_nul.set_note(std::string("a\0b", 3));
  v1::CreateAdjustmentRequest parsed;
  EXPECT_TRUE(api::parse_binary(with_nul.SerializeAsString(), parsed));
}

TEST(HostileBodies, UnknownFieldsListsAndLongTextAreRefusedInBinary) {
  v1::CreateAdjustmentRequest request;
  request.set_amount(1);
  v1::CreateAdjustmentRequest parsed;
  EXPECT_TRUE(api::parse_binary(request.SerializeAsString() + std::string("\xB8\x3E\x01", 3), parsed));
  v1::CreateAdjustmentRequest long_note;
  long_note.set_note(std::string(api::limits::string_bytes_max + 1, 'a'));
  EXPECT_TRUE(api::parse_binary(long_note.SerializeAsString(), parsed));
  v1::RecordEventRequest many;
  auto* list = (*many.mutable_attributes()->mutable_fields())["x"].mutable_list_value();
  for (std::size_t i = 0; i <= api::limits::array_items_max; ++i) list->add_values()->set_number_value(1);
  v1::RecordEventRequest parsed_event;
  EXPECT_TRUE(api::parse_binary(many.SerializeAsString(), parsed_event));
  EXPECT_TRUE(api::parse_binary("\xFF\xFF\xFF", parsed_event));
}

TEST(HostileProgram, DeepDocumentsAreRefusedInJsonAndYaml) {
  const auto json_deep = program::json_text_to_document("{\"program\":" + nested(200'000) + "}");
  EXPECT_TRUE(std::holds_alternative<program::DocumentProblems>(json_deep));
  EXPECT_TRUE(std::holds_alternative<program::DocumentProblems>(program::yaml_to_json("program: " + nested(200'000))));
  std::string block;
  for (int i = 0; i < 200; ++i) block += std::string(static_cast<std::size_t>(i), ' ') + "k:\n";
  EXPECT_TRUE(std::holds_alternative<program::DocumentProblems>(program::yaml_to_json(block)));
  std::string dashes = "x: ";
  for (int i = 0; i < 200; ++i) dashes += "- ";
  EXPECT_TRUE(std::holds_alternative<program::DocumentProblems>(program::yaml_to_json(dashes + "1\n")));
}

TEST(HostileProgram, YamlAliasesCannotExpandWithoutBound) {
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    const std::string previous = "*a" + std::to_string(i - 1);
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + previous;
    for (int k = 0; k < 9; ++k) bomb += ", " + previous;
    bomb += "]\n";
  }
  const auto parsed = program::yaml_to_json(bomb);
  ASSERT_TRUE(std::holds_alternative<program::DocumentProblems>(parsed));
  EXPECT_NE(std::get<program::DocumentProblems>(parsed).problems[0].find("values"), std::string::npos);
}

TEST(HostileProgram, TextNumbersAndFundingAccountsAreChecked) {
  const auto text_problem = program::parse_program(nlohmann::json{{"program", std::string("a\0b", 3)}});
  ASSERT_TRUE(std::holds_alternative<program::DocumentProblems>(text_problem));
  EXPECT_NE(std::get<program::DocumentProblems>(text_problem).problems[0].find("NUL"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<program::DocumentProblems>(program::yaml_to_json("program: \"\xC3\x28\"\n")));
  const auto beyond_double = program::yaml_to_json("x: 1.5e999999\n");  // stays text, refused later
  ASSERT_TRUE(std::holds_alternative<nlohmann::json>(beyond_double));
  EXPECT_TRUE(std::get<nlohmann::json>(beyond_double)["x"].is_string());
  const auto huge = program::json_text_to_document(R"({"point_value_cents": 18446744073709551615})");
  ASSERT_TRUE(std::holds_alternative<nlohmann::json>(huge));
  const auto parsed = program::parse_program(std::get<nlohmann::json>(huge));
  ASSERT_TRUE(std::holds_alternative<program::DocumentProblems>(parsed));
  bool named = false;
  for (const auto& problem : std::get<program::DocumentProblems>(parsed).problems) {
    named = named || problem.starts_with("point_value_cents: must be from");
  }
  EXPECT_TRUE(named);
}

TEST(HostileCsv, TheReaderRefusesWhatIsNotRfc4180AndNeverCrashes) {
  const auto good = audit::read_csv("a,\"b,1\",\"say \"\"hi\"\"\"\r\n\r\n\"multi\nline\",2,\n");
  ASSERT_FALSE(good.problem);
  ASSERT_EQ(good.records.size(), 2u);
  EXPECT_EQ(good.records[0][2], "say \"hi\"");
  EXPECT_EQ(good.records[1][0], "multi\nline");
  EXPECT_EQ(good.records[1][2], "");
  for (const char* bad : {"a,\"open", "a\"b,c\n", "\"a\"b,c\n"}) {
    EXPECT_TRUE(audit::read_csv(bad).problem) << bad;
  }
  EXPECT_TRUE(audit::read_csv(std::string(300, ',')).problem);
  EXPECT_TRUE(audit::read_csv(std::string(70 * 1024, 'a')).problem);
  EXPECT_TRUE(
      std::holds_alternative<partners::CsvProblem>(partners::reconcile(nlohmann::json::array(), "kind,id\n\"x")));
}

TEST(HostileCsv, FormulasInExportCellsAreNeutralisedAndAmountsKept) {
  EXPECT_EQ(audit::csv_field("=HYPERLINK(\"http://evil\")"), "\"'=HYPERLINK(\"\"http://evil\"\")\"");
  EXPECT_EQ(audit::csv_field("+1+1"), "'+1+1");
  EXPECT_EQ(audit::csv_field("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(audit::csv_field("\tx"), "'\tx");
  EXPECT_EQ(audit::csv_field("-2+3"), "'-2+3");
  EXPECT_EQ(audit::csv_field("-500"), "-500");
  EXPECT_EQ(audit::csv_field("note"), "note");
}

TEST(HostileMasking, MaskingJsonKeepsNumbersAndStaysJson) {
  const std::string masked = audit::mask_phone_numbers_in_json(R"({"amount":12345678,"note":"call 13812341234"})");
  const auto parsed = nlohmann::json::parse(masked, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << masked;
  EXPECT_EQ(parsed["amount"], 12345678);
  EXPECT_EQ(parsed["note"], "call 138****1234");
}

}  // namespace
}  // namespace loyalty
