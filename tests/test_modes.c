/*
 * test_modes.c -- values without a path back (ag_detach, ag_detach_into), clipping gradients by
 * their joint norm (nn_clip_grad_norm), the no-gradient (inference) mode (ag_tape_set_grad),
 * dropout (nn_dropout) and layer normalisation (nn_layernorm).
 */
#include "support/testutil.h"

#include "nn/nn.h"

#include <math.h>
#include <string.h>

/* ---- detach ---------------------------------------------------------------------------------- */

/* y = w * detach(w * 3): the detached factor is a constant, so dy/dw = detach(w*3) = 3w, not
 * the 6w that flows without detach. */
static void test_detach_stops_the_gradient(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar_param(0.5);
    ag_tensor *u = ag_mul(t, w, ag_scalar(t, 3.0));
    ag_tensor *d = ag_detach(t, u);
    assert_float_equal(ag_item(d), 1.5, 0);
    assert_false(d->flags & AG_REQUIRES_GRAD);
    assert_string_equal(ag_op_name(d), "leaf");
    assert_int_equal(ag_backward(t, ag_mul(t, w, d)), 0);
    assert_float_equal(ag_grad_item(w), 1.5, 1e-7);
    ag_zero_grad(w);
    ag_tape_reset(t);
    u = ag_mul(t, w, ag_scalar(t, 3.0));
    assert_int_equal(ag_backward(t, ag_mul(t, w, u)), 0);
    assert_float_equal(ag_grad_item(w), 3.0, 1e-7); /* without detach: 6w */
    ag_tensor_free(w);
    ag_tape_free(t);
}

/* ag_detach_into keeps the value across a reset in a user-owned tensor: truncated BPTT. */
static void test_detach_into_carries_across_a_reset(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_tensor_from(2, (const int[]){1, 3}, (const float[]){1, -2, 0.5f}, true);
    ag_tensor *keep = ag_tensor_2d(1, 3, false);
    ag_tensor *h = ag_tanh(t, w);
    assert_ptr_equal(ag_detach_into(t, h, keep), keep);
    for (int i = 0; i < 3; i++) assert_float_equal(keep->data[i], tanhf(w->data[i]), 0);
    ag_tape_reset(t);
    /* the next chunk starts from keep: gradients reach w only through this chunk's use */
    ag_tensor *E = ag_sum(t, ag_mul(t, w, keep));
    assert_int_equal(ag_backward(t, E), 0);
    for (int i = 0; i < 3; i++) assert_float_equal(w->grad[i], keep->data[i], 0);
    assert_null(keep->grad);
    /* a shape that differs, or a tape tensor as keep: the tape fails and keep is unchanged */
    float before[3];
    memcpy(before, keep->data, sizeof before);
    ag_tape_reset(t);
    ag_tensor *r = ag_detach_into(t, ag_tape_tensor(t, 2, (const int[]){3, 1}, NULL), keep);
    assert_true(r->flags & AG_POISONED);
    tu_assert_error(t, "detach_into: x (3,1) and keep (1,3) differ in shape");
    assert_memory_equal(keep->data, before, sizeof before);
    ag_tape_reset(t);
    r = ag_detach_into(t, ag_tanh(t, w), ag_tape_tensor(t, 2, (const int[]){1, 3}, NULL));
    tu_assert_error(t, "must be user-owned");
    ag_tensor_free(w);
    ag_tensor_free(keep);
    ag_tape_free(t);
}

/* ---- nn_clip_grad_norm ---------------------------------------------------------------------- */

static nn_params *two_params(const float *ga, const float *gb) {
    nn_params *ps = nn_params_new();
    ag_tensor *a = nn_param_new(ps, "a", 1, (const int[]){2});
    ag_tensor *b = nn_param_new(ps, "b", 2, (const int[]){1, 1});
    memcpy(a->grad, ga, 2 * sizeof(float));
    memcpy(b->grad, gb, sizeof(float));
    return ps;
}

/* Gradients (3, 0) and (4): norm 5. Above max_norm they are scaled to norm max_norm; at or
 * below it they are untouched; the norm before clipping is returned either way. */
static void test_clip_grad_norm(void **state) {
    (void)state;
    nn_params *ps = two_params((const float[]){3, 0}, (const float[]){4});
    assert_float_equal(nn_clip_grad_norm(ps, 10), 5.0, 0);
    assert_float_equal(nn_params_at(ps, 0)->grad[0], 3.0, 0);
    assert_float_equal(nn_clip_grad_norm(ps, 5), 5.0, 0); /* at the limit: untouched */
    assert_float_equal(nn_params_at(ps, 1)->grad[0], 4.0, 0);
    assert_float_equal(nn_clip_grad_norm(ps, 1), 5.0, 0);
    assert_float_equal(nn_params_at(ps, 0)->grad[0], 0.6, 1e-7);
    assert_float_equal(nn_params_at(ps, 0)->grad[1], 0.0, 0);
    assert_float_equal(nn_params_at(ps, 1)->grad[0], 0.8, 1e-7);
    assert_float_equal(nn_clip_grad_norm(ps, INFINITY), 1.0, 1e-7); /* measure only */
    nn_params_free(ps);
}

/* A NaN or infinite gradient is reported, not spread over every gradient. */
static void test_clip_grad_norm_reports_non_finite(void **state) {
    (void)state;
    nn_params *ps = two_params((const float[]){3, NAN}, (const float[]){4});
    assert_true(isnan(nn_clip_grad_norm(ps, 1)));
    assert_non_null(strstr(ag_last_error(), "norm is NaN; gradients left as they are"));
    assert_float_equal(nn_params_at(ps, 0)->grad[0], 3.0, 0);
    assert_float_equal(nn_params_at(ps, 1)->grad[0], 4.0, 0);
    nn_params_at(ps, 0)->grad[1] = INFINITY;
    assert_true(isinf(nn_clip_grad_norm(ps, 1)));
    assert_non_null(strstr(ag_last_error(), "norm is infinite"));
    assert_float_equal(nn_params_at(ps, 1)->grad[0], 4.0, 0);
    nn_params_free(ps);
}

/* ---- the no-gradient mode ------------------------------------------------------------------ */

typedef struct {
    nn_params *ps;
    nn_mlp mlp;
    nn_recurrent rec;
    ag_tensor *x, *xs[5];
} nets;

static void nets_make(nets *n) {
    nn_rng rng = nn_rng_seed(11);
    n->ps = nn_params_new();
    n->mlp = nn_mlp_new(n->ps, "m", "6-16-4", NN_TANH, NN_SIGMOID, nn_init_xavier(), &rng);
    n->rec = nn_recurrent_new(n->ps, "r", 6, 8, NN_TANH, nn_init_xavier(), &rng);
    assert_int_equal(n->mlp.nlayers, 2);
    assert_non_null(n->rec.W);
    tu_rng r = {5};
    /* 128 rows: enough values that the gradients of training take more arena chunks (64 KiB
     * and up) than inference holds, even with each dense layer one fused node */
    n->x = tu_param(&r, 2, (const int[]){128, 6}, -1, 1);
    for (int k = 0; k < 5; k++) n->xs[k] = tu_param(&r, 2, (const int[]){128, 6}, -1, 1);
}

static void nets_free(nets *n) {
    ag_tensor_free(n->x);
    for (int k = 0; k < 5; k++) ag_tensor_free(n->xs[k]);
    nn_params_free(n->ps);
}

/* The mlp on x and the recurrent net over xs, as one loss (the mean of both outputs). */
static ag_tensor *forward(ag_tape *t, const nets *n, ag_tensor **mlp_out, ag_tensor **rnn_out) {
    *mlp_out = nn_mlp_forward(t, &n->mlp, n->x);
    ag_tensor *h = NULL;
    for (int k = 0; k < 5; k++) h = nn_recurrent_step(t, &n->rec, h, n->xs[k]);
    *rnn_out = h;
    return ag_add(t, ag_mean(t, *mlp_out), ag_mean(t, h));
}

static bool any_gradient(const ag_tape *t, ag_tensor *const *xs, int n) {
    (void)t;
    for (int i = 0; i < n; i++)
        if (xs[i]->grad || (xs[i]->flags & AG_REQUIRES_GRAD)) return true;
    return false;
}

static void test_no_grad_mode_same_values_no_gradients(void **state) {
    (void)state;
    nets n;
    nets_make(&n);
    ag_tape *train = ag_tape_new(), *infer = ag_tape_new();
    assert_true(ag_tape_grad_enabled(train));
    assert_int_equal(ag_tape_set_grad(infer, false), 0);
    assert_false(ag_tape_grad_enabled(infer));

    ag_tensor *m1, *r1, *m2, *r2;
    ag_tensor *E1 = forward(train, &n, &m1, &r1);
    ag_tensor *E2 = forward(infer, &n, &m2, &r2);
    assert_null(ag_tape_error(infer));
    assert_int_equal(ag_tape_nodes(infer), ag_tape_nodes(train));
    /* the same values, bit for bit */
    assert_memory_equal(m1->data, m2->data, (size_t)m1->numel * sizeof(float));
    assert_memory_equal(r1->data, r2->data, (size_t)r1->numel * sizeof(float));
    assert_memory_equal(E1->data, E2->data, sizeof(float));
    /* nothing recorded in inference wants a gradient or holds one */
    ag_tensor *outs[] = {m2, r2, E2};
    assert_false(any_gradient(infer, outs, 3));
    assert_true(E1->flags & AG_REQUIRES_GRAD);

    /* a training step holds more arena memory than the inference forward (its gradients) */
    assert_int_equal(ag_backward(train, E1), 0);
    assert_true(ag_tape_bytes(infer) < ag_tape_bytes(train));

    /* ag_backward refuses, naming the mode, and changes no gradient */
    nn_zero_grad(n.ps);
    assert_int_equal(ag_backward(infer, E2), -1);
    assert_int_equal(ag_tape_status(infer), AG_ERR_NO_GRAD);
    tu_assert_error(infer, "backward: output (1) was recorded with gradients off");
    for (int p = 0; p < nn_params_count(n.ps); p++) {
        const ag_tensor *w = nn_params_at(n.ps, p);
        for (int i = 0; i < w->numel; i++) assert_true(w->grad[i] == 0.0f);
    }

    /* the setting survives a reset; turned back on, the tape trains again */
    ag_tape_reset(infer);
    assert_false(ag_tape_grad_enabled(infer));
    assert_int_equal(ag_tape_set_grad(infer, true), 0);
    E2 = forward(infer, &n, &m2, &r2);
    assert_int_equal(ag_backward(infer, E2), 0);
    assert_true(nn_params_at(n.ps, 0)->grad[0] != 0.0f);

    ag_tape_free(train);
    ag_tape_free(infer);
    nets_free(&n);
}

/* A scope: gradients off for part of a step. What was recorded with them on still trains; what
 * was recorded with them off is a constant to the sweep. */
static void test_no_grad_scope_inside_a_step(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar_param(2.0);
    ag_tensor *a = ag_mul(t, w, w); /* 4, on */
    ag_tape_set_grad(t, false);
    ag_tensor *b = ag_mul(t, w, ag_scalar(t, 10.0)); /* 20, off: a constant */
    ag_tape_set_grad(t, true);
    ag_tensor *y = ag_add(t, a, b);
    assert_float_equal(ag_item(y), 24.0, 0);
    assert_int_equal(ag_backward(t, y), 0);
    assert_float_equal(ag_grad_item(w), 4.0, 0); /* d(w^2)/dw only */
    assert_null(b->grad);
    ag_tensor_free(w);
    ag_tape_free(t);
}

/* ---- dropout ------------------------------------------------------------------------------- */

static ag_tensor *ones(int rows, int cols) {
    ag_tensor *x = ag_tensor_2d(rows, cols, true);
    for (int i = 0; i < x->numel; i++) x->data[i] = 1.0f;
    return x;
}

/* Eval is the identity: x itself, nothing recorded, the generator untouched. */
static void test_dropout_eval_is_identity(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ones(3, 4);
    nn_rng rng = nn_rng_seed(7);
    const nn_rng before = rng;
    assert_ptr_equal(nn_dropout(t, x, 0.5, false, &rng), x);
    assert_ptr_equal(nn_dropout(t, x, 0.5, false, NULL), x);
    assert_ptr_equal(nn_dropout(t, x, 0.0, true, &rng), x);
    assert_int_equal(ag_tape_nodes(t), 0);
    assert_true(rng.state == before.state);
    ag_tensor_free(x);
    ag_tape_free(t);
}

/* Training keeps about 1-p of the units, scaled by 1/(1-p); the gradient is the mask. */
static void test_dropout_train_keeps_and_scales(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ones(100, 100);
    nn_rng rng = nn_rng_seed(7);
    const double p = 0.3;
    ag_tensor *y = nn_dropout(t, x, p, true, &rng);
    assert_null(ag_tape_error(t));
    tu_assert_shape(y, 2, (const int[]){100, 100});
    int kept = 0;
    for (int i = 0; i < y->numel; i++) {
        if (y->data[i] != 0.0f) {
            kept++;
            assert_true(y->data[i] == (float)(1.0 / (1.0 - p)));
        }
    }
    /* 10,000 draws: the kept fraction is 0.7 within 4 standard deviations (0.018) */
    assert_true(fabs(kept / 10000.0 - (1 - p)) < 0.018);
    assert_int_equal(ag_backward(t, ag_sum(t, y)), 0);
    for (int i = 0; i < x->numel; i++) assert_true(x->grad[i] == y->data[i]); /* dy/dx = mask */
    ag_tensor_free(x);
    ag_tape_free(t);
}

/* The same seed gives the same mask; another seed another one. */
static void test_dropout_repeatable_from_its_seed(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ones(8, 16);
    nn_rng a = nn_rng_seed(99), b = nn_rng_seed(99), c = nn_rng_seed(100);
    ag_tensor *ya = nn_dropout(t, x, 0.5, true, &a);
    ag_tensor *yb = nn_dropout(t, x, 0.5, true, &b);
    ag_tensor *yc = nn_dropout(t, x, 0.5, true, &c);
    assert_memory_equal(ya->data, yb->data, 128 * sizeof(float));
    assert_memory_not_equal(ya->data, yc->data, 128 * sizeof(float));
    /* p = 1 drops everything */
    ag_tensor *z = nn_dropout(t, x, 1.0, true, &a);
    for (int i = 0; i < z->numel; i++) assert_true(z->data[i] == 0.0f);
    ag_tensor_free(x);
    ag_tape_free(t);
}

/* ---- layer normalisation ------------------------------------------------------------------- */

/* Against the formula computed here in double, with a gain and bias that are not 1 and 0. */
static void test_layernorm_by_hand(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    nn_layernorm ln = nn_layernorm_new(ps, "ln", 4, 1e-5);
    assert_non_null(ln.gain);
    for (int i = 0; i < 4; i++) {
        assert_true(ln.gain->data[i] == 1.0f && ln.bias->data[i] == 0.0f);
        ln.gain->data[i] = 0.5f + 0.25f * (float)i;
        ln.bias->data[i] = -0.1f * (float)i;
    }
    const float X[8] = {1, 2, 3, 4, -2, 0.5f, 7, 1};
    ag_tensor *x = ag_tensor_from(2, (const int[]){2, 4}, X, false);
    ag_tape *t = ag_tape_new();
    ag_tensor *y = nn_layernorm_forward(t, &ln, x);
    assert_null(ag_tape_error(t));
    for (int r = 0; r < 2; r++) {
        double mean = 0, var = 0;
        for (int i = 0; i < 4; i++) mean += X[r * 4 + i] / 4.0;
        for (int i = 0; i < 4; i++) var += (X[r * 4 + i] - mean) * (X[r * 4 + i] - mean) / 4.0;
        for (int i = 0; i < 4; i++) {
            double want = (X[r * 4 + i] - mean) / sqrt(var + 1e-5) * ln.gain->data[i] + ln.bias->data[i];
            assert_float_equal(y->data[r * 4 + i], want, 1e-5);
        }
    }
    ag_tensor_free(x);
    ag_tape_free(t);
    nn_params_free(ps);
}

typedef struct { nn_layernorm ln; ag_tensor *x, *w; } ln_ctx;
static ag_tensor *ln_loss(ag_tape *t, void *p) {
    ln_ctx *c = p;
    return ag_sum(t, ag_mul(t, nn_layernorm_forward(t, &c->ln, c->x), c->w));
}

/* Its gradient (through the ops it is made of) with respect to x, gain and bias. */
static void test_layernorm_gradcheck(void **state) {
    (void)state;
    const int shapes[3][3] = {{2, 1, 5}, {2, 3, 4}, {3, 2, 3}}; /* ndim, dims */
    tu_rng r = {17};
    for (int k = 0; k < 3; k++) {
        const int ndim = shapes[k][0];
        const int *shape = ndim == 2 ? &shapes[k][1] : &shapes[k][0];
        const int n = shape[ndim - 1];
        nn_params *ps = nn_params_new();
        ln_ctx c = {nn_layernorm_new(ps, "ln", n, 1e-5), tu_param(&r, ndim, shape, -2, 2),
                    tu_param(&r, ndim, shape, -1, 1)};
        for (int i = 0; i < n; i++) {
            c.ln.gain->data[i] = (float)tu_uniform(&r, 0.5, 1.5);
            c.ln.bias->data[i] = (float)tu_uniform(&r, -0.5, 0.5);
        }
        ag_tensor *params[3] = {c.x, c.ln.gain, c.ln.bias};
        ag_gradcheck_report rep;
        assert_int_equal(ag_gradcheck(ln_loss, &c, params, 3, 1e-3, 1e-2, &rep), 0);
        if (rep.worst_error > 1e-2)
            fail_msg("layernorm shape %d: worst error %g at param %d element %d (%g vs %g)", k,
                     rep.worst_error, rep.worst_param, rep.worst_index, rep.analytic, rep.numeric);
        ag_tensor_free(c.x), ag_tensor_free(c.w);
        nn_params_free(ps);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detach_stops_the_gradient),
        cmocka_unit_test(test_detach_into_carries_across_a_reset),
        cmocka_unit_test(test_clip_grad_norm),
        cmocka_unit_test(test_clip_grad_norm_reports_non_finite),
        cmocka_unit_test(test_no_grad_mode_same_values_no_gradients),
        cmocka_unit_test(test_no_grad_scope_inside_a_step),
        cmocka_unit_test(test_dropout_eval_is_identity),
        cmocka_unit_test(test_dropout_train_keeps_and_scales),
        cmocka_unit_test(test_dropout_repeatable_from_its_seed),
        cmocka_unit_test(test_layernorm_by_hand),
        cmocka_unit_test(test_layernorm_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
