#!/usr/bin/env bash
# outbox-inspect and trace-view benchmark, against the running stack (make bench). Prints,
# never asserts:
#   trace-view       the 5,000-span Jaeger JSON file of tests/e2e/trace_fixtures.py: time to the
#                    drawn waterfall (hyperfine) and peak RSS (goal: at most 50 ms)
#   outbox-inspect   `stats` on a 1,000,000-row outbox in a scratch database of its own (created
#                    here, dropped after): time (hyperfine), the query plans and the indexes they
#                    use (goal: at most 200 ms)
# TOOLS_BENCH_ROWS sets the outbox's size. Honours TODO_RUN_DIR like the stack script.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN="${TODO_RUN_DIR:-$PWD/.run}"
[ -s "$RUN/stack.env" ] || { echo "tools bench: no stack ($RUN/stack.env); run make up"; exit 1; }
command -v hyperfine >/dev/null || { echo "tools bench: hyperfine missing (make deps)"; exit 1; }
for t in trace-view outbox-inspect; do
    [ -x "bin/$t" ] || { echo "tools bench: bin/$t missing (make build)"; exit 1; }
done
exec /usr/bin/python3 tests/bench/tools_bench.py
