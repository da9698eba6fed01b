#include "partners/settlement.hpp"

#include <chrono>
#include <cstdio>

#include "platform/database.hpp"

namespace loyalty::partners {
namespace {

// The row is created by the partner's first line, settled through the day before it.
const db::Statement open_settlement{
    "partner_settlement.open",
    "INSERT INTO partner_settlement (partner_id, closed_through) VALUES ($1, $2::date - 1)"
    " ON CONFLICT (partner_id) DO NOTHING"};

const db::Statement share_settlement{
    "partner_settlement.share",
    "SELECT greatest($2::date, closed_through + 1)::text FROM partner_settlement WHERE partner_id = $1 FOR SHARE"};

}  // namespace

std::string utc_date(Timestamp instant) {
  const std::chrono::year_month_day day{std::chrono::floor<std::chrono::days>(instant)};
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(day.year()), static_cast<unsigned>(day.month()),
                static_cast<unsigned>(day.day()));
  return text;
}

std::string settlement_date_for(pqxx::transaction_base& txn, const std::string& partner_id, Timestamp now) {
  const std::string today = utc_date(now);
  auto rows = db::exec(txn, share_settlement, partner_id, today);
  if (rows.empty()) {
    db::exec(txn, open_settlement, partner_id, today);
    rows = db::exec(txn, share_settlement, partner_id, today);
  }
  return rows[0][0].c_str();
}

}  // namespace loyalty::partners
