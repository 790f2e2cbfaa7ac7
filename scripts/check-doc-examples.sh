#!/bin/sh
# Compile and run every C block marked <!-- readme-example --> (or <!-- compile-example -->) in
# the README and docs/*.md, against the built static library, so documentation cannot rot.
# Usage: check-doc-examples.sh BUILD_DIR
set -eu
build=${1:-build}
cc=${CC:-cc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
for md in README.md docs/*.md; do
    [ -f "$md" ] || continue
    # Each marked block becomes its own file: the ```c fence after the marker, up to ```.
    awk -v dir="$work" -v base="$(basename "$md" .md)" '
        /<!-- (readme|compile)-example -->/ { armed = 1; next }
        armed && /^```c/ { inblock = 1; armed = 0; k++; file = dir "/" base "-" k ".c"; next }
        inblock && /^```/ { inblock = 0; close(file); next }
        inblock { print > file }
    ' "$md"
done
for src in "$work"/*.c; do
    [ -f "$src" ] || continue
    n=$((n + 1))
    exe="${src%.c}"
    $cc ${CFLAGS:-} -std=c11 -Wall -Wextra -Wpedantic -Werror -I. -Iautograd -Inn "$src" -o "$exe" \
        "$build/libbackprop.a" -lm -lpthread
    if ! (cd "$work" && "$exe" >"$exe.out" 2>&1); then
        echo "doc example $(basename "$src") failed:" >&2
        cat "$exe.out" >&2
        exit 1
    fi
    echo "doc example $(basename "$src"): compiled and ran"
done
[ "$n" -gt 0 ] || { echo "no doc examples found" >&2; exit 1; }
