#include "ledger/adjustments.hpp"

#include <algorithm>

#include "ledger/accounts.hpp"
#include "ledger/amounts.hpp"
#include "ledger/assert.hpp"
#include "ledger/holds.hpp"

namespace loyalty::ledger {

bool is_adjustment_reason_code(std::string_view code) {
  return std::find(adjustment_reason_codes.begin(), adjustment_reason_codes.end(), code) !=
         adjustment_reason_codes.end();
}

Result<Adjustment> adjust(pqxx::transaction_base& txn, const AdjustmentRequest& request, Timestamp now,
                          const ExpiryPolicy& expiry, const Origin& origin) {
  if (request.amount == 0) return Refusal::amount_is_zero;
  // INT64_MIN has no negation: the balancing posting could not be written.
  if (request.amount == INT64_MIN) return Refusal::amount_overflow;
  if (request.asset != points_asset && request.asset != growth_asset) return Refusal::asset_not_allowed;
  if (!is_adjustment_reason_code(request.reason_code)) return Refusal::reason_code_unknown;
  if (request.asset == points_asset && request.amount < 0) {
    // A debit may only take what is available; lapsed holds count as available.
    release_lapsed_holds(txn, request.member_id, now, 1000, origin);
  }
  const auto accounts = lock_member_accounts(txn, request.member_id, request.asset);
  if (!accounts) return Refusal::member_not_found;

  const auto available_after = checked_add(accounts->available.balance, request.amount);
  const auto total = accounts->total();
  // The member's total (every part) must stay representable, so every balance read adds up.
  if (!available_after || !total || !checked_add(*total, request.amount)) return Refusal::amount_overflow;
  if (request.amount < 0 && *available_after < 0) {
    return request.asset == points_asset ? Refusal::insufficient_points : Refusal::insufficient_balance;
  }

  EntryDraft entry{"adjustment", now, request.member_id};
  entry.reason_code = request.reason_code;
  entry.note = request.note;
  entry.origin = origin;
  entry.postings = {
      {accounts->available.account_id, request.asset, request.amount},
      {system_account_id(txn, system_account::adjustments, request.asset), request.asset, -request.amount}};
  const bool points = request.asset == points_asset;
  if (points && request.amount < 0) take_from_lots(txn, request.member_id, -request.amount);
  const auto posted = post_entry(txn, entry);
  LOYALTY_ASSERT(posted.balances_after.front() == *available_after, "maintained balance drifted");
  if (points && request.amount > 0) {
    add_lot(txn, NewLot{request.member_id, request.amount, now, expiry.expiry_for(now), std::nullopt, posted.entry_id,
                        "adjustment"},
            accounts->available.balance);
  }
  return Adjustment{posted.entry_id,   request.member_id, request.asset,
                    request.amount,    request.reason_code, request.note,
                    *available_after,  posted.created_at};
}

}  // namespace loyalty::ledger
