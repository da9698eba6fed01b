#include "api/service.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cctype>
#include <charconv>
#include <chrono>
#include <variant>

#include "api/idempotency.hpp"
#include "api/json_codec.hpp"
#include "api/limits.hpp"
#include "api/partner_auth.hpp"
#include "audit/audit_log.hpp"
#include "api/routes.hpp"
#include "ledger/digest.hpp"
#include "ledger/ids.hpp"
#include "ledger/log.hpp"
#include "ledger/text.hpp"

namespace loyalty::api {
namespace asio = boost::asio;

namespace {

constexpr std::string_view json_type = "application/json";
constexpr std::string_view protobuf_type = "application/x-protobuf";

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// Path parameters and a query's keys and values reach SQL as C strings (a "%00" would cut
// them short) and as UTF-8 text (PostgreSQL refuses anything else, which would be a 500).
bool all_clean_text(const std::map<std::string, std::string>& pairs) {
  for (const auto& [key, value] : pairs) {
    if (!is_clean_text(key) || !is_clean_text(value)) return false;
  }
  return true;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> values;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (!pair.empty()) {
      values[percent_decode(pair.substr(0, eq))] =
          eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return values;
}

bool media_type_is(std::string_view header, std::string_view type) {
  const auto semicolon = header.find(';');
  auto base = header.substr(0, semicolon);
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  return base.size() == type.size() &&
         std::equal(base.begin(), base.end(), type.begin(),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

// Takes a token from `bucket`; the 429 to answer when there is none. API keys and partners
// share the limiter and this answer (each in buckets of its own).
std::optional<Reply> take_rate_token(RateLimiter& limiter, Metrics& metrics, const std::string& bucket) {
  const int wait_seconds = limiter.take(bucket);
  if (!wait_seconds) return std::nullopt;
  metrics.count_rate_limited();
  Reply reply = problem(429, "rate_limited", "too many requests for this key; slow down");
  reply.headers.emplace_back("Retry-After", std::to_string(wait_seconds));
  return reply;
}

}  // namespace

std::optional<std::string> RequestContext::query_value(const std::string& name) const {
  const auto found = query.find(name);
  if (found == query.end()) return std::nullopt;
  return found->second;
}

std::optional<std::string> RequestContext::header(std::string_view name) const {
  const auto found = http.find(boost::beast::string_view(name.data(), name.size()));
  if (found == http.end()) return std::nullopt;
  return std::string(found->value());
}

ledger::Origin RequestContext::origin() const {
  ledger::Origin origin;
  origin.request_id = request_id;
  if (caller) origin.actor = "key:" + caller->key_id + " (" + caller->name + ")";
  return origin;
}

Service::Service(ServiceOptions options)
    : options_(std::move(options)),
      executor_(options_.database),
      rate_limiter_(options_.rate_limit_per_second, options_.rate_limit_burst) {
  add_routes();
}

Service::~Service() = default;

void Service::add_routes() {
  add_operations_routes(router_, *this);
  add_member_routes(router_, *this);
  add_adjustment_routes(router_, *this);
  add_hold_routes(router_, *this);
  add_audit_routes(router_, *this);
  add_finance_routes(router_, *this);
  add_export_routes(router_, *this);
  add_privacy_routes(router_, *this);
  add_partner_routes(router_, *this);
  add_event_routes(router_, *this);
  add_program_routes(router_, *this);
  add_tier_routes(router_, *this);
  add_order_routes(router_, *this);
}

asio::awaitable<Service::Outcome> Service::run(std::uint64_t routing_key, db::Executor::Work work) {
  auto io = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(Outcome)>(
      [this, routing_key, io, work = std::move(work)](auto handler) mutable {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        executor_.submit(routing_key, std::move(work), [shared, io](db::JobStatus status, std::exception_ptr error) {
          asio::post(io, [shared, status, error]() mutable { (*shared)(Outcome{status, error}); });
        });
      },
      asio::use_awaitable);
}

Reply Service::reply_for_failure(const Outcome& outcome, const std::string& request_id) {
  switch (outcome.status) {
    case db::JobStatus::finished: break;
    case db::JobStatus::database_unavailable: {
      Reply reply = problem(503, "database_unavailable", "the database cannot be reached; retry shortly");
      reply.headers.emplace_back("Retry-After", "1");
      return reply;
    }
    case db::JobStatus::overloaded: {
      Reply reply = problem(503, "overloaded", "too many requests are waiting for the database; retry shortly");
      reply.headers.emplace_back("Retry-After", "1");
      return reply;
    }
    case db::JobStatus::in_doubt:
      return problem(503, "commit_in_doubt",
                     "the outcome of the write is unknown; retry with the same Idempotency-Key to learn it");
    case db::JobStatus::failed:
      try {
        if (outcome.error) std::rethrow_exception(outcome.error);
      } catch (const pqxx::sql_error& error) {
        const std::string state = error.sqlstate();
        if (state == "22003") return problem(422, "amount_overflow", "an amount is out of range");
        if (state == "55P03" || state == "57014" || state == "40001" || state == "40P01") {
          Reply reply = problem(503, "busy", "the database is busy; retry shortly");
          reply.headers.emplace_back("Retry-After", "1");
          return reply;
        }
        log::error("database error", {{"request_id", request_id}, {"sqlstate", state}, {"error", error.what()}});
      } catch (const pqxx::broken_connection&) {
        return problem(503, "database_unavailable", "the database cannot be reached; retry shortly");
      } catch (const std::exception& error) {
        log::error("request failed", {{"request_id", request_id}, {"error", error.what()}});
      }
      return problem(500, "internal_error", "the request failed; nothing was written");
  }
  return problem(500, "internal_error", "unexpected executor status");
}

asio::awaitable<Reply> Service::read(std::uint64_t routing_key, std::function<Reply(pqxx::transaction_base&)> work) {
  Reply reply;
  const Outcome outcome = co_await run(routing_key, [&](pqxx::transaction_base& txn) {
    reply = work(txn);
    return false;
  });
  if (outcome.status != db::JobStatus::finished) co_return reply_for_failure(outcome, "");
  co_return reply;
}

asio::awaitable<Reply> Service::write(RequestContext& context, std::uint64_t routing_key,
                                      const google::protobuf::Message& request, bool key_required,
                                      std::function<Reply(pqxx::transaction_base&)> work) {
  // A message's identity is its deterministic binary form, so JSON and binary bodies of the
  // same message, or numbers written as strings, are the same request.
  co_return co_await write(context, routing_key, to_binary(request), key_required, std::move(work));
}

std::variant<Service::IdempotencyScope, Reply> Service::idempotency_scope(const RequestContext& context,
                                                                          const std::string& request_identity,
                                                                          bool key_required) {
  IdempotencyScope scope;
  scope.key = context.header("Idempotency-Key");
  if (!scope.key && key_required) {
    return problem(400, "validation_failed", "the Idempotency-Key header is required on this endpoint");
  }
  if (scope.key && !is_valid_idempotency_key(*scope.key)) {
    return problem(400, "validation_failed", "Idempotency-Key must be 1 to 128 characters of [A-Za-z0-9_.:-]");
  }
  // The request's identity: its route, its path and its content.
  const std::string path(context.http.target().substr(0, context.http.target().find('?')));
  if (scope.key) scope.request_hash = sha256(context.route + "\n" + path + "\n" + request_identity);
  // Keys are scoped to their caller: an API key, or a partner (whichever of its keys signed).
  scope.caller = context.caller    ? context.caller->key_id
                 : context.partner ? "partner:" + context.partner->partner_id
                                   : "anonymous";
  return scope;
}

asio::awaitable<Reply> Service::idempotent_operation(RequestContext& context, std::uint64_t routing_key,
                                                     const google::protobuf::Message& request,
                                                     std::function<asio::awaitable<Reply>()> operation) {
  auto scoped = idempotency_scope(context, to_binary(request), false);
  if (auto* refused = std::get_if<Reply>(&scoped)) co_return std::move(*refused);
  const auto& scope = std::get<IdempotencyScope>(scoped);
  if (!scope.key) co_return co_await operation();
  // A key already answered: its answer, or 409 for another request. Looked up without a claim
  // (a claim is only ever made in the transaction that records its answer).
  const Reply earlier = co_await read(routing_key, [&](pqxx::transaction_base& txn) {
    const auto found = find_idempotency_key(txn, scope.caller, *scope.key, scope.request_hash);
    if (!found) return Reply::of(204, v1::Health{});
    if (found->kind == IdempotencyClaim::Kind::reused_with_other_request) {
      return problem(409, "idempotency_key_reused", "this Idempotency-Key was used with a different request");
    }
    return found->replay;
  });
  if (earlier.status != 204) co_return earlier;
  Reply reply = co_await operation();
  // Answers are the key's, refusals included (as in write); failures (5xx) are not.
  if (reply.status >= 500 || !reply.message) co_return reply;
  // Recorded after the operation; a concurrent request with the same key that recorded first wins.
  Reply answer = reply;
  const Reply recorded = co_await transact(routing_key, [&](pqxx::transaction_base& txn) {
    IdempotencyClaim claim = claim_idempotency_key(txn, scope.caller, *scope.key, scope.request_hash);
    if (claim.kind == IdempotencyClaim::Kind::replay) {
      answer = std::move(claim.replay);
    } else if (claim.kind == IdempotencyClaim::Kind::reused_with_other_request) {
      answer = problem(409, "idempotency_key_reused", "this Idempotency-Key was used with a different request");
    } else {
      record_idempotent_reply(txn, scope.caller, *scope.key, reply);
    }
    return Reply::of(200, v1::Health{});  // commits the record; the answer is `answer`
  }, context.request_id);
  if (!recorded.succeeded()) co_return recorded;
  co_return answer;
}

asio::awaitable<Reply> Service::write(RequestContext& context, std::uint64_t routing_key,
                                      std::string request_identity, bool key_required,
                                      std::function<Reply(pqxx::transaction_base&)> work) {
  auto scoped = idempotency_scope(context, request_identity, key_required);
  if (auto* refused = std::get_if<Reply>(&scoped)) co_return std::move(*refused);
  const auto& scope = std::get<IdempotencyScope>(scoped);
  const auto& key = scope.key;
  const auto& caller = scope.caller;
  const auto& request_hash = scope.request_hash;
  bool refused_by_work = false;  // the work answered a refusal (not a key check, not a failure)
  Reply reply = co_await transact(routing_key, [&](pqxx::transaction_base& txn) {
    if (key) {
      IdempotencyClaim claim = claim_idempotency_key(txn, caller, *key, request_hash);
      if (claim.kind == IdempotencyClaim::Kind::replay) {
        // A replay is a success reply that must not write: mark it so transact rolls back.
        claim.replay.keep_writes = false;
        return std::move(claim.replay);
      }
      if (claim.kind == IdempotencyClaim::Kind::reused_with_other_request) {
        return problem(409, "idempotency_key_reused", "this Idempotency-Key was used with a different request");
      }
    }
    Reply reply = work(txn);
    if (!reply.succeeded()) {
      refused_by_work = true;
      return reply;
    }
    if (key) record_idempotent_reply(txn, caller, *key, reply);
    // Every state change made through the API is audited in its own transaction (partner
    // handlers write their own record, naming the exchange or claim).
    if (!context.partner) {
      audit::AuditRecord record = audit_record(context, "ok");
      record.details_json = "{\"status\":" + std::to_string(reply.status) + "}";
      audit::record(txn, record);
    }
    return reply;
  }, context.request_id);
  if (!key || !refused_by_work || reply.status >= 500 || !reply.message) co_return reply;
  // A refusal is the key's answer too: its writes were rolled back with it, so the key is
  // recorded on its own. A request with the same key that recorded first keeps its answer.
  Reply first = reply;
  const Reply recorded = co_await transact(routing_key, [&](pqxx::transaction_base& txn) {
    IdempotencyClaim claim = claim_idempotency_key(txn, caller, *key, request_hash);
    if (claim.kind == IdempotencyClaim::Kind::fresh) {
      record_idempotent_reply(txn, caller, *key, reply);
    } else if (claim.kind == IdempotencyClaim::Kind::replay) {
      first = std::move(claim.replay);
    }
    return Reply::of(200, v1::Health{});
  }, context.request_id);
  (void)recorded;  // if the key cannot be recorded now, the refusal still stands as the answer
  co_return first;
}

std::string request_id_for(const std::optional<std::string>& given) {
  return given && valid_request_id(*given) ? *given : new_id("req_");
}

asio::awaitable<Reply> Service::transact(std::uint64_t routing_key,
                                         std::function<Reply(pqxx::transaction_base&)> work, std::string request_id) {
  Reply reply;
  const Outcome outcome = co_await run(routing_key, [&](pqxx::transaction_base& txn) {
    reply = work(txn);
    return reply.succeeded() && reply.keep_writes;
  });
  if (outcome.status != db::JobStatus::finished) co_return reply_for_failure(outcome, request_id);
  co_return reply;
}

asio::awaitable<std::optional<Reply>> Service::authenticate(RequestContext& context, const Route& route) {
  std::optional<Reply> refusal;
  switch (route.access) {
    case Access::open: co_return std::nullopt;
    case Access::partner:
      refusal = co_await authenticate_partner(*this, context);
      // A verified partner is limited like an API key, in one bucket per partner (all its keys
      // together: rotating or adding keys does not raise its limit). Only after verification,
      // so that nobody can use up a partner's allowance by naming it in X-Partner-Id.
      if (!refusal && context.partner) {
        refusal = take_rate_token(rate_limiter_, metrics_, "partner:" + context.partner->partner_id);
      }
      break;
    case Access::api_key: refusal = co_await authenticate_key(context, route); break;
  }
  // Refusals that matter for security are part of the audit trail.
  if (refusal && (refusal->status == 401 || refusal->status == 403)) {
    const Reply audit_reply = co_await transact(0, [&](pqxx::transaction_base& txn) {
      audit::AuditRecord record = audit_record(context, "refused");
      record.details_json = "{\"status\":" + std::to_string(refusal->status) + ",\"code\":\"" +
                            refusal_code(*refusal) + "\"}";
      audit::record(txn, record);
      return Reply::of(200, v1::Health{});
    });
    (void)audit_reply;  // an audit write that fails must not change the answer
  }
  co_return refusal;
}

asio::awaitable<std::optional<Reply>> Service::authenticate_key(RequestContext& context, const Route& route) {
  const auto authorization = context.header("Authorization");
  constexpr std::string_view bearer = "Bearer ";
  if (!authorization || authorization->size() <= bearer.size() || authorization->compare(0, bearer.size(), bearer) != 0) {
    Reply reply = problem(401, "unauthenticated", "an API key is required: Authorization: Bearer <secret>");
    reply.headers.emplace_back("WWW-Authenticate", "Bearer");
    co_return reply;
  }
  const std::string secret = authorization->substr(bearer.size());
  std::optional<Caller> caller = key_cache_.find(secret);
  if (!caller) {
    std::optional<Caller> verified;
    const Outcome outcome = co_await run(db::routing_key_of(secret), [&](pqxx::transaction_base& txn) {
      verified = verify_api_key(txn, secret);
      return false;
    });
    if (outcome.status != db::JobStatus::finished) co_return reply_for_failure(outcome, context.request_id);
    if (!verified) co_return problem(401, "unauthenticated", "the API key is not valid");
    key_cache_.remember(secret, *verified);
    caller = verified;
  }
  context.caller = caller;
  if (!route.allows(caller->role)) {
    co_return problem(403, "forbidden", std::string("the role ") + role_name(caller->role) + " may not do this");
  }
  co_return take_rate_token(rate_limiter_, metrics_, caller->key_id);
}

audit::AuditRecord Service::audit_record(const RequestContext& context, std::string result) {
  audit::AuditRecord record;
  if (context.caller) {
    record.actor_kind = "api_key";
    record.actor_id = context.caller->key_id;
    record.actor_name = context.caller->name;
  } else if (context.partner) {
    record.actor_kind = "partner";
    record.actor_id = context.partner->partner_id;
    record.actor_name = context.partner->key_id;
  } else {
    record.actor_kind = "anonymous";
  }
  record.action = context.route;
  record.subject = std::string(context.http.target().substr(0, context.http.target().find('?')));
  record.request_id = context.request_id;
  record.source_address = context.source_address;
  record.result = std::move(result);
  return record;
}

std::string Service::refusal_code(const Reply& reply) {
  const auto* problem_body = dynamic_cast<const v1::Problem*>(reply.message.get());
  return problem_body ? problem_body->code() : "";
}

HttpResponse Service::encode(const RequestContext& context, const Reply& reply) {
  HttpResponse response{static_cast<http::status>(reply.status), context.http.version()};
  response.set(http::field::server, "loyalty-ledger");
  response.set("X-Request-Id", context.request_id);
  for (const auto& [name, value] : reply.headers) response.set(name, value);
  if (!reply.message) {
    response.set(http::field::content_type, reply.raw_content_type);
    response.body() = reply.raw_body;
  } else if (reply.is_problem) {
    v1::Problem body;
    body.CopyFrom(*reply.message);
    body.set_request_id(context.request_id);
    response.set(http::field::content_type, "application/problem+json");
    response.body() = to_json(body);
  } else if (context.reply_encoding == Encoding::protobuf) {
    response.set(http::field::content_type, protobuf_type);
    response.body() = to_binary(*reply.message);
  } else {
    response.set(http::field::content_type, json_type);
    response.body() = to_json(*reply.message);
  }
  // Every response on the partner side is signed, refusals and open routes included.
  if (context.partner || is_partner_path({context.http.target().data(), context.http.target().size()})) {
    sign_partner_response(*this, context, response);
  }
  response.prepare_payload();
  return response;
}

asio::awaitable<HttpResponse> Service::handle(HttpRequest& request, std::string source_address) {
  const auto started = std::chrono::steady_clock::now();
  RequestContext context{request};
  const auto given_id = context.header("X-Request-Id");
  context.request_id = request_id_for(given_id);
  context.source_address = std::move(source_address);
  context.received_at = now_utc();
  const std::string_view target(request.target().data(), request.target().size());
  const auto question = target.find('?');
  const std::string_view path = target.substr(0, question);
  if (question != std::string_view::npos) context.query = parse_query(target.substr(question + 1));
  if (const auto accept = context.header("Accept"); accept && media_type_is(*accept, protobuf_type)) {
    context.reply_encoding = Encoding::protobuf;
  }

  Reply reply;
  const auto match = router_.match(request.method(), path);
  if (!match.route) {
    context.route = "unmatched";
    reply = match.path_exists ? problem(405, "method_not_allowed", "this path does not take this method")
                              : problem(404, "not_found", "no such resource");
  } else {
    context.route = std::string(request.method_string()) + " " + match.route->pattern;
    context.params = match.params;
    const auto content_type = context.header("Content-Type");
    if (content_type && media_type_is(*content_type, protobuf_type)) {
      context.body_encoding = Encoding::protobuf;
    }
    try {
      if (!request.body().empty() && content_type && !media_type_is(*content_type, json_type) &&
          !media_type_is(*content_type, protobuf_type)) {
        reply = problem(415, "unsupported_media_type", "send application/json or application/x-protobuf");
      } else if (!all_clean_text(context.query) || !all_clean_text(context.params)) {
        reply = problem(400, "malformed_request", "the path and query must be UTF-8 text without NUL characters");
      } else if (auto denied = co_await authenticate(context, *match.route)) {
        reply = std::move(*denied);
      } else {
        reply = co_await match.route->handler(context);
      }
    } catch (const std::exception& error) {
      log::error("handler failed", {{"request_id", context.request_id}, {"route", context.route}, {"error", error.what()}});
      reply = problem(500, "internal_error", "the request failed; nothing was written");
    }
  }
  HttpResponse response = encode(context, reply);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_.observe_request(context.route, reply.status, seconds);
  if (reply.status >= 500 || context.route.find("/healthz") == std::string::npos) {
    const std::string status = std::to_string(reply.status);
    const std::string millis = std::to_string(seconds * 1000.0);
    log::info("request", {{"request_id", context.request_id},
                          {"method", std::string_view(request.method_string().data(), request.method_string().size())},
                          {"route", context.route},
                          {"status", status},
                          {"duration_ms", millis},
                          {"key_id", context.caller ? context.caller->key_id : ""},
                          {"source", context.source_address}});
  }
  co_return response;
}

std::optional<Reply> parse_body(const RequestContext& context, google::protobuf::Message& message) {
  const std::string& body = context.http.body();
  if (body.empty()) return std::nullopt;
  const auto error = context.body_encoding == Encoding::protobuf ? parse_binary(body, message)
                                                                 : parse_json(body, message);
  if (error) return problem(400, "malformed_request", *error);
  return std::nullopt;
}

std::optional<Reply> parse_limit(const RequestContext& context, int& limit) {
  limit = limits::page_size_default;
  const auto text = context.query_value("limit");
  if (!text) return std::nullopt;
  int value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc{} || end != text->data() + text->size() || value < 1 || value > limits::page_size_max) {
    return problem(422, "validation_failed",
                   "limit: must be an integer from 1 to " + std::to_string(limits::page_size_max));
  }
  limit = value;
  return std::nullopt;
}

}  // namespace loyalty::api
