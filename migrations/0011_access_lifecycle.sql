-- Access: API keys that expire and are revoked by someone, refused authentications counted
-- per minute instead of one audit row each, and job runs that name who started them.

-- A key's place in GET /v1/keys (newest first) and its cursor; existing keys are numbered in
-- the order the table holds them.
ALTER TABLE api_keys ADD COLUMN key_number bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX api_keys_key_number ON api_keys (key_number);
-- NULL: the key never expires. A key is refused from this moment on.
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
-- Who made and who revoked the key ("key:key_… (name)", "operator:alice").
ALTER TABLE api_keys ADD COLUMN created_by text;
ALTER TABLE api_keys ADD COLUMN revoked_by text;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_revoked_by_with_revoked_at
    CHECK (revoked_by IS NULL OR revoked_at IS NOT NULL);

-- Refused authentications (401) and authorizations (403), counted per source address, key,
-- refusal, route and minute. A flood of made-up keys adds to a few counters instead of
-- writing one permanent row per request into the sealed audit trail. `key_id` is '' unless
-- the request named a key that exists (an attacker's made-up ids are not kept). Written by
-- loyaltyd's refusal recorder on a connection of its own, never by a request's worker.
CREATE TABLE auth_refusals (
    window_start    timestamptz NOT NULL,
    source_address  text NOT NULL,
    key_id          text NOT NULL,
    code            text NOT NULL,
    route           text NOT NULL,
    refusals        bigint NOT NULL CHECK (refusals > 0),
    first_at        timestamptz NOT NULL,
    last_at         timestamptz NOT NULL,
    PRIMARY KEY (window_start, source_address, key_id, code, route)
);
CREATE INDEX auth_refusals_key ON auth_refusals (key_id, window_start) WHERE key_id <> '';

-- Who started a run: "key:key_… (name)" over HTTP, "operator:alice" from loyaltyctl,
-- "scheduler" for loyaltyd's own schedule. NULL for runs recorded before this column.
ALTER TABLE job_runs ADD COLUMN started_by text;

-- Least privilege (docs/ARCHITECTURE.md, "Database roles"). Migrations run as the owner of
-- the tables, the role that runs `loyaltyctl migrate`; loyaltyd connects as a member of
-- loyalty_app, which may read and write the working tables but never UPDATE, DELETE or
-- TRUNCATE the immutable ones, nor change schema_migrations, and, owning nothing, cannot
-- disable a trigger. The role is made here only where the migrating role may create roles
-- (on a managed server a DBA makes it, then runs this file's grants again by hand).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'loyalty_app')
     AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
    BEGIN
      CREATE ROLE loyalty_app NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;  -- roles are per cluster: another database's migration made it meanwhile
    END;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'loyalty_app') THEN
    GRANT USAGE ON SCHEMA public TO loyalty_app;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO loyalty_app;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO loyalty_app;
    REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM loyalty_app;
    REVOKE UPDATE, DELETE ON entries, postings, audit_events, audit_seals, audit_seal_log,
        partner_statements, partner_statement_acks FROM loyalty_app;
    -- Tables and sequences later migrations create: readable and writable by default; a
    -- later immutable table must REVOKE UPDATE, DELETE from loyalty_app itself.
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO loyalty_app;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO loyalty_app;
  END IF;
END
$$;
