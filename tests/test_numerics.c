/*
 * test_numerics.c -- numerical trouble. The finite check (off by default) stops at the first op
 * whose output holds NaN or Inf and names the op, the element and the inputs. And the ops whose
 * mathematics stays finite on extreme inputs (|x| = 1e4) do: sigmoid, softmax, log-softmax,
 * the cross-entropies, log, and their gradients.
 */
#include "support/testutil.h"

#include <math.h>
#include <string.h>

static ag_tape *T;
static int setup(void **s) { (void)s; T = ag_tape_new(); return T ? 0 : -1; }
static int teardown(void **s) { (void)s; ag_tape_free(T); return 0; }
static int reset(void **s) {
    (void)s;
    ag_tape_reset(T);
    ag_tape_check_finite(T, false);
    return 0;
}

static ag_tensor *consts(int r, int c, const float *v) {
    return ag_tape_tensor(T, 2, (const int[]){r, c}, v);
}

static void assert_all_finite(const float *v, int n, const char *what) {
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            print_error("%s: element %d is %g\n", what, i, v[i]);
            fail();
        }
}

static void assert_close(double got, double want, double tol, const char *what) {
    if (!(fabs(got - want) <= tol * fmax(1.0, fabs(want)))) {
        print_error("%s: got %.9g, want %.9g\n", what, got, want);
        fail();
    }
}

/* ---- the finite check ------------------------------------------------------------------------ */

static void test_off_by_default(void **state) {
    (void)state;
    ag_tensor *y = ag_log(T, ag_scalar(T, -1.0));
    assert_null(ag_tape_error(T));
    assert_true(isnan(ag_item(y)));
}

static void test_names_the_op_and_its_inputs(void **state) {
    (void)state;
    assert_int_equal(ag_tape_check_finite(T, true), 0);
    ag_tensor *a = consts(2, 2, (const float[]){1, 2, 3, 4});
    ag_tensor *b = consts(2, 2, (const float[]){0, 3, 1, 1});
    ag_tensor *d = ag_sub(T, a, b);           /* 1 -1 2 3: finite */
    assert_null(ag_tape_error(T));
    int nodes = ag_tape_nodes(T);
    ag_tensor *y = ag_log(T, d);              /* log(-1): NaN at element 1 */
    tu_assert_error(T, "log: output (2,2) holds NaN at element 1; inputs: 1 (2,2) from sub");
    assert_true(y->flags & AG_POISONED);
    /* the tape has stopped: nothing later is recorded */
    ag_tensor *z = ag_exp(T, ag_sum(T, a));
    assert_true(z->flags & AG_POISONED);
    assert_int_equal(ag_tape_nodes(T), nodes + 1);
    assert_int_equal(ag_backward(T, ag_sum(T, d)), -1);
}

static void test_infinity_and_leaves(void **state) {
    (void)state;
    ag_tape_check_finite(T, true);
    ag_tensor *w = ag_tensor_from(1, (const int[]){3}, (const float[]){1, 60, 100}, true);
    ag_tensor_set_name(w, "w");
    ag_tensor *y = ag_exp(T, w); /* e^100 overflows a float */
    tu_assert_error(T, "exp: output (3) holds Inf at element 2; inputs: 1 (3) leaf 'w'");
    assert_true(y->flags & AG_POISONED);
    /* an input that already holds NaN is marked as the culprit */
    ag_tape_reset(T);
    w->data[0] = NAN;
    ag_mul(T, w, ag_scalar(T, 2.0));
    tu_assert_error(T, "mul: output (3) holds NaN at element 0; inputs: 1 (3) leaf 'w' [holds NaN], 2 (1) leaf");
    /* the first op that overflows is the one reported, not the ops after it */
    ag_tape_reset(T);
    w->data[0] = 1;
    ag_tensor *big = ag_scale(T, w, 1e36);     /* 1e36, 6e37, 1e38: still finite */
    assert_null(ag_tape_error(T));
    ag_tensor *sq = ag_mul(T, big, big);       /* Inf */
    ag_sum(T, ag_sigmoid(T, sq));
    tu_assert_error(T, "mul: output (3) holds Inf at element 0; inputs: 1 (3) from scale, 2 (3) from scale");
    /* division by zero */
    ag_tape_reset(T);
    ag_div(T, w, ag_scalar(T, 0.0));
    tu_assert_error(T, "div: output (3) holds Inf at element 0");
    ag_tensor_free(w);
}

/* The setting survives a reset, can be turned off, and changes nothing on healthy graphs. */
static void test_setting_and_healthy_graphs(void **state) {
    (void)state;
    assert_int_equal(ag_tape_check_finite(NULL, true), -1);
    assert_non_null(strstr(ag_last_error(), "ag_tape_check_finite: tape is NULL"));
    ag_tape_check_finite(T, true);
    ag_tape_reset(T);
    ag_sqrt(T, ag_scalar(T, -4.0));
    tu_assert_error(T, "sqrt: output (1) holds NaN");
    ag_tape_check_finite(T, false);
    ag_tape_reset(T);
    ag_sqrt(T, ag_scalar(T, -4.0));
    assert_null(ag_tape_error(T));

    /* a training step gives the same numbers with the check on and off */
    float results[2][3];
    for (int on = 0; on < 2; on++) {
        ag_tape_reset(T);
        ag_tape_check_finite(T, on);
        tu_rng r = {11};
        ag_tensor *W = tu_param(&r, 2, (const int[]){3, 4}, -1, 1);
        ag_tensor *X = tu_const(T, &r, 2, (const int[]){5, 3}, -2, 2);
        ag_tensor *y = ag_log_softmax(T, ag_tanh(T, ag_matmul(T, X, W)));
        ag_tensor *E = ag_softmax_xent(T, y, (const int[]){0, 1, 2, 3, 0});
        assert_int_equal(ag_backward(T, E), 0);
        assert_null(ag_tape_error(T));
        results[on][0] = (float)ag_item(E);
        results[on][1] = W->grad[0];
        results[on][2] = W->grad[11];
        ag_tensor_free(W);
    }
    assert_memory_equal(results[0], results[1], sizeof results[0]);
}

/* ---- extreme inputs: |x| = 1e4 -------------------------------------------------------------- */

/* Run f on a (2,3) parameter holding extremes; check the forward values, then that every
 * gradient is finite, with the finite check on. Returns the output for more checks. */
static const float extremes[6] = {1e4f, -1e4f, 0.0f, -1e4f, 1e4f, 3.0f};

static ag_tensor *extreme_param(void) {
    return ag_tensor_from(2, (const int[]){2, 3}, extremes, true);
}

static void backward_is_finite(ag_tensor *out, ag_tensor *x, const char *what) {
    assert_null(ag_tape_error(T));
    assert_all_finite(out->data, out->numel, what);
    float seed[6] = {1, -1, 0.5f, 2, 1, -3};
    assert_int_equal(ag_backward_seed(T, out, seed), 0);
    assert_all_finite(x->grad, x->numel, what);
}

static void test_sigmoid_extremes(void **state) {
    (void)state;
    ag_tape_check_finite(T, true);
    ag_tensor *x = extreme_param();
    ag_tensor *y = ag_sigmoid(T, x);
    backward_is_finite(y, x, "sigmoid");
    assert_true(y->data[0] == 1.0f && y->data[1] == 0.0f && y->data[2] == 0.5f);
    assert_true(x->grad[0] == 0.0f && x->grad[1] == 0.0f); /* saturated: no gradient */
    ag_tensor_free(x);
}

static void test_softmax_extremes(void **state) {
    (void)state;
    ag_tape_check_finite(T, true);
    ag_tensor *x = extreme_param();
    ag_tensor *y = ag_softmax(T, x);
    backward_is_finite(y, x, "softmax");
    const float want[6] = {1, 0, 0, 0, 1, 0};
    tu_assert_values(y, want, 6, 1e-6);
    ag_tensor_free(x);
    /* all equal and huge: the stable form gives uniform probabilities */
    ag_tape_reset(T);
    ag_tensor *same = ag_tensor_from(2, (const int[]){1, 4}, (const float[]){1e4f, 1e4f, 1e4f, 1e4f}, true);
    ag_tensor *p = ag_softmax(T, same);
    backward_is_finite(p, same, "softmax of equal logits");
    tu_assert_values(p, (const float[]){0.25f, 0.25f, 0.25f, 0.25f}, 4, 1e-6);
    ag_tensor_free(same);
}

static void test_log_softmax_extremes(void **state) {
    (void)state;
    ag_tape_check_finite(T, true);
    ag_tensor *x = extreme_param();
    ag_tensor *y = ag_log_softmax(T, x);
    backward_is_finite(y, x, "log_softmax");
    /* row 0: (1e4, -1e4, 0) -> (0, -2e4, -1e4); row 1: (-1e4, 1e4, 3) -> (-2e4, 0, 3 - 1e4) */
    const float want[6] = {0, -2e4f, -1e4f, -2e4f, 0, 3.0f - 1e4f};
    tu_assert_values(y, want, 6, 1e-6);
    ag_tensor_free(x);
}

static void test_cross_entropies_extremes(void **state) {
    (void)state;
    ag_tape_check_finite(T, true);
    /* softmax cross-entropy, the label on the losing logit: loss = (1e4 - -1e4 + ...)/2 */
    ag_tensor *z = extreme_param();
    ag_tensor *E = ag_softmax_xent(T, z, (const int[]){1, 0});
    assert_null(ag_tape_error(T));
    assert_close(ag_item(E), (2e4 + 2e4) / 2.0, 1e-6, "softmax_xent");
    assert_int_equal(ag_backward(T, E), 0);
    assert_all_finite(z->grad, 6, "softmax_xent gradient");
    /* dz = (p - onehot) / B: row 0 p = (1,0,0), label 1 */
    tu_assert_values(&(ag_tensor){.data = z->grad, .numel = 6},
                     (const float[]){0.5f, -0.5f, 0, -0.5f, 0.5f, 0}, 6, 1e-6);
    ag_tensor_free(z);

    /* binary cross-entropy on logits, each target the wrong side: loss = mean |z| */
    ag_tape_reset(T);
    z = extreme_param();
    const float d[6] = {0, 1, 1, 1, 0, 0};
    ag_tensor *D = ag_tape_tensor(T, 2, (const int[]){2, 3}, d);
    E = ag_bce_logits(T, z, D);
    assert_null(ag_tape_error(T));
    assert_close(ag_item(E), (1e4 + 1e4 + log(2.0) + 1e4 + 1e4 + 3 + log1p(exp(-3.0))) / 6, 1e-6, "bce_logits");
    assert_int_equal(ag_backward(T, E), 0);
    assert_all_finite(z->grad, 6, "bce_logits gradient");
    ag_tensor_free(z);

    /* binary cross-entropy on probabilities that saturated to exactly 0 and 1 */
    ag_tape_reset(T);
    z = extreme_param();
    ag_tensor *p = ag_sigmoid(T, z);
    D = ag_tape_tensor(T, 2, (const int[]){2, 3}, d);
    E = ag_bce(T, p, D);
    assert_null(ag_tape_error(T));
    assert_true(isfinite(ag_item(E)) && ag_item(E) > 60); /* four logs clamped at -100 */
    assert_int_equal(ag_backward(T, E), 0);
    assert_all_finite(z->grad, 6, "bce gradient");
    ag_tensor_free(z);
}

static void test_log_and_friends_extremes(void **state) {
    (void)state;
    ag_tape_check_finite(T, true);
    ag_tensor *x = ag_tensor_from(1, (const int[]){3}, (const float[]){1e4f, 1e-4f, 1.0f}, true);
    ag_tensor *y = ag_log(T, x);
    assert_null(ag_tape_error(T));
    tu_assert_values(y, (const float[]){(float)log(1e4), (float)log(1e-4), 0}, 3, 1e-6);
    float seed[3] = {1, 1, 1};
    assert_int_equal(ag_backward_seed(T, y, seed), 0);
    assert_all_finite(x->grad, 3, "log gradient");
    ag_tensor_free(x);
    /* tanh, softplus and the squared errors at +-1e4 */
    ag_tape_reset(T);
    ag_tensor *w = extreme_param();
    backward_is_finite(ag_tanh(T, w), w, "tanh");
    ag_tape_reset(T);
    ag_zero_grad(w);
    ag_tensor *sp = ag_softplus(T, w);
    backward_is_finite(sp, w, "softplus");
    assert_true(sp->data[0] == 1e4f && sp->data[1] == 0.0f);
    ag_tape_reset(T);
    ag_tensor *D = ag_tape_tensor(T, 2, (const int[]){2, 3}, NULL);
    ag_tensor *E = ag_add(T, ag_sse(T, w, D), ag_mse(T, w, D));
    assert_null(ag_tape_error(T));
    assert_true(isfinite(ag_item(E)));
    ag_tensor_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_off_by_default, reset),
        cmocka_unit_test_setup(test_names_the_op_and_its_inputs, reset),
        cmocka_unit_test_setup(test_infinity_and_leaves, reset),
        cmocka_unit_test_setup(test_setting_and_healthy_graphs, reset),
        cmocka_unit_test_setup(test_sigmoid_extremes, reset),
        cmocka_unit_test_setup(test_softmax_extremes, reset),
        cmocka_unit_test_setup(test_log_softmax_extremes, reset),
        cmocka_unit_test_setup(test_cross_entropies_extremes, reset),
        cmocka_unit_test_setup(test_log_and_friends_extremes, reset),
    };
    return cmocka_run_group_tests_name("numerics", tests, setup, teardown);
}
