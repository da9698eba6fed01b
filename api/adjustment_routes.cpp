// POST /v1/adjustments
#include <boost/asio/awaitable.hpp>

#include "api/limits.hpp"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "ledger/adjustments.hpp"
#include "ledger/batch.hpp"
#include "platform/executor.hpp"
#include "program/cache.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

asio::awaitable<Reply> create_adjustment(Service& service, RequestContext& context) {
  v1::CreateAdjustmentRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  if (request.member_id().empty()) validation.fail("member_id", "is required");
  if (request.asset() != "POINTS" && request.asset() != "GROWTH") validation.fail("asset", "must be POINTS or GROWTH");
  if (request.amount() == 0) validation.fail("amount", "must be a non-zero whole number");
  if (request.amount() == INT64_MIN) validation.fail("amount", "is out of range");
  if (!ledger::is_adjustment_reason_code(request.reason_code())) {
    validation.fail("reason_code",
                    "must be one of goodwill, service_recovery, correction, migration, promotion, fraud, "
                    "chargeback, other");
  }
  if (request.has_note() && request.note().size() > limits::note_chars_max)
    validation.fail("note", "at most 1000 characters");
  if (request.reason_code() == "other" && (!request.has_note() || request.note().empty())) {
    validation.fail("note", "is required when reason_code is other");
  }
  if (!validation.ok()) co_return validation.reply();
  ledger::AdjustmentRequest adjustment{request.member_id(), request.asset(), request.amount(), request.reason_code(),
                                       request.has_note() ? std::optional(request.note()) : std::nullopt};
  using Decided = ledger::Result<ledger::DecidedAdjustment>;
  app::Subjects subjects;
  subjects.members = {adjustment.member_id};
  if (adjustment.asset == ledger::points_asset && adjustment.amount < 0)
    subjects.points_members = {adjustment.member_id};
  const std::shared_ptr<app::Command> command = std::make_shared<app::DecisionCommand<Decided>>(
      std::move(subjects),
      [&service, adjustment, now = context.received_at, origin = context.origin()](ledger::Batch& batch) {
        const auto program = service.program(batch.transaction());
        return ledger::adjust(batch, adjustment, now, program::points_expiry(program ? &program->program : nullptr),
                              origin);
      },
      [](const ledger::Batch& batch, const Decided& done) {
        if (!done) return answer_of(refusal_reply(done.refusal()));
        const ledger::Adjustment& adjusted = done->adjustment;
        v1::Adjustment message;
        message.set_entry_id(batch.entry_id(done->entry));
        message.set_member_id(adjusted.member_id);
        message.set_asset(adjusted.asset);
        message.set_amount(adjusted.amount);
        message.set_reason_code(adjusted.reason_code);
        if (adjusted.note) message.set_note(*adjusted.note);
        message.set_available_after(adjusted.balance_after);
        message.set_created_at(format_rfc3339(batch.entry_created_at(done->entry)));
        return answer_of(Reply::of(201, std::move(message)));
      });
  co_return co_await service.submit(context, db::routing_key_of(request.member_id()), request, true, command);
}

}  // namespace

void add_adjustment_routes(Router& router, Service& service) {
  router.add(http::verb::post, "/v1/adjustments", {Role::admin},
             [&service](RequestContext& c) { return create_adjustment(service, c); });
}

}  // namespace loyalty::api
