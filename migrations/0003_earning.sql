-- Earning: events, the awards they produced, lots of points with their expiry, campaign
-- budgets, GROWTH decay, and where held points came from.

-- Every event the program has seen, once. The event_id is its own idempotency key.
CREATE TABLE events (
    event_id         text PRIMARY KEY CHECK (length(event_id) BETWEEN 1 AND 128),
    member_id        text NOT NULL REFERENCES members (member_id),
    type             text NOT NULL CHECK (type ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    occurred_at      timestamptz NOT NULL,
    attributes       jsonb NOT NULL DEFAULT '{}'::jsonb,
    amount_cents     bigint CHECK (amount_cents >= 0),
    request_sha256   text NOT NULL,
    program_version  integer NOT NULL,
    entry_id         bigint REFERENCES entries (entry_id),  -- null when nothing was awarded
    received_at      timestamptz NOT NULL,
    reversed_at      timestamptz,
    reversal_entry_id bigint REFERENCES entries (entry_id),
    reversal_reason  text
);
CREATE INDEX events_member ON events (member_id, occurred_at);

-- One row per award: which rule (or campaign bonus) gave how much of which asset.
CREATE TABLE event_awards (
    event_id       text NOT NULL REFERENCES events (event_id),
    position       smallint NOT NULL,
    member_id      text NOT NULL REFERENCES members (member_id),
    rule_id        text NOT NULL,
    campaign_id    text,
    asset          text NOT NULL REFERENCES assets (code),
    amount         bigint NOT NULL CHECK (amount > 0),
    occurred_at    timestamptz NOT NULL,
    pending_until  timestamptz,
    qualifying_spend_cents bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, position)
);
-- Caps count a member's awards of a rule in a period of the event's own time.
CREATE INDEX event_awards_caps ON event_awards (member_id, rule_id, occurred_at);

-- Points are earned in lots. `remaining` is what is left to spend; spending takes from the
-- soonest-expiring lots first. A lot is pending (not spendable) until `pending_until`.
CREATE TABLE lots (
    lot_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id       text NOT NULL REFERENCES members (member_id),
    amount          bigint NOT NULL CHECK (amount > 0),
    remaining       bigint NOT NULL CHECK (remaining >= 0),
    earned_at       timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    pending_until   timestamptz,
    entry_id        bigint NOT NULL REFERENCES entries (entry_id),
    source          text NOT NULL,   -- earn, adjustment, refund, exchange, ...
    expired_entry_id bigint REFERENCES entries (entry_id),
    CHECK (remaining <= amount)
);
CREATE INDEX lots_spendable ON lots (member_id, expires_at, lot_id)
    WHERE remaining > 0 AND pending_until IS NULL;
CREATE INDEX lots_pending ON lots (pending_until) WHERE pending_until IS NOT NULL;
CREATE INDEX lots_expiring ON lots (expires_at) WHERE remaining > 0 AND pending_until IS NULL;

-- Which lots a hold took its points from, so that a void or a release gives them back to
-- the same lots (keeping their expiry).
CREATE TABLE hold_lots (
    hold_id  text NOT NULL REFERENCES holds (hold_id),
    lot_id   bigint NOT NULL REFERENCES lots (lot_id),
    amount   bigint NOT NULL CHECK (amount > 0),
    PRIMARY KEY (hold_id, lot_id)
);

-- A campaign's budget is split into shards so that concurrent awards do not all wait on
-- one row; the shards' budgets add up to the campaign's budget exactly.
CREATE TABLE campaign_budget_shards (
    campaign_id  text NOT NULL,
    shard        smallint NOT NULL,
    budget       bigint NOT NULL CHECK (budget >= 0),
    spent        bigint NOT NULL DEFAULT 0 CHECK (spent >= 0 AND spent <= budget),
    PRIMARY KEY (campaign_id, shard)
);

-- GROWTH decays once a year per member; the row makes the job idempotent.
CREATE TABLE growth_decays (
    member_id  text NOT NULL REFERENCES members (member_id),
    year       integer NOT NULL,
    amount     bigint NOT NULL CHECK (amount >= 0),
    entry_id   bigint REFERENCES entries (entry_id),
    PRIMARY KEY (member_id, year)
);

INSERT INTO accounts (name, asset, balance_maintained) VALUES
    ('system:growth-decay', 'GROWTH', false),
    ('system:clawback-writeoff', 'POINTS', false),
    ('system:clawback-writeoff', 'GROWTH', false);
