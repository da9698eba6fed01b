// What the HTTP load generator (loyalty_bench, bench/http_load.cpp) is made of apart from its
// workloads: the flags every run takes, one keep-alive HTTP/1.1 connection per client spread
// over one or more loyaltyd processes, the set-up of credited members, the timed loop (closed,
// or paced at a target rate), the status classes of failed requests and the latency figures.
//
// The generator shares the machine's cores with the service and PostgreSQL, so it is kept
// lean: one blocking connection per client thread, no per-request allocation beyond the
// request itself, and its own CPU time is measured and printed so a reader can see what it
// took from the others.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

constexpr int clients_max = 1024;
constexpr int seconds_max = 3600;
constexpr int members_max = 1000000;
constexpr int endpoints_max = 16;

// ---- command line ------------------------------------------------------------------------

// One loyaltyd process: http://HOST:PORT.
struct Endpoint {
  std::string host;
  std::string port;
};

// The flags every run takes: --url http://HOST:PORT[,http://HOST:PORT...] (client t talks to
// the (t mod N)th), --key, --clients, --seconds and --members.
struct LoadOptions {
  std::vector<Endpoint> endpoints;
  std::string key;
  int clients = 8;
  int seconds = 10;
  int members = 0;  // the program's own default
};

struct CommandLine {
  const char* program;  // "loyalty_bench"
  std::string usage;    // the "usage: ..." lines printed under a problem, each ending in '\n'

  // Prints "PROGRAM: PROBLEM" and the usage on stderr, and exits with status 2.
  [[noreturn]] void fail(const std::string& problem) const;
  // A whole number from `low` to `high`, or fail().
  int whole_number(const std::string& flag, const std::string& text, int low, int high) const;
};

// Reads the common flags into `options`; `extra(flag, value)` may take a program's own flag
// (it returns false for a flag it does not know). Every flag needs a value; --url and --key
// are required.
void parse_load_options(int argc, char** argv, const CommandLine& command_line, LoadOptions& options,
                        const std::function<bool(const std::string& flag, const std::string& value)>& extra = {});

// ---- one keep-alive HTTP/1.1 connection ------------------------------------------------------

struct Response {
  int status = 0;  // 0: the connection failed (no HTTP status)
  std::string body;
  bool ok() const { return status >= 200 && status < 300; }
};

// Connects on first use; reconnects once when a reused connection turns out to be closed.
class Connection {
 public:
  Connection(const LoadOptions& options, Endpoint endpoint);

  // POSTs a (JSON) body with the API key.
  Response post(const std::string& target, const std::string& body, const std::string& idempotency_key = "");
  // GETs a path without credentials (/metrics).
  Response get(const std::string& target);

 private:
  Response request(boost::beast::http::verb verb, const std::string& target, const std::string& body,
                   const std::string& idempotency_key, bool authorised);
  void connect();
  void close();

  Endpoint endpoint_;
  std::string authorization_;
  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  bool open_ = false;
  bool reused_ = false;
};

// ---- shared run state --------------------------------------------------------------------

// Failed requests by class: what a reader must tell apart. A 503 is the service shedding load
// or answering commit_in_doubt (a client retries it with its key); any other 5xx is a bug or a
// deadlock that escaped; a 4xx is the benchmark's or the service's mistake; 0 is a broken
// connection.
struct FailureCounts {
  std::int64_t unavailable_503 = 0;
  std::int64_t server_error_other = 0;  // 5xx but 503
  std::int64_t client_error = 0;        // 4xx (and anything else that is not 2xx or 5xx)
  std::int64_t connection_failed = 0;
  std::int64_t total() const { return unavailable_503 + server_error_other + client_error + connection_failed; }
};

// Counts failures by class and prints the first few response bodies.
class ErrorLog {
 public:
  void record(const std::string& what, const Response& response);
  std::int64_t count() const { return total_.load(); }
  FailureCounts counts() const;

 private:
  std::atomic<std::int64_t> total_{0};
  std::atomic<std::int64_t> unavailable_503_{0};
  std::atomic<std::int64_t> server_error_other_{0};
  std::atomic<std::int64_t> client_error_{0};
  std::atomic<std::int64_t> connection_failed_{0};
  std::mutex mutex_;
};

// A run prefix that keeps one run's members and keys apart from every other's: `letter` and
// eight random hex digits.
std::string random_run_prefix(char letter);

// A string field of a JSON reply; empty if there is none.
std::string field_of(const Response& response, const char* name);

// The body of POST /v1/adjustments: `amount` POINTS (goodwill) for a member.
std::string adjustment_body(const std::string& member_id, std::int64_t amount);

// ---- set-up ------------------------------------------------------------------------------

struct MemberSetUp {
  std::int64_t credit = 0;        // POINTS credited to each member
  const char* credit_error = "";  // what a failed credit is called in the error log
  // The credit's Idempotency-Key: member `index`, the `count`th credit of set-up thread `thread`.
  std::function<std::string(int thread, int index, std::uint64_t count)> credit_key;
};

// Creates the members RUN-member-0 .. RUN-member-(M-1) and credits each, spread over
// min(clients, members) threads with a connection each (not timed). Returns the ids of those
// both created and credited; the number of failed requests is printed on stderr.
std::vector<std::string> set_up_members(const LoadOptions& options, const std::string& run, const MemberSetUp& how);

// ---- the timed loop ----------------------------------------------------------------------

struct Tally {
  std::vector<double> latencies_ms;
  std::int64_t requests = 0;
  std::int64_t operations = 0;  // operations whose every request succeeded
  Clock::time_point finished;
  // Paced runs only: when the current operation was due. Its first request's latency is taken
  // from then, not from when it was sent, so that time spent waiting behind a slow answer
  // counts (no coordinated omission).
  std::optional<Clock::time_point> due;
};

// POSTs on `connection` and records the request's latency in `tally`; a non-2xx reply or a
// broken connection is recorded in `errors` as `what`.
Response timed_post(Connection& connection, Tally& tally, ErrorLog& errors, const char* what, const std::string& target,
                    const std::string& body, const std::string& idempotency_key = "");

// How the clients send.
struct Pace {
  int seconds = 10;
  // 0: a closed loop, each client sends its next operation as soon as the last is answered.
  // Otherwise operations per second over all clients: client t's k-th operation is due at
  // start + (k * clients + t) / rate, and waits for that moment if it is early.
  double operations_per_second = 0;
};

// Runs one thread per tally. Once every thread exists, `before_clock` runs (not timed), then
// the clock starts for all together: thread t calls `operation(t, tallies[t])` (see Pace)
// until the time is up, counting the operations that return true. Returns when the clock
// started.
Clock::time_point run_clients(std::vector<Tally>& tallies, const Pace& pace,
                              const std::function<bool(int client, Tally& tally)>& operation,
                              const std::function<void()>& before_clock = {});

// CPU seconds (user + system) this process has used so far: the generator's own share of the
// machine.
double process_cpu_seconds();

// ---- results -----------------------------------------------------------------------------

struct Summary {
  std::int64_t requests = 0;
  std::int64_t operations = 0;
  FailureCounts failures;
  double elapsed_seconds = 0;  // from the start to the last client's end
  double p50_ms = 0;
  double p99_ms = 0;
};

Summary summarise(const std::vector<Tally>& tallies, Clock::time_point started, FailureCounts failures);

// The value at `fraction` of sorted values (the nearest rank); 0 for none.
double percentile(const std::vector<double>& sorted, double fraction);
double per_second(std::int64_t count, double seconds);  // 0 when no time passed
double rounded(double value);                           // to two decimals, for the RESULT line

}  // namespace bench
