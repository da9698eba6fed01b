// The earning engine's jobs: pending release, expiry of lots (soonest first, after partial
// spends), GROWTH decay once a year, and two processes starting the same job at once.
// Jobs act on every member, so this binary has a database of its own like every other.
#include <thread>

#include "api/jobs_catalog.hpp"
#include "ledger/jobs.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

class Jobs : public ServiceTest {
 protected:
  HttpResult event(const std::string& member_id, const std::string& type, Timestamp occurred_at,
                   nlohmann::json attributes = nlohmann::json::object()) {
    return post("/v1/events",
                {{"event_id", unique("ev-")}, {"member_id", member_id}, {"type", type},
                 {"occurred_at", format_rfc3339(occurred_at)}, {"attributes", attributes}},
                std::nullopt, api::Role::ingest);
  }
  nlohmann::json run(const std::string& job, Timestamp as_of) {
    const auto result = post("/v1/jobs/" + job, {{"as_of", format_rfc3339(as_of)}});
    EXPECT_EQ(result.status, 200) << result.body;
    return result.json();
  }
};

TEST_F(Jobs, PendingPointsBecomeAvailableOnceTheReturnWindowHasPassed) {
  const std::string member_id = create_member();
  const Timestamp bought = now_utc() - std::chrono::hours{1};
  ASSERT_EQ(event(member_id, "mall_purchase", bought, {{"amount_cents", 30000}}).status, 201);
  EXPECT_EQ(run("release-pending", bought + std::chrono::days{6})["items"], 0);
  EXPECT_EQ(points_balance(member_id)["pending"], 300);
  const auto released = run("release-pending", bought + std::chrono::days{7} + std::chrono::seconds{1});
  EXPECT_GE(released["items"].get<int>(), 1);
  const auto balance = points_balance(member_id);
  EXPECT_EQ(balance["pending"], 0);
  EXPECT_EQ(balance["available"], 300);
}

TEST_F(Jobs, ExpiryTakesWhatIsLeftOfLotsPastTheirEndOfMonthToBreakage) {
  using namespace std::chrono;
  const std::string member_id = create_member();
  const Timestamp older = now_utc() - days{70};
  const Timestamp newer = now_utc() - days{1};
  event(member_id, "test_drive", older);  // 1000 points
  event(member_id, "test_drive", newer);  // 1000 points
  // Spending 1500 takes the whole older lot and 500 of the newer.
  ASSERT_EQ(post("/v1/adjustments", {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", -1500}, {"reason_code", "correction"}},
                 unique("spend-")).status, 201);
  const year_month_day earned{floor<days>(newer)};
  // The newer lot expires when the 24th month after it ends.
  const auto expiry = time_point_cast<microseconds>(sys_days{(year_month{earned.year(), earned.month()} + months{25}) / 1});
  run("expire-points", expiry - seconds{1});
  EXPECT_EQ(points_balance(member_id)["available"], 500);
  const auto expired = run("expire-points", expiry);
  EXPECT_GE(expired["items"].get<int>(), 1);
  EXPECT_EQ(points_balance(member_id)["available"], 0);
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  const auto breakage = txn.exec_params1(
      "SELECT sum(p.amount) FROM postings p JOIN entries e USING (entry_id) JOIN accounts a ON a.account_id = p.account_id "
      "WHERE e.member_id = $1 AND e.kind = 'expiry' AND a.name = 'system:breakage'", member_id);
  EXPECT_EQ(breakage[0].as<std::int64_t>(), 500);
}

TEST_F(Jobs, GrowthDecaysOncePerYearHoweverOftenTheJobRuns) {
  using namespace std::chrono;
  const std::string member_id = create_member();
  event(member_id, "vehicle_delivery", now_utc() - days{1});  // 500 growth
  const year_month_day today{floor<days>(now_utc())};
  const auto next_new_year = time_point_cast<microseconds>(sys_days{(today.year() + years{1}) / January / 1});
  const auto first = run("decay-growth", next_new_year + hours{1});
  EXPECT_GE(first["items"].get<int>(), 1);
  EXPECT_EQ(get("/v1/members/" + member_id + "/balances").json()["balances"]["GROWTH"]["available"], 400);
  run("decay-growth", next_new_year + hours{2});
  run("decay-growth", next_new_year + days{100});
  EXPECT_EQ(get("/v1/members/" + member_id + "/balances").json()["balances"]["GROWTH"]["available"], 400);
  EXPECT_EQ(run("decay-growth", next_new_year + hours{1})["status"], "already_done");
}

TEST_F(Jobs, TwoRunnersOfTheSameJobDoTheWorkOnce) {
  const std::string member_id = create_member();
  const Timestamp bought = now_utc() - std::chrono::hours{3};
  for (int i = 0; i < 5; ++i) event(member_id, "mall_purchase", bought, {{"amount_cents", 1000}});
  const auto job = api::find_job("release-pending");
  ASSERT_TRUE(job);
  const Timestamp as_of = bought + std::chrono::days{8};
  std::vector<ledger::JobReport> reports(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      auto connection = TestDatabase::instance().connect();
      reports[i] = ledger::run_job(*connection, *job, as_of);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(points_balance(member_id)["available"], 50);
  EXPECT_EQ(points_balance(member_id)["pending"], 0);
  const auto again = run("release-pending", as_of);
  EXPECT_EQ(again["status"], "already_done");
}

}  // namespace
}  // namespace loyalty::testing
