#!/usr/bin/env bash
# bench/checkout.sh — full mall checkouts (POST /v1/orders + POST /v1/orders/{id}/pay) per
# second, end to end over HTTP, next to a pgbench TPC-B-like baseline measured in the same
# run on the same machine at the same client counts (bench/run does the same for adjustments
# and holds; this script follows it step by step).
#
#   LOYALTY_DATABASE_URL=postgresql://... bench/checkout.sh
#
# Environment:
#   LOYALTY_DATABASE_URL        the service's database (required; migrated here if needed)
#   LOYALTY_ADMIN_DATABASE_URL  where to create the pgbench database (default: the same server,
#                               database "postgres")
#   LOYALTY_BUILD_DIR           build folder with tools/ and bench/ (default: <repo>/build)
#   BENCH_CLIENTS               client counts to run (default "8 32")
#   BENCH_SECONDS               seconds per measurement (default 20)
#   BENCH_MEMBERS               members created per measurement (default 1000)
#   BENCH_DB_WORKERS, BENCH_BATCH_MAX, BENCH_IO_THREADS   loyaltyd's pool (default 8, 32, 2)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${LOYALTY_BUILD_DIR:-$ROOT/build}
OUT=$ROOT/bench/out
PG_BIN=${LOYALTY_PG_BIN:-/usr/lib/postgresql/15/bin}

CLIENT_COUNTS=${BENCH_CLIENTS:-"8 32"}
RUN_SECONDS=${BENCH_SECONDS:-20}
MEMBERS=${BENCH_MEMBERS:-1000}
DB_WORKERS=${BENCH_DB_WORKERS:-8}
BATCH_MAX=${BENCH_BATCH_MAX:-32}
IO_THREADS=${BENCH_IO_THREADS:-2}

RATE_LIMIT=1000000
READY_TIMEOUT_SECONDS=60
PGBENCH_DATABASE=pgbench_checkout_baseline
PGBENCH_SCALE=10
PGBENCH_THREADS_MAX=2

LOYALTYD_PID=
SERVICE_URL=
declare -A RESULT_LINES=()
declare -A PGBENCH_TPS=()

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'bench/checkout.sh: %s\n' "$*" >&2; exit 1; }

check_prerequisites() {
  [ -n "${LOYALTY_DATABASE_URL:-}" ] || die "set LOYALTY_DATABASE_URL"
  local binary
  for binary in "$BUILD/tools/loyaltyd" "$BUILD/tools/loyaltyctl" "$BUILD/bench/checkout_bench"; do
    [ -x "$binary" ] || die "$binary is missing: build first (cmake --build $BUILD), or set LOYALTY_BUILD_DIR"
  done
  for binary in psql pgbench; do
    [ -x "$PG_BIN/$binary" ] || die "$PG_BIN/$binary is missing"
  done
  local count
  for count in $CLIENT_COUNTS; do
    [[ $count =~ ^[1-9][0-9]*$ ]] || die "BENCH_CLIENTS must be whole numbers, not '$count'"
  done
  [[ $RUN_SECONDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_SECONDS must be a whole number of seconds"
}

# Prints a libpq URI with its database name replaced: database_url_named URL NAME.
database_url_named() {
  local url=$1 name=$2
  local base=${url%%\?*}
  local query=${url:${#base}}
  local authority=${base#*://}
  local scheme=${base:0:$((${#base} - ${#authority}))}
  printf '%s%s/%s%s\n' "$scheme" "${authority%%/*}" "$name" "$query"
}

prepare_database() {
  say "migrating and applying examples/program.yaml"
  "$BUILD/tools/loyaltyctl" migrate >&2
  "$BUILD/tools/loyaltyctl" program apply "$ROOT/examples/program.yaml" >&2
}

create_admin_secret() {
  local key
  key=$("$BUILD/tools/loyaltyctl" keys create --role admin --name "checkout-bench-admin-$(date +%Y%m%d-%H%M%S)-$$" --json)
  printf '%s' "$key" | sed -nE 's/.*"secret":"([^"]+)".*/\1/p'
}

stop_service() {
  if [ -n "$LOYALTYD_PID" ] && kill -0 "$LOYALTYD_PID" 2>/dev/null; then
    kill -TERM "$LOYALTYD_PID" 2>/dev/null || true
    wait "$LOYALTYD_PID" 2>/dev/null || true
  fi
  LOYALTYD_PID=
}

http_get() {
  local path=$1 hostport=${SERVICE_URL#http://}
  (
    exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || exit 1
    printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$hostport" >&3
    cat <&3
  ) 2>/dev/null
}

start_service() {
  local log=$OUT/checkout-loyaltyd.log
  say "starting loyaltyd (db-workers $DB_WORKERS, batch-max $BATCH_MAX, io-threads $IO_THREADS); log in $log"
  "$BUILD/tools/loyaltyd" --listen 127.0.0.1:0 --database-url "$LOYALTY_DATABASE_URL" \
    --db-workers "$DB_WORKERS" --batch-max "$BATCH_MAX" --io-threads "$IO_THREADS" \
    --rate-limit "$RATE_LIMIT" --scheduler-interval 0 2>"$log" &
  LOYALTYD_PID=$!
  local waited=0
  while [ "$waited" -lt $((READY_TIMEOUT_SECONDS * 10)) ]; do
    kill -0 "$LOYALTYD_PID" 2>/dev/null || die "loyaltyd exited; see $log"
    [ -n "$SERVICE_URL" ] ||
      SERVICE_URL=$(sed -nE '/"msg":"serving"/{s/.*"url":"([^"]+)".*/\1/p;q}' "$log")
    if [ -n "$SERVICE_URL" ] && [[ $(http_get /readyz || true) == "HTTP/1.1 200 "* ]]; then
      say "loyaltyd is ready at $SERVICE_URL"
      return 0
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  die "loyaltyd did not become ready in ${READY_TIMEOUT_SECONDS}s; see $log"
}

checkpoint() {
  "$PG_BIN/psql" -q "$LOYALTY_DATABASE_URL" -c CHECKPOINT >/dev/null 2>&1 || true
}

# One admin key: the set-up creates and credits members (admin only), and admin may check out.
run_checkout() {
  local clients=$1 secret=$2
  local output=$OUT/checkout-$clients.txt
  say "checkout, $clients clients, ${RUN_SECONDS}s"
  checkpoint
  "$BUILD/bench/checkout_bench" --url "$SERVICE_URL" --key "$secret" --clients "$clients" \
    --seconds "$RUN_SECONDS" --members "$MEMBERS" | tee "$output" || true
  local line
  line=$(sed -n 's/^RESULT //p' "$output")
  [ -n "$line" ] || die "checkout_bench printed no RESULT line; see $output"
  RESULT_LINES[$clients]=$line
}

run_pgbench() {
  local admin_url=${LOYALTY_ADMIN_DATABASE_URL:-$(database_url_named "$LOYALTY_DATABASE_URL" postgres)}
  local url
  url=$(database_url_named "$admin_url" "$PGBENCH_DATABASE")
  say "pgbench baseline: recreating database $PGBENCH_DATABASE (scale $PGBENCH_SCALE)"
  PGOPTIONS='-c client_min_messages=warning' "$PG_BIN/psql" -q -v ON_ERROR_STOP=1 "$admin_url" \
    -c "DROP DATABASE IF EXISTS $PGBENCH_DATABASE WITH (FORCE)" -c "CREATE DATABASE $PGBENCH_DATABASE"
  "$PG_BIN/pgbench" -i -s "$PGBENCH_SCALE" -q "$url" >"$OUT/checkout-pgbench-init.txt" 2>&1 ||
    die "pgbench -i failed; see $OUT/checkout-pgbench-init.txt"
  local clients
  for clients in $CLIENT_COUNTS; do
    local threads=$((clients < PGBENCH_THREADS_MAX ? clients : PGBENCH_THREADS_MAX))
    local output=$OUT/checkout-pgbench-$clients.txt
    say "pgbench -M prepared -c $clients -j $threads -T $RUN_SECONDS (TPC-B-like)"
    checkpoint
    "$PG_BIN/pgbench" -M prepared -c "$clients" -j "$threads" -T "$RUN_SECONDS" "$url" >"$output" 2>&1 ||
      die "pgbench failed; see $output"
    local tps
    tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\).*/\1/p' "$output")
    [ -n "$tps" ] || die "no tps line in $output"
    PGBENCH_TPS[$clients]=$(awk -v tps="$tps" 'BEGIN { printf "%.1f", tps }')
    printf 'tps = %s\n' "${PGBENCH_TPS[$clients]}" >&2
  done
  "$PG_BIN/psql" -q "$admin_url" -c "DROP DATABASE IF EXISTS $PGBENCH_DATABASE WITH (FORCE)" || true
}

field() {
  printf '%s' "$1" | sed -nE "s/.*\"$2\":(\"([^\"]*)\"|([^,}]*)).*/\2\3/p"
}

print_table() {
  local format='%-8s %12s %10s %8s %8s %7s %12s %16s\n'
  echo
  echo "Checkout benchmark: ${RUN_SECONDS}s per row, $MEMBERS members, loyaltyd --db-workers $DB_WORKERS --batch-max $BATCH_MAX,"
  echo "$(nproc) cores shared by load generator, service and PostgreSQL. Compare ratios, not absolute figures."
  echo
  # shellcheck disable=SC2059
  printf "$format" clients "checkouts/s" "req/s" "p50 ms" "p99 ms" errors "pgbench tps" "checkouts/tps"
  local clients
  for clients in $CLIENT_COUNTS; do
    local line=${RESULT_LINES[$clients]} checkouts tps
    checkouts=$(field "$line" checkouts_per_second)
    tps=${PGBENCH_TPS[$clients]}
    # shellcheck disable=SC2059
    printf "$format" "$clients" "$checkouts" "$(field "$line" requests_per_second)" "$(field "$line" p50_ms)" \
      "$(field "$line" p99_ms)" "$(field "$line" errors)" "$tps" \
      "$(awk -v a="$checkouts" -v b="$tps" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')"
  done
  echo
  echo "One checkout = POST /v1/orders (order, lines, hold) + POST /v1/orders/{id}/pay (capture, mall_purchase earn)."
  echo "checkouts/tps: checkouts per second ÷ pgbench TPC-B-like transactions per second at the same client count."
}

main() {
  check_prerequisites
  mkdir -p "$OUT"
  prepare_database
  local secret
  secret=$(create_admin_secret)
  [ -n "$secret" ] || die "could not create an API key"
  trap stop_service EXIT
  trap 'exit 130' INT TERM
  start_service
  local clients
  for clients in $CLIENT_COUNTS; do
    run_checkout "$clients" "$secret"
  done
  stop_service
  run_pgbench
  print_table | tee "$OUT/checkout-summary.txt"
}

main "$@"
