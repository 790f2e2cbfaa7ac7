/*
 * test_tape.c -- the tape and the reverse sweep: accumulation, reuse, skipping, resets, seeds.
 */
#include "support/testutil.h"

#include <math.h>

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
    };
    return cmocka_run_group_tests_name("tape", tests, NULL, NULL);
}
