#!/bin/sh
# Run each libFuzzer harness given for an equal share of SECONDS, starting from its seed corpus
# in fuzz/corpus/NAME (never modified) plus what earlier runs found (build-fuzz/corpus/NAME).
# A crash, a sanitizer report or a broken property stops that harness; its input is saved as
# build-fuzz/artifacts/NAME-crash-...; the run then fails. Prints executions per harness.
# Usage: run-fuzz.sh SECONDS build-fuzz/fuzz_load build-fuzz/fuzz_cli ...
set -u
seconds=$1
shift
[ $# -gt 0 ] || { echo "no fuzz harnesses given" >&2; exit 1; }
share=$((seconds / $#))
[ "$share" -ge 1 ] || share=1
root=$(dirname "$1")
mkdir -p "$root/artifacts" "$root/logs"
failed=""
total=0
for bin in "$@"; do
    name=$(basename "$bin" | sed 's/^fuzz_//')
    mkdir -p "$root/corpus/$name"
    log="$root/logs/$name.log"
    "$bin" -max_total_time="$share" -print_final_stats=1 -close_fd_mask=3 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$root/artifacts/$name-" \
        "$root/corpus/$name" "fuzz/corpus/$name" >"$log" 2>&1
    status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    runs=${runs:-0}
    total=$((total + runs))
    corpus=$(ls "$root/corpus/$name" | wc -l)
    if [ "$status" -eq 0 ]; then
        echo "fuzz $name: $runs executions in $share s, no finding (corpus $corpus inputs)"
    else
        echo "fuzz $name: FAILED (status $status) after $runs executions; see $log:" >&2
        grep -E "ERROR|SUMMARY|runtime error|abort|Test unit written" "$log" | head -n 20 >&2
        failed="$failed $name"
    fi
done
echo "fuzzing: $total executions in about $seconds s over $# harnesses"
[ -z "$failed" ] || { echo "FAILED fuzz harnesses:$failed" >&2; exit 1; }
