#include "mall/refunds.hpp"

#include "earning/partial_reversal.hpp"
#include "ledger/accounts.hpp"
#include "ledger/amounts.hpp"
#include "ledger/holds.hpp"
#include "ledger/lots.hpp"
#include "mall/order_store.hpp"
#include "mall/split.hpp"

namespace loyalty::mall {
namespace {

const OrderLine* line_of(const Order& order, const std::string& sku) {
  for (const auto& line : order.lines) {
    if (line.sku == sku) return &line;
  }
  return nullptr;
}

// The refund's lines with their value and their share of points and cash, in request order.
OrderResult<Refund> plan_refund(const Order& order, const RefundRequest& request, Timestamp now) {
  Refund refund;
  refund.refund_id = request.refund_id;
  refund.order_id = order.order_id;
  refund.created_at = now;
  const PaidAmounts paid{order.total_cents, order.points_to_use, order.cash_cents};
  std::int64_t refunded_value = order.refunded_value_cents;
  for (const auto& wanted : request.lines) {
    const OrderLine* line = line_of(order, wanted.sku);
    if (!line) return OrderRefusal::refund_sku_unknown;
    if (wanted.quantity > line->quantity - line->refunded_quantity) return OrderRefusal::refund_exceeds_order;
    // quantity ≤ the line's and the line's value fitted when the order was created.
    const std::int64_t value = wanted.quantity * line->unit_price_cents;
    const Split split = refund_split(paid, refunded_value, refunded_value + value);
    refund.lines.push_back({wanted.sku, wanted.quantity, value, split.points, split.cash_cents});
    refunded_value += value;
    refund.points += split.points;
    refund.cash_cents += split.cash_cents;
  }
  refund.value_cents = refunded_value - order.refunded_value_cents;
  refund.order_status_after =
      refunded_value == order.total_cents ? OrderStatus::refunded : OrderStatus::partially_refunded;
  return refund;
}

// Gives the refund's points back (see refunds.hpp for the entry); returns false when the
// member's balance could not hold them.
bool return_points(pqxx::transaction_base& txn, const Order& order, const ledger::LockedMemberAccounts& accounts,
                   Refund& refund, Timestamp now, const ledger::Origin& origin) {
  if (refund.points == 0) return true;
  LOYALTY_ASSERT(order.hold_id.has_value(), "points to refund on an order that held none");
  const auto slices = lots_to_return(store::hold_lots(txn, *order.hold_id), order.refunded_points, refund.points);
  std::int64_t live = 0;
  for (const auto& slice : slices) {
    if (slice.expires_at > now) live += slice.amount;
  }
  refund.points_expired = refund.points - live;
  const auto total = accounts.total();
  if (!total || !ledger::checked_add(*total, live)) return false;

  ledger::EntryDraft entry{"order_refund", now, order.member_id, order.order_id};
  entry.note = "refund " + refund.refund_id;
  entry.origin = origin;
  const std::string points(ledger::points_asset);
  entry.postings.push_back(
      {ledger::system_account_id(txn, ledger::system_account::redemptions, points), points, -refund.points});
  if (live > 0) entry.postings.push_back({accounts.available.account_id, points, live});
  if (refund.points_expired > 0) {
    entry.postings.push_back(
        {ledger::system_account_id(txn, ledger::system_account::breakage, points), points, refund.points_expired});
  }
  const auto posted = ledger::post_entry(txn, entry);
  std::int64_t available = accounts.available.balance;
  for (const auto& slice : slices) {
    if (slice.expires_at <= now) continue;
    ledger::add_lot(txn,
                    {order.member_id, slice.amount, now, slice.expires_at, std::nullopt, posted.entry_id, "refund"},
                    available);
    available += slice.amount;
  }
  refund.refund_entry_id = posted.entry_id;
  store::record_entry(txn, order.order_id, posted.entry_id, "refund", refund.refund_id);
  return true;
}

// Claws back the earn on the cash refunded so far, in proportion to the cash paid.
void claw_back_earn(pqxx::transaction_base& txn, const program::ProgramVersion& program, const Order& order,
                    Refund& refund, Timestamp now, const ledger::Origin& origin) {
  if (refund.cash_cents == 0 || !order.earn_event_id) return;
  const earning::ReversalShare share{order.refunded_cash_cents + refund.cash_cents, order.cash_cents};
  auto reversed =
      earning::reverse_event_share(txn, program, *order.earn_event_id, share,
                                   "refund " + refund.refund_id + " of order " + order.order_id, now, origin);
  LOYALTY_ASSERT(std::holds_alternative<earning::PartialReversal>(reversed), "a paid order whose event is missing");
  const auto& reversal = std::get<earning::PartialReversal>(reversed);
  refund.clawed_back = reversal.clawed_back;
  refund.written_off = reversal.written_off;
  refund.clawback_entry_id = reversal.entry_id;
  if (reversal.entry_id) store::record_entry(txn, order.order_id, *reversal.entry_id, "clawback", refund.refund_id);
}

std::optional<OrderRefusal> refundable(const Order& order, Timestamp now) {
  switch (store::status_at(order, now)) {
    case OrderStatus::paid:
    case OrderStatus::partially_refunded:
    case OrderStatus::refunded: return std::nullopt;  // a refunded order refuses by quantity
    case OrderStatus::cancelled: return OrderRefusal::order_cancelled;
    case OrderStatus::pending_payment:
    case OrderStatus::expired: return OrderRefusal::order_not_paid;
  }
  return OrderRefusal::order_not_paid;
}

}  // namespace

OrderResult<Refund> refund_order(pqxx::transaction_base& txn, const program::ProgramVersion* program,
                                 const std::string& order_id, const RefundRequest& request, Timestamp now,
                                 const ledger::Origin& origin) {
  if (!refund_issues(request).empty()) return OrderRefusal::request_invalid;
  const auto order = store::read_order(txn, order_id, true);
  if (!order) return OrderRefusal::order_not_found;
  if (auto stored = store::read_refund(txn, request.refund_id)) {
    if (stored->refund.order_id != order_id || stored->request_sha256 != request.request_sha256) {
      return OrderRefusal::refund_id_reused;
    }
    stored->refund.replayed = true;
    return std::move(stored->refund);
  }
  if (auto refusal = refundable(*order, now)) return *refusal;
  if (!program) return OrderRefusal::program_not_applied;
  auto planned = plan_refund(*order, request, now);
  if (!planned) return planned.refusal();
  Refund refund = std::move(planned.value());

  // Points of lapsed holds are available again before the member's accounts are locked.
  const auto accounts = ledger::lock_member_for_write(txn, order->member_id, now, origin);
  LOYALTY_ASSERT(accounts.has_value(), "an order of a member without accounts");
  if (!return_points(txn, *order, accounts->points, refund, now, origin)) return OrderRefusal::amount_overflow;
  claw_back_earn(txn, *program, *order, refund, now, origin);

  Order updated = *order;
  updated.status = refund.order_status_after;
  updated.refunded_points += refund.points;
  updated.refunded_cash_cents += refund.cash_cents;
  updated.refunded_value_cents += refund.value_cents;
  store::set_refunded(txn, updated);
  for (const auto& line : refund.lines) store::add_refunded_quantity(txn, order_id, line.sku, line.quantity);
  // A refund_id is unique across orders: a concurrent refund of another order may take it.
  if (!store::insert_refund(txn, refund, request.request_sha256)) return OrderRefusal::refund_id_reused;
  return refund;
}

}  // namespace loyalty::mall
