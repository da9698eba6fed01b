// The HTTP application: authentication, rate limits, routing, idempotency, and the bridge
// from handlers (coroutines on the I/O threads) to the database executor (worker threads).
//
// The path of one request (docs/ARCHITECTURE.md tells it in full):
//   Server reads it → Service::handle: request id, route match, key check, rate limit →
//   handler parses and validates the body on the I/O thread → Service::write submits the
//   ledger work to the executor and suspends → a worker runs it in a (batched) transaction
//   → after the commit the coroutine resumes on an I/O thread → the reply is encoded as JSON
//   or protobuf, logged, measured and written.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "api/api_keys.hpp"
#include "api/auth_refusals.hpp"
#include "api/context.hpp"
#include "api/metrics.hpp"
#include "api/rate_limiter.hpp"
#include "api/reply.hpp"
#include "api/router.hpp"
#include "app/write_protocol.hpp"
#include "audit/audit_log.hpp"
#include "outbox/delivery.hpp"
#include "platform/ed25519.hpp"
#include "platform/executor.hpp"
#include "program/cache.hpp"

namespace loyalty::api {

struct ServiceOptions {
  db::ExecutorOptions database;
  double rate_limit_per_second = 5000;
  double rate_limit_burst = 10000;
  // Our Ed25519 private key (PEM; may be empty): read once into Service::signing_key(), which
  // signs partner responses, statements, export manifests; the service keeps no copy of it here.
  std::string signing_key_pem;
  // Per source address, before authentication: every request, and refused authentications
  // (once a source's refusals run out, keys this process has not verified recently are not
  // looked up for it: 429 until they refill).
  double source_rate_limit_per_second = 20000;
  double source_rate_limit_burst = 40000;
  double auth_refusals_per_second = 10;
  double auth_refusals_burst = 100;
  // POST /v1/jobs/{name} takes an as_of after now + limits::job_as_of_skew_max
  // (LOYALTY_ALLOW_FUTURE_JOBS=1: test and staging set-ups that move a program through time).
  bool allow_future_jobs = false;
  // Where webhook endpoints may point (outbox/delivery.hpp), and how long a delivery is retried
  // (a redelivery gives each event this long again).
  outbox::UrlPolicy webhook_url_policy;
  std::chrono::seconds webhook_retry_window{24 * 3600};
};

// The request id a response carries: the caller's X-Request-Id when it is 1–128 of
// [A-Za-z0-9._-], else a new one.
std::string request_id_for(const std::optional<std::string>& given);

// What the server writes for one request: the response, and for a body produced while it is
// written (Reply::body_source), where its pieces come from (the response then carries the
// header and Content-Length only).
struct ServedResponse {
  HttpResponse response;
  std::function<boost::asio::awaitable<std::string>()> body_source;
};

class Service {
 public:
  explicit Service(ServiceOptions options);
  ~Service();

  boost::asio::awaitable<ServedResponse> handle(HttpRequest& request, std::string source_address);

  // Runs read-only work on a database worker; the transaction is never committed.
  boost::asio::awaitable<Reply> read(std::uint64_t routing_key, std::function<Reply(pqxx::transaction_base&)> work);

  // Runs work that writes; its writes are kept only when its reply is a success.
  boost::asio::awaitable<Reply> transact(std::uint64_t routing_key, std::function<Reply(pqxx::transaction_base&)> work);

  // Runs a client's write through the write protocol (app/write_protocol.hpp), batched with
  // others. With an Idempotency-Key header (required when `key_required`), a retry gets the
  // first answer, refusals included.
  boost::asio::awaitable<Reply> submit(RequestContext& context, std::uint64_t routing_key,
                                       const google::protobuf::Message& request, bool key_required,
                                       const std::shared_ptr<app::Command>& command);
  // A composite write (its own SQL, in a savepoint of the batch); its writes are kept only
  // when its reply is a success. `subjects` are locked first, in the batch's global order.
  boost::asio::awaitable<Reply> write(RequestContext& context, std::uint64_t routing_key,
                                      const google::protobuf::Message& request, bool key_required,
                                      std::function<Reply(pqxx::transaction_base&)> work, app::Subjects subjects = {});
  // The same, for a request whose identity is given as bytes (a body that is not a message).
  boost::asio::awaitable<Reply> write(RequestContext& context, std::uint64_t routing_key, std::string request_identity,
                                      bool key_required, std::function<Reply(pqxx::transaction_base&)> work,
                                      app::Subjects subjects = {});

  // An operation of several transactions (a job run) made idempotent: with an Idempotency-Key,
  // a key already answered gets that answer (or 409 for another request) and the operation does
  // not run; otherwise it runs and its answer (a success or a refusal, never a 5xx) is recorded
  // under the key afterwards.
  boost::asio::awaitable<Reply> idempotent_operation(RequestContext& context, std::uint64_t routing_key,
                                                     const google::protobuf::Message& request,
                                                     std::function<boost::asio::awaitable<Reply>()> operation);

  db::Executor& executor() { return executor_; }
  const ServiceOptions& options() const { return options_; }
  // Our signing key (empty when none is configured): what signs for this service.
  const SigningKey& signing_key() const { return signing_key_; }
  // The program in force (nullptr before one is applied); call inside a database job.
  std::shared_ptr<const program::ProgramVersion> program(pqxx::transaction_base& txn) { return programs_.current(txn); }
  void forget_program() { programs_.forget(); }
  Metrics& metrics() { return metrics_; }
  KeyCache& key_cache() { return key_cache_; }
  RefusalLog& refusals() { return refusals_; }

  // Graceful stop: from here on /readyz answers 503 and job runs stop at their next chunk.
  void begin_stopping() { stopping_ = true; }

  // The routes, and GET /openapi.json's body: made once, when the service is built.
  const Router& router() const { return router_; }
  const std::string& openapi_json() const { return openapi_json_; }
  bool stopping() const { return stopping_; }

 private:
  struct Outcome {
    db::JobStatus status;
    std::exception_ptr error;
  };
  boost::asio::awaitable<Outcome> run(std::uint64_t routing_key, db::Executor::Work work);
  static Reply reply_for_failure(const Outcome& outcome);
  // The reply to a command's outcome (app/write_protocol.hpp).
  static Reply reply_of(const app::Outcome& outcome);
  boost::asio::awaitable<std::optional<Reply>> authenticate(RequestContext& context, const Route& route);
  boost::asio::awaitable<std::optional<Reply>> authenticate_key(RequestContext& context, const Route& route,
                                                                std::string& named_key_id);
  std::optional<Reply> limit_source(const RequestContext& context, const Route& route);
  boost::asio::awaitable<KeyCheck> check_key(const std::string& secret, Outcome& outcome);
  void record_refusal(const RequestContext& context, const Reply& refusal, const std::string& named_key_id);
  static audit::AuditRecord audit_record(const RequestContext& context, std::string result);
  // The Idempotency-Key of a request, checked, with its caller and the request's hash; or the
  // 400 answer for a missing (when required) or malformed key.
  struct IdempotencyScope {
    std::optional<std::string> key;
    std::string caller;
    std::string request_hash;
  };
  static std::variant<IdempotencyScope, Reply> idempotency_scope(const RequestContext& context,
                                                                 const std::string& request_identity,
                                                                 bool key_required);
  static std::string refusal_code(const Reply& reply);
  boost::asio::awaitable<Reply> submit_command(RequestContext& context, std::uint64_t routing_key,
                                               const std::string& request_identity, bool key_required,
                                               const std::shared_ptr<app::Command>& command);
  HttpResponse encode(const RequestContext& context, const Reply& reply);
  void add_routes();

  ServiceOptions options_;
  const SigningKey signing_key_;
  db::Executor executor_;
  // Looks up API keys that are not cached, apart from the workers that serve members: a flood
  // of made-up keys waits here, never in front of a member's write.
  db::Executor access_executor_;
  Metrics metrics_;
  RateLimiter rate_limiter_;
  RateLimiter source_limiter_;
  RateLimiter refusal_limiter_;
  RefusalLog refusals_;
  std::atomic<bool> stopping_{false};
  KeyCache key_cache_;
  program::ProgramCache programs_;
  Router router_;
  std::string openapi_json_;
};

// A reply as the write protocol's answer (what is recorded under an idempotency key).
app::Answer answer_of(Reply reply);

// Parses the request body (JSON or binary, by Content-Type) into `message`; an empty body is
// an empty message. Returns the problem to answer when it cannot.
std::optional<Reply> parse_body(const RequestContext& context, google::protobuf::Message& message);

// The page size a list asks for (`limit`), or a problem.
std::optional<Reply> parse_limit(const RequestContext& context, int& limit);

// `limit` and the optional `cursor` of a page (the position a previous page ended at), or a problem.
std::optional<Reply> parse_page(const RequestContext& context, int& limit, std::optional<std::int64_t>& before);

struct KeyCursor;
// `limit` and the optional `cursor` of a page ordered by a (number, text) key, or a problem.
std::optional<Reply> parse_key_page(const RequestContext& context, int& limit, std::optional<KeyCursor>& after);

}  // namespace loyalty::api
