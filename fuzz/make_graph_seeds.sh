#!/bin/sh
# Writes the graph harness's seed corpus (fuzz/corpus/graph; the output is committed): for each
# op, a program whose choices are all that op's number, behind a mode byte (see fuzz_graph.c):
# plain, wrong shapes (7), two threads (0x10; 0xd0 adds the big product for ops 0, 4, 8, ...)
# and ag_gradcheck (0x20). Decoding reads byte after
# byte, so a run of one value makes op after op of that kind on small shapes.
# Usage: sh fuzz/make_graph_seeds.sh [DIR]
set -eu
dir=${1:-fuzz/corpus/graph}
mkdir -p "$dir"
op=0
while [ "$op" -lt 35 ]; do
    modes="0 7 16 32"
    [ "$op" -eq 0 ] || [ "$op" -eq 24 ] && modes="$modes 208"
    for mode in $modes; do
        # mode, 2 leaves, 6 ops, a (2,3) first leaf, then the op's number 48 times
        {
            printf "\\$(printf %03o "$mode")\\001\\005\\001\\001\\002"
            i=0
            while [ "$i" -lt 48 ]; do printf "\\$(printf %03o "$op")"; i=$((i + 1)); done
        } >"$dir/op$op-mode$mode"
    done
    op=$((op + 1))
done
