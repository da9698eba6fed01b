// Webhook endpoints (admin): POST/GET /v1/webhooks, GET|DELETE /v1/webhooks/{id},
// POST /v1/webhooks/{id}/disable|enable, GET /v1/webhooks/{id}/deliveries,
// POST /v1/webhooks/{id}/redeliver, a partner's endpoints under /v1/partners/{id}/webhooks;
// and the pull feed GET /v1/feed (admin, finance). The outbox itself is outbox/outbox.hpp.
#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

#include "api/proto/loyalty/v1/webhooks.pb.h"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "outbox/delivery.hpp"
#include "outbox/outbox.hpp"
#include "partners/registry.hpp"
#include "platform/log.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

constexpr std::size_t webhook_url_chars_max = 2000;
constexpr std::size_t webhook_description_chars_max = 500;
constexpr std::size_t webhooks_per_owner_max = 50;  // endpoints of the program, or of one partner

std::uint64_t webhooks_routing_key() {
  return db::routing_key_of("webhooks");
}

v1::Webhook webhook_message(const outbox::Webhook& webhook) {
  v1::Webhook message;
  message.set_webhook_id(webhook.webhook_id);
  message.set_url(webhook.url);
  for (const auto& type : webhook.event_types) message.add_event_types(type);
  message.set_status(webhook.status);
  if (webhook.description) message.set_description(*webhook.description);
  if (webhook.partner_id) message.set_partner_id(*webhook.partner_id);
  message.set_created_at(format_rfc3339(webhook.created_at));
  message.set_created_by(webhook.created_by);
  return message;
}

// Checks a creation request; for a partner's endpoint, only the types about a partner.
void validate_webhook(const v1::CreateWebhookRequest& request, bool for_partner, const outbox::UrlPolicy& policy,
                      Validation& validation) {
  if (request.url().empty() || request.url().size() > webhook_url_chars_max) {
    validation.fail("url", "is required, at most 2000 characters");
  } else if (const auto problem = outbox::url_problem(request.url(), policy)) {
    validation.fail("url", *problem);
  }
  if (request.event_types().empty()) validation.fail("event_types", "name at least one event type");
  for (int i = 0; i < request.event_types_size(); ++i) {
    const std::string& type = request.event_types(i);
    const std::string field = "event_types[" + std::to_string(i) + "]";
    if (!outbox::is_event_type(type)) {
      validation.fail(field, "not an event type (docs/api/webhooks.md lists them)");
    } else if (for_partner && !outbox::is_partner_event_type(type)) {
      validation.fail(field, "a partner's endpoint receives exchange.completed, right.claimed and statement.closed");
    }
  }
  if (request.has_description() && request.description().size() > webhook_description_chars_max) {
    validation.fail("description", "at most 500 characters");
  }
}

std::vector<std::string> distinct_types(const v1::CreateWebhookRequest& request) {
  std::vector<std::string> types(request.event_types().begin(), request.event_types().end());
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  return types;
}

asio::awaitable<Reply> create(Service& service, RequestContext& context, std::optional<std::string> partner_id) {
  v1::CreateWebhookRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  validate_webhook(request, partner_id.has_value(), service.options().webhook_url_policy, validation);
  if (!validation.ok()) co_return validation.reply();
  outbox::NewWebhook webhook{request.url(), distinct_types(request),
                             request.has_description() ? std::optional(request.description()) : std::nullopt,
                             partner_id, context.origin().actor.value_or("")};
  co_return co_await service.transact(webhooks_routing_key(), [&](pqxx::transaction_base& txn) {
    const auto version = service.program(txn);
    if (partner_id && !partners::find_partner(txn, version ? &version->program : nullptr, *partner_id)) {
      return problem(404, "not_found", "no partner has this id");
    }
    if (outbox::list_webhooks(txn, partner_id, std::nullopt, webhooks_per_owner_max).items.size() >=
        webhooks_per_owner_max) {
      return problem(422, "limit_exceeded", "at most 50 endpoints each for the program and for every partner");
    }
    const outbox::Webhook created = outbox::create_webhook(txn, webhook, context.received_at);
    nlohmann::json details{{"url", created.url}, {"event_types", created.event_types}};
    if (partner_id) details["partner_id"] = *partner_id;
    audit::record(txn, caller_audit_record(context, "webhook.create", created.webhook_id, details.dump()));
    Reply reply = Reply::of(201, webhook_message(created));
    reply.headers.emplace_back("Location", "/v1/webhooks/" + created.webhook_id);
    return reply;
  });
}

asio::awaitable<Reply> list(Service& service, RequestContext& context) {
  int limit = 0;
  std::optional<std::int64_t> before;
  if (auto bad = parse_page(context, limit, before)) co_return *bad;
  const auto partner_id = context.query_value("partner_id");
  co_return co_await service.read(webhooks_routing_key(), [&](pqxx::transaction_base& txn) {
    const auto page = outbox::list_webhooks(txn, partner_id, before, limit);
    v1::WebhookPage message;
    for (const auto& webhook : page.items) *message.add_items() = webhook_message(webhook);
    if (page.next_before) message.set_next_cursor(encode_cursor(*page.next_before));
    return Reply::of(200, std::move(message));
  });
}

asio::awaitable<Reply> show(Service& service, RequestContext& context) {
  const std::string webhook_id = context.param("webhook_id");
  co_return co_await service.read(webhooks_routing_key(), [&](pqxx::transaction_base& txn) {
    const auto webhook = outbox::find_webhook(txn, webhook_id);
    if (!webhook) return problem(404, "not_found", "no webhook endpoint has this id");
    return Reply::of(200, webhook_message(*webhook));
  });
}

// enable, disable, delete: idempotent by nature (the endpoint ends in that state).
asio::awaitable<Reply> change_status(Service& service, RequestContext& context, std::string status) {
  const std::string webhook_id = context.param("webhook_id");
  co_return co_await service.transact(webhooks_routing_key(), [&](pqxx::transaction_base& txn) {
    const auto webhook = outbox::set_webhook_status(txn, webhook_id, status, context.received_at);
    if (!webhook) return problem(404, "not_found", "no webhook endpoint has this id");
    audit::record(txn, caller_audit_record(context,
                                           "webhook." + std::string(status == "enabled"    ? "enable"
                                                                    : status == "disabled" ? "disable"
                                                                                           : "delete"),
                                           webhook_id, nlohmann::json{{"url", webhook->url}}.dump()));
    return Reply::of(200, webhook_message(*webhook));
  });
}

asio::awaitable<Reply> deliveries(Service& service, RequestContext& context) {
  int limit = 0;
  std::optional<std::int64_t> before;
  if (auto bad = parse_page(context, limit, before)) co_return *bad;
  const auto outcome = context.query_value("outcome");
  if (outcome && *outcome != "delivered" && *outcome != "retry" && *outcome != "failed") {
    co_return problem(422, "validation_failed", "outcome: delivered, retry or failed");
  }
  const std::string webhook_id = context.param("webhook_id");
  co_return co_await service.read(webhooks_routing_key(), [&](pqxx::transaction_base& txn) {
    if (!outbox::find_webhook(txn, webhook_id)) return problem(404, "not_found", "no webhook endpoint has this id");
    const auto page = outbox::list_attempts(txn, webhook_id, outcome, before, limit);
    v1::DeliveryAttemptPage message;
    for (const auto& attempt : page.items) {
      auto* item = message.add_items();
      item->set_event_id(outbox::public_event_id(attempt.event_id));
      item->set_event_type(attempt.event_type);
      item->set_attempt(attempt.attempt);
      item->set_attempted_at(format_rfc3339(attempt.attempted_at));
      item->set_duration_ms(attempt.duration_ms);
      if (attempt.status_code) item->set_status_code(*attempt.status_code);
      if (attempt.error) item->set_error(*attempt.error);
      item->set_outcome(attempt.outcome);
    }
    if (page.next_before) message.set_next_cursor(encode_cursor(*page.next_before));
    return Reply::of(200, std::move(message));
  });
}

asio::awaitable<Reply> redeliver(Service& service, RequestContext& context) {
  v1::RedeliverRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  const auto from = parse_rfc3339(request.from());
  if (!from) co_return problem(422, "validation_failed", "from: must be an RFC 3339 time");
  const std::string webhook_id = context.param("webhook_id");
  co_return co_await service.transact(webhooks_routing_key(), [&](pqxx::transaction_base& txn) {
    if (!outbox::find_webhook(txn, webhook_id)) return problem(404, "not_found", "no webhook endpoint has this id");
    const std::int64_t events =
        outbox::redeliver(txn, webhook_id, *from, context.received_at, service.options().webhook_retry_window);
    audit::record(txn, caller_audit_record(context, "webhook.redeliver", webhook_id,
                                           nlohmann::json{{"from", format_rfc3339(*from)}, {"events", events}}.dump()));
    v1::Redelivery message;
    message.set_webhook_id(webhook_id);
    message.set_from(format_rfc3339(*from));
    message.set_events(events);
    return Reply::of(202, std::move(message));
  });
}

// Feed cursors are the last position returned, opaque to the client like every cursor.
asio::awaitable<Reply> feed(Service& service, RequestContext& context) {
  int limit = 0;
  if (auto bad = parse_limit(context, limit)) co_return *bad;
  std::int64_t after = 0;
  if (const auto cursor = context.query_value("after"); cursor && !cursor->empty()) {
    const auto position = decode_cursor(*cursor);
    if (!position) co_return problem(422, "validation_failed", "after: not a cursor this API returned");
    after = *position;
  }
  std::vector<std::string> types;
  if (const auto text = context.query_value("types"); text && !text->empty()) {
    for (std::size_t at = 0; at <= text->size();) {
      const auto comma = std::min(text->find(',', at), text->size());
      const std::string type = text->substr(at, comma - at);
      if (!outbox::is_event_type(type))
        co_return problem(422, "validation_failed", "types: '" + type + "' is not an event type");
      types.push_back(type);
      at = comma + 1;
    }
  }
  const bool binary = context.reply_encoding == Encoding::protobuf;
  co_return co_await service.read(webhooks_routing_key(), [&](pqxx::transaction_base& txn) {
    const auto events = outbox::read_feed(txn, after, types, limit);
    const std::string next_cursor = encode_cursor(events.empty() ? after : events.back().position);
    if (binary) {
      v1::FeedPage message;
      for (const auto& event : events) {
        auto* item = message.add_items();
        item->set_id(outbox::public_event_id(event.event_id));
        item->set_type(event.type);
        item->set_timestamp(format_rfc3339(event.occurred_at));
        item->set_data(event.data_json);
      }
      message.set_next_cursor(next_cursor);
      return Reply::of(200, std::move(message));
    }
    // In JSON the data object goes in as stored, so its integers stay exact.
    std::string body = "{\"items\":[";
    for (std::size_t i = 0; i < events.size(); ++i) {
      const auto& event = events[i];
      if (i > 0) body += ',';
      body += "{\"id\":\"" + outbox::public_event_id(event.event_id) + "\",\"type\":\"" + event.type +
              "\",\"timestamp\":\"" + format_rfc3339(event.occurred_at) + "\",\"data\":" + event.data_json + "}";
    }
    body += "],\"next_cursor\":\"";
    log::append_json_escaped(body, next_cursor);
    body += "\"}";
    return Reply::text(200, std::move(body), "application/json");
  });
}

}  // namespace

void add_webhook_routes(Router& router, Service& service) {
  using http::verb;
  router.add(verb::post, "/v1/webhooks", {Role::admin},
             [&service](RequestContext& c) { return create(service, c, std::nullopt); });
  router.add(verb::get, "/v1/webhooks", {Role::admin}, [&service](RequestContext& c) { return list(service, c); });
  router.add(verb::get, "/v1/webhooks/{webhook_id}", {Role::admin},
             [&service](RequestContext& c) { return show(service, c); });
  router.add(verb::delete_, "/v1/webhooks/{webhook_id}", {Role::admin},
             [&service](RequestContext& c) { return change_status(service, c, "deleted"); });
  router.add(verb::post, "/v1/webhooks/{webhook_id}/disable", {Role::admin},
             [&service](RequestContext& c) { return change_status(service, c, "disabled"); });
  router.add(verb::post, "/v1/webhooks/{webhook_id}/enable", {Role::admin},
             [&service](RequestContext& c) { return change_status(service, c, "enabled"); });
  router.add(verb::get, "/v1/webhooks/{webhook_id}/deliveries", {Role::admin},
             [&service](RequestContext& c) { return deliveries(service, c); });
  router.add(verb::post, "/v1/webhooks/{webhook_id}/redeliver", {Role::admin},
             [&service](RequestContext& c) { return redeliver(service, c); });
  router.add(verb::post, "/v1/partners/{partner_id}/webhooks", {Role::admin},
             [&service](RequestContext& c) { return create(service, c, c.param("partner_id")); });
  router.add(verb::get, "/v1/feed", {Role::admin, Role::finance},
             [&service](RequestContext& c) { return feed(service, c); });
}

}  // namespace loyalty::api
