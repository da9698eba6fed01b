-- Partner brands: the partners registered through the admin API (the program document's
-- partners live in program_versions), their signing keys and nonces, member links,
-- exchanges in both directions with their daily limits, rights and their claims, settlement
-- statements, and our own signing keys' public halves.
--
-- Value moves only through entries (migrations/0001); these tables record what the partner
-- protocol needs around them: who may sign, what was exchanged under which id, and what was
-- settled.

-- Partners added with POST /v1/partners. A partner named by the program in force is never
-- stored here: the program document is its definition.
CREATE TABLE partners (
    partner_id                      text PRIMARY KEY CHECK (partner_id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name                            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    asset                           text NOT NULL UNIQUE REFERENCES assets (code),
    inbound_points_per_unit         bigint NOT NULL CHECK (inbound_points_per_unit > 0),
    outbound_units_per_point_milli  bigint NOT NULL CHECK (outbound_units_per_point_milli > 0),
    cents_per_point                 bigint NOT NULL CHECK (cents_per_point >= 0),
    per_member_daily_points         bigint NOT NULL CHECK (per_member_daily_points > 0),
    per_day_points                  bigint NOT NULL CHECK (per_day_points > 0),
    created_at                      timestamptz NOT NULL DEFAULT now()
);

-- Rights added with POST /v1/partners/{id}/rights (the program's rights are in its document).
CREATE TABLE partner_rights (
    partner_id            text NOT NULL,
    code                  text NOT NULL CHECK (code ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    title                 text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    min_spend_level       text,
    min_engagement_level  text,
    quota_per_period      bigint NOT NULL CHECK (quota_per_period > 0),
    period                text NOT NULL CHECK (period IN ('day', 'month', 'year')),
    created_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, code),
    CHECK (min_spend_level IS NOT NULL OR min_engagement_level IS NOT NULL)
);

-- A partner's request-signing keys; several may be active at once (rotation). Revocation
-- sets revoked_at and is read on every request: nothing caches a key across requests.
CREATE TABLE partner_keys (
    key_id          text PRIMARY KEY CHECK (key_id ~ '^pkey_[a-z0-9]{20}$'),
    partner_id      text NOT NULL,
    algorithm       text NOT NULL CHECK (algorithm IN ('hmac-sha256', 'ed25519')),
    public_key_pem  text CHECK (length(public_key_pem) <= 4096),
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    CHECK ((algorithm = 'ed25519') = (public_key_pem IS NOT NULL))
);
CREATE INDEX partner_keys_partner ON partner_keys (partner_id);

-- HMAC-SHA256 verification needs the shared secret itself (a hash cannot verify a MAC), so
-- it is stored — apart from everything else, so that no report, export or listing ever
-- reads it, and without any grant beyond the owner. docs/api/partners.md explains the
-- choice; partners that can should use ed25519 keys, of which we hold only the public half.
CREATE TABLE partner_key_secrets (
    key_id  text PRIMARY KEY REFERENCES partner_keys (key_id),
    secret  bytea NOT NULL CHECK (length(secret) = 32)
);
REVOKE ALL ON partner_key_secrets FROM PUBLIC;

-- Nonces seen per partner, kept for the timestamp window (and purged after it by
-- close-statements). The primary key is what refuses a replay, in every process at once.
CREATE TABLE partner_nonces (
    partner_id  text NOT NULL,
    nonce       text NOT NULL CHECK (nonce ~ '^[A-Za-z0-9_-]{16,64}$'),
    seen_at     timestamptz NOT NULL,
    PRIMARY KEY (partner_id, nonce)
);
CREATE INDEX partner_nonces_seen_at ON partner_nonces (seen_at);

-- A member's account at a partner (the member's consent). Partners only ever see their ref.
CREATE TABLE partner_links (
    partner_id          text NOT NULL,
    partner_member_ref  text NOT NULL CHECK (partner_member_ref ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    member_id           text NOT NULL REFERENCES members (member_id),
    linked_at           timestamptz NOT NULL,
    PRIMARY KEY (partner_id, partner_member_ref),
    UNIQUE (partner_id, member_id)
);

-- Which UTC day each partner is settled through. Writers of settlement lines take this row
-- FOR SHARE and the close-statements job FOR UPDATE, so no line can land in a closed day:
-- a line whose day is already closed is settled on the first open day after it.
CREATE TABLE partner_settlement (
    partner_id      text PRIMARY KEY,
    closed_through  date NOT NULL
);

-- Exchanges. `scope` makes the exchange_id idempotent per caller: "in:<partner>" for a
-- partner's inbound exchanges, "out" for ours.
CREATE TABLE partner_exchanges (
    exchange_row        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope               text NOT NULL,
    exchange_id         text NOT NULL CHECK (exchange_id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    direction           text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    partner_id          text NOT NULL,
    member_id           text NOT NULL REFERENCES members (member_id),
    partner_member_ref  text NOT NULL,
    points              bigint NOT NULL CHECK (points > 0),
    units               bigint NOT NULL CHECK (units > 0),
    cents               bigint NOT NULL CHECK (cents >= 0),
    request_sha256      text NOT NULL,
    entry_id            bigint REFERENCES entries (entry_id),
    created_at          timestamptz NOT NULL,
    settlement_date     date NOT NULL,
    UNIQUE (scope, exchange_id)
);
CREATE INDEX partner_exchanges_settlement ON partner_exchanges (partner_id, settlement_date, exchange_row);

-- Points exchanged per partner, direction and UTC day: one row per member and one for the
-- partner as a whole (member_id ''). A conditional upsert keeps each under its limit.
CREATE TABLE partner_daily_totals (
    partner_id  text NOT NULL,
    direction   text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    day         date NOT NULL,
    member_id   text NOT NULL,
    points      bigint NOT NULL CHECK (points >= 0),
    PRIMARY KEY (partner_id, direction, day, member_id)
);

-- Claims of rights, idempotent per partner by claim_id.
CREATE TABLE partner_right_claims (
    partner_id          text NOT NULL,
    claim_id            text NOT NULL CHECK (claim_id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    right_code          text NOT NULL,
    member_id           text NOT NULL REFERENCES members (member_id),
    partner_member_ref  text NOT NULL,
    period_start        date NOT NULL,
    remaining_after     bigint NOT NULL CHECK (remaining_after >= 0),
    request_sha256      text NOT NULL,
    created_at          timestamptz NOT NULL,
    settlement_date     date NOT NULL,
    claim_row           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    PRIMARY KEY (partner_id, claim_id)
);
CREATE INDEX partner_right_claims_settlement ON partner_right_claims (partner_id, settlement_date, claim_row);

-- Quota used per member, right and period; a conditional upsert never passes the quota.
CREATE TABLE partner_right_usage (
    partner_id    text NOT NULL,
    right_code    text NOT NULL,
    member_id     text NOT NULL,
    period_start  date NOT NULL,
    used          bigint NOT NULL CHECK (used >= 0),
    PRIMARY KEY (partner_id, right_code, member_id, period_start)
);

-- Closed settlement statements: the exact JSON bytes partners were given, their hash and our
-- signature over them. Never updated or deleted.
CREATE TABLE partner_statements (
    statement_id    text PRIMARY KEY,
    partner_id      text NOT NULL,
    date            date NOT NULL,
    document        text NOT NULL,
    sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    signature       text,
    signing_key_id  text,
    net_cents       bigint NOT NULL,
    owed_by         text NOT NULL CHECK (owed_by IN ('partner', 'program', 'none')),
    closed_at       timestamptz NOT NULL,
    UNIQUE (partner_id, date)
);
CREATE TRIGGER partner_statements_immutable BEFORE UPDATE OR DELETE ON partner_statements
    FOR EACH ROW EXECUTE FUNCTION refuse_change_of_immutable_row();

-- Every acknowledgement a partner sent: a matching hash agrees, a mismatching one is a
-- dispute that blocks the statement. Append-only.
CREATE TABLE partner_statement_acks (
    ack_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    statement_id      text NOT NULL REFERENCES partner_statements (statement_id),
    partner_id        text NOT NULL,
    key_id            text NOT NULL,
    statement_sha256  text NOT NULL,
    matched           boolean NOT NULL,
    request_id        text,
    created_at        timestamptz NOT NULL
);
CREATE INDEX partner_statement_acks_statement ON partner_statement_acks (statement_id, ack_id);
CREATE TRIGGER partner_statement_acks_immutable BEFORE UPDATE OR DELETE ON partner_statement_acks
    FOR EACH ROW EXECUTE FUNCTION refuse_change_of_immutable_row();

-- The public halves of our Ed25519 signing keys (`loyaltyctl signing-key init` registers
-- them); GET /partner/v1/signing-keys serves every key not retired.
CREATE TABLE signing_keys (
    key_id          text PRIMARY KEY CHECK (key_id ~ '^sk_[0-9a-f]{16}$'),
    public_key_pem  text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz
);
