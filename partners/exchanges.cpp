#include "partners/exchanges.hpp"

#include <algorithm>
#include <limits>

#include "ledger/accounts.hpp"
#include "ledger/amounts.hpp"
#include "ledger/holds.hpp"
#include "ledger/lots.hpp"
#include "partners/links.hpp"
#include "partners/registry.hpp"
#include "partners/settlement.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"
#include "program/cache.hpp"

namespace loyalty::partners {
namespace {

// The row is claimed first, so a concurrent request with the same id waits for this one and
// then replays its answer (or, if this one is refused and rolls back, proceeds itself).
const db::Statement claim_exchange{
    "partner_exchanges.claim",
    "INSERT INTO partner_exchanges (scope, exchange_id, direction, partner_id, member_id, partner_member_ref,"
    " points, units, cents, request_sha256, created_at, settlement_date)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    " ON CONFLICT (scope, exchange_id) DO NOTHING RETURNING exchange_row, created_at"};

const db::Statement select_exchange{
    "partner_exchanges.select",
    "SELECT exchange_id, direction, partner_id, member_id, partner_member_ref, points, units, cents,"
    " coalesce(entry_id, 0), created_at, settlement_date::text, request_sha256"
    " FROM partner_exchanges WHERE scope = $1 AND exchange_id = $2"};

// The columns of select_exchange (what exchange_of_row reads), then the row's place.
const db::Statement select_partner_exchanges{
    "partner_exchanges.select_partner",
    "SELECT exchange_id, direction, partner_id, member_id, partner_member_ref, points, units, cents,"
    " coalesce(entry_id, 0), created_at, settlement_date::text, request_sha256, exchange_row"
    " FROM partner_exchanges WHERE partner_id = $1 AND exchange_row < $2 ORDER BY exchange_row DESC LIMIT $3"};

const db::Statement set_entry{"partner_exchanges.set_entry",
                              "UPDATE partner_exchanges SET entry_id = $2 WHERE exchange_row = $1"};

// Adds `points` to a daily total unless that would pass `limit`; no row back means refused.
const db::Statement add_to_daily_total{
    "partner_daily_totals.add",
    "INSERT INTO partner_daily_totals (partner_id, direction, day, member_id, points) VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT (partner_id, direction, day, member_id) DO UPDATE"
    " SET points = partner_daily_totals.points + EXCLUDED.points"
    " WHERE partner_daily_totals.points + EXCLUDED.points <= $6 RETURNING points"};

const db::Statement member_exists{"partner_exchanges.member_exists", "SELECT 1 FROM members WHERE member_id = $1"};

Exchange exchange_of_row(const pqxx::row& row) {
  Exchange exchange;
  exchange.exchange_id = row[0].c_str();
  exchange.direction = row[1].c_str();
  exchange.partner_id = row[2].c_str();
  exchange.member_id = row[3].c_str();
  exchange.partner_member_ref = row[4].c_str();
  exchange.points = row[5].as<std::int64_t>();
  exchange.units = row[6].as<std::int64_t>();
  exchange.cents = row[7].as<std::int64_t>();
  exchange.entry_id = row[8].as<std::int64_t>();
  exchange.created_at = db::time_of(row[9]);
  exchange.settlement_date = row[10].c_str();
  return exchange;
}

// Per member first, then the partner's total: every writer takes the rows in that order.
bool within_daily_limits(pqxx::transaction_base& txn, const program::Partner& partner, const Exchange& exchange,
                         Timestamp now) {
  // A partner stored before the limits were bounded counts its limits up to the bound, so that
  // every settlement day stays within what its statement can state (partners/statements.cpp).
  const std::int64_t daily_max =
      program::partner_daily_points_max(partner.cents_per_point, partner.outbound_units_per_point_milli);
  const std::int64_t per_member = std::min(partner.per_member_daily_points, daily_max);
  const std::int64_t per_day = std::min(partner.per_day_points, daily_max);
  if (exchange.points > per_member || exchange.points > per_day) return false;
  const std::string day = utc_date(now);
  if (db::exec(txn, add_to_daily_total, partner.partner_id, exchange.direction, day, exchange.member_id,
               exchange.points, per_member)
          .empty()) {
    return false;
  }
  return !db::exec(txn, add_to_daily_total, partner.partner_id, exchange.direction, day, std::string(), exchange.points,
                   per_day)
              .empty();
}

std::string request_hash(const Exchange& exchange) {
  return to_hex(sha256(exchange.direction + "\n" + exchange.partner_id + "\n" + exchange.member_id + "\n" +
                       exchange.partner_member_ref + "\n" + std::to_string(exchange.points) + "\n" +
                       std::to_string(exchange.units)));
}

// Claims the exchange id: nullopt when this request is the first; otherwise the answer to
// give (a replay of the first, or id_reused).
std::optional<ExchangeResult> claim(pqxx::transaction_base& txn, const std::string& scope, Exchange& exchange,
                                    std::int64_t& row_id) {
  const auto claimed =
      db::exec(txn, claim_exchange, scope, exchange.exchange_id, exchange.direction, exchange.partner_id,
               exchange.member_id, exchange.partner_member_ref, exchange.points, exchange.units, exchange.cents,
               request_hash(exchange), db::sql_time(exchange.created_at), exchange.settlement_date);
  if (!claimed.empty()) {
    row_id = claimed[0][0].as<std::int64_t>();
    exchange.created_at = db::time_of(claimed[0][1]);
    return std::nullopt;
  }
  const auto existing = db::exec(txn, select_exchange, scope, exchange.exchange_id);
  LOYALTY_ASSERT(!existing.empty(), "an exchange id that conflicts but cannot be read");
  if (existing[0][11].c_str() != request_hash(exchange)) return ExchangeResult(Refusal::id_reused);
  return ExchangeResult(std::pair{exchange_of_row(existing[0]), Replay::replayed});
}

ledger::EntryDraft exchange_entry(const Exchange& exchange, const ProgramContext& program, const ledger::Origin& origin,
                                  Timestamp now) {
  ledger::EntryDraft entry;
  entry.kind = exchange.direction == "inbound" ? "exchange_in" : "exchange_out";
  entry.effective_at = now;
  entry.member_id = exchange.member_id;
  entry.reference = exchange.partner_id + ":" + exchange.exchange_id;
  if (program.program) entry.program_version = program.version;
  entry.origin = origin;
  return entry;
}

}  // namespace

bool is_natural_id(std::string_view id) {
  return is_member_ref(id);
}

Result<std::int64_t> outbound_units(const program::Partner& partner, std::int64_t points) {
  const auto milli = ledger::checked_mul(points, partner.outbound_units_per_point_milli);
  if (!milli) return Refusal::amount_overflow;
  if (*milli % 1000 != 0 || *milli <= 0) return Refusal::units_not_whole;
  return *milli / 1000;
}

ExchangeResult exchange_inbound(pqxx::transaction_base& txn, const ProgramContext& program,
                                const program::Partner& partner, const InboundRequest& request, Timestamp now,
                                const ledger::Origin& origin) {
  Exchange exchange{request.exchange_id, "inbound", partner.partner_id, "", request.partner_member_ref};
  exchange.units = request.units;
  const auto points = ledger::checked_mul(request.units, partner.inbound_points_per_unit);
  const auto cents = points ? ledger::checked_mul(*points, partner.cents_per_point) : std::nullopt;
  if (!points || !cents) return Refusal::amount_overflow;
  exchange.points = *points;
  exchange.cents = *cents;
  // A pending link credits nobody: the partner's customer has not confirmed it is theirs.
  const auto member_id = confirmed_member_of_ref(txn, partner.partner_id, request.partner_member_ref);
  if (!member_id) return member_id.refusal();
  exchange.member_id = member_id.value();
  exchange.created_at = now;
  exchange.settlement_date = settlement_date_for(txn, partner.partner_id, now);
  std::int64_t row_id = 0;
  if (auto answered = claim(txn, "in:" + partner.partner_id, exchange, row_id)) return std::move(*answered);
  if (!within_daily_limits(txn, partner, exchange, now)) return Refusal::limit_exceeded;

  const auto accounts = ledger::lock_member_accounts(txn, exchange.member_id, ledger::points_asset);
  LOYALTY_ASSERT(accounts.has_value(), "a linked member without POINTS accounts");
  const auto total = accounts->total();
  if (!ledger::checked_add(accounts->available.balance, exchange.points) || !total ||
      !ledger::checked_add(*total, exchange.points)) {
    return Refusal::amount_overflow;
  }
  const PartnerAccounts partner_side = partner_accounts(txn, partner);
  ledger::EntryDraft entry = exchange_entry(exchange, program, origin, now);
  const std::string points_asset(ledger::points_asset);
  entry.postings = {{accounts->available.account_id, points_asset, exchange.points},
                    {partner_side.clearing_points, points_asset, -exchange.points},
                    {partner_side.clearing_units, partner.asset, exchange.units},
                    {partner_side.members_units, partner.asset, -exchange.units}};
  const auto posted = ledger::post_entry(txn, entry);
  const auto expiry = program::points_expiry(program.program);
  ledger::add_lot(txn,
                  ledger::NewLot{exchange.member_id, exchange.points, now, expiry.expiry_for(now), std::nullopt,
                                 posted.entry_id, "exchange"},
                  accounts->available.balance);
  db::exec(txn, set_entry, row_id, posted.entry_id);
  exchange.entry_id = posted.entry_id;
  return std::pair{std::move(exchange), Replay::fresh};
}

ExchangeResult exchange_outbound(pqxx::transaction_base& txn, const ProgramContext& program,
                                 const program::Partner& partner, const OutboundRequest& request, Timestamp now,
                                 const ledger::Origin& origin) {
  Exchange exchange{request.exchange_id, "outbound", partner.partner_id, request.member_id};
  exchange.points = request.points;
  const auto units = outbound_units(partner, request.points);
  if (!units) return units.refusal();
  exchange.units = units.value();
  const auto cents = ledger::checked_mul(request.points, partner.cents_per_point);
  if (!cents) return Refusal::amount_overflow;
  exchange.cents = *cents;
  const auto ref = ref_of_member(txn, partner.partner_id, request.member_id);
  if (!ref) {
    return db::exec(txn, member_exists, request.member_id).empty() ? Refusal::member_not_found : Refusal::not_linked;
  }
  // Points leave the program only for a partner account whose holder confirmed the link.
  if (ref->second != LinkStatus::confirmed) return Refusal::link_not_confirmed;
  exchange.partner_member_ref = ref->first;
  exchange.created_at = now;
  exchange.settlement_date = settlement_date_for(txn, partner.partner_id, now);
  std::int64_t row_id = 0;
  if (auto answered = claim(txn, "out", exchange, row_id)) return std::move(*answered);

  // Points of holds that lapsed are available again before we judge the balance.
  const auto locked = ledger::lock_member_for_write(txn, exchange.member_id, now, origin);
  LOYALTY_ASSERT(locked.has_value(), "a linked member without accounts");
  const ledger::LockedMemberAccounts* accounts = &locked->points;
  if (accounts->available.balance < exchange.points) return Refusal::insufficient_points;
  if (!within_daily_limits(txn, partner, exchange, now)) return Refusal::limit_exceeded;

  const PartnerAccounts partner_side = partner_accounts(txn, partner);
  ledger::EntryDraft entry = exchange_entry(exchange, program, origin, now);
  const std::string points_asset(ledger::points_asset);
  entry.postings = {{accounts->available.account_id, points_asset, -exchange.points},
                    {partner_side.clearing_points, points_asset, exchange.points},
                    {partner_side.clearing_units, partner.asset, -exchange.units},
                    {partner_side.members_units, partner.asset, exchange.units}};
  ledger::take_from_lots(txn, exchange.member_id, exchange.points);
  const auto posted = ledger::post_entry(txn, entry);
  db::exec(txn, set_entry, row_id, posted.entry_id);
  exchange.entry_id = posted.entry_id;
  return std::pair{std::move(exchange), Replay::fresh};
}

ExchangePage list_partner_exchanges(pqxx::transaction_base& txn, const std::string& partner_id,
                                    std::optional<std::int64_t> before, int limit) {
  // One row more than asked tells whether there is a next page.
  const auto rows = db::exec(txn, select_partner_exchanges, partner_id,
                             before.value_or(std::numeric_limits<std::int64_t>::max()), limit + 1);
  ExchangePage page;
  std::int64_t last_row = 0;
  for (const auto& row : rows) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_before = last_row;
      break;
    }
    page.items.push_back(exchange_of_row(row));
    last_row = row[12].as<std::int64_t>();
  }
  return page;
}

}  // namespace loyalty::partners
