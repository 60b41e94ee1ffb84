#!/usr/bin/env bash
# auth-service benchmark, against the running stack (make bench). Prints, never asserts:
#   gRPC ValidateToken  calls/s, p50/p99 with 1 and with 16 concurrent callers (build/rel/bin/auth-bench,
#                       a gRPC core C client; each caller its own channel, one call at a time), and
#                       the server's CPU per call; one token throughout, so after the first call
#                       every check is a hit of the verified-token cache (auth_jwt.c)
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
# CPU ticks (user + system) of the auth-service so far: the server's cost per call, which
# stays meaningful when other work shares the CPUs (the client runs on the same cores).
auth_ticks() { awk '{print $14 + $15}' "/proc/$(cut -d' ' -f1 .run/pids/auth.pid)/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)
for n in 1 16; do
    t0=$(auth_ticks)
    out=$("$BENCH" --target "$AUTH_GRPC_ADDR" --token "$TOKEN" --callers "$n" --seconds "$SECS")
    t1=$(auth_ticks)
    calls=$(sed -n 's/.* calls=\([0-9]*\).*/\1/p' <<<"$out")
    us=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v c="${calls:-0}" 'BEGIN {printf "%.0f", c ? d / hz * 1e6 / c : 0}')
    echo "grpc ValidateToken  $out server_cpu_us_per_call=$us load=$(cut -d' ' -f1 /proc/loadavg)"
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
