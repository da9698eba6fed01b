#include "membership/tiers.hpp"

#include <algorithm>

#include "ledger/database.hpp"

namespace loyalty::membership {
namespace {

const db::Statement select_levels{
    "tiers.select_levels", "SELECT track, level FROM member_tiers WHERE member_id = $1"};

}  // namespace

std::map<std::string, std::string> current_levels(pqxx::transaction_base& txn, const program::Program& program,
                                                  const std::string& member_id) {
  std::map<std::string, std::string> levels;
  for (const auto& track : program.tracks) levels[track.name] = track.levels.front().code;
  for (const auto& row : db::exec(txn, select_levels, member_id)) levels[row[0].c_str()] = row[1].c_str();
  return levels;
}

int earn_multiplier_pct(const program::Program& program, const std::map<std::string, std::string>& levels) {
  int best = 100;
  bool any = false;
  for (const auto& track : program.tracks) {
    const auto level = levels.find(track.name);
    if (level == levels.end()) continue;
    for (const auto& candidate : track.levels) {
      if (candidate.code != level->second) continue;
      best = any ? std::max(best, candidate.earn_multiplier_pct) : candidate.earn_multiplier_pct;
      any = true;
    }
  }
  return best;
}

}  // namespace loyalty::membership
