// Refunds of paid mall orders, by line and quantity, each idempotent by its refund_id.
//
// The split. Refunding lines worth v cents when V₀ cents of the order (total T, paid with P
// points and C cents) were refunded before returns, in all, floor(P × (V₀+v) / T) points and
// ceil(C × (V₀+v) / T) cents (mall/split.hpp): points rounded down, and with the reference
// program's one-cent point the cash is exactly the remainder. Refunding the whole order
// therefore returns exactly P points and C cents, however it is cut into refunds.
//
// The points. They go back to the member as new lots that keep the expiry of the lots the
// order's hold took them from (hold_lots), latest-expiring first. Points whose lot has
// expired by the time of the refund go to system:breakage instead, as expiry would have sent
// them. One entry (kind "order_refund", reference = the order id, note = the refund id):
//
//     POINTS  system:redemptions        −R          (R = the points the refund returns)
//     POINTS  member:<id>:available     +R_live     (lots not yet expired; omitted when 0)
//     POINTS  system:breakage           +R_expired  (lots expired by now; omitted when 0)
//
// The earn. The cash part's earn is clawed back in proportion to the cash refunded so far
// (earning/partial_reversal.hpp): floor(E × refunded_cash / cash_cents) of each award in
// all, exactly E on the last refund; its entry is kind "earn_clawback".
#pragma once

#include <pqxx/pqxx>

#include <string>

#include "ledger/journal.hpp"
#include "mall/order.hpp"
#include "program/store.hpp"

namespace loyalty::mall {

OrderResult<Refund> refund_order(pqxx::transaction_base& txn, const program::ProgramVersion* program,
                                 const std::string& order_id, const RefundRequest& request, Timestamp now,
                                 const ledger::Origin& origin);

}  // namespace loyalty::mall
