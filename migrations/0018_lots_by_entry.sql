-- The unspent lots of one entry, for clawbacks: reversing an event and refunding part of an
-- order take back first from the lots that event's entry created
-- (ledger::take_from_entry_lots). Without an index that read scanned every lot in the ledger,
-- so one reversal cost more the longer the program had run. Partial: only lots with points
-- left can be taken from, and spent lots leave the index.
CREATE INDEX lots_by_entry ON lots (entry_id) WHERE remaining > 0;
