// Mall orders: what the lifestyle mall sells for points and cash, as the ledger sees it.
//
//   pending_payment ──pay──▶ paid ──refund──▶ partially_refunded ──refund──▶ refunded
//        │                     └──────────────refund (everything)──────────▶ refunded
//        ├──cancel──▶ cancelled
//        └──expires_at passes──▶ expired   (read so; the hold releases itself)
//
// An order holds its points when it is created (a ledger hold whose reference is the order
// id), captures them when it is paid and sends the cash part through the earning rules as a
// mall_purchase event; refunds give back points and cash line by line and claw back the earn
// on the refunded cash. This header holds the order's types, limits and refusals; the work is
// in orders.hpp (create, pay, cancel, read) and refunds.hpp.
#pragma once

#include "ledger/result.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "ledger/holds.hpp"
#include "platform/assert.hpp"
#include "platform/time.hpp"

namespace loyalty::mall {

// Limits of one order. A checkout reserves points for order_ttl_default unless it asks for
// another time-to-live, at most order_ttl_max (a day: long enough for a bank transfer, short
// enough that reserved points do not sit idle for a week as a plain hold may).
inline constexpr std::size_t order_lines_max = 200;
inline constexpr std::size_t refund_lines_max = order_lines_max;
inline constexpr std::size_t refund_id_chars_max = 128;
// The order's earn event is "order:<order_id>", and event ids are at most 128 characters.
inline constexpr std::size_t order_id_chars_max = 120;
inline constexpr std::size_t sku_chars_max = 64;
inline constexpr std::size_t title_chars_max = 200;
inline constexpr std::size_t payment_ref_chars_max = 200;
inline constexpr std::chrono::seconds order_ttl_min{1};
inline constexpr std::chrono::seconds order_ttl_default{15 * 60};
inline constexpr std::chrono::seconds order_ttl_max{24 * 3600};
static_assert(order_ttl_min >= ledger::hold_ttl_min && order_ttl_max <= ledger::hold_ttl_max,
              "an order's time-to-live is its hold's");
static_assert(order_ttl_min <= order_ttl_default && order_ttl_default <= order_ttl_max);

enum class OrderStatus { pending_payment, paid, partially_refunded, refunded, cancelled, expired };
const char* status_name(OrderStatus status);
std::optional<OrderStatus> parse_status(std::string_view name);

struct OrderLine {
  std::string sku;
  std::string title;
  std::int64_t quantity = 0;
  std::int64_t unit_price_cents = 0;
  std::int64_t refunded_quantity = 0;
};

struct NewOrder {
  std::string order_id;
  std::string member_id;
  std::string currency;
  std::vector<OrderLine> lines;
  std::int64_t points_to_use = 0;
  std::int64_t cash_cents = 0;
  std::chrono::seconds ttl = order_ttl_default;
  std::string request_sha256;  // hex; tells a replay from another order with the same id
};

struct RefundLineRequest {
  std::string sku;
  std::int64_t quantity = 0;
};

struct RefundRequest {
  std::string refund_id;
  std::vector<RefundLineRequest> lines;
  std::string request_sha256;  // hex, of the order id and the lines
};

struct RefundLine {
  std::string sku;
  std::int64_t quantity = 0;
  std::int64_t value_cents = 0;
  std::int64_t points = 0;
  std::int64_t cash_cents = 0;
};

struct Refund {
  std::string refund_id;
  std::string order_id;
  std::int64_t value_cents = 0;
  std::int64_t points = 0;          // returned in all
  std::int64_t points_expired = 0;  // of `points`, from lots expired by then: to system:breakage
  std::int64_t cash_cents = 0;
  OrderStatus order_status_after = OrderStatus::paid;
  std::optional<std::int64_t> refund_entry_id;
  std::optional<std::int64_t> clawback_entry_id;
  std::vector<std::pair<std::string, std::int64_t>> clawed_back;  // by asset
  std::vector<std::pair<std::string, std::int64_t>> written_off;  // by asset (cap_at_balance)
  std::vector<RefundLine> lines;
  Timestamp created_at;
  bool replayed = false;  // the answer to a replay: nothing was written
};

struct EntryPosting {
  std::string account;  // "member:mem_…:available", "system:redemptions", ...
  std::string asset;
  std::int64_t amount = 0;
};

// A ledger entry the order caused, and its role: hold, capture, release, earn, refund, clawback.
struct OrderEntry {
  std::int64_t entry_id = 0;
  std::string role;
  std::string kind;
  Timestamp effective_at;
  std::optional<std::string> refund_id;
  std::vector<EntryPosting> postings;
};

struct Order {
  std::string order_id;
  std::string member_id;
  std::string currency;
  OrderStatus status = OrderStatus::pending_payment;
  std::vector<OrderLine> lines;
  std::int64_t total_cents = 0;
  std::int64_t points_to_use = 0;
  std::int64_t point_value_cents = 1;
  std::int64_t cash_cents = 0;
  std::optional<std::string> hold_id;
  Timestamp expires_at;
  Timestamp created_at;
  std::optional<std::string> payment_ref;
  std::optional<Timestamp> paid_at;
  std::optional<Timestamp> cancelled_at;
  std::optional<std::string> earn_event_id;
  std::int64_t refunded_points = 0;
  std::int64_t refunded_cash_cents = 0;
  std::int64_t refunded_value_cents = 0;
  std::vector<Refund> refunds;      // filled by find_order
  std::vector<OrderEntry> entries;  // filled by find_order
  bool replayed = false;            // the answer to a replay: nothing was written
};

// The closed set of reasons an order request is turned down (api/order_routes.cpp maps them).
enum class OrderRefusal {
  request_invalid,  // the shape: order_issues() / refund_issues() say what
  program_not_applied,
  currency_mismatch,  // not the program's currency
  totals_mismatch,    // Σ quantity × unit price ≠ cash + points × point value
  amount_overflow,
  member_not_found,
  insufficient_points,
  order_not_found,
  order_id_reused,       // the same order_id with a different order
  hold_expired,          // pay after the order's time ran out
  hold_not_open,         // the order's hold was closed outside the order (POST /v1/holds/{id}/void)
  order_expired,         // cancel after the order's time ran out
  order_cancelled,       // pay or refund of a cancelled order
  order_already_paid,    // cancel of a paid order
  order_not_paid,        // refund of an order that was never paid
  payment_ref_mismatch,  // pay again with another payment_ref
  earn_event_id_taken,   // "order:<id>" was recorded by someone else with other content
  refund_id_reused,      // the same refund_id with another order or other lines
  refund_sku_unknown,
  refund_exceeds_order,  // more of a line than was bought and not yet refunded
};

template <typename T>
using OrderResult = ledger::Result<T, OrderRefusal>;

// A problem with one field of a request, as a sentence.
struct FieldIssue {
  std::string field;  // "lines[2].quantity"
  std::string detail;
};

// Everything wrong with the shape of a new order or a refund (no I/O; empty when valid).
std::vector<FieldIssue> order_issues(const NewOrder& order);
std::vector<FieldIssue> refund_issues(const RefundRequest& refund);
// 1 to `chars_max` characters of [A-Za-z0-9_.:-]: order and refund ids.
bool is_natural_id(std::string_view id, std::size_t chars_max);

// The id of the mall_purchase event that earns on an order's cash part.
std::string earn_event_id(const std::string& order_id);

}  // namespace loyalty::mall
