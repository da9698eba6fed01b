#include "outbox/dispatcher.hpp"

#include <memory>
#include <mutex>
#include <random>

#include "outbox/outbox.hpp"
#include "platform/database.hpp"
#include "platform/log.hpp"

namespace loyalty::outbox {
namespace {

// Every time below is the database's clock (clock_timestamp()): leases and due times mean the
// same to every process.

// The endpoint whose first pending delivery is due and that nobody else holds; leased to us.
const db::Statement lease_endpoint{
    "webhooks.lease",
    "WITH due AS (SELECT w.webhook_id FROM webhooks w"
    "  WHERE w.status = 'enabled' AND (w.lease_until IS NULL OR w.lease_until < clock_timestamp())"
    "   AND (SELECT d.next_attempt_at FROM webhook_deliveries d WHERE d.webhook_id = w.webhook_id"
    "        AND d.status = 'pending' ORDER BY d.position LIMIT 1) <= clock_timestamp()"
    "  ORDER BY w.lease_until NULLS FIRST, w.webhook_id LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " UPDATE webhooks w SET lease_owner = $1, lease_until = clock_timestamp() + $2::bigint * interval '1 second' FROM "
    "due"
    " WHERE w.webhook_id = due.webhook_id RETURNING w.webhook_id, w.url"};

// Renews our lease and reads the endpoint's first pending delivery, if it is due. No row: the
// lease is no longer ours, or the endpoint was disabled, or nothing is due.
const db::Statement next_delivery{
    "webhooks.next_delivery",
    "WITH lease AS (UPDATE webhooks SET lease_until = clock_timestamp() + $3::bigint * interval '1 second'"
    "  WHERE webhook_id = $1 AND lease_owner = $2 AND status = 'enabled' RETURNING url)"
    " SELECT d.position, d.event_id, d.attempts, d.retry_until <= clock_timestamp(), e.type, e.occurred_at, "
    "e.data::text,"
    "  lease.url"
    " FROM lease, webhook_deliveries d JOIN outbox_events e ON e.event_id = d.event_id"
    " WHERE d.webhook_id = $1 AND d.status = 'pending' AND d.next_attempt_at <= clock_timestamp()"
    "  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.webhook_id = $1 AND p.status = 'pending'"
    "                  AND p.position < d.position)"
    " ORDER BY d.position LIMIT 1"};

// Records one attempt and moves the delivery on: delivered, failed for good, or due again
// after $5 milliseconds. Only while the lease is ours and the delivery still pending.
const db::Statement record_attempt{
    "webhooks.record_attempt",
    "WITH moved AS (UPDATE webhook_deliveries d SET attempts = d.attempts + 1,"
    "   status = CASE $3 WHEN 'retry' THEN 'pending' ELSE $3 END,"
    "   next_attempt_at = CASE $3 WHEN 'retry' THEN clock_timestamp() + $5::bigint * interval '1 millisecond'"
    "                     ELSE d.next_attempt_at END,"
    "   finished_at = CASE $3 WHEN 'retry' THEN NULL ELSE clock_timestamp() END"
    "  WHERE d.webhook_id = $1 AND d.position = $2 AND d.status = 'pending'"
    "   AND EXISTS (SELECT 1 FROM webhooks w WHERE w.webhook_id = $1 AND w.lease_owner = $8)"
    "  RETURNING d.event_id, d.attempts)"
    " INSERT INTO webhook_attempts (webhook_id, position, event_id, attempt, attempted_at, duration_ms, status_code,"
    "  error, outcome, node)"
    " SELECT $1, $2, m.event_id, m.attempts, clock_timestamp() - $4::bigint * interval '1 millisecond', $4, $6, $7, "
    "$3, $8"
    " FROM moved m"};

const db::Statement release_endpoint{
    "webhooks.release",
    "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL WHERE webhook_id = $1 AND lease_owner = $2"};

std::mutex counts_mutex;
std::map<std::string, DeliveryCounts> counts;
std::atomic<std::uint64_t> sequenced_total{0};

void count(const std::string& webhook_id, const std::string& outcome) {
  std::lock_guard lock{counts_mutex};
  DeliveryCounts& seen = counts[webhook_id];
  if (outcome == "delivered") ++seen.delivered;
  if (outcome == "retry") ++seen.retried;
  if (outcome == "failed") ++seen.failed;
}

// Sleeps `total` in short steps, waking early when the dispatcher stops.
void nap(std::chrono::milliseconds total, const std::atomic<bool>& stop) {
  const auto step = std::chrono::milliseconds(50);
  for (auto slept = std::chrono::milliseconds(0); slept < total && !stop; slept += step)
    std::this_thread::sleep_for(step);
}

// An endpoint is worked for at most this long before its lease is given back, so that a busy
// endpoint does not keep a worker from the others.
constexpr auto endpoint_slice = std::chrono::seconds(30);

}  // namespace

std::chrono::milliseconds retry_delay(const DispatcherOptions& options, int failures) {
  double delay = static_cast<double>(options.retry_base.count());
  for (int i = 1; i < failures && delay < static_cast<double>(options.retry_max.count()); ++i) delay *= 2;
  delay = std::min(delay, static_cast<double>(options.retry_max.count()));
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::uniform_real_distribution<double> jitter{0.8, 1.2};
  return std::chrono::milliseconds(static_cast<std::int64_t>(delay * jitter(random)));
}

std::map<std::string, DeliveryCounts> delivery_counts_seen() {
  std::lock_guard lock{counts_mutex};
  return counts;
}

std::uint64_t events_sequenced_seen() {
  return sequenced_total.load();
}

Dispatcher::Dispatcher(DispatcherOptions options) : options_(std::move(options)) {}

Dispatcher::~Dispatcher() {
  stop();
}

void Dispatcher::start() {
  threads_.emplace_back([this] { run_sequencer(); });
  if (!options_.signing_key) {
    log::warn("webhooks are not sent: loyaltyd has no signing key (events wait in the outbox)");
    return;
  }
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { run_worker(); });
}

void Dispatcher::stop() {
  stop_ = true;
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

void Dispatcher::run_sequencer() {
  std::unique_ptr<pqxx::connection> connection;
  while (!stop_) {
    try {
      if (!connection || !connection->is_open()) connection = db::connect(options_.database_url);
      // Drain what is waiting, a thousand at a time, then rest.
      while (!stop_) {
        const auto sequenced = sequence(*connection, options_.retry_window);
        if (!sequenced || sequenced->events == 0) break;
        sequenced_total += static_cast<std::uint64_t>(sequenced->events);
        log::debug("events sequenced", {{"events", sequenced->events}, {"deliveries", sequenced->deliveries}});
      }
    } catch (const std::exception& error) {
      connection.reset();
      log::warn("sequencing events failed", {{"error", error.what()}});
    }
    nap(options_.poll, stop_);
  }
}

void Dispatcher::run_worker() {
  std::unique_ptr<pqxx::connection> connection;
  const std::string& owner = options_.node;
  const auto lease_seconds = static_cast<std::int64_t>(options_.lease.count());
  while (!stop_) {
    bool worked = false;
    try {
      if (!connection || !connection->is_open()) connection = db::connect(options_.database_url);
      std::string webhook_id;
      {
        pqxx::work txn{*connection, "webhook_lease"};
        const auto rows = db::exec(txn, lease_endpoint, owner, lease_seconds);
        txn.commit();
        if (!rows.empty()) webhook_id = rows[0][0].c_str();
      }
      if (!webhook_id.empty()) {
        worked = true;
        const auto slice_ends = std::chrono::steady_clock::now() + endpoint_slice;
        while (!stop_ && std::chrono::steady_clock::now() < slice_ends) {
          pqxx::result next;
          {
            pqxx::work txn{*connection, "webhook_next"};
            next = db::exec(txn, next_delivery, webhook_id, owner, lease_seconds);
            txn.commit();
          }
          if (next.empty()) break;
          const auto row = next[0];
          const std::int64_t position = row[0].as<std::int64_t>();
          const int failures_before = row[2].as<int>();
          const bool window_over = row[3].as<bool>();
          const Event event{position, row[1].as<std::int64_t>(), row[4].c_str(), db::time_of(row[5]), row[6].c_str()};
          const std::string body = delivery_body(event);
          const auto url = parse_url(row[7].c_str());
          const auto headers = sign_delivery(options_.signing_key, public_event_id(event.event_id),
                                             std::chrono::system_clock::now(), body);
          PostResult result;
          if (!url) {
            result.error = "the endpoint's URL no longer parses";
          } else if (!headers) {
            result.error = "our signing key cannot sign";
          } else {
            result = post_delivery(*url, *headers, body, options_.timeout, options_.url_policy);
          }
          const std::string outcome = result.succeeded() ? "delivered" : window_over ? "failed" : "retry";
          const auto delay = retry_delay(options_, failures_before + 1);
          {
            pqxx::work txn{*connection, "webhook_attempt"};
            db::exec(txn, record_attempt, webhook_id, position, outcome, result.duration_ms,
                     static_cast<std::int64_t>(delay.count()),
                     db::nullable_number(result.status ? std::optional<std::int64_t>(*result.status) : std::nullopt),
                     db::nullable(result.succeeded() ? std::nullopt : std::optional(result.error)), owner);
            txn.commit();
          }
          count(webhook_id, outcome);
          if (outcome != "delivered") {
            log::info("webhook delivery failed", {{"webhook_id", webhook_id},
                                                  {"event_id", event.event_id},
                                                  {"attempt", failures_before + 1},
                                                  {"outcome", outcome},
                                                  {"error", result.error}});
            if (outcome == "retry") break;  // the endpoint waits for this delivery's retry
          }
        }
        pqxx::work txn{*connection, "webhook_release"};
        db::exec(txn, release_endpoint, webhook_id, owner);
        txn.commit();
      }
    } catch (const std::exception& error) {
      connection.reset();
      log::warn("webhook delivery worker failed", {{"error", error.what()}});
    }
    if (!worked) nap(options_.poll, stop_);
  }
}

}  // namespace loyalty::outbox
