#include "mall/order_batch.hpp"

#include <algorithm>
#include <tuple>

#include "earning/event_batch.hpp"
#include "ledger/holds.hpp"
#include "mall/split.hpp"
#include "membership/tier_batch.hpp"
#include "platform/assert.hpp"
#include "platform/digest.hpp"

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

// The mall_purchase event that earns on a paid order's cash part.
earning::Event earn_event_of(const Order& order, Timestamp now) {
  earning::Event event;
  event.event_id = earn_event_id(order.order_id);
  event.member_id = order.member_id;
  event.type = "mall_purchase";
  event.occurred_at = now;
  event.amount_cents = order.cash_cents;
  event.attributes_json = "{\"amount_cents\":" + std::to_string(order.cash_cents) + ",\"order_id\":\"" +
                          order.order_id + "\"}";  // order ids need no escaping: [A-Za-z0-9_.:-]
  // The event's identity leaves out the time: paying happens once per order.
  event.request_sha256 = to_hex(
      sha256("mall_purchase\n" + order.member_id + "\n" + order.order_id + "\n" + std::to_string(order.cash_cents)));
  return event;
}

}  // namespace

namespace {

class OrderRows final : public ledger::LeadingRows {
 public:
  std::string name() const override { return "orders"; }
  void lock(ledger::Batch& batch, db::ReadBatch& reads, const std::vector<std::string>& ids,
            std::vector<std::string>& holds, std::vector<std::string>& members) const override {
    OrderBatch::of(batch).lock(reads, ids, holds, members);
  }
};

}  // namespace

const ledger::LeadingRows& order_rows() {
  static const OrderRows rows;
  return rows;
}

OrderBatch& OrderBatch::of(ledger::Batch& batch) {
  return batch.extension<OrderBatch>("mall.orders", [&] { return std::make_unique<OrderBatch>(batch); });
}

void OrderBatch::lock(db::ReadBatch& reads, const std::vector<std::string>& order_ids, std::vector<std::string>& holds,
                      std::vector<std::string>& members) {
  store::lock_orders(reads, order_ids, [this, &holds, &members](std::vector<store::LockedOrder> locked) {
    for (auto& found : locked) {
      if (found.order.hold_id) holds.push_back(*found.order.hold_id);
      members.push_back(found.order.member_id);
      const std::string id = found.order.order_id;
      orders_.emplace(id, State{std::move(found.order), std::move(found.request_sha256)});
    }
  });
}

OrderBatch::State* OrderBatch::find(const std::string& order_id) {
  const auto found = orders_.find(order_id);
  return found == orders_.end() ? nullptr : &found->second;
}

void OrderBatch::prepare_create(const NewOrder& request) {
  if (!find(request.order_id)) to_create_.try_emplace(request.order_id, request);
}

void OrderBatch::prepare_pay(const std::shared_ptr<const program::ProgramVersion>& program, const std::string& order_id,
                             Timestamp now) {
  if (!program) return;
  Order order;
  if (const State* state = find(order_id)) {
    if (store::status_at(state->order, now) != OrderStatus::pending_payment) return;
    order = state->order;
  } else if (const auto created = to_create_.find(order_id); created != to_create_.end()) {
    order.order_id = order_id;  // created earlier in this batch, if its creation is accepted
    order.member_id = created->second.member_id;
    order.cash_cents = created->second.cash_cents;
  } else {
    return;
  }
  if (order.cash_cents > 0) membership::events_of(batch_, program).want(earn_event_of(order, now));
}

OrderResult<OrderDecision> OrderBatch::create(const program::ProgramVersion* program, const NewOrder& request,
                                              Timestamp now, const ledger::Origin& origin) {
  if (!order_issues(request).empty()) return OrderRefusal::request_invalid;
  if (auto refusal = check_against_program(program, request)) return *refusal;
  // The order_id exists: the same order is a replay, another one a conflict.
  if (const State* existing = find(request.order_id)) {
    if (existing->request_sha256 != request.request_sha256) return OrderRefusal::order_id_reused;
    decided_.push_back(request.order_id);
    return OrderDecision{existing->order, true};
  }
  if (!batch_.member(request.member_id)) return OrderRefusal::member_not_found;
  const Timestamp expires_at = now + std::chrono::duration_cast<std::chrono::microseconds>(request.ttl);
  std::optional<std::string> hold_id;
  if (request.points_to_use > 0) {
    auto hold = ledger::open_hold(batch_, {request.member_id, request.points_to_use, request.ttl, request.order_id},
                                  now, origin);
    if (!hold) return from_hold_refusal(hold.refusal());
    LOYALTY_ASSERT(hold->expires_at == expires_at, "an order and its hold expire apart");
    hold_id = hold->hold_id;
    entries_.push_back({request.order_id, "hold", hold_id, false, std::nullopt, std::nullopt});
  }
  const auto total = order_total_cents(request.lines);
  LOYALTY_ASSERT(total.has_value(), "an order whose totals were checked overflows");
  created_.push_back({request, *total, program->program.point_value_cents, expires_at, now, hold_id});

  Order order;
  order.order_id = request.order_id;
  order.member_id = request.member_id;
  order.currency = request.currency;
  order.total_cents = *total;
  order.points_to_use = request.points_to_use;
  order.point_value_cents = program->program.point_value_cents;
  order.cash_cents = request.cash_cents;
  order.lines = request.lines;
  order.hold_id = hold_id;
  order.expires_at = expires_at;
  order.created_at = now;
  orders_.emplace(request.order_id, State{order, request.request_sha256});
  decided_.push_back(request.order_id);
  return OrderDecision{std::move(order), false};
}

OrderResult<OrderDecision> OrderBatch::pay(const std::shared_ptr<const program::ProgramVersion>& program,
                                           const std::string& order_id, const std::string& payment_ref, Timestamp now,
                                           const ledger::Origin& origin) {
  State* state = find(order_id);
  if (!state) return OrderRefusal::order_not_found;
  Order& order = state->order;
  switch (store::status_at(order, now)) {
    case OrderStatus::pending_payment: break;
    case OrderStatus::paid:
    case OrderStatus::partially_refunded:
    case OrderStatus::refunded:
      if (order.payment_ref != payment_ref) return OrderRefusal::payment_ref_mismatch;
      decided_.push_back(order_id);
      return OrderDecision{order, true};
    case OrderStatus::cancelled: return OrderRefusal::order_cancelled;
    case OrderStatus::expired: return OrderRefusal::hold_expired;
  }
  if (!program) return OrderRefusal::program_not_applied;
  // Everything that can refuse is checked before anything changes: the hold, then the event.
  // The capture comes first (its entry before the earn's), and it can only make the event's
  // checks easier: it lowers the member's total.
  if (order.hold_id) {
    auto hold = ledger::changeable_hold(batch_, *order.hold_id, now);
    if (!hold) return from_hold_refusal(hold.refusal());
  }
  std::optional<earning::Event> event;
  const auto bounds = earning::live_bounds(program->program);
  if (order.cash_cents > 0) {
    event = earn_event_of(order, now);
    if (const auto refusal = membership::events_of(batch_, program).refusal(*event, now, bounds)) {
      if (*refusal == earning::EventRefusal::event_id_reused) return OrderRefusal::earn_event_id_taken;
      if (*refusal == earning::EventRefusal::amount_overflow) return OrderRefusal::amount_overflow;
      LOYALTY_ASSERT(false, "an event refusal a paid order cannot meet");
    }
  }
  if (order.hold_id) {
    const auto captured = ledger::capture_hold(batch_, *order.hold_id, std::nullopt, now, origin);
    LOYALTY_ASSERT(static_cast<bool>(captured), "a hold checked open refused its capture");
    entries_.push_back({order_id, "capture", order.hold_id, true, std::nullopt, std::nullopt});
  }
  std::optional<std::string> earn_event;
  if (event) {
    auto recorded = membership::events_of(batch_, program).record(*event, now, bounds, origin);
    LOYALTY_ASSERT(std::holds_alternative<earning::RecordedEvent>(recorded), "an event checked first was refused");
    const auto& earned = std::get<earning::RecordedEvent>(recorded);
    if (earned.entry) {
      entries_.push_back({order_id, "earn", std::nullopt, false, earned.entry, std::nullopt});
    } else if (!earned.outcome.awards.empty()) {  // recorded before this batch, by the same payment
      entries_.push_back({order_id, "earn", std::nullopt, false, std::nullopt, earned.outcome.awards.front().entry_id});
    }
    earn_event = event->event_id;
  }
  order.status = OrderStatus::paid;
  order.payment_ref = payment_ref;
  order.paid_at = now;
  order.earn_event_id = earn_event;
  paid_.push_back({order_id, payment_ref, now, earn_event});
  decided_.push_back(order_id);
  return OrderDecision{order, false};
}

OrderResult<OrderDecision> OrderBatch::cancel(const std::string& order_id, Timestamp now,
                                              const ledger::Origin& origin) {
  State* state = find(order_id);
  if (!state) return OrderRefusal::order_not_found;
  Order& order = state->order;
  switch (store::status_at(order, now)) {
    case OrderStatus::pending_payment: break;
    case OrderStatus::cancelled: decided_.push_back(order_id); return OrderDecision{order, true};
    case OrderStatus::paid:
    case OrderStatus::partially_refunded:
    case OrderStatus::refunded: return OrderRefusal::order_already_paid;
    case OrderStatus::expired: return OrderRefusal::order_expired;
  }
  if (order.hold_id) {
    auto voided = ledger::void_hold(batch_, *order.hold_id, now, origin);
    if (!voided) {
      return voided.refusal() == ledger::Refusal::hold_expired ? OrderRefusal::order_expired
                                                               : from_hold_refusal(voided.refusal());
    }
    entries_.push_back({order_id, "release", order.hold_id, true, std::nullopt, std::nullopt});
  }
  order.status = OrderStatus::cancelled;
  order.cancelled_at = now;
  cancelled_.push_back({order_id, now});
  decided_.push_back(order_id);
  return OrderDecision{order, false};
}

void OrderBatch::write() {
  store::add_created(batch_.writes(), created_);
  store::add_paid(batch_.writes(), paid_);
  store::add_cancelled(batch_.writes(), cancelled_);
  std::vector<store::OrderEntryRow> entries;
  for (const EntryRef& ref : entries_) {
    std::int64_t entry_id = 0;
    if (ref.hold_id) {
      const auto id = batch_.hold_entry_id(*ref.hold_id, ref.closing);
      LOYALTY_ASSERT(id.has_value(), "an order's hold entry the batch did not post");
      entry_id = *id;
    } else if (ref.entry) {
      entry_id = batch_.entry_id(*ref.entry);
    } else {
      entry_id = *ref.entry_id;
    }
    entries.push_back({ref.order_id, entry_id, ref.role});
  }
  store::add_entries(batch_.writes(), entries);
}

std::optional<std::vector<OrderEntry>> OrderBatch::entries_known_here(const Order& order) {
  // Each entry of the order with its role, in the order its row was recorded (the first role
  // recorded for an entry is its role, as in order_entries).
  std::vector<std::tuple<std::int64_t, std::string, ledger::EntryDraft>> found;
  if (order.hold_id) {
    const ledger::Hold* hold = batch_.hold(*order.hold_id);
    // A lapsed hold's release is the ledger's, not the order's: the read back finds it.
    if (!hold || hold->status == "expired") return std::nullopt;
    if (!batch_.hold_entry(*order.hold_id, false)) {  // opened before the batch
      if (hold->open_entry_id == 0) return std::nullopt;
      found.emplace_back(hold->open_entry_id, "hold", batch_.opening_entry(*hold, {}));
    }
  }
  for (const EntryRef& ref : entries_) {
    if (ref.order_id != order.order_id) continue;
    const std::optional<ledger::EntryIndex> index =
        ref.hold_id ? batch_.hold_entry(*ref.hold_id, ref.closing) : ref.entry;
    if (!index) return std::nullopt;  // an earn recorded before the batch
    found.emplace_back(batch_.entry_id(*index), ref.role, batch_.entry(*index));
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
  std::vector<OrderEntry> entries;
  for (const auto& [entry_id, role, draft] : found) {
    if (!entries.empty() && entries.back().entry_id == entry_id) continue;
    OrderEntry entry{entry_id, role, draft.kind, draft.effective_at, std::nullopt, {}};
    for (const ledger::PostingDraft& posting : draft.postings) {
      auto account = batch_.account_name(posting.account_id);
      if (!account) return std::nullopt;
      entry.postings.push_back({std::move(*account), posting.asset, posting.amount});
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

Order OrderBatch::answer(const OrderDecision& decision, Timestamp now) {
  // A decision on an order that was pending (or new) knows the whole order: its lines (from
  // the request or the lock), no refunds, and every entry, from the batch's drafts and the
  // hold it locked. Anything else (a replay) reads the order back.
  if (!decision.replayed) {
    if (auto entries = entries_known_here(decision.order)) {
      Order order = decision.order;
      for (auto& entry : *entries) {
        if (entry.effective_at <= now) order.entries.push_back(std::move(entry));
      }
      order.status = store::status_at(order, now);
      return order;
    }
  }
  if (!read_back_) {
    batch_.writes().flush();
    std::vector<std::string> ids = decided_;
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    read_back_ = store::read_full_orders(batch_.transaction(), ids);
  }
  const auto found = read_back_->find(decision.order.order_id);
  LOYALTY_ASSERT(found != read_back_->end(), "an order the batch decided on is not there");
  Order order = decision.order;
  order.lines = found->second.lines;
  for (const auto& refund : found->second.refunds) {
    if (refund.created_at <= now) order.refunds.push_back(refund);
  }
  for (const auto& entry : found->second.entries) {
    if (entry.effective_at <= now) order.entries.push_back(entry);
  }
  order.status = store::status_at(order, now);
  order.replayed = decision.replayed;
  return order;
}

}  // namespace loyalty::mall
