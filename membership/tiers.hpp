// Tier tracks: a member sits on two ladders at once — spend (qualifying cash spend) and
// engagement (GROWTH earned) — each over its own window. This header is what the rest of
// the service asks of the tracks: a member's levels, and the earn multiplier they give.
#pragma once

#include <pqxx/pqxx>

#include <map>
#include <string>

#include "program/program.hpp"

namespace loyalty::membership {

// Level code per track ("spend" → "gold"); a member never evaluated is at each track's
// bottom level.
std::map<std::string, std::string> current_levels(pqxx::transaction_base& txn, const program::Program& program,
                                                  const std::string& member_id);

// The earn multiplier (percent) of a member's levels under the program's policy (max).
int earn_multiplier_pct(const program::Program& program, const std::map<std::string, std::string>& levels);

}  // namespace loyalty::membership
