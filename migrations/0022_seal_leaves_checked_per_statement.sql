-- The audit sealer's leaves check their seal once per statement, not once per leaf.
--
-- A sealing run (audit/seal.cpp) inserts its seal and then every leaf of the run, thousands at
-- a time, all naming that one seal. The foreign key ran one query per leaf: about 45 % of the
-- insert's time, and the sealer's insert is 5-8 % of the database's statement time under
-- write load (bench/README.md, "where an event's database time goes"). A statement-level
-- trigger over the inserted rows proves the same thing with one query: every leaf names a seal
-- that exists. The other half of what the foreign key gave, that a seal cannot disappear
-- under its leaves, holds because seals can be neither updated nor deleted
-- (audit_seals_immutable) nor, from here on, truncated.

ALTER TABLE audit_seal_log DROP CONSTRAINT audit_seal_log_seal_id_fkey;

CREATE FUNCTION audit_seal_log_check_seals() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT l.seal_id INTO missing
      FROM (SELECT DISTINCT seal_id FROM inserted_leaves) l
     WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.seal_id = l.seal_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'audit_seal_log: seal % does not exist', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_seal_log_seal_exists AFTER INSERT ON audit_seal_log
    REFERENCING NEW TABLE AS inserted_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION audit_seal_log_check_seals();
COMMENT ON COLUMN audit_seal_log.seal_id IS
    'The seal of the run that appended the leaf; checked per statement by audit_seal_log_seal_exists, and seals are never changed, deleted or truncated.';

CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_of_immutable_row();
