#include "api/metrics.hpp"

#include <cstdio>

#include "ledger/executor.hpp"
#include "ledger/journal.hpp"

namespace loyalty::api {

void Metrics::observe_request(const std::string& route, int status, double seconds) {
  std::lock_guard lock{mutex_};
  ++requests_[{route, status}];
  Histogram& histogram = latency_[route];
  for (std::size_t i = 0; i < buckets_seconds.size(); ++i) {
    if (seconds <= buckets_seconds[i]) ++histogram.counts[i];
  }
  ++histogram.count;
  histogram.sum += seconds;
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
    for (std::size_t i = 0; i < buckets_seconds.size(); ++i) {
      std::snprintf(line, sizeof line,
                    "loyalty_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    route.c_str(), buckets_seconds[i], static_cast<unsigned long long>(histogram.counts[i]));
      out += line;
    }
    std::snprintf(line, sizeof line,
                  "loyalty_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                  "loyalty_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                  "loyalty_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                  route.c_str(), static_cast<unsigned long long>(histogram.count), route.c_str(), histogram.sum,
                  route.c_str(), static_cast<unsigned long long>(histogram.count));
    out += line;
  }
  out += "# HELP loyalty_auth_refusals_total Refused authentications (401) and authorizations (403) by code.\n";
  out += "# TYPE loyalty_auth_refusals_total counter\n";
  for (const auto& [code, count] : auth_refusals_) {
    std::snprintf(line, sizeof line, "loyalty_auth_refusals_total{code=\"%s\"} %llu\n", code.c_str(),
                  static_cast<unsigned long long>(count));
    out += line;
  }
  std::snprintf(line, sizeof line,
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
                static_cast<unsigned long long>(db::statements_sent_total.load()), executor.database_reachable() ? 1 : 0,
                static_cast<long long>(executor.entries_committed()));
  out += line;
  return out;
}

}  // namespace loyalty::api
