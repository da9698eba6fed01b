// loyalty_bench: an end-to-end HTTP load generator for the write path of loyaltyd.
//
//   loyalty_bench --url http://127.0.0.1:PORT --key SECRET --clients N --seconds S
//                 --workload adjust|hold-capture|event [--members M]
//
// Set-up (not timed): creates M members under a random run prefix and credits each with a
// large POINTS balance. Then N client threads, each with ONE keep-alive HTTP/1.1 connection,
// loop until the time is up on a random member:
//   adjust        one POST /v1/adjustments of +1 or -1 (a fresh Idempotency-Key each time);
//   hold-capture  POST /v1/holds of 1 point, then POST /v1/holds/{id}/capture (2 requests).
//   event         one POST /v1/events: a service visit of 100 CNY eight days ago, so one rule
//                 awards 100 points straight to available (one entry, two postings, one lot).
// Every request's latency is recorded; a non-2xx status or a broken connection is an error.
// The result is printed as a human line and as one JSON object on a line starting "RESULT ".
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "load_common.hpp"

namespace {

using namespace bench;
using json = nlohmann::json;

constexpr int members_default = 2000;
constexpr std::int64_t initial_credit = 1'000'000'000;  // points per member: no debit ever fails
constexpr int hold_ttl_seconds = 600;

// ---- command line ------------------------------------------------------------------------

enum class Workload { adjust, hold_capture, event };

struct Options : LoadOptions {
  Workload workload = Workload::adjust;
};

const char* workload_name(Workload workload) {
  switch (workload) {
    case Workload::adjust: return "adjust";
    case Workload::hold_capture: return "hold-capture";
    case Workload::event: return "event";
  }
  return "adjust";
}

Options parse_options(int argc, char** argv) {
  const CommandLine command_line{
      "loyalty_bench",
      "usage: loyalty_bench --url http://HOST:PORT --key SECRET --clients N --seconds S\n"
      "                     --workload adjust|hold-capture|event [--members M (default " +
          std::to_string(members_default) + ")]\n",
      "--url must start with http://"};
  Options options;
  options.members = members_default;
  parse_load_options(argc, argv, command_line, options, [&](const std::string& flag, const std::string& value) {
    if (flag != "--workload") return false;
    if (value == "adjust") options.workload = Workload::adjust;
    else if (value == "hold-capture") options.workload = Workload::hold_capture;
    else if (value == "event") options.workload = Workload::event;
    else command_line.fail("--workload must be adjust, hold-capture or event");
    return true;
  });
  return options;
}

// ---- the service's own counters ----------------------------------------------------------

// loyalty_db_jobs_total and loyalty_db_transactions_total: their ratio over the timed window is
// how many requests group commit put into one database transaction on average.
struct DbCounters {
  std::int64_t jobs = 0;
  std::int64_t transactions = 0;
  bool known = false;
};

std::optional<std::int64_t> metric_value(const std::string& text, const std::string& name) {
  const std::string prefix = "\n" + name + " ";
  const auto at = text.find(prefix);
  if (at == std::string::npos) return std::nullopt;
  try {
    return std::stoll(text.substr(at + prefix.size()));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

DbCounters read_db_counters(const Options& options) {
  Connection connection{options};
  const Response response = connection.get("/metrics");
  if (!response.ok()) return {};
  const auto jobs = metric_value(response.body, "loyalty_db_jobs_total");
  const auto transactions = metric_value(response.body, "loyalty_db_transactions_total");
  if (!jobs || !transactions) return {};
  return DbCounters{*jobs, *transactions, true};
}

// ---- set-up ------------------------------------------------------------------------------

// Unique Idempotency-Keys: run prefix, thread and a per-thread counter.
std::string idempotency_key(const std::string& run, int thread, std::uint64_t counter) {
  return run + "-" + std::to_string(thread) + "-" + std::to_string(counter);
}

// Creates and credits the members; spread over the client count's threads, so it takes seconds,
// not minutes.
std::vector<std::string> set_up(const Options& options, const std::string& run) {
  const MemberSetUp how{initial_credit, "POST /v1/adjustments (credit)",
                        [&run](int thread, int, std::uint64_t count) {
                          return idempotency_key(run + "-setup", thread, count);
                        }};
  return set_up_members(options, run, how);
}

// ---- the timed loop ----------------------------------------------------------------------

class Client {
 public:
  Client(const Options& options, const std::vector<std::string>& members, const std::string& run, int thread,
         ErrorLog& errors)
      : options_(options), members_(members), connection_(options), run_(run), thread_(thread), errors_(errors),
        random_(std::random_device{}()), pick_(0, members.size() - 1) {}

  // One operation of the workload; true if its every request succeeded.
  bool operate(Tally& tally) {
    return options_.workload == Workload::adjust         ? adjust(tally)
           : options_.workload == Workload::hold_capture ? hold_and_capture(tally)
                                                         : record_event(tally);
  }

 private:
  bool adjust(Tally& tally) {
    const std::int64_t amount = coin_(random_) ? 1 : -1;
    return timed(tally, "POST /v1/adjustments", "/v1/adjustments", adjustment_body(random_member(), amount),
                 next_key())
        .ok();
  }

  bool record_event(Tally& tally) {
    const auto eight_days_ago = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) -
                                std::chrono::hours{24 * 8};
    const std::time_t t = std::chrono::system_clock::to_time_t(eight_days_ago);
    std::tm parts{};
    gmtime_r(&t, &parts);
    char occurred_at[32];
    std::strftime(occurred_at, sizeof occurred_at, "%Y-%m-%dT%H:%M:%SZ", &parts);
    const json event{{"event_id", next_key()}, {"member_id", random_member()}, {"type", "service_visit"},
                     {"occurred_at", occurred_at}, {"attributes", {{"amount_cents", 10000}}}};
    return timed(tally, "POST /v1/events", "/v1/events", event.dump(), "").ok();
  }

  bool hold_and_capture(Tally& tally) {
    const json hold{{"member_id", random_member()}, {"amount", 1}, {"ttl_seconds", hold_ttl_seconds}};
    const Response opened = timed(tally, "POST /v1/holds", "/v1/holds", hold.dump(), next_key());
    if (!opened.ok()) return false;
    const std::string hold_id = field_of(opened, "hold_id");
    if (hold_id.empty()) {
      errors_.record("POST /v1/holds (no hold_id in reply)", opened);
      return false;
    }
    return timed(tally, "POST /v1/holds/{id}/capture", "/v1/holds/" + hold_id + "/capture", "{}", "").ok();
  }

  Response timed(Tally& tally, const char* what, const std::string& target, const std::string& body,
                 const std::string& idempotency_key) {
    return timed_post(connection_, tally, errors_, what, target, body, idempotency_key);
  }

  std::string next_key() { return idempotency_key(run_, thread_, counter_++); }
  const std::string& random_member() { return members_[pick_(random_)]; }

  const Options& options_;
  const std::vector<std::string>& members_;
  Connection connection_;
  std::string run_;
  int thread_;
  std::uint64_t counter_ = 0;
  ErrorLog& errors_;
  std::mt19937_64 random_;
  std::uniform_int_distribution<std::size_t> pick_;
  std::bernoulli_distribution coin_{0.5};
};

// ---- results -----------------------------------------------------------------------------

struct Measurement {
  Summary summary;
  DbCounters db;  // the difference over the timed window
};

void print_summary(const Options& options, const Measurement& measurement) {
  const Summary& summary = measurement.summary;
  const DbCounters& db = measurement.db;
  const double requests_per_second = per_second(summary.requests, summary.elapsed_seconds);
  const double operations_per_second = per_second(summary.operations, summary.elapsed_seconds);
  std::printf("workload=%s clients=%d seconds=%.2f requests=%lld requests/s=%.1f operations/s=%.1f "
              "p50_ms=%.2f p99_ms=%.2f errors=%lld\n",
              workload_name(options.workload), options.clients, summary.elapsed_seconds,
              static_cast<long long>(summary.requests), requests_per_second, operations_per_second, summary.p50_ms,
              summary.p99_ms, static_cast<long long>(summary.errors));
  if (db.known && db.transactions > 0) {
    std::printf("database: %lld jobs in %lld transactions (%.2f requests per transaction)\n",
                static_cast<long long>(db.jobs), static_cast<long long>(db.transactions),
                static_cast<double>(db.jobs) / static_cast<double>(db.transactions));
  }
  const json jobs_per_transaction =
      db.known && db.transactions > 0
          ? json(rounded(static_cast<double>(db.jobs) / static_cast<double>(db.transactions)))
          : json(nullptr);
  const nlohmann::ordered_json result{{"workload", workload_name(options.workload)},
                    {"clients", options.clients},
                    {"seconds", rounded(summary.elapsed_seconds)},
                    {"requests", summary.requests},
                    {"operations", summary.operations},
                    {"requests_per_second", rounded(requests_per_second)},
                    {"operations_per_second", rounded(operations_per_second)},
                    {"p50_ms", rounded(summary.p50_ms)},
                    {"p99_ms", rounded(summary.p99_ms)},
                    {"errors", summary.errors},
                    {"db_jobs", db.jobs},
                    {"db_transactions", db.transactions},
                    {"db_jobs_per_transaction", jobs_per_transaction}};
  std::printf("RESULT %s\n", result.dump().c_str());
  std::fflush(stdout);
}

Measurement run_load(const Options& options, const std::vector<std::string>& members, const std::string& run) {
  ErrorLog errors;
  std::vector<Tally> tallies(options.clients);
  std::vector<std::unique_ptr<Client>> clients;
  for (int t = 0; t < options.clients; ++t) {
    clients.push_back(std::make_unique<Client>(options, members, run, t, errors));
  }
  DbCounters before;
  const Clock::time_point started = run_clients(
      tallies, options.seconds, [&](int t, Tally& tally) { return clients[t]->operate(tally); },
      [&] { before = read_db_counters(options); });
  const DbCounters after = read_db_counters(options);
  Measurement measurement{summarise(tallies, started, errors.count()), {}};
  if (before.known && after.known) {
    measurement.db = DbCounters{after.jobs - before.jobs, after.transactions - before.transactions, true};
  }
  return measurement;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  const std::string run = random_run_prefix('b');
  std::fprintf(stderr, "set-up: creating and crediting %d members (run %s)\n", options.members, run.c_str());
  const auto setup_started = Clock::now();
  const std::vector<std::string> members = set_up(options, run);
  if (members.empty()) {
    std::fprintf(stderr, "loyalty_bench: no member could be set up; is the URL and key right?\n");
    return 1;
  }
  std::fprintf(stderr, "set-up: %zu members ready in %.1f s; %s with %d clients for %d s\n", members.size(),
               std::chrono::duration<double>(Clock::now() - setup_started).count(), workload_name(options.workload),
               options.clients, options.seconds);
  print_summary(options, run_load(options, members, run));
  return 0;
}
