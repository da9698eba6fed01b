// Reading mall orders (mall/order.hpp has the states). Creating, paying and cancelling them
// are decisions of a batch (mall/order_batch.hpp); refunds are in mall/refunds.hpp.
//
// Each write locks the order's row first, so the changes of one order happen one at a time;
// each is idempotent: creating an order_id again with the same content, paying again with
// the same payment_ref and cancelling a cancelled order answer the order as it is and write
// nothing (`replayed`). Points move through ledger holds (reference = the order id); the
// earn on the cash part is the event "order:<order_id>" of type mall_purchase.
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ledger/batch.hpp"
#include "mall/order.hpp"
#include "mall/order_store.hpp"
#include "program/store.hpp"

namespace loyalty::mall {

// The order whose points a hold holds, if any. Such a hold moves only with its order
// (pay, cancel, expiry): the holds API refuses to capture or void it.
std::optional<std::string> order_holding(pqxx::transaction_base& txn, const std::string& hold_id);

// The same for the holds of a batch's commands, read with the batch's first round trip: a
// command wants its hold when it is prepared and asks at its decision.
class OrderHolds : public ledger::Batch::Extension {
 public:
  static OrderHolds& of(ledger::Batch& batch);
  explicit OrderHolds(ledger::Batch& batch) : batch_(batch) {}

  void want(const std::string& hold_id) { wanted_.push_back(hold_id); }
  void prefetch(db::ReadBatch& reads, Timestamp as_of) override;
  // Read at once for a hold that was not prefetched.
  std::optional<std::string> order_holding(const std::string& hold_id);
  void write() override {}

 private:
  ledger::Batch& batch_;
  std::vector<std::string> wanted_;
  std::set<std::string> read_;                 // holds whose order was read
  std::map<std::string, std::string> orders_;  // hold id → its order's id
};

// The order with its refunds and every ledger entry it caused.
OrderResult<Order> find_order(pqxx::transaction_base& txn, const std::string& order_id, Timestamp now);

struct OrderPage {
  std::vector<Order> items;
  std::optional<store::OrderKey> next_before;  // absent on the last page
};

// A member's orders, newest first, each as find_order reads it; `before` continues a page.
OrderResult<OrderPage> list_member_orders(pqxx::transaction_base& txn, const std::string& member_id,
                                          const std::optional<store::OrderKey>& before, int limit, Timestamp now);

}  // namespace loyalty::mall
