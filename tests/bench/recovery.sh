#!/usr/bin/env bash
# Recovery after a dependency returns (issue 13, item 2), against the running stack (make bench).
# Prints, never asserts: for auth-service, PostgreSQL, Redis and Kafka in turn, the part is
# stopped for RECOVERY_OUTAGE seconds (default 30) under probe traffic and started again; the
# table shows, per service, the seconds from "the part answers again" to "the service is
# normal" (tests/e2e/recovery_support.py says what each probe checks), over RECOVERY_RUNS runs
# (default 2). RECOVERY_PARTS picks parts ("auth postgres redis kafka"). Honours TODO_RUN_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN="${TODO_RUN_DIR:-$PWD/.run}"
[ -s "$RUN/stack.env" ] || { echo "recovery bench: no stack ($RUN/stack.env); run make up"; exit 1; }
# shellcheck disable=SC2086
exec /usr/bin/python3 tests/bench/recovery_bench.py ${RECOVERY_PARTS:-}
