/*
 * gated.c -- the gated recurrent cells, LSTM and GRU, in PyTorch's layout and formulas, and
 * their runs unfolded in time. Each step is one fused product per operand, x W_ih + b_ih and
 * h W_hh + b_hh, cut into its gates with ag_split on the feature axis; everything is recorded as
 * autograd ops, so the gradients come from the tape. Unfolding records the same four parameter
 * tensors at every step: the tape gives each the sum of its copies' gradients.
 */
#include "nn_private.h"

#include <stdio.h>

/* ---- creation (all or nothing) ------------------------------------------------------------- */

/* The four parameters of a gated cell with `gates` gates: W_ih (in, gates*hidden),
 * W_hh (hidden, gates*hidden), b_ih and b_hh (1, gates*hidden), named NAME.W_ih .. NAME.b_hh.
 * Each weight is initialised with fan_in its rows and fan_out hidden (one gate's width). Returns
 * 0; or -1 with the reason in ag_last_error, ps holding exactly what it held and rng back where
 * it was. */
static int make_gated(const char *fn, nn_params *ps, const char *name, int in, int hidden,
                      int gates, nn_init init, nn_rng *rng, ag_tensor **out) {
    if (!name || !rng) {
        ag_set_last_error("%s: %s", fn, !name ? "name is NULL" : "rng is NULL");
        return -1;
    }
    if (in < 1 || hidden < 1) {
        ag_set_last_error("%s '%s': sizes in %d, hidden %d: each must be at least 1", fn, name, in,
                          hidden);
        return -1;
    }
    if ((double)hidden * gates * (in > hidden ? in : hidden) > (double)AG_MAX_NUMEL) {
        ag_set_last_error("%s '%s': sizes in %d, hidden %d: absurd size: a weight would hold more "
                          "than %ld elements", fn, name, in, hidden, (long)AG_MAX_NUMEL);
        return -1;
    }
    static const char *const suffix[4] = {"W_ih", "W_hh", "b_ih", "b_hh"};
    const int rows[4] = {in, hidden, 1, 1};
    const int count = nn_params_count(ps);
    const nn_rng start = *rng;
    for (int p = 0; p < 4; p++) {
        char full[64];
        if (snprintf(full, sizeof full, "%s.%s", name, suffix[p]) >= (int)sizeof full) {
            ag_set_last_error("%s: parameter name '%s.%s' is too long (63 characters at most)", fn,
                              name, suffix[p]);
            out[p] = NULL;
        } else {
            const int shape[2] = {rows[p], gates * hidden};
            out[p] = nn_param_new(ps, full, 2, shape);
            if (out[p] && nn_init_fill(out[p], init, p == 1 ? hidden : in, hidden, p >= 2, rng) != 0)
                out[p] = NULL;
        }
        if (!out[p]) {
            nn_params_roll_back(ps, count);
            *rng = start;
            for (int q = 0; q < 4; q++) out[q] = NULL;
            return -1;
        }
    }
    return 0;
}

nn_lstm nn_lstm_new(nn_params *ps, const char *name, int in, int hidden, nn_init init,
                    nn_rng *rng) {
    nn_lstm c = {NULL, NULL, NULL, NULL};
    ag_tensor *p[4];
    if (make_gated("nn_lstm_new", ps, name, in, hidden, 4, init, rng, p) != 0) return c;
    c.W_ih = p[0];
    c.W_hh = p[1];
    c.b_ih = p[2];
    c.b_hh = p[3];
    return c;
}

nn_gru nn_gru_new(nn_params *ps, const char *name, int in, int hidden, nn_init init, nn_rng *rng) {
    nn_gru c = {NULL, NULL, NULL, NULL};
    ag_tensor *p[4];
    if (make_gated("nn_gru_new", ps, name, in, hidden, 3, init, rng, p) != 0) return c;
    c.W_ih = p[0];
    c.W_hh = p[1];
    c.b_ih = p[2];
    c.b_hh = p[3];
    return c;
}

/* ---- one step -------------------------------------------------------------------------------- */

/* The checks a step makes before recording anything: the cell has its weights (of `gates`
 * gates), x is (B,I) and h, c (when given) are (B,H). Returns true, or false with the tape
 * failed. */
static bool step_ok(ag_tape *t, const char *op, ag_tensor *const *w, int gates, ag_tensor *h,
                    ag_tensor *c, ag_tensor *x) {
    if (!ag_tape_ok(t, op, 0, NULL)) return false;
    if (!w[0] || !w[1] || !w[2] || !w[3]) {
        ag_tape_fail(t, "%s: cell has no weights (its creation failed)", op);
        return false;
    }
    if (!x) {
        ag_tape_fail(t, "%s: input x is NULL (a step needs one)", op);
        return false;
    }
    ag_tensor *in[3] = {x, h ? h : x, c ? c : x};
    if (!ag_tape_ok(t, op, 3, in)) return false;
    const int I = w[0]->shape[0], H = w[1]->shape[0];
    if (w[1]->shape[1] != gates * H) {
        ag_tape_fail(t, "%s: cell's W_hh is not (H,%dH)", op, gates);
        return false;
    }
    char s[64], sx[64];
    if (x->ndim != 2 || x->shape[1] != I) {
        ag_tape_fail(t, "%s: input x %s must be (B,%d)", op, ag_shape_str(x, s, sizeof s), I);
        return false;
    }
    const int B = x->shape[0];
    const char *which[2] = {"state h", "cell state c"};
    ag_tensor *st[2] = {h, c};
    for (int k = 0; k < 2; k++) {
        if (st[k] && (st[k]->ndim != 2 || st[k]->shape[0] != B || st[k]->shape[1] != H)) {
            ag_tape_fail(t, "%s: %s %s must be (%d,%d) for input x %s", op, which[k],
                         ag_shape_str(st[k], s, sizeof s), B, H, ag_shape_str(x, sx, sizeof sx));
            return false;
        }
    }
    return true;
}

/* The zero state (B,H) when h is NULL, else h. */
static ag_tensor *state_or_zero(ag_tape *t, ag_tensor *h, int B, int H) {
    if (h) return h;
    const int shape[2] = {B, H};
    return ag_tape_tensor(t, 2, shape, NULL);
}

/* [i f g o] = x W_ih + b_ih + h W_hh + b_hh     (B,I)@(I,4H) + (1,4H) + (B,H)@(H,4H) + (1,4H)
 * cut into four (B,H) parts; c' = f*c + i*g, h' = o*tanh(c'). */
ag_tensor *nn_lstm_step(ag_tape *t, const nn_lstm *cell, ag_tensor *h, ag_tensor *c, ag_tensor *x,
                        ag_tensor **c_out) {
    if (c_out) *c_out = ag_tape_poison(t); /* what it holds unless the step succeeds */
    if (!ag_tape_ok(t, "lstm", 0, NULL)) return ag_tape_poison(t);
    if (!cell) return ag_tape_fail(t, "lstm: cell is NULL");
    if (!c_out) return ag_tape_fail(t, "lstm: c_out is NULL (it receives the new cell state)");
    ag_tensor *const w[4] = {cell->W_ih, cell->W_hh, cell->b_ih, cell->b_hh};
    if (!step_ok(t, "lstm", w, 4, h, c, x)) return ag_tape_poison(t);
    const int B = x->shape[0], H = cell->W_hh->shape[0];
    h = state_or_zero(t, h, B, H);
    ag_tensor *pre = ag_add(t, ag_add(t, ag_matmul(t, x, cell->W_ih), cell->b_ih),
                            ag_add(t, ag_matmul(t, h, cell->W_hh), cell->b_hh)); /* (B,4H) */
    ag_tensor *gate[4]; /* i, f, g, o: (B,H) each */
    ag_split(t, pre, 1, 4, NULL, gate);
    ag_tensor *i = ag_sigmoid(t, gate[0]);
    ag_tensor *g = ag_tanh(t, gate[2]);
    ag_tensor *o = ag_sigmoid(t, gate[3]);
    ag_tensor *c_new = ag_mul(t, i, g);
    if (c) c_new = ag_add(t, ag_mul(t, ag_sigmoid(t, gate[1]), c), c_new);
    *c_out = c_new;
    return ag_mul(t, o, ag_tanh(t, c_new));
}

/* gx = x W_ih + b_ih, gh = h W_hh + b_hh, each (B,3H) cut into r, z, n parts (B,H):
 * r = sigmoid(gx_r + gh_r), z = sigmoid(gx_z + gh_z), n = tanh(gx_n + r*gh_n),
 * h' = (1-z)*n + z*h, computed as n + z*(h - n). */
ag_tensor *nn_gru_step(ag_tape *t, const nn_gru *cell, ag_tensor *h, ag_tensor *x) {
    if (!ag_tape_ok(t, "gru", 0, NULL)) return ag_tape_poison(t);
    if (!cell) return ag_tape_fail(t, "gru: cell is NULL");
    ag_tensor *const w[4] = {cell->W_ih, cell->W_hh, cell->b_ih, cell->b_hh};
    if (!step_ok(t, "gru", w, 3, h, NULL, x)) return ag_tape_poison(t);
    const int B = x->shape[0], H = cell->W_hh->shape[0];
    h = state_or_zero(t, h, B, H);
    ag_tensor *gx[3], *gh[3];
    ag_split(t, ag_add(t, ag_matmul(t, x, cell->W_ih), cell->b_ih), 1, 3, NULL, gx);
    ag_split(t, ag_add(t, ag_matmul(t, h, cell->W_hh), cell->b_hh), 1, 3, NULL, gh);
    ag_tensor *r = ag_sigmoid(t, ag_add(t, gx[0], gh[0]));
    ag_tensor *z = ag_sigmoid(t, ag_add(t, gx[1], gh[1]));
    ag_tensor *n = ag_tanh(t, ag_add(t, gx[2], ag_mul(t, r, gh[2])));
    return ag_add(t, n, ag_mul(t, z, ag_sub(t, h, n)));
}

/* ---- unfolded in time ------------------------------------------------------------------------ */

/* The checks both unfolds make on their arguments; true, or false with the tape failed. */
static bool unfold_ok(ag_tape *t, const char *op, const void *cell, ag_tensor *const *xs, int T) {
    if (!ag_tape_ok(t, op, 0, NULL)) return false;
    const char *why = !cell ? "cell is NULL" : !xs ? "xs is NULL (it holds the T inputs)" : NULL;
    if (why) {
        ag_tape_fail(t, "%s: %s", op, why);
        return false;
    }
    if (T < 1) {
        ag_tape_fail(t, "%s: %d steps; at least 1 is needed", op, T);
        return false;
    }
    for (int k = 0; k < T; k++) {
        if (!xs[k]) {
            ag_tape_fail(t, "%s: input of step %d (xs[%d]) is NULL", op, k + 1, k);
            return false;
        }
    }
    return true;
}

ag_tensor *nn_lstm_unfold(ag_tape *t, const nn_lstm *cell, ag_tensor *h0, ag_tensor *c0,
                          ag_tensor *const *xs, int T, ag_tensor **states, ag_tensor **c_last) {
    if (c_last) *c_last = ag_tape_poison(t); /* what it holds unless the run succeeds */
    if (!unfold_ok(t, "lstm unfold", cell, xs, T)) return ag_tape_poison(t);
    ag_tensor *h = h0, *c = c0;
    for (int k = 0; k < T; k++) {
        h = nn_lstm_step(t, cell, h, c, xs[k], &c);
        if (states) states[k] = h;
    }
    if (ag_tape_error(t)) return ag_tape_fail(t, "lstm unfold: failed");
    if (c_last) *c_last = c;
    return h;
}

ag_tensor *nn_gru_unfold(ag_tape *t, const nn_gru *cell, ag_tensor *h0, ag_tensor *const *xs,
                         int T, ag_tensor **states) {
    if (!unfold_ok(t, "gru unfold", cell, xs, T)) return ag_tape_poison(t);
    ag_tensor *h = h0;
    for (int k = 0; k < T; k++) {
        h = nn_gru_step(t, cell, h, xs[k]);
        if (states) states[k] = h;
    }
    return ag_tape_error(t) ? ag_tape_fail(t, "gru unfold: failed") : h;
}
