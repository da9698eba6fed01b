#!/usr/bin/env bash
# bench/history.sh — is the cost of one event independent of the member's history?
#
# Gives one member HISTORY_EVENTS prior purchase events (default 10,000), then measures the
# latency of events, one client at a paced rate, for that member and for a new member, in
# alternating rounds so that drift on the machine falls on both. Prints p50/p99 of each and
# their ratio: the goal is the member with history within 10% of the new member.
#
#   LOYALTY_DATABASE_URL=postgresql://... bench/history.sh    (after scripts/dev db; builds first)
#
# Environment: HISTORY_EVENTS (10000), HISTORY_ROUNDS (3), HISTORY_SECONDS per round (8),
# HISTORY_RATE events/s while measuring (50), LOYALTY_BUILD_DIR (<repo>/build).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${LOYALTY_BUILD_DIR:-$ROOT/build}
OUT=$ROOT/bench/out/history
EVENTS=${HISTORY_EVENTS:-10000}
ROUNDS=${HISTORY_ROUNDS:-3}
SECONDS_PER_ROUND=${HISTORY_SECONDS:-8}
RATE=${HISTORY_RATE:-50}
PID=

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'bench/history.sh: %s\n' "$*" >&2; exit 1; }
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true; }
trap stop EXIT

[ -n "${LOYALTY_DATABASE_URL:-}" ] || die "set LOYALTY_DATABASE_URL (scripts/dev db prints one)"
mkdir -p "$OUT"
"$BUILD/tools/loyaltyctl" migrate >&2
"$BUILD/tools/loyaltyctl" program apply "$ROOT/examples/program.yaml" >&2
SECRET=$("$BUILD/tools/loyaltyctl" keys create --role admin --name "history-$$" --json | sed -nE 's/.*"secret":"([^"]+)".*/\1/p')
"$BUILD/tools/loyaltyd" --listen 127.0.0.1:0 --rate-limit 1000000 --scheduler-interval 0 2>"$OUT/loyaltyd.log" &
PID=$!
URL=
for _ in $(seq 300); do
  URL=$(sed -nE '/"msg":"serving"/{s/.*"url":"([^"]+)".*/\1/p;q}' "$OUT/loyaltyd.log")
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || die "loyaltyd did not start; see $OUT/loyaltyd.log"

bench() { "$BUILD/bench/loyalty_bench" --url "$URL" --key "$SECRET" "$@"; }
field() { sed -nE "s/^RESULT .*\"$1\":([0-9.]+).*/\1/p"; }

bench --workload setup --members 2 --members-file "$OUT/members.txt" >/dev/null
head -1 "$OUT/members.txt" >"$OUT/old.txt"
tail -1 "$OUT/members.txt" >"$OUT/new.txt"

say "giving $(cat "$OUT/old.txt") $EVENTS prior events"
done_events=0
while [ "$done_events" -lt "$EVENTS" ]; do
  n=$(bench --workload event --members-file "$OUT/old.txt" --clients 8 --seconds 5 | field requests)
  done_events=$((done_events + ${n%.*}))
  printf '  %d events\n' "$done_events" >&2
done

declare -a OLD_P50 NEW_P50 OLD_P99 NEW_P99
for round in $(seq "$ROUNDS"); do
  for who in old new; do
    line=$(bench --workload event --members-file "$OUT/$who.txt" --clients 1 --rate "$RATE" --seconds "$SECONDS_PER_ROUND" | grep '^RESULT')
    p50=$(printf '%s' "$line" | field p50_ms)
    p99=$(printf '%s' "$line" | field p99_ms)
    say "round $round, $who member: p50 $p50 ms, p99 $p99 ms"
    if [ "$who" = old ]; then OLD_P50+=("$p50"); OLD_P99+=("$p99"); else NEW_P50+=("$p50"); NEW_P99+=("$p99"); fi
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
old50=$(median "${OLD_P50[@]}"); new50=$(median "${NEW_P50[@]}")
old99=$(median "${OLD_P99[@]}"); new99=$(median "${NEW_P99[@]}")
echo
echo "Per-event latency, 1 client at $RATE events/s, median of $ROUNDS rounds of ${SECONDS_PER_ROUND}s:"
printf '  member with %d prior events: p50 %s ms, p99 %s ms\n' "$done_events" "$old50" "$old99"
printf '  new member:                   p50 %s ms, p99 %s ms\n' "$new50" "$new99"
awk -v a="$old50" -v b="$new50" 'BEGIN { r = a / b; printf "  ratio (p50): %.2f  %s (goal: within 10%%)\n", r, (r <= 1.10 ? "PASS" : "FAIL") }'
