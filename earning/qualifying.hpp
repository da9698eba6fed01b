// Qualifying values: what a member's events count toward a tier track, answered by the layer
// that owns events. Tiers (membership/) sit above and decide levels from these values.
//
// A value is a sum over the window's UTC days of per-day rows the database keeps in step with
// events, awards and refunds (migrations/0010), so its cost does not grow with the member's
// history: spend is the cash of the member's standing events whose type a qualifying rule
// earns on; engagement is the GROWTH the member's standing events earned.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "platform/time.hpp"
#include "program/program.hpp"

namespace loyalty::earning {

// The UTC days a track's value counts at `as_of`, both inclusive: a rolling window of N days
// is the day of `as_of` and the N - 1 days before it; a calendar year its days so far.
struct DayWindow {
  std::chrono::sys_days from;
  std::chrono::sys_days to;
};
DayWindow day_window(const program::Track& track, Timestamp as_of);

// The event types whose cash counts for a spend track (the types of qualifying rules).
std::vector<std::string> qualifying_types(const program::Program& program);

// Per member, the track's qualifying value at `as_of` (members with nothing in the window are
// absent: their value is 0). One statement for all of them.
std::map<std::string, std::int64_t> qualifying_values(pqxx::transaction_base& txn, const program::Program& program,
                                                      const program::Track& track,
                                                      const std::vector<std::string>& member_ids, Timestamp as_of);

std::int64_t qualifying_value(pqxx::transaction_base& txn, const program::Program& program, const program::Track& track,
                              const std::string& member_id, Timestamp as_of);

}  // namespace loyalty::earning
