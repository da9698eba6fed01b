// Accounts: a member's accounts per asset and balance part, and the program's system accounts.
//
// Member accounts keep a maintained balance (read in O(1), locked row by row); system
// accounts never do: many writers touch them at once, so their balance is the sum of their
// postings and no writer waits on them. See docs/ARCHITECTURE.md, "Balances".
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/database.hpp"

namespace loyalty::ledger {

// Assets members hold. Partner currencies live only in system (clearing) accounts.
inline constexpr std::string_view points_asset = "POINTS";
inline constexpr std::string_view growth_asset = "GROWTH";

enum class Part { available, pending, held };
const char* part_name(Part part);

// System accounts named by the ledger itself.
namespace system_account {
inline constexpr std::string_view adjustments = "system:adjustments";
inline constexpr std::string_view redemptions = "system:redemptions";
inline constexpr std::string_view breakage = "system:breakage";
}  // namespace system_account

struct AccountBalance {
  std::int64_t account_id = 0;
  std::int64_t balance = 0;
};

// A member's accounts of one asset, locked FOR UPDATE in a fixed order (available, held,
// pending) so that concurrent writers never deadlock on them.
struct LockedMemberAccounts {
  AccountBalance available;
  AccountBalance pending;
  AccountBalance held;
  // available + pending + held, or nullopt if that does not fit in int64.
  std::optional<std::int64_t> total() const;
};

// Adds to `writes` the accounts every member has (each member asset and part) for each of
// `member_ids` (inside their creation).
void open_member_accounts(db::WriteBuffer& writes, const std::vector<std::string>& member_ids);

// Locks the member's accounts of `asset`; nullopt if the member has none (unknown member or
// an asset members do not hold).
std::optional<LockedMemberAccounts> lock_member_accounts(pqxx::transaction_base& txn, const std::string& member_id,
                                                         std::string_view asset);

// Both of a member's assets in one statement (events and their reversals touch both), in the
// order two calls of lock_member_accounts (POINTS, then GROWTH) would take them.
struct PointsAndGrowth {
  LockedMemberAccounts points;
  LockedMemberAccounts growth;
};
std::optional<PointsAndGrowth> lock_member_points_and_growth(pqxx::transaction_base& txn, const std::string& member_id);

// The same for many members at once, locked in member id order (jobs); members without
// accounts of `asset` are missing from the map.
std::map<std::string, LockedMemberAccounts> lock_members_accounts(pqxx::transaction_base& txn,
                                                                  const std::vector<std::string>& member_ids,
                                                                  std::string_view asset);

// The id of an existing system account. System accounts are created up front (by the
// migrations, by applying the program, by registering a partner), never inside a write path,
// so a missing one is a bug; ids never change and are cached for the life of the process.
std::int64_t system_account_id(pqxx::transaction_base& txn, std::string_view name, std::string_view asset);

// Creates a system account if it does not exist yet (set-up paths only); returns its id.
std::int64_t ensure_system_account(pqxx::transaction_base& txn, std::string_view name, std::string_view asset);

}  // namespace loyalty::ledger
