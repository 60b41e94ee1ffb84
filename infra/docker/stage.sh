#!/usr/bin/env bash
# infra/docker/stage.sh — put the third-party parts that `make deps` keeps in the project
# cache where the image builds can COPY them (build/docker/, git-ignored, inside the build
# context): Kafka's jars (infra/docker/kafka/Dockerfile) and the Jaeger binary
# (infra/docker/jaeger/Dockerfile). Hard links where the cache and the checkout share a file
# system (no copy, same inode: a second build sees nothing changed), copies otherwise.
# Files no longer in the cache (another version) are removed from the stage.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/infra/versions.env"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/todo-system"
STAGE="$ROOT/build/docker"

die() { printf 'stage: error: %s\n' "$*" >&2; exit 1; }

# sync SRC_DIR DEST_DIR: DEST holds exactly SRC's files (by name), linked or copied.
sync() {
    local src=$1 dest=$2 f
    mkdir -p "$dest"
    for f in "$dest"/*; do
        [ -e "$f" ] || continue
        [ -e "$src/${f##*/}" ] || rm -f "$f"
    done
    for f in "$src"/*; do
        [ "$f" -ef "$dest/${f##*/}" ] && continue
        ln -f "$f" "$dest/" 2>/dev/null || cp -p "$f" "$dest/"
    done
}

kafka="$CACHE/kafka-${KAFKA_VERSION}/libs"
jaeger="$CACHE/jaeger-${JAEGER_VERSION}"
[ -f "$kafka/kafka_2.13-${KAFKA_VERSION}.jar" ] || die "Kafka ${KAFKA_VERSION} is not in $CACHE: run 'make deps'"
[ -x "$jaeger/jaeger" ] || die "Jaeger ${JAEGER_VERSION} is not in $CACHE: run 'make deps'"
sync "$kafka" "$STAGE/kafka/libs"
mkdir -p "$STAGE/jaeger"
[ "$jaeger/jaeger" -ef "$STAGE/jaeger/jaeger" ] || ln -f "$jaeger/jaeger" "$STAGE/jaeger/jaeger" 2>/dev/null \
    || cp -p "$jaeger/jaeger" "$STAGE/jaeger/jaeger"
