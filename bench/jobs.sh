#!/usr/bin/env bash
# bench/jobs.sh — two batch jobs over a million rows, each next to a plain-SQL baseline.
#
#   bench/jobs.sh [BUILD_DIR]                      (BUILD_DIR/tools/loyaltyctl; default <repo>/build)
#   LOYALTY_CTL=/path/to/loyaltyctl LOTS=20000 TIER_MEMBERS=20000 bench/jobs.sh
#
# For each job: a scratch database on the server of LOYALTY_BENCH_ADMIN_URL, `loyaltyctl
# migrate`, `loyaltyctl program apply examples/program.yaml`, data seeded with a few set-based
# INSERT … SELECT FROM generate_series statements (timed apart, not part of any figure),
# VACUUM ANALYZE, then an identical copy (CREATE DATABASE … TEMPLATE) for the baseline. Then:
#
#   expire-points   `loyaltyctl jobs run expire-points --as-of 2026-01-01T00:00:00Z` over LOTS
#                   lots that are all due (LOTS_PER_MEMBER lots per member, every member's lots
#                   = its POINTS available balance). Baseline: the same ledger writes by hand in
#                   one psql transaction — per member one 'expiry' entry (member available −,
#                   system:breakage +) and UPDATE lots SET remaining = 0, expired_entry_id.
#   evaluate-tiers  `loyaltyctl jobs run evaluate-tiers --as-of 2026-01-01T00:00:00Z` over
#                   TIER_MEMBERS members × both tracks of the program, every row past its
#                   guarantee. Baseline: one psql transaction that sums the qualifying values
#                   (GROUP BY member over events / event_awards in each track's window), decides
#                   the levels, writes tier_changes and updates every due member_tiers row.
#
# The job runs under /usr/bin/time -v (wall seconds, peak RSS of loyaltyctl); the baseline is
# timed around psql. The baseline is the floor: what PostgreSQL needs for the same writes with
# no application at all. Afterwards the job's database is checked with SQL (and the baseline's
# too, so that the floor is known to do the same work); any failed check exits 1. A second
# run of the job for the same as_of must answer already_done and change nothing.
#
# Seeded data, as the application would have written it unless said otherwise:
#   * expire-points: members (member_id mem_ + 20 of [a-z0-9], external_id bench-expiry-N),
#     their five accounts (POINTS available/pending/held, GROWTH available/pending), one earn
#     entry per member (+sum of its lots to its POINTS available, − the same from
#     system:adjustments), LOTS_PER_MEMBER lots per member (amounts 1..1000, earned in 2025,
#     expiring at month ends from February to December 2025, all before as_of). Every lot is
#     due, so the figure is exactly "LOTS lots expired".
#   * evaluate-tiers: members WITHOUT accounts (evaluate-tiers reads only member_tiers, events
#     and event_awards), one member_tiers row per track (guarantee ended in 2025), one purchase
#     event per member (amount_cents = the planned spend; a member planned at 0 has none), one
#     community_post event per member with one GROWTH event_awards row (a member planned at 0
#     GROWTH has none). Events have entry_id NULL (no earn entries, no lots) and award amounts
#     that do not follow the rules' fixed amounts: evaluate-tiers reads neither. Levels and
#     values are planned so that a quarter of the rows keep their level, a quarter drop one, a
#     quarter would drop two (max_levels_per_evaluation lets them drop one) and a quarter go up;
#     the plan stays in the scratch database as table bench_jobs_tier_plan for the checks.
#
# Environment:
#   LOYALTY_BENCH_ADMIN_URL  server and a database to connect to for CREATE/DROP DATABASE
#                            (default postgresql://loyalty@127.0.0.1:54329/postgres); the role
#                            needs CREATEDB (CHECKPOINT before each measurement is best effort)
#   LOYALTY_CTL              the CLI (default BUILD_DIR/tools/loyaltyctl)
#   JOBS                     which parts to run (default "expire-points evaluate-tiers")
#   LOTS                     lots expired by expire-points (default 1000000)
#   LOTS_PER_MEMBER          lots per member (default 5; LOTS/LOTS_PER_MEMBER members, rounded up)
#   TIER_MEMBERS             members judged by evaluate-tiers (default 1000000; 2 rows each)
# The scratch databases (bench_jobs_PID_*) are dropped at the end, on failure and on Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build}
CTL=${LOYALTY_CTL:-$BUILD/tools/loyaltyctl}
ADMIN_URL=${LOYALTY_BENCH_ADMIN_URL:-postgresql://loyalty@127.0.0.1:54329/postgres}
JOBS=${JOBS:-"expire-points evaluate-tiers"}
LOTS=${LOTS:-1000000}
LOTS_PER_MEMBER=${LOTS_PER_MEMBER:-5}
TIER_MEMBERS=${TIER_MEMBERS:-1000000}
AS_OF=2026-01-01T00:00:00Z
PREFIX=bench_jobs_$$
PROGRAM=$ROOT/examples/program.yaml
export PGTZ=UTC  # month arithmetic and date_trunc in the seeding and baseline SQL are in UTC

die() { printf 'bench/jobs.sh: %s\n' "$*" >&2; exit 1; }

[ -x "$CTL" ] || die "$CTL is missing: build first, pass BUILD_DIR or set LOYALTY_CTL"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (Debian package time)"
command -v psql >/dev/null || die "psql is missing (Debian package postgresql-client-15)"
for knob in LOTS LOTS_PER_MEMBER TIER_MEMBERS; do
  [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive whole number, not '${!knob}'"
done
for job in $JOBS; do
  [[ $job == expire-points || $job == evaluate-tiers ]] || die "JOBS: unknown part '$job' (expire-points, evaluate-tiers)"
done

WORK=$(mktemp -d)
DATABASES=()  # every scratch database this run created (or was about to create)

cleanup() {
  local db
  for db in ${DATABASES[@]+"${DATABASES[@]}"}; do
    psql -X -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
      printf 'bench/jobs.sh: could not drop scratch database %s\n' "$db" >&2
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prints a libpq URI with its database name replaced (as bench/run does).
url_of() {
  local base=${ADMIN_URL%%\?*}
  local query=${ADMIN_URL:${#base}}
  local authority=${base#*://}
  local scheme=${base:0:$((${#base} - ${#authority}))}
  printf '%s%s/%s%s\n' "$scheme" "${authority%%/*}" "$1" "$query"
}

sql() {  # DB [psql arguments...]: unaligned, tuples only, stops at the first error
  local db=$1
  shift
  psql -X -q -At -v ON_ERROR_STOP=1 -v as_of="$AS_OF" "$(url_of "$db")" "$@"
}

create_database() {  # NAME [TEMPLATE]
  DATABASES+=("$1")
  psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "CREATE DATABASE $1${2:+ TEMPLATE $2}" >/dev/null
}

drop_database() {
  psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
  local kept=() db
  for db in "${DATABASES[@]}"; do [ "$db" = "$1" ] || kept+=("$db"); done
  DATABASES=(${kept[@]+"${kept[@]}"})
}

prepare_database() {  # NAME: created, migrated, the example program applied
  create_database "$1"
  LOYALTY_DATABASE_URL=$(url_of "$1") "$CTL" migrate >"$WORK/prepare.txt" 2>&1 ||
    { cat "$WORK/prepare.txt" >&2; die "loyaltyctl migrate failed"; }
  LOYALTY_DATABASE_URL=$(url_of "$1") "$CTL" program apply "$PROGRAM" >"$WORK/prepare.txt" 2>&1 ||
    { cat "$WORK/prepare.txt" >&2; die "loyaltyctl program apply failed"; }
}

# Starts a measurement with no checkpoint owed (CHECKPOINT needs superuser or pg_checkpoint).
checkpoint() { psql -X -q "$ADMIN_URL" -c CHECKPOINT >/dev/null 2>&1 || true; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
per_second() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "-" }'; }

# Runs `loyaltyctl jobs run JOB --as-of AS_OF --json` on DB under /usr/bin/time -v. Sets
# JOB_SECONDS (wall), JOB_RSS_MIB (peak RSS), JOB_STATUS and JOB_ITEMS (from its JSON line).
run_job() {  # DB JOB
  local start
  start=$(now)
  if ! LOYALTY_DATABASE_URL=$(url_of "$1") /usr/bin/time -v "$CTL" jobs run "$2" --as-of "$AS_OF" --json \
    >"$WORK/job.txt" 2>"$WORK/time.txt"; then
    cat "$WORK/job.txt" "$WORK/time.txt" >&2
    die "loyaltyctl jobs run $2 failed"
  fi
  JOB_SECONDS=$(since "$start")
  JOB_RSS_MIB=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$WORK/time.txt")
  JOB_STATUS=$(sed -nE 's/.*"status":"([^"]*)".*/\1/p' "$WORK/job.txt")
  JOB_ITEMS=$(sed -nE 's/.*"items":([0-9]+).*/\1/p' "$WORK/job.txt")
}

time_sql() {  # DB FILE [psql arguments...]: sets SQL_SECONDS
  local db=$1 file=$2 start
  shift 2
  start=$(now)
  sql "$db" "$@" -f "$file" >/dev/null || die "the baseline SQL ($(basename "$file")) failed"
  SQL_SECONDS=$(since "$start")
}

# Runs a query whose rows are "number|check|t or f|detail" and prints them in number order
# (a UNION ALL may come back in any order); returns 1 if any is f.
run_checks() {  # DB FILE [psql arguments...]
  local db=$1 file=$2 name ok detail failed=0
  shift 2
  # Not `done < <(sql …)`: a check query that fails must fail the checks, not print nothing.
  if ! sql "$db" "$@" -f "$file" >"$WORK/checks.txt" || [ ! -s "$WORK/checks.txt" ]; then
    printf '  FAIL  the checks of %s could not run\n' "$(basename "$file")"
    return 1
  fi
  while IFS='|' read -r _ name ok detail; do
    if [ "$ok" = t ]; then
      printf '  ok    %s (%s)\n' "$name" "$detail"
    else
      printf '  FAIL  %s (%s)\n' "$name" "$detail"
      failed=1
    fi
  done < <(sort -t'|' -k1,1n "$WORK/checks.txt")
  return $failed
}

# A second run for the same as_of must answer already_done and change nothing.
check_second_run() {  # DB JOB STATE_QUERY
  local before after
  before=$(sql "$1" -c "$3") || return 1
  run_job "$1" "$2"
  after=$(sql "$1" -c "$3") || return 1
  if [ "$JOB_STATUS" = already_done ] && [ "$before" = "$after" ]; then
    printf '  ok    a second run answers already_done and changes nothing (%s)\n' "$after"
  else
    printf '  FAIL  a second run answered %s; before %s, after %s\n' "${JOB_STATUS:-?}" "$before" "$after"
    return 1
  fi
}

SUMMARY=()
summarize() {  # JOB ROWS JOB_SECONDS RSS_MIB BASELINE_SECONDS
  local rate ratio
  rate=$(per_second "$2" "$3")
  ratio=$(awk -v j="$3" -v b="$5" 'BEGIN { if (b > 0) printf "%.1fx", j / b; else print "-" }')
  SUMMARY+=("$(printf '%-16s %-10s %-9s %-8s %-10s %-22s %s' "$1" "$2" "$3" "$rate" "$4 MiB" "$5" "$ratio")")
}

warn_if_busy() {
  local load cores
  load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
  cores=$(nproc 2>/dev/null || echo 1)
  if awk -v l="$load" -v c="$cores" 'BEGIN { exit !(l > c * 0.5) }'; then
    printf 'warning: load average %s on %s core(s) before starting: the figures will be noisy\n' "$load" "$cores"
  fi
}

# ---- expire-points ---------------------------------------------------------------------------

cat >"$WORK/expiry_seed.sql" <<'SQL'
BEGIN;
-- Lot N belongs to member (N-1)/per_member + 1. Amounts 1..1000; expiry at the first instant
-- of a month from February to December 2025 (the end of the month before, as the program's
-- end_of_month_after policy computes it), earned in the month before its expiry.
CREATE TEMP TABLE seed_lots ON COMMIT DROP AS
SELECT g AS lot_no,
       (g - 1) / :per_member + 1 AS member_no,
       1 + abs(hashint8extended(g, 1) % 1000) AS amount,
       x.expires_at,
       x.expires_at - interval '1 month' + make_interval(secs => abs(hashint8extended(g, 3) % 2419200)) AS earned_at
  FROM generate_series(1, :lots::bigint) g
 CROSS JOIN LATERAL (SELECT '2025-02-01T00:00:00Z'::timestamptz
                            + make_interval(months => abs(hashint8extended(g, 2) % 11)::int) AS expires_at) x;

CREATE TEMP TABLE seed_members ON COMMIT DROP AS
SELECT member_no,
       'mem_' || substr(md5('bench-expiry-' || member_no), 1, 20) AS member_id,
       nextval(pg_get_serial_sequence('entries', 'entry_id')) AS entry_id,
       sum(amount) AS total
  FROM seed_lots GROUP BY member_no;

INSERT INTO members (member_id, external_id, created_at)
SELECT member_id, 'bench-expiry-' || member_no, '2024-12-01T00:00:00Z' FROM seed_members ORDER BY member_no;

-- The accounts ledger/accounts.cpp opens with every member.
INSERT INTO accounts (name, asset, member_id, part, balance_maintained)
SELECT 'member:' || m.member_id || ':' || p.part, p.asset, m.member_id, p.part, true
  FROM seed_members m
 CROSS JOIN (VALUES (1, 'POINTS', 'available'), (2, 'POINTS', 'pending'), (3, 'POINTS', 'held'),
                    (4, 'GROWTH', 'available'), (5, 'GROWTH', 'pending')) AS p(position, asset, part)
 ORDER BY m.member_no, p.position;

-- One earn entry per member; its postings go through the balance trigger (same transaction).
INSERT INTO entries (entry_id, kind, effective_at, member_id, reference, program_version, actor)
OVERRIDING SYSTEM VALUE
SELECT entry_id, 'earn', '2025-01-01T00:00:00Z', member_id, 'bench-earn-' || member_no,
       (SELECT max(version) FROM program_versions), 'bench:seed'
  FROM seed_members ORDER BY entry_id;

INSERT INTO postings (entry_id, account_id, asset, amount)
SELECT m.entry_id, p.account_id, 'POINTS', p.amount
  FROM seed_members m
  JOIN accounts a ON a.member_id = m.member_id AND a.asset = 'POINTS' AND a.part = 'available'
 CROSS JOIN (SELECT account_id FROM accounts WHERE name = 'system:adjustments' AND asset = 'POINTS') s
 CROSS JOIN LATERAL (VALUES (1, s.account_id, -m.total), (2, a.account_id, m.total)) AS p(position, account_id, amount)
 ORDER BY m.entry_id, p.position;

INSERT INTO lots (member_id, amount, remaining, earned_at, expires_at, pending_until, entry_id, source)
SELECT m.member_id, l.amount, l.amount, l.earned_at, l.expires_at, NULL, m.entry_id, 'earn'
  FROM seed_lots l JOIN seed_members m USING (member_no)
 ORDER BY l.lot_no;
COMMIT;
VACUUM ANALYZE;
SQL

cat >"$WORK/expiry_seed_check.sql" <<'SQL'
SELECT 1, 'lots = LOTS, all due', count(*) = :lots AND bool_and(expires_at <= :'as_of'), count(*) || ' lots'
  FROM lots
UNION ALL
SELECT 2, 'each member''s lots = its POINTS available', count(*) = 0, count(*) || ' members differ'
  FROM accounts a
  LEFT JOIN (SELECT member_id, sum(remaining) AS s FROM lots GROUP BY member_id) l USING (member_id)
 WHERE a.member_id IS NOT NULL AND a.asset = 'POINTS' AND a.part = 'available' AND a.balance <> coalesce(l.s, 0);
SQL

# The floor: the job's ledger writes as one transaction of set-based SQL.
cat >"$WORK/expiry_baseline.sql" <<'SQL'
BEGIN;
CREATE TEMP TABLE due ON COMMIT DROP AS
SELECT member_id, sum(remaining) AS expired, nextval(pg_get_serial_sequence('entries', 'entry_id')) AS entry_id
  FROM lots
 WHERE remaining > 0 AND pending_until IS NULL AND expires_at <= :'as_of'
 GROUP BY member_id;

INSERT INTO entries (entry_id, kind, effective_at, member_id, actor) OVERRIDING SYSTEM VALUE
SELECT entry_id, 'expiry', :'as_of', member_id, 'job:expire-points' FROM due ORDER BY entry_id;

INSERT INTO postings (entry_id, account_id, asset, amount)
SELECT d.entry_id, p.account_id, 'POINTS', p.amount
  FROM due d
  JOIN accounts a ON a.member_id = d.member_id AND a.asset = 'POINTS' AND a.part = 'available'
 CROSS JOIN (SELECT account_id FROM accounts WHERE name = 'system:breakage' AND asset = 'POINTS') b
 CROSS JOIN LATERAL (VALUES (1, a.account_id, -d.expired), (2, b.account_id, d.expired)) AS p(position, account_id, amount)
 ORDER BY d.entry_id, p.position;

WITH expired AS (
  UPDATE lots l SET remaining = 0, expired_entry_id = d.entry_id
    FROM due d
   WHERE l.member_id = d.member_id AND l.remaining > 0 AND l.pending_until IS NULL AND l.expires_at <= :'as_of'
  RETURNING 1)
INSERT INTO job_runs (job, as_of, items, finished_at)
SELECT 'expire-points', :'as_of', count(*), clock_timestamp() FROM expired;
COMMIT;
SQL

cat >"$WORK/expiry_check.sql" <<'SQL'
SELECT 1, 'no due lot has points left', count(*) = 0, count(*) || ' lots'
  FROM lots WHERE expires_at <= :'as_of' AND pending_until IS NULL AND remaining > 0
UNION ALL
SELECT 2, 'every member''s POINTS available is 0', count(*) = 0, count(*) || ' members not at 0'
  FROM accounts WHERE member_id IS NOT NULL AND asset = 'POINTS' AND part = 'available' AND balance <> 0
UNION ALL
SELECT 3, 'postings sum to 0 per asset', coalesce(bool_and(total = 0), true),
       coalesce(string_agg(asset || ' ' || total, ', ' ORDER BY asset), 'no postings')
  FROM (SELECT asset, sum(amount) AS total FROM postings GROUP BY asset) s
UNION ALL
SELECT 4, 'breakage = the seeded total', b.total = l.total, b.total || ' of ' || l.total || ' points'
  FROM (SELECT coalesce(sum(p.amount), 0) AS total FROM postings p JOIN accounts a USING (account_id)
         WHERE a.name = 'system:breakage' AND a.asset = 'POINTS') b,
       (SELECT coalesce(sum(amount), 0) AS total FROM lots) l
UNION ALL
SELECT 5, 'each member account''s balance = the sum of its postings', count(*) = 0, count(*) || ' accounts differ'
  FROM accounts a
  LEFT JOIN (SELECT account_id, sum(amount) AS total FROM postings GROUP BY account_id) p USING (account_id)
 WHERE a.balance_maintained AND a.balance <> coalesce(p.total, 0)
UNION ALL
SELECT 6, 'each lot points at an expiry entry of its member as of as_of', count(*) = 0, count(*) || ' lots do not'
  FROM lots l LEFT JOIN entries e ON e.entry_id = l.expired_entry_id
 WHERE e.entry_id IS NULL OR e.kind <> 'expiry' OR e.member_id <> l.member_id OR e.effective_at <> :'as_of'
UNION ALL
SELECT 7, 'expiry entries', count(*) > 0,
       count(*) || ' entries for ' || count(DISTINCT member_id) || ' members'
  FROM entries WHERE kind = 'expiry';
SQL

EXPIRY_STATE="SELECT (SELECT count(*) FROM entries) || ' entries, ' || (SELECT count(*) FROM postings)
  || ' postings, ' || (SELECT coalesce(sum(remaining), 0) FROM lots) || ' points in lots'"

bench_expire_points() {
  local db=${PREFIX}_expiry baseline=${PREFIX}_expiry_baseline
  local members=$(((LOTS + LOTS_PER_MEMBER - 1) / LOTS_PER_MEMBER)) start
  echo "== expire-points: $LOTS lots of $members members, as of $AS_OF"
  prepare_database "$db"
  echo "seeding $members members (5 accounts each), $members earn entries, $LOTS lots …"
  start=$(now)
  sql "$db" -v lots="$LOTS" -v per_member="$LOTS_PER_MEMBER" -f "$WORK/expiry_seed.sql" >/dev/null ||
    die "seeding failed"
  echo "seeded in $(since "$start") s (with VACUUM ANALYZE; not part of any figure)"
  run_checks "$db" "$WORK/expiry_seed_check.sql" -v lots="$LOTS" || die "the seeded data is not as planned"
  echo "copying the database for the baseline (CREATE DATABASE $baseline TEMPLATE $db) …"
  create_database "$baseline" "$db"

  checkpoint
  echo "running loyaltyctl jobs run expire-points --as-of $AS_OF …"
  run_job "$db" expire-points
  local job_seconds=$JOB_SECONDS job_rss=$JOB_RSS_MIB
  [ "$JOB_STATUS" = "done" ] || die "expire-points answered '${JOB_STATUS:-?}', not done: $(cat "$WORK/job.txt")"
  [ "$JOB_ITEMS" = "$LOTS" ] || echo "note: the job reported $JOB_ITEMS item(s) for $LOTS lots"
  printf 'expire-points   %9d lots in %8.2f s = %9s lots/s, peak RSS %7.1f MiB\n' \
    "$LOTS" "$job_seconds" "$(per_second "$LOTS" "$job_seconds")" "$job_rss"

  checkpoint
  echo "baseline: the same writes in one SQL transaction on the copy …"
  time_sql "$baseline" "$WORK/expiry_baseline.sql"
  printf 'baseline SQL    %9d lots in %8.2f s = %9s lots/s\n' "$LOTS" "$SQL_SECONDS" "$(per_second "$LOTS" "$SQL_SECONDS")"

  echo "checking the job's database …"
  local failed=0
  run_checks "$db" "$WORK/expiry_check.sql" || failed=1
  check_second_run "$db" expire-points "$EXPIRY_STATE" || failed=1
  echo "checking the baseline's database (the same checks) …"
  run_checks "$baseline" "$WORK/expiry_check.sql" || failed=1
  [ "$failed" = 0 ] || die "expire-points: a check failed (see FAIL above)"
  summarize expire-points "$LOTS" "$job_seconds" "$job_rss" "$SQL_SECONDS"
  drop_database "$baseline"
  drop_database "$db"
}

# ---- evaluate-tiers --------------------------------------------------------------------------

# The program's tracks and levels, as temporary tables of the session (used by several files).
cat >"$WORK/program_tables.sql" <<'SQL'
CREATE TEMP TABLE program_tracks AS
SELECT t.key AS track,
       t.value->>'metric' AS metric,
       jsonb_array_length(t.value->'levels') AS levels,
       CASE t.value->'window'->>'kind'
         WHEN 'calendar_year' THEN date_trunc('year', :'as_of'::timestamptz) - interval '1 microsecond'
         ELSE :'as_of'::timestamptz - make_interval(days => (t.value->'window'->>'days')::int)
       END AS window_from,
       coalesce((t.value->'downgrade'->>'guaranteed_days')::int, 365) AS guaranteed_days,
       coalesce((t.value->'downgrade'->>'max_levels_per_evaluation')::int, 1) AS max_drop
  FROM program_versions v, jsonb_each(v.document->'tracks') t
 WHERE v.version = (SELECT max(version) FROM program_versions) AND jsonb_typeof(t.value) = 'object';

CREATE TEMP TABLE program_levels AS
SELECT t.key AS track, (l.ordinality - 1)::int AS idx, l.value->>'code' AS code, (l.value->>'threshold')::bigint AS threshold
  FROM program_versions v, jsonb_each(v.document->'tracks') t, jsonb_array_elements(t.value->'levels') WITH ORDINALITY l
 WHERE v.version = (SELECT max(version) FROM program_versions) AND jsonb_typeof(t.value) = 'object';

-- Event types of the rules that count as qualifying spend.
CREATE TEMP TABLE spend_types AS
SELECT DISTINCT jsonb_array_elements_text(
         CASE jsonb_typeof(r->'event') WHEN 'array' THEN r->'event' ELSE jsonb_build_array(r->'event') END) AS type
  FROM program_versions v, jsonb_array_elements(v.document->'rules') r
 WHERE v.version = (SELECT max(version) FROM program_versions) AND (r->>'qualifying_spend')::boolean;
SQL

cat >"$WORK/tiers_program_check.sql" <<'SQL'
SELECT 1, 'the program has tracks spend and engagement, 3 or more levels each',
       count(*) FILTER (WHERE (track, metric) IN (('spend', 'qualifying_spend_cents'), ('engagement', 'growth_earned'))
                          AND levels >= 3) = 2,
       string_agg(track || ' ' || metric || ' ' || levels || ' levels', ', ')
  FROM program_tracks
UNION ALL
SELECT 2, 'a rule counts as qualifying spend', count(*) > 0, coalesce(string_agg(type, ' '), 'none') FROM spend_types;
SQL

cat >"$WORK/tiers_seed.sql" <<'SQL'
BEGIN;
-- The plan: per member and track, a scenario (n + track shift) % 4, the level before, the
-- level the window's value reaches, that value, and the level evaluate-tiers must leave.
CREATE TABLE bench_jobs_tier_plan AS
WITH drawn AS (
  SELECT n, 'mem_' || substr(md5('bench-tiers-' || n), 1, 20) AS member_id, t.track, t.metric,
         t.levels AS nl, t.max_drop,
         ((n + CASE t.track WHEN 'spend' THEN 0 ELSE 2 END) % 4)::int AS scenario,
         hashint8extended(n, CASE t.track WHEN 'spend' THEN 11 ELSE 12 END) & 9223372036854775807 AS h
    FROM generate_series(1, :members::bigint) n CROSS JOIN program_tracks t),
placed AS (
  SELECT d.*,
         (CASE scenario WHEN 0 THEN h % nl                  -- keep
                        WHEN 1 THEN 1 + h % (nl - 1)        -- down one
                        WHEN 2 THEN 2 + h % (nl - 2)        -- would drop two (max_drop caps it)
                        ELSE (h / 1000) % (1 + h % (nl - 1)) -- up
          END)::int AS before_idx,
         (CASE scenario WHEN 0 THEN h % nl
                        WHEN 1 THEN h % (nl - 1)
                        WHEN 2 THEN h % (nl - 2)
                        ELSE 1 + h % (nl - 1)
          END)::int AS reached_idx
    FROM drawn d),
valued AS (
  SELECT p.*,
         r.threshold + (hashint8extended(p.n, 21) & 9223372036854775807)
                       % coalesce(nx.threshold - r.threshold, greatest(r.threshold, 1000)) AS value,
         CASE WHEN reached_idx > before_idx THEN reached_idx
              WHEN reached_idx < before_idx THEN greatest(reached_idx, before_idx - max_drop)
              ELSE before_idx END AS expected_idx
    FROM placed p
    JOIN program_levels r ON r.track = p.track AND r.idx = p.reached_idx
    LEFT JOIN program_levels nx ON nx.track = p.track AND nx.idx = p.reached_idx + 1)
SELECT v.n, v.member_id, v.track, v.metric,
       (ARRAY['keep', 'down one', 'would drop two', 'up'])[v.scenario + 1] AS scenario,
       v.before_idx, b.code AS before_level, v.value, v.expected_idx, e.code AS expected_level,
       '2025-01-01T00:00:00Z'::timestamptz + make_interval(secs => (v.h / 7) % (300 * 86400)) AS guaranteed_until
  FROM valued v
  JOIN program_levels b ON b.track = v.track AND b.idx = v.before_idx
  JOIN program_levels e ON e.track = v.track AND e.idx = v.expected_idx;

INSERT INTO members (member_id, external_id, created_at)
SELECT member_id, 'bench-tiers-' || n, '2023-06-01T00:00:00Z' FROM bench_jobs_tier_plan WHERE track = 'spend' ORDER BY n;

INSERT INTO member_tiers (member_id, track, level, reached_at, guaranteed_until, evaluated_through)
SELECT p.member_id, p.track, p.before_level, p.guaranteed_until - make_interval(days => t.guaranteed_days),
       p.guaranteed_until, NULL
  FROM bench_jobs_tier_plan p JOIN program_tracks t USING (track)
 ORDER BY p.n, p.track;

-- One purchase per member in the window, its cash = the planned spend.
INSERT INTO events (event_id, member_id, type, occurred_at, amount_cents, request_sha256, program_version,
                    entry_id, received_at)
SELECT 'bench-purchase-' || p.n, p.member_id, (SELECT min(type) FROM spend_types), x.occurred_at, p.value,
       encode(sha256(convert_to('bench-purchase-' || p.n, 'UTF8')), 'hex'),
       (SELECT max(version) FROM program_versions), NULL, x.occurred_at + interval '2 seconds'
  FROM bench_jobs_tier_plan p
 CROSS JOIN LATERAL (SELECT t.window_from + interval '10 days'
                            + make_interval(secs => abs(hashint8extended(p.n, 31) % (330 * 86400))) AS occurred_at
                       FROM program_tracks t WHERE t.track = p.track) x
 WHERE p.metric = 'qualifying_spend_cents' AND p.value > 0
 ORDER BY p.n;

-- One GROWTH-awarding event per member in the window, its award = the planned GROWTH.
INSERT INTO events (event_id, member_id, type, occurred_at, amount_cents, request_sha256, program_version,
                    entry_id, received_at)
SELECT 'bench-growth-' || p.n, p.member_id, 'community_post', x.occurred_at, NULL,
       encode(sha256(convert_to('bench-growth-' || p.n, 'UTF8')), 'hex'),
       (SELECT max(version) FROM program_versions), NULL, x.occurred_at + interval '2 seconds'
  FROM bench_jobs_tier_plan p
 CROSS JOIN LATERAL (SELECT t.window_from + interval '10 days'
                            + make_interval(secs => abs(hashint8extended(p.n, 32) % (330 * 86400))) AS occurred_at
                       FROM program_tracks t WHERE t.track = p.track) x
 WHERE p.metric = 'growth_earned' AND p.value > 0
 ORDER BY p.n;

INSERT INTO event_awards (event_id, position, member_id, rule_id, campaign_id, asset, amount, occurred_at, pending_until)
SELECT e.event_id, 0, e.member_id, 'community-post', NULL, 'GROWTH', p.value, e.occurred_at, NULL
  FROM bench_jobs_tier_plan p JOIN events e ON e.event_id = 'bench-growth-' || p.n
 WHERE p.metric = 'growth_earned' AND p.value > 0
 ORDER BY p.n;
COMMIT;
VACUUM ANALYZE;
SQL

cat >"$WORK/tiers_plan.sql" <<'SQL'
SELECT track || ': ' || string_agg(scenario || ' ' || rows, ', ' ORDER BY scenario)
  FROM (SELECT track, scenario, count(*) AS rows FROM bench_jobs_tier_plan GROUP BY track, scenario) s
 GROUP BY track ORDER BY track;
SELECT 'events: ' || count(*) || ', GROWTH awards: ' || (SELECT count(*) FROM event_awards) FROM events;
SQL

# The floor: the job's reads and writes as one transaction of set-based SQL. :reversed is
# "- reversed_cents" where the schema has events.reversed_cents (refunds lower the spend).
cat >"$WORK/tiers_baseline.sql" <<'SQL'
BEGIN;
CREATE TEMP TABLE due ON COMMIT DROP AS
SELECT t.member_id, t.track, coalesce(l.idx, 0) AS idx
  FROM member_tiers t
  JOIN program_tracks p USING (track)
  LEFT JOIN program_levels l ON l.track = t.track AND l.code = t.level
 WHERE t.guaranteed_until <= :'as_of' AND (t.evaluated_through IS NULL OR t.evaluated_through < :'as_of');

CREATE TEMP TABLE qualifying ON COMMIT DROP AS
SELECT p.track, e.member_id, sum(e.amount_cents :reversed) AS value
  FROM program_tracks p
  JOIN events e ON e.occurred_at > p.window_from AND e.occurred_at <= :'as_of'
 WHERE p.metric = 'qualifying_spend_cents' AND e.type IN (SELECT type FROM spend_types) AND e.reversed_at IS NULL
 GROUP BY p.track, e.member_id
UNION ALL
SELECT p.track, a.member_id, sum(a.amount - coalesce(c.settled, 0))
  FROM program_tracks p
  JOIN event_awards a ON a.asset = 'GROWTH' AND a.occurred_at > p.window_from AND a.occurred_at <= :'as_of'
  JOIN events e ON e.event_id = a.event_id
  LEFT JOIN event_award_clawbacks c ON c.event_id = a.event_id AND c.position = a.position
 WHERE p.metric = 'growth_earned' AND e.reversed_at IS NULL
 GROUP BY p.track, a.member_id;

CREATE TEMP TABLE decided ON COMMIT DROP AS
SELECT d.member_id, d.track, d.idx, v.value, p.guaranteed_days,
       CASE WHEN r.reached > d.idx THEN r.reached
            WHEN r.reached < d.idx THEN greatest(r.reached, d.idx - p.max_drop)
            ELSE d.idx END AS target
  FROM due d
  JOIN program_tracks p USING (track)
  LEFT JOIN qualifying q ON q.track = d.track AND q.member_id = d.member_id
 CROSS JOIN LATERAL (SELECT coalesce(q.value, 0)::bigint AS value) v
 CROSS JOIN LATERAL (SELECT max(l.idx) AS reached FROM program_levels l
                      WHERE l.track = d.track AND l.threshold <= v.value) r;

INSERT INTO tier_changes (member_id, track, from_level, to_level, reason, qualifying_value, job, changed_at)
SELECT d.member_id, d.track, f.code, t.code, CASE WHEN d.target > d.idx THEN 'upgrade' ELSE 'downgrade' END,
       d.value, 'job:evaluate-tiers', :'as_of'
  FROM decided d
  JOIN program_levels f ON f.track = d.track AND f.idx = d.idx
  JOIN program_levels t ON t.track = d.track AND t.idx = d.target
 WHERE d.target <> d.idx
 ORDER BY d.member_id, d.track;

UPDATE member_tiers m
   SET evaluated_through = :'as_of',
       level = CASE WHEN d.target <> d.idx THEN l.code ELSE m.level END,
       reached_at = CASE WHEN d.target <> d.idx THEN :'as_of'::timestamptz ELSE m.reached_at END,
       guaranteed_until = CASE WHEN d.target <> d.idx
                               THEN :'as_of'::timestamptz + make_interval(days => d.guaranteed_days)
                               ELSE m.guaranteed_until END
  FROM decided d JOIN program_levels l ON l.track = d.track AND l.idx = d.target
 WHERE m.member_id = d.member_id AND m.track = d.track;

INSERT INTO job_runs (job, as_of, items, finished_at)
SELECT 'evaluate-tiers', :'as_of', count(*), clock_timestamp() FROM decided;
COMMIT;
SQL

cat >"$WORK/tiers_check.sql" <<'SQL'
WITH now_rows AS (
  SELECT p.*, m.level, m.reached_at, m.guaranteed_until AS guaranteed_now, m.evaluated_through,
         coalesce(l.idx, 0) AS level_idx, t.max_drop, t.guaranteed_days
    FROM bench_jobs_tier_plan p
    JOIN member_tiers m USING (member_id, track)
    JOIN program_tracks t USING (track)
    LEFT JOIN program_levels l ON l.track = m.track AND l.code = m.level),
changes AS (
  SELECT c.*, p.before_level, p.expected_level, p.value, p.before_idx, p.expected_idx
    FROM tier_changes c LEFT JOIN bench_jobs_tier_plan p USING (member_id, track))
SELECT 1, 'every due row judged: evaluated_through = as_of, or a new level reached at as_of',
       count(*) FILTER (WHERE evaluated_through IS DISTINCT FROM :'as_of'
                          AND NOT (level <> before_level AND reached_at = :'as_of')) = 0,
       count(*) || ' rows, ' || count(*) FILTER (WHERE evaluated_through = :'as_of') || ' with evaluated_through = as_of'
  FROM now_rows
UNION ALL
SELECT 2, 'every row at its planned level', count(*) FILTER (WHERE level <> expected_level) = 0,
       count(*) FILTER (WHERE level <> expected_level) || ' rows elsewhere'
  FROM now_rows
UNION ALL
SELECT 3, 'no row dropped more than max_levels_per_evaluation', count(*) FILTER (WHERE before_idx - level_idx > max_drop) = 0,
       count(*) FILTER (WHERE level_idx < before_idx) || ' dropped, largest drop '
         || coalesce(max(before_idx - level_idx) FILTER (WHERE level_idx < before_idx), 0)
  FROM now_rows
UNION ALL
SELECT 4, 'changed rows: reached_at = as_of, guaranteed for guaranteed_days more', count(*) FILTER (
         WHERE reached_at <> :'as_of' OR guaranteed_now <> :'as_of'::timestamptz + make_interval(days => guaranteed_days)) = 0,
       count(*) || ' changed rows'
  FROM now_rows WHERE level <> before_level
UNION ALL
SELECT 5, 'unchanged rows keep their guarantee', count(*) FILTER (WHERE guaranteed_now <> guaranteed_until) = 0,
       count(*) || ' unchanged rows'
  FROM now_rows WHERE level = before_level
UNION ALL
SELECT 6, 'one tier_changes row per changed row, from/to/value/reason as planned',
       count(*) = (SELECT count(*) FROM bench_jobs_tier_plan WHERE expected_idx <> before_idx)
         AND count(*) FILTER (WHERE from_level = before_level AND to_level = expected_level AND qualifying_value = value
                                AND reason = CASE WHEN expected_idx > before_idx THEN 'upgrade' ELSE 'downgrade' END
                                AND changed_at = :'as_of') = count(*),
       coalesce((SELECT string_agg(reason || ' ' || n, ', ' ORDER BY reason)
                   FROM (SELECT reason, count(*) AS n FROM tier_changes GROUP BY reason) r), 'none')
         || '; planned ' || (SELECT count(*) FROM bench_jobs_tier_plan WHERE expected_idx < before_idx) || ' down, '
         || (SELECT count(*) FROM bench_jobs_tier_plan WHERE expected_idx > before_idx) || ' up'
  FROM changes;
SQL

TIERS_STATE="SELECT (SELECT count(*) FROM tier_changes) || ' tier changes, member_tiers checksum '
  || (SELECT coalesce(sum(hashtext(member_id || track || level || reached_at || guaranteed_until
                                   || coalesce(evaluated_through::text, '-'))::bigint), 0) FROM member_tiers)"

bench_evaluate_tiers() {
  local db=${PREFIX}_tiers baseline=${PREFIX}_tiers_baseline
  local rows=$((TIER_MEMBERS * 2)) start reversed=
  echo "== evaluate-tiers: $TIER_MEMBERS members × 2 tracks = $rows rows, as of $AS_OF"
  prepare_database "$db"
  run_checks "$db" "$WORK/tiers_program_check.sql" -f "$WORK/program_tables.sql" >"$WORK/program_check.txt" ||
    { cat "$WORK/program_check.txt"; die "examples/program.yaml does not fit this benchmark"; }
  echo "seeding $TIER_MEMBERS members, $rows member_tiers rows, about $rows events and $TIER_MEMBERS GROWTH awards …"
  start=$(now)
  sql "$db" -v members="$TIER_MEMBERS" -f "$WORK/program_tables.sql" -f "$WORK/tiers_seed.sql" >/dev/null ||
    die "seeding failed"
  echo "seeded in $(since "$start") s (with VACUUM ANALYZE; not part of any figure)"
  sql "$db" -f "$WORK/tiers_plan.sql" | sed 's/^/  /'
  echo "copying the database for the baseline (CREATE DATABASE $baseline TEMPLATE $db) …"
  create_database "$baseline" "$db"
  if [ "$(sql "$db" -c "SELECT count(*) FROM information_schema.columns
                         WHERE table_name = 'events' AND column_name = 'reversed_cents'")" = 1 ]; then
    reversed="- reversed_cents"
  fi

  checkpoint
  echo "running loyaltyctl jobs run evaluate-tiers --as-of $AS_OF …"
  run_job "$db" evaluate-tiers
  local job_seconds=$JOB_SECONDS job_rss=$JOB_RSS_MIB
  [ "$JOB_STATUS" = "done" ] || die "evaluate-tiers answered '${JOB_STATUS:-?}', not done: $(cat "$WORK/job.txt")"
  [ "$JOB_ITEMS" = "$rows" ] || echo "note: the job reported $JOB_ITEMS item(s) for $rows rows"
  printf 'evaluate-tiers  %9d members (%d rows) in %8.2f s = %9s members/s, %9s rows/s, peak RSS %7.1f MiB\n' \
    "$TIER_MEMBERS" "$rows" "$job_seconds" "$(per_second "$TIER_MEMBERS" "$job_seconds")" \
    "$(per_second "$rows" "$job_seconds")" "$job_rss"

  checkpoint
  echo "baseline: the same reads and writes in one SQL transaction on the copy …"
  time_sql "$baseline" "$WORK/tiers_baseline.sql" -v reversed="$reversed" -f "$WORK/program_tables.sql"
  printf 'baseline SQL    %9d members (%d rows) in %8.2f s = %9s members/s, %9s rows/s\n' \
    "$TIER_MEMBERS" "$rows" "$SQL_SECONDS" "$(per_second "$TIER_MEMBERS" "$SQL_SECONDS")" \
    "$(per_second "$rows" "$SQL_SECONDS")"

  echo "checking the job's database …"
  local failed=0
  run_checks "$db" "$WORK/tiers_check.sql" -f "$WORK/program_tables.sql" || failed=1
  check_second_run "$db" evaluate-tiers "$TIERS_STATE" || failed=1
  echo "checking the baseline's database (the same checks) …"
  run_checks "$baseline" "$WORK/tiers_check.sql" -f "$WORK/program_tables.sql" || failed=1
  [ "$failed" = 0 ] || die "evaluate-tiers: a check failed (see FAIL above)"
  summarize evaluate-tiers "$rows" "$job_seconds" "$job_rss" "$SQL_SECONDS"
  drop_database "$baseline"
  drop_database "$db"
}

# ---- main ------------------------------------------------------------------------------------

echo "loyaltyctl: $CTL"
echo "server:     $(url_of postgres)"
warn_if_busy
for job in $JOBS; do
  case $job in
    expire-points) bench_expire_points ;;
    evaluate-tiers) bench_evaluate_tiers ;;
  esac
done

echo
printf '%-16s %-10s %-9s %-8s %-10s %-22s %s\n' job rows seconds rows/s "peak RSS" "baseline SQL seconds" ratio
printf '%s\n' "${SUMMARY[@]}"
echo "(ratio = the job's seconds ÷ the baseline's; rows = lots for expire-points, member-tracks for evaluate-tiers)"
