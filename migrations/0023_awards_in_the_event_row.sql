-- An event's awards are kept in the event's own row, not in a table of their own.
--
-- An earn batch inserted its events and then, in a second statement, their awards: one row per
-- award with a primary key, two foreign-key checks and a statement trigger of its own for the
-- daily aggregates. Written in the event row they cost the batch one statement, one trigger,
-- two checks per award and one index per event less. Measured by leaving the awards out
-- entirely (bench/README.md, "Awards in the event row"): 14-16 % of the database's CPU per
-- event at 8 and 32 clients, which bounds what this saves.
--
-- Readers are unchanged: event_awards is now a view with the columns of the table it replaces
-- (event_id, position, member_id, rule_id, campaign_id, asset, amount, occurred_at,
-- pending_until), so the event read-back, partial reversals, finance reports, the reversal
-- triggers of 0010 and the tests' invariants read it as before.
--
-- What the table's constraints enforced still holds:
--   * an award belongs to its event and its event's member: it is part of the event's row;
--   * an award's amount is positive and names a rule: events_awards_valid (CHECK);
--   * an award's asset exists: checked per statement by events_inserted_days over the inserted
--     events, and an asset that an award names cannot disappear (assets are never deleted: an
--     award credits an account of its asset, and accounts reference assets);
--   * awards never change: events_awards_immutable refuses an UPDATE of the column (a
--     reversal changes reversed_at and reversed_cents, never the awards);
--   * a clawback names an award of its event: event_award_clawbacks_award_exists.

CREATE TYPE event_award AS (
    rule_id        text,
    campaign_id    text,
    asset          text,
    amount         bigint,
    pending_until  timestamptz
);

CREATE FUNCTION event_awards_valid(awards event_award[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(bool_and(a.rule_id IS NOT NULL AND a.asset IS NOT NULL AND a.amount > 0), true)
      FROM unnest(awards) AS a
$$;

ALTER TABLE events ADD COLUMN awards event_award[] NOT NULL DEFAULT '{}';

-- The awards written so far move into their events' rows, in position order.
UPDATE events e
   SET awards = a.awards
  FROM (SELECT event_id,
               array_agg(ROW(rule_id, campaign_id, asset, amount, pending_until)::event_award ORDER BY position) AS awards
          FROM event_awards GROUP BY event_id) a
 WHERE a.event_id = e.event_id;

ALTER TABLE events ADD CONSTRAINT events_awards_valid CHECK (event_awards_valid(awards));

-- Clawbacks named (event_id, position) of the table; they now name their event, and a trigger
-- checks that the position is one of its awards.
ALTER TABLE event_award_clawbacks DROP CONSTRAINT event_award_clawbacks_event_id_position_fkey;
ALTER TABLE event_award_clawbacks
    ADD CONSTRAINT event_award_clawbacks_event_id_fkey FOREIGN KEY (event_id) REFERENCES events (event_id);

CREATE FUNCTION event_award_clawbacks_check_award() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM events
                    WHERE event_id = NEW.event_id AND NEW.position >= 0 AND NEW.position < cardinality(awards)) THEN
        RAISE EXCEPTION 'event % has no award at position %', NEW.event_id, NEW.position
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER event_award_clawbacks_award_exists BEFORE INSERT OR UPDATE OF event_id, position
    ON event_award_clawbacks
    FOR EACH ROW EXECUTE FUNCTION event_award_clawbacks_check_award();

CREATE FUNCTION events_refuse_awards_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the awards of event % never change', OLD.event_id
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER events_awards_immutable BEFORE UPDATE OF awards ON events
    FOR EACH ROW WHEN (OLD.awards IS DISTINCT FROM NEW.awards)
    EXECUTE FUNCTION events_refuse_awards_change();

-- The table goes, with its trigger (0013), its foreign keys and the unique (event_id,
-- member_id) of events that only its foreign key used (0020).
DROP TABLE event_awards;
DROP FUNCTION event_awards_inserted_days();
ALTER TABLE events DROP CONSTRAINT events_event_member_key;

CREATE VIEW event_awards AS
SELECT e.event_id, (a.ordinality - 1)::smallint AS position, e.member_id, a.rule_id, a.campaign_id, a.asset,
       a.amount, e.occurred_at, a.pending_until
  FROM events e
 CROSS JOIN LATERAL unnest(e.awards) WITH ORDINALITY AS a(rule_id, campaign_id, asset, amount, pending_until, ordinality);
COMMENT ON VIEW event_awards IS
    'One row per award of an event (events.awards, 0023), with the columns of the table it replaced.';

-- The events' statement trigger keeps all three daily aggregates now: the spend of the events
-- (as in 0013), the GROWTH of their awards, and each rule with a base award counting its event
-- once (as event_awards_inserted_days did). It also checks the awards' assets.
CREATE OR REPLACE FUNCTION events_inserted_days() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    unknown text;
BEGIN
    SELECT a.asset INTO unknown
      FROM inserted_events e CROSS JOIN LATERAL unnest(e.awards) AS a
     WHERE NOT EXISTS (SELECT 1 FROM assets s WHERE s.code = a.asset)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'an award names asset %, which does not exist', unknown
            USING ERRCODE = 'foreign_key_violation';
    END IF;

    INSERT INTO member_spend_days AS d (member_id, day, type, spend_cents)
    SELECT member_id, utc_day(occurred_at), type, sum(coalesce(amount_cents, 0) - reversed_cents)
      FROM inserted_events
     WHERE reversed_at IS NULL
     GROUP BY 1, 2, 3
    HAVING sum(coalesce(amount_cents, 0) - reversed_cents) <> 0
     ORDER BY 1, 2, 3
    ON CONFLICT (member_id, day, type) DO UPDATE SET spend_cents = d.spend_cents + EXCLUDED.spend_cents;

    INSERT INTO member_growth_days AS d (member_id, day, growth)
    SELECT e.member_id, utc_day(e.occurred_at), sum(a.amount)
      FROM inserted_events e CROSS JOIN LATERAL unnest(e.awards) AS a
     WHERE a.asset = 'GROWTH'
     GROUP BY 1, 2
     ORDER BY 1, 2
    ON CONFLICT (member_id, day) DO UPDATE SET growth = d.growth + EXCLUDED.growth;

    INSERT INTO member_rule_days AS d (member_id, rule_id, day, events)
    SELECT e.member_id, a.rule_id, utc_day(e.occurred_at), count(DISTINCT e.event_id)
      FROM inserted_events e CROSS JOIN LATERAL unnest(e.awards) AS a
     WHERE a.campaign_id IS NULL
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3
    ON CONFLICT (member_id, rule_id, day) DO UPDATE SET events = d.events + EXCLUDED.events;
    RETURN NULL;
END
$$;
