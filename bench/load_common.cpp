#include "load_common.hpp"

#include <sys/resource.h>

#include <boost/asio/connect.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <latch>
#include <random>
#include <string_view>
#include <thread>

namespace bench {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using json = nlohmann::json;

constexpr int error_bodies_printed_max = 5;
constexpr std::size_t error_body_chars_max = 400;

// Accepts http://HOST:PORT with an optional trailing slash (no TLS, no path).
Endpoint parse_endpoint(const CommandLine& command_line, std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) command_line.fail("--url must start with http://");
  std::string rest{url.substr(scheme.size())};
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) {
    command_line.fail("--url must be http://HOST:PORT[,http://HOST:PORT...]");
  }
  return Endpoint{rest.substr(0, colon), rest.substr(colon + 1)};
}

// A comma-separated list of URLs, one per loyaltyd process.
std::vector<Endpoint> parse_endpoints(const CommandLine& command_line, const std::string& list) {
  std::vector<Endpoint> endpoints;
  std::size_t begin = 0;
  while (begin <= list.size()) {
    const auto comma = std::min(list.find(',', begin), list.size());
    endpoints.push_back(parse_endpoint(command_line, std::string_view{list}.substr(begin, comma - begin)));
    begin = comma + 1;
  }
  if (endpoints.size() > static_cast<std::size_t>(endpoints_max)) {
    command_line.fail("--url takes at most " + std::to_string(endpoints_max) + " URLs");
  }
  return endpoints;
}

// Creates and credits the members [first, last) on one connection.
std::vector<std::string> create_members(const LoadOptions& options, const std::string& run, int thread, int first,
                                        int last, const MemberSetUp& how, ErrorLog& errors) {
  Connection connection{options, options.endpoints[thread % options.endpoints.size()]};
  std::vector<std::string> members;
  std::uint64_t credits = 0;
  for (int i = first; i < last; ++i) {
    const Response created =
        connection.post("/v1/members", json{{"external_id", run + "-member-" + std::to_string(i)}}.dump());
    const std::string member_id = created.ok() ? field_of(created, "member_id") : "";
    if (member_id.empty()) {
      errors.record("POST /v1/members", created);
      continue;
    }
    // Adjustments require an Idempotency-Key.
    const Response credited = connection.post("/v1/adjustments", adjustment_body(member_id, how.credit),
                                              how.credit_key(thread, i, credits++));
    if (!credited.ok()) {
      errors.record(how.credit_error, credited);
      continue;
    }
    members.push_back(member_id);
  }
  return members;
}

}  // namespace

// ---- command line ------------------------------------------------------------------------

void CommandLine::fail(const std::string& problem) const {
  std::fprintf(stderr, "%s: %s\n%s", program, problem.c_str(), usage.c_str());
  std::exit(2);
}

int CommandLine::whole_number(const std::string& flag, const std::string& text, int low, int high) const {
  try {
    std::size_t used = 0;
    const int value = std::stoi(text, &used);
    if (used == text.size() && value >= low && value <= high) return value;
  } catch (const std::exception&) {
  }
  fail(flag + " must be a whole number from " + std::to_string(low) + " to " + std::to_string(high));
}

void parse_load_options(int argc, char** argv, const CommandLine& command_line, LoadOptions& options,
                        const std::function<bool(const std::string& flag, const std::string& value)>& extra) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) command_line.fail(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--url") {
      options.endpoints = parse_endpoints(command_line, value);
    } else if (flag == "--key") {
      options.key = value;
    } else if (flag == "--clients") {
      options.clients = command_line.whole_number(flag, value, 1, clients_max);
    } else if (flag == "--seconds") {
      options.seconds = command_line.whole_number(flag, value, 1, seconds_max);
    } else if (flag == "--members") {
      options.members = command_line.whole_number(flag, value, 1, members_max);
    } else if (!extra || !extra(flag, value)) {
      command_line.fail("unknown flag " + flag);
    }
  }
  if (options.endpoints.empty()) command_line.fail("--url is required");
  if (options.key.empty()) command_line.fail("--key is required");
}

// ---- one keep-alive HTTP/1.1 connection ------------------------------------------------------

Connection::Connection(const LoadOptions& options, Endpoint endpoint)
    : endpoint_(std::move(endpoint)), authorization_("Bearer " + options.key), stream_(io_) {}

Response Connection::post(const std::string& target, const std::string& body, const std::string& idempotency_key) {
  return request(http::verb::post, target, body, idempotency_key, true);
}

Response Connection::get(const std::string& target) {
  return request(http::verb::get, target, "", "", false);
}

Response Connection::request(http::verb verb, const std::string& target, const std::string& body,
                             const std::string& idempotency_key, bool authorised) {
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, endpoint_.host);
  if (authorised) request.set(http::field::authorization, authorization_);
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

void Connection::connect() {
  tcp::resolver resolver{io_};
  stream_.connect(resolver.resolve(endpoint_.host, endpoint_.port));
  stream_.socket().set_option(tcp::no_delay(true));
  buffer_.clear();
  open_ = true;
}

void Connection::close() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
  open_ = false;
}

// ---- shared run state --------------------------------------------------------------------

void ErrorLog::record(const std::string& what, const Response& response) {
  if (response.status == 0)
    ++connection_failed_;
  else if (response.status == 503)
    ++unavailable_503_;
  else if (response.status >= 500 && response.status <= 599)
    ++server_error_other_;
  else
    ++client_error_;
  const auto seen = ++total_;
  if (seen > error_bodies_printed_max) return;
  std::lock_guard lock{mutex_};
  std::fprintf(stderr, "error %lld: %s -> %d %s\n", static_cast<long long>(seen), what.c_str(), response.status,
               response.body.substr(0, error_body_chars_max).c_str());
}

FailureCounts ErrorLog::counts() const {
  return FailureCounts{unavailable_503_.load(), server_error_other_.load(), client_error_.load(),
                       connection_failed_.load()};
}

std::string random_run_prefix(char letter) {
  std::random_device device;
  char text[32];
  std::snprintf(text, sizeof text, "%c%08x", letter, std::uniform_int_distribution<std::uint32_t>{}(device));
  return text;
}

std::string field_of(const Response& response, const char* name) {
  try {
    return json::parse(response.body).at(name).get<std::string>();
  } catch (const std::exception&) {
    return "";
  }
}

std::string adjustment_body(const std::string& member_id, std::int64_t amount) {
  return json{{"member_id", member_id}, {"asset", "POINTS"}, {"amount", amount}, {"reason_code", "goodwill"}}.dump();
}

// ---- set-up ------------------------------------------------------------------------------

std::vector<std::string> set_up_members(const LoadOptions& options, const std::string& run, const MemberSetUp& how) {
  ErrorLog errors;
  const int threads = std::min(options.clients, options.members);
  std::vector<std::vector<std::string>> parts(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    const int first = options.members * t / threads;
    const int last = options.members * (t + 1) / threads;
    workers.emplace_back([&, t, first, last] { parts[t] = create_members(options, run, t, first, last, how, errors); });
  }
  for (auto& worker : workers) worker.join();
  std::vector<std::string> members;
  for (auto& part : parts) members.insert(members.end(), part.begin(), part.end());
  if (errors.count() > 0)
    std::fprintf(stderr, "set-up: %lld requests failed\n", static_cast<long long>(errors.count()));
  return members;
}

// ---- the timed loop ----------------------------------------------------------------------

Response timed_post(Connection& connection, Tally& tally, ErrorLog& errors, const char* what, const std::string& target,
                    const std::string& body, const std::string& idempotency_key) {
  const auto sent = Clock::now();
  const auto counted_from = tally.due ? std::min(*tally.due, sent) : sent;
  tally.due.reset();
  Response response = connection.post(target, body, idempotency_key);
  tally.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - counted_from).count());
  ++tally.requests;
  if (!response.ok()) errors.record(what, response);
  return response;
}

Clock::time_point run_clients(std::vector<Tally>& tallies, const Pace& pace,
                              const std::function<bool(int client, Tally& tally)>& operation,
                              const std::function<void()>& before_clock) {
  const int clients = static_cast<int>(tallies.size());
  // Every thread starts the clock together, once all of them exist.
  std::latch ready{clients + 1};
  Clock::time_point started;
  Clock::time_point deadline;
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      ready.arrive_and_wait();
      Tally& tally = tallies[t];
      const bool paced = pace.operations_per_second > 0;
      for (std::int64_t k = 0;; ++k) {
        if (paced) {
          const std::chrono::duration<double> offset{static_cast<double>(k * clients + t) / pace.operations_per_second};
          const auto due = started + std::chrono::duration_cast<Clock::duration>(offset);
          if (due >= deadline) break;
          std::this_thread::sleep_until(due);
          tally.due = due;
        } else if (Clock::now() >= deadline) {
          break;
        }
        if (operation(t, tally)) ++tally.operations;
      }
      tally.finished = Clock::now();
    });
  }
  if (before_clock) before_clock();
  started = Clock::now();
  deadline = started + std::chrono::seconds(pace.seconds);
  ready.arrive_and_wait();
  for (auto& thread : threads) thread.join();
  return started;
}

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& time) { return static_cast<double>(time.tv_sec) + time.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// ---- results -----------------------------------------------------------------------------

Summary summarise(const std::vector<Tally>& tallies, Clock::time_point started, FailureCounts failures) {
  Summary summary;
  summary.failures = failures;
  std::vector<double> latencies;
  Clock::time_point last = started;
  for (const auto& tally : tallies) {
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

double percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

double per_second(std::int64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0;
}

double rounded(double value) {
  return std::round(value * 100.0) / 100.0;
}

}  // namespace bench
