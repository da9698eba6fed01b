// checkout_bench: full mall checkouts per second, end to end over HTTP against loyaltyd.
//
//   checkout_bench --url http://127.0.0.1:PORT --key SECRET --clients N --seconds S [--members M]
//
// One checkout is the mall's whole happy path: POST /v1/orders (2 × 5000 cents paid with
// 100 points and 9900 cents: the order, its lines and a hold of the points) and then
// POST /v1/orders/{id}/pay (the capture, and a mall_purchase event that earns 99 pending
// points on the cash). Set-up (not timed): M members under a random run prefix, each credited
// with 10^9 POINTS. Then N client threads, each with ONE keep-alive HTTP/1.1 connection,
// check out on uniformly random members back to back (closed loop, no think time) until the
// time is up. Latency is per request; a non-2xx status or a broken connection is an error.
// bench/checkout.sh runs it next to pgbench; the result is a human line and one JSON object on
// a line starting "RESULT ".
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
#include <latch>
#include <memory>
#include <mutex>
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

constexpr int members_default = 1000;
constexpr int clients_max = 1024;
constexpr int seconds_max = 3600;
constexpr int members_max = 1000000;
constexpr std::int64_t initial_credit = 1'000'000'000;  // points per member: no checkout ever lacks points
constexpr std::int64_t unit_price_cents = 5000;
constexpr std::int64_t quantity = 2;
constexpr std::int64_t points_per_checkout = 100;       // 1 cent each in the reference program
constexpr std::int64_t cash_cents_per_checkout = quantity * unit_price_cents - points_per_checkout;
constexpr int error_bodies_printed_max = 5;
constexpr std::size_t error_body_chars_max = 400;

struct Options {
  std::string host;
  std::string port;
  std::string key;
  int clients = 8;
  int seconds = 10;
  int members = members_default;
};

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "checkout_bench: %s\n"
               "usage: checkout_bench --url http://HOST:PORT --key SECRET --clients N --seconds S [--members M]\n",
               problem.c_str());
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

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--url") {
      const std::string prefix = "http://";
      std::string rest = value.rfind(prefix, 0) == 0 ? value.substr(prefix.size()) : "";
      if (!rest.empty() && rest.back() == '/') rest.pop_back();
      const auto colon = rest.rfind(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) usage("--url must be http://HOST:PORT");
      options.host = rest.substr(0, colon);
      options.port = rest.substr(colon + 1);
    } else if (flag == "--key") {
      options.key = value;
    } else if (flag == "--clients") {
      options.clients = parse_int(flag, value, 1, clients_max);
    } else if (flag == "--seconds") {
      options.seconds = parse_int(flag, value, 1, seconds_max);
    } else if (flag == "--members") {
      options.members = parse_int(flag, value, 1, members_max);
    } else {
      usage("unknown flag " + flag);
    }
  }
  if (options.host.empty()) usage("--url is required");
  if (options.key.empty()) usage("--key is required");
  return options;
}

struct Response {
  int status = 0;  // 0: the connection failed
  std::string body;
  bool ok() const { return status >= 200 && status < 300; }
};

// One keep-alive HTTP/1.1 connection; reconnects once when a reused connection was closed.
class Connection {
 public:
  explicit Connection(const Options& options) : options_(options), stream_(io_) {}

  Response request(http::verb verb, const std::string& target, const std::string& body,
                   const std::string& idempotency_key = "", bool authorised = true) {
    http::request<http::string_body> request{verb, target, 11};
    request.set(http::field::host, options_.host);
    if (authorised) request.set(http::field::authorization, "Bearer " + options_.key);
    if (!idempotency_key.empty()) request.set("Idempotency-Key", idempotency_key);
    if (!body.empty()) request.set(http::field::content_type, "application/json");
    request.body() = body;
    request.keep_alive(true);
    request.prepare_payload();
    for (int attempt = 1;; ++attempt) {
      try {
        reused_ = open_;
        if (!open_) connect();
        http::write(stream_, request);
        http::response<http::string_body> response;
        http::read(stream_, buffer_, response);
        if (!response.keep_alive()) close();
        return Response{static_cast<int>(response.result_int()), std::move(response.body())};
      } catch (const std::exception& error) {
        close();
        // A fresh connection failing is a real failure; a reused one may just have been closed.
        if (attempt >= 2 || !reused_) return Response{0, std::string("connection failed: ") + error.what()};
      }
    }
  }

 private:
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

std::string random_run_prefix() {
  std::random_device device;
  char text[32];
  std::snprintf(text, sizeof text, "c%08x", std::uniform_int_distribution<std::uint32_t>{}(device));
  return text;
}

std::string field_of(const Response& response, const char* name) {
  try {
    return json::parse(response.body).at(name).get<std::string>();
  } catch (const std::exception&) {
    return "";
  }
}

// Creates and credits members [first, last) on one connection.
std::vector<std::string> create_members(const Options& options, const std::string& run, int first, int last,
                                        ErrorLog& errors) {
  Connection connection{options};
  std::vector<std::string> members;
  for (int i = first; i < last; ++i) {
    const Response created = connection.request(http::verb::post, "/v1/members",
                                                json{{"external_id", run + "-member-" + std::to_string(i)}}.dump());
    const std::string member_id = field_of(created, "member_id");
    if (member_id.empty()) {
      errors.record("POST /v1/members", created);
      continue;
    }
    // Adjustments require an Idempotency-Key.
    const json credit{{"member_id", member_id}, {"asset", "POINTS"}, {"amount", initial_credit}, {"reason_code", "goodwill"}};
    const Response credited =
        connection.request(http::verb::post, "/v1/adjustments", credit.dump(), run + "-credit-" + std::to_string(i));
    if (!credited.ok()) {
      errors.record("POST /v1/adjustments", credited);
      continue;
    }
    members.push_back(member_id);
  }
  return members;
}

std::vector<std::string> set_up_members(const Options& options, const std::string& run) {
  ErrorLog errors;
  const int threads = std::min(options.clients, options.members);
  std::vector<std::vector<std::string>> parts(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    const int first = options.members * t / threads;
    const int last = options.members * (t + 1) / threads;
    workers.emplace_back([&, t, first, last] { parts[t] = create_members(options, run, first, last, errors); });
  }
  for (auto& worker : workers) worker.join();
  std::vector<std::string> members;
  for (auto& part : parts) members.insert(members.end(), part.begin(), part.end());
  if (errors.count() > 0) std::fprintf(stderr, "set-up: %lld requests failed\n", static_cast<long long>(errors.count()));
  return members;
}

struct Tally {
  std::vector<double> latencies_ms;
  std::int64_t requests = 0;
  std::int64_t checkouts = 0;  // checkouts whose two requests both succeeded
  Clock::time_point finished;
};

class Client {
 public:
  Client(const Options& options, const std::vector<std::string>& members, std::string prefix, ErrorLog& errors)
      : members_(members), connection_(options), prefix_(std::move(prefix)), errors_(errors),
        random_(std::random_device{}()), pick_(0, members.size() - 1) {}

  void run(Clock::time_point deadline, Tally& tally) {
    while (Clock::now() < deadline) {
      if (checkout(tally)) ++tally.checkouts;
    }
    tally.finished = Clock::now();
  }

 private:
  bool checkout(Tally& tally) {
    const std::string order_id = prefix_ + std::to_string(counter_++);
    const json order{{"order_id", order_id},
                     {"member_id", members_[pick_(random_)]},
                     {"currency", "CNY"},
                     {"lines", json::array({{{"sku", "mug-01"}, {"title", "Aurora mug"}, {"quantity", quantity},
                                             {"unit_price_cents", unit_price_cents}}})},
                     {"points_to_use", points_per_checkout},
                     {"cash_cents", cash_cents_per_checkout}};
    if (!timed(tally, "POST /v1/orders", "/v1/orders", order.dump()).ok()) return false;
    const json pay{{"payment_ref", "psp-" + order_id}};
    return timed(tally, "POST /v1/orders/{id}/pay", "/v1/orders/" + order_id + "/pay", pay.dump()).ok();
  }

  Response timed(Tally& tally, const char* what, const std::string& target, const std::string& body) {
    const auto started = Clock::now();
    Response response = connection_.request(http::verb::post, target, body);
    tally.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
    ++tally.requests;
    if (!response.ok()) errors_.record(what, response);
    return response;
  }

  const std::vector<std::string>& members_;
  Connection connection_;
  std::string prefix_;
  ErrorLog& errors_;
  std::mt19937_64 random_;
  std::uniform_int_distribution<std::size_t> pick_;
  std::uint64_t counter_ = 0;
};

double percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

void report(const Options& options, std::vector<Tally>& tallies, Clock::time_point started, std::int64_t errors) {
  std::int64_t requests = 0, checkouts = 0;
  std::vector<double> latencies;
  Clock::time_point last = started;
  for (auto& tally : tallies) {
    requests += tally.requests;
    checkouts += tally.checkouts;
    latencies.insert(latencies.end(), tally.latencies_ms.begin(), tally.latencies_ms.end());
    last = std::max(last, tally.finished);
  }
  std::sort(latencies.begin(), latencies.end());
  const double seconds = std::chrono::duration<double>(last - started).count();
  const auto rate = [&](std::int64_t count) { return seconds > 0 ? static_cast<double>(count) / seconds : 0.0; };
  const auto rounded = [](double value) { return std::round(value * 100.0) / 100.0; };
  std::printf("clients=%d seconds=%.2f checkouts=%lld checkouts/s=%.1f requests/s=%.1f p50_ms=%.2f p99_ms=%.2f "
              "errors=%lld\n",
              options.clients, seconds, static_cast<long long>(checkouts), rate(checkouts), rate(requests),
              percentile(latencies, 0.5), percentile(latencies, 0.99), static_cast<long long>(errors));
  const nlohmann::ordered_json result{{"workload", "checkout"},
                                      {"clients", options.clients},
                                      {"seconds", rounded(seconds)},
                                      {"checkouts", checkouts},
                                      {"requests", requests},
                                      {"checkouts_per_second", rounded(rate(checkouts))},
                                      {"requests_per_second", rounded(rate(requests))},
                                      {"p50_ms", rounded(percentile(latencies, 0.5))},
                                      {"p99_ms", rounded(percentile(latencies, 0.99))},
                                      {"errors", errors}};
  std::printf("RESULT %s\n", result.dump().c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  const std::string run = random_run_prefix();
  std::fprintf(stderr, "set-up: %d members under %s\n", options.members, run.c_str());
  const std::vector<std::string> members = set_up_members(options, run);
  if (members.empty()) {
    std::fprintf(stderr, "checkout_bench: no member could be set up\n");
    return 1;
  }
  ErrorLog errors;
  std::vector<Tally> tallies(options.clients);
  std::vector<std::unique_ptr<Client>> clients;
  for (int t = 0; t < options.clients; ++t) {
    clients.push_back(std::make_unique<Client>(options, members, run + "-" + std::to_string(t) + "-", errors));
  }
  // Every thread starts together, once all of them exist.
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
  started = Clock::now();
  deadline = started + std::chrono::seconds(options.seconds);
  ready.arrive_and_wait();
  for (auto& thread : threads) thread.join();
  report(options, tallies, started, errors.count());
  return errors.count() > 0 ? 3 : 0;
}
