#!/bin/sh
# Install into a scratch prefix (not one the loader searches) and build an outside program with
# pkg-config, against the shared and the static library, and RUN each as the README says:
#   - linked with an rpath to the prefix's lib/: runs with no loader path set;
#   - linked without one: fails to start ("libbackprop.so.0: cannot open shared object file",
#     the README's warning) until LD_LIBRARY_PATH names the prefix's lib/;
#   - linked with the static library: runs anywhere.
set -eu
prefix=${1:-/tmp/backprop-install-check}
rm -rf "$prefix"
make --no-print-directory install PREFIX="$prefix" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/prog.c" <<'C'
#include <backprop.h>
#include <stdio.h>
int main(void) {
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar_param(0.5);
    ag_tensor *y = ag_sigmoid(t, ag_mul(t, w, ag_scalar(t, 2.0)));
    if (ag_backward(t, y) != 0) return 1;
    printf("dy/dw = %.6f\n", ag_grad_item(w));
    ag_tensor_free(w);
    ag_tape_free(t);
    return 0;
}
C
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc=${CC:-cc}
libdir=$(pkg-config --variable=libdir backprop)
[ "$libdir" = "$prefix/lib" ] || { echo "install check: libdir is $libdir, not $prefix/lib" >&2; exit 1; }
# the shared library with an rpath: no loader path needed
$cc "$work/prog.c" -o "$work/prog-rpath" $(pkg-config --cflags --libs backprop) -Wl,-rpath,"$libdir"
env -u LD_LIBRARY_PATH "$work/prog-rpath"
# without an rpath the loader cannot find it under a non-system prefix ...
$cc "$work/prog.c" -o "$work/prog" $(pkg-config --cflags --libs backprop)
if env -u LD_LIBRARY_PATH "$work/prog" >"$work/out" 2>&1; then
    echo "install check: a program without rpath ran without LD_LIBRARY_PATH: is $prefix/lib" \
        "on the loader's path? The README's warning would be wrong here" >&2
    exit 1
fi
grep -q "libbackprop.so.0: cannot open shared object file" "$work/out" || {
    echo "install check: unexpected failure without LD_LIBRARY_PATH:" >&2
    cat "$work/out" >&2
    exit 1
}
# ... until LD_LIBRARY_PATH names the directory
LD_LIBRARY_PATH="$libdir" "$work/prog"
$cc "$work/prog.c" -o "$work/prog-static" $(pkg-config --cflags backprop) "$prefix/lib/libbackprop.a" -lm -lpthread
"$work/prog-static"
echo "install check: OK ($prefix)"
