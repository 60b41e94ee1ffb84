#!/bin/sh
# make-env.sh [FILE] — the passwords docker compose needs, generated once into FILE
# (default ${TODO_RUN_DIR:-.run}/compose.env, git-ignored, mode 0600): PostgreSQL's
# superuser and one role per service, and Redis's (REDIS_URL carries it). A second run
# keeps the values that are there (PostgreSQL sets them only when its volume is created)
# and adds only missing ones. Use the file with
#
#   docker compose --env-file .run/compose.env -f infra/docker-compose.yml up -d
#
# infra/docker-compose.yml refuses to start without these variables (${VAR:?}); nothing
# secret is committed.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
file=${1:-${TODO_RUN_DIR:-$root/.run}/compose.env}
mkdir -p "$(dirname "$file")"
umask 077
[ -e "$file" ] || : >"$file"
chmod 600 "$file"
gen() { head -c 18 /dev/urandom | base64 | tr '+/' 'xy'; }   # 24 URL-safe characters
for var in POSTGRES_PASSWORD PG_AUTH_PASSWORD PG_TASKS_PASSWORD PG_NOTIFICATIONS_PASSWORD REDIS_PASSWORD; do
    grep -q "^$var=." "$file" || printf '%s=%s\n' "$var" "$(gen)" >>"$file"
done
echo "make-env: $file"
