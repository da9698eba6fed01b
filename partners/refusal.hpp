// Refusals of the partner capability: the closed set of reasons a partner request, or an
// admin's request about partners, is turned down. Like ledger::Refusal they are answers,
// not exceptions, and become HTTP problems in api/ only (partner_routes.cpp).
#pragma once

#include <utility>
#include <variant>

#include "ledger/result.hpp"
#include "platform/assert.hpp"

namespace loyalty::partners {

enum class Refusal {
  partner_not_found,
  partner_defined_by_program,  // POST /v1/partners for an id the program document defines
  partner_exists_differently,  // same id, another definition
  asset_taken,                 // the partner's asset code is another asset already
  right_not_found,
  right_exists_differently,
  level_unknown,  // min_levels names a level the track does not have
  key_not_found,
  public_key_invalid,
  member_not_found,        // an unknown member id (admin side)
  member_ref_unknown,      // a partner's ref that is not linked to any member
  link_conflict,           // the ref or the member is linked differently already
  not_linked,              // an outbound exchange for a member without a link to the partner
  link_not_confirmed,      // the link is pending: the partner has not redeemed its link code
  link_code_expired,       // the pending link's code is past its expiry
  link_code_locked,        // too many wrong codes: the code is void
  link_already_confirmed,  // a confirmation, with another code, of a link confirmed already
  units_not_whole,         // points × rate / 1000 is not a whole number of units
  amount_overflow,
  insufficient_points,
  limit_exceeded,  // a daily limit, or a right's quota
  not_eligible,    // the member's levels do not meet the right's min_levels
  id_reused,       // exchange_id / claim_id with a different request
  statement_not_found,
  statement_not_closed,
  statement_disputed,
};

template <typename T>
using Result = ledger::Result<T, Refusal>;

// Whether a write answered afresh or replayed the first answer to the same id.
enum class Replay { fresh, replayed };

}  // namespace loyalty::partners
