#!/usr/bin/env bash
# The e2e suite runs the services' sanitizer builds, and every report is a bug to fix.
#   sanitizer-check.sh mark    remember how long each log in .run/logs is now
#   sanitizer-check.sh check   stop the stack's services (LeakSanitizer reports only at exit),
#                              fail if what was logged since the mark holds an
#                              AddressSanitizer / LeakSanitizer / UBSan report, then start the
#                              services again (from TODO_BIN_DIR, as the suite ran them)
# Every log counts: the stack's parts and the processes the tests start themselves (relays,
# private auth-service instances), which log into the same directory. Those the tests start
# are stopped by the tests, which also check their exit status.
set -u
cd "$(dirname "$0")/../.." || exit 1
LOGS=${TODO_RUN_DIR:-.run}/logs
MARK=$LOGS/.sanitizer-mark
PATTERN="ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:"
SERVICES=(auth tasks notify)
case ${1:-check} in
mark)
    mkdir -p "$LOGS"
    for f in "$LOGS"/*.log; do
        if [ -f "$f" ]; then echo "$(stat -L -c %s "$f") $f"; fi
    done >"$MARK"
    ;;
check)
    [ -f "$MARK" ] || { echo "sanitizer-check: no mark ($MARK): run '$0 mark' first" >&2; exit 2; }
    # stop, not just read: a leak is reported when the process exits
    for s in "${SERVICES[@]}"; do
        infra/local/stack stop "$s" >/dev/null || { echo "sanitizer-check: cannot stop $s" >&2; exit 1; }
    done
    bad=0 checked=0
    for f in "$LOGS"/*.log; do
        [ -f "$f" ] || continue
        checked=$((checked + 1))
        from=$(awk -v f="$f" '$2 == f { print $1 }' "$MARK" 2>/dev/null)
        if tail -c +"$(( ${from:-0} + 1 ))" "$f" | grep -qE "$PATTERN"; then
            echo "sanitizer report in $f:"
            tail -c +"$(( ${from:-0} + 1 ))" "$f" | grep -E -A25 "$PATTERN" | head -60
            bad=1
        fi
    done
    [ $bad -eq 0 ] && echo "sanitizers: no reports in $checked logs (services stopped first)"
    # leave the stack as the suite found it: whole
    infra/local/stack up >/dev/null || { echo "sanitizer-check: the stack did not come back up" >&2; exit 1; }
    exit $bad
    ;;
*) echo "usage: $0 mark|check" >&2; exit 2 ;;
esac
