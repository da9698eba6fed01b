#include "earning/jobs.hpp"

#include <map>

#include "ledger/accounts.hpp"
#include "ledger/lots.hpp"
#include "outbox/outbox.hpp"
#include "platform/assert.hpp"
#include "platform/database.hpp"
#include "platform/log.hpp"
#include "program/store.hpp"

namespace loyalty::earning {
namespace {

// Every chunk works accounts first, like a request: it picks the members of the next due
// lots without locking them, locks those members' accounts (in member order, one statement),
// then locks and settles every due lot of theirs. Processed lots leave the partial index the
// pick reads (migrations/0003, 0009), so each chunk reads only what it settles.
const db::Statement pick_pending{
    "earning_jobs.pick_pending",
    "SELECT member_id, count(*) FROM (SELECT member_id FROM lots WHERE pending_until IS NOT NULL"
    " AND pending_until <= $1 ORDER BY pending_until, member_id, lot_id LIMIT $2) due GROUP BY member_id"};

const db::Statement lock_pending{
    "earning_jobs.lock_pending",
    "SELECT lot_id, member_id, remaining FROM lots WHERE member_id = ANY($1::text[])"
    " AND pending_until IS NOT NULL AND pending_until <= $2 ORDER BY member_id, lot_id FOR UPDATE"};

const db::Statement pick_expiry{
    "earning_jobs.pick_expiry",
    "SELECT member_id, count(*) FROM (SELECT member_id FROM lots WHERE remaining > 0 AND pending_until IS NULL"
    " AND expires_at <= $1 ORDER BY expires_at, member_id, lot_id LIMIT $2) due GROUP BY member_id"};

const db::Statement lock_expiry{
    "earning_jobs.lock_expiry",
    "SELECT lot_id, member_id, remaining FROM lots WHERE member_id = ANY($1::text[])"
    " AND remaining > 0 AND pending_until IS NULL AND expires_at <= $2 ORDER BY member_id, lot_id FOR UPDATE"};

// Members after the run's cursor that have not decayed for the year, in member order.
const db::Statement undecayed_members{"earning_jobs.undecayed_members",
                                      "SELECT m.member_id FROM members m WHERE m.member_id > $3 AND NOT EXISTS"
                                      " (SELECT 1 FROM growth_decays d WHERE d.member_id = m.member_id AND d.year = $1)"
                                      " ORDER BY m.member_id LIMIT $2"};

const db::Statement insert_decays{
    "earning_jobs.insert_decays",
    "INSERT INTO growth_decays (member_id, year, amount, entry_id)"
    " SELECT x.member_id, $1, x.amount, x.entry_id FROM unnest($2::text[], $3::bigint[], $4::bigint[])"
    "  AS x(member_id, amount, entry_id)"
    " ON CONFLICT (member_id, year) DO NOTHING"};

// points.expiring: the next lots (after the run's cursor, in the order of the expiry index) that
// expire within the notice period and were never noticed, each with the event's data. Each is
// then given one event (outbox::record) and one notice row, whose key makes a second notice
// impossible.
const db::Statement pick_expiring{
    "earning_jobs.pick_expiring",
    "SELECT l.lot_id, l.member_id, l.expires_at, jsonb_build_object('member_id', l.member_id, 'asset', 'POINTS',"
    "  'lot_id', l.lot_id, 'amount', l.remaining, 'expires_at', utc_text(l.expires_at))::text"
    " FROM lots l"
    " WHERE l.remaining > 0 AND l.pending_until IS NULL AND l.expires_at > $1 AND l.expires_at <= $2"
    "  AND (l.expires_at, l.member_id, l.lot_id) > ($3::timestamptz, $4::text, $5::bigint)"
    "  AND NOT EXISTS (SELECT 1 FROM lot_expiry_notices n WHERE n.lot_id = l.lot_id)"
    " ORDER BY l.expires_at, l.member_id, l.lot_id LIMIT $6"};

const db::Statement insert_notices{
    "earning_jobs.insert_notices",
    "INSERT INTO lot_expiry_notices (lot_id, event_id, noticed_at)"
    " SELECT x.lot_id, x.event_id, $3 FROM unnest($1::bigint[], $2::bigint[]) AS x(lot_id, event_id)"
    " ON CONFLICT (lot_id) DO NOTHING"};

struct DueLot {
  std::int64_t lot_id;
  std::int64_t remaining;
};

// The due lots of one chunk, by member, with the members' POINTS accounts locked.
struct DueLots {
  std::int64_t picked = 0;  // lots the pick saw; fewer than the limit means none are left after these
  std::map<std::string, std::vector<DueLot>> by_member;
  std::map<std::string, ledger::LockedMemberAccounts> accounts;
};

DueLots lock_due_lots(pqxx::transaction_base& txn, const db::Statement& pick, const db::Statement& lock,
                      const ledger::JobChunk& chunk) {
  DueLots due;
  std::vector<std::string> members;
  for (const auto& row : db::exec(txn, pick, db::sql_time(chunk.as_of), chunk.limit)) {
    members.emplace_back(row[0].c_str());
    due.picked += row[1].as<std::int64_t>();
  }
  if (members.empty()) return due;
  due.accounts = ledger::lock_members_accounts(txn, members, ledger::points_asset);
  for (const auto& row : db::exec(txn, lock, db::array_literal(members), db::sql_time(chunk.as_of))) {
    due.by_member[row[1].c_str()].push_back({row[0].as<std::int64_t>(), row[2].as<std::int64_t>()});
  }
  for (const auto& [member_id, lots] : due.by_member) {
    LOYALTY_ASSERT(due.accounts.contains(member_id), "a lot of a member without accounts");
  }
  return due;
}

std::int64_t lot_count(const DueLots& due) {
  std::int64_t count = 0;
  for (const auto& [member_id, lots] : due.by_member) count += static_cast<std::int64_t>(lots.size());
  return count;
}

ledger::StepResult release_pending(pqxx::transaction_base& txn, ledger::JobChunk& chunk) {
  const DueLots due = lock_due_lots(txn, pick_pending, lock_pending, chunk);
  std::vector<ledger::EntryDraft> entries;
  std::vector<std::int64_t> lot_ids, kept_amounts;
  for (const auto& [member_id, lots] : due.by_member) {
    const auto& points = due.accounts.at(member_id);
    std::int64_t released = 0;
    std::int64_t available = points.available.balance;
    for (const DueLot& lot : lots) {
      // Released points repay a debt first; only the rest stays in the lot.
      const std::int64_t kept = available < 0 ? std::max<std::int64_t>(0, lot.remaining + available) : lot.remaining;
      available += lot.remaining;
      released += lot.remaining;
      lot_ids.push_back(lot.lot_id);
      kept_amounts.push_back(kept);
    }
    if (released == 0) continue;
    ledger::EntryDraft entry{"pending_release", chunk.as_of, member_id};
    entry.origin = chunk.origin;
    entry.postings = {{points.pending.account_id, "POINTS", -released},
                      {points.available.account_id, "POINTS", released}};
    entries.push_back(std::move(entry));
  }
  ledger::post_entries(txn, entries);
  ledger::release_pending_lots(txn, lot_ids, kept_amounts);
  return {lot_count(due), due.picked < chunk.limit};
}

ledger::StepResult expire_points(pqxx::transaction_base& txn, ledger::JobChunk& chunk) {
  const DueLots due = lock_due_lots(txn, pick_expiry, lock_expiry, chunk);
  if (due.by_member.empty()) return {0, due.picked < chunk.limit};
  const auto breakage = ledger::system_account_id(txn, ledger::system_account::breakage, ledger::points_asset);
  std::vector<ledger::EntryDraft> entries;
  for (const auto& [member_id, lots] : due.by_member) {
    const auto& points = due.accounts.at(member_id);
    std::int64_t expired = 0;
    for (const DueLot& lot : lots) expired += lot.remaining;
    LOYALTY_ASSERT(points.available.balance >= expired, "lots hold more than the member's available points");
    ledger::EntryDraft entry{"expiry", chunk.as_of, member_id};
    entry.origin = chunk.origin;
    entry.postings = {{points.available.account_id, "POINTS", -expired}, {breakage, "POINTS", expired}};
    entries.push_back(std::move(entry));
  }
  const auto entry_ids = ledger::post_entries(txn, entries);
  std::vector<std::int64_t> lot_ids, lot_entry_ids;
  std::size_t index = 0;
  for (const auto& [member_id, lots] : due.by_member) {  // the same order the entries were drafted in
    for (const DueLot& lot : lots) {
      lot_ids.push_back(lot.lot_id);
      lot_entry_ids.push_back(entry_ids[index]);
    }
    ++index;
  }
  ledger::expire_lots(txn, lot_ids, lot_entry_ids);
  // points.expired: one event per member's expiry entry, in the chunk's transaction.
  std::vector<outbox::NewEvent> events;
  index = 0;
  for (const auto& [member_id, lots] : due.by_member) {
    std::string data = "{\"member_id\":\"";
    log::append_json_escaped(data, member_id);
    data += "\",\"asset\":\"POINTS\",\"amount\":" + std::to_string(entries[index].postings[1].amount) +
            ",\"lots\":" + std::to_string(lots.size()) + ",\"entry_id\":" + std::to_string(entry_ids[index]) +
            ",\"expired_at\":\"" + format_rfc3339(chunk.as_of) + "\"}";
    events.push_back({"points.expired", chunk.as_of, member_id, std::nullopt, std::move(data)});
    ++index;
  }
  outbox::record(txn, events);
  return {static_cast<std::int64_t>(lot_ids.size()), due.picked < chunk.limit};
}

// points.expiring for lots that expire within the program's notice period after as_of. The run's
// cursor is the last lot noticed ("expires_at|member_id|lot_id"): each chunk reads only lots
// after it.
ledger::StepResult notify_expiring_points(pqxx::transaction_base& txn, ledger::JobChunk& chunk) {
  const auto program = program::current_program(txn);
  const program::AssetConfig* points = program ? program->program.asset(std::string(ledger::points_asset)) : nullptr;
  if (!points || !points->expiry || points->expiry->notice_days <= 0) return {0, true};
  const Timestamp until = chunk.as_of + std::chrono::days{points->expiry->notice_days};
  std::string after_time = "-infinity", after_member, after_lot = "0";
  if (const auto bar = chunk.cursor.find('|'); bar != std::string::npos) {
    const auto second = chunk.cursor.rfind('|');
    after_time = chunk.cursor.substr(0, bar);
    after_member = chunk.cursor.substr(bar + 1, second - bar - 1);
    after_lot = chunk.cursor.substr(second + 1);
  }
  const auto lots = db::exec(txn, pick_expiring, db::sql_time(chunk.as_of), db::sql_time(until), after_time,
                             after_member, after_lot, chunk.limit);
  if (lots.empty()) return {0, true};
  std::vector<outbox::NewEvent> events;
  std::vector<std::int64_t> lot_ids;
  for (const auto& lot : lots) {
    lot_ids.push_back(lot[0].as<std::int64_t>());
    events.push_back({"points.expiring", chunk.as_of, std::string(lot[1].c_str()), std::nullopt, lot[3].c_str()});
  }
  const auto event_ids = outbox::record(txn, events);
  const auto noticed =
      db::exec(txn, insert_notices, db::array_literal(lot_ids), db::array_literal(event_ids), db::sql_time(chunk.as_of))
          .affected_rows();
  const auto& last = lots[lots.size() - 1];
  chunk.cursor = format_rfc3339(db::time_of(last[2])) + "|" + last[1].c_str() + "|" + last[0].c_str();
  return {static_cast<std::int64_t>(noticed), false};
}

// The year whose decay is due at `as_of`: this year once its decay date has come, else last year.
int decay_year(const program::DecayPolicy& decay, Timestamp as_of) {
  using namespace std::chrono;
  const year_month_day today{floor<days>(as_of)};
  const unsigned month = static_cast<unsigned>(std::stoi(decay.on.substr(0, 2)));
  const unsigned day = static_cast<unsigned>(std::stoi(decay.on.substr(3, 2)));
  const year_month_day due{today.year(), std::chrono::month{month}, std::chrono::day{day}};
  return static_cast<int>(today >= due ? today.year() : today.year() - years{1});
}

ledger::StepResult decay_growth(pqxx::transaction_base& txn, ledger::JobChunk& chunk) {
  const auto program = program::current_program(txn);
  const program::AssetConfig* growth = program ? program->program.asset(std::string(ledger::growth_asset)) : nullptr;
  if (!growth || !growth->decay) return {0, true};
  const int year = decay_year(*growth->decay, chunk.as_of);
  std::vector<std::string> members;
  for (const auto& row : db::exec(txn, undecayed_members, year, chunk.limit, chunk.cursor))
    members.emplace_back(row[0].c_str());
  if (members.empty()) return {0, true};
  const auto accounts = ledger::lock_members_accounts(txn, members, ledger::growth_asset);
  const auto decay_account = ledger::system_account_id(txn, "system:growth-decay", ledger::growth_asset);
  std::vector<ledger::EntryDraft> entries;
  std::vector<std::int64_t> amounts;
  for (const std::string& member_id : members) {
    const auto found = accounts.find(member_id);
    LOYALTY_ASSERT(found != accounts.end(), "a member without GROWTH accounts");
    const std::int64_t balance = std::max<std::int64_t>(0, found->second.available.balance);
    // balance ≤ 2^63 and percent ≤ 100: computed in 128 bits, then rounded down.
    const auto amount = static_cast<std::int64_t>(static_cast<__int128>(balance) * growth->decay->percent / 100);
    amounts.push_back(amount);
    if (amount == 0) continue;
    ledger::EntryDraft entry{"growth_decay", chunk.as_of, member_id};
    entry.reference = "decay:" + std::to_string(year);
    entry.program_version = program->version;
    entry.origin = chunk.origin;
    entry.postings = {{found->second.available.account_id, "GROWTH", -amount}, {decay_account, "GROWTH", amount}};
    entries.push_back(std::move(entry));
  }
  const auto entry_ids = ledger::post_entries(txn, entries);
  std::vector<std::optional<std::int64_t>> decay_entries;
  std::size_t next = 0;
  for (const std::int64_t amount : amounts)
    decay_entries.push_back(amount > 0 ? std::optional(entry_ids[next++]) : std::nullopt);
  db::exec(txn, insert_decays, year, db::array_literal(members), db::array_literal(amounts),
           db::array_literal(decay_entries, [](std::optional<std::int64_t> id) { return db::nullable_number(id); }));
  chunk.cursor = members.back();
  const auto count = static_cast<std::int64_t>(members.size());
  return {count, count < chunk.limit};
}

}  // namespace

std::vector<ledger::JobDefinition> earning_jobs() {
  return {{"release-pending", release_pending},
          {"expire-points", expire_points},
          {"decay-growth", decay_growth},
          {"notify-expiring", notify_expiring_points}};
}

}  // namespace loyalty::earning
