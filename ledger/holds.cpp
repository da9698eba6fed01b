#include "ledger/holds.hpp"

#include "ledger/accounts.hpp"
#include "ledger/batch.hpp"
#include "ledger/members.hpp"
#include "platform/assert.hpp"
#include "platform/database.hpp"

namespace loyalty::ledger {
namespace {

const db::Statement select_hold{"holds.select",
                                "SELECT hold_id, member_id, status, amount, captured_amount, reference, expires_at,"
                                " created_at, closed_at, open_entry_id FROM holds WHERE hold_id = $1"};

// Lapsed holds in expiry order, not locked: the job then locks them (holds before accounts).
// The status a hold reads as at $3; the filter ($2) is on that status.
const db::Statement select_member_holds{
    "holds.select_member_holds",
    "SELECT hold_id, member_id, status, amount, captured_amount, reference, expires_at,"
    " created_at, closed_at, open_entry_id FROM holds"
    " WHERE member_id = $1"
    "   AND ($2::text IS NULL OR CASE WHEN status = 'open' AND expires_at <= $3 THEN 'expired' ELSE status END = $2)"
    "   AND ($4::bigint IS NULL OR open_entry_id < $4)"
    " ORDER BY open_entry_id DESC LIMIT $5"};

const db::Statement pick_lapsed{
    "holds.pick_lapsed",
    "SELECT hold_id FROM holds WHERE status = 'open' AND expires_at <= $1 ORDER BY expires_at LIMIT $2"};

bool lapsed(const Hold& hold, Timestamp now) {
  return hold.status == "open" && hold.expires_at <= now;
}

// A batch of one hold's change inside the caller's transaction.
template <typename Decide>
Result<Hold> with_hold(pqxx::transaction_base& txn, const std::string& hold_id, Timestamp now, Decide decide) {
  Batch batch{txn};
  batch.lock_holds({hold_id});
  batch.lock_members(batch.hold_members());
  batch.prefetch_points(batch.hold_members(), now);
  auto result = decide(batch);
  batch.write();
  return result;
}

}  // namespace

Hold hold_of_row(const pqxx::row& row) {
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
  hold.open_entry_id = row[9].as<std::int64_t>();
  return hold;
}

Result<HoldPage> list_member_holds(pqxx::transaction_base& txn, const std::string& member_id,
                                   const std::optional<std::string>& status, Timestamp now,
                                   std::optional<std::int64_t> before_open_entry_id, int limit) {
  LOYALTY_ASSERT(limit >= 1, "a page of no holds");
  if (!find_member(txn, member_id)) return Refusal::member_not_found;
  // One row more than asked tells whether there is a next page.
  const auto rows = db::exec(txn, select_member_holds, member_id, db::nullable(status), db::sql_time(now),
                             db::nullable(db::nullable_number(before_open_entry_id)), limit + 1);
  HoldPage page;
  for (const auto& row : rows) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_before_open_entry_id = page.items.back().open_entry_id;
      break;
    }
    Hold hold = hold_of_row(row);
    if (lapsed(hold, now)) hold.status = "expired";
    page.items.push_back(std::move(hold));
  }
  return page;
}

Result<Hold*> changeable_hold(Batch& batch, const std::string& hold_id, Timestamp now) {
  Hold* hold = batch.hold(hold_id);
  if (!hold) return Refusal::hold_not_found;
  if (hold->status == "expired" || lapsed(*hold, now)) return Refusal::hold_expired;
  if (hold->status != "open") return Refusal::hold_not_open;
  return hold;
}

Result<Hold> open_hold(Batch& batch, const OpenHold& request, Timestamp now, const Origin& origin) {
  if (request.amount <= 0) return Refusal::amount_not_positive;
  if (request.ttl < hold_ttl_min || request.ttl > hold_ttl_max) return Refusal::ttl_out_of_range;
  MemberAccounts* member = batch.member(request.member_id);
  if (!member) return Refusal::member_not_found;
  // Lapsed holds give their points back before we look at what is available.
  batch.release_lapsed_holds(request.member_id, now, origin);
  if (member->points.available.balance < request.amount) return Refusal::insufficient_points;
  return batch.open_hold(request, now, origin);
}

Result<Hold> capture_hold(Batch& batch, const std::string& hold_id, std::optional<std::int64_t> amount, Timestamp now,
                          const Origin& origin) {
  if (amount && *amount <= 0) return Refusal::amount_not_positive;
  auto hold = changeable_hold(batch, hold_id, now);
  if (!hold) return hold.refusal();
  const std::int64_t captured = amount.value_or(hold.value()->amount);
  if (captured > hold.value()->amount) return Refusal::capture_exceeds_hold;
  batch.close_hold(*hold.value(), "captured", captured, now, origin, "hold_capture");
  return *hold.value();
}

Result<Hold> void_hold(Batch& batch, const std::string& hold_id, Timestamp now, const Origin& origin) {
  auto hold = changeable_hold(batch, hold_id, now);
  if (!hold) return hold.refusal();
  batch.close_hold(*hold.value(), "voided", 0, now, origin, "hold_release");
  return *hold.value();
}

Result<Hold> open_hold(pqxx::transaction_base& txn, const OpenHold& request, Timestamp now, const Origin& origin) {
  Batch batch{txn};
  batch.lock_members({request.member_id});
  batch.prefetch_points({request.member_id}, now);
  auto result = open_hold(batch, request, now, origin);
  batch.write();
  return result;
}

Result<Hold> capture_hold(pqxx::transaction_base& txn, const std::string& hold_id, std::optional<std::int64_t> amount,
                          Timestamp now, const Origin& origin) {
  return with_hold(txn, hold_id, now, [&](Batch& batch) { return capture_hold(batch, hold_id, amount, now, origin); });
}

Result<Hold> void_hold(pqxx::transaction_base& txn, const std::string& hold_id, Timestamp now, const Origin& origin) {
  return with_hold(txn, hold_id, now, [&](Batch& batch) { return void_hold(batch, hold_id, now, origin); });
}

Result<Hold> find_hold(pqxx::transaction_base& txn, const std::string& hold_id, Timestamp now) {
  const auto rows = db::exec(txn, select_hold, hold_id);
  if (rows.empty()) return Refusal::hold_not_found;
  Hold hold = hold_of_row(rows[0]);
  if (lapsed(hold, now)) hold.status = "expired";
  return hold;
}

std::optional<PointsAndGrowth> lock_member_for_write(pqxx::transaction_base& txn, const std::string& member_id,
                                                     Timestamp now, const Origin& origin) {
  release_lapsed_holds(txn, member_id, now, 0, origin);  // every one of the member's: no limit
  return lock_member_points_and_growth(txn, member_id);
}

int release_lapsed_holds(pqxx::transaction_base& txn, const std::optional<std::string>& member_id, Timestamp as_of,
                         int limit, const Origin& origin) {
  Batch batch{txn};
  std::vector<std::string> members;
  if (member_id) {
    members = {*member_id};
  } else {
    // Holds first, then their members' accounts: the global lock order.
    std::vector<std::string> hold_ids;
    for (const auto& row : db::exec(txn, pick_lapsed, db::sql_time(as_of), limit)) hold_ids.push_back(row[0].c_str());
    if (hold_ids.empty()) return 0;
    batch.lock_holds(hold_ids);
    members = batch.hold_members();
  }
  batch.lock_members(members);
  if (!batch.prefetch_lapsed_holds(members, as_of)) return 0;
  batch.prefetch_points(members, as_of);
  int released = 0;
  for (const auto& member : members) released += batch.release_lapsed_holds(member, as_of, origin);
  batch.write();
  return released;
}

}  // namespace loyalty::ledger
