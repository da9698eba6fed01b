-- The outbox: every change that someone outside must hear of (a member's tier changed, an
-- order was paid, a partner's exchange completed, ...) is written as an event row in the same
-- transaction as the change, so no change goes unreported and no event reports a change that
-- rolled back. Webhooks deliver the rows; GET /v1/feed serves them (docs/api/webhooks.md).
--
-- Changes made by the batch write path are reported by statement-level triggers with
-- transition tables: the batch's one multi-row INSERT of tier changes writes all of its events
-- in one more INSERT, whatever the batch's size. Jobs that report (points.expiring,
-- points.expired) and the job runner (job.failed) write their rows themselves.
--
-- Commit order. event_id is taken when the row is inserted, not when its transaction commits,
-- so a reader that paged by event_id could pass a row whose transaction was still open and
-- never see it. The sequencer (outbox/outbox.cpp) gives each committed row its `position`, one
-- transaction at a time under an advisory lock, in event_id order among the rows it sees: a
-- position is never given below one already given, so a cursor on positions never skips a
-- row. Events of one member or one order are written under that subject's row locks, so their
-- event_ids, and then their positions, follow their commit order.

-- RFC 3339 in UTC as the API writes it (format_rfc3339): ".ffffff" only when there is a fraction.
CREATE FUNCTION utc_text(instant timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN date_part('microseconds', instant)::bigint % 1000000 = 0
                THEN to_char(instant AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                ELSE to_char(instant AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END
$$;

CREATE TABLE outbox_events (
    event_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type         text NOT NULL CHECK (type IN ('member.tier_changed', 'points.expiring', 'points.expired',
                                               'order.paid', 'order.refunded', 'exchange.completed',
                                               'right.claimed', 'statement.closed', 'export.finished',
                                               'job.failed')),
    occurred_at  timestamptz NOT NULL,
    member_id    text,
    partner_id   text,    -- set when the event is about a partner: that partner's endpoints get it
    data         jsonb NOT NULL,
    position     bigint UNIQUE,          -- commit order, given once the row is committed
    sequenced_at timestamptz
);
CREATE INDEX outbox_events_unsequenced ON outbox_events (event_id) WHERE position IS NULL;
CREATE INDEX outbox_events_occurred ON outbox_events (occurred_at);

-- Webhook endpoints. A partner's endpoint (partner_id set) gets only events about that partner.
CREATE TABLE webhooks (
    webhook_id     text PRIMARY KEY CHECK (webhook_id ~ '^wh_[a-z0-9]{20}$'),
    webhook_row    bigint GENERATED ALWAYS AS IDENTITY UNIQUE,   -- list order
    url            text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
    event_types    text[] NOT NULL CHECK (cardinality(event_types) > 0),
    description    text CHECK (length(description) <= 500),
    partner_id     text,
    status         text NOT NULL CHECK (status IN ('enabled', 'disabled', 'deleted')),
    created_at     timestamptz NOT NULL,
    created_by     text NOT NULL,
    -- Events sequenced after this position are fanned out to it (those before it only by a
    -- redelivery).
    from_position  bigint NOT NULL,
    -- The process delivering to it now, until lease_until (outbox/dispatcher.hpp): one process
    -- at a time sends to an endpoint, so it gets its events in order and never twice at once.
    lease_owner    text,
    lease_until    timestamptz
);
CREATE INDEX webhooks_partner ON webhooks (partner_id) WHERE partner_id IS NOT NULL;

-- One row per event per endpoint. An endpoint gets its pending deliveries in position order:
-- the first pending one must be delivered (or fail for good) before the next is sent.
CREATE TABLE webhook_deliveries (
    webhook_id       text NOT NULL REFERENCES webhooks (webhook_id),
    position         bigint NOT NULL,
    event_id         bigint NOT NULL REFERENCES outbox_events (event_id),
    status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    -- Retries stop and the delivery fails once this passes (24 h after it was first due).
    retry_until      timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    PRIMARY KEY (webhook_id, position)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, position) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_oldest ON webhook_deliveries (created_at) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    attempt_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id    text NOT NULL REFERENCES webhooks (webhook_id),
    position      bigint NOT NULL,
    event_id      bigint NOT NULL REFERENCES outbox_events (event_id),
    attempt       integer NOT NULL,
    attempted_at  timestamptz NOT NULL,
    duration_ms   integer NOT NULL,
    status_code   integer,            -- null when no HTTP answer came (refused, timeout, TLS)
    error         text,
    outcome       text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed')),
    node          text NOT NULL
);
CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (webhook_id, attempt_id);

-- points.expiring: one notice per lot, ever.
CREATE TABLE lot_expiry_notices (
    lot_id       bigint PRIMARY KEY REFERENCES lots (lot_id),
    event_id     bigint NOT NULL REFERENCES outbox_events (event_id),
    noticed_at   timestamptz NOT NULL
);

-- ---- reporters --------------------------------------------------------------------------------

CREATE FUNCTION outbox_tier_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_events (type, occurred_at, member_id, data)
    SELECT 'member.tier_changed', c.changed_at, c.member_id,
           jsonb_strip_nulls(jsonb_build_object(
               'member_id', c.member_id, 'track', c.track, 'from_level', c.from_level,
               'to_level', c.to_level, 'reason', c.reason, 'qualifying_value', c.qualifying_value,
               'event_id', c.event_id, 'job', c.job, 'changed_at', utc_text(c.changed_at)))
      FROM inserted_changes c
     ORDER BY c.change_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_tier_changes AFTER INSERT ON tier_changes
    REFERENCING NEW TABLE AS inserted_changes
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_tier_changes();

CREATE FUNCTION outbox_order_paid() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_events (type, occurred_at, member_id, data)
    VALUES ('order.paid', NEW.paid_at, NEW.member_id,
            jsonb_strip_nulls(jsonb_build_object(
                'order_id', NEW.order_id, 'member_id', NEW.member_id, 'currency', NEW.currency,
                'total_cents', NEW.total_cents, 'points', NEW.points_to_use, 'cash_cents', NEW.cash_cents,
                'payment_ref', NEW.payment_ref, 'earn_event_id', NEW.earn_event_id,
                'paid_at', utc_text(NEW.paid_at))));
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_order_paid AFTER UPDATE OF status ON orders
    FOR EACH ROW WHEN (OLD.status = 'pending_payment' AND NEW.status = 'paid')
    EXECUTE FUNCTION outbox_order_paid();

CREATE FUNCTION outbox_order_refunded() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_events (type, occurred_at, member_id, data)
    SELECT 'order.refunded', NEW.created_at, o.member_id,
           jsonb_build_object(
               'order_id', NEW.order_id, 'refund_id', NEW.refund_id, 'member_id', o.member_id,
               'value_cents', NEW.value_cents, 'points', NEW.points, 'points_expired', NEW.points_expired,
               'cash_cents', NEW.cash_cents, 'order_status', NEW.order_status_after,
               'refunded_at', utc_text(NEW.created_at))
      FROM orders o WHERE o.order_id = NEW.order_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_order_refunded AFTER INSERT ON order_refunds
    FOR EACH ROW EXECUTE FUNCTION outbox_order_refunded();

CREATE FUNCTION outbox_exchanges() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_events (type, occurred_at, member_id, partner_id, data)
    SELECT 'exchange.completed', x.created_at, x.member_id, x.partner_id,
           jsonb_build_object(
               'exchange_id', x.exchange_id, 'direction', x.direction, 'partner_id', x.partner_id,
               'member_id', x.member_id, 'partner_member_ref', x.partner_member_ref,
               'points', x.points, 'partner_units', x.units, 'cents', x.cents,
               'settlement_date', x.settlement_date::text, 'completed_at', utc_text(x.created_at))
      FROM inserted_exchanges x
     ORDER BY x.exchange_row;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_exchanges AFTER INSERT ON partner_exchanges
    REFERENCING NEW TABLE AS inserted_exchanges
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_exchanges();

CREATE FUNCTION outbox_right_claims() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_events (type, occurred_at, member_id, partner_id, data)
    SELECT 'right.claimed', c.created_at, c.member_id, c.partner_id,
           jsonb_build_object(
               'claim_id', c.claim_id, 'partner_id', c.partner_id, 'right_code', c.right_code,
               'member_id', c.member_id, 'partner_member_ref', c.partner_member_ref,
               'period_start', c.period_start::text, 'remaining', c.remaining_after,
               'claimed_at', utc_text(c.created_at))
      FROM inserted_claims c
     ORDER BY c.claim_row;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_right_claims AFTER INSERT ON partner_right_claims
    REFERENCING NEW TABLE AS inserted_claims
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_right_claims();

CREATE FUNCTION outbox_statements() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_events (type, occurred_at, partner_id, data)
    SELECT 'statement.closed', s.closed_at, s.partner_id,
           jsonb_strip_nulls(jsonb_build_object(
               'statement_id', s.statement_id, 'partner_id', s.partner_id, 'date', s.date::text,
               'sha256', s.sha256, 'net_cents', s.net_cents, 'owed_by', s.owed_by,
               'signing_key_id', s.signing_key_id, 'closed_at', utc_text(s.closed_at)))
      FROM inserted_statements s
     ORDER BY s.partner_id, s.date;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_statements AFTER INSERT ON partner_statements
    REFERENCING NEW TABLE AS inserted_statements
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_statements();

CREATE FUNCTION outbox_export_finished() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_events (type, occurred_at, data)
    VALUES ('export.finished', coalesce(NEW.finished_at, now()),
            jsonb_strip_nulls(jsonb_build_object(
                'export_id', NEW.export_id, 'status', NEW.status, 'from', utc_text(NEW.range_from),
                'to', utc_text(NEW.range_to), 'formats', to_jsonb(NEW.formats),
                'requested_by', NEW.requested_by, 'error', NEW.error,
                'finished_at', utc_text(coalesce(NEW.finished_at, now())))));
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_export_finished AFTER UPDATE OF status ON exports
    FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status IN ('done', 'failed'))
    EXECUTE FUNCTION outbox_export_finished();

-- An event is never rewritten; only the sequencer gives it its position.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'loyalty_app') THEN
    REVOKE DELETE ON outbox_events, webhook_attempts, lot_expiry_notices FROM loyalty_app;
  END IF;
END
$$;
