// The ledger's refusals by name (ledger/result.hpp).
#include "ledger/result.hpp"

namespace loyalty::ledger {

const char* refusal_name(Refusal refusal) {
  switch (refusal) {
    case Refusal::member_not_found: return "member_not_found";
    case Refusal::external_id_taken: return "external_id_taken";
    case Refusal::asset_unknown: return "asset_unknown";
    case Refusal::asset_not_allowed: return "asset_not_allowed";
    case Refusal::amount_not_positive: return "amount_not_positive";
    case Refusal::amount_is_zero: return "amount_is_zero";
    case Refusal::amount_overflow: return "amount_overflow";
    case Refusal::insufficient_points: return "insufficient_points";
    case Refusal::insufficient_balance: return "insufficient_balance";
    case Refusal::reason_code_unknown: return "reason_code_unknown";
    case Refusal::ttl_out_of_range: return "ttl_out_of_range";
    case Refusal::hold_not_found: return "hold_not_found";
    case Refusal::hold_not_open: return "hold_not_open";
    case Refusal::hold_expired: return "hold_expired";
    case Refusal::capture_exceeds_hold: return "capture_exceeds_hold";
  }
  return "unknown";
}

}  // namespace loyalty::ledger
