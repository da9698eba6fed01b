// Lots: where a member's POINTS came from and when they expire.
//
// Every POINTS credit to a member creates a lot; every debit takes from the member's
// spendable lots, soonest-expiring first. The invariant the code keeps (and the tests check):
// the remaining points of a member's spendable lots equal the member's available POINTS when
// that is not negative, and the remaining points of pending lots equal the pending part.
// When a clawback has left a debt (available below zero), the next credits repay it first
// and only the rest becomes a lot.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ledger/result.hpp"
#include "platform/time.hpp"

namespace loyalty::ledger {

// When points earned at an instant expire: at the end of the month `months` after the
// month they were earned in (earned in March 2026, 24 months → the end of March 2028).
struct ExpiryPolicy {
  int months = 24;
  Timestamp expiry_for(Timestamp earned_at) const;
};

struct NewLot {
  std::string member_id;
  std::int64_t amount = 0;  // credited to the member
  Timestamp earned_at;
  Timestamp expires_at;
  std::optional<Timestamp> pending_until;  // pending lots are credited to the pending part
  std::int64_t entry_id = 0;
  std::string source;  // earn, adjustment, exchange, refund, ...
};

// Records the lot of a credit. `available_before` is the member's available POINTS before
// the credit: a debt is repaid first and only the rest goes into the lot (pending lots do not
// repay debt until they are released). Returns the lot id, or nullopt if the whole credit
// went to repay a debt.
std::optional<std::int64_t> add_lot(pqxx::transaction_base& txn, const NewLot& lot, std::int64_t available_before);

struct LotTake {
  std::int64_t lot_id = 0;
  std::int64_t amount = 0;
  Timestamp expires_at;
};

// Takes `amount` from the member's spendable lots, soonest-expiring first, and returns what
// it took from each. Asserts that the lots cover it (they do whenever available does).
std::vector<LotTake> take_from_lots(pqxx::transaction_base& txn, const std::string& member_id, std::int64_t amount);

// Takes up to `wanted` from the lots one entry credited (an award being clawed back), of one
// kind — still pending, or spendable — in lot order, locking them; returns what they gave.
std::int64_t take_from_entry_lots(pqxx::transaction_base& txn, std::int64_t entry_id, bool pending,
                                  std::int64_t wanted);

// Gives points back to the lots they were taken from.
void return_to_lots(pqxx::transaction_base& txn, const std::vector<LotTake>& takes);

// Pending lots coming due (the release-pending job): each of `lot_ids`, locked by the caller,
// becomes spendable with `kept[i]` left in it (released points repay a debt first).
void release_pending_lots(pqxx::transaction_base& txn, const std::vector<std::int64_t>& lot_ids,
                          const std::vector<std::int64_t>& kept);

// Lots past their expiry (the expire-points job): each of `lot_ids`, locked by the caller, is
// emptied by the expiry entry `entry_ids[i]`.
void expire_lots(pqxx::transaction_base& txn, const std::vector<std::int64_t>& lot_ids,
                 const std::vector<std::int64_t>& entry_ids);

// The part of `takes` that is `amount` taken from the end (latest-expiring first): what a
// partial capture gives back.
std::vector<LotTake> latest_part(const std::vector<LotTake>& takes, std::int64_t amount);

// A lot as a member's lot list shows it.
struct LotView {
  std::int64_t lot_id = 0;
  std::int64_t amount = 0;
  std::int64_t remaining = 0;
  Timestamp earned_at;
  // When a pending lot becomes spendable; absent once it is spendable (the moment a pending lot
  // was released is not kept: release-pending clears it).
  std::optional<Timestamp> available_at;
  Timestamp expires_at;
  std::string status;  // pending, available, spent, expired
};

struct LotPage {
  std::vector<LotView> items;
  std::optional<std::int64_t> next_after_lot_id;  // absent on the last page
};

// A member's lots, soonest expiry first (then by lot id); `open_only` keeps those with points
// left (pending ones included). `after_lot_id` continues a previous page: a lot's expiry never
// changes, so the last lot of a page says where the next begins.
Result<LotPage> list_member_lots(pqxx::transaction_base& txn, const std::string& member_id, bool open_only,
                                 std::optional<std::int64_t> after_lot_id, int limit);

}  // namespace loyalty::ledger
