-- Maintained daily aggregates, so that the work of one event does not grow with the member's
-- history (the batch write path, docs/ARCHITECTURE.md "Cost independent of history").
--
-- Qualifying values of tier tracks and cap counts were summed from every event of the member
-- on every event. They are now read from small per-day rows that the database keeps in step
-- with events, awards, reversals and refunds, by triggers in the same transaction, so they can
-- never drift from the rows they summarise (tests compare them after every scenario):
--   * member_spend_days: the cash of standing events, per member, UTC day and event type;
--   * member_growth_days: the GROWTH standing events earned, per member and UTC day;
--   * member_rule_days: how many standing events a rule's base award went to, per member,
--     rule and UTC day (caps count events, not awards).
-- A track's rolling window of N days is read as the N UTC days ending with the day of the
-- evaluation; a calendar year as its days up to that day. Cap periods (day, month, year,
-- lifetime) are whole days already.

CREATE TABLE member_spend_days (
    member_id    text NOT NULL REFERENCES members (member_id),
    day          date NOT NULL,
    type         text NOT NULL,
    spend_cents  bigint NOT NULL,
    PRIMARY KEY (member_id, day, type)
);

CREATE TABLE member_growth_days (
    member_id  text NOT NULL REFERENCES members (member_id),
    day        date NOT NULL,
    growth     bigint NOT NULL,
    PRIMARY KEY (member_id, day)
);

CREATE TABLE member_rule_days (
    member_id  text NOT NULL REFERENCES members (member_id),
    rule_id    text NOT NULL,
    day        date NOT NULL,
    events     bigint NOT NULL,
    PRIMARY KEY (member_id, rule_id, day)
);

CREATE FUNCTION utc_day(instant timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE AS $$ SELECT (instant AT TIME ZONE 'UTC')::date $$;

CREATE FUNCTION add_spend_day(member text, at timestamptz, event_type text, cents bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO member_spend_days (member_id, day, type, spend_cents) VALUES (member, utc_day(at), event_type, cents)
    ON CONFLICT (member_id, day, type) DO UPDATE SET spend_cents = member_spend_days.spend_cents + EXCLUDED.spend_cents
$$;

CREATE FUNCTION add_growth_day(member text, at timestamptz, amount bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO member_growth_days (member_id, day, growth) VALUES (member, utc_day(at), amount)
    ON CONFLICT (member_id, day) DO UPDATE SET growth = member_growth_days.growth + EXCLUDED.growth
$$;

CREATE FUNCTION add_rule_day(member text, rule text, at timestamptz, count bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO member_rule_days (member_id, rule_id, day, events) VALUES (member, rule, utc_day(at), count)
    ON CONFLICT (member_id, rule_id, day) DO UPDATE SET events = member_rule_days.events + EXCLUDED.events
$$;

-- An event's cash counts while it stands, less what refunds took back.
CREATE FUNCTION events_maintain_days() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    before_cents bigint := 0;
    after_cents bigint := 0;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.reversed_at IS NULL THEN
        before_cents := coalesce(OLD.amount_cents, 0) - OLD.reversed_cents;
    END IF;
    IF NEW.reversed_at IS NULL THEN
        after_cents := coalesce(NEW.amount_cents, 0) - NEW.reversed_cents;
    END IF;
    IF after_cents <> before_cents THEN
        PERFORM add_spend_day(NEW.member_id, NEW.occurred_at, NEW.type, after_cents - before_cents);
    END IF;
    -- A whole reversal takes the event's GROWTH (less what refunds clawed back already) and
    -- its rule counts out of the days.
    IF TG_OP = 'UPDATE' AND OLD.reversed_at IS NULL AND NEW.reversed_at IS NOT NULL THEN
        PERFORM add_growth_day(NEW.member_id, NEW.occurred_at, -g.amount::bigint)
           FROM (SELECT sum(a.amount - coalesce(c.settled, 0)) AS amount FROM event_awards a
                   LEFT JOIN event_award_clawbacks c ON c.event_id = a.event_id AND c.position = a.position
                  WHERE a.event_id = NEW.event_id AND a.asset = 'GROWTH') g
          WHERE g.amount IS NOT NULL AND g.amount <> 0;
        PERFORM add_rule_day(NEW.member_id, r.rule_id, NEW.occurred_at, -1)
           FROM (SELECT DISTINCT rule_id FROM event_awards WHERE event_id = NEW.event_id AND campaign_id IS NULL) r;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER events_maintain_days AFTER INSERT OR UPDATE OF reversed_at, reversed_cents ON events
    FOR EACH ROW EXECUTE FUNCTION events_maintain_days();

-- Awards are written with their event (same transaction, after it): GROWTH adds to the day; a
-- rule's first base award of the event counts the event once.
CREATE FUNCTION event_awards_maintain_days() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.asset = 'GROWTH' THEN
        PERFORM add_growth_day(NEW.member_id, NEW.occurred_at, NEW.amount);
    END IF;
    IF NEW.campaign_id IS NULL AND NOT EXISTS (
        SELECT 1 FROM event_awards WHERE event_id = NEW.event_id AND rule_id = NEW.rule_id
           AND campaign_id IS NULL AND position < NEW.position) THEN
        PERFORM add_rule_day(NEW.member_id, NEW.rule_id, NEW.occurred_at, 1);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER event_awards_maintain_days AFTER INSERT ON event_awards
    FOR EACH ROW EXECUTE FUNCTION event_awards_maintain_days();

-- A refund's clawback of a GROWTH award of a standing event leaves the day.
CREATE FUNCTION event_award_clawbacks_maintain_days() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    delta bigint := NEW.settled - CASE WHEN TG_OP = 'UPDATE' THEN OLD.settled ELSE 0 END;
BEGIN
    IF delta <> 0 THEN
        PERFORM add_growth_day(a.member_id, a.occurred_at, -delta)
           FROM event_awards a JOIN events e ON e.event_id = a.event_id
          WHERE a.event_id = NEW.event_id AND a.position = NEW.position AND a.asset = 'GROWTH'
            AND e.reversed_at IS NULL;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER event_award_clawbacks_maintain_days AFTER INSERT OR UPDATE OF settled ON event_award_clawbacks
    FOR EACH ROW EXECUTE FUNCTION event_award_clawbacks_maintain_days();

-- What is there already.
INSERT INTO member_spend_days (member_id, day, type, spend_cents)
SELECT member_id, utc_day(occurred_at), type, sum(coalesce(amount_cents, 0) - reversed_cents)
  FROM events WHERE reversed_at IS NULL GROUP BY 1, 2, 3
HAVING sum(coalesce(amount_cents, 0) - reversed_cents) <> 0;

INSERT INTO member_growth_days (member_id, day, growth)
SELECT a.member_id, utc_day(a.occurred_at), sum(a.amount - coalesce(c.settled, 0))
  FROM event_awards a JOIN events e ON e.event_id = a.event_id
  LEFT JOIN event_award_clawbacks c ON c.event_id = a.event_id AND c.position = a.position
 WHERE a.asset = 'GROWTH' AND e.reversed_at IS NULL GROUP BY 1, 2;

INSERT INTO member_rule_days (member_id, rule_id, day, events)
SELECT a.member_id, a.rule_id, utc_day(a.occurred_at), count(DISTINCT a.event_id)
  FROM event_awards a JOIN events e ON e.event_id = a.event_id
 WHERE a.campaign_id IS NULL AND e.reversed_at IS NULL GROUP BY 1, 2, 3;
