// Verification of partners' signed requests and the signature on every response to them.
#include "api/partner_auth.hpp"

#include <nlohmann/json.hpp>

#include "api/service.hpp"
#include "audit/audit_log.hpp"
#include "partners/keys.hpp"
#include "platform/ed25519.hpp"
#include "platform/executor.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

Reply verdict_reply(partners::Verdict verdict) {
  using partners::Verdict;
  switch (verdict) {
    case Verdict::stale_timestamp:
      return problem(401, "stale_timestamp", "X-Timestamp is more than 300 seconds from the server's time");
    case Verdict::unknown_key:
      return problem(401, "unknown_key", "X-Key-Id names no key of the partner in X-Partner-Id");
    case Verdict::key_revoked: return problem(401, "key_revoked", "the key in X-Key-Id has been revoked");
    case Verdict::replayed_request:
      return problem(401, "replayed_request", "this X-Nonce was used before by this partner");
    case Verdict::verified:
    case Verdict::invalid_signature: break;
  }
  return problem(401, "invalid_signature",
                 "the request's signature does not verify: send X-Partner-Id, X-Key-Id, X-Timestamp (unix seconds), "
                 "X-Nonce (16-64 of [A-Za-z0-9_-]) and X-Signature (base64) over the contract's signing string");
}

audit::AuditRecord key_use_record(const RequestContext& context, const partners::SignedRequest& request) {
  audit::AuditRecord record;
  record.actor_kind = "partner";
  record.actor_id = request.partner_id;
  record.actor_name = request.key_id;
  record.action = "partner_key.use";
  record.subject = request.key_id;
  record.request_id = context.request_id;
  record.source_address = context.source_address;
  record.details_json = nlohmann::json{{"route", context.route}, {"nonce", request.nonce}}.dump();
  return record;
}

}  // namespace

ledger::Origin partner_origin(const RequestContext& context) {
  ledger::Origin origin;
  origin.request_id = context.request_id;
  if (context.partner)
    origin.actor = "partner:" + context.partner->partner_id + " (key " + context.partner->key_id + ")";
  else if (context.caller)
    origin.actor = "key:" + context.caller->key_id + " (" + context.caller->name + ")";
  return origin;
}

asio::awaitable<std::optional<Reply>> authenticate_partner(Service& service, RequestContext& context) {
  const std::string_view target(context.http.target().data(), context.http.target().size());
  const auto question = target.find('?');
  partners::SignedRequest request;
  request.partner_id = context.header("X-Partner-Id").value_or("");
  request.key_id = context.header("X-Key-Id").value_or("");
  request.timestamp = context.header("X-Timestamp").value_or("");
  request.nonce = context.header("X-Nonce").value_or("");
  request.signature_base64 = context.header("X-Signature").value_or("");
  request.method = std::string(context.http.method_string());
  request.path = std::string(target.substr(0, question));
  request.raw_query = question == std::string_view::npos ? "" : std::string(target.substr(question + 1));
  request.body = context.http.body();
  if (const auto early = partners::precheck(request, context.received_at)) co_return verdict_reply(*early);

  // The key is read afresh for every request (a revocation applies at once, everywhere);
  // the nonce and the audit record of the key's use commit together.
  partners::Verdict verdict = partners::Verdict::invalid_signature;
  // Routed by nonce: verifications (CPU) spread over the workers; the nonce's primary key
  // settles a race between two workers just as it settles one between two processes.
  const Reply outcome = co_await service.transact(
      db::routing_key_of(request.partner_id + ":" + request.nonce), [&](pqxx::transaction_base& txn) {
        verdict = partners::verify_request(txn, request, context.received_at);
        if (verdict != partners::Verdict::verified) return verdict_reply(verdict);
        audit::record(txn, key_use_record(context, request));
        return Reply::of(200, v1::Health{});
      });
  if (!outcome.succeeded()) co_return outcome;  // a refusal, or the database's failure
  context.partner = PartnerCaller{request.partner_id, request.key_id};
  co_return std::nullopt;
}

void sign_partner_response(Service& service, const RequestContext&, HttpResponse& response) {
  sign_partner_response(service, response);
}

void sign_partner_response(Service& service, HttpResponse& response) {
  const SigningKey& key = service.signing_key();
  const auto signature = key.sign(response.body());
  if (!signature) return;  // no signing key configured (LOYALTY_SIGNING_KEY): responses go unsigned
  response.set("X-Signature", *signature);
  response.set("X-Key-Id", key.key_id());
}

bool is_partner_path(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  // The first two non-empty segments, as the router splits a path.
  std::string_view segments[2];
  for (auto& segment : segments) {
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    const auto end = path.find('/');
    segment = path.substr(0, end);
    path.remove_prefix(end == std::string_view::npos ? path.size() : end);
  }
  return segments[0] == "partner" && segments[1] == "v1";
}

}  // namespace loyalty::api
