#include "mall/order_store.hpp"

#include <map>
#include <memory>
#include <string_view>

#include "platform/assert.hpp"
#include "platform/database.hpp"

namespace loyalty::mall::store {
namespace {

#define LOYALTY_ORDER_COLUMNS                                                                                  \
  "order_id, member_id, currency, status, total_cents, points_to_use, point_value_cents, cash_cents, hold_id," \
  " expires_at, created_at, payment_ref, paid_at, cancelled_at, earn_event_id, refunded_points,"               \
  " refunded_cash_cents, refunded_value_cents"

const db::Statement select_order{"orders.select", "SELECT " LOYALTY_ORDER_COLUMNS " FROM orders WHERE order_id = $1"};
const db::Statement lock_order{"orders.lock",
                               "SELECT " LOYALTY_ORDER_COLUMNS " FROM orders WHERE order_id = $1 FOR UPDATE"};
const db::Statement select_orders{"orders.select_many",
                                  "SELECT " LOYALTY_ORDER_COLUMNS " FROM orders WHERE order_id = ANY($1::text[])"};
const db::Statement lock_orders_by_id{"orders.lock_many",
                                      "SELECT " LOYALTY_ORDER_COLUMNS
                                      ", request_sha256 FROM orders"
                                      " WHERE order_id = ANY($1::text[]) ORDER BY order_id FOR UPDATE"};
#undef LOYALTY_ORDER_COLUMNS

const db::Statement select_lines_of_orders{
    "orders.select_lines_many",
    "SELECT order_id, sku, title, quantity, unit_price_cents, refunded_quantity FROM order_lines"
    " WHERE order_id = ANY($1::text[]) ORDER BY order_id, position"};

const db::Statement insert_orders{
    "orders.insert_many",
    "INSERT INTO orders (order_id, member_id, currency, total_cents, points_to_use, point_value_cents, cash_cents,"
    " status, expires_at, request_sha256, created_at, hold_id)"
    " SELECT i, m, c, t, p, v, x, 'pending_payment', e, h, a, d FROM unnest($1::text[], $2::text[], $3::text[],"
    " $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::timestamptz[], $9::text[], $10::timestamptz[],"
    " $11::text[]) AS r(i, m, c, t, p, v, x, e, h, a, d)"};

const db::Statement insert_lines{
    "orders.insert_lines",
    "INSERT INTO order_lines (order_id, position, sku, title, quantity, unit_price_cents)"
    " SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])"};

// The batch decided on the order with its row locked: the status it read is the status.
const db::Statement update_paid{
    "orders.set_paid_many",
    "UPDATE orders o SET status = 'paid', payment_ref = r.p, paid_at = r.t, earn_event_id = r.e"
    " FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS r(i, p, t, e) WHERE o.order_id = r.i"};

const db::Statement update_cancelled{"orders.set_cancelled_many",
                                     "UPDATE orders o SET status = 'cancelled', cancelled_at = r.t"
                                     " FROM unnest($1::text[], $2::timestamptz[]) AS r(i, t) WHERE o.order_id = r.i"};

const db::Statement insert_order_entries{
    "orders.insert_entries",
    "INSERT INTO order_entries (order_id, entry_id, role)"
    " SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[]) ON CONFLICT (order_id, entry_id) DO NOTHING"};

const db::Statement select_lines{
    "orders.select_lines",
    "SELECT sku, title, quantity, unit_price_cents, refunded_quantity FROM order_lines WHERE order_id = $1"
    " ORDER BY position"};

const db::Statement select_member_order_keys{
    "orders.select_member_order_keys",
    "SELECT order_id, created_at FROM orders WHERE member_id = $1"
    "   AND ($2::timestamptz IS NULL OR (created_at, order_id) < ($2::timestamptz, $3::text))"
    " ORDER BY created_at DESC, order_id DESC LIMIT $4"};

const db::Statement select_order_of_hold{"orders.order_of_hold", "SELECT order_id FROM orders WHERE hold_id = $1"};

const db::Statement update_refunded{
    "orders.set_refunded",
    "UPDATE orders SET status = $2, refunded_points = $3, refunded_cash_cents = $4, refunded_value_cents = $5"
    " WHERE order_id = $1"};

const db::Statement update_line_refunded{"orders.add_refunded_quantity",
                                         "UPDATE order_lines SET refunded_quantity = refunded_quantity + $3"
                                         " WHERE order_id = $1 AND sku = $2 AND refunded_quantity + $3 <= quantity"};

const db::Statement select_member{"orders.member_exists", "SELECT 1 FROM members WHERE member_id = $1"};

const db::Statement select_hold_lots{
    "orders.hold_lots",
    "SELECT h.lot_id, h.amount, l.expires_at FROM hold_lots h JOIN lots l USING (lot_id)"
    " WHERE h.hold_id = $1 ORDER BY l.expires_at, h.lot_id"};

const db::Statement insert_order_entry{
    "orders.insert_entry",
    "INSERT INTO order_entries (order_id, entry_id, role, refund_id) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (order_id, entry_id) DO NOTHING"};

// The orders' own entries and, for a hold that lapsed, the release the ledger wrote for it.
const db::Statement select_entries{
    "orders.select_entries_many",
    "WITH order_entry AS ("
    "  SELECT order_id, entry_id, role, refund_id FROM order_entries WHERE order_id = ANY($1::text[])"
    "  UNION ALL"
    "  SELECT o.order_id, h.close_entry_id, 'release', NULL FROM orders o JOIN holds h ON h.hold_id = o.hold_id"
    "   WHERE o.order_id = ANY($1::text[]) AND h.status = 'expired')"
    " SELECT oe.order_id, oe.entry_id, oe.role, e.kind, e.effective_at, oe.refund_id, a.name, p.asset, p.amount"
    " FROM order_entry oe JOIN entries e ON e.entry_id = oe.entry_id"
    " JOIN postings p ON p.entry_id = oe.entry_id JOIN accounts a ON a.account_id = p.account_id"
    " ORDER BY oe.order_id, oe.entry_id, p.posting_id"};

const db::Statement select_refund{
    "orders.select_refund",
    "SELECT refund_id, order_id, request_sha256, value_cents, points, points_expired, cash_cents, order_status_after,"
    " refund_entry_id, clawback_entry_id, created_at FROM order_refunds WHERE refund_id = $1"};

const db::Statement select_refund_ids{"orders.select_refund_ids_many",
                                      "SELECT order_id, refund_id FROM order_refunds WHERE order_id = ANY($1::text[])"
                                      " ORDER BY order_id, created_at, refund_id"};

const db::Statement select_refund_lines{"orders.select_refund_lines",
                                        "SELECT sku, quantity, value_cents, points, cash_cents FROM order_refund_lines "
                                        "WHERE refund_id = $1 ORDER BY position"};

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

// A line from its columns (sku, title, quantity, unit_price_cents, refunded_quantity) from `first` on.
OrderLine line_of_row(const pqxx::row& row, int first) {
  return {row[first].c_str(), row[first + 1].c_str(), row[first + 2].as<std::int64_t>(),
          row[first + 3].as<std::int64_t>(), row[first + 4].as<std::int64_t>()};
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

// select_entries' rows: the entries of each order, by order id.
std::map<std::string, std::vector<OrderEntry>> entries_of(const pqxx::result& rows) {
  std::map<std::string, std::vector<OrderEntry>> by_order;
  for (const auto& row : rows) {
    auto& entries = by_order[row[0].c_str()];
    const auto entry_id = row[1].as<std::int64_t>();
    if (entries.empty() || entries.back().entry_id != entry_id) {
      entries.push_back({entry_id, row[2].c_str(), row[3].c_str(), db::time_of(row[4]), db::optional_text(row[5]), {}});
    }
    entries.back().postings.push_back({row[6].c_str(), row[7].c_str(), row[8].as<std::int64_t>()});
  }
  return by_order;
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
  for (const auto& row : db::exec(txn, select_lines, order_id)) order.lines.push_back(line_of_row(row, 0));
  return order;
}

std::optional<Order> read_full_order(pqxx::transaction_base& txn, const std::string& order_id, Timestamp now) {
  auto orders = read_full_orders(txn, {order_id});
  if (orders.empty()) return std::nullopt;
  Order order = std::move(orders.begin()->second);
  order.status = status_at(order, now);
  return order;
}

std::map<std::string, Order> read_full_orders(pqxx::transaction_base& txn, const std::vector<std::string>& order_ids) {
  std::map<std::string, Order> orders;
  if (order_ids.empty()) return orders;
  const std::string ids = db::array_literal(order_ids);
  bool refunded = false;
  // The orders, their lines and their entries in one round trip. Each read has a snapshot of
  // its own: a line or entry of an order that committed after the first read is left out, as
  // that order is.
  db::ReadBatch reads{txn};
  reads.add(
      select_orders,
      [&](const pqxx::result& rows) {
        for (const auto& row : rows) {
          Order order = order_of_row(row);
          refunded =
              refunded || order.status == OrderStatus::partially_refunded || order.status == OrderStatus::refunded;
          const std::string id = order.order_id;
          orders.emplace(id, std::move(order));
        }
      },
      ids);
  reads.add(
      select_lines_of_orders,
      [&](const pqxx::result& rows) {
        for (const auto& row : rows) {
          if (const auto found = orders.find(row[0].c_str()); found != orders.end()) {
            found->second.lines.push_back(line_of_row(row, 1));
          }
        }
      },
      ids);
  reads.add(
      select_entries,
      [&](const pqxx::result& rows) {
        for (auto& [id, entries] : entries_of(rows)) {
          if (const auto found = orders.find(id); found != orders.end()) found->second.entries = std::move(entries);
        }
      },
      ids);
  reads.run();
  if (refunded) {  // every refund moves its order to partially_refunded or refunded
    for (const auto& row : db::exec(txn, select_refund_ids, ids)) {
      const auto order = orders.find(row[0].c_str());
      if (order == orders.end()) continue;  // an order committed after the orders' read, as above
      auto stored = read_refund(txn, row[1].c_str());
      LOYALTY_ASSERT(stored.has_value(), "a refund that vanished");
      order->second.refunds.push_back(std::move(stored->refund));
    }
  }
  return orders;
}

void lock_orders(db::ReadBatch& reads, const std::vector<std::string>& sorted_ids,
                 std::function<void(std::vector<LockedOrder>)> use) {
  if (sorted_ids.empty()) return;
  const std::string ids = db::array_literal(sorted_ids);
  auto locked = std::make_shared<std::vector<LockedOrder>>();
  reads.add(
      lock_orders_by_id,
      [locked](const pqxx::result& rows) {
        for (const auto& row : rows) locked->push_back({order_of_row(row), row[18].c_str()});
      },
      ids);
  // After the lock, so its snapshot sees every line committed before the orders were locked.
  // That snapshot is newer than the lock's: an order another node committed in between has its
  // lines here but was not locked. The batch treats such an order as absent, as the lock did
  // (creating it again meets the unique key and the batch is tried again), so its lines are
  // left out.
  reads.add(
      select_lines_of_orders,
      [locked, use = std::move(use)](const pqxx::result& rows) {
        std::map<std::string_view, Order*> by_id;
        for (auto& order : *locked) by_id.emplace(order.order.order_id, &order.order);
        for (const auto& row : rows) {
          const auto found = by_id.find(row[0].c_str());
          if (found != by_id.end()) found->second->lines.push_back(line_of_row(row, 1));
        }
        use(std::move(*locked));
      },
      ids);
}

void add_created(db::WriteBuffer& writes, const std::vector<CreatedOrderRow>& rows) {
  if (rows.empty()) return;
  const auto column = [&](auto format) { return db::array_literal(rows, format); };
  const auto number = [](std::int64_t n) { return std::to_string(n); };
  writes.add(insert_orders, column([](const CreatedOrderRow& r) { return r.order.order_id; }),
             column([](const CreatedOrderRow& r) { return r.order.member_id; }),
             column([](const CreatedOrderRow& r) { return r.order.currency; }),
             column([&](const CreatedOrderRow& r) { return number(r.total_cents); }),
             column([&](const CreatedOrderRow& r) { return number(r.order.points_to_use); }),
             column([&](const CreatedOrderRow& r) { return number(r.point_value_cents); }),
             column([&](const CreatedOrderRow& r) { return number(r.order.cash_cents); }),
             column([](const CreatedOrderRow& r) { return db::sql_time(r.expires_at); }),
             column([](const CreatedOrderRow& r) { return r.order.request_sha256; }),
             column([](const CreatedOrderRow& r) { return db::sql_time(r.created_at); }),
             column([](const CreatedOrderRow& r) { return r.hold_id; }));
  struct LineRow {
    const std::string* order_id;
    std::size_t position;
    const OrderLine* line;
  };
  std::vector<LineRow> lines;
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.order.lines.size(); ++i)
      lines.push_back({&row.order.order_id, i, &row.order.lines[i]});
  }
  if (lines.empty()) return;
  const auto line_column = [&](auto format) { return db::array_literal(lines, format); };
  writes.add(insert_lines, line_column([](const LineRow& r) { return *r.order_id; }),
             line_column([](const LineRow& r) { return std::to_string(r.position); }),
             line_column([](const LineRow& r) { return r.line->sku; }),
             line_column([](const LineRow& r) { return r.line->title; }),
             line_column([](const LineRow& r) { return std::to_string(r.line->quantity); }),
             line_column([](const LineRow& r) { return std::to_string(r.line->unit_price_cents); }));
}

void add_paid(db::WriteBuffer& writes, const std::vector<PaidOrderRow>& rows) {
  if (rows.empty()) return;
  const auto column = [&](auto format) { return db::array_literal(rows, format); };
  writes.add(update_paid, column([](const PaidOrderRow& r) { return r.order_id; }),
             column([](const PaidOrderRow& r) { return r.payment_ref; }),
             column([](const PaidOrderRow& r) { return db::sql_time(r.paid_at); }),
             column([](const PaidOrderRow& r) { return r.earn_event_id; }));
}

void add_cancelled(db::WriteBuffer& writes, const std::vector<CancelledOrderRow>& rows) {
  if (rows.empty()) return;
  const auto column = [&](auto format) { return db::array_literal(rows, format); };
  writes.add(update_cancelled, column([](const CancelledOrderRow& r) { return r.order_id; }),
             column([](const CancelledOrderRow& r) { return db::sql_time(r.cancelled_at); }));
}

void add_entries(db::WriteBuffer& writes, const std::vector<OrderEntryRow>& rows) {
  if (rows.empty()) return;
  const auto column = [&](auto format) { return db::array_literal(rows, format); };
  writes.add(insert_order_entries, column([](const OrderEntryRow& r) { return r.order_id; }),
             column([](const OrderEntryRow& r) { return std::to_string(r.entry_id); }),
             column([](const OrderEntryRow& r) { return r.role; }));
}
std::vector<OrderKey> member_order_keys(pqxx::transaction_base& txn, const std::string& member_id,
                                        const std::optional<OrderKey>& before, int limit) {
  const std::optional<std::string> before_time =
      before ? std::optional(db::sql_time(before->created_at)) : std::nullopt;
  const std::optional<std::string> before_id = before ? std::optional(before->order_id) : std::nullopt;
  std::vector<OrderKey> keys;
  for (const auto& row :
       db::exec(txn, select_member_order_keys, member_id, db::nullable(before_time), db::nullable(before_id), limit)) {
    keys.push_back({db::time_of(row[1]), row[0].c_str()});
  }
  return keys;
}

std::optional<std::string> order_of_hold(pqxx::transaction_base& txn, const std::string& hold_id) {
  const auto rows = db::exec(txn, select_order_of_hold, hold_id);
  if (rows.empty()) return std::nullopt;
  return std::string(rows[0][0].c_str());
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
