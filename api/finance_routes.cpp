// GET /v1/reports/trial-balance, GET /v1/reports/liability and GET /v1/reports/daily (role
// finance); the sums are audit/finance_reports.hpp's, this file maps them to messages.
#include <boost/asio/awaitable.hpp>

#include "api/proto/loyalty/v1/finance.pb.h"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "audit/finance_reports.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

// Reads an optional RFC 3339 query parameter into `out`.
void read_time(const RequestContext& context, const char* name, std::optional<Timestamp>& out, Validation& validation) {
  const auto text = context.query_value(name);
  if (!text || text->empty()) return;
  out = parse_rfc3339(*text);
  if (!out) validation.fail(name, "must be an RFC 3339 time");
}

asio::awaitable<Reply> get_trial_balance(Service& service, RequestContext& context) {
  Validation validation;
  std::optional<Timestamp> as_of;
  read_time(context, "as_of", as_of, validation);
  if (!validation.ok()) co_return validation.reply();
  const Timestamp moment = as_of.value_or(context.received_at);
  co_return co_await service.read(0, [&](pqxx::transaction_base& txn) -> Reply {
    audit::TrialBalance report;
    try {
      report = audit::trial_balance(txn, moment);
    } catch (const audit::ReportOverflow& overflow) {
      return figure_overflow("report", overflow);
    }
    v1::TrialBalance message;
    message.set_as_of(format_rfc3339(report.as_of));
    for (const auto& line : report.accounts) {
      auto* item = message.add_accounts();
      item->set_account(line.account);
      item->set_asset(line.asset);
      item->set_balance(line.balance);
    }
    for (const auto& [asset, total] : report.totals) (*message.mutable_totals())[asset] = total;
    return Reply::of(200, std::move(message));
  });
}

void fill_costs(google::protobuf::RepeatedPtrField<v1::CostLine>& out, const std::vector<audit::CostLine>& lines) {
  for (const auto& line : lines) {
    auto* item = out.Add();
    item->set_name(line.name);
    item->set_points(line.points);
    item->set_cost_cents(line.cost_cents);
  }
}

void fill_roll_forward(v1::RollForward& out, const audit::RollForward& roll) {
  out.set_from(format_rfc3339(roll.from));
  out.set_to(format_rfc3339(roll.to));
  out.set_opening(roll.opening);
  out.set_issued(roll.issued);
  out.set_redeemed(roll.redeemed);
  out.set_expired(roll.expired);
  out.set_exchanged(roll.exchanged);
  out.set_adjustments(roll.adjustments);
  out.set_closing(roll.closing);
  out.set_balanced(roll.balanced);
  for (const auto& [kind, amount] : roll.by_kind) {
    auto* item = out.add_by_kind();
    item->set_kind(kind);
    item->set_amount(amount);
  }
}

v1::LiabilityReport liability_message(const audit::LiabilityReport& report, const std::string& currency) {
  v1::LiabilityReport message;
  message.set_as_of(format_rfc3339(report.as_of));
  message.set_currency(currency);
  message.set_point_value_cents(report.point_value_cents);
  auto* outstanding = message.mutable_outstanding();
  outstanding->set_available(report.available);
  outstanding->set_pending(report.pending);
  outstanding->set_held(report.held);
  outstanding->set_total(report.total);
  outstanding->set_value_cents(report.total_value_cents);
  for (const auto& bucket : report.by_expiry_month) {
    auto* item = message.add_by_expiry_month();
    item->set_month(bucket.month);
    item->set_available(bucket.available);
    item->set_pending(bucket.pending);
    item->set_held(bucket.held);
    item->set_value_cents(bucket.value_cents);
  }
  message.mutable_breakage()->set_points(report.breakage_points);
  message.mutable_breakage()->set_value_cents(report.breakage_value_cents);
  fill_costs(*message.mutable_funding_accounts(), report.funding_accounts);
  fill_costs(*message.mutable_campaigns(), report.campaigns);
  if (report.roll_forward) fill_roll_forward(*message.mutable_roll_forward(), *report.roll_forward);
  return message;
}

asio::awaitable<Reply> get_liability(Service& service, RequestContext& context) {
  Validation validation;
  std::optional<Timestamp> as_of, from, to;
  read_time(context, "as_of", as_of, validation);
  read_time(context, "from", from, validation);
  read_time(context, "to", to, validation);
  if (from.has_value() != to.has_value()) validation.fail("from", "from and to go together (the roll-forward period)");
  if (from && to && *from >= *to) validation.fail("to", "must be after from");
  if (!validation.ok()) co_return validation.reply();
  const Timestamp moment = as_of.value_or(context.received_at);
  std::optional<std::pair<Timestamp, Timestamp>> period;
  if (from && to) period = std::pair{*from, *to};
  co_return co_await service.read(0, [&](pqxx::transaction_base& txn) {
    const auto program = service.program(txn);
    const std::int64_t point_value_cents = program ? program->program.point_value_cents : 1;
    const std::string currency = program ? program->program.currency : "CNY";
    try {
      return Reply::of(200,
                       liability_message(audit::liability_report(txn, moment, point_value_cents, period), currency));
    } catch (const audit::ReportOverflow& overflow) {
      return figure_overflow("report", overflow);
    }
  });
}

// A UTC day: "2026-11-01", or an RFC 3339 time at the start of a UTC day.
std::optional<std::chrono::sys_days> read_day(const RequestContext& context, const char* name, Validation& validation) {
  const auto text = context.query_value(name);
  if (!text || text->empty()) {
    validation.fail(name, "is required: a UTC day, YYYY-MM-DD");
    return std::nullopt;
  }
  const auto instant = parse_rfc3339(text->size() == 10 ? *text + "T00:00:00Z" : *text);
  if (!instant) {
    validation.fail(name, "must be a UTC day, YYYY-MM-DD");
    return std::nullopt;
  }
  const auto day = std::chrono::floor<std::chrono::days>(*instant);
  if (day != *instant) {
    validation.fail(name, "must be the start of a UTC day");
    return std::nullopt;
  }
  return day;
}

asio::awaitable<Reply> get_daily_activity(Service& service, RequestContext& context) {
  Validation validation;
  const auto from = read_day(context, "from", validation);
  const auto to = read_day(context, "to", validation);
  if (from && to && *from >= *to) validation.fail("to", "must be after from");
  if (from && to && *to - *from > std::chrono::days{audit::daily_activity_days_max}) {
    validation.fail("to", "at most 366 days after from");
  }
  if (!validation.ok()) co_return validation.reply();
  co_return co_await service.read(0, [&](pqxx::transaction_base& txn) {
    std::vector<audit::DayActivity> days;
    try {
      days = audit::daily_activity(txn, *from, *to);
    } catch (const audit::ReportOverflow& overflow) {
      return figure_overflow("report", overflow);
    }
    v1::DailyActivity message;
    message.set_from(format_date(*from));
    message.set_to(format_date(*to));
    for (const auto& day : days) {
      auto* item = message.add_days();
      item->set_date(day.date);
      item->set_issued(day.issued);
      item->set_redeemed(day.redeemed);
      item->set_expired(day.expired);
      item->set_adjusted(day.adjusted);
    }
    return Reply::of(200, std::move(message));
  });
}

}  // namespace

void add_finance_routes(Router& router, Service& service) {
  using http::verb;
  router.add(verb::get, "/v1/reports/trial-balance", {Role::finance},
             [&service](RequestContext& c) { return get_trial_balance(service, c); });
  router.add(verb::get, "/v1/reports/liability", {Role::finance},
             [&service](RequestContext& c) { return get_liability(service, c); });
  router.add(verb::get, "/v1/reports/daily", {Role::finance},
             [&service](RequestContext& c) { return get_daily_activity(service, c); });
}

}  // namespace loyalty::api
