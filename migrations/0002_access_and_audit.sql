-- API keys, idempotency records, the audit trail and job runs.

-- Secrets are 256-bit random values; only their SHA-256 is stored.
CREATE TABLE api_keys (
    key_id         text PRIMARY KEY CHECK (key_id ~ '^key_[a-z0-9]{20}$'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role           text NOT NULL CHECK (role IN ('mall', 'ingest', 'admin', 'finance')),
    secret_sha256  bytea NOT NULL CHECK (length(secret_sha256) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

-- One row per (caller, Idempotency-Key). The row is inserted first, in the same transaction
-- as the work it guards, so a concurrent request with the same key waits on the unique index
-- and then finds the committed answer. Refused requests roll back and leave no row.
CREATE TABLE idempotency_keys (
    caller          text NOT NULL,
    idempotency_key text NOT NULL CHECK (idempotency_key ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    request_sha256  bytea NOT NULL,
    status_code     integer NOT NULL,
    response_type   text NOT NULL,
    response        bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, idempotency_key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- Who did what, when, from where, with what result. Written in the transaction of the change.
CREATE TABLE audit_events (
    audit_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_kind      text NOT NULL CHECK (actor_kind IN ('api_key', 'partner', 'job', 'operator', 'anonymous')),
    actor_id        text,
    actor_name      text,
    action          text NOT NULL,
    subject         text,
    request_id      text,
    source_address  text,
    result          text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at, audit_id);
CREATE TRIGGER audit_events_immutable BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change_of_immutable_row();

-- A job run for one (job, as_of) is done once; the row is the proof and the summary.
CREATE TABLE job_runs (
    job          text NOT NULL,
    as_of        timestamptz NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at  timestamptz,
    items        bigint NOT NULL DEFAULT 0,
    summary      jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (job, as_of)
);
