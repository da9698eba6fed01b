// The earning engine with the reference program: rules by kind, caps in the event's own
// time, pending points, replays, reversals and clawback debt.
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

class Earning : public ServiceTest {
 protected:
  HttpResult event(const std::string& member_id, const std::string& type, Timestamp occurred_at,
                   nlohmann::json attributes = nlohmann::json::object(), std::string event_id = "") {
    if (event_id.empty()) event_id = unique("ev-");
    return post("/v1/events",
                {{"event_id", event_id},
                 {"member_id", member_id},
                 {"type", type},
                 {"occurred_at", format_rfc3339(occurred_at)},
                 {"attributes", attributes}},
                std::nullopt, api::Role::ingest);
  }
  static Timestamp days_ago(int days) { return now_utc() - std::chrono::days{days}; }
  nlohmann::json growth_balance(const std::string& member_id) {
    return get("/v1/members/" + member_id + "/balances").json()["balances"]["GROWTH"];
  }
};

TEST_F(Earning, APurchaseEarnsAPointPerYuanPendingForTheReturnWindow) {
  const std::string member_id = create_member();
  const auto result = event(member_id, "purchase", now_utc() - std::chrono::hours{1}, {{"amount_cents", 12345}});
  ASSERT_EQ(result.status, 201) << result.body;
  const auto awards = result.json()["awards"];
  ASSERT_EQ(awards.size(), 1u);
  EXPECT_EQ(awards[0]["rule_id"], "purchase-base");
  EXPECT_EQ(awards[0]["asset"], "POINTS");
  EXPECT_EQ(awards[0]["amount"], 123);  // 12345 cents at 1 point per 100 cents, rounded down
  EXPECT_TRUE(awards[0].contains("pending_until"));
  const auto balance = points_balance(member_id);
  EXPECT_EQ(balance["pending"], 123);
  EXPECT_EQ(balance["available"], 0);
}

TEST_F(Earning, APurchaseOlderThanTheReturnWindowIsAvailableAtOnce) {
  const std::string member_id = create_member();
  const auto result = event(member_id, "service_visit", days_ago(10), {{"amount_cents", 5000}});
  ASSERT_EQ(result.status, 201) << result.body;
  EXPECT_FALSE(result.json()["awards"][0].contains("pending_until"));
  EXPECT_EQ(points_balance(member_id)["available"], 50);
}

TEST_F(Earning, AVehicleDeliveryAwardsPointsAndGrowthFromTheirFundingAccount) {
  const std::string member_id = create_member();
  const auto result = event(member_id, "vehicle_delivery", days_ago(1));
  ASSERT_EQ(result.status, 201) << result.body;
  const auto awards = result.json()["awards"];
  ASSERT_EQ(awards.size(), 2u);
  EXPECT_EQ(points_balance(member_id)["available"], 50000);
  EXPECT_EQ(growth_balance(member_id)["available"], 500);
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  const auto funding = txn.exec_params1(
      "SELECT sum(p.amount) FROM postings p JOIN accounts a USING (account_id) "
      "WHERE a.name = 'campaign:delivery' AND a.asset = 'POINTS' AND p.entry_id = $1",
      awards[0]["entry_id"].get<std::int64_t>());
  EXPECT_EQ(funding[0].as<std::int64_t>(), -50000);
  const auto version = txn.exec_params1("SELECT program_version FROM entries WHERE entry_id = $1",
                                        awards[0]["entry_id"].get<std::int64_t>());
  EXPECT_GE(version[0].as<int>(), 1);
}

TEST_F(Earning, AnEventMatchingNoRuleIsAcceptedWithNoAwards) {
  const std::string member_id = create_member();
  const auto result = event(member_id, "app_opened", days_ago(1));
  ASSERT_EQ(result.status, 201) << result.body;
  EXPECT_TRUE(result.json()["awards"].empty());
}

TEST_F(Earning, TheDailyCheckInCapCountsTheEventsOwnUtcDay) {
  const std::string member_id = create_member();
  using namespace std::chrono;
  const auto day = floor<days>(now_utc()) - days{3};
  const Timestamp last_second = time_point_cast<microseconds>(day + hours{23} + minutes{59} + seconds{59});
  const Timestamp next_midnight = time_point_cast<microseconds>(day + days{1});
  EXPECT_EQ(event(member_id, "daily_checkin", time_point_cast<microseconds>(day + hours{8})).json()["awards"].size(),
            2u);
  EXPECT_EQ(event(member_id, "daily_checkin", last_second).json()["awards"].size(), 0u);
  EXPECT_EQ(event(member_id, "daily_checkin", next_midnight).json()["awards"].size(), 2u);
  EXPECT_EQ(points_balance(member_id)["available"], 400);
  EXPECT_EQ(growth_balance(member_id)["available"], 4);
}

TEST_F(Earning, TheCommunityPostCapIsTwentyAMonth) {
  const std::string member_id = create_member();
  using namespace std::chrono;
  const year_month_day today{floor<days>(now_utc())};
  // The first of last month: always in the past, never more than 90 days ago.
  const auto month_start = sys_days{(year_month{today.year(), today.month()} - months{1}) / 1};
  int awarded = 0;
  for (int i = 0; i < 21; ++i) {
    const auto at = time_point_cast<microseconds>(month_start + minutes{i});
    awarded += static_cast<int>(event(member_id, "community_post", at).json()["awards"].size());
  }
  EXPECT_EQ(awarded, 20);
  EXPECT_EQ(growth_balance(member_id)["available"], 100);
}

TEST_F(Earning, TheDeliveryWelcomeIsCappedForLifeAndReversedEventsFreeTheirPlace) {
  const std::string member_id = create_member();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(unique("delivery-"));
    event(member_id, "vehicle_delivery", days_ago(5 - i), nlohmann::json::object(), ids.back());
  }
  EXPECT_EQ(points_balance(member_id)["available"], 150000);
  ASSERT_EQ(post("/v1/events/" + ids[0] + "/reverse", {{"reason", "order cancelled"}}, std::nullopt, api::Role::ingest)
                .status,
            200);
  EXPECT_EQ(event(member_id, "vehicle_delivery", days_ago(0)).json()["awards"].size(), 2u);
  EXPECT_EQ(points_balance(member_id)["available"], 150000);
}

TEST_F(Earning, AReplayedEventIdAwardsNothingTwiceEvenWhenReplaysRace) {
  const std::string member_id = create_member();
  const std::string event_id = unique("replay-");
  const nlohmann::json body = {{"event_id", event_id},
                               {"member_id", member_id},
                               {"type", "referral_converted"},
                               {"occurred_at", format_rfc3339(days_ago(1))},
                               {"attributes", nlohmann::json::object()}};
  const std::string& secret = service().secret(api::Role::ingest);
  std::vector<std::thread> threads;
  std::atomic<int> created{0};
  std::mutex mutex;
  std::set<std::string> bodies;
  for (int i = 0; i < 12; ++i) {
    threads.emplace_back([&] {
      HttpClient client{service().port()};
      const auto result = client.request("POST", "/v1/events", body.dump(), {{"Authorization", "Bearer " + secret}});
      if (result.status == 201) ++created;
      std::lock_guard lock{mutex};
      bodies.insert(result.body);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(created.load(), 12);
  EXPECT_EQ(bodies.size(), 1u);
  EXPECT_EQ(points_balance(member_id)["available"], 20000);
  auto changed = body;
  changed["type"] = "test_drive";
  EXPECT_EQ(post("/v1/events", changed, std::nullopt, api::Role::ingest).status, 409);
}

TEST_F(Earning, EventsTooOldOrFromTheFutureAreRefused) {
  const std::string member_id = create_member();
  EXPECT_EQ(event(member_id, "daily_checkin", days_ago(91)).status, 422);
  EXPECT_EQ(event(member_id, "daily_checkin", now_utc() + std::chrono::minutes{10}).status, 422);
  EXPECT_EQ(event(member_id, "daily_checkin", now_utc() + std::chrono::minutes{1}).status, 201);
}

TEST_F(Earning, BadEventsAreRefusedAndWriteNothing) {
  const std::string member_id = create_member();
  const auto events = count_rows("events");
  EXPECT_EQ(event(member_id, "purchase", days_ago(1)).status, 422);  // no amount_cents
  EXPECT_EQ(event(member_id, "purchase", days_ago(1), {{"amount_cents", 10.5}}).status, 400);
  EXPECT_EQ(event(member_id, "purchase", days_ago(1), {{"amount_cents", -5}}).status, 422);
  EXPECT_EQ(event("mem_nobody00000000000000", "daily_checkin", days_ago(1)).status, 404);
  EXPECT_EQ(post("/v1/events",
                 {{"event_id", "x"}, {"member_id", member_id}, {"type", "Purchase!"}, {"occurred_at", "yesterday"}},
                 std::nullopt, api::Role::ingest)
                .status,
            422);
  EXPECT_EQ(count_rows("events"), events);
  EXPECT_EQ(event(member_id, "purchase", days_ago(20), {{"amount_cents", "250"}}).json()["awards"][0]["amount"], 2);
}

TEST_F(Earning, OnlyIngestAndAdminKeysRecordEvents) {
  const std::string member_id = create_member();
  EXPECT_EQ(post("/v1/events",
                 {{"event_id", unique("e-")},
                  {"member_id", member_id},
                  {"type", "daily_checkin"},
                  {"occurred_at", format_rfc3339(now_utc())}},
                 std::nullopt, api::Role::mall)
                .status,
            403);
}

TEST_F(Earning, ReversingAfterTheMemberSpentLeavesAVisibleDebtThatLaterEarningsRepay) {
  const std::string member_id = create_member();
  const std::string referral = unique("referral-");
  event(member_id, "referral_converted", days_ago(2), nlohmann::json::object(), referral);  // 20000 points, 100 growth
  const auto spent =
      post("/v1/adjustments",
           {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", -15000}, {"reason_code", "correction"}},
           unique("spend-"));
  ASSERT_EQ(spent.status, 201);
  const auto reversed =
      post("/v1/events/" + referral + "/reverse", {{"reason", "referral fraud"}}, std::nullopt, api::Role::ingest);
  ASSERT_EQ(reversed.status, 200) << reversed.body;
  EXPECT_EQ(points_balance(member_id)["available"], -15000);
  EXPECT_EQ(growth_balance(member_id)["available"], 0);
  // Reversing again changes nothing and answers the same.
  const auto again =
      post("/v1/events/" + referral + "/reverse", {{"reason", "referral fraud"}}, std::nullopt, api::Role::ingest);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.json()["entry_id"], reversed.json()["entry_id"]);
  EXPECT_EQ(points_balance(member_id)["available"], -15000);
  // The next earning repays the debt first.
  event(member_id, "vehicle_delivery", days_ago(1));
  EXPECT_EQ(points_balance(member_id)["available"], 35000);
  // A member in debt cannot spend.
  EXPECT_EQ(post("/v1/holds", {{"member_id", member_id}, {"amount", 35001}}, unique("h-")).status, 422);
}

TEST_F(Earning, ConcurrentReversalsClawBackExactlyOnce) {
  const std::string member_id = create_member();
  const std::string delivery = unique("delivery-");
  event(member_id, "vehicle_delivery", days_ago(2), nlohmann::json::object(), delivery);
  const std::string& secret = service().secret(api::Role::ingest);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      HttpClient client{service().port()};
      const auto result = client.request("POST", "/v1/events/" + delivery + "/reverse", R"({"reason":"returned"})",
                                         {{"Authorization", "Bearer " + secret}});
      if (result.status == 200) ++ok;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(points_balance(member_id)["available"], 0);
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  EXPECT_EQ(txn.exec_params1("SELECT count(*) FROM entries WHERE member_id = $1 AND kind = 'reversal'", member_id)[0]
                .as<int>(),
            1);
}

TEST_F(Earning, ReversingAPendingPurchaseCancelsItsPendingPoints) {
  const std::string member_id = create_member();
  const std::string purchase = unique("purchase-");
  event(member_id, "mall_purchase", now_utc() - std::chrono::hours{2}, {{"amount_cents", 99900}}, purchase);
  EXPECT_EQ(points_balance(member_id)["pending"], 999);
  const auto reversed =
      post("/v1/events/" + purchase + "/reverse", {{"reason", "returned"}}, std::nullopt, api::Role::ingest);
  ASSERT_EQ(reversed.status, 200) << reversed.body;
  const auto balance = points_balance(member_id);
  EXPECT_EQ(balance["pending"], 0);
  EXPECT_EQ(balance["available"], 0);
  EXPECT_EQ(
      post("/v1/events/" + unique("none-") + "/reverse", {{"reason", "x"}}, std::nullopt, api::Role::ingest).status,
      404);
}

TEST_F(Earning, HoldsSpendTheSoonestExpiringLotsFirst) {
  const std::string member_id = create_member();
  event(member_id, "test_drive", days_ago(80));  // 1000 points, expiring sooner
  event(member_id, "test_drive", days_ago(1));   // 1000 points, expiring later (or the same month)
  ASSERT_EQ(post("/v1/holds", {{"member_id", member_id}, {"amount", 1200}}, unique("h-")).status, 201);
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  const auto lots =
      txn.exec_params("SELECT remaining FROM lots WHERE member_id = $1 ORDER BY expires_at, lot_id", member_id);
  ASSERT_EQ(lots.size(), 2u);
  EXPECT_EQ(lots[0][0].as<int>(), 0);
  EXPECT_EQ(lots[1][0].as<int>(), 800);
}

}  // namespace
}  // namespace loyalty::testing
