// loyaltyd: the HTTP service and its job scheduler.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include <boost/system/system_error.hpp>

#include "api/jobs_catalog.hpp"
#include "api/server.hpp"
#include "api/service.hpp"
#include "audit/seal.hpp"
#include "outbox/dispatcher.hpp"
#include "platform/database.hpp"
#include "platform/log.hpp"
#include "platform/migrator.hpp"
#include "tools/flags.hpp"

namespace {

using namespace loyalty;

// Every setting, from its option or else its environment variable, else the default shown.
struct Settings {
  std::string listen = "127.0.0.1:8080";
  std::string database_url;
  int io_threads = 2;
  int db_workers = 8;
  int batch_max = 32;
  int batch_linger_us = 0;
  std::string generic_plans_for_writes = "1";
  double rate_limit_per_second = 5000;
  double source_rate_limit_per_second = 20000;
  double auth_refusals_per_second = 10;
  int scheduler_interval_seconds = 30;
  std::string signing_key;
  std::string allow_future_jobs = "0";
  int stop_timeout_seconds = 20;
  std::string log_level = "info";
  int webhook_workers = 4;
  std::string webhook_allow_http = "0";
  int webhook_timeout_ms = 10000;
  int webhook_retry_window_seconds = 24 * 3600;
  int webhook_retry_base_ms = 5000;
  int webhook_lease_seconds = 60;
};

// Adds --NAME for `value`, falling back to `environment`, checked by `check`.
template <typename T>
void setting(CLI::App& app, const std::string& name, T& value, const std::string& environment, const std::string& help,
             const CLI::Validator& check) {
  app.add_option("--" + name, value, help)->envname(environment)->check(check)->capture_default_str();
}

void define_settings(CLI::App& app, Settings& settings) {
  tools::prepare(app);
  setting(app, "listen", settings.listen, "LOYALTY_LISTEN", "address:port to serve on",
          tools::host_and_port("LOYALTY_LISTEN"));
  app.add_option("--database-url", settings.database_url, "libpq URI of the database")
      ->envname("LOYALTY_DATABASE_URL")
      ->required();
  setting(app, "io-threads", settings.io_threads, "LOYALTY_IO_THREADS", "HTTP I/O threads",
          tools::integer_between(1, 64, "LOYALTY_IO_THREADS"));
  setting(app, "db-workers", settings.db_workers, "LOYALTY_DB_WORKERS", "database worker threads (one connection each)",
          tools::integer_between(1, 256, "LOYALTY_DB_WORKERS"));
  setting(app, "batch-max", settings.batch_max, "LOYALTY_BATCH_MAX", "most requests committed in one transaction",
          tools::integer_between(1, 4096, "LOYALTY_BATCH_MAX"));
  setting(app, "batch-linger-us", settings.batch_linger_us, "LOYALTY_BATCH_LINGER_US",
          "microseconds a database worker waits for more requests before a batch that is not full, when the last "
          "batch held several (0: never)",
          tools::integer_between(0, 100000, "LOYALTY_BATCH_LINGER_US"));
  setting(app, "generic-plans-for-writes", settings.generic_plans_for_writes, "LOYALTY_GENERIC_PLANS_FOR_WRITES",
          "1: batches of writes run with plan_cache_mode = force_generic_plan (each statement planned once per "
          "connection) and enable_seqscan = off (planned by key, even on a small table); 0: PostgreSQL's "
          "choice, as for reads",
          tools::one_of({"0", "1"}, "LOYALTY_GENERIC_PLANS_FOR_WRITES"));
  setting(app, "rate-limit", settings.rate_limit_per_second, "LOYALTY_RATE_LIMIT_PER_SECOND",
          "requests per second per API key", tools::number_between(0.001, 1e9, "LOYALTY_RATE_LIMIT_PER_SECOND"));
  setting(app, "source-rate-limit", settings.source_rate_limit_per_second, "LOYALTY_SOURCE_RATE_LIMIT_PER_SECOND",
          "requests per second per source address, before authentication",
          tools::number_between(0.001, 1e9, "LOYALTY_SOURCE_RATE_LIMIT_PER_SECOND"));
  setting(app, "auth-refusals-per-second", settings.auth_refusals_per_second, "LOYALTY_AUTH_REFUSALS_PER_SECOND",
          "refused authentications per second per source address (bursts of 10x) before 429",
          tools::number_between(0.001, 1e9, "LOYALTY_AUTH_REFUSALS_PER_SECOND"));
  setting(app, "scheduler-interval", settings.scheduler_interval_seconds, "LOYALTY_SCHEDULER_INTERVAL_SECONDS",
          "seconds between scheduled job runs (0: off)",
          tools::integer_between(0, 86400, "LOYALTY_SCHEDULER_INTERVAL_SECONDS"));
  app.add_option("--signing-key", settings.signing_key, "Ed25519 private key (PEM) for our signatures")
      ->envname("LOYALTY_SIGNING_KEY");
  setting(app, "allow-future-jobs", settings.allow_future_jobs, "LOYALTY_ALLOW_FUTURE_JOBS",
          "1: POST /v1/jobs/{name} accepts an as_of more than 5 minutes ahead (test and staging set-ups)",
          tools::one_of({"0", "1"}, "LOYALTY_ALLOW_FUTURE_JOBS"));
  setting(app, "stop-timeout", settings.stop_timeout_seconds, "LOYALTY_STOP_TIMEOUT_SECONDS",
          "on SIGTERM/SIGINT, seconds to finish in-flight requests before stopping anyway",
          tools::integer_between(1, 3600, "LOYALTY_STOP_TIMEOUT_SECONDS"));
  setting(app, "log-level", settings.log_level, "LOYALTY_LOG_LEVEL", "the least level logged: debug, info, warn, error",
          tools::one_of({"debug", "info", "warn", "warning", "error"}, "LOYALTY_LOG_LEVEL"));
  setting(app, "webhook-workers", settings.webhook_workers, "LOYALTY_WEBHOOK_WORKERS",
          "webhook delivery workers (0: this process sends none; it still puts events in order)",
          tools::integer_between(0, 64, "LOYALTY_WEBHOOK_WORKERS"));
  setting(app, "webhook-allow-http", settings.webhook_allow_http, "LOYALTY_WEBHOOK_ALLOW_HTTP",
          "1: webhook endpoints may be http:// to any address (default: https://, http:// only to loopback)",
          tools::one_of({"0", "1"}, "LOYALTY_WEBHOOK_ALLOW_HTTP"));
  setting(app, "webhook-timeout-ms", settings.webhook_timeout_ms, "LOYALTY_WEBHOOK_TIMEOUT_MS",
          "milliseconds an endpoint has to answer a delivery with 2xx",
          tools::integer_between(100, 60000, "LOYALTY_WEBHOOK_TIMEOUT_MS"));
  setting(app, "webhook-retry-window", settings.webhook_retry_window_seconds, "LOYALTY_WEBHOOK_RETRY_WINDOW_SECONDS",
          "seconds a delivery is retried before it is marked failed",
          tools::integer_between(1, 30 * 86400, "LOYALTY_WEBHOOK_RETRY_WINDOW_SECONDS"));
  setting(app, "webhook-retry-base-ms", settings.webhook_retry_base_ms, "LOYALTY_WEBHOOK_RETRY_BASE_MS",
          "milliseconds before the first retry; each later one waits twice as long (at most an hour), with jitter",
          tools::integer_between(10, 3600000, "LOYALTY_WEBHOOK_RETRY_BASE_MS"));
  setting(app, "webhook-lease-seconds", settings.webhook_lease_seconds, "LOYALTY_WEBHOOK_LEASE_SECONDS",
          "seconds an endpoint stays with the process delivering to it without word from it (after a crash, "
          "another process takes over then)",
          tools::integer_between(2, 3600, "LOYALTY_WEBHOOK_LEASE_SECONDS"));
}

// Who this process is, in webhook attempt rows and leases: host name and process id.
std::string node_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(::getpid());
}

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
      const auto status = db::schema_status(txn);
      if (status.current()) return true;
      const std::string problem = status.problems.empty()
                                      ? "migrations pending (run loyaltyctl migrate): " + status.pending.front()
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

// Runs the scheduled jobs, checking every `interval`, until `stop` is set.
void run_scheduler(const std::string& url, std::chrono::seconds interval, const SigningKey& signing_key,
                   const std::atomic<bool>& stop) {
  std::unique_ptr<pqxx::connection> connection;
  auto next = std::chrono::steady_clock::now();
  while (!stop) {
    if (std::chrono::steady_clock::now() >= next) {
      next += interval;
      for (const api::JobSchedule& schedule : api::job_schedules()) {
        if (stop) break;
        const auto job = api::find_job(schedule.job, signing_key);
        if (!job) continue;
        try {
          if (!connection || !connection->is_open()) connection = db::connect(url);
          const auto now = now_utc().time_since_epoch();
          const Timestamp as_of{std::chrono::duration_cast<std::chrono::microseconds>(now - now % schedule.period)};
          ledger::RunControl control{"scheduler", {}, [&stop] { return stop.load(); }};
          const auto report = ledger::run_job(*connection, *job, as_of, control);
          if (report.items > 0) {
            log::info("scheduled job", {{"job", job->name}, {"status", report.status}, {"items", report.items}});
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
  Settings settings;
  CLI::App app{"loyaltyd: the loyalty-ledger HTTP service and its job scheduler", "loyaltyd"};
  define_settings(app, settings);
  if (const auto status = tools::parse(app, argc, argv)) return *status;
  log::set_level(log::parse_level(settings.log_level).value_or(log::Level::info));
  const std::string& url = settings.database_url;
  const std::string& listen = settings.listen;
  const auto colon = listen.rfind(':');
  if (!schema_is_current(url)) return 1;

  // Signals are taken by sigwait below, not by whichever thread happens to run.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  api::ServiceOptions options;
  options.database.database_url = url;
  options.database.workers = settings.db_workers;
  options.database.batch_jobs_max = settings.batch_max;
  options.database.batch_linger = std::chrono::microseconds{settings.batch_linger_us};
  options.database.generic_plans_for_writes = settings.generic_plans_for_writes == "1";
  options.rate_limit_per_second = settings.rate_limit_per_second;
  options.rate_limit_burst = options.rate_limit_per_second * 2;
  options.source_rate_limit_per_second = settings.source_rate_limit_per_second;
  options.source_rate_limit_burst = options.source_rate_limit_per_second * 2;
  options.auth_refusals_per_second = settings.auth_refusals_per_second;
  options.auth_refusals_burst = options.auth_refusals_per_second * 10;
  options.allow_future_jobs = settings.allow_future_jobs == "1";
  options.webhook_url_policy.allow_plain_http = settings.webhook_allow_http == "1";
  options.webhook_retry_window = std::chrono::seconds{settings.webhook_retry_window_seconds};
  const std::chrono::seconds stop_timeout{settings.stop_timeout_seconds};
  if (const std::string& path = settings.signing_key; !path.empty()) {
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
  // An address that cannot be served (taken, not local, not address:port) is the operator's
  // to fix: said plainly, exit status 2.
  std::unique_ptr<api::Server> listening;
  try {
    if (colon == std::string::npos) throw std::invalid_argument("expected address:port");
    const int port = std::stoi(listen.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("the port is not 0 to 65535");
    listening = std::make_unique<api::Server>(service, listen.substr(0, colon), static_cast<unsigned short>(port),
                                              settings.io_threads);
  } catch (const boost::system::system_error& error) {
    std::fprintf(stderr, "loyaltyd: cannot listen on %s: %s\n", listen.c_str(), error.code().message().c_str());
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "loyaltyd: cannot listen on %s: %s\n", listen.c_str(), error.what());
    return 2;
  }
  api::Server& server = *listening;
  server.start();
  log::info("serving", {{"url", "http://" + listen.substr(0, colon) + ":" + std::to_string(server.port())}});

  std::atomic<bool> stop{false};
  const int interval = settings.scheduler_interval_seconds;
  std::thread scheduler;
  if (interval > 0) {
    scheduler = std::thread([&] { run_scheduler(url, std::chrono::seconds(interval), service.signing_key(), stop); });
  }
  // Seals finished entries and audit events into the tamper-evidence chain (audit/seal.hpp).
  audit::Sealer sealer{url, std::chrono::seconds(1)};
  sealer.start();
  // Puts committed events in order and sends them to webhook endpoints (outbox/dispatcher.hpp).
  outbox::DispatcherOptions webhooks;
  webhooks.database_url = url;
  webhooks.signing_key = service.signing_key();
  webhooks.node = node_name();
  webhooks.workers = settings.webhook_workers;
  webhooks.timeout = std::chrono::milliseconds{settings.webhook_timeout_ms};
  webhooks.retry_window = options.webhook_retry_window;
  webhooks.retry_base = std::chrono::milliseconds{settings.webhook_retry_base_ms};
  webhooks.url_policy = options.webhook_url_policy;
  webhooks.lease = std::chrono::seconds{settings.webhook_lease_seconds};
  outbox::Dispatcher dispatcher{webhooks};
  dispatcher.start();

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
  dispatcher.stop();  // attempts in flight end within the webhook timeout
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - stop_began);
  log::info("stopped", {{"drained", drained}, {"duration_ms", millis.count()}});
  return 0;
}
