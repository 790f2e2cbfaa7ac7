/*
 * unfold.c -- the paper's iterative net unfolded in time (Nature figure 5), the Elman form
 * (an unfolded recurrent layer with a readout), and the error of a run with targets at any
 * steps. Everything is recorded as autograd ops: the gradients come from the tape.
 *
 * Unfolding for T steps records the same weight tensors T times, so the tape already gives each
 * weight the SUM of its copies' gradients. The paper instead averages dE/dw over the copies; that
 * rule is recorded on the tape too (see shared_weight), never applied by hand afterwards.
 */
#include "nn_private.h"

#include <stdio.h>

/* The tensor the n unfolded copies of parameter w use.
 *   NN_COPIES_SUM:     w itself: dE/dw = sum over the copies.
 *   NN_COPIES_AVERAGE: w' = (w/n - c/n) + c with c a constant copy of w on the tape. w/n and c/n
 *                      are the same float computation on the same values, so their difference is
 *                      exactly 0 and w' equals w bit for bit; but only the w/n term carries a
 *                      gradient, so dE/dw = (1/n) * sum over the copies: their average. */
static ag_tensor *shared_weight(ag_tape *t, ag_tensor *w, int n, nn_copies copies) {
    if (copies != NN_COPIES_AVERAGE || n <= 1) return w;
    ag_tensor *c = ag_tape_tensor(t, w->ndim, w->shape, w->data);
    const double k = 1.0 / n;
    return ag_add(t, ag_sub(t, ag_scale(t, w, k), ag_scale(t, c, k)), c);
}

/* The run shared by nn_recurrent_unfold and nn_elman_forward: states[k] = h(k+1) and, when
 * readout is given, ys[k] = readout(h(k+1)). Returns h(T). */
static ag_tensor *unfold(ag_tape *t, const char *op, const nn_recurrent *net,
                         const nn_dense *readout, ag_tensor *h0, ag_tensor *const *xs, int T,
                         nn_copies copies, ag_tensor **states, ag_tensor **ys) {
    if (!t) return NULL;
    if (!net || !net->W || !net->U || !net->b)
        return ag_tape_fail(t, "%s: %s", op, net ? "layer has no weights (its creation failed)"
                                                 : "layer is NULL");
    if (readout && (!readout->W || !readout->b))
        return ag_tape_fail(t, "%s: the readout has no weights (its creation failed)", op);
    if (T < 1) return ag_tape_fail(t, "%s: %d steps; at least 1 is needed", op, T);
    if (copies != NN_COPIES_SUM && copies != NN_COPIES_AVERAGE)
        return ag_tape_fail(t, "%s: unknown rule for the copies' gradients (%d)", op, (int)copies);
    if (ag_tape_error(t)) return ag_tape_fail(t, "%s: the tape has already failed", op);

    /* How many copies of each weight the run records: W where there is a state to multiply
     * (every step but the first when h0 is the zero state), U where there is an input, b and
     * the readout at every step. */
    int nx = 0;
    for (int k = 0; xs && k < T; k++) nx += xs[k] != NULL;
    nn_recurrent r = *net;
    r.W = shared_weight(t, net->W, h0 ? T : T - 1, copies);
    r.U = shared_weight(t, net->U, nx, copies);
    r.b = shared_weight(t, net->b, T, copies);
    nn_dense out = {NULL, NULL, NN_IDENTITY};
    if (readout) {
        out = *readout;
        out.W = shared_weight(t, readout->W, T, copies);
        out.b = shared_weight(t, readout->b, T, copies);
    }

    ag_tensor *h = h0;
    for (int k = 0; k < T; k++) {
        h = nn_recurrent_step(t, &r, h, xs ? xs[k] : NULL);
        if (states) states[k] = h;
        if (readout) {
            ag_tensor *y = nn_dense_forward(t, &out, h);
            if (ys) ys[k] = y;
        }
    }
    return h;
}

ag_tensor *nn_recurrent_unfold(ag_tape *t, const nn_recurrent *net, ag_tensor *h0,
                               ag_tensor *const *xs, int T, nn_copies copies, ag_tensor **states) {
    return unfold(t, "recurrent unfold", net, NULL, h0, xs, T, copies, states, NULL);
}

/* ---- the Elman form ------------------------------------------------------------------------- */

nn_elman nn_elman_new(nn_params *ps, const char *name, int in, int hidden, int out,
                      nn_act hidden_act, nn_act out_act, nn_init init, nn_rng *rng) {
    nn_elman e;
    const int count = nn_params_count(ps);
    const nn_rng start = rng ? *rng : nn_rng_seed(0);
    char inner[200];
    e.rec = nn_recurrent_new(ps, name, in, hidden, hidden_act, init, rng);
    e.out.W = e.out.b = NULL;
    e.out.act = out_act;
    if (!e.rec.W) {
        if (name) {
            snprintf(inner, sizeof inner, "%s", ag_last_error());
            ag_set_last_error("nn_elman_new '%s': %s", name, inner);
        }
        return e;
    }
    char oname[64];
    if (snprintf(oname, sizeof oname, "%s.out", name) >= (int)sizeof oname) {
        ag_set_last_error("nn_elman_new: name '%s' is too long", name);
    } else {
        e.out = nn_dense_new(ps, oname, hidden, out, out_act, init, rng);
        if (!e.out.W) {
            snprintf(inner, sizeof inner, "%s", ag_last_error());
            ag_set_last_error("nn_elman_new '%s': readout: %s", name, inner);
        }
    }
    if (!e.out.W) {
        /* all or nothing: the recurrent part made above goes too, the generator goes back */
        nn_params_roll_back(ps, count);
        *rng = start;
        e.rec.W = e.rec.U = e.rec.b = NULL;
    }
    return e;
}

ag_tensor *nn_elman_forward(ag_tape *t, const nn_elman *net, ag_tensor *h0, ag_tensor *const *xs,
                            int T, nn_copies copies, ag_tensor **ys, ag_tensor **states) {
    if (!t) return NULL;
    if (!net) return ag_tape_fail(t, "elman: net is NULL");
    if (!ys) return ag_tape_fail(t, "elman: ys is NULL (it receives the T outputs)");
    unfold(t, "elman", &net->rec, &net->out, h0, xs, T, copies, states, ys);
    return ag_tape_error(t) ? ag_tape_fail(t, "elman: failed") : ys[T - 1];
}

/* ---- the error of a run with targets at any steps ------------------------------------------- */

ag_tensor *nn_sse_steps(ag_tape *t, ag_tensor *const *ys, ag_tensor *const *ds, int T,
                        double margin) {
    if (!t) return NULL;
    if (!ys || !ds || T < 1)
        return ag_tape_fail(t, "sse steps: %s", !ys ? "ys is NULL" : !ds ? "ds is NULL"
                                                                        : "no steps (T < 1)");
    ag_tensor *E = NULL;
    for (int k = 0; k < T; k++) {
        if (!ds[k]) continue; /* no target at this step */
        if (!ys[k])
            return ag_tape_fail(t, "sse steps: step %d has a target but no output", k + 1);
        ag_tensor *e = margin > 0 ? nn_sse_margin(t, ys[k], ds[k], margin) : ag_sse(t, ys[k], ds[k]);
        E = E ? ag_add(t, E, e) : e;
    }
    return E ? E : ag_tape_fail(t, "sse steps: no step among the %d has a target", T);
}
