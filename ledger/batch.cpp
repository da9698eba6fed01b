#include "ledger/batch.hpp"

#include <algorithm>
#include <set>
#include <tuple>

#include "ledger/amounts.hpp"
#include "platform/assert.hpp"
#include "platform/database.hpp"
#include "platform/ids.hpp"

namespace loyalty::ledger {
namespace {

// The global lock order: holds by id, then accounts by id (docs/ARCHITECTURE.md, "Several
// processes"). Every path that locks both takes them in this order.
const db::Statement lock_holds_by_id{
    "batch.lock_holds",
    "SELECT hold_id, member_id, status, amount, captured_amount, reference, expires_at, created_at, closed_at,"
    " open_entry_id"
    " FROM holds WHERE hold_id = ANY($1::text[]) ORDER BY hold_id FOR UPDATE"};

// The members named in the array parameter MEMBERS and the members of the holds named in
// HOLDS: the holds are locked by an earlier statement of the same round trip, and a hold's
// member never changes.
#define LOYALTY_MEMBERS_AND_HOLDERS(MEMBERS, HOLDS) \
  "(SELECT unnest(" MEMBERS "::text[]) UNION SELECT member_id FROM holds WHERE hold_id = ANY(" HOLDS "::text[]))"

const db::Statement lock_accounts_of_members{
    "batch.lock_accounts",
    "SELECT member_id, asset, part, account_id, balance FROM accounts"
    " WHERE member_id = ANY(ARRAY" LOYALTY_MEMBERS_AND_HOLDERS("$1", "$2") ") ORDER BY account_id FOR UPDATE"};

// Lapsed holds are taken after the accounts, so never waited on: SKIP LOCKED.
const db::Statement lock_lapsed_holds{
    "batch.lock_lapsed_holds",
    "SELECT hold_id, member_id, status, amount, captured_amount, reference, expires_at, created_at, closed_at,"
    " open_entry_id"
    " FROM holds WHERE member_id = ANY(ARRAY" LOYALTY_MEMBERS_AND_HOLDERS("$1", "$3") ")"
    " AND status = 'open' AND expires_at <= $2"
    " ORDER BY hold_id FOR UPDATE SKIP LOCKED"};

// The lots of holds, with what the batch needs of each lot to give points back to it.
const db::Statement select_hold_lots{
    "batch.select_hold_lots",
    "SELECT h.hold_id, h.lot_id, h.amount, l.expires_at, l.member_id, l.remaining, l.pending_until IS NULL"
    " FROM hold_lots h JOIN lots l USING (lot_id)"
    " WHERE h.hold_id = ANY($1::text[]) ORDER BY h.hold_id, l.expires_at, h.lot_id"};

// Lots are written only under their member's account lock, so reading them needs no lock of
// its own. A member's first spendable lots, in take order.
constexpr std::int64_t lots_read_first = 64;
const db::Statement select_spendable_lots{
    "batch.select_spendable_lots",
    "SELECT l.lot_id, l.member_id, l.remaining, l.expires_at"
    " FROM " LOYALTY_MEMBERS_AND_HOLDERS("$1", "$3") " AS m(member_id)"
    " CROSS JOIN LATERAL (SELECT lot_id, member_id, remaining, expires_at FROM lots"
    "   WHERE member_id = m.member_id AND remaining > 0 AND pending_until IS NULL"
    "   ORDER BY expires_at, lot_id LIMIT $2) l"
    " ORDER BY 2, 4, 1"};

// The rest of one member's spendable lots, after the last one read.
const db::Statement select_lots_after{
    "batch.select_lots_after",
    "SELECT lot_id, remaining, expires_at FROM lots"
    " WHERE member_id = $1 AND remaining > 0 AND pending_until IS NULL AND (expires_at, lot_id) > ($2, $3)"
    " ORDER BY expires_at, lot_id"};

// Take order: soonest expiry first; lots of one expiry by id, lots new in this batch (ids < 0,
// -1 first) after the lots that existed (their ids will be larger).
bool takes_before(Timestamp a_expires, std::int64_t a_id, Timestamp b_expires, std::int64_t b_id) {
  if (a_expires != b_expires) return a_expires < b_expires;
  if ((a_id < 0) != (b_id < 0)) return a_id > 0;
  return a_id < 0 ? a_id > b_id : a_id < b_id;
}

// Ids for the batch's new entries and lots from their identity sequences, and the time every
// entry is created at (entries.created_at defaults to now(), the transaction's start), so
// that the inserts that follow need no RETURNING and can travel in one flush. The sequence's
// name is a sub-select, looked up once per statement: called per row, pg_get_serial_sequence
// reads the table's dependencies in the catalog for every id.
const db::Statement allocate_ids{
    "batch.allocate_ids",
    "SELECT now(),"
    " ARRAY(SELECT nextval((SELECT pg_get_serial_sequence('entries', 'entry_id'))) FROM generate_series(1, $1)),"
    " ARRAY(SELECT nextval((SELECT pg_get_serial_sequence('lots', 'lot_id'))) FROM generate_series(1, $2))"};

std::vector<std::int64_t> numbers_of(const pqxx::field& array) {
  std::vector<std::int64_t> numbers;
  auto parser = array.as_array();
  for (auto [juncture, text] = parser.get_next(); juncture != pqxx::array_parser::done;
       std::tie(juncture, text) = parser.get_next()) {
    if (juncture == pqxx::array_parser::string_value) numbers.push_back(std::stoll(text));
  }
  return numbers;
}

const db::Statement insert_lots{
    "batch.insert_lots",
    "INSERT INTO lots (lot_id, member_id, amount, remaining, earned_at, expires_at, pending_until, entry_id, source)"
    " OVERRIDING SYSTEM VALUE SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[],"
    " $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::bigint[], $9::text[])"};

// The batch's updates of rows it holds locked check their own row counts (expect_rows,
// migrations/0021), so they travel with its other writes.
const db::Statement change_lots{
    "batch.change_lots",
    "WITH changed AS (UPDATE lots l SET remaining = l.remaining + d.delta"
    "   FROM unnest($1::bigint[], $2::bigint[]) AS d(lot_id, delta) WHERE l.lot_id = d.lot_id RETURNING 1)"
    " SELECT expect_rows((SELECT count(*) FROM changed), cardinality($1::bigint[]), 'the lots a batch changed')"};

const db::Statement insert_holds{
    "batch.insert_holds",
    "INSERT INTO holds (hold_id, member_id, amount, status, captured_amount, reference, expires_at, created_at,"
    " closed_at, open_entry_id, close_entry_id)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::text[],"
    " $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::bigint[], $11::bigint[])"};

const db::Statement close_holds{
    "batch.close_holds",
    "WITH closed AS (UPDATE holds h SET status = x.status, captured_amount = x.captured, closed_at = x.closed_at,"
    "   close_entry_id = x.entry_id"
    "   FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::bigint[])"
    "    AS x(hold_id, status, captured, closed_at, entry_id)"
    "   WHERE h.hold_id = x.hold_id AND h.status = 'open' RETURNING 1)"
    " SELECT expect_rows((SELECT count(*) FROM closed), cardinality($1::text[]), 'the holds a batch closed')"};

const db::Statement insert_hold_lots{
    "batch.insert_hold_lots",
    "INSERT INTO hold_lots (hold_id, lot_id, amount) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])"};

std::string text_of(std::int64_t value) {
  return std::to_string(value);
}

}  // namespace

void Batch::add_hold_lock(db::ReadBatch& reads, std::vector<std::string> hold_ids) {
  std::erase_if(hold_ids, [&](const std::string& id) { return holds_.count(id) > 0; });
  if (hold_ids.empty()) return;
  reads.add(
      lock_holds_by_id,
      [this](const pqxx::result& rows) {
        for (const auto& row : rows) {
          Hold hold = hold_of_row(row);
          const std::string id = hold.hold_id;
          holds_.try_emplace(id, HoldState{std::move(hold)});
        }
      },
      db::array_literal(hold_ids));
}

void Batch::add_account_lock(db::ReadBatch& reads, std::vector<std::string> member_ids,
                             const std::vector<std::string>& hold_ids) {
  std::sort(member_ids.begin(), member_ids.end());
  member_ids.erase(std::unique(member_ids.begin(), member_ids.end()), member_ids.end());
  std::erase_if(member_ids, [&](const std::string& id) { return members_.count(id) > 0; });
  if (member_ids.empty() && hold_ids.empty()) return;
  std::set<std::string> locked_before;
  for (const auto& [id, member] : members_) locked_before.insert(id);
  reads.add(
      lock_accounts_of_members,
      [this, locked_before = std::move(locked_before)](const pqxx::result& rows) {
        for (const auto& row : rows) {
          const std::string_view asset = row[1].c_str();
          if (asset != points_asset && asset != growth_asset) continue;
          if (locked_before.count(row[0].c_str())) continue;  // a hold's member, locked already
          remember_account(members_[row[0].c_str()], row[2].c_str(), asset, row[3].as<std::int64_t>(),
                           row[4].as<std::int64_t>());
        }
        // The map's nodes never move, so the balance pointers above stay valid.
        for (const auto& [id, member] : members_) {
          LOYALTY_ASSERT(member.points.available.account_id != 0 && member.growth.available.account_id != 0,
                         "a member without an available account of each asset");
        }
      },
      db::array_literal(member_ids), db::array_literal(hold_ids));
}

void Batch::lock(db::ReadBatch& reads, std::vector<std::string> hold_ids, std::vector<std::string> member_ids) {
  std::sort(hold_ids.begin(), hold_ids.end());
  hold_ids.erase(std::unique(hold_ids.begin(), hold_ids.end()), hold_ids.end());
  add_hold_lock(reads, hold_ids);
  add_account_lock(reads, std::move(member_ids), hold_ids);
}

void Batch::lock_holds(const std::vector<std::string>& hold_ids) {
  db::ReadBatch reads{txn_};
  add_hold_lock(reads, hold_ids);
  reads.run();
}

std::vector<std::string> Batch::hold_members() const {
  std::vector<std::string> members;
  for (const auto& [id, state] : holds_) members.push_back(state.hold.member_id);
  return members;
}

void Batch::remember_account(MemberAccounts& member, const std::string& part, std::string_view asset,
                             std::int64_t account_id, std::int64_t balance) {
  LockedMemberAccounts& accounts = member.of(asset);
  AccountBalance* slot = part == "available" ? &accounts.available
                         : part == "pending" ? &accounts.pending
                                             : &accounts.held;
  *slot = AccountBalance{account_id, balance};
  member_accounts_[account_id] = slot;
}

void Batch::lock_members(std::vector<std::string> member_ids) {
  db::ReadBatch reads{txn_};
  add_account_lock(reads, std::move(member_ids), {});
  reads.run();
}

void Batch::reserve_ids(db::ReadBatch& reads, std::int64_t entries, std::int64_t lots) {
  if (entries == 0 && lots == 0) return;
  reads.add(
      allocate_ids, [this](const pqxx::result& rows) { keep_ids(rows[0]); }, entries, lots);
}

void Batch::keep_ids(const pqxx::row& allocated) {
  created_at_ = db::time_of(allocated[0]);
  for (const auto id : numbers_of(allocated[1])) reserved_entry_ids_.push_back(id);
  for (const auto id : numbers_of(allocated[2])) reserved_lot_ids_.push_back(id);
}

void Batch::take_ids() {
  const auto short_of = [](const std::vector<std::int64_t>& reserved, std::size_t wanted) {
    return static_cast<std::int64_t>(wanted > reserved.size() ? wanted - reserved.size() : 0);
  };
  const std::int64_t entries = short_of(reserved_entry_ids_, entries_.size());
  const std::int64_t lots = short_of(reserved_lot_ids_, new_lots_.size());
  if (entries > 0 || lots > 0 || !created_at_) {
    keep_ids(db::exec(txn_, allocate_ids, entries, lots)[0]);
  }
  LOYALTY_ASSERT(reserved_entry_ids_.size() >= entries_.size() && reserved_lot_ids_.size() >= new_lots_.size(),
                 "the sequences gave fewer ids than asked");
  entry_ids_.assign(reserved_entry_ids_.begin(), reserved_entry_ids_.begin() + std::ssize(entries_));
  lot_ids_.assign(reserved_lot_ids_.begin(), reserved_lot_ids_.begin() + std::ssize(new_lots_));
}

// The members named, and those of the holds named (locked by then), that `asked` did not have yet.
std::vector<std::string> Batch::members_of(const std::vector<std::string>& member_ids,
                                           const std::vector<std::string>& hold_ids, std::set<std::string>& asked) {
  std::vector<std::string> members;
  const auto add = [&](const std::string& id) {
    if (asked.insert(id).second) members.push_back(id);
  };
  for (const auto& id : member_ids) add(id);
  for (const auto& id : hold_ids) {
    if (const auto found = holds_.find(id); found != holds_.end()) add(found->second.hold.member_id);
  }
  return members;
}

void Batch::add_lapsed_hold_lock(db::ReadBatch& reads, const std::vector<std::string>& member_ids,
                                 const std::vector<std::string>& hold_ids, Timestamp as_of, bool* any) {
  std::vector<std::string> members;
  for (const auto& id : member_ids) {
    if (!lapsed_asked_.count(id)) members.push_back(id);
  }
  if (members.empty() && hold_ids.empty()) return;
  reads.add(
      lock_lapsed_holds,
      [this, members, hold_ids, any](const pqxx::result& rows) {
        const auto asked = members_of(members, hold_ids, lapsed_asked_);
        const std::set<std::string> reading(asked.begin(), asked.end());
        for (const auto& row : rows) {
          Hold hold = hold_of_row(row);
          // Asked for before, or a member the batch has not locked: not this batch's to release.
          if (!reading.count(hold.member_id) || !members_.count(hold.member_id)) continue;
          lapsed_[hold.member_id].push_back(hold.hold_id);
          const std::string id = hold.hold_id;
          holds_.try_emplace(id, HoldState{std::move(hold)});
          if (any) *any = true;
        }
      },
      db::array_literal(members), db::sql_time(as_of), db::array_literal(hold_ids));
}

bool Batch::prefetch_lapsed_holds(const std::vector<std::string>& member_ids, Timestamp as_of) {
  bool any = false;
  db::ReadBatch reads{txn_};
  add_lapsed_hold_lock(reads, member_ids, {}, as_of, &any);
  reads.run();
  return any;
}

void Batch::prefetch_points(db::ReadBatch& reads, const std::vector<std::string>& member_ids,
                            const std::vector<std::string>& hold_ids, Timestamp as_of) {
  add_lapsed_hold_lock(reads, member_ids, hold_ids, as_of, nullptr);
  std::vector<std::string> members;
  for (const auto& id : member_ids) {
    if (!lots_asked_.count(id)) members.push_back(id);
  }
  if (members.empty() && hold_ids.empty()) return;
  reads.add(
      select_spendable_lots,
      [this, members, hold_ids](const pqxx::result& rows) {
        // Read, even if the member has no lots; members that do not exist have none.
        std::set<std::string> reading;
        for (const auto& id : members_of(members, hold_ids, lots_asked_)) {
          if (!members_.count(id)) continue;
          lots_[id];
          reading.insert(id);
        }
        std::map<std::string, std::int64_t> read;
        for (const auto& row : rows) {
          if (!reading.count(row[1].c_str())) continue;
          const LotState lot{row[0].as<std::int64_t>(), row[2].as<std::int64_t>(), db::time_of(row[3])};
          if (++read[row[1].c_str()] == lots_read_first)
            lots_read_until_[row[1].c_str()] = {lot.expires_at, lot.lot_id};
          lots_[row[1].c_str()].push_back(lot);
        }
      },
      db::array_literal(members), lots_read_first, db::array_literal(hold_ids));
  if (hold_ids.empty()) return;
  // The lots of the holds named, once their members' lots are known.
  reads.add(
      select_hold_lots, [this, hold_ids](const pqxx::result& rows) { use_hold_lots(rows, hold_ids); },
      db::array_literal(hold_ids));
}

void Batch::prefetch_points(const std::vector<std::string>& member_ids, Timestamp as_of) {
  db::ReadBatch reads{txn_};
  prefetch_points(reads, member_ids, {}, as_of);
  reads.run();
  read_hold_lots();
}

// The holds among these whose lots are wanted: open, known before the batch, not read yet.
std::vector<std::string> Batch::holds_without_lots(const std::vector<std::string>& hold_ids) const {
  std::vector<std::string> wanted;
  for (const auto& id : hold_ids) {
    const auto found = holds_.find(id);
    if (found == holds_.end()) continue;
    const HoldState& state = found->second;
    if (!state.opened_here && !state.lots_read && state.hold.status == "open") wanted.push_back(id);
  }
  return wanted;
}

void Batch::read_hold_lots() {
  std::vector<std::string> hold_ids;
  for (const auto& [id, state] : holds_) hold_ids.push_back(id);
  hold_ids = holds_without_lots(hold_ids);
  if (hold_ids.empty()) return;
  use_hold_lots(db::exec(txn_, select_hold_lots, db::array_literal(hold_ids)), hold_ids);
}

void Batch::use_hold_lots(const pqxx::result& rows, const std::vector<std::string>& hold_ids) {
  const auto wanted = holds_without_lots(hold_ids);
  const std::set<std::string> reading(wanted.begin(), wanted.end());
  std::set<std::string> merged;
  for (const auto& row : rows) {
    if (!reading.count(row[0].c_str())) continue;
    const LotTake take{row[1].as<std::int64_t>(), row[2].as<std::int64_t>(), db::time_of(row[3])};
    holds_.at(row[0].c_str()).lots.push_back(take);
    // The lot itself joins its member's lots (in take order, even when drained) so that points
    // can go back to it; a lot the batch knows already keeps the batch's state of it.
    const std::string member_id = row[4].c_str();
    if (!row[6].as<bool>() || !lots_.count(member_id) || find_lot(member_id, take.lot_id)) continue;
    lots_[member_id].push_back({take.lot_id, row[5].as<std::int64_t>(), take.expires_at});
    merged.insert(member_id);
  }
  for (const auto& id : wanted) holds_.at(id).lots_read = true;
  for (const auto& id : merged) {
    std::stable_sort(lots_[id].begin(), lots_[id].end(), [](const LotState& a, const LotState& b) {
      return takes_before(a.expires_at, a.lot_id, b.expires_at, b.lot_id);
    });
  }
}

void Batch::prefetch_extensions(db::ReadBatch& reads, Timestamp as_of) {
  for (Extension* extension : extension_order_) extension->prefetch(reads, as_of);
}

void Batch::read_remaining_lots(const std::string& member_id) {
  const auto cursor = lots_read_until_.find(member_id);
  if (cursor == lots_read_until_.end()) return;
  auto& lots = lots_.at(member_id);
  std::set<std::int64_t> known;
  for (const LotState& lot : lots) known.insert(lot.lot_id);
  for (const auto& row :
       db::exec(txn_, select_lots_after, member_id, db::sql_time(cursor->second.expires_at), cursor->second.lot_id)) {
    // A lot the batch knows already (a hold's) keeps the batch's state of it.
    if (!known.count(row[0].as<std::int64_t>())) {
      lots.push_back({row[0].as<std::int64_t>(), row[1].as<std::int64_t>(), db::time_of(row[2])});
    }
  }
  std::stable_sort(lots.begin(), lots.end(), [](const LotState& a, const LotState& b) {
    return takes_before(a.expires_at, a.lot_id, b.expires_at, b.lot_id);
  });
  lots_read_until_.erase(cursor);
}

MemberAccounts* Batch::member(const std::string& member_id) {
  const auto found = members_.find(member_id);
  return found == members_.end() ? nullptr : &found->second;
}

Hold* Batch::hold(const std::string& hold_id) {
  const auto found = holds_.find(hold_id);
  return found == holds_.end() ? nullptr : &found->second.hold;
}

std::vector<std::string> Batch::locked_member_ids() const {
  std::vector<std::string> ids;
  for (const auto& [id, member] : members_) ids.push_back(id);
  return ids;
}

std::int64_t Batch::system_account(std::string_view name, std::string_view asset) {
  const std::int64_t id = system_account_id(txn_, name, asset);
  system_names_.try_emplace(id, name);
  return id;
}

std::optional<std::string> Batch::account_name(std::int64_t account_id) const {
  for (const auto& [member_id, member] : members_) {
    for (const LockedMemberAccounts* accounts : {&member.points, &member.growth}) {
      for (const auto& [part, balance] :
           {std::pair{Part::available, &accounts->available}, std::pair{Part::pending, &accounts->pending},
            std::pair{Part::held, &accounts->held}}) {
        if (balance->account_id == account_id) return "member:" + member_id + ":" + part_name(part);
      }
    }
  }
  const auto system = system_names_.find(account_id);
  if (system == system_names_.end()) return std::nullopt;
  return system->second;
}

EntryIndex Batch::post(EntryDraft entry) {
  assert_balanced(entry);
  for (const PostingDraft& posting : entry.postings) {
    const auto found = member_accounts_.find(posting.account_id);
    if (found == member_accounts_.end()) continue;  // a system account: no maintained balance
    const auto after = checked_add(found->second->balance, posting.amount);
    LOYALTY_ASSERT(after.has_value(), "a member balance beyond int64");
    LOYALTY_ASSERT(*after >= 0 || posting.amount > 0 || posting.debt_allowed, "a debit below zero was not refused");
    found->second->balance = *after;
  }
  entries_.push_back(std::move(entry));
  return static_cast<EntryIndex>(entries_.size() - 1);
}

Batch::LotState* Batch::find_lot(const std::string& member_id, std::int64_t lot_id) {
  const auto read = lots_.find(member_id);
  if (read == lots_.end()) return nullptr;
  auto& lots = read->second;
  const auto found = std::find_if(lots.begin(), lots.end(), [&](const LotState& lot) { return lot.lot_id == lot_id; });
  return found == lots.end() ? nullptr : &*found;
}

void Batch::change_lot(std::int64_t lot_id, std::int64_t delta) {
  if (lot_id < 0) {
    new_lots_[static_cast<std::size_t>(-lot_id - 1)].remaining += delta;
  } else {
    lot_changes_[lot_id] += delta;
  }
}

std::vector<LotTake> Batch::take_from_lots(const std::string& member_id, std::int64_t amount) {
  LOYALTY_ASSERT(amount > 0, "taking nothing from lots");
  const auto found = lots_.find(member_id);
  LOYALTY_ASSERT(found != lots_.end(), "lots taken from a member whose lots were not prefetched");
  auto& lots = found->second;
  // Past the lots read so far, unread ones may come first: read them all, then go on from the
  // same place (what was taken so far comes before any of them).
  const auto past_what_was_read = [&](std::size_t i) {
    const auto cursor = lots_read_until_.find(member_id);
    if (cursor == lots_read_until_.end()) return false;
    return i == lots.size() ||
           takes_before(cursor->second.expires_at, cursor->second.lot_id, lots[i].expires_at, lots[i].lot_id);
  };
  std::vector<LotTake> takes;
  std::int64_t left = amount;
  for (std::size_t i = 0; left > 0;) {
    if (past_what_was_read(i)) {
      read_remaining_lots(member_id);
      continue;
    }
    if (i == lots.size()) break;
    LotState& lot = lots[i++];
    const std::int64_t taken = std::min(left, lot.remaining);
    if (taken == 0) continue;
    lot.remaining -= taken;
    change_lot(lot.lot_id, -taken);
    takes.push_back({lot.lot_id, taken, lot.expires_at});
    left -= taken;
  }
  LOYALTY_ASSERT(left == 0, "a member's lots do not cover their available points");
  return takes;
}

void Batch::return_to_lots(const std::string& member_id, const std::vector<LotTake>& takes) {
  for (const LotTake& take : takes) {
    LotState* lot = find_lot(member_id, take.lot_id);
    LOYALTY_ASSERT(lot != nullptr, "points returned to a lot that was not prefetched");
    lot->remaining += take.amount;
    change_lot(take.lot_id, take.amount);
  }
}

void Batch::add_lot(const NewLot& lot, EntryIndex entry, std::int64_t available_before) {
  LOYALTY_ASSERT(lot.amount > 0, "a lot of nothing");
  std::int64_t remaining = lot.amount;
  if (!lot.pending_until && available_before < 0) remaining = std::max<std::int64_t>(0, lot.amount + available_before);
  if (remaining == 0) return;
  new_lots_.push_back({lot, entry, remaining, remaining});
  if (lot.pending_until) return;  // not spendable until released by its job
  const std::int64_t id = -static_cast<std::int64_t>(new_lots_.size());
  const auto read = lots_.find(lot.member_id);
  if (read == lots_.end()) return;  // the member's lots were not prefetched: nothing in this batch takes from them
  auto& lots = read->second;
  // Soonest-expiring first; a new lot goes after existing lots of the same expiry (its id
  // will be larger).
  const auto at =
      std::find_if(lots.begin(), lots.end(), [&](const LotState& other) { return other.expires_at > lot.expires_at; });
  lots.insert(at, LotState{id, remaining, lot.expires_at});
}

void Batch::close_hold(Hold& hold, const std::string& status, std::int64_t captured, Timestamp at, const Origin& origin,
                       const char* kind) {
  HoldState& state = holds_.at(hold.hold_id);
  MemberAccounts* member = this->member(hold.member_id);
  LOYALTY_ASSERT(member != nullptr, "a hold whose member is not locked");
  LOYALTY_ASSERT(member->points.held.balance >= hold.amount, "held part smaller than an open hold");
  EntryDraft entry{kind, at, hold.member_id, hold.reference};
  entry.origin = origin;
  entry.postings.push_back({member->points.held.account_id, std::string(points_asset), -hold.amount});
  if (captured > 0) {
    const auto redemptions = system_account(system_account::redemptions, points_asset);
    entry.postings.push_back({redemptions, std::string(points_asset), captured});
  }
  const std::int64_t released = hold.amount - captured;
  if (released > 0) {
    entry.postings.push_back({member->points.available.account_id, std::string(points_asset), released});
  }
  state.close_entry = post(std::move(entry));
  // What is not captured goes back to the lots it came from, latest-expiring first.
  if (released > 0) return_to_lots(hold.member_id, latest_part(state.lots, released));
  hold.status = status;
  hold.captured_amount = captured;
  hold.closed_at = at;
  state.closed_here = true;
}

int Batch::release_lapsed_holds(const std::string& member_id, Timestamp as_of, const Origin& origin) {
  // Holds that lapsed before the batch, then holds the batch opened that have lapsed since.
  std::vector<std::string> candidates;
  if (const auto found = lapsed_.find(member_id); found != lapsed_.end()) candidates = found->second;
  if (const auto found = opened_.find(member_id); found != opened_.end()) {
    candidates.insert(candidates.end(), found->second.begin(), found->second.end());
  }
  int released = 0;
  for (const auto& hold_id : candidates) {
    Hold& hold = holds_.at(hold_id).hold;
    if (hold.status != "open" || hold.expires_at > as_of) continue;
    // The release is dated at the hold's expiry: that is when the points came back.
    close_hold(hold, "expired", 0, hold.expires_at, origin, "hold_release");
    ++released;
  }
  return released;
}

Hold& Batch::open_hold(const OpenHold& request, Timestamp now, const Origin& origin) {
  MemberAccounts* member = this->member(request.member_id);
  LOYALTY_ASSERT(member != nullptr && member->points.available.balance >= request.amount,
                 "a hold the decision did not cover");
  Hold hold;
  hold.hold_id = new_id("hold_");
  hold.member_id = request.member_id;
  hold.status = "open";
  hold.amount = request.amount;
  hold.reference = request.reference;
  hold.created_at = now;
  hold.expires_at = now + std::chrono::duration_cast<std::chrono::microseconds>(request.ttl);
  EntryDraft entry = opening_entry(hold, origin);
  HoldState state{hold};
  state.lots = take_from_lots(request.member_id, request.amount);
  state.opened_here = true;
  state.open_entry = post(std::move(entry));
  const std::string id = hold.hold_id;
  opened_[request.member_id].push_back(id);
  return holds_.emplace(id, std::move(state)).first->second.hold;
}

EntryDraft Batch::opening_entry(const Hold& hold, const Origin& origin) const {
  const auto found = members_.find(hold.member_id);
  LOYALTY_ASSERT(found != members_.end(), "a hold whose member is not locked");
  const LockedMemberAccounts& points = found->second.points;
  EntryDraft entry{"hold", hold.created_at, hold.member_id, hold.reference};
  entry.origin = origin;
  entry.postings = {{points.available.account_id, std::string(points_asset), -hold.amount},
                    {points.held.account_id, std::string(points_asset), hold.amount}};
  return entry;
}

void Batch::write() {
  stage();
  writes_.flush();
}

void Batch::stage() {
  // Lots that existed before the batch, changed by what it took or gave back (new lots carry
  // their changes in memory).
  std::vector<std::pair<std::int64_t, std::int64_t>> changes;
  for (const auto& [id, delta] : lot_changes_) {
    if (delta != 0) changes.emplace_back(id, delta);
  }
  if (!changes.empty()) {
    const auto column = [&](auto format) { return db::array_literal(changes, format); };
    writes_.add(change_lots, column([](const auto& c) { return text_of(c.first); }),
                column([](const auto& c) { return text_of(c.second); }));
  }

  if (!entries_.empty() || !new_lots_.empty()) take_ids();
  write_entries(writes_, entries_, entry_ids_);

  if (!new_lots_.empty()) {
    const auto column = [&](auto format) { return db::array_literal(new_lots_, format); };
    writes_.add(insert_lots, db::array_literal(lot_ids_), column([](const NewLotRow& r) { return r.lot.member_id; }),
                column([](const NewLotRow& r) { return text_of(r.amount); }),
                column([](const NewLotRow& r) { return text_of(r.remaining); }),
                column([](const NewLotRow& r) { return db::sql_time(r.lot.earned_at); }),
                column([](const NewLotRow& r) { return db::sql_time(r.lot.expires_at); }),
                column([](const NewLotRow& r) -> std::optional<std::string> {
                  if (!r.lot.pending_until) return std::nullopt;
                  return db::sql_time(*r.lot.pending_until);
                }),
                column([&](const NewLotRow& r) { return text_of(entry_ids_[static_cast<std::size_t>(r.entry)]); }),
                column([](const NewLotRow& r) { return r.lot.source; }));
  }
  const auto lot_id_of = [&](std::int64_t id) { return id < 0 ? lot_ids_[static_cast<std::size_t>(-id - 1)] : id; };

  std::vector<const HoldState*> opened, closed;
  std::vector<std::tuple<std::string, std::int64_t, std::int64_t>> hold_lots;
  for (const auto& [id, state] : holds_) {
    if (state.opened_here) {
      opened.push_back(&state);
      for (const LotTake& take : state.lots) hold_lots.emplace_back(id, lot_id_of(take.lot_id), take.amount);
    } else if (state.closed_here) {
      closed.push_back(&state);
    }
  }
  const auto entry_text = [&](std::optional<EntryIndex> index) -> std::optional<std::string> {
    if (!index) return std::nullopt;
    return text_of(entry_ids_[static_cast<std::size_t>(*index)]);
  };
  const auto closed_at = [](const HoldState* s) -> std::optional<std::string> {
    if (!s->hold.closed_at) return std::nullopt;
    return db::sql_time(*s->hold.closed_at);
  };
  if (!opened.empty()) {
    const auto column = [&](auto format) { return db::array_literal(opened, format); };
    writes_.add(insert_holds, column([](const HoldState* s) { return s->hold.hold_id; }),
                column([](const HoldState* s) { return s->hold.member_id; }),
                column([](const HoldState* s) { return text_of(s->hold.amount); }),
                column([](const HoldState* s) { return s->hold.status; }),
                column([](const HoldState* s) { return text_of(s->hold.captured_amount); }),
                column([](const HoldState* s) { return s->hold.reference; }),
                column([](const HoldState* s) { return db::sql_time(s->hold.expires_at); }),
                column([](const HoldState* s) { return db::sql_time(s->hold.created_at); }), column(closed_at),
                column([&](const HoldState* s) { return *entry_text(s->open_entry); }),
                column([&](const HoldState* s) { return entry_text(s->close_entry); }));
  }
  if (!closed.empty()) {  // after the closing entries (close_entry_id references them)
    const auto column = [&](auto format) { return db::array_literal(closed, format); };
    writes_.add(close_holds, column([](const HoldState* s) { return s->hold.hold_id; }),
                column([](const HoldState* s) { return s->hold.status; }),
                column([](const HoldState* s) { return text_of(s->hold.captured_amount); }), column(closed_at),
                column([&](const HoldState* s) { return *entry_text(s->close_entry); }));
  }
  if (!hold_lots.empty()) {
    const auto column = [&](auto format) { return db::array_literal(hold_lots, format); };
    writes_.add(insert_hold_lots, column([](const auto& r) { return std::get<0>(r); }),
                column([](const auto& r) { return text_of(std::get<1>(r)); }),
                column([](const auto& r) { return text_of(std::get<2>(r)); }));
  }
  std::vector<Extension*> extensions = extension_order_;
  std::stable_sort(extensions.begin(), extensions.end(),
                   [](const Extension* a, const Extension* b) { return a->layer() < b->layer(); });
  for (Extension* extension : extensions) extension->write();
}

std::optional<EntryIndex> Batch::hold_entry(const std::string& hold_id, bool closing) const {
  const auto found = holds_.find(hold_id);
  if (found == holds_.end()) return std::nullopt;
  return closing ? found->second.close_entry : found->second.open_entry;
}

std::optional<std::int64_t> Batch::hold_entry_id(const std::string& hold_id, bool closing) const {
  const std::optional<EntryIndex> index = hold_entry(hold_id, closing);
  if (!index) return std::nullopt;
  return entry_id(*index);
}

const EntryDraft& Batch::entry(EntryIndex index) const {
  LOYALTY_ASSERT(static_cast<std::size_t>(index) < entries_.size(), "an entry the batch did not post");
  return entries_[static_cast<std::size_t>(index)];
}

std::int64_t Batch::entry_id(EntryIndex index) const {
  LOYALTY_ASSERT(static_cast<std::size_t>(index) < entry_ids_.size(), "an entry id asked before the batch was written");
  return entry_ids_[static_cast<std::size_t>(index)];
}

Timestamp Batch::entry_created_at(EntryIndex index) const {
  LOYALTY_ASSERT(static_cast<std::size_t>(index) < entry_ids_.size() && created_at_,
                 "a time asked before the batch was written");
  return *created_at_;
}

}  // namespace loyalty::ledger
