#!/usr/bin/env bash
# make deps — install what the project needs, idempotently.
#
#   1. Debian packages (the list below): installed with apt-get when any is missing.
#   2. Java 17+, Maven and Go (>= the version Jaeger's go.mod asks for): checked, with a
#      clear message saying what to install when one is missing or too old.
#   3. Apache Kafka (broker jars from Maven Central) and Jaeger (built with Go) into the
#      cache ${XDG_CACHE_HOME:-$HOME/.cache}/todo-system, outside the checkout, so a fresh
#      clone on a warm machine rebuilds nothing.
#   4. Test tools Debian lacks, built with Go into the same cache: kustomize (tests/infra
#      builds infra/k8s with it and fails, rather than skips, when it is missing).
#   5. Containers: a running Docker engine (Debian's docker.io; dockerd is started when none
#      runs, and that is recorded so that the compose suite can stop it again) and the
#      docker compose v2 CLI plugin (built with Go into the cache when `docker compose` is
#      missing or older than 2.20). An engine that cannot run here is a warning, not an
#      error: the compose suite then says so and is skipped.
#   6. schemathesis (PyPI, the API test of tests/e2e/test_openapi.py) into a virtualenv of
#      Debian's python3 in the same cache, every package at the version
#      infra/schemathesis/requirements.txt pins.
#   7. The single-node Kubernetes cluster's programs (make k8s-up, the k8s suite): Kubernetes,
#      etcd and CoreDNS built with Go, the pause program with the C compiler, into the same
#      cache (infra/kube/build.sh; 10–30 minutes the first time, nothing afterwards).
# When everything is present it only checks, in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
. infra/versions.env
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/todo-system"

say()  { printf 'deps: %s\n' "$*"; }
die()  { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

# ---- 1. Debian packages -------------------------------------------------------------
DEB_PACKAGES=(
    # build (clang only for the libFuzzer targets)
    build-essential pkg-config clang libclang-rt-14-dev
    # C libraries (DEPENDENCIES.md)
    libgrpc-dev protobuf-c-compiler libprotobuf-c-dev libmicrohttpd-dev libjwt-dev
    libsodium-dev librdkafka-dev libpq-dev libhiredis-dev libcjson-dev libncurses-dev
    libreadline-dev libcurl4-openssl-dev uuid-dev libcmocka-dev
    # servers of the local stack
    postgresql redis-server nginx prometheus
    # Kafka and Jaeger are built from Maven Central / the Go module proxy; these run them
    openjdk-17-jre-headless maven
    # tools and independent test clients (python3-yaml: tests/infra reads the compose file
    # and infra/k8s/)
    kcat wrk hyperfine curl procps iproute2 tmux
    # tests of the stack script itself: shellcheck (tests/infra) and strace (every command
    # line the script runs, checked for secrets in tests/e2e/test_stack_security.py)
    shellcheck strace
    # Every module the Python tests import, named here even when another package pulls it
    # in (python3-jwt and python3-cryptography came only as dependencies of other packages);
    # pytest-random-order: the e2e suite runs in a random order (make test-e2e);
    # python3-venv: the virtualenv schemathesis runs in (step 5)
    python3-pytest python3-pytest-random-order python3-requests python3-grpcio
    python3-grpc-tools python3-protobuf python3-confluent-kafka python3-psycopg2 python3-redis
    python3-yaml python3-jwt python3-cryptography python3-venv
    # containers (infra/docker/): the engine, and debootstrap for the base image where no
    # registry serves debian:bookworm-slim
    docker.io debootstrap
)

missing=()
declare -A have=()
while read -r pkg state; do
    [ "$state" = "install ok installed" ] && have[$pkg]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${DEB_PACKAGES[@]}" 2>/dev/null || true)
# A machine with another Docker engine (docker-ce, …) keeps it: docker.io would conflict.
if command -v dockerd >/dev/null && [ -z "${have[docker.io]:-}" ]; then have[docker.io]=1; fi
for p in "${DEB_PACKAGES[@]}"; do [ -n "${have[$p]:-}" ] || missing+=("$p"); done

if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "not root and no sudo: run as root: apt-get install ${missing[*]}"
        SUDO=sudo
    fi
    $SUDO apt-get update -q || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" \
        || die "apt-get install failed for: ${missing[*]}"
    # Debian starts packaged servers on install where it can; the stack runs its own.
    for svc in postgresql redis-server nginx prometheus; do
        $SUDO service "$svc" stop >/dev/null 2>&1 || true
    done
fi

# ---- 2. toolchains ------------------------------------------------------------------
java_major=$(java -version 2>&1 | sed -nE 's/.*version "([0-9]+).*/\1/p' | head -1)
{ [ -n "$java_major" ] && [ "$java_major" -ge 17 ]; } \
    || die "Kafka ${KAFKA_VERSION} needs Java 17 or newer (found: ${java_major:-none}); install openjdk-17-jre-headless"
command -v mvn >/dev/null || die "Maven is needed to fetch the Kafka broker; install the 'maven' package"

# Go: at least the version Jaeger's own go.mod names (read from the pinned module).
go_need=$(sed -nE 's/^go ([0-9.]+)$/\1/p' infra/jaeger/go.mod)
command -v go >/dev/null || die "Go ${go_need}+ is needed to build Jaeger; install it (Debian's golang is too old)"
go_have=$(go env GOVERSION | sed 's/^go//')
[ "$(printf '%s\n%s\n' "$go_need" "$go_have" | sort -V | head -1)" = "$go_need" ] \
    || die "Go ${go_need}+ is needed to build Jaeger ${JAEGER_VERSION}; found go ${go_have}"
grep -qE "github.com/jaegertracing/jaeger v${JAEGER_VERSION}( |$)" infra/jaeger/go.mod \
    || die "infra/jaeger/go.mod does not pin jaeger v${JAEGER_VERSION} (versions.env)"

# ---- 3. Kafka and Jaeger into the cache ---------------------------------------------
KAFKA_DIR="$CACHE/kafka-${KAFKA_VERSION}"
# The stamp is the pom's checksum: a changed pom (another logging binding, say) refetches.
pom_sum=$(sha256sum infra/kafka/pom.xml | cut -c1-16)
if [ ! -f "$KAFKA_DIR/libs/kafka_2.13-${KAFKA_VERSION}.jar" ] || [ "$(cat "$KAFKA_DIR/pom.sum" 2>/dev/null)" != "$pom_sum" ]; then
    say "fetching Apache Kafka ${KAFKA_VERSION} from Maven Central into $KAFKA_DIR"
    tmp="$KAFKA_DIR.tmp.$$"
    rm -rf "$tmp"; mkdir -p "$tmp"
    # (Maven 3.8 prints colour resets even with -B -q: strip them from the log)
    mvn -q -B -Dstyle.color=never -f infra/kafka/pom.xml -Dkafka.version="${KAFKA_VERSION}" \
        dependency:copy-dependencies -DoutputDirectory="$tmp/libs" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' \
        || { rm -rf "$tmp"; die "mvn could not fetch Kafka ${KAFKA_VERSION}"; }
    echo "$pom_sum" >"$tmp/pom.sum"
    rm -rf "$KAFKA_DIR"; mv "$tmp" "$KAFKA_DIR"
fi

JAEGER_BIN="$CACHE/jaeger-${JAEGER_VERSION}/jaeger"
if [ ! -x "$JAEGER_BIN" ]; then
    say "building Jaeger ${JAEGER_VERSION} with Go into $JAEGER_BIN (takes minutes the first time)"
    mkdir -p "$(dirname "$JAEGER_BIN")"
    (cd infra/jaeger && GOFLAGS=-mod=mod go build -o "$JAEGER_BIN.tmp" github.com/jaegertracing/jaeger/cmd/jaeger) \
        || { rm -f "$JAEGER_BIN.tmp"; die "go build of Jaeger ${JAEGER_VERSION} failed"; }
    mv "$JAEGER_BIN.tmp" "$JAEGER_BIN"
fi

# ---- 4. test tools into the cache ---------------------------------------------------
KUSTOMIZE_BIN="$CACHE/kustomize-${KUSTOMIZE_VERSION}/kustomize"
if [ ! -x "$KUSTOMIZE_BIN" ]; then
    say "building kustomize ${KUSTOMIZE_VERSION} with Go into $KUSTOMIZE_BIN"
    tmp="$(dirname "$KUSTOMIZE_BIN").tmp.$$"
    rm -rf "$tmp"; mkdir -p "$tmp"
    GOFLAGS="" GOBIN="$tmp" go install "sigs.k8s.io/kustomize/kustomize/v5@v${KUSTOMIZE_VERSION}" \
        || { rm -rf "$tmp"; die "go install of kustomize ${KUSTOMIZE_VERSION} failed"; }
    rm -rf "$(dirname "$KUSTOMIZE_BIN")"; mv "$tmp" "$(dirname "$KUSTOMIZE_BIN")"
fi

# ---- 5. containers: the engine and the compose v2 plugin ----------------------------
# infra/docker/engine.sh starts dockerd when none answers (recording that it did) and says
# in one line when no engine can run on this machine.
docker_note=""
infra/docker/engine.sh start || docker_note=" (no Docker engine: the compose suite will be skipped)"

# docker compose v2: Debian 12 has only v1. `go install …/cmd@VERSION` refuses the module
# (exclude directives in its go.mod); built as the main module from its downloaded source
# it works. The binary is cached like Jaeger and linked as a CLI plugin.
COMPOSE_BIN="$CACHE/compose-${COMPOSE_VERSION}/docker-compose"
PLUGIN_DIR="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
compose_ok() {   # `docker compose` is v2.20 or newer (--wait, profiles, completed_successfully)
    local v; v=$(docker compose version --short 2>/dev/null | sed 's/^v//') || return 1
    [ -n "$v" ] && [ "$(printf '2.20.0\n%s\n' "$v" | sort -V | head -1)" = 2.20.0 ]
}
if ! compose_ok; then
    if [ ! -x "$COMPOSE_BIN" ]; then
        say "building docker compose v${COMPOSE_VERSION} with Go into $COMPOSE_BIN (a few minutes the first time)"
        src=$(cd / && GOFLAGS="" go mod download -json "github.com/docker/compose/v2@v${COMPOSE_VERSION}" \
              | sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p')
        [ -d "$src" ] || die "go mod download of github.com/docker/compose/v2@v${COMPOSE_VERSION} failed"
        tmp=$(mktemp -d)
        cp -r "$src" "$tmp/src" && chmod -R u+w "$tmp/src"
        mkdir -p "$(dirname "$COMPOSE_BIN")"
        (cd "$tmp/src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
            -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=v${COMPOSE_VERSION}" \
            -o "$COMPOSE_BIN.tmp" ./cmd) \
            || { rm -rf "$tmp" "$COMPOSE_BIN.tmp"; die "go build of docker compose v${COMPOSE_VERSION} failed"; }
        rm -rf "$tmp"
        mv "$COMPOSE_BIN.tmp" "$COMPOSE_BIN"
    fi
    mkdir -p "$PLUGIN_DIR"
    ln -sfn "$COMPOSE_BIN" "$PLUGIN_DIR/docker-compose"
    compose_ok || die "docker compose v${COMPOSE_VERSION} is in $PLUGIN_DIR but \`docker compose version\` does not answer"
fi

# ---- 6. schemathesis into a virtualenv in the cache ----------------------------------
# Debian's python3 (the one the test suite uses), not whatever python3 is first on PATH.
# The stamp is the requirements file's checksum: a changed pin rebuilds the environment.
grep -qxF "schemathesis==${SCHEMATHESIS_VERSION}" infra/schemathesis/requirements.txt \
    || die "infra/schemathesis/requirements.txt does not pin schemathesis==${SCHEMATHESIS_VERSION} (versions.env)"
ST_DIR="$CACHE/schemathesis-${SCHEMATHESIS_VERSION}"
req_sum=$(sha256sum infra/schemathesis/requirements.txt | cut -c1-16)
if [ ! -x "$ST_DIR/bin/schemathesis" ] || [ "$(cat "$ST_DIR/requirements.sum" 2>/dev/null)" != "$req_sum" ]; then
    say "installing schemathesis ${SCHEMATHESIS_VERSION} from PyPI into a virtualenv in $ST_DIR"
    # A virtualenv records its own path, so it is built where it stays; the stamp is written
    # last, so an interrupted install has none and is redone from scratch.
    rm -rf "$ST_DIR"
    /usr/bin/python3 -m venv "$ST_DIR" || die "python3 -m venv failed (is python3-venv installed?)"
    "$ST_DIR/bin/pip" install -q --disable-pip-version-check --no-deps --require-virtualenv \
        -r infra/schemathesis/requirements.txt \
        || { rm -rf "$ST_DIR"; die "pip could not install schemathesis ${SCHEMATHESIS_VERSION}"; }
    "$ST_DIR/bin/pip" check -q --disable-pip-version-check >/dev/null \
        || { rm -rf "$ST_DIR"; die "infra/schemathesis/requirements.txt is not a complete, consistent set"; }
    echo "$req_sum" >"$ST_DIR/requirements.sum"
fi

# ---- 7. the Kubernetes cluster's programs ---------------------------------------------
infra/kube/build.sh

say "ok (Kafka ${KAFKA_VERSION}, Kubernetes ${KUBERNETES_VERSION}, Jaeger ${JAEGER_VERSION}, kustomize ${KUSTOMIZE_VERSION}, schemathesis ${SCHEMATHESIS_VERSION}, $(docker compose version 2>/dev/null | head -1), cache $CACHE)$docker_note"
