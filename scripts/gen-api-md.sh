#!/bin/sh
# Write docs/api.md, the API reference, to stdout from the public headers, which are the manual:
# every section, declaration and comment they hold, in their order (what the awk program does
# with each is described at its top). A public function without a comment is named on stderr.
# Usage: gen-api-md.sh HEADER...     (make docs: sh scripts/gen-api-md.sh $(HEADERS) > docs/api.md)
# POSIX sh and awk only; the same headers give the same bytes on every machine.
set -eu
if [ $# -eq 0 ]; then
    echo "usage: $0 HEADER... > docs/api.md" >&2
    exit 2
fi
for header in "$@"; do
    if [ ! -r "$header" ]; then
        echo "$0: cannot read $header" >&2
        exit 2
    fi
done
LC_ALL=C
export LC_ALL
exec awk -f "$(dirname "$0")/gen-api-md.awk" "$@"
