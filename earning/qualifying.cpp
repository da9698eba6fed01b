#include "earning/qualifying.hpp"

#include <algorithm>

#include "platform/database.hpp"

namespace loyalty::earning {
namespace {

// Cash of the members' standing events of qualifying types on the window's days, less what
// refunds took back of it (maintained per day by migrations/0010).
const db::Statement sum_spend{
    "qualifying.sum_spend",
    "SELECT member_id, sum(spend_cents) FROM member_spend_days WHERE member_id = ANY($1::text[])"
    " AND type = ANY($2::text[]) AND day BETWEEN $3::date AND $4::date GROUP BY member_id"};

// GROWTH earned by the members' standing events on the window's days, less what partial
// reversals clawed back of it (maintained per day by migrations/0010).
const db::Statement sum_growth{"qualifying.sum_growth",
                               "SELECT member_id, sum(growth) FROM member_growth_days WHERE member_id = ANY($1::text[])"
                               " AND day BETWEEN $2::date AND $3::date GROUP BY member_id"};

}  // namespace

DayWindow day_window(const program::Track& track, Timestamp as_of) {
  using namespace std::chrono;
  const sys_days today = floor<days>(as_of);
  if (track.window.kind == "calendar_year") return {sys_days{year_month_day{today}.year() / January / 1}, today};
  return {today - days{std::max(track.window.days, 1) - 1}, today};
}

std::vector<std::string> qualifying_types(const program::Program& program) {
  std::vector<std::string> types;
  for (const auto& rule : program.rules) {
    if (!rule.qualifying_spend) continue;
    for (const auto& type : rule.events) {
      if (std::find(types.begin(), types.end(), type) == types.end()) types.push_back(type);
    }
  }
  return types;
}

std::map<std::string, std::int64_t> qualifying_values(pqxx::transaction_base& txn, const program::Program& program,
                                                      const program::Track& track,
                                                      const std::vector<std::string>& member_ids, Timestamp as_of) {
  const DayWindow window = day_window(track, as_of);
  const auto members = db::array_literal(member_ids);
  pqxx::result rows;
  if (track.metric == "growth_earned") {
    rows = db::exec(txn, sum_growth, members, format_date(window.from), format_date(window.to));
  } else {
    const auto types = qualifying_types(program);
    if (types.empty()) return {};
    rows =
        db::exec(txn, sum_spend, members, db::array_literal(types), format_date(window.from), format_date(window.to));
  }
  // Sums of bigint are numeric in PostgreSQL; a member's spend beyond 2^63 cents is not a
  // case this program can meet, and the conversion would refuse it rather than wrap.
  std::map<std::string, std::int64_t> values;
  for (const auto& row : rows) values[row[0].c_str()] = row[1].as<std::int64_t>();
  return values;
}

std::int64_t qualifying_value(pqxx::transaction_base& txn, const program::Program& program, const program::Track& track,
                              const std::string& member_id, Timestamp as_of) {
  const auto values = qualifying_values(txn, program, track, {member_id}, as_of);
  const auto found = values.find(member_id);
  return found == values.end() ? 0 : found->second;
}

}  // namespace loyalty::earning
