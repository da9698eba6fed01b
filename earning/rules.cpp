#include "earning/rules.hpp"

#include "ledger/amounts.hpp"

namespace loyalty::earning {

std::variant<std::vector<PlannedAward>, PlanProblem> plan_rule_awards(const program::Rule& rule,
                                                                      const EventFacts& event) {
  std::vector<PlannedAward> awards;
  for (const auto& award : rule.awards) {
    std::int64_t amount = 0;
    if (award.fixed) {
      amount = *award.fixed;
    } else {
      if (!event.amount_cents) return PlanProblem::amount_cents_required;
      const auto units = *event.amount_cents / *award.per_amount_cents;
      const auto product = ledger::checked_mul(units, award.amount);
      if (!product) return PlanProblem::amount_overflow;
      amount = *product;
    }
    if (rule.tier_multiplier && award.asset == "POINTS" && event.tier_multiplier_pct != 100) {
      const auto product = ledger::checked_mul(amount, event.tier_multiplier_pct);
      if (!product) return PlanProblem::amount_overflow;
      amount = *product / 100;
    }
    if (amount <= 0) continue;
    PlannedAward planned{rule.id, std::nullopt, award.asset, amount, rule.funding_account, std::nullopt};
    if (rule.pending_days > 0) {
      planned.pending_until = event.occurred_at + std::chrono::days{rule.pending_days};
    }
    awards.push_back(std::move(planned));
  }
  return awards;
}

std::vector<const program::Campaign*> active_campaigns(const program::Program& program, const std::string& rule_id,
                                                       Timestamp at) {
  std::vector<const program::Campaign*> campaigns;
  for (const auto& campaign : program.campaigns) {
    if (at < campaign.from || at >= campaign.to) continue;
    for (const auto& applies : campaign.applies_to) {
      if (applies == rule_id) campaigns.push_back(&campaign);
    }
  }
  return campaigns;
}

std::optional<std::int64_t> campaign_bonus(std::int64_t base_points, int multiplier_pct) {
  if (multiplier_pct <= 100) return 0;
  const auto product = ledger::checked_mul(base_points, multiplier_pct - 100);
  if (!product) return std::nullopt;
  return *product / 100;
}

std::pair<Timestamp, Timestamp> cap_period(const std::string& period, Timestamp occurred_at) {
  using namespace std::chrono;
  const auto day = floor<days>(occurred_at);
  const year_month_day date{day};
  const auto at = [](sys_days d) { return time_point_cast<microseconds>(d); };
  if (period == "day") return {at(day), at(day + days{1})};
  if (period == "month") {
    const year_month month{date.year(), date.month()};
    return {at(sys_days{month / 1}), at(sys_days{(month + months{1}) / 1})};
  }
  if (period == "year") {
    return {at(sys_days{date.year() / January / 1}), at(sys_days{(date.year() + years{1}) / January / 1})};
  }
  // Lifetime: every instant the ledger can hold.
  return {at(sys_days{year{1970} / January / 1}), at(sys_days{year{9999} / December / 31})};
}

}  // namespace loyalty::earning
