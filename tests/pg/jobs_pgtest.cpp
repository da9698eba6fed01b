// The earning engine's jobs: pending release, expiry of lots (soonest first, after partial
// spends), GROWTH decay once a year, and two processes starting the same job at once.
// Jobs act on every member, so this binary has a database of its own like every other.
#include <algorithm>
#include <thread>

#include "api/jobs_catalog.hpp"
#include "ledger/jobs.hpp"
#include "platform/database.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

class Jobs : public ServiceTest {
 protected:
  HttpResult event(const std::string& member_id, const std::string& type, Timestamp occurred_at,
                   nlohmann::json attributes = nlohmann::json::object()) {
    return post("/v1/events",
                {{"event_id", unique("ev-")},
                 {"member_id", member_id},
                 {"type", type},
                 {"occurred_at", format_rfc3339(occurred_at)},
                 {"attributes", attributes}},
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
  ASSERT_EQ(post("/v1/adjustments",
                 {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", -1500}, {"reason_code", "correction"}},
                 unique("spend-"))
                .status,
            201);
  const year_month_day earned{floor<days>(newer)};
  // The newer lot expires when the 24th month after it ends.
  const auto expiry =
      time_point_cast<microseconds>(sys_days{(year_month{earned.year(), earned.month()} + months{25}) / 1});
  run("expire-points", expiry - seconds{1});
  EXPECT_EQ(points_balance(member_id)["available"], 500);
  const auto expired = run("expire-points", expiry);
  EXPECT_GE(expired["items"].get<int>(), 1);
  EXPECT_EQ(points_balance(member_id)["available"], 0);
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  const auto breakage = txn.exec_params1(
      "SELECT sum(p.amount) FROM postings p JOIN entries e USING (entry_id) JOIN accounts a ON a.account_id = "
      "p.account_id "
      "WHERE e.member_id = $1 AND e.kind = 'expiry' AND a.name = 'system:breakage'",
      member_id);
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

// Runs `name` at `as_of` in chunks of `limit` items until it finishes; returns the chunks.
int run_in_chunks(const std::string& name, Timestamp as_of, int limit) {
  const auto job = api::find_job(name, SigningKey{});
  EXPECT_TRUE(job);
  auto connection = TestDatabase::instance().connect();
  for (int chunks = 1;; ++chunks) {
    const auto chunk = db::run_transaction(*connection, "test-job", [&](pqxx::transaction_base& txn) {
      return ledger::run_job_chunk(txn, *job, as_of, limit);
    });
    if (chunk.outcome != ledger::ChunkOutcome::more) {
      EXPECT_EQ(chunk.outcome, ledger::ChunkOutcome::finished);
      return chunks;
    }
    EXPECT_LT(chunks, 1000) << "a job that never finishes";
    if (chunks >= 1000) return chunks;
  }
}

TEST_F(Jobs, ExpiryInSmallChunksSettlesEveryLotOfEveryMemberWithOneEntryPerMemberAndMonth) {
  using namespace std::chrono;
  std::vector<std::string> members;
  const Timestamp earned = now_utc() - days{1};
  for (int i = 0; i < 5; ++i) {
    members.push_back(create_member());
    for (int lot = 0; lot < 3; ++lot) {  // three lots each, all expiring at the same month's end
      ASSERT_EQ(
          post("/v1/adjustments",
               {{"member_id", members.back()}, {"asset", "POINTS"}, {"amount", 100 + lot}, {"reason_code", "goodwill"}},
               unique("lot-"))
              .status,
          201);
    }
  }
  ASSERT_EQ(event(members[0], "test_drive", earned).status, 201);  // and one earned lot
  const year_month_day month{floor<days>(now_utc())};
  // (A second after the moment the test above ran the job for: a run per as_of is done once.)
  const auto after_expiry =
      time_point_cast<microseconds>(sys_days{(year_month{month.year(), month.month()} + months{25}) / 1}) + seconds{1};
  // Two lots a chunk: a member's lots are picked together, whichever lot the pick saw first.
  EXPECT_GE(run_in_chunks("expire-points", after_expiry, 2), 3);
  for (const auto& member_id : members) EXPECT_EQ(points_balance(member_id)["available"], 0) << member_id;
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  const auto ours = db::array_literal(members);
  const auto expired = txn.exec_params1(
      "SELECT count(*), count(DISTINCT member_id) FROM entries WHERE kind = 'expiry' AND member_id = ANY($1::text[])",
      ours);
  EXPECT_EQ(expired[0].as<int>(), 5) << "one expiry entry per member";
  EXPECT_EQ(expired[1].as<int>(), 5);
  EXPECT_EQ(txn.exec_params1("SELECT count(*) FROM lots WHERE remaining > 0 AND member_id = ANY($1::text[])", ours)[0]
                .as<int>(),
            0);
  EXPECT_EQ(txn.exec1("SELECT count(*) FROM lots l JOIN entries e ON e.entry_id = l.expired_entry_id"
                      " WHERE e.member_id <> l.member_id")[0]
                .as<int>(),
            0);
}

TEST_F(Jobs, TierEvaluationInSmallChunksResumesAfterItsCursorAndJudgesEveryMemberOnce) {
  std::vector<std::string> members;
  for (int i = 0; i < 7; ++i) {
    members.push_back(create_member());
    const auto overridden =
        post("/v1/members/" + members.back() + "/tiers/spend",
             {{"level", "gold"}, {"reason", "test"}, {"expires_at", format_rfc3339(now_utc() + std::chrono::days{1})}});
    ASSERT_EQ(overridden.status, 200) << overridden.body;
  }
  const Timestamp as_of = now_utc() + std::chrono::days{2};
  // 7 due rows in chunks of 3: three chunks, each after the last one's cursor.
  EXPECT_EQ(run_in_chunks("evaluate-tiers", as_of, 3), 3);
  for (const auto& member_id : members) {
    const auto spend = get("/v1/members/" + member_id + "/tiers").json()["tracks"]["spend"];
    EXPECT_EQ(spend["level"], "silver") << "one step down from gold, once";
  }
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  EXPECT_EQ(txn.exec1("SELECT count(*) FROM tier_changes WHERE reason = 'downgrade'")[0].as<int>(), 7);
  const auto run =
      txn.exec1("SELECT items, cursor FROM job_runs WHERE job = 'evaluate-tiers' AND finished_at IS NOT NULL");
  EXPECT_EQ(run[0].as<int>(), 7);
  EXPECT_EQ(run[1].as<std::string>(), *std::max_element(members.begin(), members.end()) + " spend");
}

TEST_F(Jobs, AJobRunWithAnIdempotencyKeyAnswersOnceAndRefusesTheKeyForAnotherRun) {
  const std::string key = unique("run-");
  const auto as_of = format_rfc3339(now_utc() + std::chrono::days{3650});
  const auto first = post("/v1/jobs/expire-holds", {{"as_of", as_of}}, key);
  ASSERT_EQ(first.status, 200) << first.body;
  const auto again = post("/v1/jobs/expire-holds", {{"as_of", as_of}}, key);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, first.body) << "the first run's answer, started_at included";
  EXPECT_EQ(again.header("idempotent-replayed"), "true");
  const auto other =
      post("/v1/jobs/expire-holds", {{"as_of", format_rfc3339(now_utc() + std::chrono::days{3651})}}, key);
  EXPECT_EQ(other.status, 409);
  EXPECT_EQ(other.json()["code"], "idempotency_key_reused");
}

TEST_F(Jobs, TwoRunnersOfTheSameJobDoTheWorkOnce) {
  const std::string member_id = create_member();
  const Timestamp bought = now_utc() - std::chrono::hours{3};
  for (int i = 0; i < 5; ++i) event(member_id, "mall_purchase", bought, {{"amount_cents", 1000}});
  const auto job = api::find_job("release-pending", SigningKey{});
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
