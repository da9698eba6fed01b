#!/usr/bin/env bash
# bench/checkout.sh — full mall checkouts (POST /v1/orders + POST /v1/orders/{id}/pay) beside
# pgbench. Checkout is one workload of bench/run now (loyalty_bench --workload checkout), in
# the same table as the other workloads; this script runs bench/run with only that workload
# and takes the same environment (see the top of bench/run and bench/README.md).
#
#   LOYALTY_DATABASE_URL=postgresql://... bench/checkout.sh
set -euo pipefail
export BENCH_WORKLOADS=${BENCH_WORKLOADS:-checkout}
export BENCH_HOT=${BENCH_HOT:-0}
export BENCH_PACED=${BENCH_PACED:-0}
exec "$(dirname "${BASH_SOURCE[0]}")/run" "$@"
