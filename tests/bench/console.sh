#!/usr/bin/env bash
# todo-console benchmark, against the running stack (make bench). Prints numbers, never asserts:
#   tail      `topics tail -o json` of 200,000 pre-filled messages beside `kcat -C -e -J`:
#             messages/s and peak RSS of each (goal: at least kcat's rate, at most 30 MB)
#   startup   hyperfine: `todo-console --version` and `todo-console -o json tasks list` beside
#             curl doing the same request
# CONSOLE_BENCH_MESSAGES (default 200000) sets the topic's size. Honours TODO_RUN_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN="${TODO_RUN_DIR:-$PWD/.run}"
[ -s "$RUN/stack.env" ] || { echo "console bench: no stack ($RUN/stack.env); run make up"; exit 1; }
for t in kcat hyperfine curl; do
    command -v $t >/dev/null || { echo "console bench: $t missing (make deps)"; exit 1; }
done
[ -x bin/todo-console ] || { echo "console bench: bin/todo-console missing (make build)"; exit 1; }
exec /usr/bin/python3 tests/bench/console_bench.py
