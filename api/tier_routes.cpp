// GET /v1/members/{member_id}/tiers, POST /v1/members/{member_id}/tiers/{track}
#include <boost/asio/awaitable.hpp>

#include "api/routes.hpp"
#include "api/service.hpp"
#include "ledger/members.hpp"
#include "membership/tiers.hpp"
#include "platform/executor.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

Reply no_program() {
  return problem(409, "program_not_applied", "no program is in force: apply one first");
}

v1::TrackStatus track_message(const membership::TrackStatus& status) {
  v1::TrackStatus message;
  message.set_level(status.level);
  message.set_qualifying_value(status.qualifying_value);
  auto* window = message.mutable_window();
  window->set_kind(status.window_kind);
  window->set_days(status.window_days);
  window->set_from(format_rfc3339(status.window.from));
  window->set_to(format_rfc3339(status.window.to));
  if (status.next_level) {
    auto* next = message.mutable_next_level();
    next->set_code(status.next_level->code);
    next->set_threshold(status.next_level->threshold);
    next->set_missing(status.missing);
  }
  if (status.guaranteed_until) message.set_guaranteed_until(format_rfc3339(*status.guaranteed_until));
  if (status.floor_level) message.set_floor_level(*status.floor_level);
  if (status.floor_until) message.set_floor_until(format_rfc3339(*status.floor_until));
  for (const auto& item : status.history) {
    auto* history = message.add_history();
    history->set_from_level(item.from_level);
    history->set_to_level(item.to_level);
    history->set_reason(item.reason);
    history->set_qualifying_value(item.qualifying_value);
    if (item.event_id) history->set_event_id(*item.event_id);
    if (item.job) history->set_job(*item.job);
    if (item.actor) history->set_actor(*item.actor);
    if (item.note) history->set_note(*item.note);
    history->set_changed_at(format_rfc3339(item.changed_at));
  }
  return message;
}

Reply tiers_reply(pqxx::transaction_base& txn, Service& service, const std::string& member_id, Timestamp now) {
  const auto program = service.program(txn);
  if (!program) return no_program();
  if (!ledger::find_member(txn, member_id)) return refusal_reply(ledger::Refusal::member_not_found);
  v1::MemberTiers message;
  message.set_member_id(member_id);
  for (const auto& status : membership::tier_status(txn, program->program, member_id, now)) {
    (*message.mutable_tracks())[status.track] = track_message(status);
  }
  return Reply::of(200, std::move(message));
}

asio::awaitable<Reply> get_tiers(Service& service, RequestContext& context) {
  const std::string member_id = context.param("member_id");
  co_return co_await service.read(db::routing_key_of(member_id), [&](pqxx::transaction_base& txn) {
    return tiers_reply(txn, service, member_id, context.received_at);
  });
}

asio::awaitable<Reply> override_tier(Service& service, RequestContext& context) {
  v1::OverrideTierRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  if (request.level().empty()) validation.fail("level", "is required");
  if (request.reason().empty() || request.reason().size() > 500)
    validation.fail("reason", "is required, at most 500 characters");
  const auto until = parse_rfc3339(request.expires_at());
  if (!until) validation.fail("expires_at", "an RFC 3339 time is required");
  if (!validation.ok()) co_return validation.reply();
  const std::string member_id = context.param("member_id");
  const std::string track = context.param("track");
  const std::string actor = context.caller ? "key:" + context.caller->key_id + " (" + context.caller->name + ")" : "";
  co_return co_await service.write(
      context, db::routing_key_of(member_id), request, false, [&](pqxx::transaction_base& txn) {
        const auto program = service.program(txn);
        if (!program) return no_program();
        if (!ledger::find_member(txn, member_id)) return refusal_reply(ledger::Refusal::member_not_found);
        const auto refused = membership::override_level(txn, program->program, member_id, track, request.level(),
                                                        *until, request.reason(), actor, context.received_at);
        if (refused == membership::OverrideRefusal::unknown_track) return problem(404, "not_found", "no such track");
        if (refused == membership::OverrideRefusal::unknown_level) {
          return problem(422, "validation_failed", "level: not a level of this track");
        }
        if (refused == membership::OverrideRefusal::expiry_not_in_future) {
          return problem(422, "validation_failed", "expires_at: must be in the future");
        }
        return tiers_reply(txn, service, member_id, context.received_at);
      });
}

}  // namespace

void add_tier_routes(Router& router, Service& service) {
  using http::verb;
  router.add(verb::get, "/v1/members/{member_id}/tiers", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return get_tiers(service, c); });
  router.add(verb::post, "/v1/members/{member_id}/tiers/{track}", {Role::admin},
             [&service](RequestContext& c) { return override_tier(service, c); });
}

}  // namespace loyalty::api
