#!/bin/sh
# Run every test suite given, report each, and fail if any failed.
# RUNNER (optional) is put in front of each suite, e.g. RUNNER="valgrind -q".
failed=""
for t in "$@"; do
    echo "== $t"
    if ! $RUNNER "$t"; then failed="$failed $t"; fi
done
if [ -n "$failed" ]; then
    echo "FAILED:$failed" >&2
    exit 1
fi
echo "All $# test suites passed."
