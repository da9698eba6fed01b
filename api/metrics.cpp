#include "api/metrics.hpp"

#include <chrono>
#include <cstdio>

#include <pqxx/pqxx>

#include "api/jobs_catalog.hpp"
#include "audit/seal.hpp"
#include "ledger/jobs.hpp"
#include "ledger/journal.hpp"
#include "outbox/dispatcher.hpp"
#include "outbox/outbox.hpp"
#include "platform/executor.hpp"

namespace loyalty::api {

void Metrics::observe_request(const std::string& route, int status, double seconds) {
  std::lock_guard lock{mutex_};
  ++requests_[{route, status}];
  latency_[route].observe(seconds);
}

void Metrics::count_auth_refusal(const std::string& code) {
  std::lock_guard lock{mutex_};
  ++auth_refusals_[code];
}

std::string Metrics::render(const db::Executor& executor) const {
  std::string out;
  char line[2048];
  out += "# HELP loyalty_http_requests_total HTTP requests by route and status.\n";
  out += "# TYPE loyalty_http_requests_total counter\n";
  std::lock_guard lock{mutex_};
  for (const auto& [key, count] : requests_) {
    std::snprintf(line, sizeof line, "loyalty_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                  std::get<0>(key).c_str(), std::get<1>(key), static_cast<unsigned long long>(count));
    out += line;
  }
  out += "# HELP loyalty_http_request_duration_seconds Time from request read to response ready.\n";
  out += "# TYPE loyalty_http_request_duration_seconds histogram\n";
  for (const auto& [route, histogram] : latency_) {
    histogram.render(out, "loyalty_http_request_duration_seconds", "route=\"" + route + "\"");
  }
  out += "# HELP loyalty_auth_refusals_total Refused authentications (401) and authorizations (403) by code.\n";
  out += "# TYPE loyalty_auth_refusals_total counter\n";
  for (const auto& [code, count] : auth_refusals_) {
    std::snprintf(line, sizeof line, "loyalty_auth_refusals_total{code=\"%s\"} %llu\n", code.c_str(),
                  static_cast<unsigned long long>(count));
    out += line;
  }
  std::snprintf(
      line, sizeof line,
      "# HELP loyalty_source_limited_total Requests refused with 429 before authentication, by source address limits.\n"
      "# TYPE loyalty_source_limited_total counter\n"
      "loyalty_source_limited_total %llu\n",
      static_cast<unsigned long long>(source_limited_.load()));
  out += line;
  std::snprintf(line, sizeof line,
                "# HELP loyalty_rate_limited_total Requests refused with 429.\n"
                "# TYPE loyalty_rate_limited_total counter\n"
                "loyalty_rate_limited_total %llu\n"
                "# HELP loyalty_db_pool_workers Database worker threads (one connection each).\n"
                "# TYPE loyalty_db_pool_workers gauge\n"
                "loyalty_db_pool_workers %d\n"
                "# HELP loyalty_db_queue_jobs Database jobs waiting for a worker.\n"
                "# TYPE loyalty_db_queue_jobs gauge\n"
                "loyalty_db_queue_jobs %lld\n"
                "# HELP loyalty_db_jobs_total Database jobs run.\n"
                "# TYPE loyalty_db_jobs_total counter\n"
                "loyalty_db_jobs_total %lld\n"
                "# HELP loyalty_db_transactions_total Transactions (batches of jobs) run.\n"
                "# TYPE loyalty_db_transactions_total counter\n"
                "loyalty_db_transactions_total %lld\n"
                "# HELP loyalty_db_statements_total Statements sent to PostgreSQL (db::exec).\n"
                "# TYPE loyalty_db_statements_total counter\n"
                "loyalty_db_statements_total %llu\n"
                "# HELP loyalty_db_reachable 1 when the last connection attempt succeeded.\n"
                "# TYPE loyalty_db_reachable gauge\n"
                "loyalty_db_reachable %d\n"
                "# HELP loyalty_ledger_entries_committed_total Journal entries committed.\n"
                "# TYPE loyalty_ledger_entries_committed_total counter\n"
                "loyalty_ledger_entries_committed_total %lld\n",
                static_cast<unsigned long long>(rate_limited_.load()), executor.workers(),
                static_cast<long long>(executor.queued_jobs()), static_cast<long long>(executor.jobs_run()),
                static_cast<long long>(executor.committed_batches()),
                static_cast<unsigned long long>(db::statements_sent_total.load()),
                executor.database_reachable() ? 1 : 0, static_cast<long long>(executor.committed_tally()));
  out += line;
  out +=
      "# HELP loyalty_db_queue_wait_seconds Time a database job waited in its worker's queue before its batch began.\n"
      "# TYPE loyalty_db_queue_wait_seconds histogram\n";
  executor.queue_wait().render(out, "loyalty_db_queue_wait_seconds");
  out +=
      "# HELP loyalty_db_batch_duration_seconds Time a database worker took for one batch, from taking its jobs to "
      "handing back their outcomes after the commit.\n"
      "# TYPE loyalty_db_batch_duration_seconds histogram\n";
  executor.batch_duration().render(out, "loyalty_db_batch_duration_seconds");
  return out;
}

namespace {

double epoch_seconds(Timestamp time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

void append_help(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

std::string render_background(pqxx::transaction_base& txn) {
  std::string out;
  char line[512];
  const auto failures = ledger::job_failures_seen();
  std::string success_times, success_items, failure_times, failure_counts;
  for (const std::string& name : job_names()) {
    const auto run = ledger::last_finished_run(txn, name);
    std::snprintf(line, sizeof line, "loyalty_job_last_success_timestamp_seconds{job=\"%s\"} %.3f\n", name.c_str(),
                  run ? epoch_seconds(run->finished_at) : 0.0);
    success_times += line;
    std::snprintf(line, sizeof line, "loyalty_job_last_success_items{job=\"%s\"} %lld\n", name.c_str(),
                  static_cast<long long>(run ? run->items : 0));
    success_items += line;
    const auto failed = failures.find(name);
    std::snprintf(line, sizeof line, "loyalty_job_last_failure_timestamp_seconds{job=\"%s\"} %.3f\n", name.c_str(),
                  failed == failures.end() ? 0.0 : epoch_seconds(failed->second.last_at));
    failure_times += line;
    std::snprintf(line, sizeof line, "loyalty_job_failures_total{job=\"%s\"} %lld\n", name.c_str(),
                  static_cast<long long>(failed == failures.end() ? 0 : failed->second.count));
    failure_counts += line;
  }
  append_help(out, "loyalty_job_last_success_timestamp_seconds", "gauge",
              "When the job's last run finished (Unix time; 0: never), whichever process ran it.");
  out += success_times;
  append_help(out, "loyalty_job_last_success_items", "gauge", "Items the job's last finished run processed.");
  out += success_items;
  append_help(out, "loyalty_job_last_failure_timestamp_seconds", "gauge",
              "When a run of the job last failed in this process (Unix time; 0: never).");
  out += failure_times;
  append_help(out, "loyalty_job_failures_total", "counter", "Runs of the job that failed in this process.");
  out += failure_counts;

  const auto lag = audit::seal_lag(txn);
  append_help(out, "loyalty_audit_seal_lag_records", "gauge",
              "Committed entries and audit events not yet sealed into the hash chain.");
  std::snprintf(line, sizeof line, "loyalty_audit_seal_lag_records %lld\n", static_cast<long long>(lag.records));
  out += line;
  append_help(out, "loyalty_audit_seal_lag_seconds", "gauge",
              "Age of the oldest record not yet sealed (0: none waits).");
  std::snprintf(line, sizeof line, "loyalty_audit_seal_lag_seconds %.3f\n", lag.seconds);
  out += line;

  const auto exports = count_exports(txn);
  append_help(out, "loyalty_exports", "gauge",
              "Finance exports by status (failed includes those left running by a process that stopped).");
  std::snprintf(line, sizeof line,
                "loyalty_exports{status=\"running\"} %lld\nloyalty_exports{status=\"failed\"} %lld\n"
                "loyalty_exports{status=\"done\"} %lld\n",
                static_cast<long long>(exports.running), static_cast<long long>(exports.failed),
                static_cast<long long>(exports.done));
  out += line;

  // Webhooks: the outbox's backlog (the database's) and deliveries (this process's).
  const auto backlog = outbox::backlog(txn, now_utc());
  append_help(out, "loyalty_outbox_events_sequenced_total", "counter",
              "Events this process put in commit order (written events reach webhooks and the feed this way).");
  std::snprintf(line, sizeof line, "loyalty_outbox_events_sequenced_total %llu\n",
                static_cast<unsigned long long>(outbox::events_sequenced_seen()));
  out += line;
  append_help(out, "loyalty_outbox_unsequenced_events", "gauge",
              "Committed events not yet in commit order (sequencer lag).");
  std::snprintf(line, sizeof line, "loyalty_outbox_unsequenced_events %lld\n",
                static_cast<long long>(backlog.unsequenced));
  out += line;
  append_help(out, "loyalty_webhook_pending_deliveries", "gauge", "Deliveries not yet made, retries included.");
  std::snprintf(line, sizeof line, "loyalty_webhook_pending_deliveries %lld\n",
                static_cast<long long>(backlog.pending_deliveries));
  out += line;
  append_help(out, "loyalty_webhook_oldest_undelivered_seconds", "gauge",
              "Age of the oldest delivery not yet made (0: none waits).");
  std::snprintf(line, sizeof line, "loyalty_webhook_oldest_undelivered_seconds %.3f\n",
                backlog.oldest_undelivered_seconds);
  out += line;
  const auto deliveries = outbox::delivery_counts_seen();
  append_help(out, "loyalty_webhook_deliveries_total", "counter",
              "Delivery attempts this process made, by endpoint and outcome (delivered, retry, failed).");
  for (const auto& [webhook_id, counts] : deliveries) {
    for (const auto& [outcome, count] : {std::pair{"delivered", counts.delivered}, std::pair{"retry", counts.retried},
                                         std::pair{"failed", counts.failed}}) {
      std::snprintf(line, sizeof line, "loyalty_webhook_deliveries_total{webhook_id=\"%s\",outcome=\"%s\"} %llu\n",
                    webhook_id.c_str(), outcome, static_cast<unsigned long long>(count));
      out += line;
    }
  }
  return out;
}

}  // namespace loyalty::api
