// Storage of orders (migrations/0007): reading and locking an order with its lines, its
// refunds and the ledger entries it caused, and recording those entries. Used by orders.cpp
// and refunds.cpp; no business rules live here.
#pragma once

#include <pqxx/pqxx>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ledger/lots.hpp"
#include "mall/order.hpp"
#include "platform/database.hpp"

namespace loyalty::mall::store {

// The order and its lines; nullopt when there is none. `lock` takes the row FOR UPDATE,
// which is what serialises every state change of one order.
std::optional<Order> read_order(pqxx::transaction_base& txn, const std::string& order_id, bool lock);

// The order with its refunds and entries, as GET /v1/orders/{id} shows it.
std::optional<Order> read_full_order(pqxx::transaction_base& txn, const std::string& order_id, Timestamp now);

// Orders with their lines, refunds and entries, by id (unknown ids are absent), with the
// status stored (status_at() tells what it reads as). Three statements however many orders;
// refunded orders cost one more, and three per refund.
std::map<std::string, Order> read_full_orders(pqxx::transaction_base& txn, const std::vector<std::string>& order_ids);

// Adds to `reads` the lock of these orders FOR UPDATE in id order (a batch's first lock
// step), then the read of their lines; when `reads` runs, `use` gets every order found, with
// its lines and the hash of the request that created it.
struct LockedOrder {
  Order order;
  std::string request_sha256;
};
void lock_orders(db::ReadBatch& reads, const std::vector<std::string>& sorted_ids,
                 std::function<void(std::vector<LockedOrder>)> use);

// What a batch writes for orders, as multi-row statements added to its write buffer.
struct CreatedOrderRow {
  NewOrder order;
  std::int64_t total_cents = 0;
  std::int64_t point_value_cents = 1;
  Timestamp expires_at;
  Timestamp created_at;
  std::optional<std::string> hold_id;
};
struct PaidOrderRow {
  std::string order_id;
  std::string payment_ref;
  Timestamp paid_at;
  std::optional<std::string> earn_event_id;
};
struct CancelledOrderRow {
  std::string order_id;
  Timestamp cancelled_at;
};
struct OrderEntryRow {
  std::string order_id;
  std::int64_t entry_id = 0;
  std::string role;
};
void add_created(db::WriteBuffer& writes, const std::vector<CreatedOrderRow>& rows);
void add_paid(db::WriteBuffer& writes, const std::vector<PaidOrderRow>& rows);
void add_cancelled(db::WriteBuffer& writes, const std::vector<CancelledOrderRow>& rows);
void add_entries(db::WriteBuffer& writes, const std::vector<OrderEntryRow>& rows);

// The status an order reads as at `now`: a pending order past its expiry is expired.
OrderStatus status_at(const Order& order, Timestamp now);

// A member's orders, newest first (by created_at, then order_id): the id and creation time of
// each, after the (created_at, order_id) of `before` when given.
struct OrderKey {
  Timestamp created_at;
  std::string order_id;
};
std::vector<OrderKey> member_order_keys(pqxx::transaction_base& txn, const std::string& member_id,
                                        const std::optional<OrderKey>& before, int limit);

std::optional<std::string> order_of_hold(pqxx::transaction_base& txn, const std::string& hold_id);
void set_refunded(pqxx::transaction_base& txn, const Order& order);  // refunded_* and status from `order`
void add_refunded_quantity(pqxx::transaction_base& txn, const std::string& order_id, const std::string& sku,
                           std::int64_t quantity);

bool member_exists(pqxx::transaction_base& txn, const std::string& member_id);

// The lots a hold took its points from, soonest-expiring first.
std::vector<ledger::LotTake> hold_lots(pqxx::transaction_base& txn, const std::string& hold_id);

void record_entry(pqxx::transaction_base& txn, const std::string& order_id, std::int64_t entry_id,
                  const std::string& role, const std::optional<std::string>& refund_id = std::nullopt);

// A refund with its lines and clawbacks, and the order and request it belongs to.
struct StoredRefund {
  Refund refund;
  std::string request_sha256;
};
std::optional<StoredRefund> read_refund(pqxx::transaction_base& txn, const std::string& refund_id);
// Claims the refund id and stores the refund: false when the id exists (nothing is written).
bool insert_refund(pqxx::transaction_base& txn, const Refund& refund, const std::string& request_sha256);

}  // namespace loyalty::mall::store
