/*
 * fuzz_load.c -- libFuzzer harness for the parameter loader (nn_load's in-memory half).
 *
 * The first byte of each input picks the mode: bit 0 set = "reseal" (fix the size field and
 * the CRC of the rest, so that the fuzzer's mutations get past the checksum and reach the
 * record parser); bits 1-3 pick the optimiser loaded into: 0 none, k the optimiser of the k-th
 * kind of the optimiser table (1 SGD, 2 Adam, 3 RMSprop, 4 AdamW, ...), none past the table's end.
 * The rest is the file. Properties checked on every input, besides "no
 * crash, no sanitizer report":
 *   - a refused file leaves every parameter and every optimiser (state, step count,
 *     hyperparameters, schedule) bit for bit as it was, and the reason names the file;
 *   - an accepted file leaves only finite values, and hyperparameters inside the table's ranges.
 */
#include "model.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fuzz_model M;
static float *before; /* parameters, then each optimiser's state buffers */
static long numel, block_len;

/* Copy everything load may change into (or out of, when back) the snapshot block. */
static void snapshot(float *block, bool back) {
    float *p = block;
    for (int i = 0; i < nn_params_count(M.ps); i++) {
        ag_tensor *x = nn_params_at(M.ps, i);
        if (back) memcpy(x->data, p, (size_t)x->numel * sizeof(float));
        else memcpy(p, x->data, (size_t)x->numel * sizeof(float));
        p += x->numel;
    }
    for (int o = 0; o < M.nopt; o++) {
        nn_optim_state s = nn_optim_state_of(M.opt[o]);
        for (int k = 0; k < s.type->nstate; k++, p += numel) {
            if (back) memcpy(s.state[k], p, (size_t)numel * sizeof(float));
            else memcpy(p, s.state[k], (size_t)numel * sizeof(float));
        }
    }
}

/* The rest of an optimiser: step count, hyperparameters, schedule (pending changes by value). */
typedef struct {
    long steps;
    double hyper[NN_OPTIM_MAX_HYPER];
    nn_schedule sched;
    nn_lr_change first;
} settings;

static settings settings_of(nn_optim *o) {
    nn_optim_state s = nn_optim_state_of(o);
    settings t;
    memset(&t, 0, sizeof t);
    t.steps = *s.steps;
    memcpy(t.hyper, s.hyper, sizeof t.hyper);
    t.sched = *s.sched;
    t.sched.changes = NULL, t.sched.capacity = 0;
    if (s.sched->nchanges) t.first = s.sched->changes[0];
    return t;
}

static bool same_settings(settings a, settings b) {
    const nn_schedule *p = &a.sched, *q = &b.sched;
    return a.steps == b.steps && memcmp(a.hyper, b.hyper, sizeof a.hyper) == 0 &&
           p->warmup == q->warmup && p->decay == q->decay && p->period == q->period &&
           memcmp(&p->factor, &q->factor, sizeof p->factor) == 0 && p->nchanges == q->nchanges &&
           a.first.step == b.first.step && memcmp(&a.first.lr, &b.first.lr, sizeof(double)) == 0 &&
           memcmp(&a.first.momentum, &b.first.momentum, sizeof(double)) == 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    M = fuzz_model_new();
    numel = nn_params_numel(M.ps);
    block_len = numel;
    for (int o = 0; o < M.nopt; o++) block_len += numel * nn_optim_state_of(M.opt[o]).type->nstate;
    before = malloc((size_t)block_len * sizeof(float));
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
    const int pick = (int)((mode >> 1) & 7);
    nn_optim *opt = pick >= 1 && pick <= M.nopt ? M.opt[pick - 1] : NULL;
    settings was[FUZZ_MAX_OPTIMS];
    for (int o = 0; o < M.nopt; o++) was[o] = settings_of(M.opt[o]);

    int rc = nn_load_buffer(buf, n, "fuzz.bp", M.ps, opt);

    float *after = malloc((size_t)block_len * sizeof(float));
    snapshot(after, false);
    if (rc != 0) {
        if (strncmp(ag_last_error(), "nn_load: fuzz.bp: ", 18) != 0) {
            fprintf(stderr, "refused without naming the file: %s\n", ag_last_error());
            abort();
        }
        bool same = memcmp(after, before, (size_t)block_len * sizeof(float)) == 0;
        for (int o = 0; o < M.nopt; o++) same = same && same_settings(settings_of(M.opt[o]), was[o]);
        if (!same) {
            fprintf(stderr, "a refused file changed the model: %s\n", ag_last_error());
            abort();
        }
    } else {
        for (long i = 0; i < block_len; i++)
            if (!isfinite(after[i])) {
                fprintf(stderr, "an accepted file left a non-finite value at %ld\n", i);
                abort();
            }
        if (opt) {
            nn_optim_state s = nn_optim_state_of(opt);
            for (int k = 0; k < s.type->nhyper; k++)
                if (!nn_hyper_ok(&s.type->hyper[k], s.hyper[k])) {
                    fprintf(stderr, "an accepted file set %s to %g\n", s.type->hyper[k].name, s.hyper[k]);
                    abort();
                }
        }
        /* back to the starting point, so that every input meets the same model */
        snapshot(before, true);
    }
    free(after);
    free(buf);
    return 0;
}
