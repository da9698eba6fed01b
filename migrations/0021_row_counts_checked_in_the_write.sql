-- Row counts a batch checks, checked by the statement itself. The batch's updates of rows it
-- read under lock (the lots it took points from or gave them back to, the holds it closed) used
-- to run alone so that the service could compare the rows they changed with the rows it meant
-- to change; now each compares the two in SQL and travels with the batch's other writes, in
-- the same round trip (ledger/batch.cpp). A difference is a bug: the statement fails, and with
-- it the whole transaction.
CREATE FUNCTION expect_rows(actual bigint, expected bigint, what text) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    IF actual IS DISTINCT FROM expected THEN
        RAISE EXCEPTION '% changed % rows where % were meant', what, actual, expected
            USING ERRCODE = 'internal_error';
    END IF;
    RETURN actual;
END
$$;
