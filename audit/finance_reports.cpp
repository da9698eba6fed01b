#include "audit/finance_reports.hpp"

#include <charconv>
#include <cstdio>
#include <stdexcept>

#include "platform/assert.hpp"
#include "platform/database.hpp"

namespace loyalty::audit {
namespace {

// Sums of bigint are numeric in SQL and are read as they are: figure() refuses one beyond int64.
const db::Statement select_trial_balance{
    "finance.trial_balance",
    "SELECT a.name, a.asset, coalesce(sum(p.amount), 0) FROM accounts a"
    " LEFT JOIN (postings p JOIN entries e ON e.entry_id = p.entry_id AND e.effective_at <= $1)"
    "   ON p.account_id = a.account_id"
    " GROUP BY a.account_id, a.name, a.asset ORDER BY a.name, a.asset"};
const db::Statement select_member_parts{
    "finance.member_parts",
    "SELECT a.part, coalesce(sum(p.amount), 0) FROM postings p"
    " JOIN entries e ON e.entry_id = p.entry_id JOIN accounts a ON a.account_id = p.account_id"
    " WHERE a.member_id IS NOT NULL AND a.asset = 'POINTS' AND e.effective_at <= $1 GROUP BY a.part"};
const db::Statement select_expiry_buckets{
    "finance.expiry_buckets",
    "SELECT month, sum(available), sum(pending), sum(held) FROM ("
    "  SELECT to_char(date_trunc('month', l.expires_at), 'YYYY-MM') AS month,"
    "         CASE WHEN l.pending_until IS NULL THEN l.remaining ELSE 0 END AS available,"
    "         CASE WHEN l.pending_until IS NOT NULL THEN l.remaining ELSE 0 END AS pending, 0 AS held"
    "    FROM lots l WHERE l.remaining > 0"
    "  UNION ALL"
    "  SELECT to_char(date_trunc('month', l.expires_at), 'YYYY-MM'), 0, 0, hl.amount"
    "    FROM hold_lots hl JOIN holds h ON h.hold_id = hl.hold_id AND h.status = 'open'"
    "    JOIN lots l ON l.lot_id = hl.lot_id"
    ") parts GROUP BY month ORDER BY month"};
const db::Statement select_system_balance{
    "finance.system_balance",
    "SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN entries e ON e.entry_id = p.entry_id"
    " JOIN accounts a ON a.account_id = p.account_id"
    " WHERE a.name = $1 AND a.asset = 'POINTS' AND e.effective_at <= $2"};
// Funding accounts: every POINTS system account that is not one of the ledger's own sinks
// (adjustments, redemptions, breakage, clawback write-off) or a partner's clearing account.
const db::Statement select_funding_costs{
    "finance.funding_costs",
    "SELECT a.name, -coalesce(sum(p.amount), 0) FROM accounts a"
    " LEFT JOIN (postings p JOIN entries e ON e.entry_id = p.entry_id AND e.effective_at <= $1)"
    "   ON p.account_id = a.account_id"
    " WHERE a.member_id IS NULL AND a.asset = 'POINTS' AND a.name NOT LIKE 'partner:%'"
    "   AND a.name NOT IN ('system:adjustments', 'system:redemptions', 'system:breakage', 'system:clawback-writeoff')"
    " GROUP BY a.name ORDER BY a.name"};
const db::Statement select_campaign_costs{
    "finance.campaign_costs",
    "SELECT ea.campaign_id, sum(ea.amount) FROM event_awards ea JOIN events ev ON ev.event_id = ea.event_id"
    " WHERE ea.campaign_id IS NOT NULL AND ea.asset = 'POINTS' AND ea.occurred_at <= $1"
    "   AND (ev.reversed_at IS NULL OR ev.reversed_at > $1)"
    " GROUP BY ea.campaign_id ORDER BY ea.campaign_id"};
const db::Statement select_member_points_before{
    "finance.member_points_before",
    "SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN entries e ON e.entry_id = p.entry_id"
    " JOIN accounts a ON a.account_id = p.account_id"
    " WHERE a.member_id IS NOT NULL AND a.asset = 'POINTS' AND e.effective_at < $1"};
// Which flow of the roll-forward a system account's POINTS posting is; one definition for the
// roll-forward and the daily report, so that their figures always agree.
#define LOYALTY_FLOW_CATEGORY                                                                 \
  "CASE WHEN a.name = 'system:redemptions' THEN 'redeemed'"                                   \
  "     WHEN a.name = 'system:breakage' THEN 'expired'"                                       \
  "     WHEN a.name IN ('system:adjustments', 'system:clawback-writeoff') THEN 'adjustments'" \
  "     WHEN a.name LIKE 'partner:%' THEN 'exchanged' ELSE 'issued' END"
#define LOYALTY_SYSTEM_FLOWS_OF_PERIOD                                                                        \
  " FROM postings p JOIN entries e ON e.entry_id = p.entry_id JOIN accounts a ON a.account_id = p.account_id" \
  " WHERE a.member_id IS NULL AND a.asset = 'POINTS' AND e.effective_at >= $1 AND e.effective_at < $2"
const db::Statement select_system_flows{"finance.system_flows",
                                        "SELECT " LOYALTY_FLOW_CATEGORY
                                        ", coalesce(sum(p.amount), 0)" LOYALTY_SYSTEM_FLOWS_OF_PERIOD " GROUP BY 1"};
const db::Statement select_daily_system_flows{
    "finance.daily_system_flows",
    "SELECT to_char(e.effective_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), " LOYALTY_FLOW_CATEGORY
    ", coalesce(sum(p.amount), 0)" LOYALTY_SYSTEM_FLOWS_OF_PERIOD " GROUP BY 1, 2 ORDER BY 1"};
#undef LOYALTY_SYSTEM_FLOWS_OF_PERIOD
#undef LOYALTY_FLOW_CATEGORY
const db::Statement select_member_flows_by_kind{
    "finance.member_flows_by_kind",
    "SELECT e.kind, sum(p.amount) FROM postings p JOIN entries e ON e.entry_id = p.entry_id"
    " JOIN accounts a ON a.account_id = p.account_id"
    " WHERE a.member_id IS NOT NULL AND a.asset = 'POINTS' AND e.effective_at >= $1 AND e.effective_at < $2"
    " GROUP BY e.kind ORDER BY e.kind"};

std::int64_t checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) throw ReportOverflow("a report total is beyond 2^63-1");
  return sum;
}

// A numeric sum from SQL as int64; `what` names the figure when it does not fit.
std::int64_t figure(const pqxx::field& field, const std::string& what) {
  const std::string_view text(field.c_str(), field.size());
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc::result_out_of_range) throw ReportOverflow(what + " is beyond 2^63-1 in magnitude");
  if (error != std::errc{} || end != text.data() + text.size()) {
    throw std::runtime_error(what + ": the database returned " + std::string(text.substr(0, 40)) + ", not an integer");
  }
  return value;
}

std::vector<CostLine> cost_lines(const pqxx::result& rows, std::int64_t point_value_cents) {
  std::vector<CostLine> lines;
  for (const auto& row : rows) {
    const auto points = figure(row[1], std::string("the points of ") + row[0].c_str());
    lines.push_back({row[0].c_str(), points, points_value_cents(points, point_value_cents)});
  }
  return lines;
}

}  // namespace

std::int64_t points_value_cents(std::int64_t points, std::int64_t point_value_cents) {
  std::int64_t value = 0;
  if (__builtin_mul_overflow(points, point_value_cents, &value)) {
    throw ReportOverflow("a value in cents is beyond 2^63-1");
  }
  return value;
}

TrialBalance trial_balance(pqxx::transaction_base& txn, Timestamp as_of) {
  TrialBalance report;
  report.as_of = as_of;
  // Totals are summed wide: a sound ledger's total is zero even when partial sums are not small.
  std::map<std::string, __int128> totals;
  for (const auto& row : db::exec(txn, select_trial_balance, db::sql_time(as_of))) {
    AccountBalanceLine line{row[0].c_str(), row[1].c_str(),
                            figure(row[2], std::string("the balance of ") + row[0].c_str() + " in " + row[1].c_str())};
    totals[line.asset] += line.balance;
    report.accounts.push_back(std::move(line));
  }
  for (const auto& [asset, total] : totals) {
    if (total > INT64_MAX || total < INT64_MIN) throw ReportOverflow("the total of " + asset + " is beyond 2^63-1");
    report.totals[asset] = static_cast<std::int64_t>(total);
  }
  return report;
}

RollForward roll_forward(pqxx::transaction_base& txn, Timestamp from, Timestamp to) {
  RollForward report;
  report.from = from;
  report.to = to;
  report.opening = figure(db::exec(txn, select_member_points_before, db::sql_time(from))[0][0], "the opening balance");
  report.closing = figure(db::exec(txn, select_member_points_before, db::sql_time(to))[0][0], "the closing balance");
  for (const auto& row : db::exec(txn, select_system_flows, db::sql_time(from), db::sql_time(to))) {
    const std::string category = row[0].c_str();
    const auto amount = figure(row[1], "the " + category + " points of the period");
    // Signs: a system account's posting is the opposite of the members' side of the entry.
    if (category == "issued") report.issued = -amount;
    if (category == "redeemed") report.redeemed = amount;
    if (category == "expired") report.expired = amount;
    if (category == "exchanged") report.exchanged = amount;
    if (category == "adjustments") report.adjustments = -amount;
  }
  std::int64_t by_kind_total = 0;
  for (const auto& row : db::exec(txn, select_member_flows_by_kind, db::sql_time(from), db::sql_time(to))) {
    const auto amount = figure(row[1], std::string("the ") + row[0].c_str() + " points of the period");
    report.by_kind.emplace_back(row[0].c_str(), amount);
    by_kind_total = checked_add(by_kind_total, amount);
  }
  const __int128 change =
      static_cast<__int128>(report.issued) - report.redeemed - report.expired - report.exchanged + report.adjustments;
  report.balanced = report.opening + change == report.closing && report.opening + by_kind_total == report.closing;
  return report;
}

LiabilityReport liability_report(pqxx::transaction_base& txn, Timestamp as_of, std::int64_t point_value_cents,
                                 std::optional<std::pair<Timestamp, Timestamp>> period) {
  LiabilityReport report;
  report.as_of = as_of;
  report.point_value_cents = point_value_cents;
  for (const auto& row : db::exec(txn, select_member_parts, db::sql_time(as_of))) {
    const std::string part = row[0].c_str();
    const auto amount = figure(row[1], "the members' " + part + " points");
    if (part == "available") report.available = amount;
    if (part == "pending") report.pending = amount;
    if (part == "held") report.held = amount;
  }
  report.total = checked_add(checked_add(report.available, report.pending), report.held);
  report.total_value_cents = points_value_cents(report.total, point_value_cents);
  for (const auto& row : db::exec(txn, select_expiry_buckets)) {
    const std::string month = row[0].c_str();
    ExpiryBucket bucket{month, figure(row[1], "the points available expiring in " + month),
                        figure(row[2], "the points pending expiring in " + month),
                        figure(row[3], "the points held expiring in " + month), 0};
    bucket.value_cents =
        points_value_cents(checked_add(checked_add(bucket.available, bucket.pending), bucket.held), point_value_cents);
    report.by_expiry_month.push_back(std::move(bucket));
  }
  report.breakage_points =
      figure(db::exec(txn, select_system_balance, "system:breakage", db::sql_time(as_of))[0][0], "breakage");
  report.breakage_value_cents = points_value_cents(report.breakage_points, point_value_cents);
  report.funding_accounts = cost_lines(db::exec(txn, select_funding_costs, db::sql_time(as_of)), point_value_cents);
  report.campaigns = cost_lines(db::exec(txn, select_campaign_costs, db::sql_time(as_of)), point_value_cents);
  if (period) report.roll_forward = roll_forward(txn, period->first, period->second);
  return report;
}

std::vector<DayActivity> daily_activity(pqxx::transaction_base& txn, std::chrono::sys_days from,
                                        std::chrono::sys_days to) {
  LOYALTY_ASSERT(from < to && to - from <= std::chrono::days{daily_activity_days_max}, "a daily report's range");
  std::vector<DayActivity> days;
  std::map<std::string, std::size_t> index;
  for (auto day = from; day < to; day += std::chrono::days{1}) {
    const std::chrono::year_month_day date{day};
    char text[16];
    std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
    index.emplace(text, days.size());
    days.push_back({text});
  }
  const auto start = std::chrono::time_point_cast<std::chrono::microseconds>(from);
  const auto end = std::chrono::time_point_cast<std::chrono::microseconds>(to);
  for (const auto& row : db::exec(txn, select_daily_system_flows, db::sql_time(start), db::sql_time(end))) {
    const auto found = index.find(row[0].c_str());
    LOYALTY_ASSERT(found != index.end(), "an entry effective outside the report's days");
    DayActivity& day = days[found->second];
    const std::string category = row[1].c_str();
    const auto amount = figure(row[2], "the " + category + " points of " + day.date);
    // Signs as in roll_forward: a system account's posting is the opposite of the members' side.
    if (category == "issued") day.issued = -amount;
    if (category == "redeemed") day.redeemed = amount;
    if (category == "expired") day.expired = amount;
    if (category == "adjustments") day.adjusted = -amount;
  }
  return days;
}

}  // namespace loyalty::audit
