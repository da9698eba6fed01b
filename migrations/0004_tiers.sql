-- Tier tracks: each member's level per track, and the history of every change.
-- Qualifying values are never stored here: they are computed from event_awards over the
-- track's window, so they cannot drift from the ledger.

CREATE TABLE member_tiers (
    member_id         text NOT NULL REFERENCES members (member_id),
    track             text NOT NULL CHECK (track IN ('spend', 'engagement')),
    level             text NOT NULL,
    reached_at        timestamptz NOT NULL,
    guaranteed_until  timestamptz NOT NULL,
    -- An administrator's override: the level is at least floor_level until floor_until.
    floor_level       text,
    floor_until       timestamptz,
    PRIMARY KEY (member_id, track),
    CHECK ((floor_level IS NULL) = (floor_until IS NULL))
);

CREATE TABLE tier_changes (
    change_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id         text NOT NULL REFERENCES members (member_id),
    track             text NOT NULL,
    from_level        text NOT NULL,
    to_level          text NOT NULL,
    reason            text NOT NULL CHECK (reason IN ('upgrade', 'downgrade', 'override')),
    qualifying_value  bigint NOT NULL,
    event_id          text,
    job               text,
    actor             text,
    note              text,
    changed_at        timestamptz NOT NULL
);
CREATE INDEX tier_changes_member ON tier_changes (member_id, change_id);
