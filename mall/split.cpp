#include "mall/split.hpp"

#include <algorithm>

#include "ledger/amounts.hpp"
#include "platform/assert.hpp"

namespace loyalty::mall {

std::optional<std::int64_t> order_total_cents(const std::vector<OrderLine>& lines) {
  std::int64_t total = 0;
  for (const auto& line : lines) {
    const auto value = ledger::checked_mul(line.quantity, line.unit_price_cents);
    if (!value) return std::nullopt;
    const auto sum = ledger::checked_add(total, *value);
    if (!sum) return std::nullopt;
    total = *sum;
  }
  return total;
}

TotalsCheck check_totals(const std::vector<OrderLine>& lines, std::int64_t points_to_use, std::int64_t cash_cents,
                         std::int64_t point_value_cents) {
  const auto total = order_total_cents(lines);
  const auto points_value = ledger::checked_mul(points_to_use, point_value_cents);
  if (!total || !points_value) return TotalsCheck::overflow;
  const auto paid = ledger::checked_add(cash_cents, *points_value);
  if (!paid) return TotalsCheck::overflow;
  return *paid == *total ? TotalsCheck::adds_up : TotalsCheck::mismatch;
}

Split cumulative_split(const PaidAmounts& paid, std::int64_t refunded_value_cents) {
  LOYALTY_ASSERT(paid.total_cents > 0 && refunded_value_cents >= 0 && refunded_value_cents <= paid.total_cents,
                 "a refunded value outside the order");
  using wide = __int128;
  const wide value = refunded_value_cents;
  const wide total = paid.total_cents;
  Split split;
  split.points = static_cast<std::int64_t>(wide{paid.points} * value / total);
  split.cash_cents = static_cast<std::int64_t>((wide{paid.cash_cents} * value + total - 1) / total);
  return split;
}

Split refund_split(const PaidAmounts& paid, std::int64_t value_before_cents, std::int64_t value_after_cents) {
  LOYALTY_ASSERT(value_before_cents <= value_after_cents, "a refund of a negative value");
  const Split before = cumulative_split(paid, value_before_cents);
  const Split after = cumulative_split(paid, value_after_cents);
  LOYALTY_ASSERT(after.points >= before.points && after.cash_cents >= before.cash_cents, "a split that shrinks");
  return {after.points - before.points, after.cash_cents - before.cash_cents};
}

std::vector<ledger::LotTake> lots_to_return(const std::vector<ledger::LotTake>& takes, std::int64_t already_returned,
                                            std::int64_t amount) {
  std::vector<ledger::LotTake> slice;
  std::int64_t skip = already_returned;
  for (auto it = takes.rbegin(); it != takes.rend() && amount > 0; ++it) {
    const std::int64_t skipped = std::min(skip, it->amount);
    skip -= skipped;
    const std::int64_t back = std::min(amount, it->amount - skipped);
    if (back > 0) slice.push_back({it->lot_id, back, it->expires_at});
    amount -= back;
  }
  LOYALTY_ASSERT(amount == 0, "refunding more points than the hold took");
  return slice;
}

}  // namespace loyalty::mall
