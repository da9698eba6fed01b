// The arithmetic of earning, with no I/O: which awards a rule gives for an event, the tier
// multiplier, campaign bonuses, and the period a cap counts in. Everything rounds down and
// every product is overflow-checked; the database code in events.cpp applies the result.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ledger/result.hpp"
#include "platform/time.hpp"
#include "program/program.hpp"

namespace loyalty::earning {

struct EventFacts {
  std::string type;
  Timestamp occurred_at;
  std::optional<std::int64_t> amount_cents;
  int tier_multiplier_pct = 100;  // of the member's levels, under the program's policy
};

struct PlannedAward {
  std::string rule_id;
  std::optional<std::string> campaign_id;  // set for a campaign's bonus
  std::string asset;
  std::int64_t amount = 0;
  std::string funding_account;
  std::optional<Timestamp> pending_until;
};

enum class PlanProblem { amount_cents_required, amount_overflow };

// The base awards of one rule for an event (before caps and campaigns); amounts of zero are
// left out. POINTS awards of a rule with tier_multiplier are multiplied.
std::variant<std::vector<PlannedAward>, PlanProblem> plan_rule_awards(const program::Rule& rule,
                                                                      const EventFacts& event);

// The campaigns running at `at` that apply to `rule_id` (from inclusive, to exclusive).
std::vector<const program::Campaign*> active_campaigns(const program::Program& program, const std::string& rule_id,
                                                       Timestamp at);

// A campaign's bonus on `base_points`: base × (multiplier − 100) / 100, rounded down.
std::optional<std::int64_t> campaign_bonus(std::int64_t base_points, int multiplier_pct);

// The period of the event's own time a cap counts in: [from, to). Lifetime is all time.
std::pair<Timestamp, Timestamp> cap_period(const std::string& period, Timestamp occurred_at);

}  // namespace loyalty::earning
