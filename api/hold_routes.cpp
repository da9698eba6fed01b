// POST /v1/holds, GET /v1/holds/{hold_id}, POST .../capture, POST .../void
#include <boost/asio/awaitable.hpp>

#include "api/limits.hpp"
#include "api/messages.hpp"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "ledger/accounts.hpp"
#include "ledger/batch.hpp"
#include "ledger/holds.hpp"
#include "mall/orders.hpp"
#include "platform/executor.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

using HoldResult = ledger::Result<ledger::Hold>;
using HoldChange = std::function<HoldResult(ledger::Batch&)>;

}  // namespace

v1::Hold hold_message(const ledger::Hold& hold) {
  v1::Hold message;
  message.set_hold_id(hold.hold_id);
  message.set_member_id(hold.member_id);
  message.set_status(hold.status);
  message.set_amount(hold.amount);
  message.set_captured_amount(hold.captured_amount);
  if (hold.reference) message.set_reference(*hold.reference);
  message.set_expires_at(format_rfc3339(hold.expires_at));
  message.set_created_at(format_rfc3339(hold.created_at));
  if (hold.closed_at) message.set_closed_at(format_rfc3339(*hold.closed_at));
  return message;
}

namespace {

asio::awaitable<Reply> create_hold(Service& service, RequestContext& context) {
  v1::CreateHoldRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  if (request.member_id().empty()) validation.fail("member_id", "is required");
  if (request.amount() <= 0) validation.fail("amount", "must be a whole number of points greater than zero");
  if (request.has_asset() && request.asset() != ledger::points_asset) {
    validation.fail("asset", "holds are on POINTS only");
  }
  const auto ttl =
      std::chrono::seconds(request.has_ttl_seconds() ? request.ttl_seconds() : ledger::hold_ttl_default.count());
  if (ttl < ledger::hold_ttl_min || ttl > ledger::hold_ttl_max) {
    validation.fail("ttl_seconds", "must be from 1 to 604800");
  }
  if (request.has_reference() && request.reference().size() > limits::reference_chars_max) {
    validation.fail("reference", "at most 200 characters");
  }
  if (!validation.ok()) co_return validation.reply();
  ledger::OpenHold hold{request.member_id(), request.amount(), ttl,
                        request.has_reference() ? std::optional(request.reference()) : std::nullopt};
  app::Subjects subjects;
  subjects.members = {hold.member_id};
  subjects.points_members = {hold.member_id};
  const std::shared_ptr<app::Command> command = std::make_shared<app::DecisionCommand<HoldResult>>(
      std::move(subjects),
      [hold, now = context.received_at, origin = context.origin()](ledger::Batch& batch) {
        return ledger::open_hold(batch, hold, now, origin);
      },
      [](const ledger::Batch&, const HoldResult& opened) {
        if (!opened) return answer_of(refusal_reply(opened.refusal()));
        return answer_of(Reply::of(201, hold_message(opened.value())));
      });
  co_return co_await service.submit(context, db::routing_key_of(request.member_id()), request, true, command);
}

asio::awaitable<Reply> get_hold(Service& service, RequestContext& context) {
  const std::string hold_id = context.param("hold_id");
  co_return co_await service.read(db::routing_key_of(hold_id), [&](pqxx::transaction_base& txn) {
    auto hold = ledger::find_hold(txn, hold_id, context.received_at);
    if (!hold) return refusal_reply(hold.refusal());
    return Reply::of(200, hold_message(hold.value()));
  });
}

// A hold an order took moves only with its order: capturing or voiding it here would leave
// the order pending with nothing held, or cancelled with its points spent.
std::optional<Reply> refuse_order_hold(ledger::Batch& batch, const std::string& hold_id) {
  const auto order_id = mall::OrderHolds::of(batch).order_holding(hold_id);
  if (!order_id) return std::nullopt;
  return problem(409, "hold_belongs_to_order",
                 "the hold belongs to order " + *order_id + ": pay or cancel the order instead");
}

// Capture or void: the hold is locked before its member's accounts (the batch's lock order).
asio::awaitable<Reply> change_hold(Service& service, RequestContext& context, const google::protobuf::Message& request,
                                   const std::string& hold_id, const HoldChange& change) {
  using Decided = std::variant<Reply, HoldResult>;
  app::Subjects subjects;
  subjects.holds = {hold_id};
  const std::shared_ptr<app::Command> command = std::make_shared<app::DecisionCommand<Decided>>(
      std::move(subjects),
      [hold_id, change](ledger::Batch& batch) -> Decided {
        if (auto refused = refuse_order_hold(batch, hold_id)) return std::move(*refused);
        return change(batch);
      },
      [](const ledger::Batch&, const Decided& decided) {
        if (const auto* refused = std::get_if<Reply>(&decided)) return answer_of(*refused);
        const auto& changed = std::get<HoldResult>(decided);
        if (!changed) return answer_of(refusal_reply(changed.refusal()));
        return answer_of(Reply::of(200, hold_message(changed.value())));
      },
      // Whether an order holds the hold is read with the batch's locks (mall::OrderHolds).
      [hold_id](ledger::Batch& batch) { mall::OrderHolds::of(batch).want(hold_id); });
  co_return co_await service.submit(context, db::routing_key_of(hold_id), request, false, command);
}

asio::awaitable<Reply> capture_hold(Service& service, RequestContext& context) {
  v1::CaptureHoldRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  if (request.has_amount() && request.amount() <= 0) {
    Validation validation;
    validation.fail("amount", "must be greater than zero (omit it to capture the whole hold)");
    co_return validation.reply();
  }
  const std::string hold_id = context.param("hold_id");
  const auto amount = request.has_amount() ? std::optional(request.amount()) : std::nullopt;
  // A named local, not a temporary: GCC 12 destroys temporaries of a co_await expression twice
  // (GCC bug 99576), and this one owns strings.
  const HoldChange capture = [hold_id, amount, now = context.received_at,
                              origin = context.origin()](ledger::Batch& batch) {
    return ledger::capture_hold(batch, hold_id, amount, now, origin);
  };
  co_return co_await change_hold(service, context, request, hold_id, capture);
}

asio::awaitable<Reply> void_hold(Service& service, RequestContext& context) {
  v1::VoidHoldRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  const std::string hold_id = context.param("hold_id");
  const HoldChange void_it = [hold_id, now = context.received_at, origin = context.origin()](ledger::Batch& batch) {
    return ledger::void_hold(batch, hold_id, now, origin);
  };
  co_return co_await change_hold(service, context, request, hold_id, void_it);
}

}  // namespace

void add_hold_routes(Router& router, Service& service) {
  using http::verb;
  router.add(verb::post, "/v1/holds", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return create_hold(service, c); });
  router.add(verb::get, "/v1/holds/{hold_id}", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return get_hold(service, c); });
  router.add(verb::post, "/v1/holds/{hold_id}/capture", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return capture_hold(service, c); });
  router.add(verb::post, "/v1/holds/{hold_id}/void", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return void_hold(service, c); });
}

}  // namespace loyalty::api
