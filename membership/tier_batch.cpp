#include "membership/tier_batch.hpp"

#include "membership/tiers.hpp"
#include "platform/assert.hpp"
#include "platform/database.hpp"

namespace loyalty::membership {
namespace {

const db::Statement lock_levels{"tier_batch.lock",
                                "SELECT member_id, track, level FROM member_tiers WHERE member_id = ANY($1::text[])"
                                " ORDER BY member_id, track FOR UPDATE"};

const db::Statement upsert_tiers{
    "tier_batch.upsert_tiers",
    "INSERT INTO member_tiers (member_id, track, level, reached_at, guaranteed_until, evaluated_through)"
    " SELECT m, t, l, a, g, a FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])"
    "  AS x(m, t, l, a, g)"
    " ON CONFLICT (member_id, track) DO UPDATE SET level = EXCLUDED.level, reached_at = EXCLUDED.reached_at,"
    " guaranteed_until = EXCLUDED.guaranteed_until, evaluated_through = EXCLUDED.evaluated_through"};

const db::Statement insert_changes{
    "tier_batch.insert_changes",
    "INSERT INTO tier_changes (member_id, track, from_level, to_level, reason, qualifying_value, event_id, changed_at)"
    " SELECT m, t, f, o, 'upgrade', v, e, a FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],"
    " $6::text[], $7::timestamptz[]) WITH ORDINALITY AS x(m, t, f, o, v, e, a, position) ORDER BY position"};

// Every track at its bottom level: a member without tier rows.
std::map<std::string, std::string> bottom_levels(const program::Program& program) {
  std::map<std::string, std::string> levels;
  for (const auto& track : program.tracks) levels[track.name] = track.levels.front().code;
  return levels;
}

}  // namespace

TierBatch& TierBatch::of(ledger::Batch& batch, std::shared_ptr<const program::ProgramVersion> program) {
  return batch.extension<TierBatch>("membership.tiers",
                                    [&] { return std::make_unique<TierBatch>(batch, std::move(program)); });
}

TierBatch::TierBatch(ledger::Batch& batch, std::shared_ptr<const program::ProgramVersion> program)
    : batch_(batch), program_(std::move(program)) {
  LOYALTY_ASSERT(program_ != nullptr, "tiers without a program in force");
}

std::map<std::string, std::string>& TierBatch::levels_of(const std::string& member_id) {
  auto found = levels_.find(member_id);
  if (found == levels_.end()) found = levels_.emplace(member_id, bottom_levels(program_->program)).first;
  return found->second;
}

void TierBatch::prefetch(const std::vector<std::string>& member_ids, db::ReadBatch& reads) {
  if (member_ids.empty()) return;
  for (const auto& id : member_ids) levels_of(id);
  reads.add(
      lock_levels,
      [this](const pqxx::result& rows) {
        for (const auto& row : rows) levels_of(row[0].c_str())[row[1].c_str()] = row[2].c_str();
      },
      db::array_literal(member_ids));
}

int TierBatch::earn_multiplier_pct(const std::string& member_id) const {
  const auto found = levels_.find(member_id);
  return membership::earn_multiplier_pct(program_->program,
                                         found != levels_.end() ? found->second : bottom_levels(program_->program));
}

std::vector<earning::TierChange> TierBatch::after_event(const earning::Event& event,
                                                        const earning::QualifyingValue& value, Timestamp now) {
  std::vector<earning::TierChange> changes;
  auto& levels = levels_of(event.member_id);
  for (const auto& track : program_->program.tracks) {
    const int level = index_of(track, levels[track.name]);
    const std::int64_t reached_value = value(track);
    const int reached = index_for_value(track, reached_value);
    if (reached <= level) continue;
    const std::string from = track.levels[level].code, to = track.levels[reached].code;
    tiers_.push_back({event.member_id, track.name, to, now, track.guaranteed_days});
    changes_.push_back({event.member_id, track.name, from, to, reached_value, event.event_id, now});
    levels[track.name] = to;
    changes.push_back({track.name, from, to});
  }
  return changes;
}

std::vector<earning::TierChange> TierBatch::changes_of(const std::string& event_id) {
  return event_tier_changes(batch_.transaction(), event_id);
}

void TierBatch::write() {
  if (tiers_.empty()) return;
  db::WriteBuffer& writes = batch_.writes();
  // A track raised twice in the batch is written once, at its last level.
  std::map<std::pair<std::string, std::string>, const TierRow*> last;
  for (const TierRow& row : tiers_) last[{row.member_id, row.track}] = &row;
  std::vector<const TierRow*> rows;
  for (const auto& [key, row] : last) rows.push_back(row);
  const auto column = [&](auto format) { return db::array_literal(rows, format); };
  writes.add(upsert_tiers, column([](const TierRow* r) { return r->member_id; }),
             column([](const TierRow* r) { return r->track; }), column([](const TierRow* r) { return r->level; }),
             column([](const TierRow* r) { return db::sql_time(r->at); }),
             column([](const TierRow* r) { return db::sql_time(r->at + std::chrono::days{r->guaranteed_days}); }));
  // Each upgrade is one change: the insert also reports them (the outbox trigger, 0014).
  const auto changes = [&](auto format) { return db::array_literal(changes_, format); };
  writes.add(insert_changes, changes([](const ChangeRow& r) { return r.member_id; }),
             changes([](const ChangeRow& r) { return r.track; }), changes([](const ChangeRow& r) { return r.from; }),
             changes([](const ChangeRow& r) { return r.to; }),
             changes([](const ChangeRow& r) { return std::to_string(r.value); }),
             changes([](const ChangeRow& r) { return r.event_id; }),
             changes([](const ChangeRow& r) { return db::sql_time(r.at); }));
}

earning::EventBatch& events_of(ledger::Batch& batch, std::shared_ptr<const program::ProgramVersion> program) {
  TierBatch& tiers = TierBatch::of(batch, program);
  return earning::EventBatch::of(batch, std::move(program), tiers);
}

}  // namespace loyalty::membership
