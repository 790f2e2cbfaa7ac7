/*
 * optim_table.c -- the optimiser table: each optimiser's entry (name, file id, state buffers,
 * hyperparameters with their defaults and ranges) beside its step function, which updates runs
 * of parameters' elements. nn/optim.c does everything around a step (checks, the schedule, the
 * walk over the parameters); a step function only does the arithmetic, and zeroes each
 * gradient once it has read it (in the same loop: one pass over the memory instead of two).
 *
 * The arithmetic is in float, as the weights are; the hyperparameters are converted once per
 * call. Changing an expression here changes the bits every run produces.
 */
#include "nn_private.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* for (i = 0; i < n; i++) BODY, written so that the compiler makes vector code of it at -O2:
 * a loop over a multiple of 16 elements (no remainder to handle, so even its cheapest cost model
 * takes it), then the rest one by one. The step functions below declare their arrays restrict
 * (a parameter, its gradient and its state never overlap), so no overlap check is needed. */
#define EACH_ELEMENT(i, n, BODY)                                                                   \
    do {                                                                                           \
        const long whole_ = (n) & ~3L;                                                             \
        long i = 0;                                                                                \
        for (; i < whole_; i++) BODY;                                                              \
        for (; i < (n); i++) BODY;                                                                 \
    } while (0)

/* Ranges, written once. */
#define RATE(def) {"learning rate", def, 0.0, INFINITY, false, true} /* finite and >= 0 */
#define MOMENTUM(def) {"momentum", def, 0.0, INFINITY, false, true}  /* finite and >= 0 */
#define DECAY(def) {"decay", def, 0.0, 1.0, false, true}             /* in [0, 1) */
#define UNIT(name, def) {name, def, 0.0, 1.0, false, true}           /* in [0, 1) */
#define POSITIVE(name, def) {name, def, 0.0, INFINITY, true, true}   /* finite and > 0 */

/* ---- SGD with momentum: the paper's rule ------------------------------------------------------
 * dw(t) = -lr dE/dw + momentum dw(t-1);  w += dw(t);  then the paper's decay w <- (1 - decay) w.
 * state[0] = dw(t-1). */
enum { SGD_LR, SGD_MOMENTUM, SGD_DECAY };
/* SGD's update of n elements (its own function, so that every array is a restrict parameter) */
static void sgd_elements(long n, float *restrict w, float *restrict g, float *restrict dw,
                         float eps, float alpha, float keep) {
    EACH_ELEMENT(i, n, {
        dw[i] = -eps * g[i] + alpha * dw[i];
        w[i] = (w[i] + dw[i]) * keep;
        g[i] = 0.0f;
    });
}
static void sgd_step(const double *h, long t, float *const *state,
                     const nn_optim_part *part, int nparts) {
    (void)t;
    const float eps = (float)h[SGD_LR], alpha = (float)h[SGD_MOMENTUM];
    const float shrink = (float)(1.0 - h[SGD_DECAY]);
    const float keep = h[SGD_DECAY] != 0.0 ? shrink : 1.0f; /* x * 1 is x: same bits */
    for (int p = 0; p < nparts; p++)
        sgd_elements(part[p].n, part[p].w, part[p].g, state[0] + part[p].at, eps, alpha, keep);
}
const nn_optim_type nn_optim_sgd = {
    "SGD with momentum", 1, 1, {"last changes"},
    3, {RATE(0.1), MOMENTUM(0.0), DECAY(0.0)},
    true, sgd_step,
};

/* Adam's and AdamW's update of n elements, with m and v their moments and k = {beta1, beta2,
 * c1 = 1/(1 - beta1^t), c2 = 1/(1 - beta2^t), lr, eps}: w <- (w before - lr m^/(sqrt(v^) + eps))
 * after, where Adam decays after (before = 1) and AdamW before (after = 1); x * 1 is x, so the
 * factor of 1 changes no bit. Its own function, so that every array is a restrict parameter. */
static void adam_elements(long n, float *restrict w, float *restrict g, float *restrict m,
                          float *restrict v, const float k[6], float before, float after) {
    const float b1 = k[0], b2 = k[1], c1 = k[2], c2 = k[3], lr = k[4], eps = k[5];
    EACH_ELEMENT(i, n, {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        const float kept = w[i] * before; /* its own statement: never fused with what follows */
        w[i] = (kept - lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps)) * after;
        g[i] = 0.0f;
    });
}

/* ---- Adam (Kingma & Ba) -----------------------------------------------------------------------
 * m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  w -= lr m^ / (sqrt(v^) + eps) with
 * m^ = m / (1 - b1^t), v^ = v / (1 - b2^t);  then the paper's decay w <- (1 - decay) w.
 * state[0] = m, state[1] = v. */
enum { ADAM_LR, ADAM_DECAY, ADAM_BETA1, ADAM_BETA2, ADAM_EPS };
static void adam_step(const double *h, long t, float *const *state,
                      const nn_optim_part *part, int nparts) {
    const double t1 = (double)t;
    const float b1 = (float)h[ADAM_BETA1], b2 = (float)h[ADAM_BETA2], eps = (float)h[ADAM_EPS];
    const float c1 = (float)(1.0 / (1.0 - pow(h[ADAM_BETA1], t1)));
    const float c2 = (float)(1.0 / (1.0 - pow(h[ADAM_BETA2], t1)));
    const float lr = (float)h[ADAM_LR], shrink = (float)(1.0 - h[ADAM_DECAY]);
    const float keep = h[ADAM_DECAY] != 0.0 ? shrink : 1.0f;
    for (int p = 0; p < nparts; p++)
        adam_elements(part[p].n, part[p].w, part[p].g, state[0] + part[p].at,
                      state[1] + part[p].at, (float[6]){b1, b2, c1, c2, lr, eps}, 1.0f, keep);
}
const nn_optim_type nn_optim_adam = {
    "Adam", 2, 2, {"first moments", "second moments"},
    5, {RATE(0.001), DECAY(0.0), UNIT("beta1", 0.9), UNIT("beta2", 0.999), POSITIVE("eps", 1e-8)},
    true, adam_step,
};

/* RMSprop's update of n elements, k = {alpha, eps, momentum, lr, keep}: the decay factor, or 1. */
static void rmsprop_elements(long n, float *restrict w, float *restrict g, float *restrict v,
                             float *restrict b, const float k[5]) {
    const float alpha = k[0], eps = k[1], mu = k[2], lr = k[3], keep = k[4];
    EACH_ELEMENT(i, n, {
        v[i] = alpha * v[i] + (1.0f - alpha) * g[i] * g[i];
        b[i] = mu * b[i] + g[i] / (sqrtf(v[i]) + eps);
        w[i] = (w[i] - lr * b[i]) * keep;
        g[i] = 0.0f;
    });
}

/* ---- RMSprop (Tieleman & Hinton; PyTorch's form, not centred) ---------------------------------
 * v = alpha v + (1-alpha) g^2;  b = momentum b + g / (sqrt(v) + eps);  w -= lr b;  then the
 * paper's decay w <- (1 - decay) w. With momentum 0, b is g / (sqrt(v) + eps) exactly.
 * state[0] = v, state[1] = b. */
enum { RMS_LR, RMS_ALPHA, RMS_EPS, RMS_MOMENTUM, RMS_DECAY };
static void rmsprop_step(const double *h, long t, float *const *state,
                         const nn_optim_part *part, int nparts) {
    (void)t;
    const float lr = (float)h[RMS_LR], alpha = (float)h[RMS_ALPHA], eps = (float)h[RMS_EPS];
    const float mu = (float)h[RMS_MOMENTUM], shrink = (float)(1.0 - h[RMS_DECAY]);
    const float keep = h[RMS_DECAY] != 0.0 ? shrink : 1.0f; /* x * 1 is x: same bits */
    for (int p = 0; p < nparts; p++)
        rmsprop_elements(part[p].n, part[p].w, part[p].g, state[0] + part[p].at,
                         state[1] + part[p].at, (float[5]){alpha, eps, mu, lr, keep});
}
const nn_optim_type nn_optim_rmsprop = {
    "RMSprop", 3, 2, {"mean squares", "momentum buffers"},
    5, {RATE(0.01), UNIT("alpha", 0.99), POSITIVE("eps", 1e-8), MOMENTUM(0.0), DECAY(0.0)},
    false, rmsprop_step,
};

/* ---- AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, as PyTorch's AdamW) --------
 * w <- (1 - lr decay) w;  then Adam's update (above) without the paper's decay. The decay is
 * scaled by the (scheduled) learning rate and never enters the moments.
 * state[0] = m, state[1] = v. */
enum { ADAMW_LR, ADAMW_BETA1, ADAMW_BETA2, ADAMW_EPS, ADAMW_DECAY };
static void adamw_step(const double *h, long t, float *const *state,
                       const nn_optim_part *part, int nparts) {
    const double t1 = (double)t;
    const float b1 = (float)h[ADAMW_BETA1], b2 = (float)h[ADAMW_BETA2], eps = (float)h[ADAMW_EPS];
    const float c1 = (float)(1.0 / (1.0 - pow(h[ADAMW_BETA1], t1)));
    const float c2 = (float)(1.0 / (1.0 - pow(h[ADAMW_BETA2], t1)));
    const float lr = (float)h[ADAMW_LR];
    const float shrink = (float)(1.0 - h[ADAMW_LR] * h[ADAMW_DECAY]);
    for (int p = 0; p < nparts; p++)
        adam_elements(part[p].n, part[p].w, part[p].g, state[0] + part[p].at,
                      state[1] + part[p].at, (float[6]){b1, b2, c1, c2, lr, eps}, shrink, 1.0f);
}
const nn_optim_type nn_optim_adamw = {
    "AdamW", 4, 2, {"first moments", "second moments"},
    5, {RATE(0.001), UNIT("beta1", 0.9), UNIT("beta2", 0.999), POSITIVE("eps", 1e-8),
        {"decay", 0.01, 0.0, INFINITY, false, true}}, /* decoupled: finite and >= 0 */
    false, adamw_step,
};

/* ---- the table ------------------------------------------------------------------------------ */

#define NN_OPTIM_ENTRY(name) &nn_optim_##name,
const nn_optim_type *const nn_optim_table[] = {NN_OPTIM_LIST(NN_OPTIM_ENTRY)};
#undef NN_OPTIM_ENTRY
const int nn_optim_table_count = (int)(sizeof nn_optim_table / sizeof nn_optim_table[0]);

const char *const nn_v1_slot_name[NN_V1_SLOTS] = {"learning rate", "momentum", "decay",
                                                  "beta1",         "beta2",    "eps"};

const nn_optim_type *nn_optim_type_of_file_id(uint32_t id) {
    for (int k = 0; k < nn_optim_table_count; k++)
        if (nn_optim_table[k]->file_id == id) return nn_optim_table[k];
    return NULL;
}

int nn_hyper_index(const nn_optim_type *type, const char *name) {
    for (int k = 0; k < type->nhyper; k++)
        if (strcmp(type->hyper[k].name, name) == 0) return k;
    return -1;
}

bool nn_hyper_ok(const nn_hyper_spec *spec, double v) {
    if (!isfinite(v)) return false;
    if (spec->lo_open ? !(v > spec->lo) : !(v >= spec->lo)) return false;
    if (spec->hi_open ? !(v < spec->hi) : !(v <= spec->hi)) return false;
    return true;
}

const char *nn_hyper_rule(const nn_hyper_spec *spec, char *buf, size_t size) {
    if (isinf(spec->hi))
        snprintf(buf, size, "finite and %s %g", spec->lo_open ? ">" : ">=", spec->lo);
    else
        snprintf(buf, size, "in %c%g, %g%c", spec->lo_open ? '(' : '[', spec->lo, spec->hi,
                 spec->hi_open ? ')' : ']');
    return buf;
}
