#!/bin/bash
# postgres-entrypoint [postgres] [-c name=value]… — start PostgreSQL in the container.
#
# As root it makes PGDATA and the socket directory the postgres user's and re-runs itself
# as that user (Kubernetes mounts a volume owned by root). On the first start (no
# PG_VERSION in PGDATA) it creates the cluster with POSTGRES_PASSWORD as the superuser's
# password (from a file, never on a command line), allows password logins from the
# network (scram-sha-256), runs /docker-entrypoint-initdb.d/*.sh on a server that listens
# only on its socket — so a health check over TCP cannot pass before they are done — and
# stops it. Then the server runs in the foreground, listening on every interface.
# Anything else as the first argument is run as it is (e.g. `bash`).
set -euo pipefail
if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
[ "$1" = postgres ] || exec "$@"
shift

if [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$PGDATA" /run/postgresql
    chown postgres:postgres "$PGDATA" /run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    [ -n "${POSTGRES_PASSWORD:-}" ] || { echo "postgres-entrypoint: POSTGRES_PASSWORD is not set" >&2; exit 1; }
    pwfile=$(mktemp)
    trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb -D "$PGDATA" -U postgres --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    printf '\n# every address, with a password (docker network / pod network)\nhost all all all scram-sha-256\n' \
        >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -w -t 60 -o "-c listen_addresses='' -c unix_socket_directories=/run/postgresql" start >/dev/null
    for f in /docker-entrypoint-initdb.d/*; do
        case $f in
            *.sh)  echo "postgres-entrypoint: running $f"; bash "$f" ;;
            *.sql) echo "postgres-entrypoint: running $f"; psql -v ON_ERROR_STOP=1 -X -q -U postgres -d postgres -f "$f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
    echo "postgres-entrypoint: cluster created in $PGDATA"
fi
exec postgres -c listen_addresses='*' -c unix_socket_directories=/run/postgresql "$@"
