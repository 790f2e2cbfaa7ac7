/*
 * fuzz_load.c -- libFuzzer harness for the parameter loader (nn_load's in-memory half).
 *
 * The first byte of each input picks the mode: bit 0 set = "reseal" (fix the size field and
 * the CRC of the rest, so that the fuzzer's mutations get past the checksum and reach the
 * record parser); bits 1-2 pick the optimiser loaded into (none, SGD, Adam). The rest is the
 * file. Properties checked on every input, besides "no crash, no sanitizer report":
 *   - a refused file leaves every parameter and both optimisers bit for bit as they were, and
 *     the reason names the file;
 *   - an accepted file leaves only finite values.
 */
#include "nn/internal.h"
#include "model.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fuzz_model M;
static float *before; /* parameters, then SGD state, then Adam's two moments */
static long numel;

/* Copy everything load may change into (or out of, when back) the snapshot block. */
static void snapshot(float *block, bool back) {
    float *p = block;
    for (int i = 0; i < nn_params_count(M.ps); i++) {
        ag_tensor *x = nn_params_at(M.ps, i);
        if (back) memcpy(x->data, p, (size_t)x->numel * sizeof(float));
        else memcpy(p, x->data, (size_t)x->numel * sizeof(float));
        p += x->numel;
    }
    nn_optim_state s = nn_optim_state_of(M.sgd), a = nn_optim_state_of(M.adam);
    float *state[3] = {s.s1, a.s1, a.s2};
    for (int k = 0; k < 3; k++, p += numel) {
        if (back) memcpy(state[k], p, (size_t)numel * sizeof(float));
        else memcpy(p, state[k], (size_t)numel * sizeof(float));
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    M = fuzz_model_new();
    numel = nn_params_numel(M.ps);
    before = malloc((size_t)numel * 4 * sizeof(float));
    snapshot(before, false);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const unsigned mode = data[0];
    size_t n = size - 1;
    unsigned char *buf = malloc(n ? n : 1);
    memcpy(buf, data + 1, n);
    if ((mode & 1) && n >= NN_FILE_HEADER + 4) {
        for (int i = 0; i < 8; i++) buf[NN_FILE_OFF_SIZE + i] = (unsigned char)((uint64_t)n >> (8 * i));
        uint32_t crc = nn_crc32(0, buf, n - 4);
        for (int i = 0; i < 4; i++) buf[n - 4 + i] = (unsigned char)(crc >> (8 * i));
    }
    nn_optim *opts[4] = {NULL, M.sgd, M.adam, NULL};
    nn_optim *opt = opts[(mode >> 1) & 3];
    long steps_sgd = nn_optim_steps(M.sgd), steps_adam = nn_optim_steps(M.adam);
    double lr_sgd = nn_optim_lr(M.sgd), lr_adam = nn_optim_lr(M.adam);

    int rc = nn_load_buffer(buf, n, "fuzz.bp", M.ps, opt);

    float *after = malloc((size_t)numel * 4 * sizeof(float));
    snapshot(after, false);
    if (rc != 0) {
        if (strncmp(ag_last_error(), "nn_load: fuzz.bp: ", 18) != 0) {
            fprintf(stderr, "refused without naming the file: %s\n", ag_last_error());
            abort();
        }
        if (memcmp(after, before, (size_t)numel * 4 * sizeof(float)) != 0 ||
            nn_optim_steps(M.sgd) != steps_sgd || nn_optim_steps(M.adam) != steps_adam ||
            nn_optim_lr(M.sgd) != lr_sgd || nn_optim_lr(M.adam) != lr_adam) {
            fprintf(stderr, "a refused file changed the model: %s\n", ag_last_error());
            abort();
        }
    } else {
        for (long i = 0; i < numel * 4; i++)
            if (!isfinite(after[i])) {
                fprintf(stderr, "an accepted file left a non-finite value at %ld\n", i);
                abort();
            }
        /* back to the starting point, so that every input meets the same model */
        snapshot(before, true);
        nn_optim_state s = nn_optim_state_of(M.sgd), a = nn_optim_state_of(M.adam);
        *s.steps = steps_sgd, *a.steps = steps_adam, *s.lr = lr_sgd, *a.lr = lr_adam;
    }
    free(after);
    free(buf);
    return 0;
}
