#!/usr/bin/env bash
# make chaos: fault-injection runs against the real local stack (tests/chaos/chaos.py).
# chaos.py checks its settings, brings the stack up itself (release builds; the soak
# restarts the services on the ASan+UBSan builds and back), runs every scenario or those of
# CHAOS_SCENARIOS, and writes RELIABILITY.md. Not part of `make test`: it takes up to 20 minutes and loads the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
for t in build/asan/bin/tasks-service bin/tasks-service bin/notification-service bin/auth-service; do
    [ -x "$t" ] || { echo "chaos: $t is not built (make build build-asan)" >&2; exit 2; }
done
exec /usr/bin/python3 -u tests/chaos/chaos.py
