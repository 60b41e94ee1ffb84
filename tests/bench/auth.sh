#!/usr/bin/env bash
# auth-service benchmark, against the running stack (make bench). Prints, never asserts:
#   gRPC ValidateToken  calls/s, p50/p99 with 1 and with 16 concurrent callers (build/rel/bin/auth-bench,
#                       a gRPC core C client; each caller its own channel, one call at a time)
#   REST validate       GET /api/auth/validate requests/s (wrk, 16 connections), for comparison
#   login               POST /api/auth/login requests/s and latency (wrk, 8 connections):
#                       bounded by argon2id (~0.1 s of CPU and 64 MiB per hash)
# Direct to the service (not through the gateway, whose per-address limits would be measured).
# AUTH_BENCH_SECONDS (default 10) sets each run's length.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# shellcheck source=/dev/null  # written by infra/local/stack
. .run/stack.env
SECS=${AUTH_BENCH_SECONDS:-10}
BENCH=$ROOT/build/rel/bin/auth-bench
[ -x "$BENCH" ] || { echo "auth bench: $BENCH missing (make build)"; exit 1; }
curl -fsS -o /dev/null --max-time 5 "$AUTH_HTTP_URL/ready" || { echo "auth bench: auth-service not ready"; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
EMAIL="bench-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')@example.com"
PASS="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
BODY=$(printf '{"email":"%s","password":"%s"}' "$EMAIL" "$PASS")
curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' -d "$BODY" "$AUTH_HTTP_URL/api/auth/register"
TOKEN=$(curl -fsS -X POST -H 'Content-Type: application/json' -d "$BODY" "$AUTH_HTTP_URL/api/auth/login" |
        /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

echo "auth-service bench: ${SECS}s per run, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for n in 1 16; do
    out=$("$BENCH" --target "$AUTH_GRPC_ADDR" --token "$TOKEN" --callers "$n" --seconds "$SECS")
    echo "grpc ValidateToken  $out"
done

# wrk prints "Requests/sec: N" and, with --latency, the 50% and 99% lines.
wrk_summary() {
    awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
         /Non-2xx/ {bad=$NF} END {printf "req_per_s=%s p50=%s p99=%s non_2xx=%s\n", rps, p50, p99, bad+0}'
}

wrk -t2 -c16 -d"${SECS}s" --latency -H "Authorization: Bearer $TOKEN" \
    "$AUTH_HTTP_URL/api/auth/validate" >"$TMP/validate.txt"
echo "rest validate       connections=16 $(wrk_summary <"$TMP/validate.txt")"

cat >"$TMP/login.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
LUA
wrk -t2 -c8 -d"${SECS}s" --timeout 30s --latency -s "$TMP/login.lua" \
    "$AUTH_HTTP_URL/api/auth/login" >"$TMP/login.txt"
echo "rest login          connections=8 $(wrk_summary <"$TMP/login.txt")"
