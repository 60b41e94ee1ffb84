#!/bin/bash
# kafka-entrypoint — one Kafka node configured from the environment, in the foreground.
#
# As in the apache/kafka image: every variable KAFKA_<NAME> (except the JVM's
# KAFKA_HEAP_OPTS and KAFKA_OPTS) is the server property <name>, lower-cased, with "_" read
# as "." (KAFKA_LOG_DIRS -> log.dirs). CLUSTER_ID formats the first log directory when it
# has no meta.properties yet (the first start on a volume); later starts keep the data.
# Logs go to stdout (infra/local/conf/kafka-log4j2.properties, as the local stack).
set -euo pipefail
KAFKA_HOME=/opt/kafka
conf=$(mktemp /tmp/server.properties.XXXXXX)
while IFS='=' read -r name value; do
    case $name in KAFKA_HEAP_OPTS|KAFKA_OPTS) continue ;; esac
    key=$(printf '%s' "${name#KAFKA_}" | tr 'A-Z_' 'a-z.')
    printf '%s=%s\n' "$key" "$value" >>"$conf"
done < <(env | grep -E '^KAFKA_[A-Z0-9_]+=' | sort)

# the JVM's options, split on blanks as the apache/kafka image's scripts do
read -ra heap <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
read -ra opts <<<"${KAFKA_OPTS:-}"
java_cmd=(java "${heap[@]}" -XX:+UseG1GC -Djava.awt.headless=true "${opts[@]}"
          -Dlog4j2.configurationFile="$KAFKA_HOME/config/log4j2.properties" -cp "$KAFKA_HOME/libs/*")

logdir=$(sed -nE 's/^log\.dirs=([^,]*).*/\1/p' "$conf")
[ -n "$logdir" ] || { echo "kafka-entrypoint: KAFKA_LOG_DIRS is not set" >&2; exit 1; }
if [ ! -f "$logdir/meta.properties" ]; then
    [ -n "${CLUSTER_ID:-}" ] || { echo "kafka-entrypoint: CLUSTER_ID is not set (needed to format $logdir)" >&2; exit 1; }
    echo "kafka-entrypoint: formatting KRaft storage in $logdir"
    "${java_cmd[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$conf" --ignore-formatted
fi
exec "${java_cmd[@]}" kafka.Kafka "$conf"
