// Campaigns: bonuses inside their window only, paid from their own funding account, and
// never beyond their budget — also when members earn at the same time. This binary applies
// its own version of the program (a campaign around "now", with a small budget).
#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "program/document.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

constexpr std::int64_t budget_points = 1000;

class Campaigns : public ServiceTest {
 protected:
  static void SetUpTestSuite() {
    std::ifstream file{std::string(LOYALTY_SOURCE_DIR) + "/examples/program.yaml"};
    std::stringstream text;
    text << file.rdbuf();
    auto document = std::get<nlohmann::json>(program::yaml_to_json(text.str()));
    window_from = std::chrono::floor<std::chrono::seconds>(now_utc()) - std::chrono::hours{48};
    window_to = window_from + std::chrono::hours{24};
    document["campaigns"][0]["window"] = {{"from", format_rfc3339(window_from)}, {"to", format_rfc3339(window_to)}};
    document["campaigns"][0]["budget_points"] = budget_points;
    document["campaigns"].push_back(
        {{"id", "flash"},
         {"window", {{"from", format_rfc3339(window_from)}, {"to", format_rfc3339(window_to)}}},
         {"applies_to", {"purchase-base"}},
         {"multiplier_pct", 150},
         {"budget_points", 1000000},
         {"funding_account", "campaign:flash"}});
    HttpClient client{service().port()};
    const auto applied = client.request(
        "PUT", "/v1/program", document.dump(),
        {{"Authorization", "Bearer " + service().secret(api::Role::admin)}, {"Content-Type", "application/json"}});
    ASSERT_EQ(applied.status, 201) << applied.body;
  }

  HttpResult purchase(const std::string& member_id, Timestamp at, std::int64_t cents) {
    return post("/v1/events",
                {{"event_id", unique("p-")},
                 {"member_id", member_id},
                 {"type", "purchase"},
                 {"occurred_at", format_rfc3339(at)},
                 {"attributes", {{"amount_cents", cents}}}},
                std::nullopt, api::Role::ingest);
  }

  static std::int64_t bonus_of(const nlohmann::json& result, const std::string& campaign) {
    std::int64_t total = 0;
    for (const auto& award : result["awards"]) {
      if (award.value("campaign_id", "") == campaign) total += award["amount"].get<std::int64_t>();
    }
    return total;
  }

  static inline Timestamp window_from;
  static inline Timestamp window_to;
};

TEST_F(Campaigns, ABonusAppliesFromTheFirstInstantOfTheWindowToJustBeforeItsEnd) {
  const std::string member_id = create_member();
  const auto one_second = std::chrono::seconds{1};
  EXPECT_EQ(bonus_of(purchase(member_id, window_from - one_second, 10000).json(), "flash"), 0);
  EXPECT_EQ(bonus_of(purchase(member_id, window_from, 10000).json(), "flash"), 50);
  EXPECT_EQ(bonus_of(purchase(member_id, window_to - one_second, 10000).json(), "flash"), 50);
  EXPECT_EQ(bonus_of(purchase(member_id, window_to, 10000).json(), "flash"), 0);
}

TEST_F(Campaigns, TheBonusIsPaidByTheCampaignsFundingAccount) {
  const std::string member_id = create_member();
  const auto result = purchase(member_id, window_from + std::chrono::hours{1}, 20000).json();
  ASSERT_EQ(bonus_of(result, "flash"), 100);
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  const auto cost = txn.exec_params1(
      "SELECT -sum(p.amount) FROM postings p JOIN accounts a USING (account_id) "
      "WHERE a.name = 'campaign:flash' AND p.entry_id = $1",
      result["awards"][0]["entry_id"].get<std::int64_t>());
  EXPECT_EQ(cost[0].as<std::int64_t>(), 100);
}

TEST_F(Campaigns, ConcurrentPurchasesNeverSpendBeyondTheBudgetAndTheBaseAwardStillComes) {
  // double-eleven doubles the base award: 100 bonus points a purchase, 1000 budget.
  constexpr int purchases = 24;
  // Earlier tests of this binary may have spent some of the budget already.
  const auto spent_before = [] {
    auto connection = TestDatabase::instance().connect();
    pqxx::read_transaction txn{*connection};
    return txn.exec("SELECT sum(spent) FROM campaign_budget_shards WHERE campaign_id = 'double-eleven'")[0][0]
        .as<std::int64_t>();
  }();
  std::atomic<std::int64_t> bonus_total{spent_before};
  std::vector<std::string> members;
  for (int i = 0; i < purchases; ++i) members.push_back(create_member());
  const std::string& secret = service().secret(api::Role::ingest);
  std::atomic<int> with_base{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < purchases; ++i) {
    threads.emplace_back([&, i] {
      HttpClient client{service().port()};
      const nlohmann::json body = {{"event_id", unique("race-")},
                                   {"member_id", members[i]},
                                   {"type", "purchase"},
                                   {"occurred_at", format_rfc3339(window_from + std::chrono::hours{2})},
                                   {"attributes", {{"amount_cents", 10000}}}};
      const auto result = client.request("POST", "/v1/events", body.dump(), {{"Authorization", "Bearer " + secret}});
      if (result.status != 201) {
        ADD_FAILURE() << result.status << " " << result.body;
        return;
      }
      const auto recorded = result.json();
      bonus_total += bonus_of(recorded, "double-eleven");
      for (const auto& award : recorded["awards"]) {
        if (!award.contains("campaign_id") && award["amount"] == 100) ++with_base;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(with_base.load(), purchases);
  EXPECT_LE(bonus_total.load(), budget_points);
  // Racing awards may leave a little budget in shards that were busy; purchases one at a
  // time then spend exactly the rest, and not a point more.
  const std::string late_member = create_member();
  for (int i = 0; i < 12; ++i) {
    bonus_total += bonus_of(purchase(late_member, window_from + std::chrono::hours{3}, 10000).json(), "double-eleven");
  }
  EXPECT_EQ(bonus_total.load(), budget_points);
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  EXPECT_EQ(txn.exec("SELECT sum(spent) FROM campaign_budget_shards WHERE campaign_id = 'double-eleven'")[0][0]
                .as<std::int64_t>(),
            budget_points);
  const auto paid = txn.exec(
      "SELECT -sum(p.amount) FROM postings p JOIN accounts a USING (account_id) WHERE a.name = "
      "'campaign:double-eleven'");
  EXPECT_EQ(paid[0][0].as<std::int64_t>(), budget_points);
}

TEST_F(Campaigns, AnInvalidProgramIsRefusedWholeWithEveryProblemListed) {
  const auto before = get("/v1/program").json()["version"];
  HttpClient client{service().port()};
  const auto refused = client.request(
      "PUT", "/v1/program", R"({"program":"x","point_value_cents":0,"assets":[],"tracks":{},"rules":[{"id":"r"}]})",
      {{"Authorization", "Bearer " + service().secret(api::Role::admin)}, {"Content-Type", "application/json"}});
  ASSERT_EQ(refused.status, 422) << refused.body;
  EXPECT_GE(refused.json()["errors"].size(), 5u);
  EXPECT_EQ(get("/v1/program").json()["version"], before);
}

}  // namespace
}  // namespace loyalty::testing
