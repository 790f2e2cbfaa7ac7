/*
 * fuzz_sizes.c -- libFuzzer harness for the layer-size parser of nn_mlp_new ("6-2-1"). The
 * allocator hook refuses any block over 16 MiB, so that big nets take the out-of-memory path
 * instead of the machine's memory. Besides "no crash, no sanitizer report": a net that was made
 * has two parameters per layer, chained shapes, and the sizes the string gives.
 */
#include "backprop.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *capped_alloc(size_t size, void *ctx) {
    (void)ctx;
    return size > ((size_t)16 << 20) ? NULL : malloc(size);
}
static void capped_free(void *p, size_t size, void *ctx) {
    (void)size, (void)ctx;
    free(p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    ag_set_allocator(capped_alloc, capped_free, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(1);
    nn_mlp m = nn_mlp_new(ps, "f", s, NN_SIGMOID, NN_IDENTITY, nn_init_uniform(0.1), &rng);
    if (m.nlayers > 0) {
        bool ok = nn_params_count(ps) == 2 * m.nlayers && m.nlayers <= NN_MLP_MAX_LAYERS;
        for (int l = 0; ok && l < m.nlayers; l++) {
            const ag_tensor *W = m.layer[l].W, *b = m.layer[l].b;
            ok = W && b && b->shape[0] == 1 && b->shape[1] == W->shape[1] &&
                 (l == 0 || W->shape[0] == m.layer[l - 1].W->shape[1]);
        }
        if (ok && strtol(s, NULL, 10) != m.layer[0].W->shape[0]) ok = false;
        if (!ok) {
            fprintf(stderr, "a net made from \"%s\" is inconsistent\n", s);
            abort();
        }
    } else if (!ag_last_error()[0]) {
        abort();
    }
    nn_params_free(ps);
    free(s);
    return 0;
}
