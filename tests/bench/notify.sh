#!/usr/bin/env bash
# notification-service benchmark, against the running stack (make bench). Prints, never asserts:
#   drain     events/s recorded from a 100,000-event backlog (a bench topic and database of
#             its own, a private instance of the release build; both deleted after)
#   latency   commit -> notification p50/p99 at a steady 200 changes/s through the API
# NOTIFY_BENCH_PARTS picks parts. Honours TODO_RUN_DIR like the stack script. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN="${TODO_RUN_DIR:-$PWD/.run}"
[ -s "$RUN/stack.env" ] || { echo "notify bench: no stack ($RUN/stack.env); run make up"; exit 1; }
# shellcheck source=/dev/null  # written by infra/local/stack
. "$RUN/stack.env"
curl -fsS -o /dev/null --max-time 5 "$NOTIFY_HTTP_URL/ready" || { echo "notify bench: notification-service not ready"; exit 1; }
# shellcheck disable=SC2086
exec /usr/bin/python3 tests/bench/notify_bench.py ${NOTIFY_BENCH_PARTS:-}
