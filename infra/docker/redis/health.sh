#!/bin/bash
# redis-health — the container health check: PING with the password from the environment
# (REDISCLI_AUTH, so the password is on no command line).
REDISCLI_AUTH=${REDIS_PASSWORD:-} exec sh -c 'redis-cli -h 127.0.0.1 -p 6379 --no-auth-warning ping | grep -qx PONG'
