#include "ledger/lots.hpp"

#include <algorithm>

#include "ledger/members.hpp"
#include "platform/assert.hpp"
#include "platform/database.hpp"

namespace loyalty::ledger {
namespace {

const db::Statement insert_lot{
    "lots.insert",
    "INSERT INTO lots (member_id, amount, remaining, earned_at, expires_at, pending_until, entry_id, source)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING lot_id"};

const db::Statement lock_spendable{"lots.lock_spendable",
                                   "SELECT lot_id, remaining, expires_at FROM lots"
                                   " WHERE member_id = $1 AND remaining > 0 AND pending_until IS NULL"
                                   " ORDER BY expires_at, lot_id FOR UPDATE"};

const db::Statement take{"lots.take",
                         "UPDATE lots SET remaining = remaining - $2 WHERE lot_id = $1 AND remaining >= $2"};

const db::Statement lock_entry_lots{
    "lots.lock_entry_lots",
    "SELECT lot_id, remaining, pending_until IS NOT NULL FROM lots WHERE entry_id = $1 AND remaining > 0"
    " ORDER BY lot_id FOR UPDATE"};

const db::Statement give_back{
    "lots.give_back", "UPDATE lots SET remaining = remaining + $2 WHERE lot_id = $1 AND remaining + $2 <= amount"};

// Lots past the cursor's (expires_at, lot_id); a cursor of another member's lot finds nothing.
const db::Statement release_pending{"lots.release_pending",
                                    "UPDATE lots SET pending_until = NULL, remaining = x.kept"
                                    " FROM unnest($1::bigint[], $2::bigint[]) AS x(lot_id, kept)"
                                    " WHERE lots.lot_id = x.lot_id"};

const db::Statement expire{
    "lots.expire",
    "UPDATE lots SET remaining = 0, expired_entry_id = x.entry_id"
    " FROM unnest($1::bigint[], $2::bigint[]) AS x(lot_id, entry_id) WHERE lots.lot_id = x.lot_id"};

const db::Statement select_member_lots{
    "lots.select_member_lots",
    "SELECT l.lot_id, l.amount, l.remaining, l.earned_at, l.pending_until, l.expires_at,"
    "       CASE WHEN l.expired_entry_id IS NOT NULL THEN 'expired' WHEN l.pending_until IS NOT NULL THEN 'pending'"
    "            WHEN l.remaining = 0 THEN 'spent' ELSE 'available' END"
    " FROM lots l WHERE l.member_id = $1 AND (NOT $2 OR l.remaining > 0)"
    "   AND ($3::bigint IS NULL OR (l.expires_at, l.lot_id) >"
    "        (SELECT c.expires_at, c.lot_id FROM lots c WHERE c.lot_id = $3 AND c.member_id = $1))"
    " ORDER BY l.expires_at, l.lot_id LIMIT $4"};

}  // namespace

Timestamp ExpiryPolicy::expiry_for(Timestamp earned_at) const {
  using namespace std::chrono;
  const year_month_day earned{floor<days>(earned_at)};
  // The first instant of the month after the expiry month.
  const year_month first_after = year_month{earned.year(), earned.month()} + std::chrono::months{months + 1};
  return time_point_cast<microseconds>(sys_days{first_after / 1});
}

std::optional<std::int64_t> add_lot(pqxx::transaction_base& txn, const NewLot& lot, std::int64_t available_before) {
  LOYALTY_ASSERT(lot.amount > 0, "a lot of nothing");
  std::int64_t remaining = lot.amount;
  if (!lot.pending_until && available_before < 0) remaining = std::max<std::int64_t>(0, lot.amount + available_before);
  if (remaining == 0) return std::nullopt;
  std::optional<std::string> pending_until;
  if (lot.pending_until) pending_until = db::sql_time(*lot.pending_until);
  const auto rows = db::exec(txn, insert_lot, lot.member_id, remaining, remaining, db::sql_time(lot.earned_at),
                             db::sql_time(lot.expires_at), db::nullable(pending_until), lot.entry_id, lot.source);
  return rows[0][0].as<std::int64_t>();
}

std::int64_t take_from_entry_lots(pqxx::transaction_base& txn, std::int64_t entry_id, bool pending,
                                  std::int64_t wanted) {
  std::int64_t taken = 0;
  for (const auto& row : db::exec(txn, lock_entry_lots, entry_id)) {
    if (row[2].as<bool>() != pending || taken == wanted) continue;
    const std::int64_t from_lot = std::min(wanted - taken, row[1].as<std::int64_t>());
    const auto updated = db::exec(txn, take, row[0].as<std::int64_t>(), from_lot);
    LOYALTY_ASSERT(updated.affected_rows() == 1, "a locked lot gave less than it held");
    taken += from_lot;
  }
  return taken;
}

std::vector<LotTake> take_from_lots(pqxx::transaction_base& txn, const std::string& member_id, std::int64_t amount) {
  LOYALTY_ASSERT(amount > 0, "taking nothing from lots");
  std::vector<LotTake> takes;
  std::int64_t left = amount;
  for (const auto& row : db::exec(txn, lock_spendable, member_id)) {
    if (left == 0) break;
    const auto available = row[1].as<std::int64_t>();
    const std::int64_t taken = std::min(left, available);
    takes.push_back({row[0].as<std::int64_t>(), taken, db::time_of(row[2])});
    left -= taken;
  }
  LOYALTY_ASSERT(left == 0, "a member's lots do not cover their available points");
  for (const auto& t : takes) {
    LOYALTY_ASSERT(db::exec(txn, take, t.lot_id, t.amount).affected_rows() == 1, "a lot changed under its lock");
  }
  return takes;
}

void return_to_lots(pqxx::transaction_base& txn, const std::vector<LotTake>& takes) {
  for (const auto& t : takes) {
    LOYALTY_ASSERT(db::exec(txn, give_back, t.lot_id, t.amount).affected_rows() == 1,
                   "giving a lot more than it ever held");
  }
}

void release_pending_lots(pqxx::transaction_base& txn, const std::vector<std::int64_t>& lot_ids,
                          const std::vector<std::int64_t>& kept) {
  LOYALTY_ASSERT(lot_ids.size() == kept.size(), "a kept amount for every lot");
  if (!lot_ids.empty()) db::exec(txn, release_pending, db::array_literal(lot_ids), db::array_literal(kept));
}

void expire_lots(pqxx::transaction_base& txn, const std::vector<std::int64_t>& lot_ids,
                 const std::vector<std::int64_t>& entry_ids) {
  LOYALTY_ASSERT(lot_ids.size() == entry_ids.size(), "an expiry entry for every lot");
  if (!lot_ids.empty()) db::exec(txn, expire, db::array_literal(lot_ids), db::array_literal(entry_ids));
}

std::vector<LotTake> latest_part(const std::vector<LotTake>& takes, std::int64_t amount) {
  std::vector<LotTake> part;
  for (auto it = takes.rbegin(); it != takes.rend() && amount > 0; ++it) {
    const std::int64_t back = std::min(amount, it->amount);
    part.push_back({it->lot_id, back, it->expires_at});
    amount -= back;
  }
  LOYALTY_ASSERT(amount == 0, "giving back more than was taken");
  return part;
}

Result<LotPage> list_member_lots(pqxx::transaction_base& txn, const std::string& member_id, bool open_only,
                                 std::optional<std::int64_t> after_lot_id, int limit) {
  if (!find_member(txn, member_id)) return Refusal::member_not_found;
  // One row more than asked tells whether there is a next page.
  const auto rows = db::exec(txn, select_member_lots, member_id, open_only,
                             db::nullable(db::nullable_number(after_lot_id)), limit + 1);
  LotPage page;
  for (const auto& row : rows) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_after_lot_id = page.items.back().lot_id;
      break;
    }
    LotView lot;
    lot.lot_id = row[0].as<std::int64_t>();
    lot.amount = row[1].as<std::int64_t>();
    lot.remaining = row[2].as<std::int64_t>();
    lot.earned_at = db::time_of(row[3]);
    if (!row[4].is_null()) lot.available_at = db::time_of(row[4]);
    lot.expires_at = db::time_of(row[5]);
    lot.status = row[6].c_str();
    page.items.push_back(std::move(lot));
  }
  return page;
}

}  // namespace loyalty::ledger
