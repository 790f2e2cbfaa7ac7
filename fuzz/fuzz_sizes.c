/*
 * fuzz_sizes.c -- libFuzzer harness for the layer-size parser of nn_mlp_new ("6-2-1"). The
 * allocator hook refuses any block over 16 MiB, so that big nets take the out-of-memory path
 * instead of the machine's memory. Besides "no crash, no sanitizer report":
 *   - the string is also read by a reference reading of the grammar in nn.h (numbers of decimal
 *     digits, each 1 to 1000000, joined by single '-', 2 to NN_MLP_MAX_LAYERS + 1 of them);
 *   - a net that was made fits the grammar and has exactly its sizes: two parameters per layer,
 *     W (sizes[l], sizes[l+1]) and b (1, sizes[l+1]);
 *   - a string refused fits the grammar only when memory ran out or the net is too big, and the
 *     reason is in ag_last_error();
 *   - a refusal leaves the parameter list empty (creation is all or nothing).
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

/* The grammar read by hand, one character at a time: the count of sizes written to sizes[],
 * or -1 when the string s (as far as its first NUL, all the library sees) does not fit. */
static int reference_sizes(const char *s, long *sizes) {
    int n = 0;
    const size_t len = strlen(s);
    size_t i = 0;
    for (;;) {
        long v = 0;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (v <= 1000000) v = 10 * v + (s[i] - '0');
            i++;
        }
        if (i == start || v < 1 || v > 1000000 || n == NN_MLP_MAX_LAYERS + 1) return -1;
        sizes[n++] = v;
        if (i == len) return n >= 2 ? n : -1;
        if (s[i++] != '-') return -1;
    }
}

static void fail(const char *s, const char *what) {
    fprintf(stderr, "sizes \"%s\": %s (error: %s)\n", s, what, ag_last_error());
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    long want[NN_MLP_MAX_LAYERS + 1];
    const int nwant = reference_sizes(s, want);
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(1);
    ag_set_last_error("%s", "");
    nn_mlp m = nn_mlp_new(ps, "f", s, NN_SIGMOID, NN_IDENTITY, nn_init_uniform(0.1), &rng);
    if (m.nlayers > 0) {
        if (nwant < 0) fail(s, "a net was made from a string outside the grammar");
        if (m.nlayers != nwant - 1 || nn_params_count(ps) != 2 * m.nlayers)
            fail(s, "the net has the wrong number of layers or parameters");
        for (int l = 0; l < m.nlayers; l++) {
            const ag_tensor *W = m.layer[l].W, *b = m.layer[l].b;
            if (!W || !b || W->shape[0] != want[l] || W->shape[1] != want[l + 1] ||
                b->shape[0] != 1 || b->shape[1] != want[l + 1])
                fail(s, "a layer's shapes are not the sizes the string gives");
        }
    } else {
        const char *why = ag_last_error();
        if (!why[0]) fail(s, "refused with no reason");
        if (nwant >= 0 && !strstr(why, "out of memory") && !strstr(why, "absurd size"))
            fail(s, "a string that fits the grammar was refused");
        if (nn_params_count(ps) != 0) fail(s, "a refused net left parameters behind");
    }
    nn_params_free(ps);
    free(s);
    return 0;
}
