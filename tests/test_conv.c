/*
 * test_conv.c -- the convolutions and poolings (autograd/ops_conv.c): forward values and all
 * gradients against plain direct loops on random shapes (big enough for the packed gemm), the
 * same bits on 1 and 2 threads, and the poolings against values worked by hand. (The
 * finite-difference checks of every op, on small shapes, are in tests/test_gradcheck.c.)
 */
#include "support/testutil.h"

#include <math.h>
#include <stdlib.h>
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
    ag_set_threads(1);
    return 0;
}

/* One 2-D convolution (1-D: H = KH = 1) and its operands. */
typedef struct {
    int N, C, H, W, OC, KH, KW, stride, pad, dil;
    bool bias, one_d;
} conv_case;

static int out_len(int in, int k, int s, int p, int d) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; }

/* Direct convolution, in double: x (N,C,H,W), w (OC,C,KH,KW), b (OC) or NULL -> y (N,OC,OH,OW);
 * with dy given, the gradients dx, dw, db of sum(y * dy) instead. Along H the 1-D case has no
 * padding, stride or dilation. */
static void reference(const conv_case *c, const float *x, const float *w, const float *b,
                      double *y, const float *dy, double *dx, double *dw, double *db) {
    const int sh = c->one_d ? 1 : c->stride, ph = c->one_d ? 0 : c->pad, dh = c->one_d ? 1 : c->dil;
    const int OH = out_len(c->H, c->KH, sh, ph, dh), OW = out_len(c->W, c->KW, c->stride, c->pad, c->dil);
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->OC; o++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    long yi = (((long)n * c->OC + o) * OH + oh) * OW + ow;
                    double acc = b ? b[o] : 0.0;
                    if (dy && db) db[o] += dy[yi];
                    for (int ch = 0; ch < c->C; ch++)
                        for (int kh = 0; kh < c->KH; kh++)
                            for (int kw = 0; kw < c->KW; kw++) {
                                int ih = oh * sh - ph + kh * dh, iw = ow * c->stride - c->pad + kw * c->dil;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                                long xi = (((long)n * c->C + ch) * c->H + ih) * c->W + iw;
                                long wi = (((long)o * c->C + ch) * c->KH + kh) * c->KW + kw;
                                if (dy) {
                                    dx[xi] += (double)w[wi] * dy[yi];
                                    dw[wi] += (double)x[xi] * dy[yi];
                                } else {
                                    acc += (double)w[wi] * x[xi];
                                }
                            }
                    if (!dy) y[yi] = acc;
                }
}

/* |got - want| <= tol * max(1, |want|) for all n. */
static void assert_close(const float *got, const double *want, long n, double tol, const char *what) {
    for (long i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol * fmax(1.0, fabs(want[i])))) {
            print_error("%s[%ld]: got %.7g, want %.7g\n", what, i, got[i], want[i]);
            fail();
        }
}

/* Run the op on random operands, then compare y and the gradients of sum(y * R) with the
 * reference. */
static void check_case(const conv_case *c, tu_rng *r) {
    int xs4[4] = {c->N, c->C, c->H, c->W}, xs3[3] = {c->N, c->C, c->W};
    int ws4[4] = {c->OC, c->C, c->KH, c->KW}, ws3[3] = {c->OC, c->C, c->KW};
    ag_tensor *x = tu_param(r, c->one_d ? 3 : 4, c->one_d ? xs3 : xs4, -1, 1);
    ag_tensor *w = tu_param(r, c->one_d ? 3 : 4, c->one_d ? ws3 : ws4, -1, 1);
    ag_tensor *b = c->bias ? tu_param(r, 1, &c->OC, -1, 1) : NULL;
    ag_tensor *y = c->one_d ? ag_conv1d(T, x, w, b, c->stride, c->pad, c->dil)
                            : ag_conv2d(T, x, w, b, c->stride, c->pad, c->dil);
    assert_null(ag_tape_error(T));
    const int OH = c->one_d ? 1 : out_len(c->H, c->KH, c->stride, c->pad, c->dil);
    const int OW = out_len(c->W, c->KW, c->stride, c->pad, c->dil);
    int ys4[4] = {c->N, c->OC, OH, OW}, ys3[3] = {c->N, c->OC, OW};
    tu_assert_shape(y, c->one_d ? 3 : 4, c->one_d ? ys3 : ys4);
    double *want = calloc((size_t)y->numel, sizeof *want);
    double *dx = calloc((size_t)x->numel, sizeof *dx), *dw = calloc((size_t)w->numel, sizeof *dw);
    double *db = calloc((size_t)c->OC, sizeof *db);
    assert_true(want && dx && dw && db);
    reference(c, x->data, w->data, b ? b->data : NULL, want, NULL, NULL, NULL, NULL);
    assert_close(y->data, want, y->numel, 1e-4, "y");
    ag_tensor *R = tu_const(T, r, y->ndim, y->shape, -1, 1);
    assert_int_equal(ag_backward(T, ag_sum(T, ag_mul(T, y, R))), 0);
    reference(c, x->data, w->data, NULL, NULL, R->data, dx, dw, db);
    assert_close(x->grad, dx, x->numel, 1e-4, "dx");
    assert_close(w->grad, dw, w->numel, 1e-4, "dw");
    if (b) assert_close(b->grad, db, c->OC, 1e-4, "db");
    /* the bias's gradient alone, then with the input's (the weights constant) */
    for (int with_x = 0; b && with_x < 2; with_x++) {
        ag_tape_reset(T);
        ag_zero_grad(b);
        assert_int_equal(ag_set_requires_grad(w, false), 0);
        assert_int_equal(ag_set_requires_grad(x, with_x), 0);
        y = c->one_d ? ag_conv1d(T, x, w, b, c->stride, c->pad, c->dil)
                     : ag_conv2d(T, x, w, b, c->stride, c->pad, c->dil);
        R = tu_const(T, r, y->ndim, y->shape, -1, 1);
        assert_int_equal(ag_backward(T, ag_sum(T, ag_mul(T, y, R))), 0);
        memset(db, 0, (size_t)c->OC * sizeof *db);
        memset(dx, 0, (size_t)x->numel * sizeof *dx);
        reference(c, x->data, w->data, NULL, NULL, R->data, dx, dw, db);
        assert_close(b->grad, db, c->OC, 1e-4, "db alone");
        if (with_x) assert_close(x->grad, dx, x->numel, 1e-4, "dx with db");
    }
    free(want), free(dx), free(dw), free(db);
    ag_tensor_free(x), ag_tensor_free(w), ag_tensor_free(b);
    ag_tape_reset(T);
}

/* Random shapes, strides, paddings and dilations, some big enough that the gemm packs its
 * panels and splits the work. */
static void test_conv2d_against_direct_loops(void **state) {
    (void)state;
    tu_rng r = {2024};
    const conv_case fixed[] = {
        {64 / 16, 1, 28, 28, 32, 3, 3, 1, 0, 1, true, false}, /* fashion_cnn's first layer, 4 images */
        {2, 32, 13, 13, 64, 3, 3, 1, 1, 1, true, false},
        {1, 1, 1, 1, 1, 1, 1, 1, 0, 1, false, false},
        /* columns of (288, 4096) a sample: the op does 3 samples at a time, then the last 2 */
        {5, 32, 66, 66, 2, 3, 3, 1, 0, 1, true, false},
    };
    for (int k = 0; k < 4; k++) check_case(&fixed[k], &r);
    for (int k = 0; k < 12; k++) {
        conv_case c;
        c.N = 1 + (int)tu_uniform(&r, 0, 3);
        c.C = 1 + (int)tu_uniform(&r, 0, 5);
        c.OC = 1 + (int)tu_uniform(&r, 0, 9);
        c.KH = 1 + (int)tu_uniform(&r, 0, 4);
        c.KW = 1 + (int)tu_uniform(&r, 0, 4);
        c.stride = 1 + (int)tu_uniform(&r, 0, 3);
        c.pad = (int)tu_uniform(&r, 0, 3);
        c.dil = 1 + (int)tu_uniform(&r, 0, 2);
        c.H = c.dil * (c.KH - 1) + 1 + (int)tu_uniform(&r, 0, 12);
        c.W = c.dil * (c.KW - 1) + 1 + (int)tu_uniform(&r, 0, 12);
        c.bias = k % 2 == 0;
        c.one_d = false;
        check_case(&c, &r);
    }
}

static void test_conv1d_against_direct_loops(void **state) {
    (void)state;
    tu_rng r = {77};
    for (int k = 0; k < 10; k++) {
        conv_case c = {0};
        c.N = 1 + (int)tu_uniform(&r, 0, 3);
        c.C = 1 + (int)tu_uniform(&r, 0, 6);
        c.OC = 1 + (int)tu_uniform(&r, 0, 8);
        c.H = c.KH = 1;
        c.KW = 1 + (int)tu_uniform(&r, 0, 5);
        c.stride = 1 + (int)tu_uniform(&r, 0, 3);
        c.pad = (int)tu_uniform(&r, 0, 3);
        c.dil = 1 + (int)tu_uniform(&r, 0, 3);
        c.W = c.dil * (c.KW - 1) + 1 + (int)tu_uniform(&r, 0, 40);
        c.bias = k % 2 == 1;
        c.one_d = true;
        check_case(&c, &r);
    }
}

/* fashion_cnn's two convolutions, batch 64, forward and backward (every gradient: the image's,
 * the weights', the biases'), and a convolution done in several chunks of samples, on 1, 2 and
 * 3 threads: the same bits. */
static void test_same_bits_on_any_thread_count(void **state) {
    (void)state;
    enum { NT = 9 };
    float *got[3][NT];
    long size[NT];
    for (int run = 0; run < 3; run++) {
        assert_int_equal(ag_set_threads(run + 1), 0);
        tu_rng r = {5};
        ag_tensor *x = tu_param(&r, 4, (const int[]){64, 1, 28, 28}, -1, 1);
        ag_tensor *w1 = tu_param(&r, 4, (const int[]){32, 1, 3, 3}, -0.3, 0.3);
        ag_tensor *b1 = tu_param(&r, 1, (const int[]){32}, -0.1, 0.1);
        ag_tensor *w2 = tu_param(&r, 4, (const int[]){64, 32, 3, 3}, -0.1, 0.1);
        ag_tensor *b2 = tu_param(&r, 1, (const int[]){64}, -0.1, 0.1);
        ag_tensor *x3 = tu_param(&r, 4, (const int[]){5, 32, 66, 66}, -1, 1);
        ag_tensor *w3 = tu_param(&r, 4, (const int[]){2, 32, 3, 3}, -1, 1);
        ag_tensor *y1 = ag_conv2d(T, x, w1, b1, 1, 0, 1);
        ag_tensor *p1 = ag_max_pool2d(T, ag_relu(T, y1), 2, 2, 0);
        ag_tensor *y2 = ag_conv2d(T, p1, w2, b2, 1, 0, 1);
        ag_tensor *p2 = ag_max_pool2d(T, ag_relu(T, y2), 2, 2, 0);
        ag_tensor *y3 = ag_conv2d(T, x3, w3, NULL, 1, 0, 1);
        ag_tensor *R2 = tu_const(T, &r, p2->ndim, p2->shape, -1, 1);
        ag_tensor *R3 = tu_const(T, &r, y3->ndim, y3->shape, -1, 1);
        ag_tensor *E = ag_add(T, ag_sum(T, ag_mul(T, p2, R2)), ag_sum(T, ag_mul(T, y3, R3)));
        assert_int_equal(ag_backward(T, E), 0);
        const ag_tensor *out[NT] = {y2, y3, x, w1, b1, w2, b2, x3, w3};
        for (int k = 0; k < NT; k++) {
            const float *v = k < 2 ? out[k]->data : out[k]->grad;
            size[k] = out[k]->numel * (long)sizeof(float);
            got[run][k] = malloc((size_t)size[k]);
            assert_non_null(got[run][k]);
            memcpy(got[run][k], v, (size_t)size[k]);
            assert_memory_equal(got[run][k], got[0][k], (size_t)size[k]);
        }
        ag_tape_reset(T);
        ag_tensor_free(x), ag_tensor_free(w1), ag_tensor_free(b1), ag_tensor_free(w2);
        ag_tensor_free(b2), ag_tensor_free(x3), ag_tensor_free(w3);
    }
    for (int run = 0; run < 3; run++)
        for (int k = 0; k < NT; k++) free(got[run][k]);
    ag_set_threads(1);
}

/* A second ag_backward over one recording adds the same gradients again: the weights' come
 * from the forward's columns, which the first sweep's input gradient must not have spoiled. */
static void test_second_backward_on_one_recording(void **state) {
    (void)state;
    tu_rng r = {21};
    ag_tensor *x = tu_param(&r, 4, (const int[]){4, 3, 10, 10}, -1, 1);
    ag_tensor *w = tu_param(&r, 4, (const int[]){8, 3, 3, 3}, -0.3, 0.3);
    ag_tensor *y = ag_conv2d(T, x, w, NULL, 1, 1, 1);
    ag_tensor *E = ag_sum(T, ag_mul(T, y, tu_const(T, &r, y->ndim, y->shape, -1, 1)));
    assert_int_equal(ag_backward(T, E), 0);
    float *once = malloc((size_t)w->numel * sizeof(float));
    assert_non_null(once);
    memcpy(once, w->grad, (size_t)w->numel * sizeof(float));
    assert_int_equal(ag_backward(T, E), 0);
    for (int i = 0; i < w->numel; i++) assert_float_equal(w->grad[i], 2.0f * once[i], 0);
    free(once);
    ag_tape_reset(T);
    ag_tensor_free(x), ag_tensor_free(w);
}

/* nn_conv2d: its parameters have PyTorch's shapes and names, He initialisation stays within
 * sqrt(6 / (C*K*K)) with zero biases, and its forward is relu(conv2d(x, W, b)). */
static void test_conv_layer(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(9);
    nn_conv2d c = nn_conv2d_new(ps, "c1", 3, 5, 3, 2, 1, NN_RELU, nn_init_he(), &rng);
    assert_non_null(c.W);
    tu_assert_shape(c.W, 4, (const int[]){5, 3, 3, 3});
    tu_assert_shape(c.b, 1, (const int[]){5});
    assert_ptr_equal(nn_params_find(ps, "c1.W"), c.W);
    assert_ptr_equal(nn_params_find(ps, "c1.b"), c.b);
    const double bound = sqrt(6.0 / 27.0);
    float largest = 0;
    for (int i = 0; i < c.W->numel; i++) largest = fmaxf(largest, fabsf(c.W->data[i]));
    assert_true(largest > 0 && largest <= bound);
    for (int i = 0; i < 5; i++) c.b->data[i] = 0.1f * (float)(i - 2); /* some negative */
    tu_rng r = {11};
    ag_tensor *x = tu_param(&r, 4, (const int[]){2, 3, 7, 6}, -1, 1);
    ag_tensor *y = nn_conv2d_forward(T, &c, x);
    ag_tensor *want = ag_relu(T, ag_conv2d(T, x, c.W, c.b, 2, 1, 1));
    assert_null(ag_tape_error(T));
    tu_assert_shape(y, 4, (const int[]){2, 5, 4, 3});
    assert_memory_equal(y->data, want->data, (size_t)y->numel * sizeof(float));
    ag_tape_reset(T);
    ag_tensor_free(x);
    nn_params_free(ps);
}

/* ---- pooling by hand ------------------------------------------------------------------------- */

static ag_tensor *image(const float *v, int N, int C, int H, int W) {
    ag_tensor *x = ag_tensor_from(4, (const int[]){N, C, H, W}, v, true);
    assert_non_null(x);
    return x;
}

/* Backward from sum(y * dy) with dy given. */
static void backward_with(ag_tensor *y, const float *dy) {
    ag_tensor *D = ag_tape_tensor(T, y->ndim, y->shape, dy);
    assert_int_equal(ag_backward(T, ag_sum(T, ag_mul(T, y, D))), 0);
}

static void test_max_pool2d_by_hand(void **state) {
    (void)state;
    /* (1,1,4,4), kernel 2, stride 2: the largest of each 2x2 block */
    const float v[16] = {1, 5, 2, 0,  /* */
                         3, 4, 7, 7,  /* the right-top block ties at 7: the first one wins */
                         -1, -2, 0, 9, /* */
                         -3, -4, 8, 1};
    ag_tensor *x = image(v, 1, 1, 4, 4);
    ag_tensor *y = ag_max_pool2d(T, x, 2, 2, 0);
    tu_assert_shape(y, 4, (const int[]){1, 1, 2, 2});
    tu_assert_values(y, (const float[]){5, 7, -1, 9}, 4, 0);
    backward_with(y, (const float[]){10, 20, 30, 40});
    const float dx[16] = {0, 10, 0, 0, 0, 0, 20, 0, 30, 0, 0, 40, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++) assert_float_equal(x->grad[i], dx[i], 0);
    ag_tape_reset(T);
    ag_tensor_free(x);

    /* (1,1,3,3) all negative, kernel 3, stride 2, padding 1: the padding (-inf) never wins,
     * so every window's max is a real element; windows overlap on the middle row/column and
     * their gradients add there. Output (1,1,2,2). */
    const float u[9] = {-5, -4, -9, /* */
                        -8, -1, -7, /* */
                        -6, -3, -2};
    x = image(u, 1, 1, 3, 3);
    y = ag_max_pool2d(T, x, 3, 2, 1);
    tu_assert_shape(y, 4, (const int[]){1, 1, 2, 2});
    /* windows: rows -1..1 x cols -1..1 -> {-5,-4,-8,-1} max -1; rows -1..1 x cols 1..3 ->
     * {-4,-9,-1,-7} max -1; rows 1..3 x cols -1..1 -> {-8,-1,-6,-3} max -1; rows 1..3 x cols
     * 1..3 -> {-1,-7,-3,-2} max -1: all four pick the centre */
    tu_assert_values(y, (const float[]){-1, -1, -1, -1}, 4, 0);
    backward_with(y, (const float[]){1, 2, 3, 4});
    for (int i = 0; i < 9; i++) assert_float_equal(x->grad[i], i == 4 ? 10 : 0, 0);
    ag_tape_reset(T);
    ag_tensor_free(x);

    /* (1,2,5,5), kernel 2, stride 2, on a tape tensor whose gradient the pool's vjp writes
     * first (it stores rather than adds), the arena holding old values: the last row and
     * column, in no window, get 0. Plane 1 is plane 0 negated. Output (1,2,2,2). */
    float w[50];
    for (int i = 0; i < 25; i++) w[i] = (float)((i * 7) % 11), w[25 + i] = -w[i];
    ag_tensor *junk = ag_tensor_2d(16, 16, false);
    for (int i = 0; i < junk->numel; i++) junk->data[i] = NAN;
    for (int k = 0; k < 400; k++) ag_scale(T, junk, 1.0); /* the arena's first chunks: NaN */
    ag_tape_reset(T);
    x = image(w, 1, 2, 5, 5);
    y = ag_max_pool2d(T, ag_scale(T, x, 1.0), 2, 2, 0);
    backward_with(y, (const float[]){1, 2, 3, 4, 5, 6, 7, 8});
    float want[50] = {0};
    for (int p = 0; p < 2; p++)
        for (int oh = 0; oh < 2; oh++)
            for (int ow = 0; ow < 2; ow++) { /* the first largest of the window, by hand */
                int best = p * 25 + 2 * oh * 5 + 2 * ow;
                for (int dh = 0; dh < 2; dh++)
                    for (int dw = 0; dw < 2; dw++) {
                        const int i = p * 25 + (2 * oh + dh) * 5 + 2 * ow + dw;
                        if (w[i] > w[best]) best = i;
                    }
                want[best] = (float)(1 + p * 4 + oh * 2 + ow);
            }
    for (int i = 0; i < 50; i++) assert_float_equal(x->grad[i], want[i], 0);
    ag_tape_reset(T);
    ag_tensor_free(x);
    ag_tensor_free(junk);
}

static void test_avg_pool2d_by_hand(void **state) {
    (void)state;
    /* (1,2,2,2) two channels, kernel 2, stride 1, padding 1 -> (1,2,3,3); the padding counts
     * as zeros and every window is divided by 4 (count_include_pad=True) */
    const float v[8] = {1, 2, 3, 4, /* channel 1 */ -4, 8, 0, 12};
    ag_tensor *x = image(v, 1, 2, 2, 2);
    ag_tensor *y = ag_avg_pool2d(T, x, 2, 1, 1);
    tu_assert_shape(y, 4, (const int[]){1, 2, 3, 3});
    const float want[18] = {0.25f, 0.75f, 0.5f, 1.0f, 2.5f, 1.5f, 0.75f, 1.75f, 1.0f,
                            -1.0f, 1.0f, 2.0f, -1.0f, 4.0f, 5.0f, 0.0f, 3.0f, 3.0f};
    tu_assert_values(y, want, 18, 1e-6);
    /* each input sits in 4 windows: gradient 4 * (1/4) * 1 = 1 for dy = 1 everywhere */
    float ones[18];
    for (int i = 0; i < 18; i++) ones[i] = 1;
    backward_with(y, ones);
    for (int i = 0; i < 8; i++) assert_float_equal(x->grad[i], 1.0f, 1e-6);
    ag_tape_reset(T);
    ag_tensor_free(x);

    /* (1,1,3,3), kernel 3, stride 3, no padding: one window, the mean */
    const float u[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    x = image(u, 1, 1, 3, 3);
    y = ag_avg_pool2d(T, x, 3, 3, 0);
    tu_assert_values(y, (const float[]){5}, 1, 1e-6);
    backward_with(y, (const float[]){9});
    for (int i = 0; i < 9; i++) assert_float_equal(x->grad[i], 1.0f, 1e-6);
    ag_tape_reset(T);
    ag_tensor_free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_against_direct_loops),
        cmocka_unit_test(test_conv1d_against_direct_loops),
        cmocka_unit_test(test_same_bits_on_any_thread_count),
        cmocka_unit_test(test_second_backward_on_one_recording),
        cmocka_unit_test(test_conv_layer),
        cmocka_unit_test(test_max_pool2d_by_hand),
        cmocka_unit_test(test_avg_pool2d_by_hand),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
