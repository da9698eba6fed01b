#include "mall/orders.hpp"

#include "mall/order_store.hpp"
#include "platform/assert.hpp"

namespace loyalty::mall {

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
  std::vector<std::string> ids;
  for (const auto& key : keys) ids.push_back(key.order_id);
  auto orders = store::read_full_orders(txn, ids);  // a few statements for the whole page
  for (const auto& key : keys) {
    const auto found = orders.find(key.order_id);
    LOYALTY_ASSERT(found != orders.end(), "an order that vanished");
    Order order = std::move(found->second);
    order.status = store::status_at(order, now);
    page.items.push_back(std::move(order));
  }
  return page;
}

std::optional<std::string> order_holding(pqxx::transaction_base& txn, const std::string& hold_id) {
  return store::order_of_hold(txn, hold_id);
}

namespace {

const db::Statement select_orders_of_holds{"orders.select_orders_of_holds",
                                           "SELECT hold_id, order_id FROM orders WHERE hold_id = ANY($1::text[])"};

}  // namespace

OrderHolds& OrderHolds::of(ledger::Batch& batch) {
  return batch.extension<OrderHolds>("mall.order_holds", [&] { return std::make_unique<OrderHolds>(batch); });
}

void OrderHolds::prefetch(db::ReadBatch& reads, Timestamp) {
  std::vector<std::string> hold_ids;
  for (auto& id : wanted_) {
    if (read_.insert(id).second) hold_ids.push_back(std::move(id));
  }
  wanted_.clear();
  if (hold_ids.empty()) return;
  reads.add(
      select_orders_of_holds,
      [this](const pqxx::result& rows) {
        for (const auto& row : rows) orders_[row[0].c_str()] = row[1].c_str();
      },
      db::array_literal(hold_ids));
}

std::optional<std::string> OrderHolds::order_holding(const std::string& hold_id) {
  if (read_.insert(hold_id).second) {
    if (auto order_id = mall::order_holding(batch_.transaction(), hold_id)) orders_[hold_id] = std::move(*order_id);
  }
  const auto found = orders_.find(hold_id);
  if (found == orders_.end()) return std::nullopt;
  return found->second;
}

}  // namespace loyalty::mall
