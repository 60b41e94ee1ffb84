#!/usr/bin/env bash
# tasks-service benchmark, against the running stack (make bench). Prints tables, never asserts:
#   reads     GET /api/tasks from the Redis read model vs PostgreSQL (Redis is stopped for the
#             second half and started again), users with 10, 100, 1,000 tasks, wrk through
#             the gateway and directly
#   drain     relay drain rate of a 100,000-row outbox backlog (bench topic, deleted after)
#   latency   commit-to-Kafka latency p50/p99 at a steady ~500 changes/s
#   overhead  write transactions with and without the outbox insert (pgbench), POST throughput
# TASKS_BENCH_SECONDS (default 10) sets each run's length; TASKS_BENCH_PARTS picks parts.
# Honours TODO_RUN_DIR (a second stack) like the stack script. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN="${TODO_RUN_DIR:-$PWD/.run}"
[ -s "$RUN/stack.env" ] || { echo "tasks bench: no stack ($RUN/stack.env); run make up"; exit 1; }
# shellcheck source=/dev/null  # written by infra/local/stack
. "$RUN/stack.env"
curl -fsS -o /dev/null --max-time 5 "$TASKS_HTTP_URL/ready" || { echo "tasks bench: tasks-service not ready"; exit 1; }
command -v wrk >/dev/null || { echo "tasks bench: wrk missing (make deps)"; exit 1; }
# shellcheck disable=SC2086
exec /usr/bin/python3 tests/bench/tasks_bench.py ${TASKS_BENCH_PARTS:-}
