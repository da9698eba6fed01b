// loyaltyd: the HTTP service and its job scheduler.
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <cstdio>
#include <thread>

#include "api/jobs_catalog.hpp"
#include "api/server.hpp"
#include "api/service.hpp"
#include "audit/seal.hpp"
#include "ledger/database.hpp"
#include "ledger/log.hpp"
#include "ledger/migrator.hpp"
#include "tools/flags.hpp"

namespace {

using namespace loyalty;

const std::vector<tools::FlagSpec> flag_specs = {
    {"listen", "LOYALTY_LISTEN", "127.0.0.1:8080", "address:port to serve on"},
    {"database-url", "LOYALTY_DATABASE_URL", "", "libpq URI of the database"},
    {"io-threads", "LOYALTY_IO_THREADS", "2", "HTTP I/O threads"},
    {"db-workers", "LOYALTY_DB_WORKERS", "8", "database worker threads (one connection each)"},
    {"batch-max", "LOYALTY_BATCH_MAX", "32", "most requests committed in one transaction"},
    {"rate-limit", "LOYALTY_RATE_LIMIT_PER_SECOND", "5000", "requests per second per API key"},
    {"scheduler-interval", "LOYALTY_SCHEDULER_INTERVAL_SECONDS", "30", "seconds between scheduled job runs (0: off)"},
    {"signing-key", "LOYALTY_SIGNING_KEY", "", "Ed25519 private key (PEM) for our signatures"},
    {"source-rate-limit", "LOYALTY_SOURCE_RATE_LIMIT_PER_SECOND", "20000",
     "requests per second per source address, before authentication"},
    {"auth-refusals-per-second", "LOYALTY_AUTH_REFUSALS_PER_SECOND", "10",
     "refused authentications per second per source address (bursts of 10x) before 429"},
    {"allow-future-jobs", "LOYALTY_ALLOW_FUTURE_JOBS", "0",
     "1: POST /v1/jobs/{name} accepts an as_of more than 5 minutes ahead (test and staging set-ups)"},
    {"stop-timeout", "LOYALTY_STOP_TIMEOUT_SECONDS", "20",
     "on SIGTERM/SIGINT, seconds to finish in-flight requests before stopping anyway"},
    {"help", "", "", "show this help", true},
};

// After the stop timeout, what is still running (a database statement, a chunk of a job) gets
// this long before the process exits regardless.
constexpr std::chrono::seconds stop_grace_after_timeout{10};

// Waits for the database (it may still be starting) and checks that its schema is the one
// this binary was built for.
bool schema_is_current(const std::string& url) {
  for (int attempt = 1; attempt <= 60; ++attempt) {
    try {
      auto connection = db::connect(url);
      pqxx::read_transaction txn{*connection, "startup"};
      const auto status = ledger::schema_status(txn);
      if (status.current()) return true;
      const std::string problem = status.problems.empty() ? "migrations pending (run loyaltyctl migrate): " +
                                                                status.pending.front()
                                                          : status.problems.front();
      log::error("refusing to serve: the database schema is not the one this binary knows", {{"problem", problem}});
      return false;
    } catch (const pqxx::broken_connection& error) {
      if (attempt == 1) log::warn("waiting for the database", {{"error", error.what()}});
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  log::error("the database did not become reachable");
  return false;
}

// How often each job runs on its own: every run is for the start of its period (the minute,
// the hour, the UTC day), so each job runs once per period however many processes run the
// scheduler, and a process that restarts does not redo a period.
struct Schedule {
  const char* job;
  std::chrono::seconds period;
};
constexpr Schedule schedules[] = {
    {"expire-holds", std::chrono::minutes{1}},      {"release-pending", std::chrono::minutes{1}},
    {"purge-idempotency-keys", std::chrono::hours{1}}, {"expire-points", std::chrono::hours{24}},
    {"decay-growth", std::chrono::hours{24}},       {"evaluate-tiers", std::chrono::hours{24}},
    {"close-statements", std::chrono::hours{24}},
};

// Runs the scheduled jobs, checking every `interval`, until `stop` is set.
void run_scheduler(const std::string& url, std::chrono::seconds interval, const std::atomic<bool>& stop) {
  std::unique_ptr<pqxx::connection> connection;
  auto next = std::chrono::steady_clock::now();
  while (!stop) {
    if (std::chrono::steady_clock::now() >= next) {
      next += interval;
      for (const Schedule& schedule : schedules) {
        if (stop) break;
        const auto job = api::find_job(schedule.job);
        if (!job) continue;
        try {
          if (!connection || !connection->is_open()) connection = db::connect(url);
          const auto now = now_utc().time_since_epoch();
          const Timestamp as_of{std::chrono::duration_cast<std::chrono::microseconds>(now - now % schedule.period)};
          ledger::RunControl control{"scheduler", {}, [&stop] { return stop.load(); }};
          const auto report = ledger::run_job(*connection, *job, as_of, control);
          if (report.items > 0) {
            log::info("scheduled job", {{"job", job->name}, {"status", report.status},
                                        {"items", report.items}});
          }
        } catch (const std::exception& error) {
          connection.reset();
          log::warn("scheduled job failed", {{"job", schedule.job}, {"error", error.what()}});
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace

int main(int argc, char** argv) {
  tools::Flags flags;
  if (const auto error = flags.parse(flag_specs, argc, argv, 1)) {
    std::fprintf(stderr, "loyaltyd: %s\n", error->c_str());
    return 2;
  }
  if (flags.on("help")) {
    std::printf("loyaltyd: the loyalty-ledger HTTP service\n\n%s", tools::Flags::help(flag_specs).c_str());
    return 0;
  }
  const std::string url = flags.value("database-url");
  if (url.empty()) {
    std::fprintf(stderr, "loyaltyd: set LOYALTY_DATABASE_URL or --database-url\n");
    return 2;
  }
  const std::string listen = flags.value("listen");
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "loyaltyd: --listen must be address:port\n");
    return 2;
  }
  if (!schema_is_current(url)) return 1;

  // Signals are taken by sigwait below, not by whichever thread happens to run.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  api::ServiceOptions options;
  options.database.database_url = url;
  options.database.workers = std::stoi(flags.value("db-workers"));
  options.database.batch_jobs_max = std::stoi(flags.value("batch-max"));
  options.rate_limit_per_second = std::stod(flags.value("rate-limit"));
  options.rate_limit_burst = options.rate_limit_per_second * 2;
  options.source_rate_limit_per_second = std::stod(flags.value("source-rate-limit"));
  options.source_rate_limit_burst = options.source_rate_limit_per_second * 2;
  options.auth_refusals_per_second = std::stod(flags.value("auth-refusals-per-second"));
  options.auth_refusals_burst = options.auth_refusals_per_second * 10;
  options.allow_future_jobs = flags.value("allow-future-jobs") == "1";
  const std::chrono::seconds stop_timeout{std::stoi(flags.value("stop-timeout"))};
  if (const std::string path = flags.value("signing-key"); !path.empty()) {
    std::ifstream file{path};
    if (!file) {
      std::fprintf(stderr, "loyaltyd: cannot read the signing key %s\n", path.c_str());
      return 2;
    }
    std::stringstream pem;
    pem << file.rdbuf();
    options.signing_key_pem = pem.str();
  }
  api::Service service{options};
  api::Server server{service, listen.substr(0, colon),
                     static_cast<unsigned short>(std::stoi(listen.substr(colon + 1))), std::stoi(flags.value("io-threads"))};
  server.start();
  log::info("serving", {{"url", "http://" + listen.substr(0, colon) + ":" + std::to_string(server.port())}});

  std::atomic<bool> stop{false};
  const int interval = std::stoi(flags.value("scheduler-interval"));
  std::thread scheduler;
  if (interval > 0) scheduler = std::thread([&] { run_scheduler(url, std::chrono::seconds(interval), stop); });
  // Seals finished entries and audit events into the tamper-evidence chain (audit/seal.hpp).
  audit::Sealer sealer{url, std::chrono::seconds(1)};
  sealer.start();

  int received = 0;
  sigwait(&signals, &received);
  // Graceful stop, in this order: /readyz answers 503 and job runs stop at their next chunk;
  // the listener closes; requests read (or being read) are answered, each with
  // `Connection: close`; idle connections get a moment to send one more; then the process
  // exits. A watchdog bounds it all: whatever hangs, the process is gone after
  // stop_timeout + stop_grace_after_timeout.
  const auto stop_began = std::chrono::steady_clock::now();
  log::info("stopping", {{"signal", received}, {"timeout_seconds", stop_timeout.count()}});
  std::thread([stop_timeout] {
    std::this_thread::sleep_for(stop_timeout + stop_grace_after_timeout);
    log::error("the graceful stop took too long; exiting now");
    std::_Exit(1);
  }).detach();
  service.begin_stopping();
  stop = true;
  const bool drained = server.drain(stop_began + stop_timeout);
  if (!drained) log::warn("stop timeout: connections still open were closed");
  if (scheduler.joinable()) scheduler.join();  // a running job stops at its chunk boundary
  sealer.stop();
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - stop_began);
  log::info("stopped", {{"drained", drained}, {"duration_ms", millis.count()}});
  return 0;
}
