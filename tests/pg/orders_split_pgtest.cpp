// The arithmetic of orders, with no database: totals that must add up without overflow, the
// cumulative split of refunds between points and cash, and which lots refunded points go back
// to. (It lives among the pg tests because mall/ has its tests here; it opens no connection.)
#include <gtest/gtest.h>

#include <random>

#include "mall/split.hpp"

namespace loyalty::mall {
namespace {

TEST(OrderSplit, TotalsAddUpOnlyWhenCashPlusPointsValueIsTheLinesTotal) {
  const std::vector<OrderLine> lines{{"a", "A", 7, 1001, 0}};
  EXPECT_EQ(check_totals(lines, 3000, 4007, 1), TotalsCheck::adds_up);
  EXPECT_EQ(check_totals(lines, 3000, 4006, 1), TotalsCheck::mismatch);
  EXPECT_EQ(check_totals(lines, 300, 4007, 10), TotalsCheck::adds_up);
  EXPECT_EQ(check_totals({{"a", "A", 4, std::int64_t{1} << 62, 0}}, 0, 0, 1), TotalsCheck::overflow);
  EXPECT_EQ(check_totals(lines, std::int64_t{1} << 62, 0, 4), TotalsCheck::overflow);
  EXPECT_EQ(check_totals({{"a", "A", 1, INT64_MAX, 0}, {"b", "B", 1, 1, 0}}, 0, 0, 1), TotalsCheck::overflow);
}

TEST(OrderSplit, RefundingSevenOddUnitsOneAtATimeReturnsExactlyWhatWasPaid) {
  const PaidAmounts paid{7007, 3000, 4007};
  std::int64_t points = 0, cash = 0;
  for (int unit = 0; unit < 7; ++unit) {
    const Split split = refund_split(paid, unit * 1001, (unit + 1) * 1001);
    EXPECT_EQ(split.points + split.cash_cents, 1001);
    EXPECT_TRUE(split.points == 428 || split.points == 429) << split.points;
    points += split.points;
    cash += split.cash_cents;
  }
  EXPECT_EQ(points, 3000);
  EXPECT_EQ(cash, 4007);
}

TEST(OrderSplit, AnyCutOfAnyOrderReturnsExactlyWhatWasPaidAndNoRefundIsNegative) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 random{seed};
  for (int round = 0; round < 2000; ++round) {
    const std::int64_t point_value = std::uniform_int_distribution<std::int64_t>{1, 120}(random);
    const std::int64_t total = std::uniform_int_distribution<std::int64_t>{1, 1'000'000}(random);
    const std::int64_t points = std::uniform_int_distribution<std::int64_t>{0, total / point_value}(random);
    const PaidAmounts paid{total, points, total - points * point_value};
    std::int64_t refunded = 0, points_back = 0, cash_back = 0;
    while (refunded < total) {
      const std::int64_t value = std::uniform_int_distribution<std::int64_t>{1, total - refunded}(random);
      const Split split = refund_split(paid, refunded, refunded + value);
      ASSERT_GE(split.points, 0);
      ASSERT_GE(split.cash_cents, 0);
      if (point_value == 1) {
        ASSERT_EQ(split.points + split.cash_cents, value);
      }
      refunded += value;
      points_back += split.points;
      cash_back += split.cash_cents;
      ASSERT_LE(points_back, paid.points);
      ASSERT_LE(cash_back, paid.cash_cents);
    }
    ASSERT_EQ(points_back, paid.points);
    ASSERT_EQ(cash_back, paid.cash_cents);
  }
}

TEST(OrderSplit, TheSplitOfTheLargestOrderDoesNotOverflow) {
  const PaidAmounts paid{INT64_MAX, INT64_MAX - 1, 1};
  const Split half = cumulative_split(paid, INT64_MAX / 2);
  EXPECT_EQ(half.points + half.cash_cents, INT64_MAX / 2);
  EXPECT_EQ(half.cash_cents, 1);
  const Split all = cumulative_split(paid, INT64_MAX);
  EXPECT_EQ(all.points, INT64_MAX - 1);
  EXPECT_EQ(all.cash_cents, 1);
}

TEST(OrderSplit, RefundedPointsGoBackToTheLatestExpiringLotsFirst) {
  using std::chrono::days;
  const Timestamp soon = Timestamp{} + days{10};
  const Timestamp later = Timestamp{} + days{20};
  const std::vector<ledger::LotTake> takes{{1, 500, soon}, {2, 300, later}};
  const auto first = lots_to_return(takes, 0, 200);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].lot_id, 2);
  EXPECT_EQ(first[0].amount, 200);
  const auto rest = lots_to_return(takes, 200, 600);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].lot_id, 2);
  EXPECT_EQ(rest[0].amount, 100);
  EXPECT_EQ(rest[1].lot_id, 1);
  EXPECT_EQ(rest[1].amount, 500);
  EXPECT_EQ(rest[1].expires_at, soon);
}

TEST(OrderShape, EveryProblemOfANewOrderIsListed) {
  NewOrder order;
  order.order_id = std::string(121, 'a');
  order.lines = {{"a", "", 0, 0, 0}, {"a", "A", 1, 1, 0}};
  order.points_to_use = -1;
  order.ttl = std::chrono::seconds{86401};
  const auto issues = order_issues(order);
  std::vector<std::string> fields;
  for (const auto& issue : issues) fields.push_back(issue.field);
  EXPECT_EQ(fields,
            (std::vector<std::string>{"order_id", "member_id", "currency", "lines[0].title", "lines[0].quantity",
                                      "lines[0].unit_price_cents", "lines[1].sku", "points_to_use", "ttl_seconds"}));
}

}  // namespace
}  // namespace loyalty::mall
