#!/bin/bash
# PostgreSQL first-start script (docker-entrypoint-initdb.d; infra/k8s/conf/initdb.sh is a
# copy): one database and one role per service, as infra/local/stack does — auth, tasks,
# notifications — each role owning only its own database, CONNECT revoked from PUBLIC.
# The passwords come from the environment (PG_AUTH_PASSWORD, PG_TASKS_PASSWORD,
# PG_NOTIFICATIONS_PASSWORD): psql reads them with \getenv and quotes them, so they appear
# neither here nor on a command line. Runs only while the data directory is empty: to change
# a password later, ALTER ROLE it and update the secret.
set -euo pipefail
for pair in auth:PG_AUTH_PASSWORD tasks:PG_TASKS_PASSWORD notifications:PG_NOTIFICATIONS_PASSWORD; do
    db=${pair%%:*} var=${pair#*:}
    [ -n "${!var:-}" ] || { echo "initdb.sh: $var is not set" >&2; exit 1; }
    psql -v ON_ERROR_STOP=1 -v db="$db" -v var="$var" --no-psqlrc \
         --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
\getenv pw :var
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'db') AS need_role \gset
\if :need_role
CREATE ROLE :"db" LOGIN PASSWORD :'pw';
\endif
SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') AS need_db \gset
\if :need_db
CREATE DATABASE :"db" OWNER :"db";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
\endif
SQL
done
