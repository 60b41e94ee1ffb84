#!/bin/sh
# runtime-deps.sh BINARY… — the Debian packages that provide the shared libraries the
# binaries link against, one name a line (sorted, without the :arch suffix).
# Used by infra/docker/Dockerfile so that each runtime image installs exactly the
# libraries its binary needs, and nothing of the -dev toolchain.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 BINARY…" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for bin in "$@"; do
    [ -x "$bin" ] || { echo "runtime-deps: $bin is not an executable" >&2; exit 1; }
    ldd "$bin" >"$tmp/ldd" || { echo "runtime-deps: ldd $bin failed" >&2; exit 1; }
    if grep -q 'not found' "$tmp/ldd"; then
        echo "runtime-deps: $bin has unresolved libraries:" >&2
        grep 'not found' "$tmp/ldd" >&2
        exit 1
    fi
    # "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x…)"
    awk '$2 == "=>" && $3 ~ /^\// { print $3 }' "$tmp/ldd" >>"$tmp/libs"
done
sort -u "$tmp/libs" -o "$tmp/libs"
# merged /usr: dpkg may know a file under /lib or /usr/lib, by its link or its real name.
# Every spelling of every library, asked in one dpkg call (one call per path is slow).
while read -r lib; do
    real=$(readlink -f "$lib")
    for p in "$lib" "$real" "/usr$real" "${real#/usr}" "/usr$lib" "${lib#/usr}"; do
        echo "$p"
    done
done <"$tmp/libs" | sort -u >"$tmp/paths"
# "libfoo1:amd64: /usr/lib/x86_64-linux-gnu/libfoo.so.1" (several packages: "a, b: path")
xargs dpkg -S <"$tmp/paths" 2>/dev/null | grep -v "^diversion by" >"$tmp/owners" || true
while read -r lib; do
    real=$(readlink -f "$lib")
    found=""
    for p in "$lib" "$real" "/usr$real" "${real#/usr}" "/usr$lib" "${lib#/usr}"; do
        line=$(grep -F ": $p" "$tmp/owners" | awk -v p="$p" 'substr($0, length($0) - length(p) + 1) == p' | head -1)
        if [ -n "$line" ]; then
            found=${line%%: /*}
            break
        fi
    done
    [ -n "$found" ] || { echo "runtime-deps: no Debian package owns $lib" >&2; exit 1; }
    echo "$found" | tr ',' '\n' | sed 's/^ *//; s/:.*$//' >>"$tmp/pkgs"
done <"$tmp/libs"
sort -u "$tmp/pkgs"
