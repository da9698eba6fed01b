#include "ledger/holds.hpp"

#include "ledger/accounts.hpp"
#include "ledger/assert.hpp"
#include "ledger/database.hpp"
#include "ledger/ids.hpp"
#include "ledger/lots.hpp"
#include "ledger/members.hpp"

namespace loyalty::ledger {
namespace {

const db::Statement insert_hold{
    "holds.insert",
    "INSERT INTO holds (hold_id, member_id, amount, status, reference, expires_at, created_at,"
    " open_entry_id) VALUES ($1, $2, $3, 'open', $4, $5, $6, $7)"};


const db::Statement select_hold{
    "holds.select",
    "SELECT hold_id, member_id, status, amount, captured_amount, reference, expires_at,"
    " created_at, closed_at FROM holds WHERE hold_id = $1"};

const db::Statement lock_hold{
    "holds.lock",
    "SELECT hold_id, member_id, status, amount, captured_amount, reference, expires_at,"
    " created_at, closed_at FROM holds WHERE hold_id = $1 FOR UPDATE"};

const db::Statement close_hold{
    "holds.close",
    "UPDATE holds SET status = $2, captured_amount = $3, closed_at = $4, close_entry_id = $5"
    " WHERE hold_id = $1 AND status = 'open'"};

// SKIP LOCKED: a hold another transaction is closing right now is that transaction's.
const db::Statement lock_lapsed{
    "holds.lock_lapsed",
    "SELECT hold_id, member_id, status, amount, captured_amount, reference, expires_at,"
    " created_at, closed_at FROM holds"
    " WHERE status = 'open' AND expires_at <= $1 AND ($2::text IS NULL OR member_id = $2)"
    " ORDER BY expires_at LIMIT $3 FOR UPDATE SKIP LOCKED"};

const db::Statement insert_hold_lot{
    "holds.insert_lot", "INSERT INTO hold_lots (hold_id, lot_id, amount) VALUES ($1, $2, $3)"};

const db::Statement select_hold_lots{
    "holds.select_lots",
    "SELECT h.lot_id, h.amount, l.expires_at FROM hold_lots h JOIN lots l USING (lot_id)"
    " WHERE h.hold_id = $1 ORDER BY l.expires_at, h.lot_id"};

std::vector<LotTake> lots_of_hold(pqxx::transaction_base& txn, const std::string& hold_id) {
  std::vector<LotTake> takes;
  for (const auto& row : db::exec(txn, select_hold_lots, hold_id)) {
    takes.push_back({row[0].as<std::int64_t>(), row[1].as<std::int64_t>(), db::time_of(row[2])});
  }
  return takes;
}

Hold hold_from_row(const pqxx::row& row) {
  Hold hold;
  hold.hold_id = row[0].c_str();
  hold.member_id = row[1].c_str();
  hold.status = row[2].c_str();
  hold.amount = row[3].as<std::int64_t>();
  hold.captured_amount = row[4].as<std::int64_t>();
  hold.reference = db::optional_text(row[5]);
  hold.expires_at = db::time_of(row[6]);
  hold.created_at = db::time_of(row[7]);
  if (!row[8].is_null()) hold.closed_at = db::time_of(row[8]);
  return hold;
}

bool lapsed(const Hold& hold, Timestamp now) { return hold.status == "open" && hold.expires_at <= now; }

// Moves a hold's points out of the held part: `captured` to redemptions, the rest back to
// available. Records the new status on the hold.
void close(pqxx::transaction_base& txn, Hold& hold, const std::string& status,
           std::int64_t captured, Timestamp now, const Origin& origin, const char* kind) {
  const auto accounts = lock_member_accounts(txn, hold.member_id, points_asset);
  LOYALTY_ASSERT(accounts.has_value(), "a hold whose member has no POINTS accounts");
  LOYALTY_ASSERT(accounts->held.balance >= hold.amount, "held part smaller than an open hold");
  EntryDraft entry{kind, now, hold.member_id, hold.reference};
  entry.origin = origin;
  entry.postings.push_back({accounts->held.account_id, std::string(points_asset), -hold.amount});
  if (captured > 0) {
    entry.postings.push_back({system_account_id(txn, system_account::redemptions, points_asset),
                              std::string(points_asset), captured});
  }
  if (hold.amount - captured > 0) {
    entry.postings.push_back(
        {accounts->available.account_id, std::string(points_asset), hold.amount - captured});
  }
  const auto posted = post_entry(txn, entry);
  // What is not captured goes back to the lots it came from, latest-expiring first.
  if (hold.amount - captured > 0) {
    return_to_lots(txn, latest_part(lots_of_hold(txn, hold.hold_id), hold.amount - captured));
  }
  const auto updated = db::exec(txn, close_hold, hold.hold_id, status, captured, db::sql_time(now),
                                posted.entry_id);
  LOYALTY_ASSERT(updated.affected_rows() == 1, "closing a hold that is not open");
  hold.status = status;
  hold.captured_amount = captured;
  hold.closed_at = now;
}

// Locks an open, unexpired hold for a state change.
Result<Hold> lock_open_hold(pqxx::transaction_base& txn, const std::string& hold_id, Timestamp now) {
  const auto rows = db::exec(txn, lock_hold, hold_id);
  if (rows.empty()) return Refusal::hold_not_found;
  Hold hold = hold_from_row(rows[0]);
  if (hold.status == "expired" || lapsed(hold, now)) return Refusal::hold_expired;
  if (hold.status != "open") return Refusal::hold_not_open;
  return hold;
}

}  // namespace

Result<Hold> open_hold(pqxx::transaction_base& txn, const OpenHold& request, Timestamp now,
                       const Origin& origin) {
  if (request.amount <= 0) return Refusal::amount_not_positive;
  if (request.ttl < hold_ttl_min || request.ttl > hold_ttl_max) return Refusal::ttl_out_of_range;
  // Lapsed holds give their points back before we look at what is available.
  release_lapsed_holds(txn, request.member_id, now, 1000, origin);
  const auto accounts = lock_member_accounts(txn, request.member_id, points_asset);
  if (!accounts) return Refusal::member_not_found;
  if (accounts->available.balance < request.amount) return Refusal::insufficient_points;

  Hold hold;
  hold.hold_id = new_id("hold_");
  hold.member_id = request.member_id;
  hold.status = "open";
  hold.amount = request.amount;
  hold.reference = request.reference;
  hold.created_at = now;
  hold.expires_at = now + std::chrono::duration_cast<std::chrono::microseconds>(request.ttl);

  EntryDraft entry{"hold", now, request.member_id, request.reference};
  entry.origin = origin;
  entry.postings = {{accounts->available.account_id, std::string(points_asset), -request.amount},
                    {accounts->held.account_id, std::string(points_asset), request.amount}};
  const auto takes = take_from_lots(txn, request.member_id, request.amount);
  const auto posted = post_entry(txn, entry);
  db::exec(txn, insert_hold, hold.hold_id, hold.member_id, hold.amount, db::nullable(hold.reference),
           db::sql_time(hold.expires_at), db::sql_time(now), posted.entry_id);
  for (const auto& take : takes) db::exec(txn, insert_hold_lot, hold.hold_id, take.lot_id, take.amount);
  return hold;
}

Result<Hold> capture_hold(pqxx::transaction_base& txn, const std::string& hold_id,
                          std::optional<std::int64_t> amount, Timestamp now, const Origin& origin) {
  if (amount && *amount <= 0) return Refusal::amount_not_positive;
  auto hold = lock_open_hold(txn, hold_id, now);
  if (!hold) return hold;
  const std::int64_t captured = amount.value_or(hold->amount);
  if (captured > hold->amount) return Refusal::capture_exceeds_hold;
  close(txn, hold.value(), "captured", captured, now, origin, "hold_capture");
  return hold;
}

Result<Hold> void_hold(pqxx::transaction_base& txn, const std::string& hold_id, Timestamp now,
                       const Origin& origin) {
  auto hold = lock_open_hold(txn, hold_id, now);
  if (!hold) return hold;
  close(txn, hold.value(), "voided", 0, now, origin, "hold_release");
  return hold;
}

Result<Hold> find_hold(pqxx::transaction_base& txn, const std::string& hold_id, Timestamp now) {
  const auto rows = db::exec(txn, select_hold, hold_id);
  if (rows.empty()) return Refusal::hold_not_found;
  Hold hold = hold_from_row(rows[0]);
  if (lapsed(hold, now)) hold.status = "expired";
  return hold;
}

int release_lapsed_holds(pqxx::transaction_base& txn, const std::optional<std::string>& member_id,
                         Timestamp as_of, int limit, const Origin& origin) {
  const auto rows = db::exec(txn, lock_lapsed, db::sql_time(as_of), db::nullable(member_id), limit);
  for (const auto& row : rows) {
    Hold hold = hold_from_row(row);
    // The release is dated at the hold's expiry: that is when the points came back.
    close(txn, hold, "expired", 0, hold.expires_at, origin, "hold_release");
  }
  return static_cast<int>(rows.size());
}

}  // namespace loyalty::ledger
