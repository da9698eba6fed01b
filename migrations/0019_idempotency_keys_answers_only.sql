-- Idempotency keys hold answers only. The protocol of 0002 inserted a key's row before its work
-- (status 0) and updated it with the answer: two writes per key. Since this version a key is
-- locked before its work by a transaction-scoped advisory lock (app/idempotency.cpp: class
-- 1769169267, in the keys' hash order), read after the lock, and its row inserted once, with
-- its answer, in the transaction of the work. The primary key still makes a second answer
-- under one key fail its transaction.
COMMENT ON TABLE idempotency_keys IS
    'One answered request per (caller, Idempotency-Key): inserted once with its answer, in the '
    'transaction of the work, which locked the key first (pg_advisory_xact_lock, class 1769169267).';
