#!/usr/bin/env bash
# bench/export.sh — exports of 1,000,000 postings and verification of the audit chain.
#
#   LOYALTY_BENCH_ADMIN_URL=postgresql://loyalty@127.0.0.1:54329/postgres bench/export.sh [BUILD_DIR]
#
# Creates a scratch database, migrates it, writes ENTRIES balanced entries of two postings
# each in one SQL statement (default 500,000 → 1,000,000 postings), then times:
#   audit seal        (records/s)        loyaltyctl audit seal
#   export            (rows/s, peak RSS) loyaltyctl export --format csv,jsonl,ledger
#   audit verify      (records/s)        loyaltyctl audit verify        (from the database)
#   audit verify DIR  (seconds)          loyaltyctl audit verify DIR    (offline)
# Peak memory comes from /usr/bin/time -v. The scratch database is dropped at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build-audit}
CTL=$BUILD/tools/loyaltyctl
ADMIN_URL=${LOYALTY_BENCH_ADMIN_URL:-postgresql://loyalty@127.0.0.1:54329/postgres}
ENTRIES=${ENTRIES:-500000}
NAME=bench_export_$$
URL=${ADMIN_URL%/*}/$NAME
WORK=$(mktemp -d)
trap 'psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $NAME" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

psql -q "$ADMIN_URL" -c "CREATE DATABASE $NAME" >/dev/null
LOYALTY_DATABASE_URL=$URL "$CTL" migrate >/dev/null
openssl genpkey -algorithm ed25519 -out "$WORK/key.pem" 2>/dev/null
openssl pkey -in "$WORK/key.pem" -pubout -out "$WORK/pub.pem"

echo "writing $ENTRIES entries ($((ENTRIES * 2)) postings)..."
psql -q "$URL" <<SQL >/dev/null
BEGIN;
INSERT INTO entries (kind, effective_at, reference)
  SELECT 'adjustment', '2026-01-01T00:00:00Z'::timestamptz + g * interval '1 second', 'bench-' || g
    FROM generate_series(1, $ENTRIES) g;
INSERT INTO postings (entry_id, account_id, asset, amount)
  SELECT e.entry_id, a.account_id, 'POINTS', s.sign * (e.entry_id % 1000 + 1)
    FROM entries e
    CROSS JOIN (VALUES ('system:adjustments', -1), ('system:redemptions', 1)) AS s(name, sign)
    JOIN accounts a ON a.name = s.name AND a.asset = 'POINTS';
COMMIT;
SQL

measure() {  # label, records, command...
  local label=$1 records=$2
  shift 2
  /usr/bin/time -v "$@" >"$WORK/out.txt" 2>"$WORK/time.txt" || { cat "$WORK/out.txt" "$WORK/time.txt"; exit 1; }
  local seconds rss
  seconds=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$WORK/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
  awk -v l="$label" -v r="$records" -v s="$seconds" -v m="$rss" \
    'BEGIN {printf "%-18s %9d records in %7.2f s = %9.0f records/s, peak RSS %6.1f MiB\n", l, r, s, r / s, m / 1024}'
}

TOTAL=$((ENTRIES * 3))  # entries + postings
export LOYALTY_DATABASE_URL=$URL
measure "audit seal" "$ENTRIES" "$CTL" audit seal
measure "export" "$TOTAL" "$CTL" export --from 2025-01-01T00:00:00Z --to 2030-01-01T00:00:00Z \
  --format csv,jsonl,ledger --out "$WORK/export" --signing-key "$WORK/key.pem"
measure "audit verify (db)" "$ENTRIES" "$CTL" audit verify --json
measure "audit verify DIR" "$TOTAL" "$CTL" audit verify "$WORK/export" --public-key "$WORK/pub.pem"
du -sh "$WORK/export" | awk '{print "export size        " $1}'
