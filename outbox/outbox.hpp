// The outbox: events about committed changes, in commit order, for webhooks and the feed.
//
// An event row is written in the same transaction as the change it reports (migrations/0014:
// triggers on the tables the batch write path fills; record() for jobs), so it exists exactly
// when the change does. The sequencer then gives each committed row its `position`, one
// transaction at a time, never below a position already given: positions are the commit order
// readers page by (GET /v1/feed) and endpoints receive in (outbox/dispatcher.hpp). It also
// fans each newly sequenced event out to the webhook endpoints that subscribe to its type.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/time.hpp"

namespace loyalty::outbox {

// Every event type (the contract's catalogue, docs/api/webhooks.md).
inline constexpr std::string_view event_types[] = {
    "member.tier_changed", "points.expiring", "points.expired",   "order.paid",      "order.refunded",
    "exchange.completed",  "right.claimed",   "statement.closed", "export.finished", "job.failed"};
bool is_event_type(std::string_view type);
// The types that are about one partner: the only ones a partner's own endpoint may subscribe to.
bool is_partner_event_type(std::string_view type);

// ---- writing ------------------------------------------------------------------------------------

struct NewEvent {
  std::string type;
  Timestamp occurred_at;
  std::optional<std::string> member_id;
  std::optional<std::string> partner_id;
  std::string data_json;  // a JSON object
};
// Writes the events in the caller's transaction, in one statement, in the order given; returns
// their event ids in that order.
std::vector<std::int64_t> record(pqxx::transaction_base& txn, const std::vector<NewEvent>& events);

// ---- sequencing ---------------------------------------------------------------------------------

struct Sequenced {
  std::int64_t events = 0;      // positions given
  std::int64_t deliveries = 0;  // delivery rows made for webhook endpoints
};
// Gives the next committed events (at most `limit`) their positions and fans them out, in its
// own transaction on `connection`. nullopt when another process is sequencing right now.
// Times are the database's clock, as for every delivery decision (one clock for every process).
std::optional<Sequenced> sequence(pqxx::connection& connection, std::chrono::seconds retry_window, int limit = 1000);

// ---- reading ------------------------------------------------------------------------------------

struct Event {
  std::int64_t position = 0;
  std::int64_t event_id = 0;
  std::string type;
  Timestamp occurred_at;
  std::string data_json;
};
// The event's id on the wire ("evt_" + its number): the feed's `id` and the `webhook-id` of
// every delivery of it.
std::string public_event_id(std::int64_t event_id);
// The body every delivery of an event carries: {"type", "timestamp", "data"}.
std::string delivery_body(const Event& event);

// Sequenced events after `after`, in position order; `types` empty means every type.
std::vector<Event> read_feed(pqxx::transaction_base& txn, std::int64_t after, const std::vector<std::string>& types,
                             int limit);

// ---- webhook endpoints --------------------------------------------------------------------------

struct Webhook {
  std::string webhook_id;
  std::string url;
  std::vector<std::string> event_types;
  std::optional<std::string> description;
  std::optional<std::string> partner_id;
  std::string status;  // enabled, disabled
  Timestamp created_at;
  std::string created_by;
};
struct NewWebhook {
  std::string url;
  std::vector<std::string> event_types;
  std::optional<std::string> description;
  std::optional<std::string> partner_id;
  std::string created_by;
};
// Receives the events sequenced from now on.
Webhook create_webhook(pqxx::transaction_base& txn, const NewWebhook& webhook, Timestamp now);
// Deleted endpoints are not found.
std::optional<Webhook> find_webhook(pqxx::transaction_base& txn, const std::string& webhook_id);
struct WebhookPage {
  std::vector<Webhook> items;  // newest first
  std::optional<std::int64_t> next_before;
};
WebhookPage list_webhooks(pqxx::transaction_base& txn, const std::optional<std::string>& partner_id,
                          std::optional<std::int64_t> before, int limit);
// enabled ↔ disabled, or deleted (its pending deliveries are dropped). nullopt: no such endpoint.
std::optional<Webhook> set_webhook_status(pqxx::transaction_base& txn, const std::string& webhook_id,
                                          const std::string& status, Timestamp now);

// One delivery attempt, as GET /v1/webhooks/{id}/deliveries lists them.
struct Attempt {
  std::int64_t attempt_id = 0;
  std::int64_t event_id = 0;
  std::string event_type;
  int attempt = 0;
  Timestamp attempted_at;
  int duration_ms = 0;
  std::optional<int> status_code;
  std::optional<std::string> error;
  std::string outcome;  // delivered, retry, failed
};
struct AttemptPage {
  std::vector<Attempt> items;
  std::optional<std::int64_t> next_before;
};
AttemptPage list_attempts(pqxx::transaction_base& txn, const std::string& webhook_id,
                          const std::optional<std::string>& outcome, std::optional<std::int64_t> before, int limit);

// Sends again, in order, every event of the endpoint's types (and partner) that occurred at or
// after `from`: deliveries are made pending again (or made, for events from before the
// endpoint existed) and due now. Returns how many events will be sent.
std::int64_t redeliver(pqxx::transaction_base& txn, const std::string& webhook_id, Timestamp from, Timestamp now,
                       std::chrono::seconds retry_window);

// ---- health -------------------------------------------------------------------------------------

struct Backlog {
  std::int64_t unsequenced = 0;         // committed events without a position yet
  std::int64_t pending_deliveries = 0;  // not delivered yet (retries included)
  double oldest_undelivered_seconds = 0;
};
Backlog backlog(pqxx::transaction_base& txn, Timestamp now);

}  // namespace loyalty::outbox
