-- Bringing a program's history in: `loyaltyctl import members|balances|events`
-- (docs/operations/import.md).
--
--   * Opening balances are entries of kind opening_balance, each a credit of the member's
--     available POINTS funded from system:migration, so that the migrated liability shows in
--     the trial balance and in the liability report (as a funding account). The row's import_id
--     is the entry's reference, at most once.
--   * A past event imported with --history-only awards nothing, but what the rules would have
--     given it counts in tier windows and caps: history_awards keeps those amounts (no entry,
--     no lot, no campaign bonus) and the daily aggregates of migrations/0010 follow them as they
--     follow event_awards, also when the event is reversed.
--   * import_runs remembers, per file (by checksum), the last line of the last committed batch,
--     so that a run stopped midway resumes after it instead of checking every row again.

INSERT INTO accounts (name, asset, balance_maintained) VALUES ('system:migration', 'POINTS', false);

CREATE UNIQUE INDEX entries_opening_balance_once ON entries (reference) WHERE kind = 'opening_balance';

CREATE TABLE history_awards (
    event_id     text NOT NULL REFERENCES events (event_id),
    position     smallint NOT NULL,
    member_id    text NOT NULL REFERENCES members (member_id),
    rule_id      text NOT NULL,
    asset        text NOT NULL REFERENCES assets (code),
    amount       bigint NOT NULL CHECK (amount > 0),
    occurred_at  timestamptz NOT NULL,
    PRIMARY KEY (event_id, position)
);

-- As event_awards_inserted_days (0013): GROWTH adds to its day; each rule counts the event once.
CREATE FUNCTION history_awards_inserted_days() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO member_growth_days AS d (member_id, day, growth)
    SELECT member_id, utc_day(occurred_at), sum(amount)
      FROM inserted_awards
     WHERE asset = 'GROWTH'
     GROUP BY 1, 2
     ORDER BY 1, 2
    ON CONFLICT (member_id, day) DO UPDATE SET growth = d.growth + EXCLUDED.growth;

    INSERT INTO member_rule_days AS d (member_id, rule_id, day, events)
    SELECT member_id, rule_id, utc_day(occurred_at), count(DISTINCT event_id)
      FROM inserted_awards
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3
    ON CONFLICT (member_id, rule_id, day) DO UPDATE SET events = d.events + EXCLUDED.events;
    RETURN NULL;
END
$$;
CREATE TRIGGER history_awards_inserted_days AFTER INSERT ON history_awards
    REFERENCING NEW TABLE AS inserted_awards
    FOR EACH STATEMENT EXECUTE FUNCTION history_awards_inserted_days();

-- A reversed history-only event leaves the windows and caps as its awards would (0010).
CREATE FUNCTION events_history_reversed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM add_growth_day(NEW.member_id, NEW.occurred_at, -g.amount::bigint)
       FROM (SELECT sum(amount) AS amount FROM history_awards
              WHERE event_id = NEW.event_id AND asset = 'GROWTH') g
      WHERE g.amount IS NOT NULL AND g.amount <> 0;
    PERFORM add_rule_day(NEW.member_id, r.rule_id, NEW.occurred_at, -1)
       FROM (SELECT DISTINCT rule_id FROM history_awards WHERE event_id = NEW.event_id) r;
    RETURN NULL;
END
$$;
CREATE TRIGGER events_history_reversed AFTER UPDATE OF reversed_at ON events
    FOR EACH ROW WHEN (OLD.reversed_at IS NULL AND NEW.reversed_at IS NOT NULL AND NEW.entry_id IS NULL)
    EXECUTE FUNCTION events_history_reversed();

CREATE TABLE import_runs (
    kind          text NOT NULL CHECK (kind IN ('members', 'balances', 'events', 'events_history')),
    file_sha256   text NOT NULL CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    file_name     text NOT NULL,
    lines_done    bigint NOT NULL DEFAULT 0,   -- the last line of the last committed batch
    applied       bigint NOT NULL DEFAULT 0,
    skipped       bigint NOT NULL DEFAULT 0,
    rejected      bigint NOT NULL DEFAULT 0,
    started_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    PRIMARY KEY (kind, file_sha256)
);
