#!/usr/bin/env bash
# todo-console benchmark, against the running stack (make bench). Prints numbers, never asserts:
#   tail      `topics tail -o json` of 200,000 pre-filled messages beside `kcat -C -e -J`:
#             messages/s and peak RSS of each (goal: at least kcat's rate, at most 30 MB)
#   startup   hyperfine: `todo-console --version` and `todo-console -o json tasks list` beside
#             curl doing the same request
#   ui        the full-screen console, headless: the Topics view rendering the 200,000 messages
#             (msgs/s, peak RSS; goal >= 20,000/s, <= 30 MB), keystroke to screen with 100,000
#             buffered (goal <= 16 ms), a 5,000-span trace drawn (goal <= 50 ms)
# Arguments pick sections (`tests/bench/console.sh ui`); none: all three.
# CONSOLE_BENCH_MESSAGES (default 200000) sets the topic's size. Honours TODO_RUN_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN="${TODO_RUN_DIR:-$PWD/.run}"
[ -s "$RUN/stack.env" ] || { echo "console bench: no stack ($RUN/stack.env); run make up"; exit 1; }
for t in kcat hyperfine curl; do
    command -v $t >/dev/null || { echo "console bench: $t missing (make deps)"; exit 1; }
done
[ -x bin/todo-console ] || { echo "console bench: bin/todo-console missing (make build)"; exit 1; }
exec /usr/bin/python3 tests/bench/console_bench.py "$@"
