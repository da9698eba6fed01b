// Tier tracks: upgrades at the threshold, multipliers from the next award on, the
// guaranteed period, one level at a time down, administrators' overrides.
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

class Tiers : public ServiceTest {
 protected:
  HttpResult purchase(const std::string& member_id, std::int64_t cents, std::string event_id = "") {
    if (event_id.empty()) event_id = unique("p-");
    return post("/v1/events",
                {{"event_id", event_id},
                 {"member_id", member_id},
                 {"type", "service_visit"},
                 {"occurred_at", format_rfc3339(now_utc() - std::chrono::days{8})},
                 {"attributes", {{"amount_cents", cents}}}},
                std::nullopt, api::Role::ingest);
  }
  nlohmann::json track(const std::string& member_id, const std::string& name) {
    const auto tiers = get("/v1/members/" + member_id + "/tiers");
    EXPECT_EQ(tiers.status, 200) << tiers.body;
    return tiers.json()["tracks"][name];
  }
  nlohmann::json evaluate(Timestamp as_of) {
    const auto run = post("/v1/jobs/evaluate-tiers", {{"as_of", format_rfc3339(as_of)}});
    EXPECT_EQ(run.status, 200) << run.body;
    return run.json();
  }
  static Timestamp in_days(int days) { return now_utc() + std::chrono::days{days}; }
};

TEST_F(Tiers, ANewMemberIsAtTheBottomOfBothTracksWithWhatTheNextLevelNeeds) {
  const std::string member_id = create_member();
  const auto spend = track(member_id, "spend");
  EXPECT_EQ(spend["level"], "member");
  EXPECT_EQ(spend["qualifying_value"], 0);
  EXPECT_EQ(spend["next_level"]["code"], "silver");
  EXPECT_EQ(spend["next_level"]["missing"], 500000);
  EXPECT_EQ(spend["window"]["kind"], "rolling");
  EXPECT_EQ(spend["window"]["days"], 365);
  EXPECT_EQ(track(member_id, "engagement")["level"], "fan");
  EXPECT_EQ(get("/v1/members/" + member_id).json()["tiers"]["spend"]["level"], "member");
}

TEST_F(Tiers, OneCentShortStaysAndTheThresholdUpgradesAtOnce) {
  const std::string member_id = create_member();
  EXPECT_TRUE(purchase(member_id, 499999).json()["tier_changes"].empty());
  EXPECT_EQ(track(member_id, "spend")["next_level"]["missing"], 1);
  const auto upgraded = purchase(member_id, 1).json();
  ASSERT_EQ(upgraded["tier_changes"].size(), 1u);
  EXPECT_EQ(upgraded["tier_changes"][0]["track"], "spend");
  EXPECT_EQ(upgraded["tier_changes"][0]["from_level"], "member");
  EXPECT_EQ(upgraded["tier_changes"][0]["to_level"], "silver");
  const auto spend = track(member_id, "spend");
  EXPECT_EQ(spend["level"], "silver");
  EXPECT_EQ(spend["history"][0]["reason"], "upgrade");
  EXPECT_TRUE(spend.contains("guaranteed_until"));
}

TEST_F(Tiers, TheNewMultiplierAppliesFromTheNextAwardOnAtTheHigherOfTheTwoTracks) {
  const std::string member_id = create_member();
  const auto first = purchase(member_id, 2000000).json();  // 20,000 CNY: earned at 100%, then gold
  EXPECT_EQ(first["awards"][0]["amount"], 20000);
  EXPECT_EQ(first["tier_changes"][0]["to_level"], "gold");
  EXPECT_EQ(purchase(member_id, 10000).json()["awards"][0]["amount"], 150);  // gold: 150%
  // Engagement pioneer (150%) does not beat... a higher spend multiplier; delivery GROWTH reaches active.
  post("/v1/events",
       {{"event_id", unique("d-")},
        {"member_id", member_id},
        {"type", "vehicle_delivery"},
        {"occurred_at", format_rfc3339(now_utc() - std::chrono::days{1})}},
       std::nullopt, api::Role::ingest);
  EXPECT_EQ(track(member_id, "engagement")["level"], "active");
  EXPECT_EQ(purchase(member_id, 10000).json()["awards"][0]["amount"], 150);  // max(150, 110)
}

TEST_F(Tiers, ReversedSpendLowersTheValueButNeverDowngradesInsideTheGuaranteedPeriod) {
  const std::string member_id = create_member();
  const std::string event_id = unique("big-");
  ASSERT_EQ(purchase(member_id, 600000, event_id).json()["tier_changes"][0]["to_level"], "silver");
  ASSERT_EQ(
      post("/v1/events/" + event_id + "/reverse", {{"reason", "returned"}}, std::nullopt, api::Role::ingest).status,
      200);
  auto spend = track(member_id, "spend");
  EXPECT_EQ(spend["qualifying_value"], 0);
  EXPECT_EQ(spend["level"], "silver");
  evaluate(in_days(30));
  EXPECT_EQ(track(member_id, "spend")["level"], "silver");
  // Once the guarantee has passed, the level falls to what the value supports.
  evaluate(in_days(366));
  EXPECT_EQ(track(member_id, "spend")["level"], "member");
}

TEST_F(Tiers, AfterTheGuaranteeTheLevelFallsOneStepPerEvaluationAsSpendRollsOff) {
  const std::string member_id = create_member();
  ASSERT_EQ(purchase(member_id, 8000000).json()["tier_changes"][0]["to_level"], "platinum");
  // A year on, the purchase has left the 365-day window: the value is 0, the level drops one step.
  evaluate(in_days(366));
  auto spend = track(member_id, "spend");
  EXPECT_EQ(spend["level"], "gold");
  EXPECT_EQ(spend["history"][0]["reason"], "downgrade");
  EXPECT_EQ(spend["history"][0]["job"], "job:evaluate-tiers");
  // The new level has its own guarantee: evaluating again soon changes nothing.
  evaluate(in_days(367));
  EXPECT_EQ(track(member_id, "spend")["level"], "gold");
  const Timestamp two_years_on = in_days(366 + 366);
  evaluate(two_years_on);
  EXPECT_EQ(track(member_id, "spend")["level"], "silver");
  // Running the same moment again judges nobody twice.
  const auto again = evaluate(two_years_on);
  EXPECT_EQ(again["status"], "already_done");
}

TEST_F(Tiers, AnOverrideSetsALevelThatHoldsUntilItExpires) {
  const std::string member_id = create_member();
  const auto overridden =
      post("/v1/members/" + member_id + "/tiers/spend",
           {{"level", "platinum"}, {"reason", "VIP onboarding"}, {"expires_at", format_rfc3339(in_days(30))}});
  ASSERT_EQ(overridden.status, 200) << overridden.body;
  EXPECT_EQ(overridden.json()["tracks"]["spend"]["level"], "platinum");
  EXPECT_EQ(overridden.json()["tracks"]["spend"]["floor_level"], "platinum");
  EXPECT_EQ(overridden.json()["tracks"]["spend"]["history"][0]["reason"], "override");
  EXPECT_EQ(purchase(member_id, 10000).json()["awards"][0]["amount"], 200);  // platinum: 200%
  evaluate(in_days(10));
  EXPECT_EQ(track(member_id, "spend")["level"], "platinum");
  evaluate(in_days(31));
  EXPECT_EQ(track(member_id, "spend")["level"], "gold");
}

TEST_F(Tiers, BadOverridesAreRefused) {
  const std::string member_id = create_member();
  const auto base = nlohmann::json{{"level", "gold"}, {"reason", "x"}, {"expires_at", format_rfc3339(in_days(1))}};
  auto wrong_level = base;
  wrong_level["level"] = "diamond";
  EXPECT_EQ(post("/v1/members/" + member_id + "/tiers/spend", wrong_level).status, 422);
  auto past = base;
  past["expires_at"] = format_rfc3339(now_utc() - std::chrono::days{1});
  EXPECT_EQ(post("/v1/members/" + member_id + "/tiers/spend", past).status, 422);
  EXPECT_EQ(post("/v1/members/" + member_id + "/tiers/loyalty", base).status, 404);
  EXPECT_EQ(post("/v1/members/mem_nobody00000000000000/tiers/spend", base).status, 404);
  EXPECT_EQ(post("/v1/members/" + member_id + "/tiers/spend", base, std::nullopt, api::Role::mall).status, 403);
}

}  // namespace
}  // namespace loyalty::testing
