#!/usr/bin/env bash
# infra/docker/base-image.sh — make sure the engine has debian:bookworm-slim, the base of
# every image of the compose system (infra/docker/*.Dockerfile).
#
#   1. Present already (pulled earlier, or made by this script): nothing to do.
#   2. A registry serves it (`docker pull`): the real image is used as it is.
#   3. Otherwise it is made here from Debian's packages: debootstrap --variant=minbase
#      bookworm from the machine's own Debian mirror, trimmed and configured the way the
#      official slim image is (no docs/man pages/locales, apt lists and caches removed,
#      dpkg told not to install docs later), then `docker import`ed under that name.
#
# The image made here is labelled org.todo-system.base=debootstrap, so it can be told apart
# from the official one (`docker image inspect`). Needs root (debootstrap) and the
# debootstrap package (make deps installs it).
set -euo pipefail

IMAGE=${BASE_IMAGE:-debian:bookworm-slim}   # (another name: tests/compose makes one to check this path)
SUITE=bookworm
PULL=${BASE_PULL:-1}                          # 0: do not try a registry
PULL_TIMEOUT=${BASE_PULL_TIMEOUT:-60}

say() { printf 'base-image: %s\n' "$*"; }
die() { printf 'base-image: error: %s\n' "$*" >&2; exit 1; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    exit 0
fi
if [ "$PULL" = 1 ] && timeout "$PULL_TIMEOUT" docker pull -q "$IMAGE" >/dev/null 2>&1; then
    say "$IMAGE pulled from the registry"
    exit 0
fi
say "no registry serves $IMAGE: making it with debootstrap (about a minute)"
[ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap is not installed (make deps installs it)"

# The mirror: the machine's own Debian sources (deb822 or one-line), else deb.debian.org.
# The security archive likewise. Both are written into the image's apt sources, so builds
# use the same mirrors as the host.
apt_uri() {   # apt_uri SUITE: the URI of the first source that lists SUITE
    local suite=$1
    {
        cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v s="$suite" '
            /^URIs:/ { uri = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) { print uri; exit } }
            /^$/ { uri = "" }'
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | sed -E 's/\[[^]]*\]//' | awk -v s="$suite" '$1 == "deb" && $3 == s { print $2; exit }'
    } | head -1 || true
}
MIRROR=$(apt_uri "$SUITE" || true); MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=$(apt_uri "$SUITE-security" || true); SECURITY=${SECURITY:-http://deb.debian.org/debian-security}

work=$(mktemp -d /var/tmp/todo-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/root"
debootstrap --variant=minbase --components=main "$SUITE" "$root" "$MIRROR" \
    >"$work/debootstrap.log" 2>&1 || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

# What the official slim image configures (its /etc/apt/apt.conf.d/docker-* and
# /etc/dpkg/dpkg.cfg.d/docker): later installs skip docs and clean up after themselves.
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# no documentation, manual pages or translations in images (as the official slim image)
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$root/etc/apt/apt.conf.d/docker-no-languages" <<'EOF'
Acquire::Languages "none";
EOF
cat >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests" <<'EOF'
Apt::AutoRemove::SuggestsImportant "false";
EOF
# trimmed as the slim image is: documentation, caches, lists and logs
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$root"/usr/share/{man,info,locale,groff,lintian,linda}/* \
       "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/* \
       "$root"/var/cache/debconf/*-old "$root"/tmp/* "$root"/root/.bash_history
: >"$root/etc/hostname"
: >"$root/etc/resolv.conf"   # the engine provides it
tar -C "$root" --numeric-owner -c . \
    | docker import -c 'CMD ["bash"]' -c 'LABEL org.todo-system.base=debootstrap' \
                    -m "debootstrap --variant=minbase $SUITE $MIRROR" - "$IMAGE" >/dev/null \
    || die "docker import failed"
say "$IMAGE made from $MIRROR ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
