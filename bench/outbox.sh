#!/usr/bin/env bash
# bench/outbox.sh — what the outbox costs the write path: the same rows of bench/run with the
# outbox on (as shipped) and off (its triggers disabled), alternated twice in one invocation,
# each run with its own pgbench baseline; the figure is throughput with the outbox ÷ without,
# each side normalised by its own pgbench run (the machines are noisy; ratios travel).
#
#   LOYALTY_DATABASE_URL=postgresql://... bench/outbox.sh
#   OUTBOX_WORKLOADS   rows measured (default "event checkout": events write a tier change now
#                      and then, every checkout writes order.paid)
#   BENCH_SECONDS      seconds per row (default 10)
# The goal (issue: outbox and webhooks): the outbox costs less than 10 % of write throughput.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=${LOYALTY_PG_BIN:-/usr/lib/postgresql/15/bin}
: "${LOYALTY_DATABASE_URL:?set LOYALTY_DATABASE_URL (scripts/dev db prints it)}"
WORKLOADS=${OUTBOX_WORKLOADS:-"event checkout"}
export BENCH_SECONDS=${BENCH_SECONDS:-10}
TRIGGERS=(tier_changes:outbox_tier_changes orders:outbox_order_paid order_refunds:outbox_order_refunded
  partner_exchanges:outbox_exchanges partner_right_claims:outbox_right_claims
  partner_statements:outbox_statements exports:outbox_export_finished)

set_triggers() {  # enable | disable
  local sql="" pair
  for pair in "${TRIGGERS[@]}"; do sql+="ALTER TABLE ${pair%%:*} $1 TRIGGER ${pair##*:};"; done
  "$PG_BIN/psql" -q -X "$LOYALTY_DATABASE_URL" -c "$sql" >/dev/null
}
trap 'set_triggers enable' EXIT

run() {  # on | off
  if [ "$1" = off ]; then set_triggers disable; else set_triggers enable; fi
  BENCH_WORKLOADS=$WORKLOADS BENCH_CLIENTS=8 BENCH_PROCESSES=1 BENCH_HOT=0 BENCH_PACED=0 \
    "$ROOT/bench/run" >/dev/null 2>"$ROOT/bench/out/outbox-$1-$2.log"
  cp "$ROOT/bench/out/summary.txt" "$ROOT/bench/out/outbox-$1-$2.txt"
}

mkdir -p "$ROOT/bench/out"
for round in 1 2; do
  run on "$round"
  run off "$round"
done

# The ratio column (req/s ÷ pgbench) of each workload, averaged over the rounds.
ratio_of() {  # state workload
  cat "$ROOT"/bench/out/outbox-"$1"-*.txt | awk -v w="$2" '$1 == w && $2 ~ /^[0-9]+$/ { sum += $18; n++ } END { if (n) printf "%.3f", sum / n }'
}
echo
echo "Outbox cost: bench/run rows at 8 clients, 1 process, ${BENCH_SECONDS}s, alternated on/off twice."
printf '%-10s %12s %12s %10s %s\n' workload "on (÷pgb)" "off (÷pgb)" "on ÷ off" verdict
for workload in $WORKLOADS; do
  on=$(ratio_of on "$workload")
  off=$(ratio_of off "$workload")
  awk -v w="$workload" -v on="$on" -v off="$off" 'BEGIN {
    r = off > 0 ? on / off : 0
    printf "%-10s %12s %12s %10.3f %s\n", w, on, off, r, (r >= 0.90 ? "PASS (cost < 10%)" : "FAIL (cost >= 10%)") }'
done
