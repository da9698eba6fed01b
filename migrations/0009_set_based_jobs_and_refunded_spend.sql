-- Jobs that work over millions of rows, refunds that lower the spend tiers count, the holds
-- that belong to orders, and exports whose process stopped.

-- A job's run remembers where its last chunk stopped, for steps that walk their items in key
-- order (evaluate-tiers): each chunk starts after the previous one instead of scanning
-- everything already judged again, and a run that stops midway resumes there.
ALTER TABLE job_runs ADD COLUMN cursor text;

-- expire-points takes due lots in this order, so a member's lots of one expiry month are
-- adjacent (one expiry entry for them) and each chunk reads only the lots it expires: lots
-- it has expired leave the index.
DROP INDEX lots_expiring;
CREATE INDEX lots_expiring ON lots (expires_at, member_id, lot_id) WHERE remaining > 0 AND pending_until IS NULL;
-- release-pending likewise.
DROP INDEX lots_pending;
CREATE INDEX lots_pending ON lots (pending_until, member_id, lot_id) WHERE pending_until IS NOT NULL;

-- The cash of an event that refunds have taken back (a mall order refunded in part): the
-- event's spend for tier tracks is amount_cents - reversed_cents. Written in the same
-- transaction as the partial reversal that clawed back the earn on that cash.
ALTER TABLE events ADD COLUMN reversed_cents bigint NOT NULL DEFAULT 0
    CHECK (reversed_cents >= 0 AND reversed_cents <= coalesce(amount_cents, 0));

-- The holds API asks whether a hold belongs to an order (an order's hold moves only with it).
CREATE INDEX orders_hold ON orders (hold_id) WHERE hold_id IS NOT NULL;

-- Never written: a track's spend is computed from events (amount_cents - reversed_cents),
-- never copied onto awards.
ALTER TABLE event_awards DROP COLUMN qualifying_spend_cents;
COMMENT ON TABLE member_tiers IS
    'Levels per member and track. Qualifying values are never stored: spend is computed from events, engagement from event_awards (GROWTH), over the track''s window.';

-- The process building an export holds a session advisory lock on this key for as long as
-- it lives; a `running` export whose key nobody holds was left by a process that stopped.
ALTER TABLE exports ADD COLUMN runner_key bigint;
