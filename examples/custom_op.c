/*
 * custom_op -- an activation of your own, defined with the public custom-op API (ag_custom_op,
 * autograd.h) and never added to the library: the inverse square root unit
 *     isru(x) = x / sqrt(1 + a x^2),   d isru / dx = (1 / sqrt(1 + a x^2))^3,
 * with its constant a handed to the callbacks through the user pointer. The program
 *   1. checks its gradient against finite differences (ag_gradcheck) on three shapes,
 *   2. shows it by name in the narrated sweep (ag_tape_set_trace),
 *   3. trains a 2-8-1 net with isru hidden units on XOR (full batch, SGD with momentum) and
 *      predicts with the no-gradient mode.
 * docs/writing-models.md ("An op of your own") walks through the same steps.
 *
 *   examples/custom_op                 a = 1, 2000 sweeps, seed 1
 *   examples/custom_op --a 0.5 --sweeps 500
 *
 * Ends with `result: gradcheck=WORST final_error=E learned=1|0`; exits 1 when the gradient
 * check fails or the net did not learn XOR.
 */
#include "support/cli.h"

#include "backprop.h"

#include <math.h>
#include <stdio.h>

/* ---- the op: forward, vector-Jacobian product, definition ------------------------------------ */

/* isru forward: y = x / sqrt(1 + a x^2), any shape; a = *(const double *)user. */
static void isru_forward(const ag_custom_view *v) {
    const float a = (float)*(const double *)v->user;
    const float *x = v->in[0]->data;
    for (int i = 0; i < v->out->numel; i++) v->out->data[i] = x[i] / sqrtf(1.0f + a * x[i] * x[i]);
}

/* isru vjp: dx += dy * (1 / sqrt(1 + a x^2))^3, skipped when x takes no gradient. */
static void isru_vjp(const ag_custom_view *v) {
    ag_tensor *x = v->in[0];
    if (!x->grad) return;
    const float a = (float)*(const double *)v->user;
    for (int i = 0; i < x->numel; i++) {
        const float r = 1.0f / sqrtf(1.0f + a * x->data[i] * x->data[i]);
        x->grad[i] += v->out->grad[i] * r * r * r;
    }
}

/* One input, output shaped like it (no shape function needed). */
static const ag_custom_op isru_op = {"isru", 1, NULL, isru_forward, isru_vjp};

static ag_tensor *isru(ag_tape *t, ag_tensor *x, double *a) { return ag_custom(t, &isru_op, &x, 1, a); }

/* ---- 1. the gradient check ------------------------------------------------------------------- */

typedef struct {
    ag_tensor *x, *w; /* E = sum(isru(x) * w): w makes every output's gradient differ */
    double *a;
} check_ctx;

static ag_tensor *check_loss(ag_tape *t, void *p) {
    check_ctx *c = p;
    return ag_sum(t, ag_mul(t, isru(t, c->x, c->a), c->w));
}

/* The worst relative error over three shapes, or NAN when a check could not run. */
static double gradient_check(double *a, nn_rng *rng) {
    const int shapes[3][2] = {{1, 1}, {3, 4}, {16, 7}};
    double worst = 0;
    for (int k = 0; k < 3; k++) {
        check_ctx c = {ag_tensor_2d(shapes[k][0], shapes[k][1], true),
                       ag_tensor_2d(shapes[k][0], shapes[k][1], false), a};
        if (!c.x || !c.w) return NAN;
        for (int i = 0; i < c.x->numel; i++) {
            c.x->data[i] = (float)nn_rng_range(rng, -3, 3);
            c.w->data[i] = (float)nn_rng_range(rng, -1, 1);
        }
        ag_gradcheck_report r;
        int rc = ag_gradcheck(check_loss, &c, &c.x, 1, 1e-3, 1e-2, &r);
        if (rc != 0) fprintf(stderr, "custom_op: gradient check: %s\n", r.error);
        else printf("gradient check on (%d,%d): worst relative error %.2g over %d elements\n",
                    shapes[k][0], shapes[k][1], r.worst_error, r.checked);
        worst = rc != 0 ? NAN : fmax(worst, r.worst_error);
        ag_tensor_free(c.x);
        ag_tensor_free(c.w);
    }
    return worst;
}

/* ---- 2. the narrated sweep ---------------------------------------------------------------------- */

static int narrate(double *a) {
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_scalar_param(0.5);
    if (!t || !x) return -1;
    ag_tensor_set_name(x, "x");
    ag_tape_set_trace(t, stdout);
    printf("the sweep through y = isru(x) at x = 0.5:\n");
    ag_tensor *y = isru(t, x, a);
    ag_tensor_set_name(y, "y");
    int rc = ag_backward(t, y);
    printf("y = %.6f, dy/dx = %.6f\n", ag_item(y), ag_grad_item(x));
    ag_tensor_free(x);
    ag_tape_free(t);
    return rc;
}

/* ---- 3. training ------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    double a = 1.0, lr = 0.5, momentum = 0.9;
    long sweeps = 2000, seed = 1;
    bool quiet = false;
    const cli_opt opts[] = {
        {"--a", CLI_DOUBLE, &a, 0, 100, "isru's constant a in x / sqrt(1 + a x^2)"},
        {"--sweeps", CLI_LONG, &sweeps, 1, 10000000, "training sweeps over the 4 XOR cases"},
        {"--lr", CLI_DOUBLE, &lr, 0, 100, "learning rate"},
        {"--momentum", CLI_DOUBLE, &momentum, 0, 0.999, "momentum"},
        {"--seed", CLI_LONG, &seed, 0, 1e15, "random seed for the initial weights"},
        {"--quiet", CLI_FLAG, &quiet, 0, -1, "no progress lines"},
    };
    const int nopts = sizeof opts / sizeof opts[0];
    const char *about = "a user-defined activation (isru) built with ag_custom, checked and trained";
    int st = cli_parse(argc, argv, opts, nopts, about);
    if (st != CLI_CONTINUE) return st;

    nn_rng rng = nn_rng_seed((uint64_t)seed);
    const double worst = gradient_check(&a, &rng);
    if (narrate(&a) != 0) return 1;

    const float X[8] = {0, 0, 0, 1, 1, 0, 1, 1}, D[4] = {0, 1, 1, 0};
    ag_tensor *x = ag_tensor_from(2, (const int[]){4, 2}, X, false);
    ag_tensor *d = ag_tensor_from(2, (const int[]){4, 1}, D, false);
    nn_params *ps = nn_params_new();
    nn_dense hidden = nn_dense_new(ps, "hidden", 2, 8, NN_IDENTITY, nn_init_xavier(), &rng);
    nn_dense out = nn_dense_new(ps, "out", 8, 1, NN_SIGMOID, nn_init_xavier(), &rng);
    nn_optim *opt = ps ? nn_sgd_new(ps, lr, momentum) : NULL;
    ag_tape *t = ag_tape_new();
    if (!x || !d || !hidden.W || !out.W || !opt || !t) {
        fprintf(stderr, "custom_op: %s\n", ag_last_error());
        return 1;
    }
    printf("XOR with a 2-8-1 net, isru hidden units (a = %g), sigmoid output, SSE, lr %g, "
           "momentum %g\n", a, lr, momentum);
    double E = NAN;
    int rc = 1;
    for (long s = 1; s <= sweeps; s++) {
        ag_tensor *y = nn_dense_forward(t, &out, isru(t, nn_dense_forward(t, &hidden, x), &a));
        ag_tensor *loss = ag_sse(t, y, d);
        ag_backward(t, loss);
        if (nn_optim_step(opt, t) != 0) {
            fprintf(stderr, "custom_op: sweep %ld: %s\n", s, nn_error(t));
            goto done;
        }
        E = ag_item(loss);
        ag_tape_reset(t);
        if (!quiet && (s % (sweeps / 5 > 0 ? sweeps / 5 : 1) == 0 || s == sweeps))
            printf("sweep %6ld  E = %.6f\n", s, E);
    }
    /* predict with gradients off: forward only, nothing kept for a backward sweep */
    ag_tape_set_grad(t, false);
    ag_tensor *y = nn_dense_forward(t, &out, isru(t, nn_dense_forward(t, &hidden, x), &a));
    if (ag_tape_error(t)) {
        fprintf(stderr, "custom_op: %s\n", ag_tape_error(t));
        goto done;
    }
    int learned = 1;
    for (int i = 0; i < 4; i++) learned &= fabsf(y->data[i] - D[i]) < 0.5f;
    printf("outputs for (0,0) (0,1) (1,0) (1,1): %.3f %.3f %.3f %.3f\n", y->data[0], y->data[1],
           y->data[2], y->data[3]);
    printf("result: gradcheck=%.2g final_error=%.6f learned=%d\n", worst, E, learned);
    rc = worst < 1e-2 && learned ? 0 : 1;
done:
    ag_tape_free(t);
    nn_optim_free(opt);
    nn_params_free(ps);
    ag_tensor_free(x);
    ag_tensor_free(d);
    return rc;
}
