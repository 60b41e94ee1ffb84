#!/bin/sh
# make-secrets.sh — prints the Secret todo-secrets (and its Namespace) for kubectl:
#
#   infra/k8s/make-secrets.sh | kubectl apply -f -
#
# The values are generated on the first run into ${TODO_RUN_DIR:-.run}/k8s/ (git-ignored,
# 0700/0600) and reused afterwards, so applying again changes nothing — PostgreSQL takes
# the role passwords only when its volume is created. secret.template.yaml lists the keys;
# nothing secret is ever committed. Needs openssl (the signing key).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${TODO_RUN_DIR:-$root/.run}/k8s
command -v openssl >/dev/null || { echo "make-secrets: openssl is needed (apt-get install openssl)" >&2; exit 1; }
umask 077
mkdir -p "$dir"
chmod 700 "$dir"

# value NAME: the generated value kept in $dir/NAME (24 URL-safe characters)
value() {
    [ -s "$dir/$1" ] || head -c 18 /dev/urandom | base64 | tr '+/' 'xy' | tr -d '\n' >"$dir/$1"
    cat "$dir/$1"
}
[ -s "$dir/jwt-es256.pem" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$dir/jwt-es256.pem" 2>/dev/null || { echo "make-secrets: openssl could not make the key" >&2; exit 1; }

b64() { printf '%s' "$1" | base64 | tr -d '\n'; }
pg_admin=$(value POSTGRES_PASSWORD)
pg_auth=$(value PG_AUTH_PASSWORD)
pg_tasks=$(value PG_TASKS_PASSWORD)
pg_notify=$(value PG_NOTIFICATIONS_PASSWORD)
redis=$(value REDIS_PASSWORD)

# the template's @NAME@ → base64 of the value (base64 has no '|', so sed is safe)
sed -e "s|@POSTGRES_PASSWORD@|$(b64 "$pg_admin")|" \
    -e "s|@PG_AUTH_PASSWORD@|$(b64 "$pg_auth")|" \
    -e "s|@PG_TASKS_PASSWORD@|$(b64 "$pg_tasks")|" \
    -e "s|@PG_NOTIFICATIONS_PASSWORD@|$(b64 "$pg_notify")|" \
    -e "s|@AUTH_DATABASE_URL@|$(b64 "postgres://auth:$pg_auth@postgres:5432/auth")|" \
    -e "s|@TASKS_DATABASE_URL@|$(b64 "postgres://tasks:$pg_tasks@postgres:5432/tasks")|" \
    -e "s|@NOTIFY_DATABASE_URL@|$(b64 "postgres://notifications:$pg_notify@postgres:5432/notifications")|" \
    -e "s|@REDIS_PASSWORD@|$(b64 "$redis")|" \
    -e "s|@REDIS_AUTH_CONF@|$(printf 'requirepass %s\n' "$redis" | base64 | tr -d '\n')|" \
    -e "s|@REDIS_URL@|$(b64 "redis://:$redis@redis:6379/0")|" \
    -e "s|@AUTH_JWT_PRIVATE_KEY@|$(base64 <"$dir/jwt-es256.pem" | tr -d '\n')|" \
    "$here/secret.template.yaml" >"$dir/secret.yaml"
if grep -v '^ *#' "$dir/secret.yaml" | grep -q '@[A-Z_]*@'; then
    echo "make-secrets: secret.template.yaml has a placeholder this script does not fill:" >&2
    grep -v '^ *#' "$dir/secret.yaml" | grep -o '@[A-Z_]*@' >&2
    exit 1
fi
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: todo-system\n---\n'
grep -v '^#' "$dir/secret.yaml"
