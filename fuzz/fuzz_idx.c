/*
 * fuzz_idx.c -- libFuzzer harness for the examples' IDX reader (examples/support/idx.c), the
 * format of MNIST and Fashion-MNIST. Each input is written to a scratch file and read back with
 * idx_read; inputs that start with gzip's magic go through `gzip -dc` like real compressed
 * files. Besides "no crash, no sanitizer report, no leak": an accepted file describes itself
 * consistently (dimensions, count, element size) and every value can be read; a refused one
 * leaves the result zeroed and names the file.
 */
#define _POSIX_C_SOURCE 200809L /* getpid, fdopen */
#include "backprop.h"
#include "examples/support/idx.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[96];
static volatile double sink; /* keeps the reads of every value */

static void remove_scratch(void) { unlink(path); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/backprop-fuzz-idx-%ld", dir, (long)getpid());
    atexit(remove_scratch);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    idx_array a;
    memset(&a, 0x5A, sizeof a); /* idx_read must set every field */
    if (idx_read(path, &a) == 0) {
        size_t count = 1, elem = 0;
        switch (a.type) {
        case IDX_U8: case IDX_I8: elem = 1; break;
        case IDX_I16: elem = 2; break;
        case IDX_I32: case IDX_F32: elem = 4; break;
        case IDX_F64: elem = 8; break;
        }
        bool ok = a.ndim >= 1 && a.ndim <= IDX_MAX_DIMS && a.elem_size == elem && a.data;
        for (int k = 0; ok && k < a.ndim; k++) {
            ok = a.dims[k] >= 1;
            count *= (size_t)a.dims[k];
        }
        if (!ok || count != a.count) {
            fprintf(stderr, "an accepted file describes itself inconsistently\n");
            abort();
        }
        double sum = 0;
        for (size_t i = 0; i < a.count; i++) sum += idx_value(&a, i);
        sink = sum;
        idx_free(&a);
    } else {
        if (a.data || a.count || a.ndim || !strstr(ag_last_error(), path)) {
            fprintf(stderr, "a refused file: result not zeroed or no file name: %s\n", ag_last_error());
            abort();
        }
    }
    return 0;
}
