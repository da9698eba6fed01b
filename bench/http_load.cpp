// loyalty_bench: an end-to-end HTTP load generator for the write path of loyaltyd.
//
//   loyalty_bench --url http://HOST:PORT[,http://HOST:PORT...] --key SECRET
//                 --workload event|adjust|hold-capture|checkout|setup
//                 [--clients N] [--seconds S] [--members M] [--members-file FILE]
//                 [--hot H] [--rate R]
//
// Members: without --members-file, the run first creates M members under a random run prefix
// and credits each with 10^9 POINTS (not timed). `--workload setup --members-file FILE` does
// only that and writes their ids to FILE, one a line; any other workload with --members-file
// reads them from FILE instead, so that every measurement of a bench/run invocation can share
// one set-up. --hot H makes every client write to the first H of them only (--hot 1: one hot
// member that all clients contend on).
//
// Then N client threads, each with ONE keep-alive HTTP/1.1 connection (client t to the
// (t mod U)th of the U URLs, so two loyaltyd processes each get half of the clients), run one
// operation after another on a uniformly random member until the time is up:
//   event     one POST /v1/events: a purchase of 100 CNY eight days ago, so the purchase rule
//             awards 100 points straight to available (one entry, two postings, one lot) and
//             the spend counts towards the member's tier;
//   adjust    one POST /v1/adjustments of +1 or -1 POINTS (a fresh Idempotency-Key each time);
//   hold-capture  POST /v1/holds of 1 point, then POST /v1/holds/{id}/capture (2 requests);
//   checkout  POST /v1/orders (2 x 5000 cents paid with 100 points and 9900 cents: the order,
//             its lines and a hold) then POST /v1/orders/{id}/pay (the capture and a
//             mall_purchase event that earns on the cash): 2 requests.
// Without --rate the loop is closed (the next operation leaves as soon as the last is
// answered). With --rate R the clients together start R operations per second on a fixed
// schedule, and a request's latency counts from when it was due, not from when it could
// leave: the latency a client would see at that offered load (no coordinated omission).
//
// Every request's latency is recorded; a non-2xx status or a broken connection is a failure,
// counted by class (503, other 5xx, 4xx, connection). Before and after the timed window the
// run reads /metrics of every URL and sums loyalty_db_jobs_total,
// loyalty_db_transactions_total and loyalty_db_statements_total, whose differences give
// requests per transaction and statements per request. The result is printed as a human line
// and as one JSON object on a line starting "RESULT " (bench/run reads it).
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "load_common.hpp"

namespace {

using namespace bench;
using json = nlohmann::json;

constexpr int members_default = 2000;
constexpr std::int64_t initial_credit = 1'000'000'000;  // points per member: no debit ever fails
constexpr int hold_ttl_seconds = 600;
constexpr int rate_max = 1'000'000;  // operations per second
constexpr std::int64_t event_amount_cents = 10000;
constexpr int event_age_days = 8;  // past the purchase rule's 7 pending days
constexpr std::int64_t unit_price_cents = 5000;
constexpr std::int64_t order_quantity = 2;
constexpr std::int64_t points_per_checkout = 100;  // 1 cent each in the reference program
constexpr std::int64_t cash_cents_per_checkout = order_quantity * unit_price_cents - points_per_checkout;

// ---- command line ------------------------------------------------------------------------

enum class Workload { event, adjust, hold_capture, checkout, setup };

struct Options : LoadOptions {
  Workload workload = Workload::adjust;
  std::string members_file;
  int hot_members = 0;  // 0: every member
  int rate = 0;         // operations per second over all clients; 0: closed loop
};

const char* workload_name(Workload workload) {
  switch (workload) {
    case Workload::event: return "event";
    case Workload::adjust: return "adjust";
    case Workload::hold_capture: return "hold-capture";
    case Workload::checkout: return "checkout";
    case Workload::setup: return "setup";
  }
  return "adjust";
}

std::optional<Workload> workload_named(const std::string& name) {
  for (const Workload workload :
       {Workload::event, Workload::adjust, Workload::hold_capture, Workload::checkout, Workload::setup}) {
    if (name == workload_name(workload)) return workload;
  }
  return std::nullopt;
}

Options parse_options(int argc, char** argv) {
  const CommandLine command_line{
      "loyalty_bench",
      "usage: loyalty_bench --url http://HOST:PORT[,http://HOST:PORT...] --key SECRET\n"
      "                     --workload event|adjust|hold-capture|checkout|setup\n"
      "                     [--clients N] [--seconds S] [--members M (default " +
          std::to_string(members_default) +
          ")] [--members-file FILE]\n"
          "                     [--hot H (write to the first H members only)] [--rate OPERATIONS_PER_SECOND]\n"};
  Options options;
  options.members = members_default;
  parse_load_options(argc, argv, command_line, options, [&](const std::string& flag, const std::string& value) {
    if (flag == "--workload") {
      const auto workload = workload_named(value);
      if (!workload) command_line.fail("--workload must be event, adjust, hold-capture, checkout or setup");
      options.workload = *workload;
    } else if (flag == "--members-file") {
      options.members_file = value;
    } else if (flag == "--hot") {
      options.hot_members = command_line.whole_number(flag, value, 1, members_max);
    } else if (flag == "--rate") {
      options.rate = command_line.whole_number(flag, value, 1, rate_max);
    } else {
      return false;
    }
    return true;
  });
  if (options.workload == Workload::setup && options.members_file.empty()) {
    command_line.fail("--workload setup needs --members-file");
  }
  return options;
}

// ---- the service's own counters ----------------------------------------------------------

// Summed over every URL: each loyaltyd process counts its own.
struct DbCounters {
  std::int64_t jobs = 0;
  std::int64_t transactions = 0;
  std::optional<std::int64_t> statements;  // absent from services older than the counter
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
  DbCounters sum{0, 0, std::int64_t{0}, true};
  for (const Endpoint& endpoint : options.endpoints) {
    Connection connection{options, endpoint};
    const Response response = connection.get("/metrics");
    const auto jobs = response.ok() ? metric_value(response.body, "loyalty_db_jobs_total") : std::nullopt;
    const auto transactions =
        response.ok() ? metric_value(response.body, "loyalty_db_transactions_total") : std::nullopt;
    if (!jobs || !transactions) return {};
    sum.jobs += *jobs;
    sum.transactions += *transactions;
    const auto statements = metric_value(response.body, "loyalty_db_statements_total");
    sum.statements = sum.statements && statements ? std::optional{*sum.statements + *statements} : std::nullopt;
  }
  return sum;
}

DbCounters difference(const DbCounters& after, const DbCounters& before) {
  if (!before.known || !after.known) return {};
  std::optional<std::int64_t> statements;
  if (before.statements && after.statements) statements = *after.statements - *before.statements;
  return DbCounters{after.jobs - before.jobs, after.transactions - before.transactions, statements, true};
}

// ---- members -----------------------------------------------------------------------------

// Unique Idempotency-Keys: run prefix, thread and a per-thread counter.
std::string idempotency_key(const std::string& run, int thread, std::uint64_t counter) {
  return run + "-" + std::to_string(thread) + "-" + std::to_string(counter);
}

// Creates and credits the members; spread over the client count's threads, so it takes seconds,
// not minutes.
std::vector<std::string> create_members(const Options& options, const std::string& run) {
  std::fprintf(stderr, "set-up: creating and crediting %d members (run %s)\n", options.members, run.c_str());
  const auto started = Clock::now();
  const MemberSetUp how{initial_credit, "POST /v1/adjustments (credit)", [&run](int thread, int, std::uint64_t count) {
                          return idempotency_key(run + "-setup", thread, count);
                        }};
  std::vector<std::string> members = set_up_members(options, run, how);
  std::fprintf(stderr, "set-up: %zu members ready in %.1f s\n", members.size(),
               std::chrono::duration<double>(Clock::now() - started).count());
  return members;
}

std::vector<std::string> read_members(const std::string& path) {
  std::ifstream file{path};
  std::vector<std::string> members;
  for (std::string line; std::getline(file, line);) {
    if (!line.empty()) members.push_back(line);
  }
  return members;
}

bool write_members(const std::string& path, const std::vector<std::string>& members) {
  std::ofstream file{path, std::ios::trunc};
  for (const auto& member : members) file << member << '\n';
  return static_cast<bool>(file.flush());
}

// ---- the timed loop ----------------------------------------------------------------------

// "YYYY-MM-DDTHH:MM:SSZ", `days` before now.
std::string days_ago_rfc3339(int days) {
  const auto then =
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) - std::chrono::hours{24 * days};
  const std::time_t t = std::chrono::system_clock::to_time_t(then);
  std::tm parts{};
  gmtime_r(&t, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

class Client {
 public:
  Client(const Options& options, const std::vector<std::string>& members, const std::string& run, int thread,
         ErrorLog& errors)
      : options_(options),
        members_(members),
        connection_(options, options.endpoints[thread % options.endpoints.size()]),
        run_(run),
        thread_(thread),
        errors_(errors),
        random_(std::random_device{}()),
        pick_(0, members.size() - 1) {}

  // One operation of the workload; true if its every request succeeded.
  bool operate(Tally& tally) {
    switch (options_.workload) {
      case Workload::event: return record_event(tally);
      case Workload::adjust: return adjust(tally);
      case Workload::hold_capture: return hold_and_capture(tally);
      case Workload::checkout: return check_out(tally);
      case Workload::setup: break;
    }
    return false;
  }

 private:
  bool adjust(Tally& tally) {
    const std::int64_t amount = coin_(random_) ? 1 : -1;
    return timed(tally, "POST /v1/adjustments", "/v1/adjustments", adjustment_body(random_member(), amount), next_key())
        .ok();
  }

  bool record_event(Tally& tally) {
    const json event{{"event_id", next_key()},
                     {"member_id", random_member()},
                     {"type", "purchase"},
                     {"occurred_at", days_ago_rfc3339(event_age_days)},
                     {"attributes", {{"amount_cents", event_amount_cents}}}};
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

  bool check_out(Tally& tally) {
    const std::string order_id = next_key();
    const json order{{"order_id", order_id},
                     {"member_id", random_member()},
                     {"currency", "CNY"},
                     {"lines", json::array({{{"sku", "mug-01"},
                                             {"title", "Aurora mug"},
                                             {"quantity", order_quantity},
                                             {"unit_price_cents", unit_price_cents}}})},
                     {"points_to_use", points_per_checkout},
                     {"cash_cents", cash_cents_per_checkout}};
    if (!timed(tally, "POST /v1/orders", "/v1/orders", order.dump(), "").ok()) return false;
    const json pay{{"payment_ref", "psp-" + order_id}};
    return timed(tally, "POST /v1/orders/{id}/pay", "/v1/orders/" + order_id + "/pay", pay.dump(), "").ok();
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
  double generator_cpu_seconds = 0;
  int members = 0;
};

// a / b rounded, or null when b is not positive.
json ratio_or_null(double a, double b) {
  return b > 0 ? json(rounded(a / b)) : json(nullptr);
}

void print_summary(const Options& options, const Measurement& measurement) {
  const Summary& summary = measurement.summary;
  const DbCounters& db = measurement.db;
  const FailureCounts& failures = summary.failures;
  const double requests_per_second = per_second(summary.requests, summary.elapsed_seconds);
  const double operations_per_second = per_second(summary.operations, summary.elapsed_seconds);
  const double cpu_percent =
      summary.elapsed_seconds > 0 ? 100.0 * measurement.generator_cpu_seconds / summary.elapsed_seconds : 0;
  std::printf(
      "workload=%s urls=%zu clients=%d members=%d rate=%d seconds=%.2f requests=%lld requests/s=%.1f "
      "operations/s=%.1f p50_ms=%.2f p99_ms=%.2f failures=%lld (503: %lld, other 5xx: %lld, 4xx: %lld, "
      "connection: %lld) generator_cpu=%.0f%%\n",
      workload_name(options.workload), options.endpoints.size(), options.clients, measurement.members, options.rate,
      summary.elapsed_seconds, static_cast<long long>(summary.requests), requests_per_second, operations_per_second,
      summary.p50_ms, summary.p99_ms, static_cast<long long>(failures.total()),
      static_cast<long long>(failures.unavailable_503), static_cast<long long>(failures.server_error_other),
      static_cast<long long>(failures.client_error), static_cast<long long>(failures.connection_failed), cpu_percent);
  if (db.known && db.transactions > 0) {
    std::printf("database: %lld jobs in %lld transactions (%.2f requests per transaction)",
                static_cast<long long>(db.jobs), static_cast<long long>(db.transactions),
                static_cast<double>(db.jobs) / static_cast<double>(db.transactions));
    if (db.statements) std::printf(", %lld statements", static_cast<long long>(*db.statements));
    std::printf("\n");
  }
  const double jobs = db.known ? static_cast<double>(db.jobs) : 0;
  const double transactions = db.known ? static_cast<double>(db.transactions) : 0;
  const double requests = static_cast<double>(summary.requests);
  const nlohmann::ordered_json result{
      {"workload", workload_name(options.workload)},
      {"processes", options.endpoints.size()},
      {"clients", options.clients},
      {"members", measurement.members},
      {"rate_target", options.rate},
      {"seconds", rounded(summary.elapsed_seconds)},
      {"requests", summary.requests},
      {"operations", summary.operations},
      {"requests_per_second", rounded(requests_per_second)},
      {"operations_per_second", rounded(operations_per_second)},
      {"p50_ms", rounded(summary.p50_ms)},
      {"p99_ms", rounded(summary.p99_ms)},
      {"errors", failures.total()},
      {"status_503", failures.unavailable_503},
      {"status_5xx_other", failures.server_error_other},
      {"status_4xx", failures.client_error},
      {"connection_failed", failures.connection_failed},
      {"db_jobs", db.jobs},
      {"db_transactions", db.transactions},
      {"db_jobs_per_transaction", ratio_or_null(jobs, transactions)},
      {"db_statements", db.statements ? json(*db.statements) : json(nullptr)},
      {"statements_per_request",
       db.known && db.statements ? ratio_or_null(static_cast<double>(*db.statements), requests) : json(nullptr)},
      {"generator_cpu_seconds", rounded(measurement.generator_cpu_seconds)},
      {"generator_cpu_percent", rounded(cpu_percent)}};
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
  // Room for every latency up front, so that no client reallocates while the clock runs.
  for (auto& tally : tallies) tally.latencies_ms.reserve(1024);
  DbCounters before;
  double cpu_before = 0;
  const Pace pace{options.seconds, static_cast<double>(options.rate)};
  const Clock::time_point started = run_clients(
      tallies, pace, [&](int t, Tally& tally) { return clients[t]->operate(tally); },
      [&] {
        before = read_db_counters(options);
        cpu_before = process_cpu_seconds();
      });
  const double cpu_after = process_cpu_seconds();
  const DbCounters after = read_db_counters(options);
  return Measurement{summarise(tallies, started, errors.counts()), difference(after, before), cpu_after - cpu_before,
                     static_cast<int>(members.size())};
}

// The members this run writes to: read from --members-file or created now; only the first
// --hot of them with --hot.
std::vector<std::string> members_for(const Options& options, const std::string& run) {
  std::vector<std::string> members =
      options.members_file.empty() ? create_members(options, run) : read_members(options.members_file);
  if (options.hot_members > 0 && members.size() > static_cast<std::size_t>(options.hot_members)) {
    members.resize(options.hot_members);
  }
  return members;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  const std::string run = random_run_prefix('b');
  if (options.workload == Workload::setup) {
    const std::vector<std::string> members = create_members(options, run);
    if (members.empty() || !write_members(options.members_file, members)) {
      std::fprintf(stderr, "loyalty_bench: could not set up members in %s\n", options.members_file.c_str());
      return 1;
    }
    return 0;
  }
  const std::vector<std::string> members = members_for(options, run);
  if (members.empty()) {
    std::fprintf(stderr, "loyalty_bench: no member to write to; are the URL, key and --members-file right?\n");
    return 1;
  }
  const std::string paced = options.rate > 0 ? ", paced at " + std::to_string(options.rate) + " operations/s" : "";
  std::fprintf(stderr, "%s on %zu members with %d clients over %zu URL(s) for %d s%s\n",
               workload_name(options.workload), members.size(), options.clients, options.endpoints.size(),
               options.seconds, paced.c_str());
  print_summary(options, run_load(options, members, run));
  return 0;
}
