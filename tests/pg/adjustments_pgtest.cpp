// Manual adjustments: credits, debits, reason codes, overflow and bad input.
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

using Adjustments = ServiceTest;

nlohmann::json adjustment(const std::string& member_id, std::int64_t amount, const std::string& asset = "POINTS") {
  return {{"member_id", member_id}, {"asset", asset}, {"amount", amount}, {"reason_code", "goodwill"}};
}

TEST_F(Adjustments, ACreditAndADebitMoveTheAvailableBalance) {
  const std::string member_id = create_member();
  const auto credit = post("/v1/adjustments", adjustment(member_id, 500), unique("k-"));
  ASSERT_EQ(credit.status, 201) << credit.body;
  EXPECT_EQ(credit.json()["available_after"], 500);
  const auto debit = post("/v1/adjustments", adjustment(member_id, -200), unique("k-"));
  ASSERT_EQ(debit.status, 201) << debit.body;
  EXPECT_EQ(points_balance(member_id)["available"], 300);
  EXPECT_EQ(points_balance(member_id)["total"], 300);
}

TEST_F(Adjustments, GrowthCanBeAdjustedButNotBelowZero) {
  const std::string member_id = create_member();
  ASSERT_EQ(post("/v1/adjustments", adjustment(member_id, 30, "GROWTH"), unique("k-")).status, 201);
  const auto debit = post("/v1/adjustments", adjustment(member_id, -31, "GROWTH"), unique("k-"));
  EXPECT_EQ(debit.status, 422);
  EXPECT_EQ(debit.json()["code"], "insufficient_balance");
}

TEST_F(Adjustments, ADebitBeyondTheAvailablePointsIsRefusedAndWritesNothing) {
  const std::string member_id = member_with_points(100);
  const auto entries = count_rows("entries");
  const auto refused = post("/v1/adjustments", adjustment(member_id, -101), unique("k-"));
  EXPECT_EQ(refused.status, 422);
  EXPECT_EQ(refused.json()["code"], "insufficient_points");
  EXPECT_EQ(count_rows("entries"), entries);
  EXPECT_EQ(points_balance(member_id)["available"], 100);
}

TEST_F(Adjustments, TheLargestAmountTwiceIsRefusedNeverWrapped) {
  const std::string member_id = create_member();
  const std::int64_t max = INT64_MAX;
  ASSERT_EQ(post("/v1/adjustments", adjustment(member_id, max), unique("k-")).status, 201);
  const auto entries = count_rows("entries");
  const auto second = post("/v1/adjustments", adjustment(member_id, max), unique("k-"));
  EXPECT_EQ(second.status, 422) << second.body;
  EXPECT_EQ(second.json()["code"], "amount_overflow");
  EXPECT_EQ(count_rows("entries"), entries);
  EXPECT_EQ(points_balance(member_id)["available"], max);
  // Even one more point does not fit.
  EXPECT_EQ(post("/v1/adjustments", adjustment(member_id, 1), unique("k-")).status, 422);
  // Taking it back leaves the system accounts balanced again.
  ASSERT_EQ(post("/v1/adjustments", adjustment(member_id, -max), unique("k-")).status, 201);
}

TEST_F(Adjustments, BadBodiesAreRefusedWithAProblemAndWriteNothing) {
  const std::string member_id = member_with_points(10);
  const auto entries = count_rows("entries");
  const auto keys = count_rows("idempotency_keys");
  const std::string id = "\"" + member_id + "\"";
  const struct {
    std::string body;
    int status;
  } cases[] = {
      {"{not json", 400},
      {"[]", 400},
      {"{\"member_id\":" + id + ",\"asset\":\"POINTS\",\"amount\":1.5,\"reason_code\":\"goodwill\"}", 400},
      {"{\"member_id\":" + id + ",\"asset\":\"POINTS\",\"amount\":1e2,\"reason_code\":\"goodwill\"}", 400},
      {"{\"member_id\":" + id + ",\"asset\":\"POINTS\",\"amount\":\"ten\",\"reason_code\":\"goodwill\"}", 400},
      {"{\"member_id\":" + id + ",\"asset\":\"POINTS\",\"amount\":true,\"reason_code\":\"goodwill\"}", 400},
      {"{\"member_id\":" + id + ",\"asset\":\"POINTS\",\"amount\":9223372036854775808,\"reason_code\":\"goodwill\"}",
       400},
      {"{\"member_id\":" + id + ",\"asset\":\"POINTS\",\"amount\":5,\"reason_code\":\"goodwill\",\"currency\":\"USD\"}",
       400},
      {"{\"member_id\":" + id + ",\"asset\":\"POINTS\",\"amount\":0,\"reason_code\":\"goodwill\"}", 422},
      {"{\"member_id\":" + id + ",\"asset\":\"POINTS\",\"amount\":5,\"reason_code\":\"because\"}", 422},
      {"{\"member_id\":" + id + ",\"asset\":\"POINTS\",\"amount\":5}", 422},
      {"{\"member_id\":" + id + ",\"asset\":\"SKYAIR_MILES\",\"amount\":5,\"reason_code\":\"goodwill\"}", 422},
      {"{\"member_id\":" + id + ",\"asset\":\"POINTS\",\"amount\":5,\"reason_code\":\"other\"}", 422},
  };
  for (const auto& c : cases) {
    const auto result = post_raw("/v1/adjustments", c.body, {{"Idempotency-Key", unique("bad-")}});
    EXPECT_EQ(result.status, c.status) << c.body << " -> " << result.body;
    EXPECT_EQ(result.header("content-type"), "application/problem+json") << c.body;
    EXPECT_FALSE(result.json().value("code", "").empty()) << c.body;
  }
  EXPECT_EQ(count_rows("entries"), entries);
  EXPECT_EQ(count_rows("idempotency_keys"), keys);
  EXPECT_EQ(points_balance(member_id)["available"], 10);
}

TEST_F(Adjustments, AmountsMayBeWrittenAsDecimalStrings) {
  const std::string member_id = create_member();
  const auto credited = post_raw(
      "/v1/adjustments",
      "{\"member_id\":\"" + member_id + "\",\"asset\":\"POINTS\",\"amount\":\"42\",\"reason_code\":\"correction\"}",
      {{"Idempotency-Key", unique("s-")}});
  ASSERT_EQ(credited.status, 201) << credited.body;
  EXPECT_EQ(credited.json()["amount"], 42);  // numbers on output
}

TEST_F(Adjustments, AnAdjustmentWithoutAnIdempotencyKeyIsRefused) {
  const std::string member_id = create_member();
  const auto refused = post("/v1/adjustments", adjustment(member_id, 5));
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.json()["code"], "validation_failed");
  EXPECT_EQ(post("/v1/adjustments", adjustment(member_id, 5), "not a valid key!").status, 400);
}

TEST_F(Adjustments, OnlyAdminsMayAdjust) {
  const std::string member_id = create_member();
  const auto refused = post("/v1/adjustments", adjustment(member_id, 5), unique("k-"), api::Role::mall);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.json()["code"], "forbidden");
}

}  // namespace
}  // namespace loyalty::testing
