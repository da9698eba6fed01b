#!/usr/bin/env bash
# bench/import.sh — `loyaltyctl import` of members, opening balances and past events, each next
# to a baseline of the same rows loaded with plain SQL COPY into the same tables, on the same
# server, in the same invocation.
#
#   bench/import.sh [BUILD_DIR]                    (BUILD_DIR/tools/loyaltyctl; default <repo>/build)
#   ROWS=20000 bench/import.sh                     the short form (about a minute)
#
# A scratch database is created on the server of LOYALTY_BENCH_ADMIN_URL, migrated and given
# examples/program.yaml; an identical copy (CREATE DATABASE … TEMPLATE) takes the baseline.
# Three CSV files of ROWS rows each are generated first (not timed):
#   members.csv   external_id bench-m-N, a display name with a comma and quotes, a phone;
#   balances.csv  one opening balance per member: 1000 + N mod 5000 POINTS expiring in 2030;
#   events.csv    one purchase per member, 100 to 300 days ago, of 10000 to 19999 cents (one
#                 award of 100 to 199 POINTS by purchase-base, its pending week long past).
# Then, in order, each under /usr/bin/time -v (wall seconds, peak RSS of loyaltyctl):
#   loyaltyctl import members / balances / events (with awards), BATCH_ROWS rows a batch.
# The baseline, on the copy and in the same order, is one psql transaction of \copy per file
# into the tables the import writes, with the ids the import would take from the database
# computed beforehand: members and their five accounts; entries (opening_balance), postings
# (system:migration and the member's available POINTS, through the balance trigger) and lots;
# events, entries (earn), postings, event_awards and lots (through the daily-aggregate
# triggers). It is the floor: what PostgreSQL needs for the same rows with no decisions, no
# idempotency and no application at all. Each part's ratio (import rows/s ÷ COPY rows/s) is
# judged against the target of issue 15, at least 0.25, and printed PASS or FAIL.
#
# Afterwards both databases are checked to hold the same totals (members, accounts, POINTS
# held by members, events, awards, lots) and a second run of each file must skip every row.
#
# Environment:
#   LOYALTY_BENCH_ADMIN_URL  server and a database to connect to for CREATE/DROP DATABASE
#                            (default postgresql://loyalty@127.0.0.1:54329/postgres)
#   LOYALTY_CTL              the CLI (default BUILD_DIR/tools/loyaltyctl)
#   ROWS                     rows per file (default 1000000)
#   BATCH_ROWS               rows per import transaction (default 1000)
#   BENCH_STRICT             1: exit 1 when a ratio FAILs (default 0)
# The scratch databases (bench_import_PID*) are dropped at the end, on failure and on Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build}
CTL=${LOYALTY_CTL:-$BUILD/tools/loyaltyctl}
ADMIN_URL=${LOYALTY_BENCH_ADMIN_URL:-postgresql://loyalty@127.0.0.1:54329/postgres}
ROWS=${ROWS:-1000000}
BATCH_ROWS=${BATCH_ROWS:-1000}
STRICT=${BENCH_STRICT:-0}
TARGET_RATIO=0.25
PREFIX=bench_import_$$
PROGRAM=$ROOT/examples/program.yaml
export PGTZ=UTC

die() { printf 'bench/import.sh: %s\n' "$*" >&2; exit 1; }

[ -x "$CTL" ] || die "$CTL is missing: build first, pass BUILD_DIR or set LOYALTY_CTL"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (Debian package time)"
command -v psql >/dev/null || die "psql is missing (Debian package postgresql-client-15)"
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || die "ROWS must be a positive whole number, not '$ROWS'"
[[ $BATCH_ROWS =~ ^[1-9][0-9]*$ ]] || die "BATCH_ROWS must be a positive whole number, not '$BATCH_ROWS'"

WORK=$(mktemp -d)
DATABASES=()
cleanup() {
  local db
  for db in ${DATABASES[@]+"${DATABASES[@]}"}; do
    psql -X -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
      printf 'bench/import.sh: could not drop scratch database %s\n' "$db" >&2
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

url_of() {  # a libpq URI with its database name replaced (as bench/run does)
  local base=${ADMIN_URL%%\?*}
  local query=${ADMIN_URL:${#base}}
  local authority=${base#*://}
  local scheme=${base:0:$((${#base} - ${#authority}))}
  printf '%s%s/%s%s\n' "$scheme" "${authority%%/*}" "$1" "$query"
}
sql() { local db=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 "$(url_of "$db")" "$@"; }
create_database() {  # NAME [TEMPLATE]
  DATABASES+=("$1")
  psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "CREATE DATABASE $1${2:+ TEMPLATE $2}" >/dev/null
}
checkpoint() { psql -X -q "$ADMIN_URL" -c CHECKPOINT >/dev/null 2>&1 || true; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
per_second() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "-" }'; }

DB=${PREFIX}
BASE=${PREFIX}_copy
echo "loyaltyctl: $CTL"
echo "server:     $(url_of postgres)"
echo "rows:       $ROWS per file, $BATCH_ROWS per import batch"
create_database "$DB"
LOYALTY_DATABASE_URL=$(url_of "$DB") "$CTL" migrate >"$WORK/prepare.txt" 2>&1 || { cat "$WORK/prepare.txt" >&2; die "migrate failed"; }
LOYALTY_DATABASE_URL=$(url_of "$DB") "$CTL" program apply "$PROGRAM" >"$WORK/prepare.txt" 2>&1 ||
  { cat "$WORK/prepare.txt" >&2; die "program apply failed"; }
create_database "$BASE" "$DB"

# ---- the files (not timed) -------------------------------------------------------------------
echo "generating the CSV files …"
NOW_EPOCH=$(date +%s)
awk -v rows="$ROWS" 'BEGIN {
  print "external_id,display_name,phone"
  for (n = 1; n <= rows; n++) printf "bench-m-%d,\"Member %d, \"\"imported\"\"\",+86 138%08d\n", n, n, n
}' >"$WORK/members.csv"
awk -v rows="$ROWS" 'BEGIN {
  print "import_id,external_id,asset,amount,expires_at,note"
  for (n = 1; n <= rows; n++) printf "bench-b-%d,bench-m-%d,POINTS,%d,2030-06-30T23:59:59Z,opening balance\n", n, n, 1000 + n % 5000
}' >"$WORK/balances.csv"
awk -v rows="$ROWS" -v now="$NOW_EPOCH" 'BEGIN {
  print "event_id,external_id,type,occurred_at,attributes"
  for (n = 1; n <= rows; n++) {
    t = now - (100 + n % 200) * 86400 - n % 86400
    printf "bench-e-%d,bench-m-%d,purchase,%s,\"{\"\"amount_cents\"\":%d}\"\n", n, n,
           strftime("%Y-%m-%dT%H:%M:%SZ", t, 1), 10000 + n % 10000
  }
}' >"$WORK/events.csv"

# The baseline's files: the same rows as the tables hold them, ids computed from the copy's
# sequences (COPY writes identity columns as given, like OVERRIDING SYSTEM VALUE).
ACCOUNT_BASE=$(sql "$BASE" -c "SELECT coalesce(max(account_id), 0) FROM accounts")
ENTRY_BASE=$(sql "$BASE" -c "SELECT coalesce(max(entry_id), 0) FROM entries")
LOT_BASE=$(sql "$BASE" -c "SELECT coalesce(max(lot_id), 0) FROM lots")
MIGRATION=$(sql "$BASE" -c "SELECT account_id FROM accounts WHERE name = 'system:migration' AND asset = 'POINTS'")
FUNDING=$(sql "$BASE" -c "SELECT account_id FROM accounts WHERE name = 'campaign:base' AND asset = 'POINTS'")
VERSION=$(sql "$BASE" -c "SELECT max(version) FROM program_versions")
awk -v rows="$ROWS" -v a="$ACCOUNT_BASE" -v e="$ENTRY_BASE" -v l="$LOT_BASE" -v mig="$MIGRATION" -v fund="$FUNDING" \
    -v version="$VERSION" -v now="$NOW_EPOCH" -v dir="$WORK" 'BEGIN {
  split("POINTS available,POINTS pending,POINTS held,GROWTH available,GROWTH pending", parts, ",")
  stamp = strftime("%Y-%m-%d %H:%M:%S+00", now, 1)
  for (n = 1; n <= rows; n++) {
    m = sprintf("mem_%020d", n)
    printf "%s,bench-m-%d,\"Member %d, \"\"imported\"\"\",+86 138%08d,%s\n", m, n, n, n, stamp > dir "/c_members.csv"
    for (k = 1; k <= 5; k++) {
      split(parts[k], p, " ")
      printf "%d,member:%s:%s,%s,%s,%s,t\n", a + (n - 1) * 5 + k, m, p[2], p[1], m, p[2] > dir "/c_accounts.csv"
    }
    available = a + (n - 1) * 5 + 1
    amount = 1000 + n % 5000
    printf "%d,opening_balance,%s,bench-b-%d,opening balance,%d,%s\n", e + n, m, n, version, stamp > dir "/c_b_entries.csv"
    printf "%d,%d,POINTS,%d\n%d,%d,POINTS,%d\n", e + n, mig, -amount, e + n, available, amount > dir "/c_b_postings.csv"
    printf "%d,%s,%d,%d,%s,2030-06-30 23:59:59+00,%d,migration\n", l + n, m, amount, amount, stamp, e + n > dir "/c_b_lots.csv"
    t = now - (100 + n % 200) * 86400 - n % 86400
    occurred = strftime("%Y-%m-%d %H:%M:%S+00", t, 1)
    cents = 10000 + n % 10000
    points = int(cents / 100)
    printf "bench-e-%d,%s,purchase,%s,\"{\"\"amount_cents\"\": %d}\",%d,%064d,%d,%s,%d\n", n, m, occurred, cents, cents, n,
           version, stamp, e + rows + n > dir "/c_events.csv"
    printf "%d,earn,%s,bench-e-%d,%d,%s\n", e + rows + n, m, n, version, stamp > dir "/c_e_entries.csv"
    printf "%d,%d,POINTS,%d\n%d,%d,POINTS,%d\n", e + rows + n, fund, -points, e + rows + n, available, points > dir "/c_e_postings.csv"
    printf "bench-e-%d,0,%s,purchase-base,POINTS,%d,%s\n", n, m, points, occurred > dir "/c_awards.csv"
    printf "%d,%s,%d,%d,%s,2028-12-31 23:59:59+00,%d,earn\n", l + rows + n, m, points, points, occurred, e + rows + n > dir "/c_e_lots.csv"
  }
}'
cat >"$WORK/copy_members.sql" <<SQL
\copy members (member_id, external_id, display_name, phone, created_at) FROM '$WORK/c_members.csv' CSV
\copy accounts (account_id, name, asset, member_id, part, balance_maintained) FROM '$WORK/c_accounts.csv' CSV
SQL
cat >"$WORK/copy_balances.sql" <<SQL
\copy entries (entry_id, kind, member_id, reference, note, program_version, effective_at) FROM '$WORK/c_b_entries.csv' CSV
\copy postings (entry_id, account_id, asset, amount) FROM '$WORK/c_b_postings.csv' CSV
\copy lots (lot_id, member_id, amount, remaining, earned_at, expires_at, entry_id, source) FROM '$WORK/c_b_lots.csv' CSV
SQL
cat >"$WORK/copy_events.sql" <<SQL
\copy entries (entry_id, kind, member_id, reference, program_version, effective_at) FROM '$WORK/c_e_entries.csv' CSV
\copy events (event_id, member_id, type, occurred_at, attributes, amount_cents, request_sha256, program_version, received_at, entry_id) FROM '$WORK/c_events.csv' CSV
\copy postings (entry_id, account_id, asset, amount) FROM '$WORK/c_e_postings.csv' CSV
\copy event_awards (event_id, position, member_id, rule_id, asset, amount, occurred_at) FROM '$WORK/c_awards.csv' CSV
\copy lots (lot_id, member_id, amount, remaining, earned_at, expires_at, entry_id, source) FROM '$WORK/c_e_lots.csv' CSV
SQL
ls -l "$WORK"/*.csv | awk '{ sum += $5 } END { printf "files: %.0f MiB in all\n", sum / 1048576 }'

# ---- the measurements ------------------------------------------------------------------------
SUMMARY=()
FAILED=0
run_import() {  # KIND: sets IMPORT_SECONDS, IMPORT_RSS_MIB, IMPORT_APPLIED
  local start
  start=$(now)
  if ! LOYALTY_DATABASE_URL=$(url_of "$DB") /usr/bin/time -v "$CTL" import "$1" "$WORK/$1.csv" \
    --batch-rows "$BATCH_ROWS" --json >"$WORK/import.txt" 2>"$WORK/time.txt"; then
    cat "$WORK/import.txt" "$WORK/time.txt" >&2
    die "loyaltyctl import $1 failed"
  fi
  IMPORT_SECONDS=$(since "$start")
  IMPORT_RSS_MIB=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$WORK/time.txt")
  IMPORT_APPLIED=$(sed -nE 's/.*"applied":([0-9]+).*/\1/p' "$WORK/import.txt")
}
run_copy() {  # KIND: sets COPY_SECONDS, COPY_RSS_MIB
  local start
  start=$(now)
  /usr/bin/time -v psql -X -q -1 -v ON_ERROR_STOP=1 "$(url_of "$BASE")" -f "$WORK/copy_$1.sql" \
    >"$WORK/copy.txt" 2>"$WORK/time.txt" || { cat "$WORK/copy.txt" "$WORK/time.txt" >&2; die "the COPY of $1 failed"; }
  COPY_SECONDS=$(since "$start")
  COPY_RSS_MIB=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$WORK/time.txt")
}

for kind in members balances events; do
  checkpoint
  echo "== $kind: loyaltyctl import $kind ($ROWS rows) …"
  run_import "$kind"
  [ "$IMPORT_APPLIED" = "$ROWS" ] || { cat "$WORK/import.txt"; die "import $kind applied ${IMPORT_APPLIED:-?} of $ROWS rows"; }
  checkpoint
  echo "== $kind: baseline, COPY of the same rows …"
  run_copy "$kind"
  import_rate=$(per_second "$ROWS" "$IMPORT_SECONDS")
  copy_rate=$(per_second "$ROWS" "$COPY_SECONDS")
  ratio=$(awk -v i="$import_rate" -v c="$copy_rate" 'BEGIN { printf "%.2f", i / c }')
  verdict=$(awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN { print (r >= t ? "PASS" : "FAIL") }')
  [ "$verdict" = PASS ] || FAILED=1
  SUMMARY+=("$(printf '%-9s %9s %9s %9s %9s   %9s %9s %9s   %5sx %s' "$kind" "$ROWS" "$IMPORT_SECONDS" "$import_rate" \
    "$IMPORT_RSS_MIB" "$COPY_SECONDS" "$copy_rate" "$COPY_RSS_MIB" "$ratio" "$verdict")")
done

# ---- checks ----------------------------------------------------------------------------------
TOTALS="SELECT (SELECT count(*) FROM members) || ' members, ' || (SELECT count(*) FROM accounts WHERE member_id IS NOT NULL)
  || ' accounts, ' || (SELECT sum(balance) FROM accounts WHERE member_id IS NOT NULL AND asset = 'POINTS')
  || ' POINTS held by members, ' || (SELECT count(*) FROM events) || ' events, ' || (SELECT count(*) FROM event_awards)
  || ' awards, ' || (SELECT count(*) FROM lots) || ' lots, ' || (SELECT sum(remaining) FROM lots) || ' in lots'"
imported=$(sql "$DB" -c "$TOTALS")
copied=$(sql "$BASE" -c "$TOTALS")
echo "import: $imported"
echo "COPY:   $copied"
[ "$imported" = "$copied" ] || { echo "FAIL: the import and the COPY hold different totals"; FAILED=1; }
for kind in members balances events; do
  LOYALTY_DATABASE_URL=$(url_of "$DB") "$CTL" import "$kind" "$WORK/$kind.csv" --json >"$WORK/again.txt" 2>/dev/null ||
    die "the second import of $kind failed"
  skipped=$(sed -nE 's/.*"skipped":([0-9]+).*/\1/p' "$WORK/again.txt")
  seconds=$(sed -nE 's/.*"seconds":([0-9.]+).*/\1/p' "$WORK/again.txt")
  if [ "$skipped" = "$ROWS" ]; then
    printf 'ok    a second import of %s skips every row (%.1f s)\n' "$kind" "$seconds"
  else
    printf 'FAIL  a second import of %s skipped %s of %s rows\n' "$kind" "${skipped:-?}" "$ROWS"
    FAILED=1
  fi
done
[ "$(sql "$DB" -c "SELECT count(*) FROM events e JOIN event_awards a USING (event_id)")" = "$ROWS" ] ||
  { echo "FAIL: not one award per event"; FAILED=1; }

echo
printf '%-9s %9s %9s %9s %9s   %9s %9s %9s   %6s\n' part rows "import s" rows/s "RSS MiB" "COPY s" rows/s "RSS MiB" ratio
printf '%s\n' "${SUMMARY[@]}"
echo "(ratio = import rows/s ÷ COPY rows/s, target ≥ $TARGET_RATIO; RSS = peak of loyaltyctl / psql)"
if [ "$FAILED" = 1 ] && [ "$STRICT" = 1 ]; then exit 1; fi
