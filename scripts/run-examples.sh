#!/bin/sh
# Run every example program given with its default arguments, under RUNNER when set (e.g. a
# valgrind command line; the sanitizers need none), each in a scratch directory so that files it
# writes land nowhere. Prints how long each took and fails if any failed. An example that cannot
# run on this machine (its data set is not installed, say) exits with status 77 and is reported
# as skipped.
# With ARGS_FILE set, an example named in that file (lines "NAME ARGUMENTS"; # comments) runs
# with the arguments given there instead: scripts/valgrind-example-args says why.
# Usage: RUNNER="..." [ARGS_FILE=...] run-examples.sh examples/xor examples/chain_rule ...
set -u
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=""
now() { date +%s.%N 2>/dev/null || date +%s; }
for ex in "$@"; do
    name=$(basename "$ex")
    abs=$(cd "$(dirname "$ex")" && pwd)/$name
    mkdir -p "$work/$name"
    start=$(now)
    args=""
    if [ -n "${ARGS_FILE:-}" ]; then
        args=$(awk -v n="$name" '$1 == n { $1 = ""; print substr($0, 2) }' "$ARGS_FILE")
    fi
    # $args is split into words on purpose: it is a list of arguments.
    (cd "$work/$name" && ${RUNNER:-} "$abs" $args >"$work/$name.out" 2>&1)
    status=$?
    secs=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    case $status in
    0) echo "example $name${args:+ $args}: ok (${secs} s)" ;;
    77) echo "example $name: skipped, it cannot run here (${secs} s):"; tail -n 3 "$work/$name.out" ;;
    *)
        echo "example $name: FAILED with status $status after ${secs} s; the end of its output:" >&2
        tail -n 30 "$work/$name.out" >&2
        failed="$failed $name"
        ;;
    esac
done
if [ -n "$failed" ]; then
    echo "FAILED examples:$failed" >&2
    exit 1
fi
echo "All $# examples ran${RUNNER:+ under $RUNNER}, with their default arguments${ARGS_FILE:+ except those in $ARGS_FILE}."
