#!/usr/bin/env bash
# make fuzz: runs every fuzz target for FUZZ_SECONDS (default 30) each, starting from the
# committed seeds in tests/fuzz/corpus/NAME (new inputs go to build/fuzz/corpus/NAME).
# A crash leaves its input in build/fuzz/ and fails the run.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
secs=${FUZZ_SECONDS:-30}
rc=0
for bin in "$@"; do
    name=${bin##*/fuzz_}
    work=build/fuzz/corpus/$name
    mkdir -p "$work"
    echo "== fuzz $name for ${secs}s"
    if "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix=build/fuzz/"$name"- \
            "$work" "tests/fuzz/corpus/$name" 2>build/fuzz/"$name".log; then
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" build/fuzz/"$name".log | sed 's/^/   /'
    else
        echo "   CRASH: see build/fuzz/$name.log"; tail -30 build/fuzz/"$name".log; rc=1
    fi
done
exit $rc
