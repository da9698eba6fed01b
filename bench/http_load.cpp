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
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int members_default = 2000;
constexpr int clients_max = 1024;
constexpr int seconds_max = 3600;
constexpr int members_max = 1000000;
constexpr std::int64_t initial_credit = 1'000'000'000;  // points per member: no debit ever fails
constexpr int hold_ttl_seconds = 600;
constexpr int error_bodies_printed_max = 5;
constexpr std::size_t error_body_chars_max = 400;

// ---- command line ------------------------------------------------------------------------

enum class Workload { adjust, hold_capture, event };

struct Options {
  std::string host;
  std::string port;
  std::string key;
  int clients = 8;
  int seconds = 10;
  int members = members_default;
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

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "loyalty_bench: %s\n"
               "usage: loyalty_bench --url http://HOST:PORT --key SECRET --clients N --seconds S\n"
               "                     --workload adjust|hold-capture|event [--members M (default %d)]\n",
               problem.c_str(), members_default);
  std::exit(2);
}

int parse_int(const std::string& flag, const std::string& text, int low, int high) {
  try {
    std::size_t used = 0;
    const int value = std::stoi(text, &used);
    if (used == text.size() && value >= low && value <= high) return value;
  } catch (const std::exception&) {
  }
  usage(flag + " must be a whole number from " + std::to_string(low) + " to " + std::to_string(high));
}

// Accepts http://HOST:PORT with an optional trailing slash (no TLS, no path).
void parse_url(const std::string& url, Options& options) {
  constexpr std::string_view scheme = "http://";
  if (url.rfind(scheme, 0) != 0) usage("--url must start with http://");
  std::string rest = url.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) usage("--url must be http://HOST:PORT");
  options.host = rest.substr(0, colon);
  options.port = rest.substr(colon + 1);
}

Options parse_options(int argc, char** argv) {
  Options options;
  bool have_url = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--url") {
      parse_url(value, options);
      have_url = true;
    } else if (flag == "--key") {
      options.key = value;
    } else if (flag == "--clients") {
      options.clients = parse_int(flag, value, 1, clients_max);
    } else if (flag == "--seconds") {
      options.seconds = parse_int(flag, value, 1, seconds_max);
    } else if (flag == "--members") {
      options.members = parse_int(flag, value, 1, members_max);
    } else if (flag == "--workload") {
      if (value == "adjust") options.workload = Workload::adjust;
      else if (value == "hold-capture") options.workload = Workload::hold_capture;
      else if (value == "event") options.workload = Workload::event;
      else usage("--workload must be adjust, hold-capture or event");
    } else {
      usage("unknown flag " + flag);
    }
  }
  if (!have_url) usage("--url is required");
  if (options.key.empty()) usage("--key is required");
  return options;
}

// ---- one keep-alive HTTP/1.1 connection ------------------------------------------------------

struct Response {
  int status = 0;  // 0: the connection failed (no HTTP status)
  std::string body;
  bool ok() const { return status >= 200 && status < 300; }
};

class Connection {
 public:
  explicit Connection(const Options& options) : options_(options), stream_(io_) {}

  // POSTs a JSON body with the API key.
  Response post(const std::string& target, const std::string& body, const std::string& idempotency_key = "") {
    http::request<http::string_body> request{http::verb::post, target, 11};
    request.set(http::field::content_type, "application/json");
    request.set(http::field::authorization, "Bearer " + options_.key);
    if (!idempotency_key.empty()) request.set("Idempotency-Key", idempotency_key);
    request.body() = body;
    return send(request);
  }

  // GETs a path without credentials (/metrics).
  Response get(const std::string& target) {
    http::request<http::string_body> request{http::verb::get, target, 11};
    return send(request);
  }

 private:
  // Reconnects once if the kept-alive connection turned out to be closed.
  Response send(http::request<http::string_body>& request) {
    request.set(http::field::host, options_.host);
    request.keep_alive(true);
    request.prepare_payload();
    for (int attempt = 1;; ++attempt) {
      try {
        return exchange(request);
      } catch (const std::exception& error) {
        close();
        // A fresh connection failing is a real failure; a reused one may just have been closed.
        if (attempt >= 2 || !reused_) return Response{0, std::string("connection failed: ") + error.what()};
      }
    }
  }

  Response exchange(const http::request<http::string_body>& request) {
    reused_ = open_;
    if (!open_) connect();
    http::write(stream_, request);
    http::response<http::string_body> response;
    http::read(stream_, buffer_, response);
    if (!response.keep_alive()) close();
    return Response{static_cast<int>(response.result_int()), std::move(response.body())};
  }

  void connect() {
    tcp::resolver resolver{io_};
    stream_.connect(resolver.resolve(options_.host, options_.port));
    stream_.socket().set_option(tcp::no_delay(true));
    buffer_.clear();
    open_ = true;
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    open_ = false;
  }

  const Options& options_;
  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  bool open_ = false;
  bool reused_ = false;
};

// ---- shared run state --------------------------------------------------------------------

// Counts errors and prints the first few response bodies.
class ErrorLog {
 public:
  void record(const std::string& what, const Response& response) {
    const auto seen = ++count_;
    if (seen > error_bodies_printed_max) return;
    std::lock_guard lock{mutex_};
    std::fprintf(stderr, "error %lld: %s -> %d %s\n", static_cast<long long>(seen), what.c_str(), response.status,
                 response.body.substr(0, error_body_chars_max).c_str());
  }
  std::int64_t count() const { return count_.load(); }

 private:
  std::atomic<std::int64_t> count_{0};
  std::mutex mutex_;
};

// Unique Idempotency-Keys: run prefix, thread and a per-thread counter.
class KeyMaker {
 public:
  KeyMaker(const std::string& run, int thread) : prefix_(run + "-" + std::to_string(thread) + "-") {}
  std::string next() { return prefix_ + std::to_string(counter_++); }

 private:
  std::string prefix_;
  std::uint64_t counter_ = 0;
};

std::string random_run_prefix() {
  std::random_device device;
  std::uniform_int_distribution<std::uint32_t> digits;
  char text[32];
  std::snprintf(text, sizeof text, "b%08x", digits(device));
  return text;
}

std::string member_from_reply(const Response& response) {
  try {
    return json::parse(response.body).at("member_id").get<std::string>();
  } catch (const std::exception&) {
    return "";
  }
}

std::string hold_from_reply(const Response& response) {
  try {
    return json::parse(response.body).at("hold_id").get<std::string>();
  } catch (const std::exception&) {
    return "";
  }
}

std::string adjustment_body(const std::string& member_id, std::int64_t amount) {
  return json{{"member_id", member_id}, {"asset", "POINTS"}, {"amount", amount}, {"reason_code", "goodwill"}}.dump();
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

// Creates and credits the members [first, first + count) on one connection.
std::vector<std::string> create_members(const Options& options, const std::string& run, int thread, int first,
                                        int count, ErrorLog& errors) {
  Connection connection{options};
  KeyMaker keys{run + "-setup", thread};
  std::vector<std::string> members;
  for (int i = first; i < first + count; ++i) {
    const std::string external_id = run + "-member-" + std::to_string(i);
    const Response created = connection.post("/v1/members", json{{"external_id", external_id}}.dump());
    const std::string member_id = created.ok() ? member_from_reply(created) : "";
    if (member_id.empty()) {
      errors.record("POST /v1/members", created);
      continue;
    }
    const Response credited =
        connection.post("/v1/adjustments", adjustment_body(member_id, initial_credit), keys.next());
    if (!credited.ok()) {
      errors.record("POST /v1/adjustments (credit)", credited);
      continue;
    }
    members.push_back(member_id);
  }
  return members;
}

// Spreads the set-up over the client count's threads, so it takes seconds, not minutes.
std::vector<std::string> set_up_members(const Options& options, const std::string& run) {
  ErrorLog errors;
  const int threads = std::min(options.clients, options.members);
  std::vector<std::vector<std::string>> parts(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    const int first = options.members * t / threads;
    const int last = options.members * (t + 1) / threads;
    workers.emplace_back([&, t, first, last] { parts[t] = create_members(options, run, t, first, last - first, errors); });
  }
  for (auto& worker : workers) worker.join();
  std::vector<std::string> members;
  for (auto& part : parts) members.insert(members.end(), part.begin(), part.end());
  if (errors.count() > 0) std::fprintf(stderr, "set-up: %lld requests failed\n", static_cast<long long>(errors.count()));
  return members;
}

// ---- the timed loop ----------------------------------------------------------------------

struct ClientTally {
  std::vector<double> latencies_ms;
  std::int64_t requests = 0;
  std::int64_t operations = 0;  // operations whose every request succeeded
  Clock::time_point finished;
};

class Client {
 public:
  Client(const Options& options, const std::vector<std::string>& members, const std::string& run, int thread,
         ErrorLog& errors)
      : options_(options), members_(members), connection_(options), keys_(run, thread), errors_(errors),
        random_(std::random_device{}()), pick_(0, members.size() - 1) {}

  void run(Clock::time_point deadline, ClientTally& tally) {
    while (Clock::now() < deadline) {
      const bool ok = options_.workload == Workload::adjust       ? adjust(tally)
                      : options_.workload == Workload::hold_capture ? hold_and_capture(tally)
                                                                    : record_event(tally);
      if (ok) ++tally.operations;
    }
    tally.finished = Clock::now();
  }

 private:
  bool adjust(ClientTally& tally) {
    const std::int64_t amount = coin_(random_) ? 1 : -1;
    return timed(tally, "POST /v1/adjustments", "/v1/adjustments", adjustment_body(random_member(), amount),
                 keys_.next())
        .ok();
  }

  bool record_event(ClientTally& tally) {
    const auto eight_days_ago = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) -
                                std::chrono::hours{24 * 8};
    const std::time_t t = std::chrono::system_clock::to_time_t(eight_days_ago);
    std::tm parts{};
    gmtime_r(&t, &parts);
    char occurred_at[32];
    std::strftime(occurred_at, sizeof occurred_at, "%Y-%m-%dT%H:%M:%SZ", &parts);
    const json event{{"event_id", keys_.next()}, {"member_id", random_member()}, {"type", "service_visit"},
                     {"occurred_at", occurred_at}, {"attributes", {{"amount_cents", 10000}}}};
    return timed(tally, "POST /v1/events", "/v1/events", event.dump(), "").ok();
  }

  bool hold_and_capture(ClientTally& tally) {
    const json hold{{"member_id", random_member()}, {"amount", 1}, {"ttl_seconds", hold_ttl_seconds}};
    const Response opened = timed(tally, "POST /v1/holds", "/v1/holds", hold.dump(), keys_.next());
    if (!opened.ok()) return false;
    const std::string hold_id = hold_from_reply(opened);
    if (hold_id.empty()) {
      errors_.record("POST /v1/holds (no hold_id in reply)", opened);
      return false;
    }
    return timed(tally, "POST /v1/holds/{id}/capture", "/v1/holds/" + hold_id + "/capture", "{}", "").ok();
  }

  Response timed(ClientTally& tally, const char* what, const std::string& target, const std::string& body,
                 const std::string& idempotency_key) {
    const auto started = Clock::now();
    Response response = connection_.post(target, body, idempotency_key);
    tally.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
    ++tally.requests;
    if (!response.ok()) errors_.record(what, response);
    return response;
  }

  const std::string& random_member() { return members_[pick_(random_)]; }

  const Options& options_;
  const std::vector<std::string>& members_;
  Connection connection_;
  KeyMaker keys_;
  ErrorLog& errors_;
  std::mt19937_64 random_;
  std::uniform_int_distribution<std::size_t> pick_;
  std::bernoulli_distribution coin_{0.5};
};

// ---- results -----------------------------------------------------------------------------

struct Summary {
  std::int64_t requests = 0;
  std::int64_t operations = 0;
  std::int64_t errors = 0;
  double elapsed_seconds = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  DbCounters db;  // the difference over the timed window
};

double percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

Summary summarise(std::vector<ClientTally>& tallies, Clock::time_point started, std::int64_t errors) {
  Summary summary;
  summary.errors = errors;
  std::vector<double> latencies;
  Clock::time_point last = started;
  for (auto& tally : tallies) {
    summary.requests += tally.requests;
    summary.operations += tally.operations;
    latencies.insert(latencies.end(), tally.latencies_ms.begin(), tally.latencies_ms.end());
    last = std::max(last, tally.finished);
  }
  std::sort(latencies.begin(), latencies.end());
  summary.elapsed_seconds = std::chrono::duration<double>(last - started).count();
  summary.p50_ms = percentile(latencies, 0.50);
  summary.p99_ms = percentile(latencies, 0.99);
  return summary;
}

double per_second(std::int64_t count, double seconds) { return seconds > 0 ? static_cast<double>(count) / seconds : 0; }

void print_summary(const Options& options, const Summary& summary) {
  const double requests_per_second = per_second(summary.requests, summary.elapsed_seconds);
  const double operations_per_second = per_second(summary.operations, summary.elapsed_seconds);
  std::printf("workload=%s clients=%d seconds=%.2f requests=%lld requests/s=%.1f operations/s=%.1f "
              "p50_ms=%.2f p99_ms=%.2f errors=%lld\n",
              workload_name(options.workload), options.clients, summary.elapsed_seconds,
              static_cast<long long>(summary.requests), requests_per_second, operations_per_second, summary.p50_ms,
              summary.p99_ms, static_cast<long long>(summary.errors));
  if (summary.db.known && summary.db.transactions > 0) {
    std::printf("database: %lld jobs in %lld transactions (%.2f requests per transaction)\n",
                static_cast<long long>(summary.db.jobs), static_cast<long long>(summary.db.transactions),
                static_cast<double>(summary.db.jobs) / static_cast<double>(summary.db.transactions));
  }
  const auto rounded = [](double value) { return std::round(value * 100.0) / 100.0; };
  const json jobs_per_transaction =
      summary.db.known && summary.db.transactions > 0
          ? json(rounded(static_cast<double>(summary.db.jobs) / static_cast<double>(summary.db.transactions)))
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
                    {"db_jobs", summary.db.jobs},
                    {"db_transactions", summary.db.transactions},
                    {"db_jobs_per_transaction", jobs_per_transaction}};
  std::printf("RESULT %s\n", result.dump().c_str());
  std::fflush(stdout);
}

Summary run_load(const Options& options, const std::vector<std::string>& members, const std::string& run) {
  ErrorLog errors;
  std::vector<ClientTally> tallies(options.clients);
  std::vector<std::unique_ptr<Client>> clients;
  for (int t = 0; t < options.clients; ++t) {
    clients.push_back(std::make_unique<Client>(options, members, run, t, errors));
  }
  // Every thread starts the clock together, once all of them exist.
  std::latch ready{options.clients + 1};
  Clock::time_point started;
  Clock::time_point deadline;
  std::vector<std::thread> threads;
  for (int t = 0; t < options.clients; ++t) {
    threads.emplace_back([&, t] {
      ready.arrive_and_wait();
      clients[t]->run(deadline, tallies[t]);
    });
  }
  const DbCounters before = read_db_counters(options);
  started = Clock::now();
  deadline = started + std::chrono::seconds(options.seconds);
  ready.arrive_and_wait();
  for (auto& thread : threads) thread.join();
  const DbCounters after = read_db_counters(options);
  Summary summary = summarise(tallies, started, errors.count());
  if (before.known && after.known) {
    summary.db = DbCounters{after.jobs - before.jobs, after.transactions - before.transactions, true};
  }
  return summary;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  const std::string run = random_run_prefix();
  std::fprintf(stderr, "set-up: creating and crediting %d members (run %s)\n", options.members, run.c_str());
  const auto setup_started = Clock::now();
  const std::vector<std::string> members = set_up_members(options, run);
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
