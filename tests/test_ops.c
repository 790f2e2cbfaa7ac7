/*
 * test_ops.c -- every op's forward values against results computed by hand, and the gradients
 * of the ops that route them (max, gather, a broadcast bias, concat).
 */
#include "support/testutil.h"

#include <math.h>
#include <string.h>

static ag_tape *T;

static int setup(void **state) {
    (void)state;
    T = ag_tape_new();
    return T ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    ag_tape_free(T);
    return 0;
}
static int reset(void **state) {
    (void)state;
    ag_tape_reset(T);
    return 0;
}

/* A tape constant from a literal list: C(2, 3, {1,2,3,4,5,6}) is (2,3). */
static ag_tensor *mk(int ndim, const int *shape, const float *v) {
    ag_tensor *x = ag_tape_tensor(T, ndim, shape, v);
    assert_null(ag_tape_error(T));
    return x;
}
#define M(r, c, ...) mk(2, (const int[]){r, c}, (const float[]){__VA_ARGS__})
#define V(n, ...) mk(1, (const int[]){n}, (const float[]){__VA_ARGS__})
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

static void test_arithmetic_and_broadcasting(void **state) {
    (void)state;
    ag_tensor *A = M(2, 2, 1, 2, 3, 4);
    ag_tensor *r = ag_add(T, A, V(2, 10, 20)); /* row vector over rows */
    EXPECT(r, 11, 22, 13, 24);
    SHAPE(r, 2, 2);
    EXPECT(ag_add(T, A, M(1, 2, 10, 20)), 11, 22, 13, 24);
    EXPECT(ag_add(T, V(1, 0.5), A), 1.5, 2.5, 3.5, 4.5); /* scalar on the left */
    EXPECT(ag_sub(T, A, M(2, 1, 1, 2)), 0, 1, 1, 2);    /* column vector over columns */
    r = ag_sub(T, M(2, 1, 1, 2), M(1, 3, 10, 20, 30));  /* both stretch: (2,1) - (1,3) */
    EXPECT(r, -9, -19, -29, -8, -18, -28);
    SHAPE(r, 2, 3);
    EXPECT(ag_mul(T, V(3, 1, 2, 3), V(3, 4, 5, 6)), 4, 10, 18);
    EXPECT(ag_div(T, V(3, 1, 2, 3), V(3, 2, 4, 8)), 0.5, 0.5, 0.375);
    /* 3-D (2,2,2) with a (2,1) that stretches over the batch and the columns */
    ag_tensor *B3 = mk(3, (const int[]){2, 2, 2}, (const float[]){1, 2, 3, 4, 5, 6, 7, 8});
    r = ag_mul(T, B3, M(2, 1, 10, 100));
    EXPECT(r, 10, 20, 300, 400, 50, 60, 700, 800);
    SHAPE(r, 2, 2, 2);
}

static void test_unary(void **state) {
    (void)state;
    EXPECT(ag_neg(T, V(2, 1, -2)), -1, 2);
    EXPECT(ag_scale(T, V(2, 1, -2), 2.5), 2.5, -5);
    EXPECT(ag_add_const(T, V(2, 1, -2), 0.25), 1.25, -1.75);
    EXPECT(ag_pow(T, V(2, 2, 3), 3), 8, 27);
    EXPECT(ag_pow(T, V(2, 4, 0.25), 0.5), 2, 0.5);
    EXPECT(ag_pow(T, V(1, 2), -1), 0.5);
    EXPECT(ag_square(T, V(2, -3, 0.5)), 9, 0.25);
    EXPECT(ag_sqrt(T, V(2, 4, 9)), 2, 3);
    EXPECT(ag_exp(T, V(2, 0, 1)), 1, 2.7182818284590452f);
    EXPECT(ag_log(T, V(2, 1, 2.7182818284590452f)), 0, 1);
    EXPECT(ag_abs(T, V(3, -2, 3, 0)), 2, 3, 0);
}

static void test_activations(void **state) {
    (void)state;
    EXPECT(ag_sigmoid(T, V(3, 0, (float)log(3.0), (float)-log(3.0))), 0.5, 0.75, 0.25);
    EXPECT(ag_tanh(T, V(2, 0, (float)log(2.0))), 0, 0.6); /* (4-1)/(4+1) */
    EXPECT(ag_relu(T, V(3, -1, 2, 0)), 0, 2, 0);
    EXPECT(ag_softplus(T, V(2, 0, (float)log(3.0))), (float)log(2.0), (float)log(4.0));
    /* extremes stay finite */
    EXPECT(ag_sigmoid(T, V(2, -1e4, 1e4)), 0, 1);
    EXPECT(ag_softplus(T, V(2, -1e4, 1e4)), 0, 1e4);
}

static void test_matmul(void **state) {
    (void)state;
    ag_tensor *A = M(2, 2, 1, 2, 3, 4), *B = M(2, 2, 5, 6, 7, 8);
    EXPECT(ag_matmul(T, A, B), 19, 22, 43, 50);
    EXPECT(ag_matmul_ex(T, A, B, true, false), 26, 30, 38, 44);
    EXPECT(ag_matmul_ex(T, A, B, false, true), 17, 23, 39, 53);
    EXPECT(ag_matmul_ex(T, A, B, true, true), 23, 31, 34, 46);
    ag_tensor *r = ag_matmul(T, M(2, 3, 1, 2, 3, 4, 5, 6), M(3, 1, 1, 0, -1));
    EXPECT(r, -2, -2);
    SHAPE(r, 2, 1);
    r = ag_matmul_ex(T, M(3, 2, 1, 4, 2, 5, 3, 6), M(1, 3, 1, 0, -1), true, true);
    EXPECT(r, -2, -2); /* the same product with both operands stored transposed */
}

/* linear is matmul, add and the activation fused: a hand-worked case, then the same bits as the
 * three ops in a row, forward and every gradient, for each activation and for narrow, wide and
 * ragged layers (on whatever kernels this machine picks). */
static void test_linear(void **state) {
    (void)state;
    ag_tensor *X = M(2, 2, 1, 2, 3, 4), *W = M(2, 2, 1, -1, 0.5, 1), *b = V(2, -2, 0.5);
    EXPECT(ag_linear(T, X, W, b, AG_ACT_IDENTITY), 0, 1.5, 3, 1.5); /* X W = (2, 1; 5, 1) */
    EXPECT(ag_linear(T, X, W, b, AG_ACT_RELU), 0, 1.5, 3, 1.5);
    EXPECT(ag_linear(T, X, W, NULL, AG_ACT_RELU), 2, 1, 5, 1);
    EXPECT(ag_linear(T, M(1, 2, -1, 0), W, NULL, AG_ACT_RELU), 0, 1);
    static const int shapes[][3] = {{64, 6, 2}, {64, 2, 1}, {100, 12, 24}, {7, 5, 11}, {1, 3, 1}};
    static const ag_act acts[] = {AG_ACT_IDENTITY, AG_ACT_SIGMOID, AG_ACT_TANH, AG_ACT_RELU};
    tu_rng r = {77};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t ai = 0; ai < sizeof acts / sizeof acts[0]; ai++) {
            const int B = shapes[si][0], in = shapes[si][1], out = shapes[si][2];
            ag_tensor *x[2], *w[2], *bias[2], *y[2];
            x[0] = tu_param(&r, 2, (const int[]){B, in}, -1, 1);
            w[0] = tu_param(&r, 2, (const int[]){in, out}, -1, 1);
            bias[0] = tu_param(&r, 2, (const int[]){1, out}, -1, 1);
            ag_tensor *R = tu_param(&r, 2, (const int[]){B, out}, -1, 1); /* E = sum(y * R) */
            x[1] = tu_param(&r, 2, (const int[]){B, in}, 0, 0);
            w[1] = tu_param(&r, 2, (const int[]){in, out}, 0, 0);
            bias[1] = tu_param(&r, 2, (const int[]){1, out}, 0, 0);
            memcpy(x[1]->data, x[0]->data, sizeof(float) * x[0]->numel);
            memcpy(w[1]->data, w[0]->data, sizeof(float) * w[0]->numel);
            memcpy(bias[1]->data, bias[0]->data, sizeof(float) * bias[0]->numel);
            y[0] = ag_linear(T, x[0], w[0], bias[0], acts[ai]);
            ag_tensor *z = ag_add(T, ag_matmul(T, x[1], w[1]), bias[1]);
            y[1] = acts[ai] == AG_ACT_SIGMOID ? ag_sigmoid(T, z)
                   : acts[ai] == AG_ACT_TANH  ? ag_tanh(T, z)
                   : acts[ai] == AG_ACT_RELU  ? ag_relu(T, z)
                                              : z;
            for (int k = 0; k < 2; k++)
                assert_int_equal(ag_backward(T, ag_sum(T, ag_mul(T, y[k], R))), 0);
            assert_memory_equal(y[0]->data, y[1]->data, sizeof(float) * y[0]->numel);
            assert_memory_equal(x[0]->grad, x[1]->grad, sizeof(float) * x[0]->numel);
            assert_memory_equal(w[0]->grad, w[1]->grad, sizeof(float) * w[0]->numel);
            assert_memory_equal(bias[0]->grad, bias[1]->grad, sizeof(float) * bias[0]->numel);
            for (int k = 0; k < 2; k++) ag_tensor_free(x[k]), ag_tensor_free(w[k]), ag_tensor_free(bias[k]);
            ag_tensor_free(R);
            ag_tape_reset(T);
        }
}

static void test_reductions(void **state) {
    (void)state;
    ag_tensor *A = M(2, 2, 1, 2, 3, 4);
    EXPECT(ag_sum(T, A), 10);
    EXPECT(ag_mean(T, A), 2.5);
    ag_tensor *r = ag_sum_axis(T, A, 0);
    EXPECT(r, 4, 6);
    SHAPE(r, 1, 2);
    r = ag_sum_axis(T, A, -1);
    EXPECT(r, 3, 7);
    SHAPE(r, 2, 1);
    EXPECT(ag_mean_axis(T, A, 1), 1.5, 3.5);
    ag_tensor *X = M(2, 3, 1, 5, 3, 7, 2, 7);
    EXPECT(ag_max_axis(T, X, 1), 5, 7);
    EXPECT(ag_max_axis(T, X, 0), 7, 5, 7);
    ag_tensor *B3 = mk(3, (const int[]){2, 2, 2}, (const float[]){1, 2, 3, 4, 5, 6, 7, 8});
    r = ag_sum_axis(T, B3, 1);
    EXPECT(r, 4, 6, 12, 14);
    SHAPE(r, 2, 1, 2);
}

static void test_shape_ops(void **state) {
    (void)state;
    ag_tensor *A = M(2, 3, 1, 2, 3, 4, 5, 6);
    ag_tensor *r = ag_reshape(T, A, 2, (const int[]){3, -1});
    EXPECT(r, 1, 2, 3, 4, 5, 6);
    SHAPE(r, 3, 2);
    r = ag_transpose(T, A);
    EXPECT(r, 1, 4, 2, 5, 3, 6);
    SHAPE(r, 3, 2);
    ag_tensor *parts[2] = {A, M(1, 3, 7, 8, 9)};
    r = ag_concat(T, parts, 2, 0);
    EXPECT(r, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    SHAPE(r, 3, 3);
    ag_tensor *cols[2] = {A, M(2, 1, -1, -2)};
    r = ag_concat(T, cols, 2, 1);
    EXPECT(r, 1, 2, 3, -1, 4, 5, 6, -2);
    SHAPE(r, 2, 4);
    r = ag_slice_rows(T, M(3, 2, 1, 2, 3, 4, 5, 6), 1, 2);
    EXPECT(r, 3, 4, 5, 6);
    SHAPE(r, 2, 2);
    r = ag_gather_rows(T, M(3, 2, 1, 2, 3, 4, 5, 6), (const int[]){2, 0, 2}, 3);
    EXPECT(r, 5, 6, 1, 2, 5, 6);
    SHAPE(r, 3, 2);
}

static void test_softmax_family(void **state) {
    (void)state;
    const float l2 = (float)log(2.0), l3 = (float)log(3.0);
    EXPECT(ag_softmax(T, M(1, 3, 0, l2, l3)), 1.0 / 6, 2.0 / 6, 3.0 / 6);
    EXPECT(ag_log_softmax(T, M(1, 3, 0, l2, l3)), (float)log(1.0 / 6), (float)log(2.0 / 6),
           (float)log(3.0 / 6));
    /* each row separately, and shifting a row changes nothing */
    EXPECT(ag_softmax(T, M(2, 2, 0, 0, 100, 100 + l3)), 0.5, 0.5, 0.25, 0.75);
    EXPECT(ag_softmax(T, M(1, 2, -1e4, 1e4)), 0, 1);
    EXPECT(ag_log_softmax(T, M(1, 2, -1e4, 1e4)), -2e4, 0);
}

static void test_losses(void **state) {
    (void)state;
    EXPECT(ag_sse(T, V(2, 1, 2), V(2, 0, 0)), 2.5);
    EXPECT(ag_sse(T, M(2, 1, 0.5, 0.25), M(2, 1, 1, 0)), 0.5 * (0.25 + 0.0625));
    EXPECT(ag_mse(T, V(2, 1, 2), V(2, 0, 0)), 2.5);
    EXPECT(ag_bce(T, V(1, 0.5), V(1, 1)), (float)log(2.0));
    EXPECT(ag_bce(T, V(2, 0.2, 0.9), V(2, 0, 1)), (float)(-(log(0.8) + log(0.9)) / 2));
    EXPECT(ag_bce(T, V(2, 0, 1), V(2, 1, 0)), 100); /* each log clamped at -100 */
    EXPECT(ag_bce_logits(T, V(1, 0), V(1, 1)), (float)log(2.0));
    EXPECT(ag_bce_logits(T, V(2, 1e4, -1e4), V(2, 1, 0)), 0);
    EXPECT(ag_bce_logits(T, V(2, 1e4, -1e4), V(2, 0, 1)), 1e4);
    const int label[2] = {2, 0};
    const float l2 = (float)log(2.0), l3 = (float)log(3.0);
    /* row 1: p(2) = 1/2; row 2: p(0) = 1/6 */
    EXPECT(ag_softmax_xent(T, M(2, 3, 0, 0, l2, 0, l2, l3), label),
           (float)((log(2.0) + log(6.0)) / 2));
    (void)l2;
}

/* A few gradients by hand, where the routing matters. */
/* The shape ops of autograd/ops_shape.c, on (2,3) A = [[1,2,3],[4,5,6]] and a few others. */
static void test_shape_ops_on_any_axis(void **state) {
    (void)state;
    ag_tensor *A = M(2, 3, 1, 2, 3, 4, 5, 6), *B = M(2, 3, 7, 8, 9, 10, 11, 12), *r;
    r = ag_slice(T, A, 1, 1, 2);
    EXPECT(r, 2, 3, 5, 6);
    SHAPE(r, 2, 2);
    r = ag_slice(T, A, -1, -1, 1);
    EXPECT(r, 3, 6);
    SHAPE(r, 2, 1);
    r = ag_slice(T, A, 0, 1, 1);
    EXPECT(r, 4, 5, 6);
    SHAPE(r, 1, 3);
    ag_tensor *parts[3];
    assert_int_equal(ag_split(T, A, 1, 3, NULL, parts), 0);
    EXPECT(parts[0], 1, 4);
    EXPECT(parts[1], 2, 5);
    EXPECT(parts[2], 3, 6);
    SHAPE(parts[2], 2, 1);
    assert_int_equal(ag_split(T, A, -1, 2, (const int[]){1, 2}, parts), 0);
    EXPECT(parts[0], 1, 4);
    EXPECT(parts[1], 2, 3, 5, 6);
    SHAPE(parts[1], 2, 2);
    assert_string_equal(ag_op_name(parts[1]), "slice");
    ag_tensor *AB[2] = {A, B};
    r = ag_stack(T, AB, 2, 0);
    EXPECT(r, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
    SHAPE(r, 2, 2, 3);
    r = ag_stack(T, AB, 2, 1);
    EXPECT(r, 1, 2, 3, 7, 8, 9, 4, 5, 6, 10, 11, 12);
    SHAPE(r, 2, 2, 3);
    r = ag_stack(T, AB, 2, -1);
    EXPECT(r, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11, 6, 12);
    SHAPE(r, 2, 3, 2);
    float v[24];
    for (int i = 0; i < 24; i++) v[i] = (float)i; /* x[a,b,c] = 12a + 4b + c */
    r = ag_permute(T, mk(3, (const int[]){2, 3, 4}, v), (const int[]){2, 0, 1});
    EXPECT(r, 0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23);
    SHAPE(r, 4, 2, 3);
    r = ag_permute(T, A, (const int[]){-1, 0});
    EXPECT(r, 1, 4, 2, 5, 3, 6);
    SHAPE(r, 3, 2);
    r = ag_reverse(T, A, 0);
    EXPECT(r, 4, 5, 6, 1, 2, 3);
    r = ag_reverse(T, A, -1);
    EXPECT(r, 3, 2, 1, 6, 5, 4);
    SHAPE(r, 2, 3);
    r = ag_broadcast_to(T, M(3, 1, 1, 2, 3), 3, (const int[]){2, 3, 2});
    EXPECT(r, 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3);
    SHAPE(r, 2, 3, 2);
    r = ag_broadcast_to(T, V(3, 1, 2, 3), 2, (const int[]){2, -1});
    EXPECT(r, 1, 2, 3, 1, 2, 3);
    SHAPE(r, 2, 3);
    r = ag_pad(T, A, 1, 1, 2);
    EXPECT(r, 0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0, 0);
    SHAPE(r, 2, 6);
    r = ag_pad(T, A, 0, 1, 0);
    EXPECT(r, 0, 0, 0, 1, 2, 3, 4, 5, 6);
    SHAPE(r, 3, 3);
    /* gradients: the parts of a split add back into one input; an expand sums its copies */
    ag_tensor *x = ag_tensor_2d(2, 3, true);
    assert_int_equal(ag_split(T, x, 1, 2, (const int[]){1, 2}, parts), 0);
    ag_tensor *loss = ag_add(T, ag_sum(T, parts[0]), ag_scale(T, ag_sum(T, parts[1]), 2));
    assert_int_equal(ag_backward(T, loss), 0);
    const float want_split[6] = {1, 2, 2, 1, 2, 2};
    assert_memory_equal(x->grad, want_split, sizeof want_split);
    ag_tensor_free(x);
    ag_tape_reset(T);
    ag_tensor *col = ag_tensor_2d(3, 1, true);
    assert_int_equal(ag_backward(T, ag_sum(T, ag_broadcast_to(T, col, 3, (const int[]){2, 3, 2}))), 0);
    const float want_expand[3] = {4, 4, 4};
    assert_memory_equal(col->grad, want_expand, sizeof want_expand);
    ag_tensor_free(col);
}

static void test_routing_gradients(void **state) {
    (void)state;
    /* max sends the gradient to the first maximum only */
    ag_tensor *x = ag_tensor_from(2, (const int[]){2, 3}, (const float[]){1, 5, 5, 7, 2, 7}, true);
    assert_int_equal(ag_backward(T, ag_sum(T, ag_max_axis(T, x, 1))), 0);
    const float want_max[6] = {0, 1, 0, 1, 0, 0};
    assert_memory_equal(x->grad, want_max, sizeof want_max);
    ag_tensor_free(x);
    /* gather: a row picked three times gets three gradients */
    ag_tape_reset(T);
    ag_tensor *tab = ag_tensor_2d(3, 2, true);
    ag_tensor *g = ag_gather_rows(T, tab, (const int[]){1, 1, 2, 1}, 4);
    assert_int_equal(ag_backward(T, ag_sum(T, g)), 0);
    const float want_gather[6] = {0, 0, 3, 3, 1, 1};
    assert_memory_equal(tab->grad, want_gather, sizeof want_gather);
    ag_tensor_free(tab);
    /* a broadcast bias gets the column sums of the gradient */
    ag_tape_reset(T);
    ag_tensor *bias = ag_tensor_2d(1, 2, true);
    ag_tensor *y = ag_add(T, M(3, 2, 1, 2, 3, 4, 5, 6), bias);
    assert_int_equal(ag_backward(T, ag_sum(T, ag_mul(T, y, M(3, 2, 1, 10, 2, 20, 3, 30)))), 0);
    const float want_bias[2] = {6, 60};
    assert_memory_equal(bias->grad, want_bias, sizeof want_bias);
    ag_tensor_free(bias);
}

/* Record and drop 400 copies of a NaN block, so that the tape's arena holds NaN where the next
 * recording's tensors and gradients go: a gradient read before it is written shows. */
static void fill_arena_with_nan(void) {
    ag_tensor *junk = ag_tensor_2d(16, 16, false);
    for (int i = 0; i < junk->numel; i++) junk->data[i] = NAN;
    for (int k = 0; k < 400; k++) ag_scale(T, junk, 1.0);
    ag_tape_reset(T);
    ag_tensor_free(junk);
}

/* concat stores into a part's gradient that nobody has written yet (the arena below holding
 * NaN from an earlier recording), then adds: a part given twice gets both blocks; a part that an
 * op recorded before the concat also reads (its vjp runs after the concat's) and one recorded
 * after (its vjp runs before) get the sum of both. */
static void test_concat_stores_then_adds(void **state) {
    (void)state;
    fill_arena_with_nan();
    ag_tensor *x = ag_tensor_from(2, (const int[]){2, 2}, (const float[]){1, 2, 3, 4}, true);
    for (int order = 0; order < 2; order++) {
        ag_tensor *h = ag_scale(T, x, 1.0), *g = ag_scale(T, x, 2.0); /* tape tensors */
        ag_tensor *before = order == 0 ? ag_mul(T, h, M(2, 2, 100, 200, 300, 400)) : NULL;
        ag_tensor *c = ag_concat(T, (ag_tensor *const[]){h, g, h}, 3, 1); /* (2,6) */
        ag_tensor *E = ag_sum(T, ag_mul(T, c, M(2, 6, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)));
        ag_tensor *after = order == 1 ? ag_mul(T, h, M(2, 2, 100, 200, 300, 400)) : NULL;
        E = ag_add(T, E, ag_sum(T, before ? before : after));
        assert_int_equal(ag_backward(T, E), 0);
        /* dh = columns 0-1 + columns 4-5 of the weights + the other product's; dg = columns
         * 2-3; dx = dh + 2 dg */
        const float dh[4] = {1 + 5 + 100, 2 + 6 + 200, 7 + 11 + 300, 8 + 12 + 400};
        const float dg[4] = {3, 4, 9, 10};
        assert_memory_equal(h->grad, dh, sizeof dh);
        assert_memory_equal(g->grad, dg, sizeof dg);
        for (int i = 0; i < 4; i++) assert_float_equal(x->grad[i], dh[i] + 2 * dg[i], 0);
        ag_zero_grad(x);
        ag_tape_reset(T);
    }
    ag_tensor_free(x);
}

/* sse and mse store into a gradient that nobody has written yet (the arena below holding NaN
 * from an earlier recording), then add: a prediction given as the target too gets both parts
 * (zero), and one that an op recorded before the loss also reads (its vjp runs after the
 * loss's) or one recorded after (its vjp runs before) gets the sum of both. */
static void test_losses_store_then_add(void **state) {
    (void)state;
    fill_arena_with_nan();
    ag_tensor *x = ag_tensor_from(2, (const int[]){2, 2}, (const float[]){1, 2, 3, 4}, true);
    const float d[4] = {0.5f, 1, 4, 2};
    for (int form = 0; form < 6; form++) {
        const bool mse = form & 1;
        const int order = form / 2; /* 0: another reader before, 1: after, 2: y as d as well */
        ag_tensor *h = ag_scale(T, x, 2.0);                                  /* 2 4 6 8 */
        ag_tensor *before = order == 0 ? ag_mul(T, h, M(2, 2, 10, 20, 30, 40)) : NULL;
        ag_tensor *target = order == 2 ? h : M(2, 2, d[0], d[1], d[2], d[3]);
        ag_tensor *E = mse ? ag_mse(T, h, target) : ag_sse(T, h, target);
        ag_tensor *after = order == 1 ? ag_mul(T, h, M(2, 2, 10, 20, 30, 40)) : NULL;
        if (order < 2) E = ag_add(T, E, ag_sum(T, before ? before : after));
        assert_int_equal(ag_backward(T, E), 0);
        for (int i = 0; i < 4; i++) {
            /* dE/dh = c (h - d) (c = 1 for sse, 2/4 for mse) plus the other product's weight;
             * h as its own target: dh = c (h - h) - c (h - h) = 0 */
            const float c = mse ? 0.5f : 1.0f, hv = 2.0f * (float)(i + 1);
            const float want = order == 2 ? 0.0f : c * (hv - d[i]) + 10.0f * (float)(i + 1);
            assert_float_equal(h->grad[i], want, 0);
            assert_float_equal(x->grad[i], 2.0f * want, 0);
        }
        ag_zero_grad(x);
        ag_tape_reset(T);
    }
    ag_tensor_free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_arithmetic_and_broadcasting, reset),
        cmocka_unit_test_setup(test_unary, reset),
        cmocka_unit_test_setup(test_activations, reset),
        cmocka_unit_test_setup(test_matmul, reset),
        cmocka_unit_test_setup(test_linear, reset),
        cmocka_unit_test_setup(test_reductions, reset),
        cmocka_unit_test_setup(test_shape_ops, reset),
        cmocka_unit_test_setup(test_shape_ops_on_any_axis, reset),
        cmocka_unit_test_setup(test_softmax_family, reset),
        cmocka_unit_test_setup(test_losses, reset),
        cmocka_unit_test_setup(test_routing_gradients, reset),
        cmocka_unit_test_setup(test_concat_stores_then_adds, reset),
        cmocka_unit_test_setup(test_losses_store_then_add, reset),
    };
    return cmocka_run_group_tests_name("ops", tests, setup, teardown);
}
