-- The daily aggregates of 0010 follow inserts once per statement, not once per row.
--
-- The batch write path inserts every event (and every award) of a batch in one multi-row
-- statement. Row-level triggers then ran two or three upserts per row; a statement-level
-- trigger with a transition table runs one aggregated upsert per table per statement, so the
-- aggregates cost per batch, not per event. They are still kept by the database, in the same
-- transaction as the rows they summarise, so they cannot drift (the test invariant checker
-- recomputes them after every scenario).
--
-- Updates (reversals, refunds) keep their row-level triggers: they touch one event at a time,
-- and PostgreSQL allows transition tables only on triggers without a column list.
--
-- Upserts list their rows in key order, so two transactions that add to the same days take
-- the row locks in the same order (members are locked first anyway, docs/ARCHITECTURE.md
-- "Several processes, one lock order").

DROP TRIGGER events_maintain_days ON events;
CREATE TRIGGER events_maintain_days AFTER UPDATE OF reversed_at, reversed_cents ON events
    FOR EACH ROW EXECUTE FUNCTION events_maintain_days();

CREATE FUNCTION events_inserted_days() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO member_spend_days AS d (member_id, day, type, spend_cents)
    SELECT member_id, utc_day(occurred_at), type, sum(coalesce(amount_cents, 0) - reversed_cents)
      FROM inserted_events
     WHERE reversed_at IS NULL
     GROUP BY 1, 2, 3
    HAVING sum(coalesce(amount_cents, 0) - reversed_cents) <> 0
     ORDER BY 1, 2, 3
    ON CONFLICT (member_id, day, type) DO UPDATE SET spend_cents = d.spend_cents + EXCLUDED.spend_cents;
    RETURN NULL;
END
$$;
CREATE TRIGGER events_inserted_days AFTER INSERT ON events
    REFERENCING NEW TABLE AS inserted_events
    FOR EACH STATEMENT EXECUTE FUNCTION events_inserted_days();

DROP TRIGGER event_awards_maintain_days ON event_awards;
DROP FUNCTION event_awards_maintain_days();

-- GROWTH awards add to their day; a rule's first base award of an event counts the event once
-- (first: no base award of that event and rule has a lower position, in this statement or an
-- earlier one).
CREATE FUNCTION event_awards_inserted_days() RETURNS trigger
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
    SELECT f.member_id, f.rule_id, utc_day(f.occurred_at), count(*)
      FROM (SELECT DISTINCT ON (event_id, rule_id) event_id, rule_id, member_id, occurred_at, position
              FROM inserted_awards
             WHERE campaign_id IS NULL
             ORDER BY event_id, rule_id, position) f
     WHERE NOT EXISTS (SELECT 1 FROM event_awards a
                        WHERE a.event_id = f.event_id AND a.rule_id = f.rule_id
                          AND a.campaign_id IS NULL AND a.position < f.position)
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3
    ON CONFLICT (member_id, rule_id, day) DO UPDATE SET events = d.events + EXCLUDED.events;
    RETURN NULL;
END
$$;
CREATE TRIGGER event_awards_inserted_days AFTER INSERT ON event_awards
    REFERENCING NEW TABLE AS inserted_awards
    FOR EACH STATEMENT EXECUTE FUNCTION event_awards_inserted_days();
