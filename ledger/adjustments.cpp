#include "ledger/adjustments.hpp"

#include <algorithm>

#include "ledger/accounts.hpp"
#include "ledger/amounts.hpp"
#include "ledger/batch.hpp"
#include "platform/assert.hpp"

namespace loyalty::ledger {

bool is_adjustment_reason_code(std::string_view code) {
  return std::find(adjustment_reason_codes.begin(), adjustment_reason_codes.end(), code) !=
         adjustment_reason_codes.end();
}

std::optional<Refusal> check_adjustment(const AdjustmentRequest& request) {
  if (request.amount == 0) return Refusal::amount_is_zero;
  // INT64_MIN has no negation: the balancing posting could not be written.
  if (request.amount == INT64_MIN) return Refusal::amount_overflow;
  if (request.asset != points_asset && request.asset != growth_asset) return Refusal::asset_not_allowed;
  if (!is_adjustment_reason_code(request.reason_code)) return Refusal::reason_code_unknown;
  return std::nullopt;
}

Result<DecidedAdjustment> adjust(Batch& batch, const AdjustmentRequest& request, Timestamp now,
                                 const ExpiryPolicy& expiry, const Origin& origin) {
  if (const auto refusal = check_adjustment(request)) return *refusal;
  MemberAccounts* member = batch.member(request.member_id);
  if (!member) return Refusal::member_not_found;
  const bool points = request.asset == points_asset;
  // A debit may only take what is available; lapsed holds count as available.
  if (points && request.amount < 0) batch.release_lapsed_holds(request.member_id, now, origin);
  LockedMemberAccounts& accounts = member->of(request.asset);

  const auto available_after = checked_add(accounts.available.balance, request.amount);
  const auto total = accounts.total();
  // The member's total (every part) must stay representable, so every balance read adds up.
  if (!available_after || !total || !checked_add(*total, request.amount)) return Refusal::amount_overflow;
  if (request.amount < 0 && *available_after < 0) {
    return points ? Refusal::insufficient_points : Refusal::insufficient_balance;
  }

  const std::int64_t available_before = accounts.available.balance;
  EntryDraft entry{"adjustment", now, request.member_id};
  entry.reason_code = request.reason_code;
  entry.note = request.note;
  entry.origin = origin;
  entry.postings = {{accounts.available.account_id, request.asset, request.amount},
                    {batch.system_account(system_account::adjustments, request.asset), request.asset, -request.amount}};
  if (points && request.amount < 0) batch.take_from_lots(request.member_id, -request.amount);
  const EntryIndex index = batch.post(std::move(entry));
  LOYALTY_ASSERT(accounts.available.balance == *available_after, "the batch's balance drifted");
  if (points && request.amount > 0) {
    batch.add_lot(NewLot{request.member_id, request.amount, now, expiry.expiry_for(now), std::nullopt, 0, "adjustment"},
                  index, available_before);
  }
  Adjustment adjustment{
      0, request.member_id, request.asset, request.amount, request.reason_code, request.note, *available_after, now};
  return DecidedAdjustment{std::move(adjustment), index};
}

}  // namespace loyalty::ledger
