// Events in a batch: every event of a batch is decided in memory against state prefetched for
// the whole batch in a few set-based reads, and written with multi-row statements — so the
// work of a batch does not grow with its size beyond its rows, and the work of one event does
// not grow with the member's history (caps and qualifying values come from the per-day rows
// of migrations/0010, not from the member's past events).
//
//   prepare  each event command registers its event (EventBatch::want);
//   prefetch once, before the first decision: which event ids exist, the members' qualifying
//            days in the tracks' windows, and the day counts of the capped rules the events
//            may meet; the tier layer reads (and locks) its rows for the same members;
//   decide   record() per event, in arrival order; later events see earlier ones (caps,
//            qualifying values, levels, balances);
//   write    events and awards, after the ledger's entries and lots; the tier layer writes
//            what it decided after them.
//
// Tiers sit above earning: an event asks the tier layer (EventTiers, implemented by
// membership/) for its member's earn multiplier, and tells it the member's qualifying values
// after its awards. Earning never reads or writes tier rows.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "earning/events.hpp"
#include "earning/rules.hpp"
#include "ledger/batch.hpp"
#include "program/store.hpp"

namespace loyalty::earning {

// A track's qualifying value for the event's member, as the batch knows it now (the events
// decided so far counted).
using QualifyingValue = std::function<std::int64_t(const program::Track&)>;

// The tier layer as events meet it.
class EventTiers {
 public:
  virtual ~EventTiers() = default;
  // Once per batch, before its first decision: the members the batch's events touch, sorted.
  // What the tiers read goes into `reads`, sent with the events' own prefetch in one round trip
  // and run after it.
  virtual void prefetch(const std::vector<std::string>& member_ids, db::ReadBatch& reads) = 0;
  // The multiplier (percent) the member's levels give base awards.
  virtual int earn_multiplier_pct(const std::string& member_id) const = 0;
  // After an event's awards: the levels the member's qualifying values reach now.
  virtual std::vector<TierChange> after_event(const Event& event, const QualifyingValue& value, Timestamp now) = 0;
  // What an event recorded before this batch changed (a replay answers it again).
  virtual std::vector<TierChange> changes_of(const std::string& event_id) = 0;
};

// An event recorded by the batch; its awards' entry id is known once the batch is written.
struct RecordedEvent {
  EventOutcome outcome;
  std::optional<ledger::EntryIndex> entry;  // absent when nothing was awarded (or a replay)
};

// The outcome with entry ids, once the batch is written.
EventOutcome outcome_of(const ledger::Batch& batch, const RecordedEvent& recorded);

class EventBatch : public ledger::Batch::Extension {
 public:
  // The batch's event state for the program in force (one program per batch), with the tier
  // layer its events meet (membership::events_of wires it).
  static EventBatch& of(ledger::Batch& batch, std::shared_ptr<const program::ProgramVersion> program,
                        EventTiers& tiers);

  EventBatch(ledger::Batch& batch, std::shared_ptr<const program::ProgramVersion> program, EventTiers& tiers);

  void want(const Event& event);
  // The request hash of an event recorded before this batch, if it was (prefetched for every
  // wanted event at the first call of this or record()): a bulk import skips such rows without
  // reading their outcome.
  std::optional<std::string> recorded_before(const std::string& event_id, Timestamp now);
  // `history_only` (loyaltyctl import events --history-only): the event is recorded and what
  // its rules would award counts in tier windows and caps (history_awards, migrations/0015),
  // but nothing is credited and no campaign budget is spent.
  EventResult<RecordedEvent> record(const Event& event, Timestamp now, const EventBounds& bounds,
                                    const ledger::Origin& origin, bool history_only = false);
  // What record() would refuse for this event, without recording it or reserving any budget;
  // nullopt when it would record it (or replay it). A decision that must change nothing when
  // the event is refused asks this before it changes anything else.
  std::optional<EventRefusal> refusal(const Event& event, Timestamp now, const EventBounds& bounds);
  // Adds what the decisions of the events wanted so far read to `reads` (ledger::Batch's
  // prefetch phase): which event ids exist, the members' days and their tier rows, locked.
  // Decisions made at `now` or later find what they need in it.
  void prefetch(db::ReadBatch& reads, Timestamp now) override;
  void write() override;

 private:
  struct MemberDays {
    std::map<std::pair<std::chrono::sys_days, std::string>, std::int64_t> spend;  // (day, type) → cents
    std::map<std::chrono::sys_days, std::int64_t> growth;
    std::map<std::pair<std::string, std::chrono::sys_days>, std::int64_t> rule_events;  // (rule, day) → events
  };
  struct EventRow {
    Event event;
    Timestamp received_at;
    std::optional<ledger::EntryIndex> entry;
  };
  struct AwardRow {
    std::string event_id;
    int position = 0;
    std::string member_id;
    PlannedAward award;
    Timestamp occurred_at;
  };

  void prefetch(Timestamp now);
  void use_prefetched(const pqxx::result& rows);
  std::int64_t rule_events_in(const MemberDays& days, const std::string& rule_id, Timestamp from, Timestamp to) const;
  std::int64_t qualifying_value(const MemberDays& days, const program::Track& track, Timestamp as_of) const;
  // `dry_run`: only what it would refuse; no budget is reserved.
  EventResult<std::vector<PlannedAward>> plan(const Event& event, const MemberDays& days, Timestamp now,
                                              bool history_only, bool dry_run);
  void credit(const Event& event, const std::vector<PlannedAward>& planned, ledger::MemberAccounts& member,
              Timestamp now, const ledger::Origin& origin, RecordedEvent& recorded);
  void count(const Event& event, const std::vector<PlannedAward>& planned, MemberDays& days);
  ledger::EntryDraft earn_entry(const Event& event, const std::vector<PlannedAward>& planned,
                                const ledger::MemberAccounts& member, Timestamp now, const ledger::Origin& origin);

  ledger::Batch& batch_;
  std::shared_ptr<const program::ProgramVersion> program_;
  EventTiers& tiers_;
  std::vector<std::string> qualifying_types_;  // of the program, for spend tracks
  std::vector<Event> wanted_;
  bool prefetched_ = false;
  std::map<std::string, std::string> existing_;         // event id → request_sha256 (committed)
  std::map<std::string, RecordedEvent> recorded_;       // event id → recorded by this batch
  std::map<std::string, std::string> recorded_sha256_;  // event id → its request's hash
  std::map<std::string, MemberDays> members_;
  std::vector<EventRow> events_;
  std::vector<AwardRow> awards_;
  std::vector<AwardRow> history_awards_;
};

}  // namespace loyalty::earning
