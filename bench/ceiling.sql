-- bench/ceiling.sql — removes the ledger's database-side checks from bench/run's throwaway
-- database, for bench/ceiling. psql variable `mode`: fks, triggers or all.
-- Never run it anywhere else: it refuses any database but loyalty_bench.

DO $$
BEGIN
  IF current_database() <> 'loyalty_bench' THEN
    RAISE EXCEPTION 'bench/ceiling.sql: refusing to run on database %, not loyalty_bench', current_database();
  END IF;
END $$;

SELECT :'mode' IN ('fks', 'all') AS drop_fks, :'mode' IN ('triggers', 'all') AS drop_triggers \gset

\if :drop_fks
DO $$
DECLARE
  fk record;
BEGIN
  FOR fk IN
    SELECT conrelid::regclass AS tab, conname
      FROM pg_constraint
     WHERE contype = 'f' AND connamespace = 'public'::regnamespace
  LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tab, fk.conname);
  END LOOP;
END $$;
\endif

\if :drop_triggers
DO $$
DECLARE
  trig record;
BEGIN
  FOR trig IN
    SELECT t.tgrelid::regclass AS tab, t.tgname
      FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid
     WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace
  LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', trig.tgname, trig.tab);
  END LOOP;
END $$;
\endif

SELECT (SELECT count(*) FROM pg_constraint
         WHERE contype = 'f' AND connamespace = 'public'::regnamespace) AS foreign_keys_left,
       (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace) AS triggers_left;
