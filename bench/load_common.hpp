// What the HTTP load generators share (loyalty_bench, bench/http_load.cpp, and checkout_bench,
// bench/checkout.cpp): their common flags, one keep-alive HTTP/1.1 connection per client, the
// set-up of credited members, the timed closed loop and the latency figures. Each program
// keeps its own workload, its own extra flags and its own printed lines (bench/run and
// bench/checkout.sh parse them).
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
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

constexpr int clients_max = 1024;
constexpr int seconds_max = 3600;
constexpr int members_max = 1000000;

// ---- command line ------------------------------------------------------------------------

// The flags every load generator takes: --url http://HOST:PORT, --key, --clients, --seconds
// and --members.
struct LoadOptions {
  std::string host;
  std::string port;
  std::string key;
  int clients = 8;
  int seconds = 10;
  int members = 0;  // each program's own default
};

struct CommandLine {
  const char* program;     // "loyalty_bench"
  std::string usage;       // the "usage: ..." lines printed under a problem, each ending in '\n'
  const char* bad_scheme;  // the problem printed for a --url that does not start with http://

  // Prints "PROGRAM: PROBLEM" and the usage on stderr, and exits with status 2.
  [[noreturn]] void fail(const std::string& problem) const;
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
  explicit Connection(const LoadOptions& options);

  // POSTs a (JSON) body with the API key.
  Response post(const std::string& target, const std::string& body, const std::string& idempotency_key = "");
  // GETs a path without credentials (/metrics).
  Response get(const std::string& target);

 private:
  Response request(boost::beast::http::verb verb, const std::string& target, const std::string& body,
                   const std::string& idempotency_key, bool authorised);
  void connect();
  void close();

  const LoadOptions& options_;
  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  bool open_ = false;
  bool reused_ = false;
};

// ---- shared run state --------------------------------------------------------------------

// Counts errors and prints the first few response bodies.
class ErrorLog {
 public:
  void record(const std::string& what, const Response& response);
  std::int64_t count() const { return count_.load(); }

 private:
  std::atomic<std::int64_t> count_{0};
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
  std::int64_t credit = 0;       // POINTS credited to each member
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
};

// POSTs on `connection` and records the request's latency in `tally`; a non-2xx reply or a
// broken connection is recorded in `errors` as `what`.
Response timed_post(Connection& connection, Tally& tally, ErrorLog& errors, const char* what,
                    const std::string& target, const std::string& body, const std::string& idempotency_key = "");

// Runs one thread per tally. Once every thread exists, `before_clock` runs (not timed), then
// the clock starts for all together: thread t calls `operation(t, tallies[t])` back to back
// (a closed loop) until `seconds` are up, counting the operations that return true. Returns
// when the clock started.
Clock::time_point run_clients(std::vector<Tally>& tallies, int seconds,
                              const std::function<bool(int client, Tally& tally)>& operation,
                              const std::function<void()>& before_clock = {});

// ---- results -----------------------------------------------------------------------------

struct Summary {
  std::int64_t requests = 0;
  std::int64_t operations = 0;
  std::int64_t errors = 0;
  double elapsed_seconds = 0;  // from the start to the last client's end
  double p50_ms = 0;
  double p99_ms = 0;
};

Summary summarise(const std::vector<Tally>& tallies, Clock::time_point started, std::int64_t errors);

// The value at `fraction` of sorted values (the nearest rank); 0 for none.
double percentile(const std::vector<double>& sorted, double fraction);
double per_second(std::int64_t count, double seconds);  // 0 when no time passed
double rounded(double value);                           // to two decimals, for the RESULT line

}  // namespace bench
