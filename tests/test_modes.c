/*
 * test_modes.c -- values without a path back (ag_detach, ag_detach_into), clipping gradients by
 * their joint norm (nn_clip_grad_norm) and the no-gradient (inference) mode (ag_tape_set_grad).
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
    n->x = tu_param(&r, 2, (const int[]){32, 6}, -1, 1);
    for (int k = 0; k < 5; k++) n->xs[k] = tu_param(&r, 2, (const int[]){32, 6}, -1, 1);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detach_stops_the_gradient),
        cmocka_unit_test(test_detach_into_carries_across_a_reset),
        cmocka_unit_test(test_clip_grad_norm),
        cmocka_unit_test(test_clip_grad_norm_reports_non_finite),
        cmocka_unit_test(test_no_grad_mode_same_values_no_gradients),
        cmocka_unit_test(test_no_grad_scope_inside_a_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
