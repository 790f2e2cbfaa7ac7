/* paper_xor.c -- see paper_xor.h. */
#include "paper_xor.h"

#include <stdio.h>

const char *xor_arch_name(xor_arch a) {
    return a == XOR_2_2_1 ? "2-2-1" : a == XOR_2_1 ? "2-1" : "2-1-1-direct";
}

typedef struct {
    xor_arch arch;
    nn_mlp mlp;              /* 2-N-1, or 2-1 */
    nn_dense hidden, output; /* 2-1-1 with direct links: output sees (x1, x2, h) */
    ag_tensor *X, *D;        /* (4,2) inputs, (4,1) targets */
    float y[4];
} xor_task;

static ag_tensor *xor_sweep(ag_tape *t, void *arg, bool *all_right) {
    xor_task *k = arg;
    ag_tensor *y;
    if (k->arch != XOR_2_1_1_DIRECT) {
        y = nn_mlp_forward(t, &k->mlp, k->X); /* (4,2) -> (4,1) */
    } else {
        ag_tensor *h = nn_dense_forward(t, &k->hidden, k->X); /* (4,2) -> (4,1) */
        ag_tensor *xh[2] = {k->X, h};
        y = nn_dense_forward(t, &k->output, ag_concat(t, xh, 2, 1)); /* (4,3) -> (4,1) */
    }
    ag_tensor *E = ag_sse(t, y, k->D);
    if (ag_tape_error(t)) return E;
    *all_right = true;
    for (int i = 0; i < 4; i++) {
        k->y[i] = y->data[i];
        if ((y->data[i] > 0.5f) != (k->D->data[i] > 0.5f)) *all_right = false;
    }
    return E;
}

int xor_run(const xor_config *c, xor_outcome *out) {
    static const float x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, d[4] = {0, 1, 1, 0};
    xor_task k = {.arch = c->arch};
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(c->seed);
    nn_init init = nn_init_uniform(c->init_range);
    if (c->arch != XOR_2_1_1_DIRECT) {
        char sizes[32] = "2-1";
        if (c->arch == XOR_2_2_1) snprintf(sizes, sizeof sizes, "2-%d-1", c->hidden > 0 ? c->hidden : 2);
        k.mlp = nn_mlp_new(ps, "xor", sizes, NN_SIGMOID, NN_SIGMOID, init, &rng);
    } else {
        k.hidden = nn_dense_new(ps, "hidden", 2, 1, NN_SIGMOID, init, &rng);
        k.output = nn_dense_new(ps, "output", 3, 1, NN_SIGMOID, init, &rng);
    }
    k.X = ag_tensor_from(2, (const int[]){4, 2}, x, false);
    k.D = ag_tensor_from(2, (const int[]){4, 1}, d, false);
    nn_optim *opt = nn_sgd_new(ps, c->lr, c->momentum);
    ag_tape *t = ag_tape_new();
    int status = -1;
    if (!k.X || !k.D || !opt || !t || (c->arch != XOR_2_1_1_DIRECT ? !k.mlp.nlayers : !k.output.W)) {
        fprintf(stderr, "xor: %s\n", ag_last_error());
    } else {
        train_opts o = {c->max_sweeps, true, c->quiet, c->errors};
        status = train_full_batch(t, opt, xor_sweep, &k, &o, &out->run);
        out->learned = out->run.learned_at >= 0;
        for (int i = 0; i < 4; i++) out->y[i] = k.y[i];
    }
    ag_tape_free(t);
    nn_optim_free(opt);
    ag_tensor_free(k.X);
    ag_tensor_free(k.D);
    nn_params_free(ps);
    return status;
}
