// Finance reports, computed from the immutable postings (system accounts have no maintained
// balance, so every balance here is a sum of postings up to a moment):
//   * the trial balance: every account's balance per asset; each asset sums to zero;
//   * the points liability: what members hold (available, pending, held) by expiry month and
//     its value in cents, breakage to date, what each funding account and campaign cost, and
//     the roll-forward of a period: opening + issued − redeemed − expired − exchanged
//     + adjustments = closing, also broken down by entry kind.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "platform/time.hpp"

namespace loyalty::audit {

// A report figure beyond int64 (every member at 2^63−1 would do it: the sum over accounts is
// not bounded by any one account). Sums are computed as numeric in SQL and read here, so the
// report is refused with the figure named instead of failing in the database or wrapping.
struct ReportOverflow : std::overflow_error {
  using std::overflow_error::overflow_error;
};

struct AccountBalanceLine {
  std::string account;
  std::string asset;
  std::int64_t balance = 0;
};

struct TrialBalance {
  Timestamp as_of;  // entries effective at or before it
  std::vector<AccountBalanceLine> accounts;
  std::map<std::string, std::int64_t> totals;  // by asset; zero in a sound ledger
};

TrialBalance trial_balance(pqxx::transaction_base& txn, Timestamp as_of);

struct ExpiryBucket {
  std::string month;  // "2027-03"
  std::int64_t available = 0, pending = 0, held = 0;
  std::int64_t value_cents = 0;
};

struct CostLine {
  std::string name;  // a funding account, or a campaign id
  std::int64_t points = 0;
  std::int64_t cost_cents = 0;
};

struct RollForward {
  Timestamp from, to;  // entries effective in [from, to)
  std::int64_t opening = 0, issued = 0, redeemed = 0, expired = 0, exchanged = 0, adjustments = 0, closing = 0;
  std::vector<std::pair<std::string, std::int64_t>> by_kind;  // member POINTS change per entry kind
  bool balanced = true;                                       // both identities hold
};

struct LiabilityReport {
  Timestamp as_of;
  std::int64_t point_value_cents = 0;
  std::int64_t available = 0, pending = 0, held = 0, total = 0, total_value_cents = 0;
  std::vector<ExpiryBucket> by_expiry_month;  // from the lots as they are now
  std::int64_t breakage_points = 0, breakage_value_cents = 0;
  std::vector<CostLine> funding_accounts;
  std::vector<CostLine> campaigns;
  std::optional<RollForward> roll_forward;
};

// The value of `points` at `point_value_cents`; throws std::overflow_error beyond int64.
std::int64_t points_value_cents(std::int64_t points, std::int64_t point_value_cents);

LiabilityReport liability_report(pqxx::transaction_base& txn, Timestamp as_of, std::int64_t point_value_cents,
                                 std::optional<std::pair<Timestamp, Timestamp>> period);

RollForward roll_forward(pqxx::transaction_base& txn, Timestamp from, Timestamp to);

// The members' POINTS of one UTC day, by the roll-forward's categories (and signs): issued,
// redeemed, expired and adjusted (the roll-forward's adjustments).
struct DayActivity {
  std::string date;  // "2026-11-01"
  std::int64_t issued = 0, redeemed = 0, expired = 0, adjusted = 0;
};

inline constexpr int daily_activity_days_max = 366;

// Every UTC day of [from, to) in order, days without movement included with zeros; over the
// same range the days add up to the roll-forward's issued, redeemed, expired and adjustments.
// The caller keeps the range within daily_activity_days_max.
std::vector<DayActivity> daily_activity(pqxx::transaction_base& txn, std::chrono::sys_days from,
                                        std::chrono::sys_days to);

}  // namespace loyalty::audit
