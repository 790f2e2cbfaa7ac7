/*
 * make_seeds.c -- writes the loader's seed corpus (fuzz/corpus/load): files saved from the
 * harness's model, without and with each optimiser's state, each behind the mode byte the
 * harness reads (see fuzz_load.c). `make fuzz-seeds` runs it; the output is committed.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>

/* Save with opt, then write the file again behind the mode byte as corpus/load/NAME. */
static int seed(const fuzz_model *m, const nn_optim *opt, unsigned mode, const char *dir,
                const char *name) {
    char tmp[512], path[512];
    snprintf(tmp, sizeof tmp, "%s/%s.tmpsave", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (nn_save(tmp, m->ps, opt) != 0) {
        fprintf(stderr, "%s\n", ag_last_error());
        return -1;
    }
    FILE *in = fopen(tmp, "rb"), *out = fopen(path, "wb");
    if (!in || !out) return -1;
    fputc((int)mode, out);
    int c;
    while ((c = fgetc(in)) != EOF) fputc(c, out);
    fclose(in);
    fclose(out);
    remove(tmp);
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "fuzz/corpus/load";
    fuzz_model m = fuzz_model_new();
    /* take a few steps so the optimiser state is not all zeros */
    ag_tape *t = ag_tape_new();
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < nn_params_count(m.ps); i++) {
            ag_tensor *x = nn_params_at(m.ps, i);
            for (int k = 0; k < x->numel; k++) x->grad[k] = 0.01f * (float)(k + i);
        }
        nn_optim_step(m.sgd, t);
        for (int i = 0; i < nn_params_count(m.ps); i++) {
            ag_tensor *x = nn_params_at(m.ps, i);
            for (int k = 0; k < x->numel; k++) x->grad[k] = -0.02f * (float)(k + 1);
        }
        nn_optim_step(m.adam, t);
        for (int i = 0; i < nn_params_count(m.ps); i++) {
            ag_tensor *x = nn_params_at(m.ps, i);
            for (int k = 0; k < x->numel; k++) x->grad[k] = 0.03f * (float)(k - i);
        }
        nn_optim_step(m.rmsprop, t);
        for (int i = 0; i < nn_params_count(m.ps); i++) {
            ag_tensor *x = nn_params_at(m.ps, i);
            for (int k = 0; k < x->numel; k++) x->grad[k] = 0.01f * (float)(i - k);
        }
        nn_optim_step(m.adamw, t);
    }
    /* schedules: several pending changes and a shape, so the schedule section is there */
    nn_optim_schedule(m.rmsprop, 10, 0.005, 0.5);
    nn_optim_schedule(m.rmsprop, 20, 0.001, -1);
    nn_optim_warmup(m.adamw, 5);
    nn_optim_cosine(m.adamw, 100, 0.1);
    nn_optim_schedule(m.adamw, 50, -1, -1);
    int rc = seed(&m, NULL, 0, dir, "params") | seed(&m, NULL, 1, dir, "params-resealed") |
             seed(&m, m.sgd, 2 | 1, dir, "sgd-resealed") | seed(&m, m.adam, 4 | 1, dir, "adam-resealed") |
             seed(&m, m.adam, 4, dir, "adam") | seed(&m, m.rmsprop, 6 | 1, dir, "rmsprop-resealed") |
             seed(&m, m.adamw, 8 | 1, dir, "adamw-resealed");
    ag_tape_free(t);
    fuzz_model_free(&m);
    return rc ? 1 : 0;
}
