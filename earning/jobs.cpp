#include "earning/jobs.hpp"

#include <map>

#include "ledger/accounts.hpp"
#include "ledger/assert.hpp"
#include "ledger/database.hpp"
#include "program/store.hpp"

namespace loyalty::earning {
namespace {

using ledger::LockedMemberAccounts;

// SKIP LOCKED: a lot another transaction is working on is that transaction's; the job comes
// back for it in a later chunk or run.
const db::Statement due_pending{
    "earning_jobs.due_pending",
    "SELECT lot_id, member_id, remaining FROM lots WHERE pending_until IS NOT NULL AND pending_until <= $1"
    " ORDER BY member_id, lot_id LIMIT $2 FOR UPDATE SKIP LOCKED"};

const db::Statement release_lot{
    "earning_jobs.release_lot", "UPDATE lots SET pending_until = NULL, remaining = $2 WHERE lot_id = $1"};

const db::Statement due_expiry{
    "earning_jobs.due_expiry",
    "SELECT lot_id, member_id, remaining FROM lots"
    " WHERE remaining > 0 AND pending_until IS NULL AND expires_at <= $1"
    " ORDER BY member_id, lot_id LIMIT $2 FOR UPDATE SKIP LOCKED"};

const db::Statement expire_lot{
    "earning_jobs.expire_lot", "UPDATE lots SET remaining = 0, expired_entry_id = $2 WHERE lot_id = $1"};

const db::Statement undecayed_members{
    "earning_jobs.undecayed_members",
    "SELECT m.member_id FROM members m WHERE NOT EXISTS"
    " (SELECT 1 FROM growth_decays d WHERE d.member_id = m.member_id AND d.year = $1)"
    " ORDER BY m.member_id LIMIT $2"};

const db::Statement insert_decay{
    "earning_jobs.insert_decay",
    "INSERT INTO growth_decays (member_id, year, amount, entry_id) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (member_id, year) DO NOTHING"};

struct DueLot {
  std::int64_t lot_id;
  std::int64_t remaining;
};

std::map<std::string, std::vector<DueLot>> by_member(const pqxx::result& rows) {
  std::map<std::string, std::vector<DueLot>> lots;
  for (const auto& row : rows) lots[row[1].c_str()].push_back({row[0].as<std::int64_t>(), row[2].as<std::int64_t>()});
  return lots;
}

std::int64_t release_pending(pqxx::transaction_base& txn, Timestamp as_of, int chunk, const ledger::Origin& origin) {
  const auto rows = db::exec(txn, due_pending, db::sql_time(as_of), chunk);
  for (const auto& [member_id, lots] : by_member(rows)) {
    const auto points = ledger::lock_member_accounts(txn, member_id, ledger::points_asset);
    LOYALTY_ASSERT(points.has_value(), "a lot of a member without accounts");
    std::int64_t released = 0;
    std::int64_t available = points->available.balance;
    for (const DueLot& lot : lots) {
      // Released points repay a debt first; only the rest stays in the lot.
      const std::int64_t kept = available < 0 ? std::max<std::int64_t>(0, lot.remaining + available) : lot.remaining;
      available += lot.remaining;
      released += lot.remaining;
      db::exec(txn, release_lot, lot.lot_id, kept);
    }
    if (released == 0) continue;
    ledger::EntryDraft entry{"pending_release", as_of, member_id};
    entry.origin = origin;
    entry.postings = {{points->pending.account_id, "POINTS", -released}, {points->available.account_id, "POINTS", released}};
    ledger::post_entry(txn, entry);
  }
  return static_cast<std::int64_t>(rows.size());
}

std::int64_t expire_points(pqxx::transaction_base& txn, Timestamp as_of, int chunk, const ledger::Origin& origin) {
  const auto rows = db::exec(txn, due_expiry, db::sql_time(as_of), chunk);
  const auto breakage = ledger::system_account_id(txn, ledger::system_account::breakage, ledger::points_asset);
  for (const auto& [member_id, lots] : by_member(rows)) {
    const auto points = ledger::lock_member_accounts(txn, member_id, ledger::points_asset);
    LOYALTY_ASSERT(points.has_value(), "a lot of a member without accounts");
    std::int64_t expired = 0;
    for (const DueLot& lot : lots) expired += lot.remaining;
    LOYALTY_ASSERT(points->available.balance >= expired, "lots hold more than the member's available points");
    ledger::EntryDraft entry{"expiry", as_of, member_id};
    entry.origin = origin;
    entry.postings = {{points->available.account_id, "POINTS", -expired}, {breakage, "POINTS", expired}};
    const auto posted = ledger::post_entry(txn, entry);
    for (const DueLot& lot : lots) db::exec(txn, expire_lot, lot.lot_id, posted.entry_id);
  }
  return static_cast<std::int64_t>(rows.size());
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

std::int64_t decay_growth(pqxx::transaction_base& txn, Timestamp as_of, int chunk, const ledger::Origin& origin) {
  const auto program = program::current_program(txn);
  const program::AssetConfig* growth = program ? program->program.asset(std::string(ledger::growth_asset)) : nullptr;
  if (!growth || !growth->decay) return 0;
  const int year = decay_year(*growth->decay, as_of);
  const auto members = db::exec(txn, undecayed_members, year, chunk);
  const auto decay_account = ledger::system_account_id(txn, "system:growth-decay", ledger::growth_asset);
  for (const auto& row : members) {
    const std::string member_id = row[0].c_str();
    const auto accounts = ledger::lock_member_accounts(txn, member_id, ledger::growth_asset);
    LOYALTY_ASSERT(accounts.has_value(), "a member without GROWTH accounts");
    const std::int64_t balance = std::max<std::int64_t>(0, accounts->available.balance);
    // balance ≤ 2^63 and percent ≤ 100: computed in 128 bits, then rounded down.
    const auto amount = static_cast<std::int64_t>(static_cast<__int128>(balance) * growth->decay->percent / 100);
    std::optional<std::int64_t> entry_id;
    if (amount > 0) {
      ledger::EntryDraft entry{"growth_decay", as_of, member_id};
      entry.reference = "decay:" + std::to_string(year);
      entry.program_version = program->version;
      entry.origin = origin;
      entry.postings = {{accounts->available.account_id, "GROWTH", -amount}, {decay_account, "GROWTH", amount}};
      entry_id = ledger::post_entry(txn, entry).entry_id;
    }
    db::exec(txn, insert_decay, member_id, year, amount, db::nullable(db::nullable_number(entry_id)));
  }
  return static_cast<std::int64_t>(members.size());
}

}  // namespace

std::vector<ledger::JobDefinition> earning_jobs() {
  return {{"release-pending", release_pending}, {"expire-points", expire_points}, {"decay-growth", decay_growth}};
}

}  // namespace loyalty::earning
