// The arithmetic of an order, with no I/O: its total, whether points and cash pay it exactly,
// how a refund's value splits between points and cash, and which lots refunded points go back
// to. Every product is computed in 128 bits or overflow-checked; nothing is floating point.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ledger/lots.hpp"
#include "mall/order.hpp"

namespace loyalty::mall {

// Σ quantity × unit_price_cents, or nullopt when it does not fit in int64.
std::optional<std::int64_t> order_total_cents(const std::vector<OrderLine>& lines);

enum class TotalsCheck { adds_up, overflow, mismatch };

// Whether Σ quantity × unit_price_cents = cash_cents + points_to_use × point_value_cents.
TotalsCheck check_totals(const std::vector<OrderLine>& lines, std::int64_t points_to_use, std::int64_t cash_cents,
                         std::int64_t point_value_cents);

// What an order paid, for splitting refunds.
struct PaidAmounts {
  std::int64_t total_cents = 0;  // > 0
  std::int64_t points = 0;       // points_to_use
  std::int64_t cash_cents = 0;
};

struct Split {
  std::int64_t points = 0;
  std::int64_t cash_cents = 0;
};

// The points and cash that refunding `refunded_value_cents` of the order's value returns in
// all (cumulative over every refund so far): points = floor(P × V / T), rounded down, and
// cash = ceil(C × V / T). When a point is worth one cent (P + C = T) the cash is exactly the
// remainder V − points; at V = T the split is exactly (P, C). Both parts only grow with V,
// so each refund's share (the difference of two cumulative splits) is never negative.
Split cumulative_split(const PaidAmounts& paid, std::int64_t refunded_value_cents);

// A refund's share: cumulative_split(after) − cumulative_split(before).
Split refund_split(const PaidAmounts& paid, std::int64_t value_before_cents, std::int64_t value_after_cents);

// The lots that `amount` refunded points go back to, when `already_returned` points of the
// same hold went back before: the hold's lots are given back latest-expiring first (the
// member keeps the longest-lived points), so the k-th point refunded is always the same one.
// `takes` are the hold's lots, soonest-expiring first, as hold_lots records them.
std::vector<ledger::LotTake> lots_to_return(const std::vector<ledger::LotTake>& takes, std::int64_t already_returned,
                                            std::int64_t amount);

}  // namespace loyalty::mall
