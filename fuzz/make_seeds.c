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
    /* take a few steps with each optimiser so its state is not all zeros */
    ag_tape *t = ag_tape_new();
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < m.nopt; k++) {
            for (int i = 0; i < nn_params_count(m.ps); i++) {
                ag_tensor *x = nn_params_at(m.ps, i);
                for (int e = 0; e < x->numel; e++) x->grad[e] = 0.01f * (float)((e + i + k) % 5) - 0.02f;
            }
            nn_optim_step(m.opt[k], t);
        }
    int rc = seed(&m, NULL, 0, dir, "params") | seed(&m, NULL, 1, dir, "params-resealed");
    char name[64];
    for (int k = 0; k < m.nopt; k++) { /* each kind's file, as saved and resealed (mode k) */
        const unsigned pick = (unsigned)(k + 1) << 1;
        snprintf(name, sizeof name, "kind%u", (unsigned)nn_optim_table[k]->file_id);
        rc |= seed(&m, m.opt[k], pick, dir, name);
        snprintf(name, sizeof name, "kind%u-resealed", (unsigned)nn_optim_table[k]->file_id);
        rc |= seed(&m, m.opt[k], pick | 1, dir, name);
    }
    for (int k = 0; k < m.nopt; k++) { /* and with a schedule section: a shape, three changes */
        nn_optim_warmup(m.opt[k], 5);
        if (k % 2) nn_optim_cosine(m.opt[k], 100, 0.1);
        else nn_optim_step_decay(m.opt[k], 10, 0.5);
        nn_optim_schedule(m.opt[k], 10, -1, 0.5);
        nn_optim_schedule(m.opt[k], 20, 0.001, -1);
        nn_optim_schedule(m.opt[k], 30, 0.0005, 0.9);
        snprintf(name, sizeof name, "kind%u-schedule-resealed", (unsigned)nn_optim_table[k]->file_id);
        rc |= seed(&m, m.opt[k], ((unsigned)(k + 1) << 1) | 1, dir, name);
    }
    ag_tape_free(t);
    fuzz_model_free(&m);
    return rc ? 1 : 0;
}
