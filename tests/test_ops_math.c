/*
 * test_ops_math.c -- the ops of autograd/ops_math.c and ops_reduce.c against values worked by
 * hand: forward values, and the gradients the finite-difference check cannot see (ties, kinks,
 * zero gradients, a zero norm or deviation, infinite inputs).
 */
#include "support/testutil.h"

#include <math.h>

static ag_tape *T;
static ag_tensor *params[16]; /* made by P, freed before the next test and at the end */
static int nparams;

static void free_params(void) {
    for (int i = 0; i < nparams; i++) ag_tensor_free(params[i]);
    nparams = 0;
}
static int setup(void **state) {
    (void)state;
    T = ag_tape_new();
    return T ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    free_params(); /* the last test's */
    ag_tape_free(T);
    return 0;
}
static int reset(void **state) {
    (void)state;
    ag_tape_reset(T);
    free_params();
    return 0;
}

static ag_tensor *mk(int ndim, const int *shape, const float *v) {
    ag_tensor *x = ag_tape_tensor(T, ndim, shape, v);
    assert_null(ag_tape_error(T));
    return x;
}
static ag_tensor *param(int ndim, const int *shape, const float *v) {
    assert_true(nparams < 16);
    ag_tensor *x = ag_tensor_from(ndim, shape, v, true);
    assert_non_null(x);
    return params[nparams++] = x;
}
/* Constants and parameters from literal lists: M(2, 3, ...) is (2,3), V(n, ...) is (n). */
#define M(r, c, ...) mk(2, (const int[]){r, c}, (const float[]){__VA_ARGS__})
#define V(n, ...) mk(1, (const int[]){n}, (const float[]){__VA_ARGS__})
#define PM(r, c, ...) param(2, (const int[]){r, c}, (const float[]){__VA_ARGS__})
#define PV(n, ...) param(1, (const int[]){n}, (const float[]){__VA_ARGS__})
#define EXPECT(x, ...)                                                                        \
    do {                                                                                      \
        const float want_[] = {__VA_ARGS__};                                                  \
        assert_null(ag_tape_error(T));                                                        \
        tu_assert_values((x), want_, (int)(sizeof want_ / sizeof want_[0]), 1e-6);            \
    } while (0)
#define SHAPE(x, ...)                                                                         \
    do {                                                                                      \
        const int s_[] = {__VA_ARGS__};                                                       \
        tu_assert_shape((x), (int)(sizeof s_ / sizeof s_[0]), s_);                            \
    } while (0)
/* Back-propagate from sum(y). */
static void backward_sum(ag_tensor *y) {
    assert_int_equal(ag_backward(T, ag_sum(T, y)), 0);
}
/* p's gradient is want[0..]. */
#define GRAD(p, ...)                                                                          \
    do {                                                                                      \
        const float want_[] = {__VA_ARGS__};                                                  \
        const int n_ = (int)(sizeof want_ / sizeof want_[0]);                                 \
        assert_int_equal((p)->numel, n_);                                                     \
        for (int i_ = 0; i_ < n_; i_++)                                                       \
            if (!(fabs((p)->grad[i_] - want_[i_]) <= 1e-6 * fmax(1.0, fabs(want_[i_])))) {   \
                print_error("gradient %d: got %.9g, want %.9g\n", i_, (p)->grad[i_],          \
                            want_[i_]);                                                       \
                fail();                                                                       \
            }                                                                                 \
    } while (0)

static void test_maximum_minimum(void **state) {
    (void)state;
    ag_tensor *r = ag_maximum(T, M(1, 3, 1, -2, 3), V(1, 0.5));
    EXPECT(r, 1, 0.5, 3);
    SHAPE(r, 1, 3);
    r = ag_minimum(T, M(2, 1, 0, 4), M(1, 3, -1, 2, 5)); /* both stretch */
    EXPECT(r, -1, 0, 0, -1, 2, 4);
    SHAPE(r, 2, 3);
    /* a tie splits the gradient in halves */
    ag_tensor *a = PV(3, 2, 2, -1), *b = PV(3, 2, 1, 0);
    backward_sum(ag_maximum(T, a, b));
    GRAD(a, 0.5, 1, 0);
    GRAD(b, 0.5, 0, 1);
    ag_tape_reset(T);
    ag_zero_grad(a), ag_zero_grad(b);
    backward_sum(ag_minimum(T, a, b));
    GRAD(a, 0.5, 0, 1);
    GRAD(b, 0.5, 1, 0);
    /* a stretched operand's gradient is summed over the stretch */
    ag_tensor *s = PV(1, 0.5);
    backward_sum(ag_maximum(T, M(2, 2, 1, 0, 0.5, -1), s));
    GRAD(s, 2.5); /* it wins twice, ties once */
    /* NaN on either side gives NaN */
    r = ag_maximum(T, V(2, NAN, 1), V(2, 1, NAN));
    assert_true(isnan(r->data[0]) && isnan(r->data[1]));
    r = ag_minimum(T, V(2, NAN, 1), V(2, 1, NAN));
    assert_true(isnan(r->data[0]) && isnan(r->data[1]));
}

static void test_where(void **state) {
    (void)state;
    ag_tensor *a = PM(2, 3, 1, 2, 3, 4, 5, 6), *b = PV(1, 9), *mask = PV(3, 1, 0, 1);
    ag_tensor *r = ag_where(T, mask, a, b);
    EXPECT(r, 1, 9, 3, 4, 9, 6);
    SHAPE(r, 2, 3);
    backward_sum(r);
    GRAD(a, 1, 0, 1, 1, 0, 1);
    GRAD(b, 2);
    GRAD(mask, 0, 0, 0); /* the mask takes none */
    /* > 0 picks a: negatives and NaN pick b */
    EXPECT(ag_where(T, V(4, -1, NAN, 0.5, 0), V(1, 1), V(1, 2)), 2, 2, 1, 2);
}

static void test_clamp_hardtanh(void **state) {
    (void)state;
    ag_tensor *x = PV(5, -2, -0.5, 0, 0.5, 2);
    ag_tensor *r = ag_clamp(T, x, -0.5, 0.5);
    EXPECT(r, -0.5, -0.5, 0, 0.5, 0.5);
    backward_sum(r);
    GRAD(x, 0, 1, 1, 1, 0); /* the bounds pass the gradient */
    ag_tape_reset(T);
    ag_zero_grad(x);
    r = ag_hardtanh(T, x, -0.5, 0.5);
    EXPECT(r, -0.5, -0.5, 0, 0.5, 0.5);
    backward_sum(r);
    GRAD(x, 0, 0, 1, 0, 0); /* the bounds do not */
    EXPECT(ag_clamp(T, V(2, 0, 5), 2, 1), 1, 1); /* lo > hi: hi everywhere */
    EXPECT(ag_clamp(T, V(2, -1e30f, 1e30f), -INFINITY, 3), -1e30f, 3); /* an open side */
}

static void test_activations(void **state) {
    (void)state;
    EXPECT(ag_sin(T, V(2, 0, 1.5707963268f)), 0, 1);
    EXPECT(ag_cos(T, V(2, 0, 3.1415926536f)), 1, -1);
    ag_tensor *x = PV(3, -2, 0, 3);
    ag_tensor *r = ag_leaky_relu(T, x, 0.1);
    EXPECT(r, -0.2, 0, 3);
    backward_sum(r);
    GRAD(x, 0.1, 0.1, 1); /* slope at 0 */
    ag_tape_reset(T);
    ag_zero_grad(x);
    r = ag_elu(T, x, 1.5);
    EXPECT(r, 1.5 * expm1(-2.0), 0, 3);
    backward_sum(r);
    GRAD(x, 1.5 * exp(-2.0), 1.5, 1); /* alpha at 0 */
    EXPECT(ag_silu(T, V(4, 1, -1, 0, -100)), 0.7310585786, -0.2689414214, 0, -100 * 3.720076e-44);
    EXPECT(ag_gelu(T, V(3, 1, -1, 2)), 0.8411919906, -0.1588080094, 1.9545976941);
    ag_tensor *q = PV(2, 2, -4);
    r = ag_reciprocal(T, q);
    EXPECT(r, 0.5, -0.25);
    backward_sum(r);
    GRAD(q, -0.25, -0.0625);
}

static void test_sign_step(void **state) {
    (void)state;
    ag_tensor *x = PV(4, -3, 0, 2, NAN);
    ag_tensor *s = ag_sign(T, x);
    EXPECT(ag_slice_rows(T, s, 0, 3), -1, 0, 1);
    assert_true(isnan(s->data[3]));
    ag_tensor *h = ag_step(T, x);
    EXPECT(ag_slice_rows(T, h, 0, 3), 0, 0, 1);
    assert_true(isnan(h->data[3]));
    assert_int_equal(ag_backward(T, ag_sum(T, ag_add(T, ag_slice_rows(T, s, 0, 3),
                                                     ag_slice_rows(T, h, 0, 3)))), 0);
    GRAD(x, 0, 0, 0, 0);
}

static void test_min_axis_argmax(void **state) {
    (void)state;
    ag_tensor *x = PM(2, 3, 3, 1, 1, 0, 5, -2);
    ag_tensor *r = ag_min_axis(T, x, 1);
    EXPECT(r, 1, -2);
    SHAPE(r, 2, 1);
    backward_sum(r);
    GRAD(x, 0, 1, 0, 0, 0, 1); /* the first of the tied minima */
    ag_tape_reset(T);
    ag_zero_grad(x);
    EXPECT(ag_min_axis(T, x, 0), 0, 1, -2);
    ag_tensor *y = PM(2, 3, 3, 7, 7, 0, 5, -2);
    r = ag_argmax(T, y, -1);
    EXPECT(r, 1, 1); /* the first of the tied maxima */
    SHAPE(r, 2, 1);
    r = ag_argmax(T, y, 0);
    EXPECT(r, 0, 0, 0);
    SHAPE(r, 1, 3);
    backward_sum(r);
    GRAD(y, 0, 0, 0, 0, 0, 0);
    ag_tensor *three = mk(3, (const int[]){2, 2, 2}, (const float[]){1, 9, 4, 2, 8, 0, 3, 5});
    EXPECT(ag_argmax(T, three, 1), 1, 0, 0, 1);
}

static void test_logsumexp(void **state) {
    (void)state;
    ag_tensor *x = PM(2, 3, 1, 2, 3, 0, 0, 0);
    ag_tensor *r = ag_logsumexp(T, x, 1);
    EXPECT(r, 3.4076059644, log(3.0));
    SHAPE(r, 2, 1);
    backward_sum(r);
    const double s = exp(1.0) + exp(2.0) + exp(3.0);
    GRAD(x, exp(1.0) / s, exp(2.0) / s, exp(3.0) / s, 1 / 3.0, 1 / 3.0, 1 / 3.0); /* softmax */
    EXPECT(ag_logsumexp(T, M(2, 2, 0, 0, (float)log(3.0), 0), 0), log(4.0), log(2.0));
    /* infinite rows: -inf everywhere gives -inf, one +inf gives +inf, no NaN */
    r = ag_logsumexp(T, M(2, 2, -INFINITY, -INFINITY, INFINITY, 1), 1);
    assert_true(isinf(r->data[0]) && r->data[0] < 0);
    assert_true(isinf(r->data[1]) && r->data[1] > 0);
    /* one -inf among finite values is e^-inf = 0 */
    EXPECT(ag_logsumexp(T, V(3, -INFINITY, 0, 0), 0), log(2.0));
}

static void test_var_std_norm(void **state) {
    (void)state;
    ag_tensor *x = PM(2, 4, 1, 2, 3, 4, 2, 2, 2, 2);
    EXPECT(ag_var(T, x, 1, true), 5 / 3.0, 0);
    EXPECT(ag_var(T, x, 1, false), 1.25, 0);
    EXPECT(ag_var(T, x, 0, false), 0.25, 0, 0.25, 1);
    ag_tensor *r = ag_std(T, x, -1, false);
    EXPECT(r, sqrt(1.25), 0);
    backward_sum(r);
    /* (x - mean) / (D std) on the first row; 0, not NaN, on the constant second row */
    const double k = 1 / (4 * sqrt(1.25));
    GRAD(x, -1.5 * k, -0.5 * k, 0.5 * k, 1.5 * k, 0, 0, 0, 0);
    ag_tape_reset(T);
    ag_zero_grad(x);
    backward_sum(ag_var(T, x, 1, true));
    GRAD(x, -1, -1 / 3.0, 1 / 3.0, 1, 0, 0, 0, 0); /* 2 (x - mean) / (D - 1) */
    ag_tensor *v = PM(1, 2, 3, -4);
    r = ag_norm(T, v);
    EXPECT(r, 5);
    SHAPE(r, 1);
    backward_sum(r);
    GRAD(v, 0.6, -0.8);
    ag_tensor *z = PV(3, 0, 0, 0);
    ag_tape_reset(T);
    r = ag_norm(T, z);
    EXPECT(r, 0);
    backward_sum(r);
    GRAD(z, 0, 0, 0); /* defined as 0 at 0 */
    EXPECT(ag_norm(T, V(2, 3e30f, 4e30f)), 5e30f); /* the sum of squares does not overflow */
}

static void test_xent_soft(void **state) {
    (void)state;
    /* logits 0: p = 1/2 each; -(0.25 log 1/2 + 0.75 log 1/2) = log 2; dz = p - q */
    ag_tensor *z = PM(1, 2, 0, 0), *q = PM(1, 2, 0.25, 0.75);
    ag_tensor *r = ag_xent_soft(T, z, q, NULL);
    EXPECT(r, log(2.0));
    backward_sum(r);
    GRAD(z, 0.25, -0.25);
    GRAD(q, log(2.0), log(2.0)); /* -log p */
    /* one-hot targets give softmax_xent's loss and gradient, averaged over the B rows */
    const float logits[6] = {1, -2, 0.5, 3, 0, -1};
    ag_tensor *z1 = PM(2, 3, 1, -2, 0.5, 3, 0, -1), *z2 = param(2, (const int[]){2, 3}, logits);
    ag_tape_reset(T);
    r = ag_xent_soft(T, z1, M(2, 3, 0, 0, 1, 0, 1, 0), NULL);
    ag_tensor *want = ag_softmax_xent(T, z2, (const int[]){2, 1});
    assert_true(fabs(ag_item(r) - ag_item(want)) < 1e-6);
    backward_sum(ag_add(T, r, want));
    for (int i = 0; i < 6; i++) assert_true(fabs(z1->grad[i] - z2->grad[i]) < 1e-6);
    /* weights multiply each class's term; the mean is still over the B rows */
    ag_tape_reset(T);
    const float w[3] = {1, 2, 3};
    r = ag_xent_soft(T, M(2, 3, 0, 0, 0, 0, 0, 0), M(2, 3, 1, 0, 0, 0, 0.5, 0.5), w);
    EXPECT(r, (1 * log(3.0) + (2 * 0.5 + 3 * 0.5) * log(3.0)) / 2);
    /* a zero target adds nothing, even against a logit of -inf */
    EXPECT(ag_xent_soft(T, M(1, 2, 0, -INFINITY), M(1, 2, 1, 0), NULL), 0);
}

static void test_huber(void **state) {
    (void)state;
    ag_tensor *y = PV(4, 0, 0.5, 3, -2), *d = PV(4, 0, 0, 0, 0);
    ag_tensor *r = ag_huber(T, y, d, 1.0);
    /* 0, 0.5^2/2, 1 (3 - 1/2), 1 (2 - 1/2) over 4 */
    EXPECT(r, (0 + 0.125 + 2.5 + 1.5) / 4);
    backward_sum(r);
    GRAD(y, 0, 0.125, 0.25, -0.25); /* clamp(e, -1, 1) / 4 */
    GRAD(d, 0, -0.125, -0.25, 0.25);
    /* smooth-L1 with beta 2: huber(delta 2) / 2 = mean(1/4, 5 - 1) */
    EXPECT(ag_smooth_l1(T, V(2, 1, 5), V(2, 0, 0), 2.0), (0.25 + 4) / 2);
    ag_tape_reset(T);
    ag_zero_grad(y), ag_zero_grad(d);
    r = ag_smooth_l1(T, y, d, 2.0);
    backward_sum(r);
    GRAD(y, 0, 0.0625, 0.25, -0.25); /* clamp(e / 2, -1, 1) / 4 */
    /* beta 0: mean |e|, gradient sign(e) / n (0 at e = 0) */
    ag_tape_reset(T);
    ag_zero_grad(y), ag_zero_grad(d);
    r = ag_smooth_l1(T, y, d, 0.0);
    EXPECT(r, (0 + 0.5 + 3 + 2) / 4.0);
    backward_sum(r);
    GRAD(y, 0, 0.25, 0.25, -0.25);
    GRAD(d, 0, -0.25, -0.25, 0.25);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_maximum_minimum, reset),
        cmocka_unit_test_setup(test_where, reset),
        cmocka_unit_test_setup(test_clamp_hardtanh, reset),
        cmocka_unit_test_setup(test_activations, reset),
        cmocka_unit_test_setup(test_sign_step, reset),
        cmocka_unit_test_setup(test_min_axis_argmax, reset),
        cmocka_unit_test_setup(test_logsumexp, reset),
        cmocka_unit_test_setup(test_var_std_norm, reset),
        cmocka_unit_test_setup(test_xent_soft, reset),
        cmocka_unit_test_setup(test_huber, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
