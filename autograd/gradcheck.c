/*
 * gradcheck.c -- compare the tape's analytic gradients with central finite differences.
 */
#include "autograd_private.h"

#include <math.h>
#include <string.h>

static int fail(ag_gradcheck_report *r, const char *what, const char *detail) {
    snprintf(r->error, sizeof r->error, "gradcheck: %s%s%s", what, detail ? ": " : "",
             detail ? detail : "");
    return -1;
}

/* Evaluate the loss on a fresh recording; false (report filled) on any error. */
static bool eval(ag_tape *t, ag_loss_fn f, void *ctx, ag_tensor **loss, ag_gradcheck_report *r) {
    ag_tape_reset(t);
    *loss = f(t, ctx);
    if (ag_tape_error(t)) return fail(r, "the loss function failed", ag_tape_error(t)), false;
    if (!*loss || (*loss)->numel != 1)
        return fail(r, "the loss function must return a one-element tensor", NULL), false;
    return true;
}

int ag_gradcheck(ag_loss_fn f, void *ctx, ag_tensor *const *params, int n, double eps,
                 double floor, ag_gradcheck_report *r) {
    if (!r) {
        ag_set_last_error("gradcheck: report is NULL");
        return -1;
    }
    memset(r, 0, sizeof *r);
    r->worst_param = r->worst_index = -1;
    if (!f || !params || n < 1) return fail(r, "needs a loss function and at least one parameter", NULL);
    if (!(eps > 0.0) || !(floor > 0.0)) return fail(r, "eps and floor must be positive", NULL);
    long total = 0;
    for (int p = 0; p < n; p++) {
        const ag_tensor *x = params[p];
        if (!x || !(x->flags & AG_USER_OWNED) || !x->grad)
            return fail(r, "every parameter must be a user-owned tensor that requires a gradient",
                        NULL);
        total += x->numel;
    }

    /* Buffers: the caller's gradients (restored at the end) and the analytic gradients. */
    float *saved = ag_alloc((size_t)total * sizeof(float));
    float *analytic = ag_alloc((size_t)total * sizeof(float));
    ag_tape *t = ag_tape_new();
    int status = -1;
    if (!saved || !analytic || !t) {
        fail(r, "out of memory", NULL);
        goto done;
    }
    for (int p = 0, off = 0; p < n; off += params[p]->numel, p++) {
        memcpy(saved + off, params[p]->grad, (size_t)params[p]->numel * sizeof(float));
        ag_zero_grad(params[p]);
    }

    /* Analytic: one forward and one reverse sweep. */
    ag_tensor *loss;
    if (!eval(t, f, ctx, &loss, r)) goto restore;
    if (ag_backward(t, loss) != 0) {
        fail(r, "backward failed", ag_tape_error(t));
        goto restore;
    }
    for (int p = 0, off = 0; p < n; off += params[p]->numel, p++)
        memcpy(analytic + off, params[p]->grad, (size_t)params[p]->numel * sizeof(float));

    /* Numeric: perturb one element at a time, always restoring its exact value. */
    for (int p = 0, off = 0; p < n; off += params[p]->numel, p++) {
        float *w = params[p]->data;
        for (int i = 0; i < params[p]->numel; i++) {
            const float orig = w[i];
            const float h = (float)(eps * fmax(1.0, fabs(orig)));
            ag_tensor *lp, *lm;
            const float up = orig + h, down = orig - h;
            w[i] = up;
            bool ok = eval(t, f, ctx, &lp, r);
            const double fp = ok ? ag_item(lp) : 0.0;
            w[i] = down;
            ok = ok && eval(t, f, ctx, &lm, r);
            const double fm = ok ? ag_item(lm) : 0.0;
            w[i] = orig;
            if (!ok) goto restore;
            const double num = (fp - fm) / ((double)up - (double)down);
            const double ana = analytic[off + i];
            double err = fabs(ana - num) / fmax(fmax(fabs(ana), fabs(num)), floor);
            if (isnan(err)) err = INFINITY;
            r->checked++;
            if (r->worst_param < 0 || err > r->worst_error) {
                r->worst_error = err;
                r->worst_param = p;
                r->worst_index = i;
                r->analytic = ana;
                r->numeric = num;
            }
        }
    }
    status = 0;

restore:
    for (int p = 0, off = 0; p < n; off += params[p]->numel, p++)
        memcpy(params[p]->grad, saved + off, (size_t)params[p]->numel * sizeof(float));
done:
    ag_tape_free(t);
    ag_free(saved);
    ag_free(analytic);
    return status;
}
