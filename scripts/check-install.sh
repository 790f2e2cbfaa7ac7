#!/bin/sh
# Install into a scratch prefix and build an outside program with pkg-config, against both the
# static and the shared library.
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
$cc "$work/prog.c" -o "$work/prog" $(pkg-config --cflags --libs backprop)
LD_LIBRARY_PATH="$prefix/lib" "$work/prog"
$cc "$work/prog.c" -o "$work/prog-static" $(pkg-config --cflags backprop) "$prefix/lib/libbackprop.a" -lm -lpthread
"$work/prog-static"
echo "install check: OK ($prefix)"
