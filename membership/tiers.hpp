// Tier tracks: a member sits on two ladders at once — spend (qualifying cash spend) and
// engagement (GROWTH earned) — each over its own window.
//
// Tiers sit above earning: the layer that owns events answers qualifying values
// (earning/qualifying.hpp), and this one decides levels from them. Upgrades are immediate
// (after an event's awards, membership/tier_batch.hpp); downgrades wait for the level's
// guaranteed period and then fall at most max_levels_per_evaluation levels per evaluate-tiers
// run. An administrator's override sets a level that is also a floor until it expires.
#pragma once

#include <pqxx/pqxx>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "earning/events.hpp"
#include "ledger/jobs.hpp"
#include "platform/time.hpp"
#include "program/program.hpp"

namespace loyalty::membership {

// Level code per track ("spend" → "gold"); a member never evaluated is at each track's
// bottom level.
std::map<std::string, std::string> current_levels(pqxx::transaction_base& txn, const program::Program& program,
                                                  const std::string& member_id);

// The earn multiplier (percent) of a member's levels under the program's policy (max).
int earn_multiplier_pct(const program::Program& program, const std::map<std::string, std::string>& levels);

struct LevelChange {
  std::string track;
  std::string from_level;
  std::string to_level;
};

struct Window {
  Timestamp from;  // inclusive
  Timestamp to;    // inclusive: the moment the value is computed for
};
Window window_of(const program::Track& track, Timestamp as_of);

// The level index a value reaches on a track, and the index of a level code (0 when the
// program no longer has it).
int index_for_value(const program::Track& track, std::int64_t value);
int index_of(const program::Track& track, const std::string& level);

struct HistoryItem {
  std::string from_level;
  std::string to_level;
  std::string reason;  // upgrade, downgrade, override
  std::int64_t qualifying_value = 0;
  std::optional<std::string> event_id;
  std::optional<std::string> job;
  std::optional<std::string> actor;
  std::optional<std::string> note;
  Timestamp changed_at;
};

struct TrackStatus {
  std::string track;
  std::string level;
  std::int64_t qualifying_value = 0;
  Window window;
  std::string window_kind;
  int window_days = 0;
  std::optional<program::Level> next_level;
  std::int64_t missing = 0;  // to the next level
  std::optional<Timestamp> guaranteed_until;
  std::optional<std::string> floor_level;
  std::optional<Timestamp> floor_until;
  std::vector<HistoryItem> history;  // newest first
};

std::vector<TrackStatus> tier_status(pqxx::transaction_base& txn, const program::Program& program,
                                     const std::string& member_id, Timestamp now);

enum class OverrideRefusal { unknown_track, unknown_level, expiry_not_in_future };

// The tier changes an event made, in the order it made them.
std::vector<earning::TierChange> event_tier_changes(pqxx::transaction_base& txn, const std::string& event_id);

// Sets a member's level on a track, which is also a floor until `until`.
std::optional<OverrideRefusal> override_level(pqxx::transaction_base& txn, const program::Program& program,
                                              const std::string& member_id, const std::string& track,
                                              const std::string& level, Timestamp until, const std::string& reason,
                                              const std::string& actor, Timestamp now);

// The evaluate-tiers job: downgrades (one step at a time) members whose guaranteed period
// has passed, and upgrades any whose value reaches higher.
ledger::JobDefinition evaluate_tiers_job();

}  // namespace loyalty::membership
