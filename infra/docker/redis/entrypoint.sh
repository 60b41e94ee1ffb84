#!/bin/bash
# redis-entrypoint [redis-server] [CONFIG_FILE] [redis-server options…] — Redis with a required
# password, given one of two ways (never on a command line, which ps and docker inspect show):
#
#   REDIS_PASSWORD   (docker compose) becomes `requirepass` in a configuration that reaches
#                    redis-server on its standard input (`redis-server -`);
#   CONFIG_FILE      (Kubernetes) a mounted file with a `requirepass` line (the Secret's
#                    REDIS_AUTH_CONF), given as the first argument.
#
# With neither the container refuses to start: the read model holds every user's tasks.
# Data in /data; the options given are added after the configuration.
set -euo pipefail
[ "${1:-}" = redis-server ] && shift
defaults=(--bind '* -::*' --port 6379 --dir /data --protected-mode no --logfile '')
if [ -n "${REDIS_PASSWORD:-}" ]; then
    case $REDIS_PASSWORD in *[[:space:]\"\\]*)
        echo "redis-entrypoint: REDIS_PASSWORD must not contain spaces, quotes or backslashes" >&2; exit 1 ;;
    esac
    exec redis-server - "${defaults[@]}" "$@" <<CONF
requirepass "$REDIS_PASSWORD"
CONF
fi
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ] && [ -r "$1" ] && grep -q '^requirepass ' "$1"; then
    conf=$1; shift
    exec redis-server "$conf" "${defaults[@]}" "$@"
fi
echo "redis-entrypoint: no password: set REDIS_PASSWORD, or give a configuration file with requirepass;" \
     "refusing to run Redis without one" >&2
exit 1
