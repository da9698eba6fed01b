#include "mall/orders.hpp"

#include "earning/events.hpp"
#include "ledger/assert.hpp"
#include "ledger/digest.hpp"
#include "ledger/holds.hpp"
#include "mall/order_store.hpp"
#include "mall/split.hpp"

namespace loyalty::mall {
namespace {

OrderRefusal from_hold_refusal(ledger::Refusal refusal) {
  switch (refusal) {
    case ledger::Refusal::member_not_found: return OrderRefusal::member_not_found;
    case ledger::Refusal::insufficient_points: return OrderRefusal::insufficient_points;
    case ledger::Refusal::amount_overflow: return OrderRefusal::amount_overflow;
    case ledger::Refusal::hold_expired: return OrderRefusal::hold_expired;
    case ledger::Refusal::hold_not_open: return OrderRefusal::hold_not_open;
    default: break;
  }
  // The order validated everything else a hold refuses (amount, ttl): this is a bug.
  LOYALTY_ASSERT(false, "a hold refusal the order should have prevented");
  return OrderRefusal::request_invalid;
}

OrderResult<Order> replayed(pqxx::transaction_base& txn, const std::string& order_id, Timestamp now) {
  auto order = store::read_full_order(txn, order_id, now);
  LOYALTY_ASSERT(order.has_value(), "replaying an order that is not there");
  order->replayed = true;
  return std::move(*order);
}

OrderResult<Order> current(pqxx::transaction_base& txn, const std::string& order_id, Timestamp now) {
  auto order = store::read_full_order(txn, order_id, now);
  LOYALTY_ASSERT(order.has_value(), "an order that vanished in its own transaction");
  return std::move(*order);
}

// Checks what needs the program: its currency and point value.
std::optional<OrderRefusal> check_against_program(const program::ProgramVersion* program, const NewOrder& request) {
  if (!program) return OrderRefusal::program_not_applied;
  if (request.currency != program->program.currency) return OrderRefusal::currency_mismatch;
  switch (check_totals(request.lines, request.points_to_use, request.cash_cents, program->program.point_value_cents)) {
    case TotalsCheck::adds_up: return std::nullopt;
    case TotalsCheck::overflow: return OrderRefusal::amount_overflow;
    case TotalsCheck::mismatch: return OrderRefusal::totals_mismatch;
  }
  return OrderRefusal::totals_mismatch;
}

// Records the mall_purchase event of a paid order's cash part; returns its id, or nullopt
// when the order had no cash part.
OrderResult<std::optional<std::string>> earn_on_cash(pqxx::transaction_base& txn, const program::ProgramVersion& program,
                                                     const Order& order, Timestamp now, const ledger::Origin& origin) {
  if (order.cash_cents == 0) return std::optional<std::string>{};
  earning::Event event;
  event.event_id = earn_event_id(order.order_id);
  event.member_id = order.member_id;
  event.type = "mall_purchase";
  event.occurred_at = now;
  event.amount_cents = order.cash_cents;
  event.attributes_json = "{\"amount_cents\":" + std::to_string(order.cash_cents) + ",\"order_id\":\"" +
                          order.order_id + "\"}";  // order ids need no escaping: [A-Za-z0-9_.:-]
  // The event's identity leaves out the time: paying happens once per order.
  event.request_sha256 = to_hex(sha256("mall_purchase\n" + order.member_id + "\n" + order.order_id + "\n" +
                                       std::to_string(order.cash_cents)));
  auto outcome = earning::record_event(txn, program, event, now, earning::live_bounds(program.program), origin);
  if (auto* refusal = std::get_if<earning::EventRefusal>(&outcome)) {
    if (*refusal == earning::EventRefusal::event_id_reused) return OrderRefusal::earn_event_id_taken;
    if (*refusal == earning::EventRefusal::amount_overflow) return OrderRefusal::amount_overflow;
    LOYALTY_ASSERT(false, "an event refusal a paid order cannot meet");
  }
  const auto& recorded = std::get<earning::EventOutcome>(outcome);
  if (!recorded.awards.empty()) store::record_entry(txn, order.order_id, recorded.awards.front().entry_id, "earn");
  return std::optional<std::string>{event.event_id};
}

}  // namespace

OrderResult<Order> create_order(pqxx::transaction_base& txn, const program::ProgramVersion* program,
                                const NewOrder& request, Timestamp now, const ledger::Origin& origin) {
  if (!order_issues(request).empty()) return OrderRefusal::request_invalid;
  if (auto refusal = check_against_program(program, request)) return *refusal;
  if (!store::member_exists(txn, request.member_id)) return OrderRefusal::member_not_found;
  const auto total = order_total_cents(request.lines);
  const Timestamp expires_at = now + std::chrono::duration_cast<std::chrono::microseconds>(request.ttl);
  if (!store::insert_order(txn, request, *total, program->program.point_value_cents, expires_at, now)) {
    // The order_id exists: the same order is a replay, another one a conflict.
    if (store::request_sha256_of(txn, request.order_id) != request.request_sha256) return OrderRefusal::order_id_reused;
    return replayed(txn, request.order_id, now);
  }
  if (request.points_to_use > 0) {
    auto hold = ledger::open_hold(txn, {request.member_id, request.points_to_use, request.ttl, request.order_id}, now,
                                  origin);
    if (!hold) return from_hold_refusal(hold.refusal());
    LOYALTY_ASSERT(hold->expires_at == expires_at, "an order and its hold expire apart");
    store::set_hold(txn, request.order_id, hold->hold_id);
    store::record_entry(txn, request.order_id, store::hold_entries(txn, hold->hold_id).open_entry_id, "hold");
  }
  return current(txn, request.order_id, now);
}

OrderResult<Order> pay_order(pqxx::transaction_base& txn, const program::ProgramVersion* program,
                             const std::string& order_id, const std::string& payment_ref, Timestamp now,
                             const ledger::Origin& origin) {
  const auto order = store::read_order(txn, order_id, true);
  if (!order) return OrderRefusal::order_not_found;
  switch (store::status_at(*order, now)) {
    case OrderStatus::pending_payment: break;
    case OrderStatus::paid:
    case OrderStatus::partially_refunded:
    case OrderStatus::refunded:
      if (order->payment_ref != payment_ref) return OrderRefusal::payment_ref_mismatch;
      return replayed(txn, order_id, now);
    case OrderStatus::cancelled: return OrderRefusal::order_cancelled;
    case OrderStatus::expired: return OrderRefusal::hold_expired;
  }
  if (!program) return OrderRefusal::program_not_applied;
  if (order->hold_id) {
    auto captured = ledger::capture_hold(txn, *order->hold_id, std::nullopt, now, origin);
    if (!captured) return from_hold_refusal(captured.refusal());
    const auto entries = store::hold_entries(txn, *order->hold_id);
    store::record_entry(txn, order_id, *entries.close_entry_id, "capture");
  }
  auto earned = earn_on_cash(txn, *program, *order, now, origin);
  if (!earned) return earned.refusal();
  store::set_paid(txn, order_id, payment_ref, earned.value(), now);
  return current(txn, order_id, now);
}

OrderResult<Order> cancel_order(pqxx::transaction_base& txn, const std::string& order_id, Timestamp now,
                                const ledger::Origin& origin) {
  const auto order = store::read_order(txn, order_id, true);
  if (!order) return OrderRefusal::order_not_found;
  switch (store::status_at(*order, now)) {
    case OrderStatus::pending_payment: break;
    case OrderStatus::cancelled: return replayed(txn, order_id, now);
    case OrderStatus::paid:
    case OrderStatus::partially_refunded:
    case OrderStatus::refunded: return OrderRefusal::order_already_paid;
    case OrderStatus::expired: return OrderRefusal::order_expired;
  }
  if (order->hold_id) {
    auto voided = ledger::void_hold(txn, *order->hold_id, now, origin);
    if (!voided) {
      return voided.refusal() == ledger::Refusal::hold_expired ? OrderRefusal::order_expired
                                                                : from_hold_refusal(voided.refusal());
    }
    const auto entries = store::hold_entries(txn, *order->hold_id);
    store::record_entry(txn, order_id, *entries.close_entry_id, "release");
  }
  store::set_cancelled(txn, order_id, now);
  return current(txn, order_id, now);
}

OrderResult<Order> find_order(pqxx::transaction_base& txn, const std::string& order_id, Timestamp now) {
  auto order = store::read_full_order(txn, order_id, now);
  if (!order) return OrderRefusal::order_not_found;
  return std::move(*order);
}

OrderResult<OrderPage> list_member_orders(pqxx::transaction_base& txn, const std::string& member_id,
                                          const std::optional<store::OrderKey>& before, int limit, Timestamp now) {
  if (!store::member_exists(txn, member_id)) return OrderRefusal::member_not_found;
  // One key more than asked tells whether there is a next page.
  auto keys = store::member_order_keys(txn, member_id, before, limit + 1);
  OrderPage page;
  if (static_cast<int>(keys.size()) > limit) {
    keys.pop_back();
    page.next_before = keys.back();
  }
  for (const auto& key : keys) {
    auto order = store::read_full_order(txn, key.order_id, now);
    LOYALTY_ASSERT(order.has_value(), "an order that vanished");
    page.items.push_back(std::move(*order));
  }
  return page;
}

std::optional<std::string> order_holding(pqxx::transaction_base& txn, const std::string& hold_id) {
  return store::order_of_hold(txn, hold_id);
}

}  // namespace loyalty::mall
