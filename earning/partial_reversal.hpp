// Partial reversal: claws back a share of an event's awards, e.g. the earn on the part of a
// mall order that was refunded.
//
// The share is cumulative: reversing to numerator/denominator brings every award's settled
// amount (clawed back, or written off under cap_at_balance) up to
// floor(award × numerator / denominator). Calling it again with the same fraction claws
// back nothing; a smaller fraction than before claws back nothing (nothing is ever given
// back); numerator = denominator settles every award exactly. Per award, not per asset: each
// award came from one funding account (a rule's or a campaign's), and finance sees every
// campaign's cost, so each funding account gets back exactly its own share.
//
// Where the points come from follows reverse_event (earning/events.hpp): the event's lots
// that are still pending first, then the event's own available lots, then the member's
// soonest-expiring lots; what is not there becomes a visible debt (clawback: allow_negative)
// or is written off (cap_at_balance). The entry (kind "earn_clawback", reference = the event
// id) debits the member's parts and credits the funding accounts. It cannot point at the earn
// entry with reverses_entry_id: an entry is reversed at most once (migrations/0001), and an
// event may be partially reversed many times; event_partial_reversals links them instead.
// The reversal that reaches the whole event marks the event reversed, so that a later
// reverse_event of it claws back nothing twice.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "earning/events.hpp"
#include "ledger/journal.hpp"
#include "platform/time.hpp"
#include "program/store.hpp"

namespace loyalty::earning {

struct PartialReversal {
  std::string event_id;
  std::optional<std::int64_t> entry_id;  // absent when this step clawed nothing back
  // Per asset, what this step clawed back and what it could not (cap_at_balance only).
  std::vector<std::pair<std::string, std::int64_t>> clawed_back;
  std::vector<std::pair<std::string, std::int64_t>> written_off;
  bool event_fully_reversed = false;  // this step (or an earlier reversal) settled every award
};

struct ReversalShare {
  std::int64_t numerator = 0;    // 0 ≤ numerator ≤ denominator
  std::int64_t denominator = 1;  // > 0
};

// Claws back the event's awards up to `share` of each. An event reversed in full already
// (reverse_event) claws back nothing. Asserts 0 ≤ numerator ≤ denominator, denominator > 0.
EventResult<PartialReversal> reverse_event_share(pqxx::transaction_base& txn, const program::ProgramVersion& program,
                                                 const std::string& event_id, ReversalShare share,
                                                 const std::string& reason, Timestamp now,
                                                 const ledger::Origin& origin);

// floor(amount × share), computed without overflow (amount ≥ 0).
std::int64_t share_of(std::int64_t amount, ReversalShare share);

}  // namespace loyalty::earning
