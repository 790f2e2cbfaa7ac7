/* paper_symmetry.c -- see paper_symmetry.h. */
#include "paper_symmetry.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void sym_patterns(float X[64 * 6], float D[64]) {
    for (int p = 0; p < 64; p++) {
        for (int i = 0; i < 6; i++) X[p * 6 + i] = (float)((p >> (5 - i)) & 1);
        bool mirror = true;
        for (int i = 0; i < 3; i++) mirror &= X[p * 6 + i] == X[p * 6 + 5 - i];
        D[p] = mirror ? 1.0f : 0.0f;
    }
}

sym_weights sym_published(void) {
    sym_weights w = {
        .wh = {{-3.18f, 6.32f, -12.56f, 12.56f, -6.33f, 3.17f},
               {3.18f, -6.32f, 12.56f, -12.56f, 6.33f, -3.17f}},
        .bh = {-1.0f, -1.0f},
        .wo = {-9.44f, -9.44f},
        .bo = 6.89f,
    };
    return w;
}

bool sym_mirror_opposite(const sym_weights *w, double tol, double ratio[3]) {
    bool ok = true;
    double size[3] = {0, 0, 0};
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 3; i++) {
            double a = w->wh[j][i], b = w->wh[j][5 - i];
            double big = fmax(fabs(a), fabs(b));
            if (!(a * b < 0 && fabs(a + b) <= tol * big)) ok = false;
            size[i] += 0.5 * (fabs(a) + fabs(b));
        }
    for (int i = 0; i < 3; i++) ratio[i] = size[0] > 0 ? size[i] / size[0] : 0.0;
    return ok;
}

bool sym_flipped_pair(const sym_weights *w, double tol) {
    bool ok = w->bh[0] < 0 && w->bh[1] < 0 && w->bo > 0;
    for (int i = 0; i < 6; i++) {
        double a = w->wh[0][i], b = w->wh[1][i];
        ok &= a * b < 0 && fabs(a + b) <= tol * fmax(fabs(a), fabs(b));
    }
    return ok;
}

void sym_sorted_ratio(const double ratio[3], double sorted[3]) {
    double a[3] = {ratio[0], ratio[1], ratio[2]};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (a[j] < a[i]) {
                double tmp = a[i];
                a[i] = a[j];
                a[j] = tmp;
            }
    for (int i = 0; i < 3; i++) sorted[i] = a[0] > 0 ? a[i] / a[0] : 0.0;
}

bool sym_ratio_124(const double ratio[3]) {
    double r[3];
    sym_sorted_ratio(ratio, r);
    return fabs(r[1] / 2 - 1) <= 0.25 && fabs(r[2] / 4 - 1) <= 0.25;
}

/* Copy w into a 6-2-1 net's parameters, or the net's parameters into w. */
static void sym_copy(nn_mlp *net, sym_weights *w, bool to_net) {
    float *W1 = net->layer[0].W->data, *b1 = net->layer[0].b->data;
    float *W2 = net->layer[1].W->data, *b2 = net->layer[1].b->data;
#define SYM_MOVE(a, b) (to_net ? (void)((a) = (b)) : (void)((b) = (a)))
    for (int j = 0; j < 2; j++) {
        for (int i = 0; i < 6; i++) SYM_MOVE(W1[i * 2 + j], w->wh[j][i]); /* W1 is (6,2) */
        SYM_MOVE(b1[j], w->bh[j]);
        SYM_MOVE(W2[j], w->wo[j]);
    }
    SYM_MOVE(b2[0], w->bo);
#undef SYM_MOVE
}

int sym_outputs(const sym_weights *w, float y[64]) {
    float x[64 * 6], d[64];
    sym_patterns(x, d);
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(0);
    nn_mlp net = nn_mlp_new(ps, "sym", "6-2-1", NN_SIGMOID, NN_SIGMOID, nn_init_uniform(0), &rng);
    ag_tape *t = ag_tape_new();
    int status = -1;
    if (net.nlayers && t) {
        sym_weights copy = *w;
        sym_copy(&net, &copy, true);
        ag_tensor *out = nn_mlp_forward(t, &net, ag_tape_tensor(t, 2, (const int[]){64, 6}, x));
        if (!ag_tape_error(t)) {
            for (int p = 0; p < 64; p++) y[p] = out->data[p];
            status = 0;
        }
    }
    if (status) fprintf(stderr, "symmetry: %s\n", nn_error(t));
    ag_tape_free(t);
    nn_params_free(ps);
    return status;
}

typedef struct {
    nn_mlp net;
    ag_tensor *X, *D;
    int right;
} sym_task;

static ag_tensor *sym_sweep(ag_tape *t, void *arg, bool *all_right) {
    sym_task *k = arg;
    ag_tensor *y = nn_mlp_forward(t, &k->net, k->X); /* (64,6) -> (64,1) */
    ag_tensor *E = ag_sse(t, y, k->D);               /* 1/2 sum (y - d)^2 */
    if (ag_tape_error(t)) return E;
    k->right = 0;
    for (int p = 0; p < 64; p++) k->right += (y->data[p] > 0.5f) == (k->D->data[p] > 0.5f);
    *all_right = k->right == 64;
    return E;
}

int sym_run(const sym_config *c, sym_outcome *out) {
    float x[64 * 6], d[64];
    sym_patterns(x, d);
    sym_task k = {0};
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(c->seed);
    const int hidden = c->hidden > 0 ? c->hidden : 2;
    char sizes[32];
    snprintf(sizes, sizeof sizes, "6-%d-1", hidden);
    k.net = nn_mlp_new(ps, "sym", sizes, NN_SIGMOID, NN_SIGMOID, nn_init_uniform(c->init_range),
                       &rng);
    k.X = ag_tensor_from(2, (const int[]){64, 6}, x, false);
    k.D = ag_tensor_from(2, (const int[]){64, 1}, d, false);
    nn_optim *opt = nn_sgd_new(ps, c->lr, c->momentum);
    ag_tape *t = ag_tape_new();
    int status = -1;
    if (!k.net.nlayers || !k.X || !k.D || !opt || !t) {
        fprintf(stderr, "symmetry: %s\n", ag_last_error());
    } else {
        train_opts o = {c->max_sweeps, true, c->quiet, c->errors};
        status = train_full_batch(t, opt, sym_sweep, &k, &o, &out->run);
        out->learned = out->run.learned_at >= 0;
        out->right = k.right;
        memset(&out->w, 0, sizeof out->w);
        memset(out->ratio, 0, sizeof out->ratio);
        out->mirror_opposite = false;
        if (hidden == 2) { /* the paper's net: its weights, and whether they are the paper's */
            sym_copy(&k.net, &out->w, false);
            out->mirror_opposite = sym_mirror_opposite(&out->w, SYM_MIRROR_TOL, out->ratio);
        }
    }
    ag_tape_free(t);
    nn_optim_free(opt);
    ag_tensor_free(k.X);
    ag_tensor_free(k.D);
    nn_params_free(ps);
    return status;
}
