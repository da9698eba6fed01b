#include "api/service.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <variant>

#include "api/idempotency.hpp"
#include "api/json_codec.hpp"
#include "api/limits.hpp"
#include "api/openapi.hpp"
#include "api/partner_auth.hpp"
#include "api/routes.hpp"
#include "audit/audit_log.hpp"
#include "platform/digest.hpp"
#include "platform/ids.hpp"
#include "platform/log.hpp"
#include "platform/text.hpp"

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
  return base.size() == type.size() && std::equal(base.begin(), base.end(), type.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
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

namespace {
ServiceOptions with_batch_applier(ServiceOptions options) {
  options.database.apply_batch = app::apply_batch;
  return options;
}

// One worker, for key lookups: they are small, batched, and kept apart from members' work.
db::ExecutorOptions access_executor_options(db::ExecutorOptions options) {
  options.workers = 1;
  return options;
}

}  // namespace

Service::Service(ServiceOptions options)
    : options_(with_batch_applier(std::move(options))),
      signing_key_(SigningKey::from_pem(options_.signing_key_pem)),
      executor_(options_.database),
      access_executor_(access_executor_options(options_.database)),
      rate_limiter_(options_.rate_limit_per_second, options_.rate_limit_burst),
      source_limiter_(options_.source_rate_limit_per_second, options_.source_rate_limit_burst),
      refusal_limiter_(options_.auth_refusals_per_second, options_.auth_refusals_burst),
      refusals_(options_.database.database_url) {
  options_.signing_key_pem.clear();  // signing_key_ is the one home of the key from here on
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
  add_key_routes(router_, *this);
  add_webhook_routes(router_, *this);
  add_console_routes(router_);
  // Generated from the routes just added; a route the catalogue does not describe (or a row
  // naming a route or message that does not exist) stops the service here, before it serves.
  openapi_json_ = openapi_document(router_, openapi_catalog()).dump();
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

// A failure's reply. The exception behind a 500 goes into the reply (Reply::failure), and
// handle() logs it on the request's line, with the request's id and key.
Reply Service::reply_for_failure(const Outcome& outcome) {
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
        Reply reply = problem(500, "internal_error", "the request failed; nothing was written");
        reply.failure = "database error (SQLSTATE " + state + "): " + error.what();
        return reply;
      } catch (const pqxx::broken_connection&) {
        return problem(503, "database_unavailable", "the database cannot be reached; retry shortly");
      } catch (const std::exception& error) {
        Reply reply = problem(500, "internal_error", "the request failed; nothing was written");
        reply.failure = error.what();
        return reply;
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
  if (outcome.status != db::JobStatus::finished) co_return reply_for_failure(outcome);
  co_return reply;
}

asio::awaitable<Reply> Service::write(RequestContext& context, std::uint64_t routing_key,
                                      const google::protobuf::Message& request, bool key_required,
                                      std::function<Reply(pqxx::transaction_base&)> work, app::Subjects subjects) {
  // A message's identity is its deterministic binary form, so JSON and binary bodies of the
  // same message, or numbers written as strings, are the same request.
  co_return co_await write(context, routing_key, to_binary(request), key_required, std::move(work),
                           std::move(subjects));
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
      record_idempotent_reply(txn, scope.caller, *scope.key, scope.request_hash, reply);
    }
    return Reply::of(200, v1::Health{});  // commits the record; the answer is `answer`
  });
  if (!recorded.succeeded()) co_return recorded;
  co_return answer;
}

asio::awaitable<Reply> Service::write(RequestContext& context, std::uint64_t routing_key, std::string request_identity,
                                      bool key_required, std::function<Reply(pqxx::transaction_base&)> work,
                                      app::Subjects subjects) {
  const std::shared_ptr<app::Command> command = std::make_shared<app::CompositeCommand>(
      std::move(subjects), [work = std::move(work)](pqxx::transaction_base& txn) { return answer_of(work(txn)); });
  Reply reply = co_await submit_command(context, routing_key, request_identity, key_required, command);
  co_return reply;
}

asio::awaitable<Reply> Service::submit(RequestContext& context, std::uint64_t routing_key,
                                       const google::protobuf::Message& request, bool key_required,
                                       const std::shared_ptr<app::Command>& command) {
  const std::string request_identity = to_binary(request);
  Reply reply = co_await submit_command(context, routing_key, request_identity, key_required, command);
  co_return reply;
}

asio::awaitable<Reply> Service::submit_command(RequestContext& context, std::uint64_t routing_key,
                                               const std::string& request_identity, bool key_required,
                                               const std::shared_ptr<app::Command>& command) {
  auto scoped = idempotency_scope(context, request_identity, key_required);
  if (auto* refused = std::get_if<Reply>(&scoped)) co_return std::move(*refused);
  const auto& scope = std::get<IdempotencyScope>(scoped);
  if (scope.key) command->idempotency = app::IdempotencyScope{scope.caller, *scope.key, scope.request_hash};
  // Every state change made through the API is audited in its own transaction (partner
  // handlers write their own record, naming the exchange or claim).
  if (!context.partner) command->audit = audit_record(context, "ok");
  command->received_at = context.received_at;
  auto io = co_await asio::this_coro::executor;
  // The initiation captures only references and trivial values: GCC 12 destroys temporaries
  // of a co_await expression twice (GCC bug 99576), which would release an owning capture twice.
  const std::shared_ptr<db::BatchItem> item = command;
  auto initiate = [this, routing_key, &io, &item](auto handler) {
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    executor_.submit(routing_key, item, [shared, io](db::JobStatus status, std::exception_ptr error) {
      asio::post(io, [shared, status, error]() mutable { (*shared)(Outcome{status, error}); });
    });
  };
  const Outcome outcome = co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(Outcome)>(
      std::move(initiate), asio::use_awaitable);
  if (outcome.status != db::JobStatus::finished) co_return reply_for_failure(outcome);
  Reply reply = reply_of(command->outcome);
  co_return reply;
}

Reply Service::reply_of(const app::Outcome& done) {
  switch (done.kind) {
    case app::OutcomeKind::applied:
    case app::OutcomeKind::refused: return std::any_cast<Reply>(done.answer.reply);
    case app::OutcomeKind::replayed: return replayed_reply(done.replay.status, done.replay.type, done.replay.bytes);
    case app::OutcomeKind::key_reused:
      return problem(409, "idempotency_key_reused", "this Idempotency-Key was used with a different request");
    case app::OutcomeKind::failed:
      if (done.answer.reply.has_value()) return std::any_cast<Reply>(done.answer.reply);
      return reply_for_failure(Outcome{db::JobStatus::failed, done.error});
    case app::OutcomeKind::pending: break;
  }
  return problem(500, "internal_error", "a write that was not applied");
}

app::Answer answer_of(Reply reply) {
  app::Answer answer;
  answer.status = reply.status;
  answer.keep_writes = reply.keep_writes;
  if (reply.message) {
    answer.stored = {reply.status, reply.message->GetDescriptor()->full_name(), to_binary(*reply.message)};
  }
  answer.reply = std::move(reply);
  return answer;
}

std::string request_id_for(const std::optional<std::string>& given) {
  return given && valid_request_id(*given) ? *given : new_id("req_");
}

asio::awaitable<Reply> Service::transact(std::uint64_t routing_key,
                                         std::function<Reply(pqxx::transaction_base&)> work) {
  Reply reply;
  const Outcome outcome = co_await run(routing_key, [&](pqxx::transaction_base& txn) {
    reply = work(txn);
    return reply.succeeded() && reply.keep_writes;
  });
  if (outcome.status != db::JobStatus::finished) co_return reply_for_failure(outcome);
  co_return reply;
}

asio::awaitable<std::optional<Reply>> Service::authenticate(RequestContext& context, const Route& route) {
  if (auto limited = limit_source(context, route)) co_return limited;
  std::optional<Reply> refusal;
  std::string named_key_id;  // an existing key the request named, even when it is refused
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
    case Access::api_key: refusal = co_await authenticate_key(context, route, named_key_id); break;
  }
  // Refusals that matter for security are counted (RefusalLog), not written one row each.
  if (refusal && (refusal->status == 401 || refusal->status == 403)) {
    record_refusal(context, *refusal, named_key_id);
  }
  co_return refusal;
}

std::optional<Reply> Service::limit_source(const RequestContext& context, const Route& route) {
  const std::string& source = context.source_address;
  int wait_seconds = source_limiter_.take(source);
  if (!wait_seconds && route.access != Access::open) {
    // A source whose refusals ran out gets no more lookups until they refill; a key this
    // process verified recently still passes (a client behind the same address keeps working).
    wait_seconds = refusal_limiter_.wait_seconds(source);
    if (wait_seconds && route.access == Access::api_key) {
      const auto authorization = context.header("Authorization");
      constexpr std::string_view bearer = "Bearer ";
      if (authorization && authorization->starts_with(bearer)) {
        const auto cached = key_cache_.find(authorization->substr(bearer.size()));
        if (cached && cached->verdict == KeyVerdict::verified) wait_seconds = 0;
      }
    }
  }
  if (!wait_seconds) return std::nullopt;
  metrics_.count_source_limited();
  Reply reply = problem(429, "rate_limited", "too many requests (or refused requests) from this address; slow down");
  reply.headers.emplace_back("Retry-After", std::to_string(wait_seconds));
  return reply;
}

void Service::record_refusal(const RequestContext& context, const Reply& refusal, const std::string& named_key_id) {
  const std::string code = refusal_code(refusal);
  metrics_.count_auth_refusal(code);
  // A 403 is a known key doing what its role may not: it does not use up its address's refusals.
  if (refusal.status == 401) refusal_limiter_.take(context.source_address);
  refusals_.add(context.source_address, named_key_id, code, context.route, context.received_at);
}

// Service::run's twin on the access executor (key lookups stay off the members' workers).
asio::awaitable<KeyCheck> Service::check_key(const std::string& secret, Outcome& outcome) {
  KeyCheck check;
  const Timestamp now = now_utc();
  auto io = co_await asio::this_coro::executor;
  outcome = co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(Outcome)>(
      [this, io, &check, &secret, now](auto handler) mutable {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        access_executor_.submit(
            db::routing_key_of(secret),
            [&check, &secret, now](pqxx::transaction_base& txn) {
              check = check_api_key(txn, secret, now);
              return false;
            },
            [shared, io](db::JobStatus status, std::exception_ptr error) {
              asio::post(io, [shared, status, error]() mutable { (*shared)(Outcome{status, error}); });
            });
      },
      asio::use_awaitable);
  co_return check;
}

asio::awaitable<std::optional<Reply>> Service::authenticate_key(RequestContext& context, const Route& route,
                                                                std::string& named_key_id) {
  const auto authorization = context.header("Authorization");
  constexpr std::string_view bearer = "Bearer ";
  if (!authorization || authorization->size() <= bearer.size() ||
      authorization->compare(0, bearer.size(), bearer) != 0) {
    Reply reply = problem(401, "unauthenticated", "an API key is required: Authorization: Bearer <secret>");
    reply.headers.emplace_back("WWW-Authenticate", "Bearer");
    co_return reply;
  }
  const std::string secret = authorization->substr(bearer.size());
  std::optional<KeyCheck> check = key_cache_.find(secret);
  if (!check && !key_id_of_secret(secret)) check = KeyCheck{};  // malformed: nothing to look up
  if (!check) {
    const auto lookup_started = KeyCache::Clock::now();
    Outcome outcome;
    KeyCheck looked_up = co_await check_key(secret, outcome);
    if (outcome.status != db::JobStatus::finished) co_return reply_for_failure(outcome);
    key_cache_.remember(secret, looked_up, lookup_started);
    check = std::move(looked_up);
  }
  named_key_id = check->key_id.value_or("");
  switch (check->verdict) {
    case KeyVerdict::verified: break;
    case KeyVerdict::revoked: co_return problem(401, "key_revoked", "the API key has been revoked");
    case KeyVerdict::expired: co_return problem(401, "unauthenticated", "the API key has expired");
    case KeyVerdict::malformed:
    case KeyVerdict::unknown_key:
    case KeyVerdict::wrong_secret: co_return problem(401, "unauthenticated", "the API key is not valid");
  }
  const Caller& caller = *check->caller;
  context.caller = caller;
  if (!route.allows(caller.role)) {
    co_return problem(403, "forbidden", std::string("the role ") + role_name(caller.role) + " may not do this");
  }
  co_return take_rate_token(rate_limiter_, metrics_, caller.key_id);
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

namespace {

// Where a created resource can be read: the Location of a 201 (and of an export's 202). The id
// is read from the answer itself, so an idempotent replay carries the same Location.
struct CreatedResource {
  std::string_view route;     // the route that creates it
  std::string_view id_field;  // the id's field in the answer
  std::string_view prefix;    // the resource's path, before the id
};
constexpr CreatedResource created_resources[] = {
    {"POST /v1/members", "member_id", "/v1/members/"}, {"POST /v1/holds", "hold_id", "/v1/holds/"},
    {"POST /v1/events", "event_id", "/v1/events/"},    {"POST /v1/orders", "order_id", "/v1/orders/"},
    {"POST /v1/exports", "export_id", "/v1/exports/"}, {"POST /v1/partners", "partner_id", "/v1/partners/"},
};

// A path segment: RFC 3986 unreserved characters as they are, every other byte %XX.
std::string path_segment(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[byte >> 4];
      out += hex[byte & 15];
    }
  }
  return out;
}

std::optional<std::string> location_of(const RequestContext& context, const Reply& reply) {
  if ((reply.status != 201 && reply.status != 202) || !reply.message || reply.is_problem) return std::nullopt;
  for (const auto& created : created_resources) {
    if (created.route != context.route) continue;
    const auto* field = reply.message->GetDescriptor()->FindFieldByName(std::string(created.id_field));
    if (!field || field->type() != google::protobuf::FieldDescriptor::TYPE_STRING || field->is_repeated())
      return std::nullopt;
    const std::string id = reply.message->GetReflection()->GetString(*reply.message, field);
    if (id.empty()) return std::nullopt;
    return std::string(created.prefix) + path_segment(id);
  }
  return std::nullopt;
}

}  // namespace

HttpResponse Service::encode(const RequestContext& context, const Reply& reply) {
  HttpResponse response{static_cast<http::status>(reply.status), context.http.version()};
  response.set(http::field::server, "loyalty-ledger");
  response.set("X-Request-Id", context.request_id);
  for (const auto& [name, value] : reply.headers) response.set(name, value);
  if (const auto location = location_of(context, reply)) response.set(http::field::location, *location);
  if (reply.body_source) {
    // The body follows the header in pieces (Server writes them); only its length is known here.
    response.set(http::field::content_type, reply.raw_content_type);
    response.content_length(static_cast<std::uint64_t>(reply.body_bytes));
    return response;
  }
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

asio::awaitable<ServedResponse> Service::handle(HttpRequest& request, std::string source_address) {
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
      log::error(context.log_tags(), "handler failed", {{"route", context.route}, {"error", error.what()}});
      reply = problem(500, "internal_error", "the request failed; nothing was written");
    }
  }
  HttpResponse response = encode(context, reply);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_.observe_request(context.route, reply.status, seconds);
  if (reply.status >= 500 || context.route.find("/healthz") == std::string::npos) {
    const double milliseconds = std::round(seconds * 1e6) / 1e3;  // to the microsecond
    if (!reply.failure.empty()) log::error(context.log_tags(), "request failed", {{"error", reply.failure}});
    log::info(context.log_tags(), "request",
              {{"method", std::string_view(request.method_string().data(), request.method_string().size())},
               {"route", context.route},
               {"status", reply.status},
               {"duration_ms", milliseconds},
               {"source", context.source_address}});
  }
  co_return ServedResponse{std::move(response), std::move(reply.body_source)};
}

std::optional<Reply> parse_body(const RequestContext& context, google::protobuf::Message& message) {
  const std::string& body = context.http.body();
  if (body.empty()) return std::nullopt;
  const auto error =
      context.body_encoding == Encoding::protobuf ? parse_binary(body, message) : parse_json(body, message);
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

std::optional<Reply> parse_page(const RequestContext& context, int& limit, std::optional<std::int64_t>& before) {
  if (auto bad = parse_limit(context, limit)) return bad;
  if (const auto cursor = context.query_value("cursor"); cursor && !cursor->empty()) {
    before = decode_cursor(*cursor);
    if (!before) return problem(422, "validation_failed", "cursor: not a cursor this API returned");
  }
  return std::nullopt;
}

std::optional<Reply> parse_key_page(const RequestContext& context, int& limit, std::optional<KeyCursor>& after) {
  if (auto bad = parse_limit(context, limit)) return bad;
  if (const auto cursor = context.query_value("cursor"); cursor && !cursor->empty()) {
    after = decode_key_cursor(*cursor);
    if (!after) return problem(422, "validation_failed", "cursor: not a cursor this API returned");
  }
  return std::nullopt;
}

}  // namespace loyalty::api
