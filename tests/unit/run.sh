#!/usr/bin/env bash
# Runs every unit-test binary given on the command line (the optimised and the
# ASan+UBSan builds), prints each one's cmocka summary, and ends with one line
# "unit: N passed, N failed" that CI can read. Exit status: 0 only if all passed.
set -u
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
passed=0 failed=0
for t in "$@"; do
    echo "== $t"
    if "$t"; then
        passed=$((passed + 1))
    else
        echo "FAILED: $t"
        failed=$((failed + 1))
    fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
