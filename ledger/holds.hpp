// Holds: two-phase redemption of POINTS.
//
//   open ──capture(amount ≤ held)──▶ captured   (the rest goes back to available)
//     ├───void─────────────────────▶ voided
//     └───expires_at passes────────▶ expired    (never capturable from that instant)
//
// Opening moves points available → held; capture moves them held → system:redemptions;
// void and expiry move them back. A hold past its expiry stops counting as held at once
// (balances read it as available); the row and its release entry follow lazily, the next
// time the member's points are written or when the expire-holds job runs.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ledger/accounts.hpp"
#include "ledger/journal.hpp"
#include "ledger/result.hpp"
#include "platform/time.hpp"

namespace loyalty::ledger {

inline constexpr std::chrono::seconds hold_ttl_min{1};
inline constexpr std::chrono::seconds hold_ttl_max{7 * 24 * 3600};
inline constexpr std::chrono::seconds hold_ttl_default{15 * 60};

struct Hold {
  std::string hold_id;
  std::string member_id;
  std::string status;  // open, captured, voided, expired
  std::int64_t amount = 0;
  std::int64_t captured_amount = 0;
  std::optional<std::string> reference;
  Timestamp expires_at;
  Timestamp created_at;
  std::optional<Timestamp> closed_at;
  std::int64_t open_entry_id = 0;  // the entry that opened it; 0 until a batch that opens it is written
};

struct OpenHold {
  std::string member_id;
  std::int64_t amount = 0;
  std::chrono::seconds ttl = hold_ttl_default;
  std::optional<std::string> reference;
};

class Batch;

// Decisions inside a batch (ledger/batch.hpp): the hold and its member are locked and their
// points prefetched by the caller. A refusal changes nothing.
Result<Hold> open_hold(Batch& batch, const OpenHold& request, Timestamp now, const Origin& origin);
Result<Hold> capture_hold(Batch& batch, const std::string& hold_id, std::optional<std::int64_t> amount, Timestamp now,
                          const Origin& origin);
Result<Hold> void_hold(Batch& batch, const std::string& hold_id, Timestamp now, const Origin& origin);
// The hold as capture and void would find it: open and not lapsed at `now`, or their refusal
// (for a decision that must check before it changes anything else).
Result<Hold*> changeable_hold(Batch& batch, const std::string& hold_id, Timestamp now);

// The same as a batch of one inside a caller's transaction (a mall order opens its hold so).
Result<Hold> open_hold(pqxx::transaction_base& txn, const OpenHold& request, Timestamp now, const Origin& origin);
// `amount` absent captures all; the rest of the hold is released.
Result<Hold> capture_hold(pqxx::transaction_base& txn, const std::string& hold_id, std::optional<std::int64_t> amount,
                          Timestamp now, const Origin& origin);
Result<Hold> void_hold(pqxx::transaction_base& txn, const std::string& hold_id, Timestamp now, const Origin& origin);
// A hold from a row of (hold_id, member_id, status, amount, captured_amount, reference,
// expires_at, created_at, closed_at, open_entry_id): the columns every read of holds selects.
Hold hold_of_row(const pqxx::row& row);

// Reads a hold; an open hold past its expiry reads as expired.
Result<Hold> find_hold(pqxx::transaction_base& txn, const std::string& hold_id, Timestamp now);

struct HoldPage {
  std::vector<Hold> items;
  // The cursor of the next page: the opening entry of the page's last hold (absent on the last
  // page). Holds are listed newest first by their opening entry, which never changes.
  std::optional<std::int64_t> next_before_open_entry_id;
};

// A member's holds, newest first, read as at `now` (an open hold past its expiry is expired,
// and `status` filters on what a hold reads as).
Result<HoldPage> list_member_holds(pqxx::transaction_base& txn, const std::string& member_id,
                                   const std::optional<std::string>& status, Timestamp now,
                                   std::optional<std::int64_t> before_open_entry_id, int limit);

// The start of a write on one member outside a batch (a reversal, a refund, an exchange):
// releases the member's holds that lapsed at `now` (their points are available again), then
// locks the member's accounts of both assets. nullopt for a member without accounts.
std::optional<PointsAndGrowth> lock_member_for_write(pqxx::transaction_base& txn, const std::string& member_id,
                                                     Timestamp now, const Origin& origin);

// Releases open holds whose expiry is at or before `as_of`: all of them (at most `limit` per
// call), or every one of one member's. Returns how many were released.
int release_lapsed_holds(pqxx::transaction_base& txn, const std::optional<std::string>& member_id, Timestamp as_of,
                         int limit, const Origin& origin);

}  // namespace loyalty::ledger
