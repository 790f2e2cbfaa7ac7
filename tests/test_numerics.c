/*
 * test_numerics.c -- numerical trouble. The finite check (off by default) stops at the first op
 * whose output holds NaN or Inf and names the op, the element and the inputs. And the ops whose
 * mathematics stays finite on extreme inputs (|x| = 1e4) do: sigmoid, softmax, log-softmax,
 * the cross-entropies, log, and their gradients. And the log/exp paths keep their relative
 * precision: outputs and gradients against a double-precision reference (logsumexp and the
 * soft-target cross-entropy among them).
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

/* ---- precision against a double-precision reference ----------------------------------------- */

/* Every op below is a few float operations on its inputs: its outputs and gradients must be
 * within a few float roundings of the exact value, RELATIVE to it (an absolute bound would let
 * a small result be wholly wrong, which is how log_softmax lost 22% at -88). */
#define REL_BOUND 1e-6

static void assert_relative_scaled(double got, double want, double scale, const char *what, int i) {
    if (!(fabs(got - want) <= REL_BOUND * scale * fabs(want))) {
        print_error("%s[%d]: got %.9g, want %.9g (relative error %.3g)\n", what, i, got, want,
                    fabs(got - want) / fabs(want));
        fail();
    }
}
static void assert_relative(double got, double want, const char *what, int i) {
    assert_relative_scaled(got, want, 1.0, what, i);
}

/* Rows of logits spread the way trouble comes: far below the largest, ties, large offsets. */
enum { ROWS = 6, COLS = 4 };
static const float wide_rows[ROWS][COLS] = {
    {-88, -104, -100, -120},   /* the row, and one more */
    {0, -20, -30, -17},        /* a confident row: log p(0) ~ -2e-8 */
    {1e4f, 9980, 9960, 9990},  /* a large offset */
    {5, 5, 5, 5},              /* all equal */
    {-3, 2, 17, 16.9f},        /* two close at the top */
    {-100, 0, -200, -15},
};

/* log sum_j e^x_j of a row, in double */
static double ref_lse(const float *x, int n) {
    double m = x[0], s = 0;
    for (int j = 1; j < n; j++) m = fmax(m, x[j]);
    for (int j = 0; j < n; j++) s += exp((double)x[j] - m);
    return m + log(s);
}

static void test_softmax_family_precision(void **state) {
    (void)state;
    ag_tensor *x = ag_tensor_from(2, (const int[]){ROWS, COLS}, &wide_rows[0][0], true);
    ag_tensor *y = ag_log_softmax(T, x);
    ag_tensor *p = ag_softmax(T, x);
    assert_null(ag_tape_error(T));
    for (int r = 0; r < ROWS; r++) {
        const double lse = ref_lse(wide_rows[r], COLS);
        for (int j = 0; j < COLS; j++) {
            const double want = (double)wide_rows[r][j] - lse;
            assert_relative(y->data[r * COLS + j], want, "log_softmax", r * COLS + j);
            if (exp(want) > 1e-30) assert_relative(p->data[r * COLS + j], exp(want), "softmax", r * COLS + j);
        }
    }
    /* the figure: log_softmax([-88, -104, -100])[0] = -6.26e-6 */
    ag_tape_reset(T);
    ag_tensor *three = ag_tape_tensor(T, 2, (const int[]){1, 3}, (const float[]){-88, -104, -100});
    ag_tensor *y3 = ag_log_softmax(T, three);
    assert_relative(y3->data[0], -(exp(-16.0) + exp(-12.0)) + 0.5 * pow(exp(-16.0) + exp(-12.0), 2),
                    "log_softmax([-88, -104, -100])", 0);

    /* log_softmax's gradient under the negative log-likelihood's seed (-1 at one label):
     * dx = p - onehot, the label's p - 1 without cancelling. The gradient works p = e^y from the
     * log-probability y, and y's own rounding (|y| 2^-24) is |y| times that relatively in e^y:
     * the bound grows with |log p| */
    for (int r = 0; r < ROWS; r++)
        for (int label = 0; label < COLS; label++) {
            ag_tape_reset(T);
            ag_zero_grad(x);
            ag_tensor *ls = ag_log_softmax(T, x);
            float seed[ROWS * COLS] = {0};
            seed[r * COLS + label] = -1.0f;
            assert_int_equal(ag_backward_seed(T, ls, seed), 0);
            const double lse = ref_lse(wide_rows[r], COLS);
            for (int j = 0; j < COLS; j++) {
                double want = exp((double)wide_rows[r][j] - lse);
                if (j == label) {
                    want = 0;
                    for (int k = 0; k < COLS; k++)
                        if (k != label) want -= exp((double)wide_rows[r][k] - lse);
                }
                const double scale = fmax(1.0, fabs((double)wide_rows[r][j] - lse));
                if (fabs(want) > 1e-30)
                    assert_relative_scaled(x->grad[r * COLS + j], want, scale, "log_softmax gradient",
                                           r * COLS + j);
            }
        }

    /* softmax_xent, one row at a time with the label on the largest logit (the small losses),
     * and on the smallest: loss -log p(label); gradient p - onehot, the label's 1 - p(label)
     * computed without cancelling */
    for (int at_max = 0; at_max < 2; at_max++)
        for (int r = 0; r < ROWS; r++) {
            ag_tape_reset(T);
            ag_zero_grad(x);
            const float *row = wide_rows[r];
            int label = 0;
            for (int j = 1; j < COLS; j++)
                if (at_max ? row[j] > row[label] : row[j] < row[label]) label = j;
            ag_tensor *z = ag_tensor_from(2, (const int[]){1, COLS}, row, true);
            ag_tensor *E = ag_softmax_xent(T, z, &label);
            assert_int_equal(ag_backward(T, E), 0);
            const double lse = ref_lse(row, COLS);
            assert_relative(ag_item(E), lse - row[label], "softmax_xent loss", r);
            for (int j = 0; j < COLS; j++) {
                double pj = exp((double)row[j] - lse), want = j == label ? pj - 1 : pj;
                if (j == label) { /* 1 - p(label) = the others' sum, without cancelling */
                    want = 0;
                    for (int k = 0; k < COLS; k++)
                        if (k != label) want -= exp((double)row[k] - lse);
                }
                if (fabs(want) > 1e-30) assert_relative(z->grad[j], want, "softmax_xent gradient", r * COLS + j);
            }
            ag_tensor_free(z);
        }
    ag_tensor_free(x);
}

/* logsumexp along either axis (the strided path too) and xent_soft with one-hot and soft
 * targets on the same wide rows: values and gradients against the double reference. */
static void test_logsumexp_and_soft_xent_precision(void **state) {
    (void)state;
    float columns[COLS][ROWS]; /* the rows as columns, for the axis-0 path */
    for (int r = 0; r < ROWS; r++)
        for (int j = 0; j < COLS; j++) columns[j][r] = wide_rows[r][j];
    ag_tensor *x = ag_tensor_from(2, (const int[]){ROWS, COLS}, &wide_rows[0][0], true);
    ag_tensor *xt = ag_tensor_from(2, (const int[]){COLS, ROWS}, &columns[0][0], true);
    ag_tensor *y = ag_logsumexp(T, x, 1), *yt = ag_logsumexp(T, xt, 0);
    assert_null(ag_tape_error(T));
    float ones[ROWS] = {1, 1, 1, 1, 1, 1};
    assert_int_equal(ag_backward_seed(T, y, ones), 0);
    assert_int_equal(ag_backward_seed(T, yt, ones), 0);
    for (int r = 0; r < ROWS; r++) {
        const double lse = ref_lse(wide_rows[r], COLS);
        assert_relative(y->data[r], lse, "logsumexp along axis 1", r);
        assert_relative(yt->data[r], lse, "logsumexp along axis 0", r);
        for (int j = 0; j < COLS; j++) { /* the gradient is the softmax */
            const double want = exp((double)wide_rows[r][j] - lse);
            if (want > 1e-30) {
                assert_relative(x->grad[r * COLS + j], want, "logsumexp gradient", r * COLS + j);
                assert_relative(xt->grad[j * ROWS + r], want, "logsumexp gradient, axis 0", r * COLS + j);
            }
        }
    }
    ag_tensor_free(xt);

    /* xent_soft, one row at a time: one-hot on the largest logit (the small losses, where
     * p - 1 cancels unless written as the others' sum), on the smallest, and a soft target
     * (0.9 on the largest, 0.1 on the smallest) with class weights */
    const float weights[COLS] = {0.5f, 2, 1, 3};
    for (int kind = 0; kind < 3; kind++)
        for (int r = 0; r < ROWS; r++) {
            ag_tape_reset(T);
            const float *row = wide_rows[r];
            int top = 0, bottom = 0;
            for (int j = 1; j < COLS; j++) {
                if (row[j] > row[top]) top = j;
                if (row[j] < row[bottom]) bottom = j;
            }
            float q[COLS] = {0};
            if (kind == 0) q[top] = 1;
            if (kind == 1) q[bottom] = 1;
            if (kind == 2) q[top] = 0.9f, q[bottom] = 0.1f;
            const float *w = kind == 2 ? weights : NULL;
            ag_tensor *z = ag_tensor_from(2, (const int[]){1, COLS}, row, true);
            ag_tensor *E = ag_xent_soft(T, z, ag_tape_tensor(T, 2, (const int[]){1, COLS}, q), w);
            assert_int_equal(ag_backward(T, E), 0);
            const double lse = ref_lse(row, COLS);
            double loss = 0, W = 0;
            for (int j = 0; j < COLS; j++) {
                const double wj = w ? w[j] : 1.0;
                loss -= wj * q[j] * ((double)row[j] - lse);
                W += wj * q[j];
            }
            assert_relative(ag_item(E), loss, "xent_soft loss", kind * ROWS + r);
            for (int j = 0; j < COLS; j++) {
                /* p W - w q; on the largest p written as the others' w q minus W times the
                 * others' p, as the exact value is formed without cancelling */
                double want = exp((double)row[j] - lse) * W - (w ? w[j] : 1.0) * q[j];
                if (j == top) {
                    double wq = 0, p = 0;
                    for (int k = 0; k < COLS; k++)
                        if (k != top) wq += (w ? w[k] : 1.0) * q[k], p += exp((double)row[k] - lse);
                    want = wq - W * p;
                }
                if (fabs(want) > 1e-30)
                    assert_relative(z->grad[j], want, "xent_soft gradient", (kind * ROWS + r) * COLS + j);
            }
            ag_tensor_free(z);
        }
    ag_tensor_free(x);
}

static void test_binary_cross_entropies_precision(void **state) {
    (void)state;
    /* bce on logits: E = mean(max(z,0) - z d + log(1 + e^-|z|)), dE/dz = (sigmoid(z) - d) / n */
    enum { N = 8 };
    const float z[N] = {20, 20, -30, -30, 3, -3, 15, 40};
    const float d[N] = {1, 0.999999f, 0, 1e-6f, 0.25f, 0.5f, 1, 1};
    for (int i = 0; i < N; i++) {
        ag_tape_reset(T);
        ag_tensor *zi = ag_tensor_from(1, (const int[]){1}, &z[i], true);
        ag_tensor *E = ag_bce_logits(T, zi, ag_tape_tensor(T, 1, (const int[]){1}, &d[i]));
        assert_int_equal(ag_backward(T, E), 0);
        const double zz = z[i], dd = d[i];
        const double want = fmax(zz, 0) - zz * dd + log1p(exp(-fabs(zz)));
        const double sig_minus_d = zz >= 0 ? (1 - dd) - exp(-zz) / (1 + exp(-zz))
                                            : exp(zz) / (1 + exp(zz)) - dd;
        assert_relative(ag_item(E), want, "bce_logits", i);
        assert_relative(zi->grad[0], sig_minus_d, "bce_logits gradient", i);
        ag_tensor_free(zi);
    }
    /* bce on probabilities: E = -(d log p + (1-d) log(1-p)), dE/dp = (p - d) / (p (1-p)), for
     * every p whose logs are not clamped and whose p (1-p) is a normal float */
    const float p[N] = {1e-20f, 1e-20f, 1e-37f, 0.3f, 0.5f, 0.999f, 1e-7f, 0.9999999f};
    const float t[N] = {0, 1, 1, 0.7f, 0.1f, 1, 0, 1};
    for (int i = 0; i < N; i++) {
        ag_tape_reset(T);
        ag_tensor *pi = ag_tensor_from(1, (const int[]){1}, &p[i], true);
        ag_tensor *E = ag_bce(T, pi, ag_tape_tensor(T, 1, (const int[]){1}, &t[i]));
        assert_int_equal(ag_backward(T, E), 0);
        const double pp = p[i], dd = t[i];
        assert_relative(ag_item(E), -(dd * log(pp) + (1 - dd) * log1p(-pp)), "bce", i);
        assert_relative(pi->grad[0], (pp - dd) / (pp * (1 - pp)), "bce gradient", i);
        ag_tensor_free(pi);
    }
}

static void test_elementwise_logs_and_exps_precision(void **state) {
    (void)state;
    enum { N = 9 };
    const float x[N] = {-80, -20, -5, -1, 0, 1, 5, 20, 80};
    ag_tensor *v = ag_tensor_from(1, (const int[]){N}, x, true);
    /* softplus: log(1 + e^x), gradient sigmoid(x) */
    ag_tensor *sp = ag_softplus(T, v);
    assert_int_equal(ag_backward(T, ag_sum(T, sp)), 0);
    for (int i = 0; i < N; i++) {
        const double xi = x[i], sig = xi >= 0 ? 1 / (1 + exp(-xi)) : exp(xi) / (1 + exp(xi));
        assert_relative(sp->data[i], fmax(xi, 0) + log1p(exp(-fabs(xi))), "softplus", i);
        assert_relative(v->grad[i], sig, "softplus gradient", i);
    }
    /* sigmoid: the value everywhere; its gradient y (1 - y) is worked from y alone, and 1 - y
     * loses relative precision as y nears 1 (3.6e-6 at x = 5), so it is checked for x <= 1 */
    ag_tape_reset(T);
    ag_zero_grad(v);
    ag_tensor *sg = ag_sigmoid(T, v);
    assert_int_equal(ag_backward(T, ag_sum(T, sg)), 0);
    for (int i = 0; i < N; i++) {
        const double xi = x[i], sig = xi >= 0 ? 1 / (1 + exp(-xi)) : exp(xi) / (1 + exp(xi));
        assert_relative(sg->data[i], sig, "sigmoid", i);
        if (xi <= 1) assert_relative(v->grad[i], sig * (1 - sig), "sigmoid gradient", i);
    }
    ag_tensor_free(v);
    /* log: at tiny, near-one and huge arguments; gradient 1/x */
    const float lx[6] = {1e-30f, 0.5f, 1.0f + 0x1p-20f, 1.0f - 0x1p-20f, 3.0f, 1e30f};
    ag_tape_reset(T);
    ag_tensor *w = ag_tensor_from(1, (const int[]){6}, lx, true);
    ag_tensor *lg = ag_log(T, w);
    assert_int_equal(ag_backward(T, ag_sum(T, lg)), 0);
    for (int i = 0; i < 6; i++) {
        assert_relative(lg->data[i], log((double)lx[i]), "log", i);
        assert_relative(w->grad[i], 1 / (double)lx[i], "log gradient", i);
    }
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
        cmocka_unit_test_setup(test_softmax_family_precision, reset),
        cmocka_unit_test_setup(test_logsumexp_and_soft_xent_precision, reset),
        cmocka_unit_test_setup(test_binary_cross_entropies_precision, reset),
        cmocka_unit_test_setup(test_elementwise_logs_and_exps_precision, reset),
    };
    return cmocka_run_group_tests_name("numerics", tests, setup, teardown);
}
