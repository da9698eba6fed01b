// POST /v1/orders, GET /v1/orders/{order_id}, POST .../pay, POST .../cancel, POST .../refunds
// (mall/ does the work; this file parses, validates and maps refusals to problems).
#include <boost/asio/awaitable.hpp>

#include <algorithm>

#include "api/json_codec.hpp"
#include "api/messages.hpp"
#include "api/proto/loyalty/v1/orders.pb.h"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "app/write_protocol.hpp"
#include "mall/order_batch.hpp"
#include "mall/orders.hpp"
#include "mall/refunds.hpp"
#include "platform/digest.hpp"
#include "platform/executor.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

using mall::OrderRefusal;

Reply field_problem(std::string field, std::string detail) {
  Validation validation;
  validation.fail(std::move(field), std::move(detail));
  return validation.reply();
}

Reply order_refusal_reply(OrderRefusal refusal) {
  switch (refusal) {
    case OrderRefusal::request_invalid: return field_problem("body", "is not a valid request");
    case OrderRefusal::program_not_applied:
      return problem(409, "program_not_applied", "no program is in force: apply one first (PUT /v1/program)");
    case OrderRefusal::currency_mismatch:
      return field_problem("currency", "must be the currency of the program in force");
    case OrderRefusal::totals_mismatch:
      return field_problem("cash_cents",
                           "the lines' total (Σ quantity × unit_price_cents) must equal cash_cents + points_to_use × "
                           "point_value_cents");
    case OrderRefusal::amount_overflow:
      return field_problem("lines", "the amounts are too large: a total would exceed 2^63-1");
    case OrderRefusal::member_not_found: return problem(404, "member_not_found", "no member has this id");
    case OrderRefusal::insufficient_points:
      return problem(422, "insufficient_points", "the member's available points do not cover points_to_use");
    case OrderRefusal::order_not_found: return problem(404, "not_found", "no order has this id");
    case OrderRefusal::order_id_reused:
      return problem(409, "conflict", "an order with this order_id exists with different content");
    case OrderRefusal::hold_expired:
      return problem(409, "hold_expired", "the order's time to pay ran out: its points are no longer held");
    case OrderRefusal::hold_not_open:
      return problem(409, "hold_not_open", "the order's hold was closed outside the order");
    case OrderRefusal::order_expired:
      return problem(409, "order_expired", "the order's time to pay ran out; there is nothing to cancel");
    case OrderRefusal::order_cancelled: return problem(409, "order_cancelled", "the order was cancelled");
    case OrderRefusal::order_already_paid:
      return problem(409, "order_already_paid", "the order is paid (with this payment_ref only); refund it instead");
    case OrderRefusal::order_not_paid: return problem(409, "order_not_paid", "the order was never paid");
    case OrderRefusal::payment_ref_mismatch:
      return problem(409, "order_already_paid", "the order was paid with another payment_ref");
    case OrderRefusal::earn_event_id_taken:
      return problem(409, "conflict", "the order's earn event id was recorded by another event");
    case OrderRefusal::refund_id_reused:
      return problem(409, "conflict", "a refund with this refund_id exists for another order or other lines");
    case OrderRefusal::refund_sku_unknown: return field_problem("lines", "a sku that is not in the order");
    case OrderRefusal::refund_exceeds_order:
      return problem(422, "refund_exceeds_order", "a line's quantity is more than was bought and not yet refunded");
  }
  return problem(500, "internal_error", "unmapped refusal");
}

void add_amounts(const std::vector<std::pair<std::string, std::int64_t>>& amounts,
                 google::protobuf::RepeatedPtrField<v1::OrderAmount>& out) {
  for (const auto& [asset, amount] : amounts) {
    auto* item = out.Add();
    item->set_asset(asset);
    item->set_amount(amount);
  }
}

v1::OrderRefund refund_message(const mall::Refund& refund) {
  v1::OrderRefund message;
  message.set_refund_id(refund.refund_id);
  message.set_order_id(refund.order_id);
  message.set_order_status(mall::status_name(refund.order_status_after));
  message.set_value_cents(refund.value_cents);
  message.set_points(refund.points);
  message.set_points_to_member(refund.points - refund.points_expired);
  message.set_points_expired(refund.points_expired);
  message.set_cash_cents(refund.cash_cents);
  for (const auto& line : refund.lines) {
    auto* item = message.add_lines();
    item->set_sku(line.sku);
    item->set_quantity(line.quantity);
    item->set_value_cents(line.value_cents);
    item->set_points(line.points);
    item->set_cash_cents(line.cash_cents);
  }
  add_amounts(refund.clawed_back, *message.mutable_clawed_back());
  add_amounts(refund.written_off, *message.mutable_written_off());
  if (refund.refund_entry_id) message.set_refund_entry_id(*refund.refund_entry_id);
  if (refund.clawback_entry_id) message.set_clawback_entry_id(*refund.clawback_entry_id);
  message.set_created_at(format_rfc3339(refund.created_at));
  return message;
}

void add_entries(const std::vector<mall::OrderEntry>& entries, v1::Order& message) {
  for (const auto& entry : entries) {
    auto* item = message.add_entries();
    item->set_entry_id(entry.entry_id);
    item->set_role(entry.role);
    item->set_kind(entry.kind);
    item->set_effective_at(format_rfc3339(entry.effective_at));
    if (entry.refund_id) item->set_refund_id(*entry.refund_id);
    for (const auto& posting : entry.postings) {
      auto* out = item->add_postings();
      out->set_account(posting.account);
      out->set_asset(posting.asset);
      out->set_amount(posting.amount);
    }
  }
}

}  // namespace

v1::Order order_message(const mall::Order& order) {
  v1::Order message;
  message.set_order_id(order.order_id);
  message.set_member_id(order.member_id);
  message.set_status(mall::status_name(order.status));
  message.set_currency(order.currency);
  for (const auto& line : order.lines) {
    auto* item = message.add_lines();
    item->set_sku(line.sku);
    item->set_title(line.title);
    item->set_quantity(line.quantity);
    item->set_unit_price_cents(line.unit_price_cents);
    item->set_line_total_cents(line.quantity * line.unit_price_cents);  // fitted at creation
    item->set_refunded_quantity(line.refunded_quantity);
  }
  message.set_total_cents(order.total_cents);
  message.set_points_to_use(order.points_to_use);
  message.set_point_value_cents(order.point_value_cents);
  message.set_cash_cents(order.cash_cents);
  if (order.hold_id) message.set_hold_id(*order.hold_id);
  message.set_expires_at(format_rfc3339(order.expires_at));
  message.set_created_at(format_rfc3339(order.created_at));
  if (order.payment_ref) message.set_payment_ref(*order.payment_ref);
  if (order.paid_at) message.set_paid_at(format_rfc3339(*order.paid_at));
  if (order.cancelled_at) message.set_cancelled_at(format_rfc3339(*order.cancelled_at));
  if (order.earn_event_id) message.set_earn_event_id(*order.earn_event_id);
  message.set_refunded_points(order.refunded_points);
  message.set_refunded_cash_cents(order.refunded_cash_cents);
  message.set_refunded_value_cents(order.refunded_value_cents);
  for (const auto& refund : order.refunds) *message.add_refunds() = refund_message(refund);
  add_entries(order.entries, message);
  return message;
}

namespace {

// A success; a replay is marked so that it writes nothing.
Reply order_reply(int status, const mall::Order& order) {
  Reply reply = Reply::of(status, order_message(order));
  if (order.replayed) {
    reply.headers.emplace_back("Idempotent-Replayed", "true");
    reply.keep_writes = false;
  }
  return reply;
}

std::optional<Reply> validation_reply(const std::vector<mall::FieldIssue>& issues) {
  if (issues.empty()) return std::nullopt;
  Validation validation;
  for (const auto& issue : issues) validation.fail(issue.field, issue.detail);
  return validation.reply();
}

mall::NewOrder new_order_of(const v1::CreateOrderRequest& request) {
  mall::NewOrder order;
  order.order_id = request.order_id();
  order.member_id = request.member_id();
  order.currency = request.currency();
  for (const auto& line : request.lines()) {
    order.lines.push_back({line.sku(), line.title(), line.quantity(), line.unit_price_cents(), 0});
  }
  order.points_to_use = request.points_to_use();
  order.cash_cents = request.cash_cents();
  // Clamped only to keep the conversion exact; order_issues() refuses anything out of range.
  const std::int64_t ttl = request.has_ttl_seconds() ? request.ttl_seconds() : mall::order_ttl_default.count();
  order.ttl = std::chrono::seconds(std::clamp<std::int64_t>(ttl, -1, mall::order_ttl_max.count() + 1));
  order.request_sha256 = to_hex(sha256(to_binary(request)));
  return order;
}

app::Subjects order_subjects(const std::string& order_id) {
  app::Subjects subjects;
  subjects.leading = {{&mall::order_rows(), order_id}};
  return subjects;
}

using OrderDecision = mall::OrderResult<mall::OrderDecision>;
using OrderDecided = std::pair<mall::OrderBatch*, OrderDecision>;

// A write of one order, decided in the batch (mall/order_batch.hpp); its success answers the
// order as the batch left it, with `status`.
std::shared_ptr<app::Command> order_command(app::Subjects subjects, int status, Timestamp now,
                                            std::function<OrderDecision(ledger::Batch&, mall::OrderBatch&)> decide,
                                            std::function<void(ledger::Batch&)> prepare = nullptr) {
  return std::make_shared<app::DecisionCommand<OrderDecided>>(
      std::move(subjects),
      [decide = std::move(decide)](ledger::Batch& batch) -> OrderDecided {
        auto& orders = mall::OrderBatch::of(batch);
        return {&orders, decide(batch, orders)};
      },
      [status, now](const ledger::Batch&, const OrderDecided& decided) {
        const auto& result = decided.second;
        if (!result) return answer_of(order_refusal_reply(result.refusal()));
        return answer_of(order_reply(status, decided.first->answer(result.value(), now)));
      },
      std::move(prepare));
}

asio::awaitable<Reply> create_order(Service& service, RequestContext& context) {
  v1::CreateOrderRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  if (request.lines_size() > static_cast<int>(mall::order_lines_max)) {
    co_return field_problem("lines", "at most " + std::to_string(mall::order_lines_max) + " lines");
  }
  const mall::NewOrder order = new_order_of(request);
  if (auto invalid = validation_reply(mall::order_issues(order))) co_return *invalid;
  app::Subjects subjects = order_subjects(order.order_id);  // an existing order is a replay
  subjects.members = {order.member_id};
  subjects.points_members = {order.member_id};
  const auto command = order_command(
      std::move(subjects), 201, context.received_at,
      [&service, order, now = context.received_at, origin = context.origin()](ledger::Batch& batch,
                                                                              mall::OrderBatch& orders) {
        const auto program = service.program(batch.transaction());
        return orders.create(program.get(), order, now, origin);
      },
      [order](ledger::Batch& batch) { mall::OrderBatch::of(batch).prepare_create(order); });
  co_return co_await service.submit(context, db::routing_key_of(order.member_id), request, false, command);
}

asio::awaitable<Reply> get_order(Service& service, RequestContext& context) {
  const std::string order_id = context.param("order_id");
  co_return co_await service.read(db::routing_key_of(order_id), [&](pqxx::transaction_base& txn) {
    auto order = mall::find_order(txn, order_id, context.received_at);
    if (!order) return order_refusal_reply(order.refusal());
    return Reply::of(200, order_message(order.value()));
  });
}

asio::awaitable<Reply> pay_order(Service& service, RequestContext& context) {
  v1::PayOrderRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  if (request.payment_ref().empty() || request.payment_ref().size() > mall::payment_ref_chars_max) {
    co_return field_problem("payment_ref", "is required, at most 200 characters");
  }
  const std::string order_id = context.param("order_id");
  const auto command = order_command(
      order_subjects(order_id), 200, context.received_at,
      [&service, order_id, payment_ref = request.payment_ref(), now = context.received_at, origin = context.origin()](
          ledger::Batch& batch, mall::OrderBatch& orders) {
        return orders.pay(service.program(batch.transaction()), order_id, payment_ref, now, origin);
      },
      [&service, order_id, now = context.received_at](ledger::Batch& batch) {
        mall::OrderBatch::of(batch).prepare_pay(service.program(batch.transaction()), order_id, now);
      });
  co_return co_await service.submit(context, db::routing_key_of(order_id), request, false, command);
}

asio::awaitable<Reply> cancel_order(Service& service, RequestContext& context) {
  v1::CancelOrderRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  const std::string order_id = context.param("order_id");
  const auto command =
      order_command(order_subjects(order_id), 200, context.received_at,
                    [order_id, now = context.received_at, origin = context.origin()](
                        ledger::Batch&, mall::OrderBatch& orders) { return orders.cancel(order_id, now, origin); });
  co_return co_await service.submit(context, db::routing_key_of(order_id), request, false, command);
}

asio::awaitable<Reply> refund_order(Service& service, RequestContext& context) {
  v1::CreateRefundRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  if (request.lines_size() > static_cast<int>(mall::refund_lines_max)) {
    co_return field_problem("lines", "at most " + std::to_string(mall::refund_lines_max) + " lines");
  }
  const std::string order_id = context.param("order_id");
  mall::RefundRequest refund;
  refund.refund_id = request.refund_id();
  for (const auto& line : request.lines()) refund.lines.push_back({line.sku(), line.quantity()});
  refund.request_sha256 = to_hex(sha256(order_id + "\n" + to_binary(request)));
  if (auto invalid = validation_reply(mall::refund_issues(refund))) co_return *invalid;
  co_return co_await service.write(
      context, db::routing_key_of(order_id), request, false,
      [&](pqxx::transaction_base& txn) {
        const auto program = service.program(txn);
        auto refunded = mall::refund_order(txn, program.get(), order_id, refund, context.received_at, context.origin());
        if (!refunded) return order_refusal_reply(refunded.refusal());
        Reply reply = Reply::of(201, refund_message(refunded.value()));
        if (refunded->replayed) {
          reply.headers.emplace_back("Idempotent-Replayed", "true");
          reply.keep_writes = false;
        }
        return reply;
      },
      order_subjects(order_id));  // the order, its hold and its member: locked before the refund runs
}

}  // namespace

void add_order_routes(Router& router, Service& service) {
  using http::verb;
  router.add(verb::post, "/v1/orders", {Role::mall, Role::admin},
             [&service](RequestContext& c) { return create_order(service, c); });
  router.add(verb::get, "/v1/orders/{order_id}", {Role::mall, Role::admin},
             [&service](RequestContext& c) { return get_order(service, c); });
  router.add(verb::post, "/v1/orders/{order_id}/pay", {Role::mall, Role::admin},
             [&service](RequestContext& c) { return pay_order(service, c); });
  router.add(verb::post, "/v1/orders/{order_id}/cancel", {Role::mall, Role::admin},
             [&service](RequestContext& c) { return cancel_order(service, c); });
  router.add(verb::post, "/v1/orders/{order_id}/refunds", {Role::mall, Role::admin},
             [&service](RequestContext& c) { return refund_order(service, c); });
}

}  // namespace loyalty::api
