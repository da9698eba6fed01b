-- Maintained balances are applied once per statement, not once per posting.
--
-- Until now a row trigger (postings_apply_to_balance, 0001) ran two queries for every posting:
-- it looked up the posting's entry, then updated the account and copied the new balance into
-- the posting's balance_after. A batch of earn events writes four postings per event in one
-- statement, so that was eight queries per event. Taking the trigger away entirely saved 8-13 %
-- of the database's CPU per event (bench/README.md, "Checks per row"). The trigger made up
-- about 80 % of the postings insert's time.
--
-- Now the writer sends balance_after with each posting (ledger/journal.cpp computes it in the
-- insert itself, from the account rows it locks in account order), and one statement trigger
-- over the inserted postings checks it and applies it. The database still enforces the same
-- things:
--   * a posting's entry exists and was inserted by the same transaction;
--   * a maintained balance changes only by postings, by exactly their sum;
--   * each posting's balance_after is its account's balance just after it, in posting order,
--     and it is NULL for an account without a maintained balance;
--   * a debit never leaves a maintained balance below zero unless the posting allows a debt.
-- A writer that sends a wrong or missing balance_after is refused (23000) and writes nothing;
-- a debit below zero is refused as before (23514).
--
-- Each maintained account is updated once per statement, so a batch of many postings to one
-- member (a hot member) makes one new version of its account row, not one per posting.

DROP TRIGGER postings_apply_to_balance ON postings;
DROP FUNCTION postings_apply_to_balance();

CREATE FUNCTION postings_apply_to_balances() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT p.entry_id INTO bad
      FROM (SELECT DISTINCT entry_id FROM inserted_postings) p
     WHERE NOT EXISTS (SELECT 1 FROM entries e
                        WHERE e.entry_id = p.entry_id AND e.created_xid = pg_current_xact_id())
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'postings can only be added with their entry (entry %)', bad.entry_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;

    -- Each maintained account gets the sum of its postings; a posting's expected balance_after
    -- is the account's new balance less the postings after it (posting ids follow the insert).
    WITH totals AS (
        SELECT account_id, sum(amount) AS total FROM inserted_postings GROUP BY account_id ORDER BY account_id
    ), applied AS (
        UPDATE accounts a SET balance = a.balance + t.total
          FROM totals t
         WHERE a.account_id = t.account_id AND a.balance_maintained
        RETURNING a.account_id, a.balance
    ), expected AS (
        SELECT p.posting_id, p.account_id, p.amount, p.debt_allowed, p.balance_after,
               applied.account_id IS NOT NULL AS maintained,
               applied.balance - coalesce(sum(p.amount) OVER (PARTITION BY p.account_id ORDER BY p.posting_id DESC
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS balance
          FROM inserted_postings p LEFT JOIN applied ON applied.account_id = p.account_id
    )
    SELECT * INTO bad
      FROM expected
     WHERE (maintained AND balance < 0 AND amount < 0 AND NOT debt_allowed)
        OR (maintained AND balance_after IS DISTINCT FROM balance)
        OR (NOT maintained AND balance_after IS NOT NULL)
     ORDER BY (maintained AND balance < 0 AND amount < 0 AND NOT debt_allowed) DESC, posting_id
     LIMIT 1;
    IF FOUND THEN
        IF bad.maintained AND bad.balance < 0 AND bad.amount < 0 AND NOT bad.debt_allowed THEN
            RAISE EXCEPTION 'account % would go below zero (%)', bad.account_id, bad.balance
                USING ERRCODE = 'check_violation';
        ELSIF bad.maintained THEN
            RAISE EXCEPTION 'posting % to account %: balance_after is %, the balance after it is %',
                bad.posting_id, bad.account_id, coalesce(bad.balance_after::text, 'missing'), bad.balance
                USING ERRCODE = 'integrity_constraint_violation';
        ELSE
            RAISE EXCEPTION 'posting % to account %: an account without a maintained balance has no balance_after',
                bad.posting_id, bad.account_id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER postings_apply_to_balances AFTER INSERT ON postings
    REFERENCING NEW TABLE AS inserted_postings
    FOR EACH STATEMENT EXECUTE FUNCTION postings_apply_to_balances();

COMMENT ON COLUMN postings.entry_id IS
    'The entry; its existence in the same transaction is proved by postings_apply_to_balances, and entries are never deleted.';
COMMENT ON COLUMN postings.balance_after IS
    'The account''s maintained balance just after this posting (NULL for accounts without one); sent by the writer, checked and applied per statement by postings_apply_to_balances.';
