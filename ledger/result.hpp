// Result<T>: either a value or a Refusal, the closed set of reasons the ledger turns a
// client's request down. Refusals are not exceptions: they are expected answers, mapped to
// HTTP problems in api/ only. Other capabilities use the same template with their own closed
// enum (Result<Order, OrderRefusal>).
#pragma once

#include <utility>
#include <variant>

#include "platform/assert.hpp"

namespace loyalty::ledger {

enum class Refusal {
  member_not_found,
  external_id_taken,
  asset_unknown,
  asset_not_allowed,  // e.g. a hold on GROWTH
  amount_not_positive,
  amount_is_zero,
  amount_overflow,       // the result would not fit in int64
  insufficient_points,   // POINTS available does not cover a debit
  insufficient_balance,  // another asset's available does not cover a debit
  reason_code_unknown,
  ttl_out_of_range,
  hold_not_found,
  hold_not_open,
  hold_expired,
  capture_exceeds_hold,
};

const char* refusal_name(Refusal refusal);

template <typename T, typename E = Refusal>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(E refusal) : state_(refusal) {}         // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  const T& value() const& {
    LOYALTY_ASSERT(ok(), "value() of a refused result");
    return std::get<T>(state_);
  }
  T& value() & {
    LOYALTY_ASSERT(ok(), "value() of a refused result");
    return std::get<T>(state_);
  }
  T&& value() && {
    LOYALTY_ASSERT(ok(), "value() of a refused result");
    return std::get<T>(std::move(state_));
  }
  const T* operator->() const { return &value(); }
  E refusal() const {
    LOYALTY_ASSERT(!ok(), "refusal() of a successful result");
    return std::get<E>(state_);
  }

 private:
  std::variant<T, E> state_;
};

}  // namespace loyalty::ledger
