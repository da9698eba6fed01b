-- Audit and finance: tamper evidence over the ledger and the audit trail, exports for
-- finance, and the erasure of members' personal data.
--
-- Tamper evidence. A background sealer (audit/seal.cpp) appends every committed entry (with
-- its postings) and every audit event to audit_seal_log, one leaf per record, in a total
-- order, each leaf chained to the one before (RFC 6962-style domain-separated SHA-256:
-- leaf = H(0x00 || record), chain = H(0x01 || previous chain || leaf)). Writers never touch
-- these tables: the order is decided by the sealer after the fact, from the writers'
-- transaction ids. A record is sealed only once its transaction id is below the xmin of the
-- sealer's snapshot, so every transaction that could still add a record in front of it has
-- finished, and the order (created_xid, record_kind, record_id) never has to be revised.

-- The writing transaction of an audit event, like entries.created_xid.
ALTER TABLE audit_events ADD COLUMN created_xid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- The sealer walks both tables in transaction-id order.
CREATE INDEX entries_created_xid ON entries (created_xid, entry_id);
CREATE INDEX audit_events_created_xid ON audit_events (created_xid, audit_id);

-- One row per sealing run: the chain head after its last leaf.
CREATE TABLE audit_seals (
    seal_id      bigint PRIMARY KEY,
    first_seq    bigint NOT NULL,
    last_seq     bigint NOT NULL,
    head_sha256  bytea NOT NULL CHECK (length(head_sha256) = 32),
    sealed_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    sealed_by    text NOT NULL,
    CHECK (first_seq <= last_seq)
);

-- One leaf per sealed record, in chain order (seq 1, 2, ...).
CREATE TABLE audit_seal_log (
    seq           bigint PRIMARY KEY CHECK (seq > 0),
    record_kind   text NOT NULL CHECK (record_kind IN ('audit', 'entry')),
    record_id     bigint NOT NULL,
    created_xid   xid8 NOT NULL,
    leaf_sha256   bytea NOT NULL CHECK (length(leaf_sha256) = 32),
    chain_sha256  bytea NOT NULL CHECK (length(chain_sha256) = 32),
    seal_id       bigint NOT NULL REFERENCES audit_seals (seal_id),
    UNIQUE (record_kind, record_id)
);

CREATE TRIGGER audit_seals_immutable BEFORE UPDATE OR DELETE ON audit_seals
    FOR EACH ROW EXECUTE FUNCTION refuse_change_of_immutable_row();
CREATE TRIGGER audit_seal_log_immutable BEFORE UPDATE OR DELETE ON audit_seal_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change_of_immutable_row();

-- Exports requested through the API. The files are kept in the database (in chunks of at
-- most 1 MiB) so that any loyaltyd process serving this database can hand them out.
CREATE TABLE exports (
    export_id      text PRIMARY KEY CHECK (export_id ~ '^exp_[a-z0-9]{20}$'),
    range_from     timestamptz NOT NULL,
    range_to       timestamptz NOT NULL,
    formats        text[] NOT NULL,
    status         text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    requested_by   text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    error          text,
    CHECK (range_from < range_to)
);

CREATE TABLE export_files (
    export_id  text NOT NULL REFERENCES exports (export_id),
    name       text NOT NULL CHECK (name ~ '^[a-z_]+\.[a-z]+$'),
    bytes      bigint NOT NULL,
    sha256     text NOT NULL,
    PRIMARY KEY (export_id, name)
);

CREATE TABLE export_file_chunks (
    export_id  text NOT NULL,
    name       text NOT NULL,
    chunk      integer NOT NULL,
    content    bytea NOT NULL CHECK (length(content) <= 1048576),
    PRIMARY KEY (export_id, name, chunk)
);

-- Erasure of personal data keeps the member (and the ledger) under the pseudonymous id.
ALTER TABLE members ADD COLUMN personal_data_erased_at timestamptz;
