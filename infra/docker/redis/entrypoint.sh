#!/bin/bash
# redis-entrypoint [redis-server options…] — Redis with a required password.
#
# REDIS_PASSWORD becomes `requirepass`; it reaches redis-server on its standard input as a
# configuration file (`redis-server -`), so it is on no command line (ps, docker inspect
# show the arguments, not stdin). Without it the container refuses to start: the read model
# holds every user's tasks. Data in /data; the options given are added after the file.
set -euo pipefail
[ -n "${REDIS_PASSWORD:-}" ] || { echo "redis-entrypoint: REDIS_PASSWORD is not set; refusing to run Redis without a password" >&2; exit 1; }
case $REDIS_PASSWORD in *[[:space:]\"\\]*)
    echo "redis-entrypoint: REDIS_PASSWORD must not contain spaces, quotes or backslashes" >&2; exit 1 ;;
esac
exec redis-server - --bind '* -::*' --port 6379 --dir /data --protected-mode no --logfile '' "$@" <<CONF
requirepass "$REDIS_PASSWORD"
CONF
