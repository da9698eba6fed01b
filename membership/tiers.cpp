#include "membership/tiers.hpp"

#include <algorithm>

#include "earning/qualifying.hpp"
#include "platform/assert.hpp"
#include "platform/database.hpp"
#include "program/store.hpp"

namespace loyalty::membership {
namespace {

const db::Statement select_levels{"tiers.select_levels", "SELECT track, level FROM member_tiers WHERE member_id = $1"};

const db::Statement lock_tier{"tiers.lock",
                              "SELECT level, guaranteed_until, floor_level, floor_until FROM member_tiers"
                              " WHERE member_id = $1 AND track = $2 FOR UPDATE"};

const db::Statement select_tier{
    "tiers.select",
    "SELECT level, guaranteed_until, floor_level, floor_until FROM member_tiers WHERE member_id = $1 AND track = $2"};

const db::Statement set_level{
    "tiers.set_level",
    "INSERT INTO member_tiers (member_id, track, level, reached_at, guaranteed_until, evaluated_through)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
    " ON CONFLICT (member_id, track) DO UPDATE SET level = EXCLUDED.level, reached_at = EXCLUDED.reached_at,"
    " guaranteed_until = EXCLUDED.guaranteed_until, evaluated_through = EXCLUDED.evaluated_through"};

const db::Statement set_floor{
    "tiers.set_floor",
    "UPDATE member_tiers SET floor_level = $3, floor_until = $4 WHERE member_id = $1 AND track = $2"};

const db::Statement insert_change{
    "tiers.insert_change",
    "INSERT INTO tier_changes (member_id, track, from_level, to_level, reason, qualifying_value, event_id, job,"
    " actor, note, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"};

const db::Statement select_event_changes{
    "tiers.select_event_changes",
    "SELECT track, from_level, to_level FROM tier_changes WHERE event_id = $1 ORDER BY change_id"};

const db::Statement select_history{
    "tiers.select_history",
    "SELECT from_level, to_level, reason, qualifying_value, event_id, job, actor, note, changed_at"
    " FROM tier_changes WHERE member_id = $1 AND track = $2 ORDER BY change_id DESC LIMIT 50"};

// Rows after the run's cursor (member_id, track) that are due: past their guarantee and not
// judged for this moment yet. Walked in primary key order, so a run reads each row once.
// No SKIP LOCKED: a row skipped behind the cursor would not be judged in this run.
const db::Statement due_members{"tiers.due",
                                "SELECT member_id, track, level FROM member_tiers WHERE (member_id, track) > ($3, $4)"
                                " AND guaranteed_until <= $1 AND (evaluated_through IS NULL OR evaluated_through < $1)"
                                " ORDER BY member_id, track LIMIT $2 FOR UPDATE"};

// Every judged row at once: its level (new or the same), a new guarantee where it changed.
const db::Statement apply_evaluation{
    "tiers.apply_evaluation",
    "UPDATE member_tiers t SET evaluated_through = $1,"
    " level = x.level,"
    " reached_at = CASE WHEN x.changed THEN $1 ELSE t.reached_at END,"
    " guaranteed_until = CASE WHEN x.changed THEN x.guaranteed_until ELSE t.guaranteed_until END"
    " FROM unnest($2::text[], $3::text[], $4::text[], $5::boolean[], $6::timestamptz[])"
    "  AS x(member_id, track, level, changed, guaranteed_until)"
    " WHERE t.member_id = x.member_id AND t.track = x.track"};

const db::Statement insert_changes{
    "tiers.insert_changes",
    "INSERT INTO tier_changes (member_id, track, from_level, to_level, reason, qualifying_value, job, changed_at)"
    " SELECT x.member_id, x.track, x.from_level, x.to_level, x.reason, x.value, $1, $2"
    " FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[])"
    "  AS x(member_id, track, from_level, to_level, reason, value)"};

}  // namespace

int index_of(const program::Track& track, const std::string& level) {
  for (std::size_t i = 0; i < track.levels.size(); ++i) {
    if (track.levels[i].code == level) return static_cast<int>(i);
  }
  return 0;  // a level the program no longer has counts as the bottom
}

int index_for_value(const program::Track& track, std::int64_t value) {
  int index = 0;
  for (std::size_t i = 0; i < track.levels.size(); ++i) {
    if (value >= track.levels[i].threshold) index = static_cast<int>(i);
  }
  return index;
}

namespace {

struct Change {
  std::string track;
  std::string from;
  std::string to;
  std::string reason;
  std::int64_t value = 0;
  std::optional<std::string> event_id;
  std::optional<std::string> job;
  std::optional<std::string> actor;
  std::optional<std::string> note;
};

void record_change(pqxx::transaction_base& txn, const std::string& member_id, const Change& change, Timestamp at) {
  db::exec(txn, insert_change, member_id, change.track, change.from, change.to, change.reason, change.value,
           db::nullable(change.event_id), db::nullable(change.job), db::nullable(change.actor),
           db::nullable(change.note), db::sql_time(at));
}

// Level code per track: the member's rows as `statement` reads them (track, level), the bottom
// level for a track without one.
std::map<std::string, std::string> levels_of(pqxx::transaction_base& txn, const program::Program& program,
                                             const std::string& member_id, const db::Statement& statement) {
  std::map<std::string, std::string> levels;
  for (const auto& track : program.tracks) levels[track.name] = track.levels.front().code;
  for (const auto& row : db::exec(txn, statement, member_id)) levels[row[0].c_str()] = row[1].c_str();
  return levels;
}

// One due row and what the evaluation decided for it.
struct Judged {
  std::string member_id;
  const program::Track* track = nullptr;
  int level = 0;
  int target = 0;
  std::int64_t value = 0;
};

ledger::StepResult evaluate_chunk(pqxx::transaction_base& txn, ledger::JobChunk& chunk) {
  const auto current = program::current_program(txn);
  if (!current) return {0, true};
  const auto space = chunk.cursor.find(' ');
  const std::string after_member = space == std::string::npos ? "" : chunk.cursor.substr(0, space);
  const std::string after_track = space == std::string::npos ? "" : chunk.cursor.substr(space + 1);
  const auto rows = db::exec(txn, due_members, db::sql_time(chunk.as_of), chunk.limit, after_member, after_track);
  if (rows.empty()) return {0, true};
  chunk.cursor = std::string(rows.back()[0].c_str()) + " " + rows.back()[1].c_str();

  std::vector<Judged> judged;
  std::map<const program::Track*, std::vector<std::string>> members_by_track;
  for (const auto& row : rows) {
    const program::Track* track = current->program.track(row[1].c_str());
    if (!track) continue;  // a track the program no longer has: left as it is
    judged.push_back({row[0].c_str(), track, index_of(*track, row[2].c_str())});
    members_by_track[track].push_back(row[0].c_str());
  }
  std::map<const program::Track*, std::map<std::string, std::int64_t>> values;
  for (const auto& [track, members] : members_by_track) {
    values[track] = earning::qualifying_values(txn, current->program, *track, members, chunk.as_of);
  }

  std::vector<std::string> members, tracks, levels, changed, guarantees;
  std::vector<const Judged*> changes;
  for (Judged& row : judged) {
    const auto& track = *row.track;
    const auto found = values[row.track].find(row.member_id);
    row.value = found == values[row.track].end() ? 0 : found->second;
    const int reached = index_for_value(track, row.value);
    row.target = row.level;
    if (reached > row.level) row.target = reached;  // an upgrade the events did not trigger
    if (reached < row.level)
      row.target = std::max(reached, row.level - track.max_levels_per_evaluation);  // soft landing
    members.push_back(row.member_id);
    tracks.push_back(track.name);
    levels.push_back(track.levels[row.target].code);
    changed.push_back(row.target != row.level ? "t" : "f");
    guarantees.push_back(db::sql_time(chunk.as_of + std::chrono::days{track.guaranteed_days}));
    if (row.target != row.level) changes.push_back(&row);
  }
  db::exec(txn, apply_evaluation, db::sql_time(chunk.as_of), db::array_literal(members), db::array_literal(tracks),
           db::array_literal(levels), db::array_literal(changed), db::array_literal(guarantees));
  if (!changes.empty()) {
    const auto column = [&](auto format) { return db::array_literal(changes, format); };
    db::exec(txn, insert_changes, db::nullable(chunk.origin.actor), db::sql_time(chunk.as_of),
             column([](const Judged* c) { return c->member_id; }),
             column([](const Judged* c) { return c->track->name; }),
             column([](const Judged* c) { return c->track->levels[c->level].code; }),
             column([](const Judged* c) { return c->track->levels[c->target].code; }),
             column([](const Judged* c) { return std::string(c->target > c->level ? "upgrade" : "downgrade"); }),
             column([](const Judged* c) { return std::to_string(c->value); }));
  }
  const auto count = static_cast<std::int64_t>(rows.size());
  return {count, count < chunk.limit};
}

}  // namespace

std::map<std::string, std::string> current_levels(pqxx::transaction_base& txn, const program::Program& program,
                                                  const std::string& member_id) {
  return levels_of(txn, program, member_id, select_levels);
}

int earn_multiplier_pct(const program::Program& program, const std::map<std::string, std::string>& levels) {
  int best = 100;
  bool any = false;
  for (const auto& track : program.tracks) {
    const auto level = levels.find(track.name);
    if (level == levels.end()) continue;
    const int pct = track.levels[index_of(track, level->second)].earn_multiplier_pct;
    best = any ? std::max(best, pct) : pct;
    any = true;
  }
  return best;
}

Window window_of(const program::Track& track, Timestamp as_of) {
  return {std::chrono::time_point_cast<std::chrono::microseconds>(earning::day_window(track, as_of).from), as_of};
}

std::vector<earning::TierChange> event_tier_changes(pqxx::transaction_base& txn, const std::string& event_id) {
  std::vector<earning::TierChange> changes;
  for (const auto& row : db::exec(txn, select_event_changes, event_id)) {
    changes.push_back({row[0].c_str(), row[1].c_str(), row[2].c_str()});
  }
  return changes;
}

std::vector<TrackStatus> tier_status(pqxx::transaction_base& txn, const program::Program& program,
                                     const std::string& member_id, Timestamp now) {
  std::vector<TrackStatus> statuses;
  for (const auto& track : program.tracks) {
    TrackStatus status;
    status.track = track.name;
    status.level = track.levels.front().code;
    const auto rows = db::exec(txn, select_tier, member_id, track.name);
    if (!rows.empty()) {
      status.level = rows[0][0].c_str();
      status.guaranteed_until = db::time_of(rows[0][1]);
      status.floor_level = db::optional_text(rows[0][2]);
      if (!rows[0][3].is_null()) status.floor_until = db::time_of(rows[0][3]);
    }
    status.qualifying_value = earning::qualifying_value(txn, program, track, member_id, now);
    status.window = window_of(track, now);
    status.window_kind = track.window.kind;
    status.window_days = track.window.days;
    const int level = index_of(track, status.level);
    if (level + 1 < static_cast<int>(track.levels.size())) {
      status.next_level = track.levels[level + 1];
      status.missing = std::max<std::int64_t>(0, status.next_level->threshold - status.qualifying_value);
    }
    for (const auto& row : db::exec(txn, select_history, member_id, track.name)) {
      status.history.push_back({row[0].c_str(), row[1].c_str(), row[2].c_str(), row[3].as<std::int64_t>(),
                                db::optional_text(row[4]), db::optional_text(row[5]), db::optional_text(row[6]),
                                db::optional_text(row[7]), db::time_of(row[8])});
    }
    statuses.push_back(std::move(status));
  }
  return statuses;
}

std::optional<OverrideRefusal> override_level(pqxx::transaction_base& txn, const program::Program& program,
                                              const std::string& member_id, const std::string& track_name,
                                              const std::string& level, Timestamp until, const std::string& reason,
                                              const std::string& actor, Timestamp now) {
  const program::Track* track = program.track(track_name);
  if (!track) return OverrideRefusal::unknown_track;
  const auto found = std::find_if(track->levels.begin(), track->levels.end(),
                                  [&](const program::Level& l) { return l.code == level; });
  if (found == track->levels.end()) return OverrideRefusal::unknown_level;
  if (until <= now) return OverrideRefusal::expiry_not_in_future;
  const auto rows = db::exec(txn, lock_tier, member_id, track_name);
  const std::string from = rows.empty() ? track->levels.front().code : rows[0][0].c_str();
  // The override is also the level's guarantee: nothing lowers it before `until`.
  db::exec(txn, set_level, member_id, track_name, level, db::sql_time(now), db::sql_time(until), db::sql_time(now));
  db::exec(txn, set_floor, member_id, track_name, level, db::sql_time(until));
  Change change{track_name, from, level, "override", earning::qualifying_value(txn, program, *track, member_id, now)};
  change.actor = actor;
  change.note = reason;
  record_change(txn, member_id, change, now);
  return std::nullopt;
}

ledger::JobDefinition evaluate_tiers_job() {
  return {"evaluate-tiers", evaluate_chunk};
}

}  // namespace loyalty::membership
