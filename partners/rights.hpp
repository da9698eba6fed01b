// Rights: what a partner grants our members by tier ("one free latte a month for gold").
// A right's min_levels is met when any track it names is at or above the level given; its
// quota is per member and per calendar period (UTC day, month or year). A conditional upsert
// on the usage row keeps claims under the quota however many arrive at once.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "partners/refusal.hpp"
#include "program/program.hpp"

namespace loyalty::partners {

struct AvailableRight {
  std::string code;
  std::string title;
  std::int64_t remaining = 0;
};

struct RightClaim {
  std::string claim_id;
  std::string code;
  std::string partner_member_ref;
  std::int64_t remaining = 0;  // after this claim
  std::string period_start;
  std::string settlement_date;
  Timestamp created_at;
};

bool levels_meet(const program::Program& program, const program::PartnerRight& right,
                 const std::map<std::string, std::string>& levels);
std::string period_start(const std::string& period, Timestamp now);  // "2026-11-01" for a month

// The rights the member behind `ref` may claim now (eligible, quota left).
Result<std::vector<AvailableRight>> rights_of_member(pqxx::transaction_base& txn, const program::Program* program,
                                                     const program::Partner& partner, const std::string& ref,
                                                     Timestamp now);

Result<std::pair<RightClaim, Replay>> claim_right(pqxx::transaction_base& txn, const program::Program* program,
                                                  const program::Partner& partner, const std::string& code,
                                                  const std::string& claim_id, const std::string& ref, Timestamp now);

}  // namespace loyalty::partners
