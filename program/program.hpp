// The program: the brand's rules for its loyalty scheme — assets, tier tracks, earning rules,
// campaigns and partners — as one versioned document (examples/program.yaml is the
// reference). This header is the typed form every capability reads; documents are parsed
// and validated as a whole (every problem listed) by program/document.hpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "platform/time.hpp"

namespace loyalty::program {

struct ExpiryPolicy {
  std::string policy;  // end_of_month_after
  int months = 0;
  // Members hear of a lot this many days before it expires (the points.expiring event; the
  // notify-expiring job); 0: no notices.
  int notice_days = 0;
};

struct DecayPolicy {
  std::string every;  // year
  std::string on;     // "MM-DD"
  int percent = 0;
};

struct AssetConfig {
  std::string code;
  bool spendable = false;
  std::optional<ExpiryPolicy> expiry;
  std::optional<DecayPolicy> decay;
};

struct Level {
  std::string code;
  std::int64_t threshold = 0;
  int earn_multiplier_pct = 100;
};

struct Window {
  std::string kind;  // rolling, calendar_year
  int days = 0;
};

struct Track {
  std::string name;    // spend, engagement
  std::string metric;  // qualifying_spend_cents, growth_earned
  Window window;
  std::vector<Level> levels;  // ascending thresholds, the first at 0
  std::string upgrade;        // immediate
  int guaranteed_days = 0;
  int max_levels_per_evaluation = 1;
};

struct Award {
  std::string asset;
  std::optional<std::int64_t> fixed;
  std::optional<std::int64_t> per_amount_cents;  // with amount: `amount` per this many cents
  std::int64_t amount = 0;
};

struct Cap {
  std::int64_t per_member = 0;
  std::string period;  // day, month, year, lifetime
};

struct Rule {
  std::string id;
  std::vector<std::string> events;
  std::vector<Award> awards;
  bool qualifying_spend = false;
  bool tier_multiplier = false;
  int pending_days = 0;
  std::string funding_account;
  std::optional<Cap> cap;
};

struct Campaign {
  std::string id;
  Timestamp from;
  Timestamp to;
  std::vector<std::string> applies_to;
  int multiplier_pct = 100;
  std::int64_t budget_points = 0;
  std::string funding_account;
};

struct PartnerRight {
  std::string code;
  std::string title;
  std::optional<std::string> min_spend_level;
  std::optional<std::string> min_engagement_level;
  std::int64_t quota_per_period = 0;
  std::string period;  // day, month, year
};

// A partner's rates and quotas are at most this, wherever the partner is defined.
inline constexpr std::int64_t partner_rate_max = 1'000'000;

// A settlement statement's figures are JSON integers that every JCS implementation writes
// exactly: at most 2^53 (partners/statements.hpp).
inline constexpr std::int64_t statement_figure_max = std::int64_t{1} << 53;

// The largest daily limit (points a UTC day and direction) for a partner's rates: a day at the
// limit keeps its points, units and cents within half of statement_figure_max, so that a
// settlement day that also takes the last lines of the day before still fits.
inline std::int64_t partner_daily_points_max(std::int64_t cents_per_point,
                                             std::int64_t outbound_units_per_point_milli) {
  const std::int64_t units_per_point =
      outbound_units_per_point_milli / 1000 + (outbound_units_per_point_milli % 1000 != 0);
  return statement_figure_max / 2 / std::max({cents_per_point, units_per_point, std::int64_t{1}});
}

struct Partner {
  std::string partner_id;
  std::string name;
  std::string asset;
  std::int64_t inbound_points_per_unit = 0;
  std::int64_t outbound_units_per_point_milli = 0;
  std::int64_t cents_per_point = 0;
  std::int64_t per_member_daily_points = 0;
  std::int64_t per_day_points = 0;
  std::vector<PartnerRight> rights;
};

// How far from the moment it is received an event's occurred_at may be for POST /v1/events:
// older events are refused, and so are events ahead of the clock by more than the skew.
// `loyaltyctl import events` takes any past time and the same skew ahead.
struct EventWindow {
  int past_days = 90;
  int future_seconds = 5 * 60;
};

struct Program {
  std::string name;
  std::string currency = "CNY";
  std::int64_t point_value_cents = 1;
  std::string clawback = "allow_negative";  // or cap_at_balance
  std::vector<AssetConfig> assets;
  std::vector<Track> tracks;  // spend, engagement
  std::string multiplier_policy = "max";
  std::vector<Rule> rules;
  std::vector<Campaign> campaigns;
  std::vector<Partner> partners;
  EventWindow event_window;

  const AssetConfig* asset(const std::string& code) const;
  const Track* track(const std::string& name) const;
};

}  // namespace loyalty::program
