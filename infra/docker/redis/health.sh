#!/bin/bash
# redis-health — the container health check: PING with the password from the environment
# (REDISCLI_AUTH, or REDIS_PASSWORD as compose gives it), so it is on no command line.
export REDISCLI_AUTH="${REDISCLI_AUTH:-${REDIS_PASSWORD:-}}"
[ "$(redis-cli -h 127.0.0.1 -p 6379 --no-auth-warning ping)" = PONG ]
