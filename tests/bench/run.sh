#!/usr/bin/env bash
# make bench: runs every tests/bench/*.sh (except this file) against the running stack and
# prints their numbers. Benchmarks print; they never assert timings.
set -euo pipefail
cd "$(dirname "$0")/../.."
rc=0
for b in tests/bench/*.sh; do
    [ "$(basename "$b")" = run.sh ] && continue
    echo "== $b"
    bash "$b" || { echo "bench: $b failed"; rc=1; }
done
exit $rc
