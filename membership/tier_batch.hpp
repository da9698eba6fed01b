// Tiers in a batch: the levels of the members the batch's events touch, locked and read once,
// raised in memory as events count toward them, and written with the batch.
//
//   prefetch when the batch's events prefetch (earning calls prefetch()): the members' tier
//            rows, FOR UPDATE, after the accounts in the global lock order (ledger/batch.hpp),
//            in the same round trip as the events' own prefetch (db::ReadBatch);
//   decide   earn_multiplier_pct() before an event's awards, after_event() after them: a
//            level the member's qualifying values now reach is taken at once (an upgrade);
//   write    the tracks raised (once each, at their last level) and one tier change per
//            upgrade, after the events they refer to.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "earning/event_batch.hpp"
#include "ledger/batch.hpp"
#include "program/store.hpp"

namespace loyalty::membership {

class TierBatch : public ledger::Batch::Extension, public earning::EventTiers {
 public:
  static TierBatch& of(ledger::Batch& batch, std::shared_ptr<const program::ProgramVersion> program);

  TierBatch(ledger::Batch& batch, std::shared_ptr<const program::ProgramVersion> program);

  void prefetch(const std::vector<std::string>& member_ids, db::ReadBatch& reads) override;
  int earn_multiplier_pct(const std::string& member_id) const override;
  std::vector<earning::TierChange> after_event(const earning::Event& event, const earning::QualifyingValue& value,
                                               Timestamp now) override;
  std::vector<earning::TierChange> changes_of(const std::string& event_id) override;
  void write() override;
  int layer() const override { return 1; }  // after earning's events: a change refers to its event

 private:
  struct TierRow {
    std::string member_id;
    std::string track;
    std::string level;
    Timestamp at;
    int guaranteed_days = 0;
  };
  struct ChangeRow {
    std::string member_id;
    std::string track;
    std::string from, to;
    std::int64_t value = 0;
    std::string event_id;
    Timestamp at;
  };

  // Track → level code; every track of the program has one (its bottom level when the member
  // has no row).
  std::map<std::string, std::string>& levels_of(const std::string& member_id);

  ledger::Batch& batch_;
  std::shared_ptr<const program::ProgramVersion> program_;
  std::map<std::string, std::map<std::string, std::string>> levels_;  // member → track → level
  std::vector<TierRow> tiers_;
  std::vector<ChangeRow> changes_;
};

// The batch's events, earning at their members' levels and raising them: the one way to
// record events in a batch.
earning::EventBatch& events_of(ledger::Batch& batch, std::shared_ptr<const program::ProgramVersion> program);

}  // namespace loyalty::membership
