#!/bin/sh
# tools.sh WASM_CC build|test CHROMIUM|sizes DIR -- for the optional playground targets (Makefile,
# "the playground"): whether the tools they need are installed, naming the Debian packages to
# install when not (exit 1: the target skips), and what the built page weighs.
set -u
cc=$1
mode=$2
missing=""
need() { # need PACKAGE TEST...: note PACKAGE as missing unless TEST succeeds
    pkg=$1
    shift
    "$@" >/dev/null 2>&1 || missing="$missing $pkg"
}
resource_dir=$("$cc" -print-resource-dir 2>/dev/null || true)

case $mode in
build | test)
    need clang-14 command -v "$cc"
    need lld-14 sh -c 'command -v wasm-ld || command -v wasm-ld-14 || [ -x "$(dirname "$(readlink -f "$(command -v '"$cc"')")")/wasm-ld" ]'
    need wasi-libc test -f /usr/lib/wasm32-wasi/libc.a
    need libclang-rt-14-dev-wasm32 test -f "$resource_dir/lib/wasi/libclang_rt.builtins-wasm32.a"
    need nodejs command -v node
    [ -f web/node_modules/@viz-js/viz/dist/viz.js ] || need npm command -v npm
    if [ "$mode" = test ]; then
        need chromium test -x "${3:-/usr/bin/chromium}"
    fi
    if [ -n "$missing" ]; then
        echo "make $mode-web: skipped: the playground needs$missing" | sed 's/make build-web/make web/'
        echo "  install them with: sudo apt-get install -y$missing"
        exit 1
    fi
    ;;
sizes)
    dir=$3
    page=0
    for f in index.html app.js wasi.js backprop.wasm; do
        page=$((page + $(wc -c <"$dir/$f")))
    done
    echo "the playground is in $dir: page + wasm $page bytes" \
        "(index.html $(wc -c <"$dir/index.html"), app.js $(wc -c <"$dir/app.js")," \
        "wasi.js $(wc -c <"$dir/wasi.js"), backprop.wasm $(wc -c <"$dir/backprop.wasm"));" \
        "Graphviz (viz.js) $(wc -c <"$dir/viz.js") bytes"
    if [ "$page" -ge 1048576 ]; then
        echo "make web: the page and its wasm weigh $page bytes, over the 1 MiB they must stay under"
        exit 1
    fi
    ;;
esac
