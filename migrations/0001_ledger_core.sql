-- The double-entry core: assets, accounts, immutable journal entries and their postings.
--
-- Invariants the database enforces here (the C++ code checks them first, so that a client
-- gets a clean error; these are the last line):
--   * every entry has at least two postings, and per asset its postings sum to zero
--     (deferred constraint trigger, checked at commit);
--   * postings can only be added in the transaction that created their entry;
--   * entries and postings are never updated, deleted or truncated;
--   * a member account's maintained balance never goes below zero through a debit,
--     unless the posting is a clawback that the program allows to create debt;
--   * a posting's asset is its account's asset.

CREATE TABLE assets (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9_]{0,31}$'),
    spendable   boolean NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO assets (code, spendable) VALUES ('POINTS', true), ('GROWTH', false);

CREATE TABLE members (
    member_id     text PRIMARY KEY CHECK (member_id ~ '^mem_[a-z0-9]{20}$'),
    external_id   text NOT NULL UNIQUE CHECK (length(external_id) BETWEEN 1 AND 128),
    display_name  text CHECK (length(display_name) <= 200),
    phone         text CHECK (length(phone) <= 32),
    created_at    timestamptz NOT NULL
);

-- A member holds one account per asset and balance part; system accounts (the adjustment
-- account, redemptions, funding accounts of campaigns, breakage, partner clearing) have a
-- name and no member. Only member accounts keep a maintained balance: system accounts are
-- touched by many concurrent writers, so their balance is derived from postings and no
-- writer ever waits on a system account row.
CREATE TABLE accounts (
    account_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 160),
    asset               text NOT NULL REFERENCES assets (code),
    member_id           text REFERENCES members (member_id),
    part                text CHECK (part IN ('available', 'pending', 'held')),
    balance_maintained  boolean NOT NULL,
    balance             bigint NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, asset),
    UNIQUE (account_id, asset),
    CHECK ((member_id IS NULL) = (part IS NULL)),
    CHECK (balance_maintained = (member_id IS NOT NULL)),
    CHECK (balance_maintained OR balance = 0)
);
CREATE UNIQUE INDEX accounts_member_part ON accounts (member_id, asset, part)
    WHERE member_id IS NOT NULL;

-- The ledger's own system accounts. Funding accounts of rules and campaigns are created when
-- a program is applied, partner clearing accounts when a partner is registered.
INSERT INTO accounts (name, asset, balance_maintained) VALUES
    ('system:adjustments', 'POINTS', false),
    ('system:adjustments', 'GROWTH', false),
    ('system:redemptions', 'POINTS', false),
    ('system:breakage', 'POINTS', false);

CREATE TABLE entries (
    entry_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind               text NOT NULL CHECK (kind ~ '^[a-z][a-z_]{0,39}$'),
    reverses_entry_id  bigint REFERENCES entries (entry_id),
    member_id          text REFERENCES members (member_id),
    reference          text CHECK (length(reference) <= 200),
    reason_code        text,
    note               text CHECK (length(note) <= 1000),
    program_version    integer,
    request_id         text,
    actor              text,
    effective_at       timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_xid        xid8 NOT NULL DEFAULT pg_current_xact_id()
);
-- An entry is reversed at most once.
CREATE UNIQUE INDEX entries_reversal_once ON entries (reverses_entry_id)
    WHERE reverses_entry_id IS NOT NULL;
CREATE INDEX entries_member ON entries (member_id, entry_id) WHERE member_id IS NOT NULL;
CREATE INDEX entries_effective_at ON entries (effective_at);

CREATE TABLE postings (
    posting_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id       bigint NOT NULL REFERENCES entries (entry_id),
    account_id     bigint NOT NULL,
    asset          text NOT NULL,
    amount         bigint NOT NULL CHECK (amount <> 0),
    balance_after  bigint,
    debt_allowed   boolean NOT NULL DEFAULT false,
    FOREIGN KEY (account_id, asset) REFERENCES accounts (account_id, asset)
);
CREATE INDEX postings_entry ON postings (entry_id);
CREATE INDEX postings_account ON postings (account_id, posting_id);

-- Applies a posting to its account's maintained balance and records the balance after it.
-- Runs for every posting, so the maintained balance can never drift from the postings.
CREATE FUNCTION postings_apply_to_balance() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    new_balance bigint;
BEGIN
    PERFORM 1 FROM entries
     WHERE entry_id = NEW.entry_id AND created_xid = pg_current_xact_id();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'postings can only be added with their entry (entry %)', NEW.entry_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    UPDATE accounts SET balance = balance + NEW.amount
     WHERE account_id = NEW.account_id AND balance_maintained
    RETURNING balance INTO new_balance;
    IF FOUND THEN
        IF new_balance < 0 AND NEW.amount < 0 AND NOT NEW.debt_allowed THEN
            RAISE EXCEPTION 'account % would go below zero (%)', NEW.account_id, new_balance
                USING ERRCODE = 'check_violation';
        END IF;
        NEW.balance_after := new_balance;
    ELSE
        NEW.balance_after := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER postings_apply_to_balance BEFORE INSERT ON postings
    FOR EACH ROW EXECUTE FUNCTION postings_apply_to_balance();

-- At commit: the entry has two or more postings and, per asset, they sum to zero.
CREATE FUNCTION entries_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    posting_count bigint;
    unbalanced_asset text;
BEGIN
    SELECT count(*) INTO posting_count FROM postings WHERE entry_id = NEW.entry_id;
    IF posting_count < 2 THEN
        RAISE EXCEPTION 'entry % has % postings; at least two are required',
            NEW.entry_id, posting_count USING ERRCODE = 'check_violation';
    END IF;
    SELECT asset INTO unbalanced_asset FROM postings WHERE entry_id = NEW.entry_id
     GROUP BY asset HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'entry % does not sum to zero in %', NEW.entry_id, unbalanced_asset
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER entries_balanced AFTER INSERT ON entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION entries_check_balanced();

CREATE FUNCTION refuse_change_of_immutable_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is immutable: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER entries_immutable BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION refuse_change_of_immutable_row();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_of_immutable_row();
CREATE TRIGGER postings_immutable BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION refuse_change_of_immutable_row();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_of_immutable_row();

-- Two-phase redemption. A hold moves points from the member's available part to the held
-- part; capture moves them to the redemptions account (the rest back to available); void and
-- expiry move them back. The row's status changes; the entries that moved value never do.
CREATE TABLE holds (
    hold_id          text PRIMARY KEY CHECK (hold_id ~ '^hold_[a-z0-9]{20}$'),
    member_id        text NOT NULL REFERENCES members (member_id),
    amount           bigint NOT NULL CHECK (amount > 0),
    captured_amount  bigint NOT NULL DEFAULT 0,
    status           text NOT NULL CHECK (status IN ('open', 'captured', 'voided', 'expired')),
    reference        text CHECK (length(reference) <= 200),
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    closed_at        timestamptz,
    open_entry_id    bigint NOT NULL REFERENCES entries (entry_id),
    close_entry_id   bigint REFERENCES entries (entry_id),
    CHECK (captured_amount BETWEEN 0 AND amount),
    CHECK ((status = 'open') = (close_entry_id IS NULL)),
    CHECK (status = 'captured' OR captured_amount = 0)
);
CREATE INDEX holds_open_by_member ON holds (member_id, expires_at) WHERE status = 'open';
CREATE INDEX holds_open_by_expiry ON holds (expires_at) WHERE status = 'open';

-- Versions of the program document (rules, tiers, assets, partners). Entries record the
-- version in force when they were written.
CREATE TABLE program_versions (
    version          integer PRIMARY KEY,
    program          text NOT NULL,
    document         jsonb NOT NULL,
    document_sha256  text NOT NULL,
    applied_at       timestamptz NOT NULL DEFAULT now(),
    applied_by       text NOT NULL
);
