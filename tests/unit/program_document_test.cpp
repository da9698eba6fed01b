// Program documents: the reference program loads as it is; a wrong document is refused with
// every problem listed.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "program/document.hpp"

namespace loyalty::program {
namespace {

nlohmann::json reference_document() {
  std::ifstream file{std::string(LOYALTY_SOURCE_DIR) + "/examples/program.yaml"};
  std::stringstream text;
  text << file.rdbuf();
  auto document = yaml_to_json(text.str());
  EXPECT_TRUE(std::holds_alternative<nlohmann::json>(document));
  return std::get<nlohmann::json>(document);
}

TEST(ProgramDocument, TheReferenceProgramLoadsAsItIs) {
  const auto parsed = parse_program(reference_document());
  if (const auto* problems = std::get_if<DocumentProblems>(&parsed)) {
    for (const auto& problem : problems->problems) ADD_FAILURE() << problem;
    return;
  }
  const Program& program = std::get<Program>(parsed);
  EXPECT_EQ(program.name, "aurora-owners");
  EXPECT_EQ(program.point_value_cents, 1);
  ASSERT_EQ(program.tracks.size(), 2u);
  EXPECT_EQ(program.track("spend")->levels.at(3).code, "platinum");
  EXPECT_EQ(program.track("spend")->levels.at(3).threshold, 8000000);
  EXPECT_EQ(program.track("engagement")->guaranteed_days, 365);
  ASSERT_EQ(program.rules.size(), 6u);
  EXPECT_EQ(program.rules[0].awards[0].per_amount_cents, 100);
  EXPECT_EQ(program.rules[0].pending_days, 7);
  EXPECT_EQ(program.rules[1].awards.size(), 2u);
  EXPECT_EQ(program.rules[1].cap->period, "lifetime");
  EXPECT_EQ(program.asset("GROWTH")->decay->on, "01-01");
  EXPECT_EQ(program.asset("POINTS")->expiry->months, 24);
  EXPECT_EQ(program.campaigns.at(0).budget_points, 50000000);
  EXPECT_EQ(program.partners.at(1).rights.at(0).min_spend_level, "gold");
  EXPECT_EQ(program.partners.at(0).outbound_units_per_point_milli, 100);
}

TEST(ProgramDocument, EveryProblemIsListedWithItsPath) {
  auto document = reference_document();
  document["point_value_cents"] = 1.5;
  document["rules"][0]["award"]["asset"] = "DIAMONDS";
  document["rules"][1]["cap"]["period"] = "fortnight";
  document["tracks"]["spend"]["levels"][2]["threshold"] = 100;
  document["campaigns"][0]["applies_to"] = {"no-such-rule"};
  document["partners"][1]["rights"][0]["min_levels"]["spend"] = "diamond";
  document["surprise"] = true;
  const auto parsed = parse_program(document);
  ASSERT_TRUE(std::holds_alternative<DocumentProblems>(parsed));
  const auto& problems = std::get<DocumentProblems>(parsed).problems;
  const auto mentions = [&](const std::string& text) {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const std::string& p) { return p.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(mentions("point_value_cents"));
  EXPECT_TRUE(mentions("rules[0].award.asset"));
  EXPECT_TRUE(mentions("rules[1].cap.period"));
  EXPECT_TRUE(mentions("tracks.spend.levels[2].threshold"));
  EXPECT_TRUE(mentions("campaigns[0].applies_to"));
  EXPECT_TRUE(mentions("diamond"));
  EXPECT_TRUE(mentions("surprise"));
  EXPECT_GE(problems.size(), 7u);
}

TEST(ProgramDocument, APartnersDailyLimitsAreBoundedByWhatItsStatementsCanStateExactly) {
  // 2^52 points a day at one cent a point; a hundred cents a point leaves a hundredth of it.
  EXPECT_EQ(partner_daily_points_max(1, 100), std::int64_t{1} << 52);
  EXPECT_EQ(partner_daily_points_max(0, 1), std::int64_t{1} << 52);
  EXPECT_EQ(partner_daily_points_max(100, 1000), (std::int64_t{1} << 52) / 100);
  EXPECT_EQ(partner_daily_points_max(1, 2001), (std::int64_t{1} << 52) / 3);  // 2.001 units a point: up to 3
  EXPECT_EQ(partner_daily_points_max(partner_rate_max, partner_rate_max), (std::int64_t{1} << 52) / 1'000'000);

  auto document = reference_document();
  const std::int64_t bound = partner_daily_points_max(1, 100);  // the first partner's rates
  document["partners"][0]["limits"]["per_day_points"] = bound;
  document["partners"][0]["limits"]["per_member_daily_points"] = bound;
  ASSERT_TRUE(std::holds_alternative<Program>(parse_program(document)));
  document["partners"][0]["limits"]["per_day_points"] = bound + 1;
  document["partners"][0]["limits"]["per_member_daily_points"] = INT64_MAX;
  const auto parsed = parse_program(document);
  ASSERT_TRUE(std::holds_alternative<DocumentProblems>(parsed));
  const auto& problems = std::get<DocumentProblems>(parsed).problems;
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("partners[0].limits.per_member_daily_points"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("partners[0].limits.per_day_points"), std::string::npos) << problems[1];
}

TEST(ProgramDocument, TheEventWindowIsOptionalWithTheLiveDefaultsAndCheckedWhenGiven) {
  auto document = reference_document();
  document.erase("event_window");
  const auto defaults = parse_program(document);
  ASSERT_TRUE(std::holds_alternative<Program>(defaults));
  EXPECT_EQ(std::get<Program>(defaults).event_window.past_days, 90);
  EXPECT_EQ(std::get<Program>(defaults).event_window.future_seconds, 300);
  document["event_window"] = {{"past_days", 30}, {"future_seconds", 60}};
  const auto given = parse_program(document);
  ASSERT_TRUE(std::holds_alternative<Program>(given));
  EXPECT_EQ(std::get<Program>(given).event_window.past_days, 30);
  EXPECT_EQ(std::get<Program>(given).event_window.future_seconds, 60);
  document["event_window"] = {{"past_days", 0}, {"ahead", 1}};
  const auto wrong = parse_program(document);
  ASSERT_TRUE(std::holds_alternative<DocumentProblems>(wrong));
  const auto& problems = std::get<DocumentProblems>(wrong).problems;
  EXPECT_EQ(problems.size(), 2u);
  for (const auto& problem : problems) EXPECT_TRUE(problem.starts_with("event_window.")) << problem;
}

TEST(ProgramDocument, TextThatIsNotYamlIsAProblem) {
  EXPECT_TRUE(std::holds_alternative<DocumentProblems>(yaml_to_json("program: [unclosed")));
}

}  // namespace
}  // namespace loyalty::program
