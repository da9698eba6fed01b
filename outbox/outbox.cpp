#include "outbox/outbox.hpp"

#include <algorithm>
#include <limits>

#include "platform/assert.hpp"
#include "platform/database.hpp"
#include "platform/executor.hpp"
#include "platform/ids.hpp"

namespace loyalty::outbox {
namespace {

// One sequencer at a time, in every process: the sequencer and create_webhook take this lock.
std::int64_t sequencer_lock_key() {
  return static_cast<std::int64_t>(db::routing_key_of("outbox:sequencer"));
}

const db::Statement insert_events{
    "outbox.insert_events",
    "INSERT INTO outbox_events (type, occurred_at, member_id, partner_id, data)"
    " SELECT x.type, x.occurred_at, x.member_id, x.partner_id, x.data::jsonb"
    " FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY"
    "  AS x(type, occurred_at, member_id, partner_id, data, n) ORDER BY x.n RETURNING event_id"};

const db::Statement try_lock_sequencer{"outbox.try_lock_sequencer", "SELECT pg_try_advisory_xact_lock($1)"};
const db::Statement lock_sequencer{"outbox.lock_sequencer", "SELECT pg_advisory_xact_lock($1)"};

// Positions continue from the highest given; the rows are those committed before this
// statement began (read committed). A delivery is made for every endpoint, enabled or
// disabled, that subscribes to the type (and is the event's partner's, for a partner's
// endpoint) and existed before the event was sequenced.
const db::Statement sequence_events{
    "outbox.sequence",
    "WITH next AS (SELECT event_id FROM outbox_events WHERE position IS NULL ORDER BY event_id LIMIT $1),"
    " base AS (SELECT coalesce(max(position), 0) AS p FROM outbox_events),"
    " numbered AS (SELECT n.event_id, b.p + row_number() OVER (ORDER BY n.event_id) AS position FROM next n, base b),"
    " sequenced AS (UPDATE outbox_events o SET position = x.position, sequenced_at = clock_timestamp() FROM numbered x"
    "  WHERE o.event_id = x.event_id RETURNING o.event_id, o.position, o.type, o.partner_id),"
    " fanned AS (INSERT INTO webhook_deliveries (webhook_id, position, event_id, status, next_attempt_at, retry_until,"
    "  created_at)"
    "  SELECT w.webhook_id, s.position, s.event_id, 'pending', clock_timestamp(),"
    "   clock_timestamp() + $2::bigint * interval '1 second', clock_timestamp()"
    "  FROM sequenced s JOIN webhooks w ON w.status <> 'deleted' AND s.type = ANY (w.event_types)"
    "   AND (w.partner_id IS NULL OR w.partner_id = s.partner_id) AND s.position > w.from_position"
    "  ORDER BY w.webhook_id, s.position RETURNING 1)"
    " SELECT (SELECT count(*) FROM sequenced), (SELECT count(*) FROM fanned)"};

const db::Statement select_feed{
    "outbox.feed",
    "SELECT position, event_id, type, occurred_at, data::text FROM outbox_events"
    " WHERE position > $1 AND ($2::text[] IS NULL OR type = ANY ($2::text[])) ORDER BY position LIMIT $3"};

const db::Statement insert_webhook{
    "outbox.insert_webhook",
    "INSERT INTO webhooks (webhook_id, url, event_types, description, partner_id, status, created_at, created_by,"
    " from_position)"
    " SELECT $1, $2, $3::text[], $4, $5, 'enabled', $6, $7, coalesce(max(position), 0) FROM outbox_events"};

const db::Statement select_webhook{
    "outbox.select_webhook",
    "SELECT webhook_id, url, event_types, description, partner_id, status, created_at, created_by FROM webhooks"
    " WHERE webhook_id = $1 AND status <> 'deleted'"};

const db::Statement select_webhooks{
    "outbox.select_webhooks",
    "SELECT webhook_id, url, event_types, description, partner_id, status, created_at, created_by, webhook_row"
    " FROM webhooks"
    " WHERE status <> 'deleted' AND webhook_row < $1 AND ($2::text IS NULL OR partner_id = $2)"
    " ORDER BY webhook_row DESC LIMIT $3"};

const db::Statement update_webhook_status{
    "outbox.update_webhook_status",
    "UPDATE webhooks SET status = $2 WHERE webhook_id = $1 AND status <> 'deleted'"
    " RETURNING webhook_id, url, event_types, description, partner_id, status, created_at, created_by"};

const db::Statement drop_pending_deliveries{
    "outbox.drop_pending_deliveries",
    "UPDATE webhook_deliveries SET status = 'failed', finished_at = $2 WHERE webhook_id = $1 AND status = 'pending'"};

const db::Statement select_attempts{
    "outbox.select_attempts",
    "SELECT a.attempt_id, a.event_id, e.type, a.attempt, a.attempted_at, a.duration_ms, a.status_code, a.error,"
    " a.outcome FROM webhook_attempts a JOIN outbox_events e ON e.event_id = a.event_id"
    " WHERE a.webhook_id = $1 AND ($2::text IS NULL OR a.outcome = $2) AND a.attempt_id < $3"
    " ORDER BY a.attempt_id DESC LIMIT $4"};

// Every matching event at or after `from` that is sequenced: pending again, due now, in order.
const db::Statement redeliver_events{
    "outbox.redeliver",
    "WITH w AS (SELECT webhook_id, event_types, partner_id FROM webhooks WHERE webhook_id = $1),"
    " chosen AS (SELECT e.event_id, e.position FROM outbox_events e, w WHERE e.position IS NOT NULL"
    "  AND e.occurred_at >= $2 AND e.type = ANY (w.event_types) AND (w.partner_id IS NULL OR w.partner_id = "
    "e.partner_id)),"
    " upserted AS (INSERT INTO webhook_deliveries AS d (webhook_id, position, event_id, status, next_attempt_at,"
    "  retry_until, created_at)"
    "  SELECT $1, c.position, c.event_id, 'pending', $3, $3::timestamptz + $4::bigint * interval '1 second', $3 FROM "
    "chosen c"
    "  ORDER BY c.position"
    "  ON CONFLICT (webhook_id, position) DO UPDATE SET status = 'pending', next_attempt_at = EXCLUDED.next_attempt_at,"
    "   retry_until = EXCLUDED.retry_until, finished_at = NULL RETURNING 1)"
    " SELECT count(*) FROM upserted"};

const db::Statement select_backlog{"outbox.backlog",
                                   "SELECT (SELECT count(*) FROM outbox_events WHERE position IS NULL),"
                                   " (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'),"
                                   " (SELECT min(created_at) FROM webhook_deliveries WHERE status = 'pending')"};

std::vector<std::string> text_array(const pqxx::field& field) {
  std::vector<std::string> items;
  auto parser = field.as_array();
  for (auto [kind, text] = parser.get_next(); kind != pqxx::array_parser::done;
       std::tie(kind, text) = parser.get_next()) {
    if (kind == pqxx::array_parser::string_value) items.push_back(text);
  }
  return items;
}

Webhook webhook_of(const pqxx::row& row) {
  Webhook webhook;
  webhook.webhook_id = row[0].c_str();
  webhook.url = row[1].c_str();
  webhook.event_types = text_array(row[2]);
  webhook.description = db::optional_text(row[3]);
  webhook.partner_id = db::optional_text(row[4]);
  webhook.status = row[5].c_str();
  webhook.created_at = db::time_of(row[6]);
  webhook.created_by = row[7].c_str();
  return webhook;
}

// A JSON string literal of text that is ours (types, ids, RFC 3339 times: no escapes needed
// beyond quotes and backslashes, which they never hold).
std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

}  // namespace

bool is_event_type(std::string_view type) {
  return std::find(std::begin(event_types), std::end(event_types), type) != std::end(event_types);
}

bool is_partner_event_type(std::string_view type) {
  return type == "exchange.completed" || type == "right.claimed" || type == "statement.closed";
}

std::vector<std::int64_t> record(pqxx::transaction_base& txn, const std::vector<NewEvent>& events) {
  std::vector<std::int64_t> event_ids;
  if (events.empty()) return event_ids;
  const auto rows = db::exec(txn, insert_events, db::array_literal(events, [](const NewEvent& e) { return e.type; }),
                             db::array_literal(events, [](const NewEvent& e) { return db::sql_time(e.occurred_at); }),
                             db::array_literal(events, [](const NewEvent& e) { return e.member_id; }),
                             db::array_literal(events, [](const NewEvent& e) { return e.partner_id; }),
                             db::array_literal(events, [](const NewEvent& e) { return e.data_json; }));
  // Rows are inserted in the order given and take their identity values as they are inserted,
  // so ascending ids are that order (RETURNING itself promises no order).
  for (const auto& row : rows) event_ids.push_back(row[0].as<std::int64_t>());
  std::sort(event_ids.begin(), event_ids.end());
  LOYALTY_ASSERT(event_ids.size() == events.size(), "an event id for every event");
  return event_ids;
}

std::optional<Sequenced> sequence(pqxx::connection& connection, std::chrono::seconds retry_window, int limit) {
  pqxx::work txn{connection, "outbox_sequence"};
  if (!db::exec(txn, try_lock_sequencer, sequencer_lock_key())[0][0].as<bool>()) return std::nullopt;
  const auto row = db::exec(txn, sequence_events, limit, static_cast<std::int64_t>(retry_window.count()))[0];
  txn.commit();
  return Sequenced{row[0].as<std::int64_t>(), row[1].as<std::int64_t>()};
}

std::string public_event_id(std::int64_t event_id) {
  return "evt_" + std::to_string(event_id);
}

std::string delivery_body(const Event& event) {
  return "{\"type\":" + quoted(event.type) + ",\"timestamp\":" + quoted(format_rfc3339(event.occurred_at)) +
         ",\"data\":" + event.data_json + "}";
}

std::vector<Event> read_feed(pqxx::transaction_base& txn, std::int64_t after, const std::vector<std::string>& types,
                             int limit) {
  const std::optional<std::string> type_filter = types.empty() ? std::nullopt : std::optional(db::array_literal(types));
  std::vector<Event> events;
  for (const auto& row : db::exec(txn, select_feed, after, db::nullable(type_filter), limit)) {
    events.push_back(
        {row[0].as<std::int64_t>(), row[1].as<std::int64_t>(), row[2].c_str(), db::time_of(row[3]), row[4].c_str()});
  }
  return events;
}

Webhook create_webhook(pqxx::transaction_base& txn, const NewWebhook& webhook, Timestamp now) {
  // Waits for a sequencer that is running: the endpoint then starts after every position given.
  db::exec(txn, lock_sequencer, sequencer_lock_key());
  const std::string webhook_id = new_id("wh_");
  db::exec(txn, insert_webhook, webhook_id, webhook.url, db::array_literal(webhook.event_types),
           db::nullable(webhook.description), db::nullable(webhook.partner_id), db::sql_time(now), webhook.created_by);
  return Webhook{webhook_id, webhook.url, webhook.event_types, webhook.description, webhook.partner_id,
                 "enabled",  now,         webhook.created_by};
}

std::optional<Webhook> find_webhook(pqxx::transaction_base& txn, const std::string& webhook_id) {
  const auto rows = db::exec(txn, select_webhook, webhook_id);
  if (rows.empty()) return std::nullopt;
  return webhook_of(rows[0]);
}

WebhookPage list_webhooks(pqxx::transaction_base& txn, const std::optional<std::string>& partner_id,
                          std::optional<std::int64_t> before, int limit) {
  WebhookPage page;
  std::int64_t last = 0;
  for (const auto& row : db::exec(txn, select_webhooks, before.value_or(std::numeric_limits<std::int64_t>::max()),
                                  db::nullable(partner_id), limit)) {
    page.items.push_back(webhook_of(row));
    last = row[8].as<std::int64_t>();
  }
  if (static_cast<int>(page.items.size()) == limit) page.next_before = last;
  return page;
}

std::optional<Webhook> set_webhook_status(pqxx::transaction_base& txn, const std::string& webhook_id,
                                          const std::string& status, Timestamp now) {
  const auto rows = db::exec(txn, update_webhook_status, webhook_id, status);
  if (rows.empty()) return std::nullopt;
  if (status == "deleted") db::exec(txn, drop_pending_deliveries, webhook_id, db::sql_time(now));
  return webhook_of(rows[0]);
}

AttemptPage list_attempts(pqxx::transaction_base& txn, const std::string& webhook_id,
                          const std::optional<std::string>& outcome, std::optional<std::int64_t> before, int limit) {
  AttemptPage page;
  for (const auto& row : db::exec(txn, select_attempts, webhook_id, db::nullable(outcome),
                                  before.value_or(std::numeric_limits<std::int64_t>::max()), limit)) {
    Attempt attempt;
    attempt.attempt_id = row[0].as<std::int64_t>();
    attempt.event_id = row[1].as<std::int64_t>();
    attempt.event_type = row[2].c_str();
    attempt.attempt = row[3].as<int>();
    attempt.attempted_at = db::time_of(row[4]);
    attempt.duration_ms = row[5].as<int>();
    if (!row[6].is_null()) attempt.status_code = row[6].as<int>();
    attempt.error = db::optional_text(row[7]);
    attempt.outcome = row[8].c_str();
    page.items.push_back(std::move(attempt));
  }
  if (static_cast<int>(page.items.size()) == limit) page.next_before = page.items.back().attempt_id;
  return page;
}

std::int64_t redeliver(pqxx::transaction_base& txn, const std::string& webhook_id, Timestamp from, Timestamp now,
                       std::chrono::seconds retry_window) {
  return db::exec(txn, redeliver_events, webhook_id, db::sql_time(from), db::sql_time(now),
                  static_cast<std::int64_t>(retry_window.count()))[0][0]
      .as<std::int64_t>();
}

Backlog backlog(pqxx::transaction_base& txn, Timestamp now) {
  const auto row = db::exec(txn, select_backlog)[0];
  Backlog result{row[0].as<std::int64_t>(), row[1].as<std::int64_t>(), 0};
  if (!row[2].is_null()) {
    result.oldest_undelivered_seconds = std::max(0.0, std::chrono::duration<double>(now - db::time_of(row[2])).count());
  }
  return result;
}

}  // namespace loyalty::outbox
