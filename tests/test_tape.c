/*
 * test_tape.c -- the tape and the reverse sweep: accumulation, reuse, skipping, resets, seeds.
 */
#include "support/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_scalar_api_like_micrograd(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar_param(0.5), *x = ag_scalar(t, 2.0);
    ag_tensor *y = ag_sigmoid(t, ag_mul(t, w, x));
    assert_int_equal(ag_backward(t, y), 0);
    double yv = 1.0 / (1.0 + exp(-1.0));
    assert_float_equal(ag_item(y), yv, 1e-6);
    assert_float_equal(ag_grad_item(w), yv * (1 - yv) * 2.0, 1e-6);
    assert_float_equal(ag_grad_item(y), 1.0, 0); /* d y / d y */
    assert_float_equal(ag_grad_item(x), 0.0, 0);  /* data: no gradient */
    assert_null(x->grad);
    assert_string_equal(ag_op_name(y), "sigmoid");
    assert_string_equal(ag_op_name(w), "leaf");
    ag_tensor_free(w);
    ag_tape_free(t);
}

/* f = x*x + x*3 + x uses x four times: df/dx = 2x + 3 + 1, the sum over the uses. */
static void test_reuse_sums_gradients(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_scalar_param(1.5);
    ag_tensor *f = ag_add(t, ag_add(t, ag_mul(t, x, x), ag_scale(t, x, 3.0)), x);
    assert_int_equal(ag_backward(t, f), 0);
    assert_float_equal(ag_grad_item(x), 2 * 1.5 + 3 + 1, 1e-6);
    /* a weight used T times in a chain (an unfolded net): d/dw (w^4 v) = 4 w^3 v */
    ag_tape_reset(t);
    ag_zero_grad(x);
    ag_tensor *h = ag_scalar(t, 0.7);
    for (int k = 0; k < 4; k++) h = ag_mul(t, x, h);
    assert_int_equal(ag_backward(t, h), 0);
    assert_float_equal(ag_grad_item(x), 4 * pow(1.5, 3) * 0.7, 1e-5);
    ag_tensor_free(x);
    ag_tape_free(t);
}

static void test_parameters_accumulate_until_zeroed(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar_param(3.0);
    for (int step = 1; step <= 3; step++) {
        ag_tensor *e = ag_square(t, w); /* de/dw = 6 */
        assert_int_equal(ag_backward(t, e), 0);
        assert_float_equal(ag_grad_item(w), 6.0 * step, 1e-6);
        ag_tape_reset(t);
    }
    ag_zero_grad(w);
    assert_float_equal(ag_grad_item(w), 0.0, 0);
    ag_tensor_free(w);
    ag_tape_free(t);
}

/* A second sweep over the same recording starts the intermediates from zero (so the
 * parameters get exactly one more copy of the gradient, not a compounded one). */
static void test_second_backward_on_one_recording(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar_param(2.0);
    ag_tensor *y = ag_mul(t, ag_square(t, w), ag_scalar(t, 5.0)); /* dy/dw = 10 w = 20 */
    assert_int_equal(ag_backward(t, y), 0);
    assert_int_equal(ag_backward(t, y), 0);
    assert_float_equal(ag_grad_item(w), 40.0, 1e-5);
    assert_float_equal(ag_grad_item(y), 1.0, 0);
    ag_tensor_free(w);
    ag_tape_free(t);
}

static void test_unreached_nodes_are_skipped(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *a = ag_scalar_param(1.0), *b = ag_scalar_param(2.0);
    ag_tensor *side = ag_exp(t, b);                    /* recorded, but the loss ignores it */
    ag_tensor *data = ag_exp(t, ag_scalar(t, 1.0));    /* no input requires a gradient */
    ag_tensor *loss = ag_mul(t, a, data);
    ag_tensor *after = ag_square(t, a);                /* recorded after the loss */
    assert_int_equal(ag_backward(t, loss), 0);
    assert_float_equal(ag_grad_item(a), exp(1.0), 1e-6);
    assert_float_equal(ag_grad_item(b), 0.0, 0);
    assert_null(side->grad);
    assert_null(data->grad);
    assert_null(after->grad);
    assert_false(data->flags & AG_REQUIRES_GRAD);
    assert_true(side->flags & AG_REQUIRES_GRAD);
    ag_tensor_free(a);
    ag_tensor_free(b);
    ag_tape_free(t);
}

static void test_backward_seed_and_leaf_loss(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_tensor_from(2, (const int[]){1, 3}, (const float[]){1, 2, 3}, true);
    ag_tensor *y = ag_square(t, x);
    const float seed[3] = {1, 0.5f, -1};
    assert_int_equal(ag_backward_seed(t, y, seed), 0);
    const float want[3] = {2, 2, -6}; /* seed * 2x */
    assert_memory_equal(x->grad, want, sizeof want);
    /* a non-scalar loss without a seed is refused, and nothing changes */
    assert_int_equal(ag_backward(t, y), -1);
    tu_assert_error(t, "backward: loss has shape (1,3), not one element");
    assert_memory_equal(x->grad, want, sizeof want);
    ag_tape_reset(t);
    /* back-propagating from a parameter itself seeds its own gradient */
    ag_tensor *w = ag_scalar_param(4.0);
    assert_int_equal(ag_backward(t, w), 0);
    assert_float_equal(ag_grad_item(w), 1.0, 0);
    /* a loss that needs no gradient: nothing to do */
    assert_int_equal(ag_backward(t, ag_scalar(t, 1.0)), 0);
    ag_tensor_free(w);
    ag_tensor_free(x);
    ag_tape_free(t);
}

/* reset forgets everything in O(1) and the same graph then fits in the kept arena. */
static void test_reset_reuses_the_arena(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_tensor_2d(64, 64, true), *b = ag_scalar_param(0.1);
    size_t bytes = 0;
    for (int step = 0; step < 5; step++) {
        ag_tensor *x = ag_scalar(t, 1.0);
        for (int i = 0; i < 20000; i++) x = ag_add(t, ag_mul(t, x, b), b); /* many chunks */
        ag_tensor *m = ag_matmul(t, w, w);
        ag_tensor *loss = ag_add(t, ag_sum(t, m), x);
        assert_int_equal(ag_backward(t, loss), 0);
        assert_int_equal(ag_tape_nodes(t), 40000 + 3);
        if (step == 0) bytes = ag_tape_bytes(t);
        assert_int_equal(ag_tape_bytes(t), bytes);
        ag_tape_reset(t);
        assert_int_equal(ag_tape_nodes(t), 0);
        assert_null(ag_tape_error(t));
    }
    assert_true(bytes > (size_t)1 << 20);
    ag_tensor_free(w);
    ag_tensor_free(b);
    ag_tape_free(t);
}

static void test_requires_grad_and_names(void **state) {
    (void)state;
    ag_tensor *x = ag_tensor_2d(2, 2, false);
    assert_null(x->grad);
    assert_int_equal(ag_set_requires_grad(x, true), 0);
    assert_non_null(x->grad);
    assert_int_equal(ag_tensor_set_name(x, "weights"), 0);
    assert_string_equal(x->name, "weights");
    assert_int_equal(ag_tensor_set_name(x, "w2"), 0);
    assert_string_equal(x->name, "w2");
    char buf[32];
    assert_string_equal(ag_shape_str(x, buf, sizeof buf), "(2,2)");
    assert_string_equal(ag_shape_str(NULL, buf, sizeof buf), "(null)");
    assert_string_equal(ag_shape_str(x, buf, 4), "(2,"); /* truncated, terminated */
    assert_int_equal(ag_set_requires_grad(x, false), 0);
    assert_null(x->grad);
    ag_tensor_free(x);
}

/* A tensor made before ag_tape_reset is stale: the arena it lives in belongs to the new step.
 * Every op refuses it with a sticky error naming the op and the input (issue: the arena is
 * reused, so no memory checker can see this; it used to return a number). */
static void test_stale_tensors_are_refused(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar_param(3.0);
    ag_tensor *y = ag_mul(t, w, w);
    assert_float_equal(ag_item(y), 9.0, 0);
    ag_tape_reset(t);
    ag_tensor *r = ag_add(t, y, w);
    tu_assert_error(t, "add: input 1 (1) is stale: made before the tape's last reset");
    assert_true(r->flags & AG_POISONED);
    assert_true(isnan(ag_item(r)));
    /* sticky: later ops record nothing */
    assert_true(ag_sigmoid(t, w)->flags & AG_POISONED);
    assert_int_equal(ag_tape_nodes(t), 0);

    /* the second input, a stale constant, and backward from a stale result */
    ag_tape_reset(t);
    ag_tensor *c = ag_scalar(t, 2.0);
    ag_tensor *old = ag_mul(t, w, c);
    ag_tape_reset(t);
    assert_true(ag_mul(t, w, c)->flags & AG_POISONED);
    tu_assert_error(t, "mul: input 2 (1) is stale");
    ag_tape_reset(t);
    assert_int_equal(ag_backward(t, old), -1);
    tu_assert_error(t, "backward: input 1 (1) is stale");
    assert_float_equal(ag_grad_item(w), 0.0, 0); /* no gradient changed */
    ag_tape_reset(t);
    ag_tensor *parts[2] = {w, old};
    assert_true(ag_concat(t, parts, 2, 0)->flags & AG_POISONED);
    tu_assert_error(t, "concat: input 2 (1) is stale");

    /* two resets later it is still stale; a fresh one works */
    ag_tape_reset(t);
    ag_tape_reset(t);
    assert_true(ag_exp(t, old)->flags & AG_POISONED);
    tu_assert_error(t, "exp: input 1 (1) is stale");
    ag_tape_reset(t);
    ag_tensor *fresh = ag_mul(t, w, w);
    assert_float_equal(ag_item(ag_add(t, fresh, w)), 12.0, 0);
    assert_null(ag_tape_error(t));
    ag_tensor_free(w);
    ag_tape_free(t);
}

/* The same, with its status; and a size limit that turns a forgotten reset into an error. */
static void test_stale_status_and_size_limit(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar_param(3.0);
    ag_tensor *y = ag_mul(t, w, w);
    ag_tape_reset(t);
    ag_add(t, y, w);
    assert_int_equal(ag_tape_status(t), AG_ERR_STALE_TENSOR);
    ag_tape_reset(t);

    /* a training loop that forgets ag_tape_reset: each step records more */
    const size_t limit = (size_t)1 << 20;
    assert_int_equal(ag_tape_set_limit(t, limit), 0);
    ag_tensor *x = ag_tensor_2d(16, 64, true);
    int steps = 0;
    while (!ag_tape_error(t) && steps < 100000) {
        ag_tensor *loss = ag_sum(t, ag_tanh(t, ag_mul(t, x, x)));
        ag_backward(t, loss);
        steps++;
    }
    assert_true(steps > 10 && steps < 100000);
    tu_assert_error(t, "over the tape's limit of 1048576 bytes");
    assert_int_equal(ag_tape_status(t), AG_ERR_TAPE_LIMIT);
    assert_true(ag_tape_bytes(t) <= limit);
    /* the limit survives a reset; a step that fits works */
    ag_tape_reset(t);
    ag_tensor *loss = ag_sum(t, ag_tanh(t, ag_mul(t, x, x)));
    assert_int_equal(ag_backward(t, loss), 0);
    assert_null(ag_tape_error(t));
    /* a single op larger than the limit is refused, naming itself */
    ag_tape_reset(t);
    ag_tensor *big = ag_tape_tensor(t, 2, (const int[]){1024, 1024}, NULL);
    assert_true(big->flags & AG_POISONED);
    tu_assert_error(t, "tape_tensor: ");
    tu_assert_error(t, "limit of 1048576 bytes");
    /* 0 removes the limit */
    ag_tape_reset(t);
    assert_int_equal(ag_tape_set_limit(t, 0), 0);
    big = ag_tape_tensor(t, 2, (const int[]){1024, 1024}, NULL);
    assert_false(big->flags & AG_POISONED);
    ag_tensor_free(x);
    ag_tensor_free(w);
    ag_tape_free(t);
}

/* ---- gradients the sweep leaves unzeroed ----------------------------------------------------
 * The sweep does not zero the intermediates' gradients; conv, pooling, relu, matmul and linear store
 * into one nobody has written yet, and the sweep zeroes it before any other op's vjp. Arena
 * memory from a reset holds the last step's values, here NaN: none of it may leak into a
 * gradient. The graph has tensors written first by a storing vjp and then by an adding one,
 * the other way round, by two storing ones, and matmul(g, g^T) (one tensor, both operands);
 * a fused dense layer (ag_linear) with a bias made on the tape. */
#define UNZEROED_MIDS 7
static ag_tensor *unzeroed_graph(ag_tape *t, ag_tensor *const *p, ag_tensor **mid) {
    ag_tensor *h = mid[0] = ag_scale(t, p[0], 1.0);               /* (2,1,6,6) */
    ag_tensor *c = mid[1] = ag_conv2d(t, h, p[1], p[2], 1, 0, 1); /* (2,3,4,4) */
    ag_tensor *r = mid[2] = ag_relu(t, c);
    ag_tensor *s = mid[3] = ag_add(t, ag_max_pool2d(t, r, 2, 2, 0), ag_avg_pool2d(t, r, 2, 2, 0));
    ag_tensor *g = mid[4] = ag_matmul(t, ag_reshape(t, s, 2, (const int[]){2, 12}), p[3]);
    ag_tensor *gg = mid[5] = ag_matmul_ex(t, g, g, false, true); /* (2,2) */
    /* a dense layer (one node) whose bias is a tape tensor: x, w and b all stored or added */
    ag_tensor *bias = mid[6] = ag_sum_axis(t, p[3], 0);             /* (12) */
    ag_tensor *e = ag_add(t, ag_sum(t, gg), ag_sum(t, ag_linear(t, g, p[3], bias, AG_ACT_TANH)));
    e = ag_add(t, e, ag_sum(t, ag_mul(t, c, c)));
    ag_tensor *last = ag_sum(t, ag_relu(t, h));
    return ag_add(t, e, last); /* the sweep runs this add, the sum and relu(h) first */
}

/* Fill the tape's arena with NaN, then reset it: the next recording reuses that memory. */
static void fill_arena_with_nan(ag_tape *t) {
    ag_tensor *junk = ag_tensor_2d(256, 256, false);
    for (int i = 0; i < junk->numel; i++) junk->data[i] = NAN;
    for (int k = 0; k < 8; k++) ag_scale(t, junk, 1.0);
    assert_null(ag_tape_error(t));
    ag_tape_reset(t);
    ag_tensor_free(junk);
}

static void test_unzeroed_gradients_never_leak(void **state) {
    (void)state;
    const int shapes[4][4] = {{2, 1, 6, 6}, {3, 1, 3, 3}, {3}, {12, 12}};
    const int ndims[4] = {4, 4, 1, 2};
    ag_tensor *p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = ag_tensor_new(ndims[i], shapes[i], true);
        assert_non_null(p[i]);
        for (int k = 0; k < p[i]->numel; k++) p[i]->data[k] = (float)sin(1.7 * k + i) * 0.5f;
    }
    float *want[4];
    ag_tensor *mid[UNZEROED_MIDS];
    ag_tape *fresh = ag_tape_new(), *used = ag_tape_new();
    assert_int_equal(ag_backward(fresh, unzeroed_graph(fresh, p, mid)), 0);
    for (int i = 0; i < 4; i++) {
        want[i] = malloc((size_t)p[i]->numel * sizeof(float));
        memcpy(want[i], p[i]->grad, (size_t)p[i]->numel * sizeof(float));
        ag_zero_grad(p[i]);
    }
    fill_arena_with_nan(used);
    ag_tensor *loss = unzeroed_graph(used, p, mid);
    assert_int_equal(ag_backward(used, loss), 0);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < p[i]->numel; k++) assert_float_equal(p[i]->grad[k], want[i][k], 0);
    /* A sweep stopped after a few nodes leaves every gradient it gave out readable: zeros
     * where no vjp has written yet. */
    fill_arena_with_nan(used);
    loss = unzeroed_graph(used, p, mid);
    assert_int_equal(ag_backward_steps(used, loss, 3), 0);
    /* the three nodes run: the last add, sum and relu(h), which wrote h's gradient */
    for (int k = 0; k < mid[0]->numel; k++) assert_false(isnan(mid[0]->grad[k]));
    for (int i = 1; i < UNZEROED_MIDS; i++) {
        assert_non_null(mid[i]->grad);
        for (int k = 0; k < mid[i]->numel; k++) assert_float_equal(mid[i]->grad[k], 0.0f, 0);
    }
    for (int i = 0; i < 4; i++) {
        free(want[i]);
        ag_tensor_free(p[i]);
    }
    ag_tape_free(fresh);
    ag_tape_free(used);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_api_like_micrograd),
        cmocka_unit_test(test_reuse_sums_gradients),
        cmocka_unit_test(test_parameters_accumulate_until_zeroed),
        cmocka_unit_test(test_second_backward_on_one_recording),
        cmocka_unit_test(test_unreached_nodes_are_skipped),
        cmocka_unit_test(test_backward_seed_and_leaf_loss),
        cmocka_unit_test(test_reset_reuses_the_arena),
        cmocka_unit_test(test_requires_grad_and_names),
        cmocka_unit_test(test_stale_tensors_are_refused),
        cmocka_unit_test(test_stale_status_and_size_limit),
        cmocka_unit_test(test_unzeroed_gradients_never_leak),
    };
    return cmocka_run_group_tests_name("tape", tests, NULL, NULL);
}
