#include "ledger/accounts.hpp"

#include <map>
#include <mutex>

#include "ledger/amounts.hpp"
#include "platform/assert.hpp"
#include "platform/database.hpp"

namespace loyalty::ledger {
namespace {

// Member by member, each member's accounts in one order: account ids follow it.
const db::Statement insert_member_accounts{
    "accounts.insert_member_accounts",
    "INSERT INTO accounts (name, asset, member_id, part, balance_maintained)"
    " SELECT 'member:' || m.id || ':' || p.part, p.asset, m.id, p.part, true"
    " FROM unnest($1::text[]) WITH ORDINALITY AS m(id, position)"
    " CROSS JOIN (VALUES (1, 'POINTS', 'available'), (2, 'POINTS', 'pending'), (3, 'POINTS', 'held'),"
    "                    (4, 'GROWTH', 'available'), (5, 'GROWTH', 'pending')) AS p(n, asset, part)"
    " ORDER BY m.position, p.n"};

const db::Statement lock_member{"accounts.lock_member",
                                "SELECT part, account_id, balance FROM accounts"
                                " WHERE member_id = $1 AND asset = $2 ORDER BY account_id FOR UPDATE"};

// Every lock of accounts is taken in account id order: the global order that keeps batches of
// several processes from waiting on each other in a circle (ledger/batch.hpp).
const db::Statement lock_member_points_growth{
    "accounts.lock_member_points_growth",
    "SELECT asset, part, account_id, balance FROM accounts WHERE member_id = $1 AND asset IN ('POINTS', 'GROWTH')"
    " ORDER BY account_id FOR UPDATE"};

const db::Statement lock_members{"accounts.lock_members",
                                 "SELECT member_id, part, account_id, balance FROM accounts"
                                 " WHERE member_id = ANY($1::text[]) AND asset = $2 ORDER BY account_id FOR UPDATE"};

const db::Statement find_system{"accounts.find_system",
                                "SELECT account_id FROM accounts WHERE name = $1 AND asset = $2"};

const db::Statement create_system{"accounts.create_system",
                                  "INSERT INTO accounts (name, asset, balance_maintained) VALUES ($1, $2, false)"
                                  " ON CONFLICT (name, asset) DO NOTHING RETURNING account_id"};

std::mutex system_cache_mutex;
std::map<std::pair<std::string, std::string>, std::int64_t, std::less<>> system_cache;

}  // namespace

const char* part_name(Part part) {
  switch (part) {
    case Part::available: return "available";
    case Part::pending: return "pending";
    case Part::held: return "held";
  }
  return "available";
}

std::optional<std::int64_t> LockedMemberAccounts::total() const {
  const auto partial = checked_add(available.balance, pending.balance);
  if (!partial) return std::nullopt;
  return checked_add(*partial, held.balance);
}

void open_member_accounts(db::WriteBuffer& writes, const std::vector<std::string>& member_ids) {
  if (!member_ids.empty()) writes.add(insert_member_accounts, db::array_literal(member_ids));
}

namespace {

void set_part(LockedMemberAccounts& locked, const pqxx::field& part, const pqxx::field& id,
              const pqxx::field& balance) {
  const AccountBalance account{id.as<std::int64_t>(), balance.as<std::int64_t>()};
  const std::string_view name = part.c_str();
  if (name == "available")
    locked.available = account;
  else if (name == "pending")
    locked.pending = account;
  else if (name == "held")
    locked.held = account;
}

}  // namespace

std::optional<LockedMemberAccounts> lock_member_accounts(pqxx::transaction_base& txn, const std::string& member_id,
                                                         std::string_view asset) {
  const auto rows = db::exec(txn, lock_member, member_id, std::string(asset));
  if (rows.empty()) return std::nullopt;
  LockedMemberAccounts locked;
  for (const auto& row : rows) set_part(locked, row[0], row[1], row[2]);
  LOYALTY_ASSERT(locked.available.account_id != 0, "a member asset without an available account");
  return locked;
}

std::optional<PointsAndGrowth> lock_member_points_and_growth(pqxx::transaction_base& txn,
                                                             const std::string& member_id) {
  PointsAndGrowth locked;
  for (const auto& row : db::exec(txn, lock_member_points_growth, member_id)) {
    set_part(std::string_view(row[0].c_str()) == points_asset ? locked.points : locked.growth, row[1], row[2], row[3]);
  }
  if (locked.points.available.account_id == 0) return std::nullopt;
  LOYALTY_ASSERT(locked.growth.available.account_id != 0, "a member without GROWTH accounts");
  return locked;
}

std::map<std::string, LockedMemberAccounts> lock_members_accounts(pqxx::transaction_base& txn,
                                                                  const std::vector<std::string>& member_ids,
                                                                  std::string_view asset) {
  std::map<std::string, LockedMemberAccounts> locked;
  for (const auto& row : db::exec(txn, lock_members, db::array_literal(member_ids), std::string(asset))) {
    set_part(locked[row[0].c_str()], row[1], row[2], row[3]);
  }
  for (const auto& [member_id, accounts] : locked) {
    LOYALTY_ASSERT(accounts.available.account_id != 0, "a member asset without an available account");
  }
  return locked;
}

std::int64_t system_account_id(pqxx::transaction_base& txn, std::string_view name, std::string_view asset) {
  auto key = std::make_pair(std::string(name), std::string(asset));
  {
    std::lock_guard lock{system_cache_mutex};
    if (auto found = system_cache.find(key); found != system_cache.end()) return found->second;
  }
  const auto rows = db::exec(txn, find_system, key.first, key.second);
  LOYALTY_ASSERT(rows.size() == 1, "a system account the program did not create");
  const auto id = rows[0][0].as<std::int64_t>();
  std::lock_guard lock{system_cache_mutex};
  system_cache.emplace(std::move(key), id);
  return id;
}

std::int64_t ensure_system_account(pqxx::transaction_base& txn, std::string_view name, std::string_view asset) {
  const std::string name_text(name), asset_text(asset);
  auto rows = db::exec(txn, create_system, name_text, asset_text);
  if (rows.empty()) rows = db::exec(txn, find_system, name_text, asset_text);
  LOYALTY_ASSERT(rows.size() == 1, "a system account could not be created");
  return rows[0][0].as<std::int64_t>();
}

}  // namespace loyalty::ledger
