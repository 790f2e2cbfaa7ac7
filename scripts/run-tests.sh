#!/bin/sh
# Run every test suite given, report each with the time it took, and fail if any failed.
# RUNNER (optional) is put in front of each suite, e.g. RUNNER="valgrind -q".
failed=""
now() { date +%s.%N 2>/dev/null || date +%s; }
for t in "$@"; do
    echo "== $t"
    start=$(now)
    if ! $RUNNER "$t"; then failed="$failed $t"; fi
    echo "== $t: $(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
done
if [ -n "$failed" ]; then
    echo "FAILED:$failed" >&2
    exit 1
fi
echo "All $# test suites passed."
