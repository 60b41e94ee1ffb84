#!/usr/bin/env bash
# The e2e suite runs the services' sanitizer builds, and every report is a bug to fix.
#   sanitizer-check.sh mark    remember how long each log in .run/logs is now
#   sanitizer-check.sh check   fail if what was logged since the mark holds an
#                              AddressSanitizer / LeakSanitizer / UBSan report
set -u
cd "$(dirname "$0")/../.." || exit 1
LOGS=${TODO_RUN_DIR:-.run}/logs
MARK=$LOGS/.sanitizer-mark
PATTERN="ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:"
case ${1:-check} in
mark)
    mkdir -p "$LOGS"
    for f in "$LOGS"/*.log; do
        if [ -f "$f" ]; then echo "$(stat -c %s "$f") $f"; fi
    done >"$MARK"
    ;;
check)
    bad=0
    for f in "$LOGS"/*.log; do
        [ -f "$f" ] || continue
        from=$(awk -v f="$f" '$2 == f { print $1 }' "$MARK" 2>/dev/null)
        if tail -c +"$(( ${from:-0} + 1 ))" "$f" | grep -qE "$PATTERN"; then
            echo "sanitizer report in $f:"
            tail -c +"$(( ${from:-0} + 1 ))" "$f" | grep -E -A25 "$PATTERN" | head -60
            bad=1
        fi
    done
    [ $bad -eq 0 ] && echo "sanitizers: no reports in the services' logs"
    exit $bad
    ;;
*) echo "usage: $0 mark|check" >&2; exit 2 ;;
esac
