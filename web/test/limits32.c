/*
 * limits32.c -- the library's size checks where long and size_t have 32 bits: built for
 * wasm32-wasi and run under Node's WASI by web/test/limits32.mjs (make test-web). Natively
 * (64 bits) these inputs are refused for other reasons, so only a 32-bit build tests them.
 * Prints one line per check and exits 1 when one fails.
 */
#include "backprop.h"

#include <stdio.h>
#include <string.h>

static int failures;

static void expect(const char *what, const char *error, const char *want) {
    const bool ok = error && strstr(error, want);
    printf("%s %s: %s\n", ok ? "ok  " : "FAIL", what, error ? error : "(no error)");
    failures += !ok;
}

int main(void) {
    /* 2^30 floats are 2^32 bytes: 0 in a 32-bit size_t. It must be refused, not made small. */
    ag_tensor *big = ag_tensor_new(1, (const int[]){1 << 30}, false);
    expect("ag_tensor_new of 2^30 elements", big ? NULL : ag_last_error(), "absurd size");
    ag_tensor_free(big);
    ag_tape *t = ag_tape_new();
    if (!t) return 1;
    ag_tape_tensor(t, 1, (const int[]){1 << 30}, NULL);
    expect("ag_tape_tensor of 2^30 elements", ag_tape_error(t), "absurd size");
    /* 65536 * 65536 = 2^32: 0 in a 32-bit long; inferring the -1 used to divide by it */
    ag_tape_reset(t);
    ag_reshape(t, ag_scalar(t, 1.0), 3, (const int[]){65536, 65536, -1});
    expect("reshape to (65536,65536,-1)", ag_tape_error(t), "does not fit");
    ag_tape_free(t);
    printf("limits32: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
