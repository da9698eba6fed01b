// Prometheus metrics of the HTTP service: requests by route and status, latency histograms
// by route, the database executor's queue and batches, and ledger entries committed; and of
// the background duties (render_background): every job's last success and failure, the audit
// sealer's lag, exports running and failed. docs/API.md ("What to alert on") says what to alert on.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "platform/histogram.hpp"

namespace loyalty::db {
class Executor;
}
namespace pqxx {
class transaction_base;
}

namespace loyalty::api {

class Metrics {
 public:
  void observe_request(const std::string& route, int status, double seconds);
  void count_rate_limited() { ++rate_limited_; }
  // A refused authentication (401) or authorization (403), by its problem code.
  void count_auth_refusal(const std::string& code);
  // A request refused before authentication: its source address sent too many requests, or
  // too many that were refused.
  void count_source_limited() { ++source_limited_; }
  std::string render(const db::Executor& executor) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::atomic<std::uint64_t> rate_limited_{0};
  std::atomic<std::uint64_t> source_limited_{0};
  std::map<std::string, std::uint64_t> auth_refusals_;  // by code; guarded by mutex_
};

// Exports by state (api/export_routes.cpp owns the table).
struct ExportCounts {
  std::int64_t running = 0, failed = 0, done = 0;
};
ExportCounts count_exports(pqxx::transaction_base& txn);

// The background duties' metrics: what the database says (job_runs, the seal chain, exports;
// true whichever process did the work) and what this process saw (job runs that failed).
std::string render_background(pqxx::transaction_base& txn);

}  // namespace loyalty::api
