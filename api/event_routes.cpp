// POST /v1/events, GET /v1/events/{event_id}, POST /v1/events/{event_id}/reverse
#include <google/protobuf/util/json_util.h>

#include <boost/asio/awaitable.hpp>

#include <charconv>
#include <cmath>
#include <regex>

#include "api/json_codec.hpp"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "earning/event_batch.hpp"
#include "earning/events.hpp"
#include "ledger/batch.hpp"
#include "membership/tier_batch.hpp"
#include "membership/tiers.hpp"
#include "platform/digest.hpp"
#include "platform/executor.hpp"
#include "program/cache.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

Reply event_refusal_reply(earning::EventRefusal refusal) {
  using earning::EventRefusal;
  switch (refusal) {
    case EventRefusal::member_not_found: return problem(404, "member_not_found", "no member has this id");
    case EventRefusal::event_id_reused:
      return problem(409, "conflict", "an event with this event_id was recorded with different content");
    case EventRefusal::occurred_at_out_of_range:
      return problem(422, "occurred_at_out_of_range",
                     "occurred_at is outside the program's event window (by default 90 days back, 5 minutes ahead)");
    case EventRefusal::amount_cents_required:
      return problem(422, "validation_failed", "attributes.amount_cents: required by a rule that awards per amount");
    case EventRefusal::amount_overflow:
      return problem(422, "amount_overflow", "an award would exceed the largest amount (2^63-1)");
    case EventRefusal::event_not_found: return problem(404, "not_found", "no event has this id");
    case EventRefusal::partially_clawed_back:
      return problem(
          409, "partially_reversed",
          "refunds have already clawed back part of this event's awards; refund the rest of the order instead");
  }
  return problem(500, "internal_error", "unmapped refusal");
}

Reply no_program() {
  return problem(409, "program_not_applied", "no program is in force: apply one first (PUT /v1/program)");
}

v1::EventResult event_message(const earning::EventOutcome& outcome) {
  v1::EventResult message;
  message.set_event_id(outcome.event_id);
  message.set_member_id(outcome.member_id);
  for (const auto& award : outcome.awards) {
    auto* item = message.add_awards();
    item->set_rule_id(award.rule_id);
    if (award.campaign_id) item->set_campaign_id(*award.campaign_id);
    item->set_asset(award.asset);
    item->set_amount(award.amount);
    item->set_entry_id(award.entry_id);
    if (award.pending_until) item->set_pending_until(format_rfc3339(*award.pending_until));
  }
  for (const auto& change : outcome.tier_changes) {
    auto* item = message.add_tier_changes();
    item->set_track(change.track);
    item->set_from_level(change.from_level);
    item->set_to_level(change.to_level);
  }
  if (outcome.reversed_at) message.set_reversed_at(format_rfc3339(*outcome.reversed_at));
  return message;
}

// amount_cents from the attributes: a whole, non-negative number (or decimal string).
std::optional<std::int64_t> amount_cents_of(const google::protobuf::Struct& attributes, Validation& validation) {
  const auto found = attributes.fields().find("amount_cents");
  if (found == attributes.fields().end()) return std::nullopt;
  const auto& value = found->second;
  constexpr double exact_max = 9007199254740992.0;  // 2^53: doubles are exact below it
  if (value.kind_case() == google::protobuf::Value::kNumberValue) {
    const double number = value.number_value();
    if (number >= 0 && number <= exact_max && std::floor(number) == number) return static_cast<std::int64_t>(number);
  } else if (value.kind_case() == google::protobuf::Value::kStringValue) {
    const std::string& text = value.string_value();
    std::int64_t number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (!text.empty() && error == std::errc{} && end == text.data() + text.size() && number >= 0 &&
        number <= (std::int64_t{1} << 53))
      return number;
  }
  validation.fail("attributes.amount_cents", "must be a whole number of cents from 0 to 2^53");
  return std::nullopt;
}

asio::awaitable<Reply> record_event(Service& service, RequestContext& context) {
  v1::RecordEventRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  static const std::regex id_pattern{"[A-Za-z0-9_.:-]{1,128}"};
  static const std::regex type_pattern{"[a-z0-9][a-z0-9_-]{0,63}"};
  if (!std::regex_match(request.event_id(), id_pattern))
    validation.fail("event_id", "1 to 128 characters of [A-Za-z0-9_.:-]");
  if (request.event_id().starts_with("order:")) {
    validation.fail("event_id", "the order: prefix belongs to mall orders' events");
  }
  if (request.member_id().empty()) validation.fail("member_id", "is required");
  if (!std::regex_match(request.type(), type_pattern))
    validation.fail("type", "a lower-case event type such as purchase");
  const auto occurred_at = parse_rfc3339(request.occurred_at());
  if (!occurred_at) validation.fail("occurred_at", "an RFC 3339 time is required");
  earning::Event event;
  event.amount_cents = amount_cents_of(request.attributes(), validation);
  if (!validation.ok()) co_return validation.reply();
  event.event_id = request.event_id();
  event.member_id = request.member_id();
  event.type = request.type();
  event.occurred_at = *occurred_at;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  event.attributes_json.clear();
  (void)google::protobuf::util::MessageToJsonString(request.attributes(), &event.attributes_json, print);
  event.request_sha256 = to_hex(sha256(to_binary(request)));
  using Decided = std::variant<Reply, earning::EventResult<earning::RecordedEvent>>;
  app::Subjects subjects;
  subjects.members = {event.member_id};
  const std::shared_ptr<app::Command> command = std::make_shared<app::DecisionCommand<Decided>>(
      std::move(subjects),
      [&service, event, now = context.received_at, origin = context.origin()](ledger::Batch& batch) -> Decided {
        const auto program = service.program(batch.transaction());
        if (!program) return no_program();
        return membership::events_of(batch, program).record(event, now, earning::live_bounds(program->program), origin);
      },
      [](const ledger::Batch& batch, const Decided& decided) {
        if (const auto* reply = std::get_if<Reply>(&decided)) return answer_of(*reply);
        const auto& result = std::get<earning::EventResult<earning::RecordedEvent>>(decided);
        if (const auto* refusal = std::get_if<earning::EventRefusal>(&result)) {
          return answer_of(event_refusal_reply(*refusal));
        }
        const auto& recorded = std::get<earning::RecordedEvent>(result);
        Reply reply = Reply::of(201, event_message(earning::outcome_of(batch, recorded)));
        if (recorded.outcome.replayed) reply.headers.emplace_back("Idempotent-Replayed", "true");
        return answer_of(std::move(reply));
      },
      [&service, event](ledger::Batch& batch) {
        if (const auto program = service.program(batch.transaction()))
          membership::events_of(batch, program).want(event);
      });
  co_return co_await service.submit(context, db::routing_key_of(event.member_id), request, false, command);
}

asio::awaitable<Reply> get_event(Service& service, RequestContext& context) {
  const std::string event_id = context.param("event_id");
  co_return co_await service.read(db::routing_key_of(event_id), [&](pqxx::transaction_base& txn) {
    auto found = earning::find_event(txn, event_id);
    if (auto* refusal = std::get_if<earning::EventRefusal>(&found)) return event_refusal_reply(*refusal);
    auto& outcome = std::get<earning::EventOutcome>(found);
    outcome.tier_changes = membership::event_tier_changes(txn, event_id);
    return Reply::of(200, event_message(outcome));
  });
}

asio::awaitable<Reply> reverse_event(Service& service, RequestContext& context) {
  v1::ReverseEventRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  if (request.reason().empty() || request.reason().size() > 500) {
    Validation validation;
    validation.fail("reason", "is required, at most 500 characters");
    co_return validation.reply();
  }
  const std::string event_id = context.param("event_id");
  co_return co_await service.write(
      context, db::routing_key_of(event_id), request, false, [&](pqxx::transaction_base& txn) {
        const auto program = service.program(txn);
        if (!program) return no_program();
        auto reversed =
            earning::reverse_event(txn, *program, event_id, request.reason(), context.received_at, context.origin());
        if (auto* refusal = std::get_if<earning::EventRefusal>(&reversed)) return event_refusal_reply(*refusal);
        const auto& reversal = std::get<earning::Reversal>(reversed);
        v1::EventReversal message;
        message.set_event_id(reversal.event_id);
        if (reversal.entry_id) message.set_entry_id(*reversal.entry_id);
        for (const auto& [asset, amount] : reversal.clawed_back) {
          auto* item = message.add_clawed_back();
          item->set_asset(asset);
          item->set_amount(amount);
        }
        for (const auto& [asset, amount] : reversal.written_off) {
          auto* item = message.add_written_off();
          item->set_asset(asset);
          item->set_amount(amount);
        }
        message.set_reversed_at(format_rfc3339(reversal.reversed_at));
        Reply reply = Reply::of(200, std::move(message));
        if (reversal.replayed) reply.keep_writes = false;
        return reply;
      });
}

}  // namespace

void add_event_routes(Router& router, Service& service) {
  using http::verb;
  router.add(verb::post, "/v1/events", {Role::ingest, Role::admin},
             [&service](RequestContext& c) { return record_event(service, c); });
  router.add(verb::get, "/v1/events/{event_id}", {Role::ingest, Role::admin, Role::mall},
             [&service](RequestContext& c) { return get_event(service, c); });
  router.add(verb::post, "/v1/events/{event_id}/reverse", {Role::ingest, Role::admin},
             [&service](RequestContext& c) { return reverse_event(service, c); });
}

}  // namespace loyalty::api
