// Mall orders on the real database: checkout holds points, payment captures them and earns
// on the cash, cancellation and expiry give them back, refunds split by line and return
// exactly what was paid, and every transition the state machine forbids is refused with a
// clear code and writes nothing. The ledger's invariants are checked after every test.
#include <atomic>
#include <thread>

#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

struct Line {
  std::string sku;
  std::int64_t quantity;
  std::int64_t unit_price_cents;
};

class Orders : public ServiceTest {
 protected:
  static nlohmann::json order_body(const std::string& order_id, const std::string& member_id,
                                   const std::vector<Line>& lines, std::int64_t points, std::int64_t cash) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& line : lines) {
      items.push_back({{"sku", line.sku},
                       {"title", "Item " + line.sku},
                       {"quantity", line.quantity},
                       {"unit_price_cents", line.unit_price_cents}});
    }
    return {{"order_id", order_id}, {"member_id", member_id},  {"currency", "CNY"},
            {"lines", items},       {"points_to_use", points}, {"cash_cents", cash}};
  }
  HttpResult create(const nlohmann::json& body) { return post("/v1/orders", body, std::nullopt, api::Role::mall); }
  // A new order, checked to be created; returns its id.
  std::string checkout(const std::string& member_id, const std::vector<Line>& lines, std::int64_t points,
                       std::int64_t cash) {
    const std::string order_id = unique("order-");
    const auto created = create(order_body(order_id, member_id, lines, points, cash));
    EXPECT_EQ(created.status, 201) << created.body;
    return order_id;
  }
  HttpResult pay(const std::string& order_id, const std::string& payment_ref = "pay-1") {
    return post("/v1/orders/" + order_id + "/pay", {{"payment_ref", payment_ref}}, std::nullopt, api::Role::mall);
  }
  HttpResult cancel(const std::string& order_id) {
    return post("/v1/orders/" + order_id + "/cancel", nlohmann::json::object(), std::nullopt, api::Role::mall);
  }
  HttpResult refund(const std::string& order_id, const std::string& refund_id, const nlohmann::json& lines) {
    return post("/v1/orders/" + order_id + "/refunds", {{"refund_id", refund_id}, {"lines", lines}}, std::nullopt,
                api::Role::mall);
  }
  nlohmann::json order(const std::string& order_id) {
    const auto found = get("/v1/orders/" + order_id, api::Role::mall);
    EXPECT_EQ(found.status, 200) << found.body;
    return found.json();
  }
  static std::vector<std::string> roles(const nlohmann::json& order) {
    std::vector<std::string> names;
    const auto& entries = order["entries"];
    for (const auto& entry : entries) names.push_back(entry["role"]);
    return names;
  }
  std::int64_t account_sum(const std::string& account, std::int64_t entry_id) {
    auto connection = TestDatabase::instance().connect();
    pqxx::read_transaction txn{*connection};
    return txn
        .exec_params1(
            "SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN accounts a USING (account_id)"
            " WHERE a.name = $1 AND a.asset = 'POINTS' AND p.entry_id = $2",
            account, entry_id)[0]
        .as<std::int64_t>();
  }
};

TEST_F(Orders, ACheckoutHoldsThePointsAndPayingCapturesThemAndEarnsPendingPointsOnTheCash) {
  const std::string member_id = member_with_points(10000);
  const std::string order_id = unique("order-");
  const auto created = create(order_body(order_id, member_id, {{"mug", 3, 1000}}, 1000, 2000));
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.json()["status"], "pending_payment");
  EXPECT_TRUE(created.json().contains("hold_id"));
  EXPECT_TRUE(created.json().contains("expires_at"));
  EXPECT_EQ(points_balance(member_id)["held"], 1000);
  EXPECT_EQ(points_balance(member_id)["available"], 9000);

  const auto paid = pay(order_id);
  ASSERT_EQ(paid.status, 200) << paid.body;
  EXPECT_EQ(paid.json()["status"], "paid");
  EXPECT_EQ(paid.json()["earn_event_id"], "order:" + order_id);
  const auto balance = points_balance(member_id);
  EXPECT_EQ(balance["held"], 0);
  EXPECT_EQ(balance["available"], 9000);
  EXPECT_EQ(balance["pending"], 20);  // 2000 cents of cash at 1 point per 100 cents
  EXPECT_EQ(roles(order(order_id)), (std::vector<std::string>{"hold", "capture", "earn"}));
}

TEST_F(Orders, ACashOnlyOrderHoldsNothingAndAPointsOnlyOrderEarnsNothing) {
  const std::string member_id = member_with_points(500);
  const std::string cash_only = checkout(member_id, {{"tee", 1, 5000}}, 0, 5000);
  EXPECT_FALSE(order(cash_only).contains("hold_id"));
  ASSERT_EQ(pay(cash_only).status, 200);
  EXPECT_EQ(points_balance(member_id)["pending"], 50);

  const std::string points_only = checkout(member_id, {{"cap", 1, 500}}, 500, 0);
  ASSERT_EQ(pay(points_only).status, 200);
  const auto paid = order(points_only);
  EXPECT_FALSE(paid.contains("earn_event_id"));
  EXPECT_EQ(roles(paid), (std::vector<std::string>{"hold", "capture"}));
  EXPECT_EQ(points_balance(member_id)["available"], 0);
}

TEST_F(Orders, OrdersWhoseTotalsDoNotAddUpOrWhoseShapeIsWrongAreRefusedAndWriteNothing) {
  const std::string member_id = member_with_points(10000);
  const auto orders = count_rows("orders");
  const auto entries = count_rows("entries");
  const auto refused = [&](nlohmann::json body) {
    const auto result = create(body);
    EXPECT_EQ(result.status, 422) << body.dump() << " → " << result.body;
    EXPECT_EQ(result.json()["code"], "validation_failed") << result.body;
  };
  refused(order_body(unique("o-"), member_id, {{"a", 2, 1000}}, 1000, 999));  // 2000 ≠ 1999
  auto usd = order_body(unique("o-"), member_id, {{"a", 1, 1000}}, 0, 1000);
  usd["currency"] = "USD";
  refused(usd);
  refused(order_body(unique("o-"), member_id, {{"a", 1, 500}, {"a", 1, 500}}, 0, 1000));  // SKU twice
  refused(order_body(unique("o-"), member_id, {{"a", 0, 500}}, 0, 0));
  refused(order_body(unique("o-"), member_id, {{"a", 1, -500}}, 0, -500));
  refused(order_body(unique("o-"), member_id, {}, 0, 0));
  refused(order_body(unique("o-"), member_id, {{"a", 1, 100}}, -100, 200));
  // 4 × 2^62 does not fit in int64: refused, never wrapped.
  refused(order_body(unique("o-"), member_id, {{"a", 4, std::int64_t{1} << 62}}, 0, 0));
  std::vector<Line> many;
  for (int i = 0; i < 201; ++i) many.push_back({"sku-" + std::to_string(i), 1, 1});
  refused(order_body(unique("o-"), member_id, many, 0, 201));
  auto long_ttl = order_body(unique("o-"), member_id, {{"a", 1, 100}}, 100, 0);
  long_ttl["ttl_seconds"] = 86401;
  refused(long_ttl);
  EXPECT_EQ(count_rows("orders"), orders);
  EXPECT_EQ(count_rows("entries"), entries);
  // The largest order allowed: 200 lines and the longest time-to-live.
  many.pop_back();
  auto largest = order_body(unique("o-"), member_id, many, 100, 100);
  largest["ttl_seconds"] = 86400;
  EXPECT_EQ(create(largest).status, 201);
}

TEST_F(Orders, ACheckoutBeyondTheAvailablePointsIsRefusedAndHoldsNothing) {
  const std::string member_id = member_with_points(999);
  const auto orders = count_rows("orders");
  const auto result = create(order_body(unique("o-"), member_id, {{"a", 1, 1000}}, 1000, 0));
  EXPECT_EQ(result.status, 422);
  EXPECT_EQ(result.json()["code"], "insufficient_points");
  EXPECT_EQ(count_rows("orders"), orders);
  EXPECT_EQ(points_balance(member_id)["held"], 0);
  EXPECT_EQ(create(order_body(unique("o-"), "mem_nobody00000000000000", {{"a", 1, 10}}, 0, 10)).status, 404);
}

TEST_F(Orders, CreatingTheSameOrderTwiceAnswersItOnceAndAnotherOrderWithItsIdIsAConflict) {
  const std::string member_id = member_with_points(1000);
  const std::string order_id = unique("order-");
  const auto body = order_body(order_id, member_id, {{"a", 1, 600}}, 600, 0);
  const auto first = create(body);
  ASSERT_EQ(first.status, 201) << first.body;
  const auto again = create(body);
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.json()["hold_id"], first.json()["hold_id"]);
  EXPECT_EQ(points_balance(member_id)["held"], 600);
  auto other = body;
  other["lines"][0]["title"] = "something else";
  const auto conflict = create(other);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(conflict.json()["code"], "conflict");
}

TEST_F(Orders, CancellingAPendingOrderGivesThePointsBackAndACancelledOrderCanBeNeitherPaidNorRefunded) {
  const std::string member_id = member_with_points(1000);
  const std::string order_id = checkout(member_id, {{"a", 2, 300}}, 600, 0);
  const auto cancelled = cancel(order_id);
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(cancelled.json()["status"], "cancelled");
  EXPECT_EQ(points_balance(member_id)["available"], 1000);
  EXPECT_EQ(cancel(order_id).status, 200);  // cancelling again changes nothing
  EXPECT_EQ(points_balance(member_id)["available"], 1000);
  const auto paid = pay(order_id);
  EXPECT_EQ(paid.status, 409);
  EXPECT_EQ(paid.json()["code"], "order_cancelled");
  EXPECT_EQ(refund(order_id, unique("r-"), {{{"sku", "a"}, {"quantity", 1}}}).json()["code"], "order_cancelled");
  EXPECT_EQ(roles(order(order_id)), (std::vector<std::string>{"hold", "release"}));
}

TEST_F(Orders, AnOrdersHoldMovesOnlyWithTheOrder) {
  const std::string member_id = member_with_points(1000);
  const std::string order_id = checkout(member_id, {{"a", 2, 300}}, 600, 0);
  const std::string hold_id = order(order_id)["hold_id"];
  for (const std::string action : {"void", "capture"}) {
    const auto refused =
        post("/v1/holds/" + hold_id + "/" + action, nlohmann::json::object(), std::nullopt, api::Role::mall);
    EXPECT_EQ(refused.status, 409) << refused.body;
    EXPECT_EQ(refused.json()["code"], "hold_belongs_to_order");
  }
  EXPECT_EQ(points_balance(member_id)["held"], 600);
  ASSERT_EQ(pay(order_id).status, 200);
  EXPECT_EQ(points_balance(member_id)["held"], 0);
  EXPECT_EQ(points_balance(member_id)["available"], 400);
}

TEST_F(Orders, PayingTwiceEarnsOnceAndEveryForbiddenTransitionIsAConflict) {
  const std::string member_id = member_with_points(1000);
  const std::string order_id = checkout(member_id, {{"a", 1, 10000}}, 1000, 9000);
  const auto not_paid = refund(order_id, unique("r-"), {{{"sku", "a"}, {"quantity", 1}}});
  EXPECT_EQ(not_paid.status, 409);
  EXPECT_EQ(not_paid.json()["code"], "order_not_paid");
  const auto first = pay(order_id, "psp-42");
  ASSERT_EQ(first.status, 200) << first.body;
  const auto again = pay(order_id, "psp-42");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(points_balance(member_id)["pending"], 90);
  const auto other_payment = pay(order_id, "psp-43");
  EXPECT_EQ(other_payment.status, 409);
  EXPECT_EQ(other_payment.json()["code"], "order_already_paid");
  const auto cancel_paid = cancel(order_id);
  EXPECT_EQ(cancel_paid.status, 409);
  EXPECT_EQ(cancel_paid.json()["code"], "order_already_paid");
  EXPECT_EQ(pay("no-such-order").status, 404);
  EXPECT_EQ(count_rows("events WHERE event_id = 'order:" + order_id + "'"), 1);
}

TEST_F(Orders, AnOrderWhoseHoldExpiredReadsExpiredAndCanBeNeitherPaidNorCancelled) {
  const std::string member_id = member_with_points(1000);
  const std::string order_id = unique("order-");
  auto body = order_body(order_id, member_id, {{"a", 1, 400}}, 400, 0);
  body["ttl_seconds"] = 1;
  ASSERT_EQ(create(body).status, 201);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(order(order_id)["status"], "expired");
  const auto entries = count_rows("entries");
  const auto paid = pay(order_id);
  EXPECT_EQ(paid.status, 409);
  EXPECT_EQ(paid.json()["code"], "hold_expired");
  const auto cancelled = cancel(order_id);
  EXPECT_EQ(cancelled.status, 409);
  EXPECT_EQ(cancelled.json()["code"], "order_expired");
  EXPECT_EQ(count_rows("entries"), entries);
  EXPECT_EQ(points_balance(member_id)["available"], 1000);
  // Once the ledger releases the lapsed hold, the order shows that release too.
  ASSERT_EQ(post("/v1/holds", {{"member_id", member_id}, {"amount", 1000}}, unique("h-")).status, 201);
  EXPECT_EQ(roles(order(order_id)), (std::vector<std::string>{"hold", "release"}));
}

TEST_F(Orders, RefundingSevenUnitsOneAtATimeReturnsExactlyThePointsAndCashPaid) {
  // 7 × 1001 = 7007 cents, paid with 3000 points (1 cent each) and 4007 cents: no unit's
  // value divides evenly, yet the refunds add up to exactly what was paid.
  const std::string member_id = member_with_points(3000);
  const std::string order_id = checkout(member_id, {{"odd", 7, 1001}}, 3000, 4007);
  ASSERT_EQ(pay(order_id).status, 200);
  EXPECT_EQ(points_balance(member_id)["pending"], 40);
  std::int64_t points = 0, cash = 0;
  std::int64_t previous_points = -1;
  for (int unit = 1; unit <= 7; ++unit) {
    const auto refunded =
        refund(order_id, "r-" + order_id + "-" + std::to_string(unit), {{{"sku", "odd"}, {"quantity", 1}}});
    ASSERT_EQ(refunded.status, 201) << refunded.body;
    const auto body = refunded.json();
    EXPECT_EQ(body["points"].get<std::int64_t>() + body["cash_cents"].get<std::int64_t>(), 1001);
    if (previous_points >= 0) {
      EXPECT_LE(std::abs(body["points"].get<std::int64_t>() - previous_points), 1);
    }
    previous_points = body["points"];
    points += body["points"].get<std::int64_t>();
    cash += body["cash_cents"].get<std::int64_t>();
    EXPECT_EQ(body["order_status"], unit < 7 ? "partially_refunded" : "refunded");
  }
  EXPECT_EQ(points, 3000);
  EXPECT_EQ(cash, 4007);
  const auto refunded = order(order_id);
  EXPECT_EQ(refunded["status"], "refunded");
  EXPECT_EQ(refunded["refunded_points"], 3000);
  EXPECT_EQ(refunded["refunded_cash_cents"], 4007);
  const auto balance = points_balance(member_id);
  EXPECT_EQ(balance["available"], 3000);
  EXPECT_EQ(balance["pending"], 0);  // the 40 points earned on the cash are clawed back
  EXPECT_EQ(refund(order_id, unique("r-"), {{{"sku", "odd"}, {"quantity", 1}}}).json()["code"], "refund_exceeds_order");
}

TEST_F(Orders, ARefundSplitsEachLineInTheOrdersProportionAndClawsBackTheEarnInProportionToTheCash) {
  const std::string member_id = member_with_points(5000);
  // 10000 + 3 × 3333 = 19999 cents: 5000 points + 14999 cents.
  const std::string order_id = checkout(member_id, {{"big", 1, 10000}, {"small", 3, 3333}}, 5000, 14999);
  ASSERT_EQ(pay(order_id).status, 200);
  EXPECT_EQ(points_balance(member_id)["pending"], 149);
  const auto first =
      refund(order_id, unique("r-"), {{{"sku", "small"}, {"quantity", 2}}, {{"sku", "big"}, {"quantity", 1}}});
  ASSERT_EQ(first.status, 201) << first.body;
  const auto body = first.json();
  // Cumulatively: 6666 cents → floor(5000 × 6666 / 19999) = 1666 points; then 16666 → 4166.
  EXPECT_EQ(body["lines"][0]["points"], 1666);
  EXPECT_EQ(body["lines"][0]["cash_cents"], 5000);
  EXPECT_EQ(body["lines"][1]["points"], 2500);
  EXPECT_EQ(body["lines"][1]["cash_cents"], 7500);
  EXPECT_EQ(body["points"], 4166);
  EXPECT_EQ(body["cash_cents"], 12500);
  // floor(149 × 12500 / 14999) = 124 of the 149 pending points are clawed back.
  ASSERT_EQ(body["clawed_back"].size(), 1u);
  EXPECT_EQ(body["clawed_back"][0]["amount"], 124);
  EXPECT_EQ(points_balance(member_id)["pending"], 25);
  // Reversing the whole event now would claw back the refunded share a second time.
  const auto whole =
      post("/v1/events/order:" + order_id + "/reverse", {{"reason", "returned"}}, std::nullopt, api::Role::ingest);
  EXPECT_EQ(whole.status, 409) << whole.body;
  EXPECT_EQ(whole.json()["code"], "partially_reversed");
  EXPECT_EQ(points_balance(member_id)["pending"], 25);
  const auto last = refund(order_id, unique("r-"), {{{"sku", "small"}, {"quantity", 1}}});
  ASSERT_EQ(last.status, 201) << last.body;
  EXPECT_EQ(last.json()["points"], 834);
  EXPECT_EQ(last.json()["cash_cents"], 2499);
  EXPECT_EQ(last.json()["clawed_back"][0]["amount"], 25);
  const auto balance = points_balance(member_id);
  EXPECT_EQ(balance["available"], 5000);
  EXPECT_EQ(balance["pending"], 0);
  EXPECT_EQ(roles(order(order_id)),
            (std::vector<std::string>{"hold", "capture", "earn", "refund", "clawback", "refund", "clawback"}));
}

TEST_F(Orders, RefundedCashNoLongerCountsAsQualifyingSpendButTheLevelStaysInsideItsGuarantee) {
  const std::string member_id = create_member();
  // 6000 CNY of cash: silver (5000 CNY) at once.
  const std::string order_id = checkout(member_id, {{"seat", 2, 300000}}, 0, 600000);
  ASSERT_EQ(pay(order_id).status, 200);
  const auto spend = [&] { return get("/v1/members/" + member_id + "/tiers").json()["tracks"]["spend"]; };
  EXPECT_EQ(spend()["level"], "silver");
  EXPECT_EQ(spend()["qualifying_value"], 600000);
  ASSERT_EQ(refund(order_id, unique("r-"), {{{"sku", "seat"}, {"quantity", 1}}}).status, 201);
  EXPECT_EQ(spend()["qualifying_value"], 300000);
  EXPECT_EQ(spend()["level"], "silver");  // guaranteed for 365 days from the upgrade
  ASSERT_EQ(refund(order_id, unique("r-"), {{{"sku", "seat"}, {"quantity", 1}}}).status, 201);
  EXPECT_EQ(spend()["qualifying_value"], 0);
  // After the guarantee, evaluate-tiers judges on what is left: nothing.
  const auto run = post("/v1/jobs/evaluate-tiers", {{"as_of", format_rfc3339(now_utc() + std::chrono::days{366})}});
  ASSERT_EQ(run.status, 200) << run.body;
  EXPECT_EQ(spend()["level"], "member");
}

TEST_F(Orders, ARefundIsIdempotentByItsIdAndAnotherBodyWithTheSameIdIsAConflict) {
  const std::string member_id = member_with_points(2000);
  const std::string order_id = checkout(member_id, {{"a", 4, 500}}, 2000, 0);
  ASSERT_EQ(pay(order_id).status, 200);
  const std::string refund_id = unique("r-");
  const nlohmann::json lines = {{{"sku", "a"}, {"quantity", 1}}};
  const auto first = refund(order_id, refund_id, lines);
  ASSERT_EQ(first.status, 201) << first.body;
  const auto again = refund(order_id, refund_id, lines);
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(points_balance(member_id)["available"], 500);
  const auto different = refund(order_id, refund_id, {{{"sku", "a"}, {"quantity", 2}}});
  EXPECT_EQ(different.status, 409);
  EXPECT_EQ(different.json()["code"], "conflict");
  const std::string other_order = checkout(member_id, {{"a", 1, 500}}, 500, 0);
  ASSERT_EQ(pay(other_order).status, 200);
  EXPECT_EQ(refund(other_order, refund_id, lines).status, 409);
  EXPECT_EQ(order(order_id)["refunds"].size(), 1u);
}

TEST_F(Orders, RefundingMoreThanWasBoughtOrAnUnknownSkuIsRefusedAndWritesNothing) {
  const std::string member_id = member_with_points(1000);
  const std::string order_id = checkout(member_id, {{"a", 2, 500}}, 1000, 0);
  ASSERT_EQ(pay(order_id).status, 200);
  const auto entries = count_rows("entries");
  const auto too_many = refund(order_id, unique("r-"), {{{"sku", "a"}, {"quantity", 3}}});
  EXPECT_EQ(too_many.status, 422);
  EXPECT_EQ(too_many.json()["code"], "refund_exceeds_order");
  EXPECT_EQ(refund(order_id, unique("r-"), {{{"sku", "b"}, {"quantity", 1}}}).status, 422);
  EXPECT_EQ(refund(order_id, unique("r-"), {{{"sku", "a"}, {"quantity", 0}}}).status, 422);
  EXPECT_EQ(refund(order_id, unique("r-"), {{{"sku", "a"}, {"quantity", 1}}, {{"sku", "a"}, {"quantity", 1}}}).status,
            422);
  EXPECT_EQ(count_rows("entries"), entries);
  EXPECT_EQ(count_rows("order_refunds WHERE order_id = '" + order_id + "'"), 0);
}

TEST_F(Orders, ConcurrentCheckoutsAgainstOneBalanceSucceedOnlyAsFarAsThePointsGo) {
  const std::string member_id = member_with_points(1000);
  constexpr int clients = 12;
  std::atomic<int> created{0}, insufficient{0}, other{0};
  std::vector<std::thread> threads;
  const std::string& secret = service().secret(api::Role::mall);
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      HttpClient client{service().port()};
      const auto body = order_body("race-" + member_id + "-" + std::to_string(i), member_id, {{"a", 1, 300}}, 300, 0);
      const auto result = client.request("POST", "/v1/orders", body.dump(), {{"Authorization", "Bearer " + secret}});
      if (result.status == 201)
        ++created;
      else if (result.status == 422 && result.json()["code"] == "insufficient_points")
        ++insufficient;
      else
        ++other;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(created.load(), 3);
  EXPECT_EQ(insufficient.load(), clients - 3);
  EXPECT_EQ(other.load(), 0);
  const auto balance = points_balance(member_id);
  EXPECT_EQ(balance["held"], 900);
  EXPECT_EQ(balance["available"], 100);
  EXPECT_EQ(count_rows("orders WHERE member_id = '" + member_id + "'"), 3);
}

TEST_F(Orders, OneOrderIdCreatedAtOnceForTwoMembersIsCreatedOnceAndTheOtherIsAConflictNeverA5xx) {
  // The two members route to different workers, so the two creations race in two transactions
  // and meet on the orders' unique key; the loser is tried again and sees the winner's order.
  const std::string first = member_with_points(100000), second = member_with_points(100000);
  const std::string& secret = service().secret(api::Role::mall);
  int created = 0, conflicts = 0, other = 0;
  for (int round = 0; round < 20; ++round) {
    const std::string order_id = unique("same-");
    std::vector<HttpResult> results(4);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&, i] {
        HttpClient client{service().port()};
        const auto body = order_body(order_id, i % 2 ? second : first, {{"a", 1, 300}}, 100, 200);
        results[static_cast<std::size_t>(i)] =
            client.request("POST", "/v1/orders", body.dump(), {{"Authorization", "Bearer " + secret}});
      });
    }
    for (auto& thread : threads) thread.join();
    int won = 0;
    for (const auto& result : results) {
      if (result.status == 201 && result.json()["order_id"] == order_id) {
        ++created;
        ++won;
      } else if (result.status == 409 && result.json()["code"] == "conflict") {
        ++conflicts;
      } else {
        ++other;
        ADD_FAILURE() << result.status << " " << result.body;
      }
    }
    EXPECT_GE(won, 1);  // the same body again is a replay (201), the other member's a conflict
    EXPECT_EQ(count_rows("orders WHERE order_id = '" + order_id + "'"), 1);
    EXPECT_EQ(count_rows("holds WHERE reference = '" + order_id + "'"), 1);
  }
  EXPECT_GT(conflicts, 0);
  EXPECT_EQ(other, 0);
  (void)created;
}

TEST_F(Orders, PointsWhoseLotsExpiredBeforeTheRefundGoToBreakageAndTheRestToNewLotsWithTheOriginalExpiry) {
  const std::string member_id = create_member();
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(post("/v1/adjustments",
                   {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", 500}, {"reason_code", "goodwill"}},
                   unique("credit-"))
                  .status,
              201);
  }
  // 800 points: the whole first lot and 300 of the second.
  const std::string order_id = checkout(member_id, {{"a", 8, 100}}, 800, 0);
  ASSERT_EQ(pay(order_id).status, 200);
  // Time passes: the first lot has expired by now, the second expires in 30 days.
  const std::string later = format_rfc3339(now_utc() + std::chrono::days{30});
  {
    auto connection = TestDatabase::instance().connect();
    pqxx::work txn{*connection};
    txn.exec_params(
        "UPDATE lots SET expires_at = now() - interval '1 day' WHERE lot_id = "
        "(SELECT min(lot_id) FROM lots WHERE member_id = $1)",
        member_id);
    txn.exec_params(
        "UPDATE lots SET expires_at = $2 WHERE lot_id = (SELECT max(lot_id) FROM lots WHERE member_id = $1)", member_id,
        later);
    txn.commit();
  }
  // Refunds give back the latest-expiring points first: 200 from the live lot...
  const auto first = refund(order_id, unique("r-"), {{{"sku", "a"}, {"quantity", 2}}});
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(first.json()["points_to_member"], 200);
  EXPECT_EQ(first.json()["points_expired"], 0);
  // ...then 100 more from it and 500 from the expired lot, which go to breakage.
  const auto rest = refund(order_id, unique("r-"), {{{"sku", "a"}, {"quantity", 6}}});
  ASSERT_EQ(rest.status, 201) << rest.body;
  EXPECT_EQ(rest.json()["points"], 600);
  EXPECT_EQ(rest.json()["points_to_member"], 100);
  EXPECT_EQ(rest.json()["points_expired"], 500);
  const auto entry_id = rest.json()["refund_entry_id"].get<std::int64_t>();
  EXPECT_EQ(account_sum("system:redemptions", entry_id), -600);
  EXPECT_EQ(account_sum("system:breakage", entry_id), 500);
  EXPECT_EQ(points_balance(member_id)["available"], 500);
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  const auto lots = txn.exec_params(
      "SELECT sum(remaining), count(DISTINCT expires_at) FROM lots WHERE member_id = $1 AND source = 'refund'"
      " AND expires_at = $2",
      member_id, later);
  EXPECT_EQ(lots[0][0].as<std::int64_t>(), 300);  // both refund lots keep the live lot's expiry
}

TEST_F(Orders, RefundingAfterTheEarnWasReleasedAndSpentLeavesAVisibleDebt) {
  const std::string member_id = member_with_points(100);
  const std::string order_id = checkout(member_id, {{"a", 1, 100100}}, 100, 100000);
  ASSERT_EQ(pay(order_id).status, 200);
  EXPECT_EQ(points_balance(member_id)["pending"], 1000);
  const auto released = post("/v1/jobs/release-pending", {{"as_of", format_rfc3339(now_utc() + std::chrono::days{8})}});
  ASSERT_EQ(released.status, 200) << released.body;
  EXPECT_EQ(points_balance(member_id)["available"], 1000);
  ASSERT_EQ(post("/v1/adjustments",
                 {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", -1000}, {"reason_code", "correction"}},
                 unique("spend-"))
                .status,
            201);
  const auto refunded = refund(order_id, unique("r-"), {{{"sku", "a"}, {"quantity", 1}}});
  ASSERT_EQ(refunded.status, 201) << refunded.body;
  EXPECT_EQ(refunded.json()["points"], 100);
  EXPECT_EQ(refunded.json()["clawed_back"][0]["amount"], 1000);
  // The 100 points refunded repay part of the 1000 clawed back: a debt of 900 remains.
  EXPECT_EQ(points_balance(member_id)["available"], -900);
}

TEST_F(Orders, GettingAnOrderExplainsEveryEntryItCausedAndEachBalances) {
  const std::string member_id = member_with_points(1000);
  const std::string order_id = checkout(member_id, {{"a", 2, 1000}}, 1000, 1000);
  ASSERT_EQ(pay(order_id).status, 200);
  ASSERT_EQ(refund(order_id, unique("r-"), {{{"sku", "a"}, {"quantity", 1}}}).status, 201);
  const auto found = order(order_id);
  EXPECT_EQ(found["status"], "partially_refunded");
  EXPECT_EQ(roles(found), (std::vector<std::string>{"hold", "capture", "earn", "refund", "clawback"}));
  const auto& entries = found["entries"];
  for (const auto& entry : entries) {
    std::map<std::string, std::int64_t> sums;
    const auto& postings = entry["postings"];
    for (const auto& posting : postings) sums[posting["asset"]] += posting["amount"].get<std::int64_t>();
    for (const auto& [asset, sum] : sums) EXPECT_EQ(sum, 0) << entry.dump();
  }
  EXPECT_EQ(found["refunds"][0]["points"], 500);
  EXPECT_EQ(found["refunds"][0]["cash_cents"], 500);
  EXPECT_EQ(get("/v1/orders/" + order_id, api::Role::ingest).status, 403);
  EXPECT_EQ(get("/v1/orders/no-such-order", api::Role::mall).status, 404);
}

// A batch answers each order as its decision left it: a new or pending order from what the
// batch knows (its drafts, the lines it read with the order's lock, the hold's opening entry
// from an earlier batch), a replay by reading the order back. Every answer is what reading the
// order shows, field for field.
TEST_F(Orders, TheAnswersOfCreatePayAndCancelAreWhatGettingTheOrderShows) {
  const std::string member_id = member_with_points(5000);
  const std::string paid_id = unique("order-");
  const auto created = create(order_body(paid_id, member_id, {{"a", 2, 1000}, {"b", 1, 250}}, 500, 1750));
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(roles(created.json()), (std::vector<std::string>{"hold"}));
  EXPECT_EQ(created.json(), order(paid_id));
  const auto paid = pay(paid_id);
  ASSERT_EQ(paid.status, 200) << paid.body;
  EXPECT_EQ(roles(paid.json()), (std::vector<std::string>{"hold", "capture", "earn"}));
  EXPECT_EQ(paid.json(), order(paid_id));
  const auto paid_again = pay(paid_id);  // a replay, read back
  ASSERT_EQ(paid_again.status, 200) << paid_again.body;
  EXPECT_EQ(paid_again.json(), order(paid_id));

  const std::string cancelled_id = unique("order-");
  const auto created_to_cancel = create(order_body(cancelled_id, member_id, {{"b", 1, 1000}}, 300, 700));
  ASSERT_EQ(created_to_cancel.status, 201);
  EXPECT_EQ(created_to_cancel.json(), order(cancelled_id));
  const auto cancelled = cancel(cancelled_id);
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(roles(cancelled.json()), (std::vector<std::string>{"hold", "release"}));
  EXPECT_EQ(cancelled.json(), order(cancelled_id));

  const std::string cash_only = unique("order-");  // no hold: only the earn
  ASSERT_EQ(create(order_body(cash_only, member_id, {{"c", 1, 900}}, 0, 900)).status, 201);
  const auto cash_paid = pay(cash_only);
  ASSERT_EQ(cash_paid.status, 200) << cash_paid.body;
  EXPECT_EQ(roles(cash_paid.json()), (std::vector<std::string>{"earn"}));
  EXPECT_EQ(cash_paid.json(), order(cash_only));

  const std::string points_only = unique("order-");  // no earn
  ASSERT_EQ(create(order_body(points_only, member_id, {{"d", 3, 100}}, 300, 0)).status, 201);
  const auto points_paid = pay(points_only);
  ASSERT_EQ(points_paid.status, 200) << points_paid.body;
  EXPECT_EQ(roles(points_paid.json()), (std::vector<std::string>{"hold", "capture"}));
  EXPECT_EQ(points_paid.json(), order(points_only));
}

TEST_F(Orders, AFullyRefundedOrdersEventIsReversedSoReversingItAgainClawsBackNothing) {
  const std::string member_id = member_with_points(100);
  const std::string order_id = checkout(member_id, {{"a", 2, 5050}}, 100, 10000);
  ASSERT_EQ(pay(order_id).status, 200);
  ASSERT_EQ(refund(order_id, unique("r-"), {{{"sku", "a"}, {"quantity", 2}}}).status, 201);
  EXPECT_EQ(points_balance(member_id)["pending"], 0);
  const auto reversed =
      post("/v1/events/order:" + order_id + "/reverse", {{"reason", "again"}}, std::nullopt, api::Role::ingest);
  EXPECT_EQ(reversed.status, 200) << reversed.body;
  const auto balance = points_balance(member_id);
  EXPECT_EQ(balance["available"], 100);
  EXPECT_EQ(balance["pending"], 0);
}

TEST_F(Orders, AnIdempotencyKeyReplaysTheFirstAnswerToo) {
  const std::string member_id = member_with_points(1000);
  const auto body = order_body(unique("order-"), member_id, {{"a", 1, 100}}, 100, 0);
  const std::string key = unique("key-");
  const auto first = post("/v1/orders", body, key, api::Role::mall);
  ASSERT_EQ(first.status, 201) << first.body;
  const auto again = post("/v1/orders", body, key, api::Role::mall);
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.body, first.body);
  auto other = body;
  other["order_id"] = unique("order-");
  EXPECT_EQ(post("/v1/orders", other, key, api::Role::mall).json()["code"], "idempotency_key_reused");
}

}  // namespace
}  // namespace loyalty::testing
