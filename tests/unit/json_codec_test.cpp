// The API's encodings: JSON with snake_case names and numbers for every amount, binary
// protobuf from the same messages, and the input rules (integers only, no unknown fields).
#include <gtest/gtest.h>

#include "api/json_codec.hpp"
#include "api/proto/loyalty/v1/loyalty.pb.h"

namespace loyalty::api {
namespace {

TEST(JsonCodec, WritesSnakeCaseNamesAndInt64AsNumbers) {
  v1::Adjustment adjustment;
  adjustment.set_entry_id(9007199254740993);
  adjustment.set_member_id("mem_a");
  adjustment.set_available_after(-5);
  adjustment.set_reason_code("goodwill");
  const std::string json = to_json(adjustment);
  EXPECT_NE(json.find("\"entry_id\":9007199254740993"), std::string::npos) << json;
  EXPECT_NE(json.find("\"available_after\":-5"), std::string::npos) << json;
  EXPECT_EQ(json.find("\"note\""), std::string::npos) << "absent optional fields stay absent: " << json;
}

TEST(JsonCodec, MapsAreWrittenWithSortedKeysSoEqualMessagesEncodeEqually) {
  v1::Balances balances;
  balances.set_member_id("mem_a");
  (*balances.mutable_balances())["POINTS"].set_available(1);
  (*balances.mutable_balances())["GROWTH"].set_available(2);
  const std::string json = to_json(balances);
  EXPECT_LT(json.find("GROWTH"), json.find("POINTS")) << json;
  EXPECT_EQ(to_binary(balances), to_binary(balances));
}

TEST(JsonCodec, EscapesStrings) {
  v1::Problem problem;
  problem.set_detail("quote \" backslash \\ newline \n control \x01");
  EXPECT_NE(to_json(problem).find(R"(quote \" backslash \\ newline \n control \u0001)"), std::string::npos);
}

TEST(JsonCodec, ReadsNumbersOrDecimalStringsForIntegers) {
  v1::CreateAdjustmentRequest request;
  EXPECT_FALSE(parse_json(R"({"member_id":"m","amount":"-42"})", request));
  EXPECT_EQ(request.amount(), -42);
  EXPECT_FALSE(parse_json(R"({"member_id":"m","amount":9223372036854775807})", request));
  EXPECT_EQ(request.amount(), INT64_MAX);
}

TEST(JsonCodec, RefusesFractionsExponentsUnknownFieldsAndOverflow) {
  v1::CreateAdjustmentRequest request;
  EXPECT_TRUE(parse_json(R"({"amount":1.0})", request));
  EXPECT_TRUE(parse_json(R"({"amount":1e3})", request));
  EXPECT_TRUE(parse_json(R"({"amount":9223372036854775808})", request));
  EXPECT_TRUE(parse_json(R"({"amount":5,"unexpected":true})", request));
  EXPECT_TRUE(parse_json(R"({"amount":"five"})", request));
  EXPECT_TRUE(parse_json(R"({"amount":5)", request));
  // A fraction inside a string is not a number.
  EXPECT_FALSE(parse_json(R"({"note":"1.5 points \"2.5\""})", request));
}

TEST(JsonCodec, BinaryRoundTrips) {
  v1::Hold hold;
  hold.set_hold_id("hold_x");
  hold.set_amount(77);
  v1::Hold back;
  EXPECT_FALSE(parse_binary(to_binary(hold), back));
  EXPECT_EQ(back.amount(), 77);
  EXPECT_TRUE(parse_binary("\xff\xff\xff", back));
}

}  // namespace
}  // namespace loyalty::api
