// Events: what members did (a purchase, a check-in, a referral...), and what the program's
// rules award for them. An event is recorded once by its event_id: a replay answers the
// first outcome and awards nothing again, also when replays race each other.
//
// One event becomes at most one journal entry (kind "earn"): each award debits the funding
// account of its rule or campaign — so finance sees what every campaign cost — and credits
// the member's available part, or the pending part until the return window passes. POINTS
// credits become lots expiring per the program.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ledger/journal.hpp"
#include "platform/time.hpp"
#include "program/store.hpp"

namespace loyalty::earning {

// How far from `now` an event's occurred_at may be. Live events use the program's window
// (program.event_window: 90 days back and 5 minutes ahead unless the program says otherwise);
// imported history takes any past instant the service accepts.
struct EventBounds {
  std::optional<std::chrono::seconds> past_max = std::chrono::hours{24 * 90};  // older events are refused
  std::chrono::seconds future_max{5 * 60};                                     // clock skew allowed ahead of us
};
EventBounds live_bounds(const program::Program& program);
EventBounds history_bounds(const program::Program& program);

struct Event {
  std::string event_id;
  std::string member_id;
  std::string type;
  Timestamp occurred_at;
  std::string attributes_json = "{}";
  std::optional<std::int64_t> amount_cents;
  std::string request_sha256;  // hex; tells a replay from a different event with the same id
};

struct Award {
  std::string rule_id;
  std::optional<std::string> campaign_id;
  std::string asset;
  std::int64_t amount = 0;
  std::int64_t entry_id = 0;
  std::optional<Timestamp> pending_until;
};

struct TierChange {
  std::string track;
  std::string from_level;
  std::string to_level;
};

struct EventOutcome {
  std::string event_id;
  std::string member_id;
  std::vector<Award> awards;
  std::vector<TierChange> tier_changes;
  bool replayed = false;
  std::optional<Timestamp> reversed_at;
};

enum class EventRefusal {
  member_not_found,
  event_id_reused,  // the same event_id with different content
  occurred_at_out_of_range,
  amount_cents_required,  // a rule awards per amount and the event has no amount_cents
  amount_overflow,
  event_not_found,
  partially_clawed_back,  // refunds already clawed back part of it: refund the rest instead
};

template <typename T>
using EventResult = std::variant<T, EventRefusal>;

// Reads an event and its awards. The tier changes it made are the tier layer's to answer
// (membership/ sits above earning).
EventResult<EventOutcome> find_event(pqxx::transaction_base& txn, const std::string& event_id);

struct Reversal {
  std::string event_id;
  std::optional<std::int64_t> entry_id;  // absent when the event had awarded nothing
  // Per asset, what was clawed back and what could not be (cap_at_balance only).
  std::vector<std::pair<std::string, std::int64_t>> clawed_back;
  std::vector<std::pair<std::string, std::int64_t>> written_off;
  Timestamp reversed_at;
  bool replayed = false;
};

// Claws back every award of an event, exactly once. Points already spent follow the
// program's clawback policy: allow_negative leaves a visible debt that later earnings repay
// first; cap_at_balance takes what is there and writes the rest off.
EventResult<Reversal> reverse_event(pqxx::transaction_base& txn, const program::ProgramVersion& program,
                                    const std::string& event_id, const std::string& reason, Timestamp now,
                                    const ledger::Origin& origin);

}  // namespace loyalty::earning
