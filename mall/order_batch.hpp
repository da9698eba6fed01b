// Mall orders in a batch (app/write_protocol.hpp, "The path of one batch"): creating, paying
// and cancelling orders are decided in memory against the ledger's batch, like holds and
// events, and written with multi-row statements.
//
//   lock     the orders the batch names, FOR UPDATE in id order, with their lines, before
//            anything but the keys: an order names the hold and the member the batch locks
//            next (order_rows());
//   prepare  a creation registers its new order, a payment the event that earns on its cash
//            part (earning::EventBatch), also for an order created earlier in the batch;
//   decide   create / pay / cancel in arrival order; a refusal changes nothing;
//   write    orders, their lines, state changes and the entries they caused, after the
//            ledger's rows and the events' (an order refers to its hold, entries and event);
//   answer   a new or pending order from what the batch knows (its drafts, the hold it
//            locked); a replay by reading the orders back once the batch is written.
//
// Refunds stay a composite command (mall/refunds.hpp); their order is locked in the same
// first step.
#pragma once

#include <pqxx/pqxx>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ledger/batch.hpp"
#include "mall/order.hpp"
#include "mall/order_store.hpp"
#include "program/store.hpp"

namespace loyalty::mall {

// A decision on an order: the order as the decision left it (without its lines, refunds and
// entries), and whether it was a replay (nothing written).
struct OrderDecision {
  Order order;
  bool replayed = false;
};

// Orders as the rows a batch locks first of all (ledger::LeadingRows): they name their hold
// and their member. A command on an order declares its id under this kind.
const ledger::LeadingRows& order_rows();

class OrderBatch : public ledger::Batch::Extension {
 public:
  static OrderBatch& of(ledger::Batch& batch);
  explicit OrderBatch(ledger::Batch& batch) : batch_(batch) {}

  // The first lock step, added to `reads`: these orders (sorted, distinct; unknown ids are
  // skipped) FOR UPDATE, with their lines. Once `reads` ran, the holds and members they name
  // are added to `holds` and `members`.
  void lock(db::ReadBatch& reads, const std::vector<std::string>& order_ids, std::vector<std::string>& holds,
            std::vector<std::string>& members);

  // Before the first decision: an order this batch may create (so that a payment of it later in
  // the same batch is prepared too).
  void prepare_create(const NewOrder& request);
  // Before the first decision: paying this order records its earn event, which the events'
  // prefetch must know (the member's tier rows, caps and qualifying days).
  void prepare_pay(const std::shared_ptr<const program::ProgramVersion>& program, const std::string& order_id,
                   Timestamp now);

  // Checks the order against the program in force (currency, totals), records it and holds
  // its points for its time-to-live. The same order again is a replay.
  OrderResult<OrderDecision> create(const program::ProgramVersion* program, const NewOrder& request, Timestamp now,
                                    const ledger::Origin& origin);
  // Captures the whole hold and records the mall_purchase event on the cash part (its points
  // are pending for the program's return window).
  OrderResult<OrderDecision> pay(const std::shared_ptr<const program::ProgramVersion>& program,
                                 const std::string& order_id, const std::string& payment_ref, Timestamp now,
                                 const ledger::Origin& origin);
  // Voids the hold of an order that is still pending payment.
  OrderResult<OrderDecision> cancel(const std::string& order_id, Timestamp now, const ledger::Origin& origin);

  // The order as GET /v1/orders/{id} would have shown it right after the decision, at `now`:
  // its state as decided, with the lines, refunds and entries dated up to `now`. Once the
  // batch is staged. A new order, or one that was pending, is answered from what the batch
  // knows (entries_known_here); otherwise the first such call sends the batch's writes and
  // reads back every order the batch decided on, at once (a later request of the batch may
  // have released the order's lapsed hold, or paid it: that is not this answer's).
  Order answer(const OrderDecision& decision, Timestamp now);

  void write() override;
  int layer() const override { return 1; }  // after earning's events: an order refers to its event

 private:
  struct State {
    Order order;  // with its lines, without refunds and entries
    std::string request_sha256;
  };
  State* find(const std::string& order_id);
  // Every entry of the order once the batch is staged, oldest first, as read_full_orders would
  // read them after the batch, when the batch knows them all: those it posted for the order
  // and the opening of the order's hold, opened before the batch and locked by it (the only
  // entry a pending order has). nullopt otherwise: an earn recorded before the batch, a lapsed
  // hold's release, an account the batch did not look up.
  std::optional<std::vector<OrderEntry>> entries_known_here(const Order& order);

  ledger::Batch& batch_;
  std::map<std::string, State> orders_;        // locked, or created by the batch
  std::map<std::string, NewOrder> to_create_;  // prepared creations of orders not locked (new ids)
  std::vector<std::string> decided_;
  std::vector<store::CreatedOrderRow> created_;
  std::vector<store::PaidOrderRow> paid_;
  std::vector<store::CancelledOrderRow> cancelled_;
  // Entries the orders caused, resolved to ids when written: a hold's opening or closing
  // entry, or an entry of the batch (an earn).
  struct EntryRef {
    std::string order_id;
    std::string role;
    std::optional<std::string> hold_id;
    bool closing = false;
    std::optional<ledger::EntryIndex> entry;
    std::optional<std::int64_t> entry_id;
  };
  std::vector<EntryRef> entries_;
  std::optional<std::map<std::string, Order>> read_back_;
};

}  // namespace loyalty::mall
