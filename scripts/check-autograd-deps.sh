#!/bin/sh
# check-autograd-deps.sh BUILD -- who depends on whom inside autograd/, measured, not declared.
#
# For every autograd/*.c it lists the project headers the file includes (read from the source)
# and the other autograd/*.c files whose functions or tables it uses (read from the compiled
# objects with nm: a symbol the object leaves undefined that another object defines). It fails
# when the graph has a cycle (tsort finds it), and when the list differs from the one in
# docs/design.md, so that the document cannot go stale.
#
#   sh scripts/check-autograd-deps.sh build          (after make; make test runs it)
#   sh scripts/check-autograd-deps.sh build --print  (just the list, to paste into the document)
set -eu
BUILD=${1:-build}
DOC=docs/design.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# symbol -> defining file
for src in autograd/*.c; do
    obj="$BUILD/${src%.c}.o"
    [ -f "$obj" ] || { echo "check-autograd-deps: $obj is missing (run make first)" >&2; exit 1; }
    nm -g --defined-only "$obj" | awk -v f="$(basename "$src")" 'NF == 3 { print $3, f }'
done | sort >"$tmp/defined"

# file -> files it calls, and file -> headers it includes
for src in autograd/*.c; do
    f=$(basename "$src")
    obj="$BUILD/${src%.c}.o"
    calls=$(nm -g --undefined-only "$obj" | awk '{ print $NF }' | sort -u |
        join - "$tmp/defined" | awk -v f="$f" '$2 != f { print $2 }' | sort -u | tr '\n' ' ')
    incs=$(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$src" | awk '!seen[$0]++' | tr '\n' ' ')
    [ -n "$calls" ] || calls="nothing "
    printf '%-19s includes %-38s calls %s\n' "$f" "${incs% }" "${calls% }" | sed 's/ *$//'
    for c in $calls; do [ "$c" = nothing ] || echo "$f $c"; done >>"$tmp/edges"
    echo "$f $f" >>"$tmp/edges"
done >"$tmp/list"

if [ "${2:-}" = --print ]; then
    cat "$tmp/list"
    exit 0
fi

# header -> headers
for h in autograd/*.h; do
    sed -n 's/^#include "\([^"]*\)".*/\1/p' "$h" | while read -r inc; do
        echo "$(basename "$h") $(basename "$inc")"
    done
done >>"$tmp/edges"

if ! tsort "$tmp/edges" >/dev/null 2>"$tmp/loop"; then
    echo "check-autograd-deps: autograd/ has a dependency cycle:" >&2
    cat "$tmp/loop" >&2
    exit 1
fi

# the same list in docs/design.md, between the two markers
sed -n '/<!-- autograd-deps: begin -->/,/<!-- autograd-deps: end -->/p' "$DOC" |
    grep -v -e '^<!--' -e '^```' >"$tmp/doc" || true
if ! diff -u "$tmp/doc" "$tmp/list" >"$tmp/diff"; then
    echo "check-autograd-deps: the dependency list in $DOC is out of date (- doc, + measured):" >&2
    cat "$tmp/diff" >&2
    exit 1
fi
echo "autograd/: no dependency cycle; $DOC lists every file's includes and calls"
