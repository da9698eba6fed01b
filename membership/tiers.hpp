// Tier tracks: a member sits on two ladders at once — spend (qualifying cash spend) and
// engagement (GROWTH earned) — each over its own window.
//
// Qualifying values are sums over the window's UTC days of per-day rows the database keeps in
// step with events, awards and refunds (migrations/0010), so their cost does not grow with
// the member's history: spend is the cash of the member's standing events whose type a
// qualifying rule earns on; engagement is the GROWTH the member's standing events earned. Upgrades are
// immediate (after an event's awards); downgrades wait for the level's guaranteed period
// and then fall at most max_levels_per_evaluation levels per evaluate-tiers run. An
// administrator's override sets a level that is also a floor until it expires.
#pragma once

#include <pqxx/pqxx>

#include <map>
#include <optional>
#include <string>
#include <vector>

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

// The UTC days a track's value counts at `as_of`, both inclusive: a rolling window of N days
// is the day of `as_of` and the N - 1 days before it; a calendar year its days so far.
struct DayWindow {
  std::chrono::sys_days from;
  std::chrono::sys_days to;
};
DayWindow day_window(const program::Track& track, Timestamp as_of);

// The event types whose cash counts for a spend track (the types of qualifying rules).
std::vector<std::string> qualifying_types(const program::Program& program);

// The level index a value reaches on a track, and the index of a level code (0 when the
// program no longer has it).
int index_for_value(const program::Track& track, std::int64_t value);
int index_of(const program::Track& track, const std::string& level);

// Per member, the track's qualifying value at `as_of` (members with nothing in the window are
// absent: their value is 0). One statement for all of them.
std::map<std::string, std::int64_t> qualifying_values(pqxx::transaction_base& txn, const program::Program& program,
                                                      const program::Track& track,
                                                      const std::vector<std::string>& member_ids, Timestamp as_of);

std::int64_t qualifying_value(pqxx::transaction_base& txn, const program::Program& program, const program::Track& track,
                              const std::string& member_id, Timestamp as_of);

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

// Sets a member's level on a track, which is also a floor until `until`.
std::optional<OverrideRefusal> override_level(pqxx::transaction_base& txn, const program::Program& program,
                                              const std::string& member_id, const std::string& track,
                                              const std::string& level, Timestamp until, const std::string& reason,
                                              const std::string& actor, Timestamp now);

// The evaluate-tiers job: downgrades (one step at a time) members whose guaranteed period
// has passed, and upgrades any whose value reaches higher.
ledger::JobDefinition evaluate_tiers_job();

}  // namespace loyalty::membership
