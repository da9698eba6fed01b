// GET /healthz, GET /readyz, GET /metrics, GET /openapi.json, POST /v1/jobs/{name}, GET /v1/jobs,
// GET /v1/jobs/{name}/runs
#include <boost/asio/awaitable.hpp>

#include "api/jobs_catalog.hpp"
#include "api/limits.hpp"
#include "api/metrics.hpp"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "platform/executor.hpp"
#include "platform/migrator.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

asio::awaitable<Reply> readiness(Service& service, RequestContext&) {
  if (service.stopping()) {
    // A graceful stop has begun: balancers stop sending here while in-flight work finishes.
    v1::Health health;
    health.set_status("stopping");
    co_return Reply::of(503, std::move(health));
  }
  Reply reply = co_await service.read(0, [](pqxx::transaction_base& txn) {
    const auto status = db::schema_status(txn);
    v1::Health health;
    if (!status.current()) {
      health.set_status("not_ready");
      health.set_detail(status.problems.empty() ? "migrations pending: " + status.pending.front()
                                                : status.problems.front());
      return Reply::of(503, std::move(health));
    }
    health.set_status("ready");
    return Reply::of(200, std::move(health));
  });
  co_return reply;
}

asio::awaitable<Reply> run_job(Service& service, RequestContext& context) {
  v1::RunJobRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  const auto job = find_job(context.param("name"), service.signing_key());
  if (!job) co_return problem(404, "not_found", "no job has this name");
  Timestamp as_of = context.received_at;
  if (request.has_as_of()) {
    const auto parsed = parse_rfc3339(request.as_of());
    if (!parsed) co_return problem(422, "validation_failed", "as_of: not an RFC 3339 time");
    as_of = *parsed;
  }
  // "Future" is beyond the server's clock plus a small allowance for clocks that differ between
  // the caller and this process (and for a run asked for "now" by a caller slightly ahead).
  if (as_of > context.received_at + limits::job_as_of_skew_max && !service.options().allow_future_jobs) {
    co_return problem(422, "as_of_in_future",
                      "as_of is more than 5 minutes after the server's clock (" + format_rfc3339(context.received_at) +
                          "); processes started with LOYALTY_ALLOW_FUTURE_JOBS=1 accept it");
  }
  const std::string started_by = context.origin().actor.value_or("");
  // A run is many transactions (a chunk each); with an Idempotency-Key the whole run answers once.
  co_return co_await service.idempotent_operation(
      context, db::routing_key_of(job->name), request, [&]() -> asio::awaitable<Reply> {
        v1::JobRun message;
        message.set_job(job->name);
        message.set_as_of(format_rfc3339(as_of));
        message.set_started_at(format_rfc3339(now_utc()));
        std::int64_t items = 0;
        // One chunk per executor job, so that a long job never holds a worker for long.
        while (true) {
          // A graceful stop ends the run at a chunk boundary; it resumes there when run again.
          if (service.stopping()) {
            Reply reply = problem(503, "stopping",
                                  "this process is stopping; the run stopped between chunks and "
                                  "resumes where it was when it is started again");
            reply.headers.emplace_back("Retry-After", "1");
            co_return reply;
          }
          ledger::ChunkResult chunk;
          Reply failure = co_await service.transact(db::routing_key_of(job->name), [&](pqxx::transaction_base& txn) {
            chunk = ledger::run_job_chunk(txn, *job, as_of, ledger::job_chunk_items, started_by);
            return Reply::of(200, v1::JobRun{});
          });
          if (!failure.succeeded()) co_return failure;
          items += chunk.items;
          if (chunk.outcome == ledger::ChunkOutcome::more) continue;
          message.set_status(chunk.outcome == ledger::ChunkOutcome::finished ? "done"
                             : chunk.outcome == ledger::ChunkOutcome::busy   ? "busy"
                                                                             : "already_done");
          if (chunk.outcome == ledger::ChunkOutcome::finished) message.set_finished_at(format_rfc3339(now_utc()));
          break;
        }
        message.set_items(items);
        // As the run's list shows it: a run answered busy is another's, not finished yet.
        message.set_outcome(message.status() == "busy" ? "unfinished" : "done");
        message.set_rows(items);
        co_return Reply::of(200, std::move(message));
      });
}

v1::JobRun recorded_run_message(const ledger::RecordedRun& run) {
  v1::JobRun message;
  message.set_job(run.job);
  message.set_as_of(format_rfc3339(run.as_of));
  message.set_started_at(format_rfc3339(run.started_at));
  if (run.finished_at) message.set_finished_at(format_rfc3339(*run.finished_at));
  message.set_items(run.items);
  message.set_outcome(run.finished_at ? "done" : "unfinished");
  message.set_status(message.outcome());
  message.set_rows(run.items);
  if (run.started_by) message.set_started_by(*run.started_by);
  return message;
}

asio::awaitable<Reply> list_jobs(Service& service, RequestContext&) {
  const std::vector<std::string> names = job_names();
  co_return co_await service.read(0, [&](pqxx::transaction_base& txn) {
    const auto latest = ledger::latest_job_runs(txn, names);
    v1::JobList message;
    for (const auto& name : names) {
      auto* item = message.add_items();
      item->set_name(name);
      item->set_schedule(schedule_text(name));
      if (const auto found = latest.find(name); found != latest.end()) {
        *item->mutable_last_run() = recorded_run_message(found->second);
      }
    }
    return Reply::of(200, std::move(message));
  });
}

asio::awaitable<Reply> list_runs(Service& service, RequestContext& context) {
  const auto job = find_job(context.param("name"), service.signing_key());
  if (!job) co_return problem(404, "not_found", "no job has this name");
  int limit = 0;
  std::optional<KeyCursor> cursor;
  if (auto bad = parse_key_page(context, limit, cursor)) co_return *bad;
  std::optional<Timestamp> before;
  if (cursor) before = Timestamp{std::chrono::microseconds{cursor->number}};
  co_return co_await service.read(db::routing_key_of(job->name), [&](pqxx::transaction_base& txn) {
    // One run more than asked tells whether there is a next page.
    auto runs = ledger::list_job_runs(txn, job->name, before, limit + 1);
    const bool more = static_cast<int>(runs.size()) > limit;
    if (more) runs.pop_back();
    v1::JobRunList message;
    for (const auto& run : runs) *message.add_items() = recorded_run_message(run);
    if (more) message.set_next_cursor(encode_cursor(KeyCursor{runs.back().as_of.time_since_epoch().count(), ""}));
    return Reply::of(200, std::move(message));
  });
}

}  // namespace

void add_operations_routes(Router& router, Service& service) {
  using http::verb;
  router.add(verb::get, "/healthz", {}, [](RequestContext&) -> asio::awaitable<Reply> {
    v1::Health health;
    health.set_status("ok");
    co_return Reply::of(200, std::move(health));
  });
  router.add(verb::get, "/readyz", {}, [&service](RequestContext& c) { return readiness(service, c); });
  router.add(verb::get, "/metrics", {}, [&service](RequestContext&) -> asio::awaitable<Reply> {
    // The process's own counters always; the background duties' when the database answers
    // (loyalty_background_metrics_up says which).
    std::string text = service.metrics().render(service.executor());
    std::string background;
    const Reply read = co_await service.read(0, [&background](pqxx::transaction_base& txn) {
      background = render_background(txn);
      return Reply::text(200, "", "text/plain");
    });
    text +=
        "# HELP loyalty_background_metrics_up 1 when the job, seal and export metrics below could be read.\n"
        "# TYPE loyalty_background_metrics_up gauge\n";
    text += read.status == 200 ? "loyalty_background_metrics_up 1\n" + background : "loyalty_background_metrics_up 0\n";
    co_return Reply::text(200, std::move(text), "text/plain; version=0.0.4; charset=utf-8");
  });
  // Built once with the service (Service::openapi_json), after every route was added.
  router.add(verb::get, "/openapi.json", {}, [&service](RequestContext&) -> asio::awaitable<Reply> {
    co_return Reply::text(200, service.openapi_json(), "application/json");
  });
  router.add(verb::post, "/v1/jobs/{name}", {Role::admin},
             [&service](RequestContext& c) { return run_job(service, c); });
  router.add(verb::get, "/v1/jobs", {Role::admin}, [&service](RequestContext& c) { return list_jobs(service, c); });
  router.add(verb::get, "/v1/jobs/{name}/runs", {Role::admin},
             [&service](RequestContext& c) { return list_runs(service, c); });
}

}  // namespace loyalty::api
