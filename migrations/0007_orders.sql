-- Mall orders (mall/): an order paid with points and cash, its lines, its refunds, and every
-- ledger entry it caused; and partial clawbacks of an event's awards
-- (earning/partial_reversal.cpp), which a refund of part of an order needs.
--
-- Value moves only through entries (migrations/0001). These tables record what the order
-- protocol needs around them: what was bought at which price, how it was paid, which
-- refund_id returned what, and the cumulative share of an event's earn clawed back so far.

-- One row per order. The order_id is the caller's and is its own idempotency key; the
-- request's hash tells a replay from a different order with the same id. The amounts are the
-- order's own terms (point_value_cents is copied from the program in force at creation), so a
-- refund never depends on a later program change.
CREATE TABLE orders (
    order_id             text PRIMARY KEY CHECK (order_id ~ '^[A-Za-z0-9_.:-]{1,120}$'),
    member_id            text NOT NULL REFERENCES members (member_id),
    currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_cents          bigint NOT NULL CHECK (total_cents > 0),
    points_to_use        bigint NOT NULL CHECK (points_to_use >= 0),
    point_value_cents    bigint NOT NULL CHECK (point_value_cents > 0),
    cash_cents           bigint NOT NULL CHECK (cash_cents >= 0),
    -- pending_payment past expires_at reads as expired; the row is never rewritten for it.
    status               text NOT NULL CHECK (status IN ('pending_payment', 'paid', 'partially_refunded',
                                                         'refunded', 'cancelled')),
    hold_id              text REFERENCES holds (hold_id),   -- null when points_to_use = 0
    expires_at           timestamptz NOT NULL,
    request_sha256       text NOT NULL,
    created_at           timestamptz NOT NULL,
    payment_ref          text CHECK (length(payment_ref) BETWEEN 1 AND 200),
    paid_at              timestamptz,
    cancelled_at         timestamptz,
    earn_event_id        text REFERENCES events (event_id), -- null when cash_cents = 0
    refunded_points      bigint NOT NULL DEFAULT 0 CHECK (refunded_points BETWEEN 0 AND points_to_use),
    refunded_cash_cents  bigint NOT NULL DEFAULT 0 CHECK (refunded_cash_cents BETWEEN 0 AND cash_cents),
    refunded_value_cents bigint NOT NULL DEFAULT 0 CHECK (refunded_value_cents BETWEEN 0 AND total_cents),
    CHECK ((status IN ('pending_payment', 'cancelled')) = (paid_at IS NULL)),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL)),
    CHECK (status <> 'refunded' OR (refunded_points = points_to_use AND refunded_cash_cents = cash_cents))
);
CREATE INDEX orders_member ON orders (member_id, created_at);

CREATE TABLE order_lines (
    order_id           text NOT NULL REFERENCES orders (order_id),
    position           smallint NOT NULL CHECK (position >= 0),
    sku                text NOT NULL CHECK (sku ~ '^[A-Za-z0-9_.:/-]{1,64}$'),
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    quantity           bigint NOT NULL CHECK (quantity > 0),
    unit_price_cents   bigint NOT NULL CHECK (unit_price_cents > 0),
    refunded_quantity  bigint NOT NULL DEFAULT 0 CHECK (refunded_quantity BETWEEN 0 AND quantity),
    PRIMARY KEY (order_id, position),
    UNIQUE (order_id, sku)
);

-- A refund_id is unique across all orders; its request hash covers the order id and lines.
CREATE TABLE order_refunds (
    refund_id          text PRIMARY KEY CHECK (refund_id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    order_id           text NOT NULL REFERENCES orders (order_id),
    request_sha256     text NOT NULL,
    value_cents        bigint NOT NULL CHECK (value_cents > 0),
    points             bigint NOT NULL CHECK (points >= 0),          -- returned, in all
    points_expired     bigint NOT NULL CHECK (points_expired BETWEEN 0 AND points),  -- of which to breakage
    cash_cents         bigint NOT NULL CHECK (cash_cents >= 0),
    order_status_after text NOT NULL,
    refund_entry_id    bigint REFERENCES entries (entry_id),         -- null when no points went back
    clawback_entry_id  bigint REFERENCES entries (entry_id),         -- null when nothing was clawed back
    created_at         timestamptz NOT NULL
);
CREATE INDEX order_refunds_order ON order_refunds (order_id, created_at);

CREATE TABLE order_refund_lines (
    refund_id   text NOT NULL REFERENCES order_refunds (refund_id),
    position    smallint NOT NULL,
    sku         text NOT NULL,
    quantity    bigint NOT NULL CHECK (quantity > 0),
    value_cents bigint NOT NULL CHECK (value_cents > 0),
    points      bigint NOT NULL CHECK (points >= 0),
    cash_cents  bigint NOT NULL CHECK (cash_cents >= 0),
    PRIMARY KEY (refund_id, position)
);

-- What a refund's clawback took back (or, under cap_at_balance, wrote off), per asset.
CREATE TABLE order_refund_clawbacks (
    refund_id    text NOT NULL REFERENCES order_refunds (refund_id),
    asset        text NOT NULL REFERENCES assets (code),
    clawed_back  bigint NOT NULL CHECK (clawed_back >= 0),
    written_off  bigint NOT NULL CHECK (written_off >= 0),
    PRIMARY KEY (refund_id, asset)
);

-- Every ledger entry an order caused, with its role in the order. The release of a hold that
-- lapsed is written by the ledger, not by the order; GET /v1/orders/{id} adds it from holds.
CREATE TABLE order_entries (
    order_id   text NOT NULL REFERENCES orders (order_id),
    entry_id   bigint NOT NULL REFERENCES entries (entry_id),
    role       text NOT NULL CHECK (role IN ('hold', 'capture', 'release', 'earn', 'refund', 'clawback')),
    refund_id  text,
    PRIMARY KEY (order_id, entry_id)
);

-- Partial clawbacks of an event's awards. `settled` is, per award, the cumulative amount
-- clawed back or written off so far: each partial reversal brings it up to
-- floor(award × numerator / denominator), so repeating a fraction claws back nothing more.
CREATE TABLE event_award_clawbacks (
    event_id  text NOT NULL,
    position  smallint NOT NULL,
    settled   bigint NOT NULL CHECK (settled >= 0),
    PRIMARY KEY (event_id, position),
    FOREIGN KEY (event_id, position) REFERENCES event_awards (event_id, position)
);

-- One row per partial reversal that posted an entry: the fraction it brought the event to.
CREATE TABLE event_partial_reversals (
    entry_id     bigint PRIMARY KEY REFERENCES entries (entry_id),
    event_id     text NOT NULL REFERENCES events (event_id),
    numerator    bigint NOT NULL CHECK (numerator >= 0),
    denominator  bigint NOT NULL CHECK (denominator > 0 AND numerator <= denominator),
    reason       text NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE INDEX event_partial_reversals_event ON event_partial_reversals (event_id);
