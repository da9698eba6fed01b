// GET /v1/keys, POST /v1/keys, POST /v1/keys/{key_id}/revoke (admin): API key lifecycle.
// Secrets are shown only in the answer that creates them; lists never show a secret or hash.
#include <boost/asio/awaitable.hpp>

#include <nlohmann/json.hpp>

#include "api/api_keys.hpp"
#include "api/limits.hpp"
#include "api/proto/loyalty/v1/access.pb.h"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "audit/audit_log.hpp"
#include "platform/executor.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

constexpr std::size_t revoke_reason_chars_max = 500;

v1::ApiKey key_message(const KeyInfo& key, Timestamp now) {
  v1::ApiKey message;
  message.set_key_id(key.key_id);
  message.set_role(role_name(key.role));
  message.set_name(key.name);
  message.set_status(key.status(now));
  message.set_created_at(format_rfc3339(key.created_at));
  if (key.expires_at) message.set_expires_at(format_rfc3339(*key.expires_at));
  if (key.revoked_at) message.set_revoked_at(format_rfc3339(*key.revoked_at));
  if (key.created_by) message.set_created_by(*key.created_by);
  if (key.revoked_by) message.set_revoked_by(*key.revoked_by);
  return message;
}

asio::awaitable<Reply> list_keys(Service& service, RequestContext& context) {
  int limit = 0;
  std::optional<std::int64_t> before;
  if (auto bad = parse_page(context, limit, before)) co_return *bad;
  co_return co_await service.read(db::routing_key_of("api_keys"), [&](pqxx::transaction_base& txn) {
    const KeyPage page = list_api_keys(txn, limit, before);
    v1::ApiKeyPage message;
    for (const auto& key : page.items) *message.add_items() = key_message(key, context.received_at);
    if (page.next_before) message.set_next_cursor(encode_cursor(*page.next_before));
    return Reply::of(200, std::move(message));
  });
}

// Not through Service::write: an Idempotency-Key replay would keep (and show again) the
// secret. A retried creation makes a second key, which is harmless (revoke the spare), as for
// partner keys.
asio::awaitable<Reply> create_key(Service& service, RequestContext& context) {
  v1::CreateApiKeyRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  const auto role = parse_role(request.role());
  if (!role) validation.fail("role", "mall, ingest, admin or finance");
  if (request.name().empty() || request.name().size() > limits::key_name_chars_max) {
    validation.fail("name", "is required, at most 100 characters");
  }
  std::optional<Timestamp> expires_at;
  if (request.has_expires_at()) {
    expires_at = parse_rfc3339(request.expires_at());
    if (!expires_at) {
      validation.fail("expires_at", "not an RFC 3339 time");
    } else if (*expires_at <= context.received_at) {
      validation.fail("expires_at", "must be in the future");
    }
  }
  if (!validation.ok()) co_return validation.reply();
  const std::string created_by = context.origin().actor.value_or("");
  co_return co_await service.transact(db::routing_key_of("api_keys"), [&](pqxx::transaction_base& txn) {
    const CreatedKey key = create_api_key(txn, NewKey{*role, request.name(), expires_at, created_by});
    nlohmann::json details{{"role", role_name(key.role)}, {"name", key.name}};
    if (key.expires_at) details["expires_at"] = format_rfc3339(*key.expires_at);
    audit::record(txn, caller_audit_record(context, "api_key.create", key.key_id, details.dump()));
    v1::CreatedApiKey message;
    message.set_key_id(key.key_id);
    message.set_role(role_name(key.role));
    message.set_name(key.name);
    message.set_secret(key.secret);
    if (key.expires_at) message.set_expires_at(format_rfc3339(*key.expires_at));
    message.set_created_at(format_rfc3339(key.created_at));
    return Reply::of(201, std::move(message));
  });
}

// Idempotent by nature: revoking a revoked key answers it as it is (its first revocation).
asio::awaitable<Reply> revoke_key(Service& service, RequestContext& context) {
  v1::RevokeApiKeyRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  if (request.has_reason() && request.reason().size() > revoke_reason_chars_max) {
    Validation validation;
    validation.fail("reason", "at most 500 characters");
    co_return validation.reply();
  }
  const std::string key_id = context.param("key_id");
  const std::string revoked_by = context.origin().actor.value_or("");
  Reply reply = co_await service.transact(db::routing_key_of("api_keys"), [&](pqxx::transaction_base& txn) {
    const auto revocation = revoke_api_key(txn, key_id, revoked_by);
    if (!revocation) return problem(404, "not_found", "no API key has this id");
    const KeyInfo& key = revocation->key;
    if (revocation->revoked_now) {
      nlohmann::json details{{"role", role_name(key.role)}, {"name", key.name}};
      if (request.has_reason()) details["reason"] = request.reason();
      audit::record(txn, caller_audit_record(context, "api_key.revoke", key.key_id, details.dump()));
    }
    return Reply::of(200, key_message(key, context.received_at));
  });
  // This process refuses the key at once; the others within limits::key_cache_ttl.
  if (reply.succeeded()) service.key_cache().forget_key(key_id);
  co_return reply;
}

}  // namespace

audit::AuditRecord caller_audit_record(const RequestContext& context, std::string action, std::string subject,
                                       std::string details_json) {
  audit::AuditRecord record;
  record.actor_kind = "api_key";
  record.actor_id = context.caller->key_id;
  record.actor_name = context.caller->name;
  record.action = std::move(action);
  record.subject = std::move(subject);
  record.request_id = context.request_id;
  record.source_address = context.source_address;
  record.details_json = std::move(details_json);
  return record;
}

void add_key_routes(Router& router, Service& service) {
  using http::verb;
  router.add(verb::get, "/v1/keys", {Role::admin}, [&service](RequestContext& c) { return list_keys(service, c); });
  router.add(verb::post, "/v1/keys", {Role::admin}, [&service](RequestContext& c) { return create_key(service, c); });
  router.add(verb::post, "/v1/keys/{key_id}/revoke", {Role::admin},
             [&service](RequestContext& c) { return revoke_key(service, c); });
}

}  // namespace loyalty::api
