#!/usr/bin/env bash
# infra/kube/build.sh — build the parts of the single-node Kubernetes cluster into the project
# cache, from source (make deps runs it; nothing is pulled from an image registry):
#
#   $CACHE/kube-$KUBERNETES_VERSION/bin/   kube-apiserver kube-controller-manager kube-scheduler
#                                          kubelet kube-proxy kubectl   (k8s.io/kubernetes)
#                                          etcd                        (go.etcd.io/etcd/server/v3)
#                                          coredns                     (github.com/coredns/coredns)
#                                          pause                       (build/pause/linux/pause.c)
#
# Versions: infra/versions.env, pinned with their checksums in infra/kube/go.mod and go.sum
# (Kubernetes and etcd: one module graph, Kubernetes' own) and infra/kube/coredns/. Each group
# carries a stamp (the checksum of its recipe): a warm run compares the stamps and rebuilds
# nothing; a changed pin rebuilds only its group. Static binaries (CGO_ENABLED=0, as the
# Kubernetes release builds them), version strings set the way Kubernetes' hack/lib/version.sh
# sets them. The compiler runs with KUBE_BUILD_JOBS parallel jobs (default 2: the machine is
# shared); a cold build is about 16 minutes of CPU: 10–30 minutes on 2 cores, idle or shared
# (README "Timings").
#
#   build.sh            build what is missing or stale
#   build.sh --check    exit 0 when everything is built and current, 1 otherwise (no build)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../versions.env
. "$ROOT/infra/versions.env"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/todo-system"
OUT="$CACHE/kube-${KUBERNETES_VERSION}"
JOBS=${KUBE_BUILD_JOBS:-2}

say() { printf 'kube-build: %s\n' "$*"; }
die() { printf 'kube-build: error: %s\n' "$*" >&2; exit 1; }

K8S_TOOLS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

# The recipes must name the versions versions.env names.
grep -qE "^\s*k8s.io/kubernetes v${KUBERNETES_VERSION}( |$)" "$HERE/go.mod" \
    || die "infra/kube/go.mod does not pin k8s.io/kubernetes v${KUBERNETES_VERSION} (versions.env)"
grep -qE "^\s*go.etcd.io/etcd/server/v3 v${ETCD_VERSION}( |$)" "$HERE/go.mod" \
    || die "infra/kube/go.mod does not pin go.etcd.io/etcd/server/v3 v${ETCD_VERSION} (versions.env)"
grep -qE "^require github.com/coredns/coredns v${COREDNS_VERSION}$" "$HERE/coredns/go.mod" \
    || die "infra/kube/coredns/go.mod does not pin CoreDNS v${COREDNS_VERSION} (versions.env)"

# stamp FILES…: the checksum of a group's recipe (its pins, this script's flags, the versions)
stamp() {
    { cat "$@"; echo "$KUBERNETES_VERSION $ETCD_VERSION $COREDNS_VERSION $PAUSE_VERSION"
      sed -n '/^# ---- flags/,/^# ---- end of flags/p' "$0"; } | sha256sum | cut -c1-16
}
current() {   # current NAME STAMP: the group's binaries are there and were built from STAMP
    [ "$(cat "$OUT/$1.stamp" 2>/dev/null)" = "$2" ]
}

# ---- flags (part of every stamp) ---------------------------------------------------------
export CGO_ENABLED=0 GOMAXPROCS="$JOBS"
# -mod=readonly: build exactly the pinned graph (a missing checksum is an error, not an
# update); -buildvcs=false: the main module is a recipe inside this repository, not a release.
export GOFLAGS="-mod=readonly -buildvcs=false"
LDFLAGS="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LDFLAGS="$LDFLAGS -X $p.gitVersion=v${KUBERNETES_VERSION} -X $p.gitMajor=${KUBERNETES_VERSION%%.*}"
    minor=${KUBERNETES_VERSION#*.}; minor=${minor%%.*}
    LDFLAGS="$LDFLAGS -X $p.gitMinor=$minor -X $p.gitTreeState=archive"
done
PAUSE_CFLAGS="-Os -Wall -Werror -static -DVERSION=v${PAUSE_VERSION}-v${KUBERNETES_VERSION}"
# ---- end of flags ------------------------------------------------------------------------

kube_stamp=$(stamp "$HERE/go.mod" "$HERE/go.sum")
dns_stamp=$(stamp "$HERE/coredns/go.mod" "$HERE/coredns/go.sum" "$HERE/coredns/main.go")
pause_stamp=$kube_stamp   # the C source comes with the Kubernetes module

if [ "${1:-}" = --check ]; then
    current kube "$kube_stamp" && current coredns "$dns_stamp" && current pause "$pause_stamp"
    exit
fi

command -v go >/dev/null || die "Go is needed to build the cluster (make deps checks its version)"
mkdir -p "$OUT/bin"

if ! current kube "$kube_stamp"; then
    say "building Kubernetes v${KUBERNETES_VERSION} (${K8S_TOOLS[*]}) and etcd v${ETCD_VERSION} into $OUT/bin (cold: 10–30 minutes)"
    t0=$SECONDS
    tmp="$OUT/bin.tmp.$$"; rm -rf "$tmp"; mkdir -p "$tmp"
    pkgs=()
    for t in "${K8S_TOOLS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$t"); done
    (cd "$HERE" && go mod download) || die "go mod download failed in infra/kube"
    (cd "$HERE" && go build -p "$JOBS" -trimpath -ldflags "$LDFLAGS" -o "$tmp/" "${pkgs[@]}") \
        || { rm -rf "$tmp"; die "go build of Kubernetes v${KUBERNETES_VERSION} failed"; }
    (cd "$HERE" && go build -p "$JOBS" -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3) \
        || { rm -rf "$tmp"; die "go build of etcd v${ETCD_VERSION} failed"; }
    "$tmp/kube-apiserver" --version | grep -qx "Kubernetes v${KUBERNETES_VERSION}" \
        || { rm -rf "$tmp"; die "the kube-apiserver built does not report v${KUBERNETES_VERSION}"; }
    for f in "$tmp"/*; do mv -f "$f" "$OUT/bin/"; done
    rmdir "$tmp"
    echo "$kube_stamp" >"$OUT/kube.stamp"
    say "Kubernetes and etcd built in $((SECONDS - t0))s"
fi

if ! current coredns "$dns_stamp"; then
    say "building CoreDNS v${COREDNS_VERSION} into $OUT/bin"
    t0=$SECONDS
    (cd "$HERE/coredns" && go build -p "$JOBS" -trimpath -ldflags "-s -w" -o "$OUT/bin/coredns.tmp" .) \
        || { rm -f "$OUT/bin/coredns.tmp"; die "go build of CoreDNS v${COREDNS_VERSION} failed"; }
    mv -f "$OUT/bin/coredns.tmp" "$OUT/bin/coredns"
    echo "$dns_stamp" >"$OUT/coredns.stamp"
    say "CoreDNS built in $((SECONDS - t0))s"
fi

if ! current pause "$pause_stamp"; then
    # The pause container's program, as Kubernetes builds it (build/pause/Makefile: a static
    # binary from linux/pause.c); the version there must be the one versions.env names.
    src=$(cd "$HERE" && go list -m -f '{{.Dir}}' k8s.io/kubernetes) || die "k8s.io/kubernetes is not downloaded"
    grep -qE "^TAG \?= ${PAUSE_VERSION}$" "$src/build/pause/Makefile" \
        || die "Kubernetes v${KUBERNETES_VERSION} builds another pause version than PAUSE_VERSION=${PAUSE_VERSION} ($src/build/pause/Makefile)"
    # shellcheck disable=SC2086  # (flags)
    cc $PAUSE_CFLAGS -o "$OUT/bin/pause.tmp" "$src/build/pause/linux/pause.c" \
        || die "could not compile pause.c (needs a C compiler and static libc: build-essential)"
    mv -f "$OUT/bin/pause.tmp" "$OUT/bin/pause"
    echo "$pause_stamp" >"$OUT/pause.stamp"
    say "pause ${PAUSE_VERSION} built"
fi
