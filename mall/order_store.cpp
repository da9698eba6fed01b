#include "mall/order_store.hpp"

#include <map>

#include "ledger/assert.hpp"
#include "ledger/database.hpp"

namespace loyalty::mall::store {
namespace {

#define LOYALTY_ORDER_COLUMNS                                                                                  \
  "order_id, member_id, currency, status, total_cents, points_to_use, point_value_cents, cash_cents, hold_id," \
  " expires_at, created_at, payment_ref, paid_at, cancelled_at, earn_event_id, refunded_points,"              \
  " refunded_cash_cents, refunded_value_cents"

const db::Statement select_order{"orders.select", "SELECT " LOYALTY_ORDER_COLUMNS " FROM orders WHERE order_id = $1"};
const db::Statement lock_order{"orders.lock",
                               "SELECT " LOYALTY_ORDER_COLUMNS " FROM orders WHERE order_id = $1 FOR UPDATE"};
#undef LOYALTY_ORDER_COLUMNS

const db::Statement select_lines{
    "orders.select_lines",
    "SELECT sku, title, quantity, unit_price_cents, refunded_quantity FROM order_lines WHERE order_id = $1"
    " ORDER BY position"};

const db::Statement select_member_order_keys{
    "orders.select_member_order_keys",
    "SELECT order_id, created_at FROM orders WHERE member_id = $1"
    "   AND ($2::timestamptz IS NULL OR (created_at, order_id) < ($2::timestamptz, $3::text))"
    " ORDER BY created_at DESC, order_id DESC LIMIT $4"};

const db::Statement select_request_sha256{"orders.select_request_sha256",
                                          "SELECT request_sha256 FROM orders WHERE order_id = $1"};

const db::Statement insert_order_row{
    "orders.insert",
    "INSERT INTO orders (order_id, member_id, currency, total_cents, points_to_use, point_value_cents, cash_cents,"
    " status, expires_at, request_sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending_payment', $8, $9, $10)"
    " ON CONFLICT (order_id) DO NOTHING RETURNING order_id"};

const db::Statement insert_line{
    "orders.insert_line",
    "INSERT INTO order_lines (order_id, position, sku, title, quantity, unit_price_cents) VALUES ($1, $2, $3, $4, $5, $6)"};

const db::Statement update_hold{"orders.set_hold", "UPDATE orders SET hold_id = $2 WHERE order_id = $1"};

const db::Statement select_order_of_hold{"orders.order_of_hold", "SELECT order_id FROM orders WHERE hold_id = $1"};

const db::Statement update_paid{
    "orders.set_paid",
    "UPDATE orders SET status = 'paid', payment_ref = $2, paid_at = $3, earn_event_id = $4"
    " WHERE order_id = $1 AND status = 'pending_payment'"};

const db::Statement update_cancelled{
    "orders.set_cancelled",
    "UPDATE orders SET status = 'cancelled', cancelled_at = $2 WHERE order_id = $1 AND status = 'pending_payment'"};

const db::Statement update_refunded{
    "orders.set_refunded",
    "UPDATE orders SET status = $2, refunded_points = $3, refunded_cash_cents = $4, refunded_value_cents = $5"
    " WHERE order_id = $1"};

const db::Statement update_line_refunded{
    "orders.add_refunded_quantity",
    "UPDATE order_lines SET refunded_quantity = refunded_quantity + $3"
    " WHERE order_id = $1 AND sku = $2 AND refunded_quantity + $3 <= quantity"};

const db::Statement select_member{"orders.member_exists", "SELECT 1 FROM members WHERE member_id = $1"};

const db::Statement select_hold_entries{"orders.hold_entries",
                                        "SELECT open_entry_id, close_entry_id FROM holds WHERE hold_id = $1"};

const db::Statement select_hold_lots{
    "orders.hold_lots",
    "SELECT h.lot_id, h.amount, l.expires_at FROM hold_lots h JOIN lots l USING (lot_id)"
    " WHERE h.hold_id = $1 ORDER BY l.expires_at, h.lot_id"};

const db::Statement insert_order_entry{
    "orders.insert_entry",
    "INSERT INTO order_entries (order_id, entry_id, role, refund_id) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (order_id, entry_id) DO NOTHING"};

// The order's own entries and, for a hold that lapsed, the release the ledger wrote for it.
const db::Statement select_entries{
    "orders.select_entries",
    "WITH order_entry AS ("
    "  SELECT entry_id, role, refund_id FROM order_entries WHERE order_id = $1"
    "  UNION ALL"
    "  SELECT h.close_entry_id, 'release', NULL FROM orders o JOIN holds h ON h.hold_id = o.hold_id"
    "   WHERE o.order_id = $1 AND h.status = 'expired')"
    " SELECT oe.entry_id, oe.role, e.kind, e.effective_at, oe.refund_id, a.name, p.asset, p.amount"
    " FROM order_entry oe JOIN entries e ON e.entry_id = oe.entry_id"
    " JOIN postings p ON p.entry_id = oe.entry_id JOIN accounts a ON a.account_id = p.account_id"
    " ORDER BY oe.entry_id, p.posting_id"};

const db::Statement select_refund{
    "orders.select_refund",
    "SELECT refund_id, order_id, request_sha256, value_cents, points, points_expired, cash_cents, order_status_after,"
    " refund_entry_id, clawback_entry_id, created_at FROM order_refunds WHERE refund_id = $1"};

const db::Statement select_refund_ids{
    "orders.select_refund_ids", "SELECT refund_id FROM order_refunds WHERE order_id = $1 ORDER BY created_at, refund_id"};

const db::Statement select_refund_lines{
    "orders.select_refund_lines",
    "SELECT sku, quantity, value_cents, points, cash_cents FROM order_refund_lines WHERE refund_id = $1 ORDER BY position"};

const db::Statement select_refund_clawbacks{
    "orders.select_refund_clawbacks",
    "SELECT asset, clawed_back, written_off FROM order_refund_clawbacks WHERE refund_id = $1 ORDER BY asset"};

const db::Statement insert_refund_row{
    "orders.insert_refund",
    "INSERT INTO order_refunds (refund_id, order_id, request_sha256, value_cents, points, points_expired, cash_cents,"
    " order_status_after, refund_entry_id, clawback_entry_id, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (refund_id) DO NOTHING RETURNING refund_id"};

const db::Statement insert_refund_line{
    "orders.insert_refund_line",
    "INSERT INTO order_refund_lines (refund_id, position, sku, quantity, value_cents, points, cash_cents)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"};

const db::Statement insert_refund_clawback{
    "orders.insert_refund_clawback",
    "INSERT INTO order_refund_clawbacks (refund_id, asset, clawed_back, written_off) VALUES ($1, $2, $3, $4)"};

std::optional<Timestamp> optional_time(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return db::time_of(field);
}

std::optional<std::int64_t> optional_number(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return field.as<std::int64_t>();
}

Order order_of_row(const pqxx::row& row) {
  Order order;
  order.order_id = row[0].c_str();
  order.member_id = row[1].c_str();
  order.currency = row[2].c_str();
  const auto status = parse_status(row[3].c_str());
  LOYALTY_ASSERT(status.has_value(), "an order row with an unknown status");
  order.status = *status;
  order.total_cents = row[4].as<std::int64_t>();
  order.points_to_use = row[5].as<std::int64_t>();
  order.point_value_cents = row[6].as<std::int64_t>();
  order.cash_cents = row[7].as<std::int64_t>();
  order.hold_id = db::optional_text(row[8]);
  order.expires_at = db::time_of(row[9]);
  order.created_at = db::time_of(row[10]);
  order.payment_ref = db::optional_text(row[11]);
  order.paid_at = optional_time(row[12]);
  order.cancelled_at = optional_time(row[13]);
  order.earn_event_id = db::optional_text(row[14]);
  order.refunded_points = row[15].as<std::int64_t>();
  order.refunded_cash_cents = row[16].as<std::int64_t>();
  order.refunded_value_cents = row[17].as<std::int64_t>();
  return order;
}

std::vector<OrderEntry> entries_of(pqxx::transaction_base& txn, const std::string& order_id) {
  std::vector<OrderEntry> entries;
  for (const auto& row : db::exec(txn, select_entries, order_id)) {
    const auto entry_id = row[0].as<std::int64_t>();
    if (entries.empty() || entries.back().entry_id != entry_id) {
      entries.push_back({entry_id, row[1].c_str(), row[2].c_str(), db::time_of(row[3]), db::optional_text(row[4]), {}});
    }
    entries.back().postings.push_back({row[5].c_str(), row[6].c_str(), row[7].as<std::int64_t>()});
  }
  return entries;
}

}  // namespace

OrderStatus status_at(const Order& order, Timestamp now) {
  if (order.status == OrderStatus::pending_payment && order.expires_at <= now) return OrderStatus::expired;
  return order.status;
}

std::optional<Order> read_order(pqxx::transaction_base& txn, const std::string& order_id, bool lock) {
  const auto rows = db::exec(txn, lock ? lock_order : select_order, order_id);
  if (rows.empty()) return std::nullopt;
  Order order = order_of_row(rows[0]);
  for (const auto& row : db::exec(txn, select_lines, order_id)) {
    order.lines.push_back({row[0].c_str(), row[1].c_str(), row[2].as<std::int64_t>(), row[3].as<std::int64_t>(),
                           row[4].as<std::int64_t>()});
  }
  return order;
}

std::optional<Order> read_full_order(pqxx::transaction_base& txn, const std::string& order_id, Timestamp now) {
  auto order = read_order(txn, order_id, false);
  if (!order) return order;
  order->status = status_at(*order, now);
  for (const auto& row : db::exec(txn, select_refund_ids, order_id)) {
    auto stored = read_refund(txn, row[0].c_str());
    LOYALTY_ASSERT(stored.has_value(), "a refund that vanished");
    order->refunds.push_back(std::move(stored->refund));
  }
  order->entries = entries_of(txn, order_id);
  return order;
}

std::vector<OrderKey> member_order_keys(pqxx::transaction_base& txn, const std::string& member_id,
                                        const std::optional<OrderKey>& before, int limit) {
  const std::optional<std::string> before_time =
      before ? std::optional(db::sql_time(before->created_at)) : std::nullopt;
  const std::optional<std::string> before_id = before ? std::optional(before->order_id) : std::nullopt;
  std::vector<OrderKey> keys;
  for (const auto& row : db::exec(txn, select_member_order_keys, member_id, db::nullable(before_time),
                                  db::nullable(before_id), limit)) {
    keys.push_back({db::time_of(row[1]), row[0].c_str()});
  }
  return keys;
}

std::optional<std::string> request_sha256_of(pqxx::transaction_base& txn, const std::string& order_id) {
  const auto rows = db::exec(txn, select_request_sha256, order_id);
  if (rows.empty()) return std::nullopt;
  return std::string(rows[0][0].c_str());
}

bool insert_order(pqxx::transaction_base& txn, const NewOrder& order, std::int64_t total_cents,
                  std::int64_t point_value_cents, Timestamp expires_at, Timestamp now) {
  const auto claimed = db::exec(txn, insert_order_row, order.order_id, order.member_id, order.currency, total_cents,
                                order.points_to_use, point_value_cents, order.cash_cents, db::sql_time(expires_at),
                                order.request_sha256, db::sql_time(now));
  if (claimed.empty()) return false;
  for (std::size_t i = 0; i < order.lines.size(); ++i) {
    const auto& line = order.lines[i];
    db::exec(txn, insert_line, order.order_id, static_cast<int>(i), line.sku, line.title, line.quantity,
             line.unit_price_cents);
  }
  return true;
}

std::optional<std::string> order_of_hold(pqxx::transaction_base& txn, const std::string& hold_id) {
  const auto rows = db::exec(txn, select_order_of_hold, hold_id);
  if (rows.empty()) return std::nullopt;
  return std::string(rows[0][0].c_str());
}

void set_hold(pqxx::transaction_base& txn, const std::string& order_id, const std::string& hold_id) {
  db::exec(txn, update_hold, order_id, hold_id);
}

void set_paid(pqxx::transaction_base& txn, const std::string& order_id, const std::string& payment_ref,
              const std::optional<std::string>& earn_event_id, Timestamp now) {
  const auto updated = db::exec(txn, update_paid, order_id, payment_ref, db::sql_time(now), db::nullable(earn_event_id));
  LOYALTY_ASSERT(updated.affected_rows() == 1, "paying an order that is not pending");
}

void set_cancelled(pqxx::transaction_base& txn, const std::string& order_id, Timestamp now) {
  const auto updated = db::exec(txn, update_cancelled, order_id, db::sql_time(now));
  LOYALTY_ASSERT(updated.affected_rows() == 1, "cancelling an order that is not pending");
}

void set_refunded(pqxx::transaction_base& txn, const Order& order) {
  db::exec(txn, update_refunded, order.order_id, status_name(order.status), order.refunded_points,
           order.refunded_cash_cents, order.refunded_value_cents);
}

void add_refunded_quantity(pqxx::transaction_base& txn, const std::string& order_id, const std::string& sku,
                           std::int64_t quantity) {
  const auto updated = db::exec(txn, update_line_refunded, order_id, sku, quantity);
  LOYALTY_ASSERT(updated.affected_rows() == 1, "refunding more of a line than was bought");
}

bool member_exists(pqxx::transaction_base& txn, const std::string& member_id) {
  return !db::exec(txn, select_member, member_id).empty();
}

HoldEntries hold_entries(pqxx::transaction_base& txn, const std::string& hold_id) {
  const auto rows = db::exec(txn, select_hold_entries, hold_id);
  LOYALTY_ASSERT(rows.size() == 1, "an order whose hold is missing");
  return {rows[0][0].as<std::int64_t>(), optional_number(rows[0][1])};
}

std::vector<ledger::LotTake> hold_lots(pqxx::transaction_base& txn, const std::string& hold_id) {
  std::vector<ledger::LotTake> takes;
  for (const auto& row : db::exec(txn, select_hold_lots, hold_id)) {
    takes.push_back({row[0].as<std::int64_t>(), row[1].as<std::int64_t>(), db::time_of(row[2])});
  }
  return takes;
}

void record_entry(pqxx::transaction_base& txn, const std::string& order_id, std::int64_t entry_id,
                  const std::string& role, const std::optional<std::string>& refund_id) {
  db::exec(txn, insert_order_entry, order_id, entry_id, role, db::nullable(refund_id));
}

std::optional<StoredRefund> read_refund(pqxx::transaction_base& txn, const std::string& refund_id) {
  const auto rows = db::exec(txn, select_refund, refund_id);
  if (rows.empty()) return std::nullopt;
  const auto& row = rows[0];
  StoredRefund stored;
  Refund& refund = stored.refund;
  refund.refund_id = row[0].c_str();
  refund.order_id = row[1].c_str();
  stored.request_sha256 = row[2].c_str();
  refund.value_cents = row[3].as<std::int64_t>();
  refund.points = row[4].as<std::int64_t>();
  refund.points_expired = row[5].as<std::int64_t>();
  refund.cash_cents = row[6].as<std::int64_t>();
  refund.order_status_after = parse_status(row[7].c_str()).value_or(OrderStatus::paid);
  refund.refund_entry_id = optional_number(row[8]);
  refund.clawback_entry_id = optional_number(row[9]);
  refund.created_at = db::time_of(row[10]);
  for (const auto& line : db::exec(txn, select_refund_lines, refund_id)) {
    refund.lines.push_back({line[0].c_str(), line[1].as<std::int64_t>(), line[2].as<std::int64_t>(),
                            line[3].as<std::int64_t>(), line[4].as<std::int64_t>()});
  }
  for (const auto& clawback : db::exec(txn, select_refund_clawbacks, refund_id)) {
    const auto clawed = clawback[1].as<std::int64_t>();
    const auto written_off = clawback[2].as<std::int64_t>();
    if (clawed > 0) refund.clawed_back.emplace_back(clawback[0].c_str(), clawed);
    if (written_off > 0) refund.written_off.emplace_back(clawback[0].c_str(), written_off);
  }
  return stored;
}

bool insert_refund(pqxx::transaction_base& txn, const Refund& refund, const std::string& request_sha256) {
  const auto claimed =
      db::exec(txn, insert_refund_row, refund.refund_id, refund.order_id, request_sha256, refund.value_cents,
               refund.points, refund.points_expired, refund.cash_cents, status_name(refund.order_status_after),
               db::nullable(db::nullable_number(refund.refund_entry_id)),
               db::nullable(db::nullable_number(refund.clawback_entry_id)), db::sql_time(refund.created_at));
  if (claimed.empty()) return false;
  for (std::size_t i = 0; i < refund.lines.size(); ++i) {
    const auto& line = refund.lines[i];
    db::exec(txn, insert_refund_line, refund.refund_id, static_cast<int>(i), line.sku, line.quantity, line.value_cents,
             line.points, line.cash_cents);
  }
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> by_asset;
  for (const auto& [asset, amount] : refund.clawed_back) by_asset[asset].first += amount;
  for (const auto& [asset, amount] : refund.written_off) by_asset[asset].second += amount;
  for (const auto& [asset, amounts] : by_asset) {
    db::exec(txn, insert_refund_clawback, refund.refund_id, asset, amounts.first, amounts.second);
  }
  return true;
}

}  // namespace loyalty::mall::store
