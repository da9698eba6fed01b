-- Fewer checks per written row on the write path. Each foreign key is one query per inserted
-- row, run by PostgreSQL after the statement, and an earn event writes about ten rows; the
-- foreign keys of the hot tables were about an eighth of the database's CPU per event
-- (bench/README.md, "Checks per row"). Every relation below stays enforced by PostgreSQL.

-- 1. A posting's entry. postings_apply_to_balance (0001) already proves, for every posting,
--    that its entry exists and was inserted by the same transaction, and entries can be neither
--    deleted nor truncated (entries_immutable, entries_no_truncate). The foreign key repeated
--    the first half of that proof on every posting.
ALTER TABLE postings DROP CONSTRAINT postings_entry_id_fkey;
COMMENT ON COLUMN postings.entry_id IS
    'The entry; its existence is proved by postings_apply_to_balance (same transaction), and entries are never deleted.';

-- 2. A lot's entry and member, in one check: the lot's member is its entry's member (the
--    entry that created the lot credited that member), which also proves the member exists
--    (entries_member_id_fkey). The unique index takes the place of the partial entries_member,
--    with the same columns, so the member's history reads it as before.
CREATE UNIQUE INDEX entries_member_entry ON entries (member_id, entry_id);
DROP INDEX entries_member;
ALTER TABLE lots
    DROP CONSTRAINT lots_member_id_fkey,
    DROP CONSTRAINT lots_entry_id_fkey,
    ADD CONSTRAINT lots_entry_member_fkey FOREIGN KEY (member_id, entry_id) REFERENCES entries (member_id, entry_id);

-- 3. An award's event and member, in one check: the award's member is its event's member.
ALTER TABLE events ADD CONSTRAINT events_event_member_key UNIQUE (event_id, member_id);
ALTER TABLE event_awards
    DROP CONSTRAINT event_awards_member_id_fkey,
    DROP CONSTRAINT event_awards_event_id_fkey,
    ADD CONSTRAINT event_awards_event_member_fkey FOREIGN KEY (event_id, member_id) REFERENCES events (event_id, member_id);

-- 4. The balance check at commit reads the entry's postings once, not twice.
CREATE OR REPLACE FUNCTION entries_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    posting_count bigint;
    unbalanced_asset text;
BEGIN
    SELECT coalesce(sum(per_asset.postings), 0), min(per_asset.asset) FILTER (WHERE per_asset.total <> 0)
      INTO posting_count, unbalanced_asset
      FROM (SELECT asset, count(*) AS postings, sum(amount) AS total
              FROM postings WHERE entry_id = NEW.entry_id GROUP BY asset) AS per_asset;
    IF posting_count < 2 THEN
        RAISE EXCEPTION 'entry % has % postings; at least two are required',
            NEW.entry_id, posting_count USING ERRCODE = 'check_violation';
    END IF;
    IF unbalanced_asset IS NOT NULL THEN
        RAISE EXCEPTION 'entry % does not sum to zero in %', NEW.entry_id, unbalanced_asset
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
