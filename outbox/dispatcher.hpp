// The webhook dispatcher of loyaltyd: a sequencer thread and a few delivery workers, each with
// its own database connection.
//
// - The sequencer gives committed events their positions and fans them out to endpoints
//   (outbox::sequence), every `poll` interval.
// - A worker leases one endpoint that has a delivery due (`FOR UPDATE SKIP LOCKED`, then a lease
//   row kept while it works), sends that endpoint's pending deliveries one after another in
//   position order, and records every attempt. A failed attempt is retried after a growing
//   delay with jitter (5 s, 10 s, 20 s, … at most an hour) until `retry_window` (24 h) has
//   passed since the delivery was made, then the delivery is marked failed and the next one
//   goes. An endpoint waits while its first pending delivery is not due: events reach an
//   endpoint in commit order.
// - Several processes share the endpoints: one lease per endpoint, so an event is never sent
//   to one endpoint by two processes at once. A process killed mid-delivery leaves its lease to
//   run out (`lease`), and the delivery is sent again with the same webhook-id.
// - One slow or dead endpoint holds one worker for at most `timeout` per attempt and then waits
//   for its retry without a worker; the other endpoints go on.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "outbox/delivery.hpp"

namespace loyalty::outbox {

struct DispatcherOptions {
  std::string database_url;
  SigningKey signing_key;  // without a key nothing is sent (events wait, the sequencer runs)
  std::string node;        // who delivered, in each attempt's row: host and process id
  int workers = 4;
  std::chrono::milliseconds poll{200};
  std::chrono::milliseconds timeout{10000};
  std::chrono::seconds retry_window{24 * 3600};
  std::chrono::milliseconds retry_base{5000};
  std::chrono::milliseconds retry_max{3600 * 1000};
  std::chrono::seconds lease{60};
  UrlPolicy url_policy;
};

// The delay before retry number `failures` + 1: retry_base · 2^(failures − 1), at most
// retry_max, then ±20 % jitter so that endpoints that failed together do not retry together.
std::chrono::milliseconds retry_delay(const DispatcherOptions& options, int failures);

// What this process delivered, per endpoint, for /metrics.
struct DeliveryCounts {
  std::uint64_t delivered = 0;
  std::uint64_t retried = 0;  // attempts that failed and will be tried again
  std::uint64_t failed = 0;   // deliveries given up after the retry window
};
std::map<std::string, DeliveryCounts> delivery_counts_seen();
std::uint64_t events_sequenced_seen();

class Dispatcher {
 public:
  explicit Dispatcher(DispatcherOptions options);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void start();
  void stop();  // waits for attempts in flight (at most `timeout`)

 private:
  void run_sequencer();
  void run_worker();

  DispatcherOptions options_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace loyalty::outbox
