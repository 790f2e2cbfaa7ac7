/*
 * test_pack.c -- all gradients of a parameter list as one buffer (nn_grads_pack and
 * nn_grads_unpack): the documented layout, exact round trips, and the use they are made for:
 * gradients of slices of a batch, packed, summed and unpacked, give the step of the whole batch.
 */
#include "support/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A 5-4-3 net with gradients from one backward pass over 8 rows. */
typedef struct {
    nn_params *ps;
    nn_mlp net;
    ag_tape *t;
    float x[8 * 5];
    int labels[8];
} fixture;

static void fixture_make(fixture *f) {
    f->ps = nn_params_new();
    nn_rng rng = nn_rng_seed(7);
    f->net = nn_mlp_new(f->ps, "net", "5-4-3", NN_TANH, NN_IDENTITY, nn_init_xavier(), &rng);
    assert_int_equal(f->net.nlayers, 2);
    f->t = ag_tape_new();
    for (int i = 0; i < 8 * 5; i++) f->x[i] = (float)nn_rng_range(&rng, -1, 1);
    for (int i = 0; i < 8; i++) f->labels[i] = i % 3;
}

static void fixture_free(fixture *f) {
    ag_tape_free(f->t);
    nn_params_free(f->ps);
}

/* Add to the gradients those of the mean cross-entropy of rows first .. first+rows-1, scaled
 * by `scale`. */
static void backward_rows(fixture *f, int first, int rows, double scale) {
    ag_tensor *X = ag_tape_tensor(f->t, 2, (const int[]){rows, 5}, f->x + first * 5);
    ag_tensor *E = ag_softmax_xent(f->t, nn_mlp_forward(f->t, &f->net, X), f->labels + first);
    assert_int_equal(ag_backward(f->t, ag_scale(f->t, E, scale)), 0);
    assert_null(ag_tape_error(f->t));
    ag_tape_reset(f->t);
}

/* Parameter i's gradient sits at the sum of the earlier parameters' sizes, row-major. */
static void test_layout_is_list_order_row_major(void **state) {
    (void)state;
    fixture f;
    fixture_make(&f);
    backward_rows(&f, 0, 8, 1.0);
    const long n = nn_params_numel(f.ps);
    assert_int_equal(n, 5 * 4 + 4 + 4 * 3 + 3);
    float *buf = malloc((size_t)n * sizeof *buf);
    assert_int_equal(nn_grads_pack(f.ps, buf, n), 0);
    long at = 0;
    for (int i = 0; i < nn_params_count(f.ps); i++) {
        const ag_tensor *p = nn_params_at(f.ps, i);
        for (int k = 0; k < p->numel; k++) assert_memory_equal(&buf[at + k], &p->grad[k], sizeof(float));
        at += p->numel;
    }
    assert_int_equal(at, n);
    /* and the order is the order of creation: net.1.W, net.1.b, net.2.W, net.2.b */
    assert_memory_equal(buf, f.net.layer[0].W->grad, 20 * sizeof(float));
    assert_memory_equal(buf + 20, f.net.layer[0].b->grad, 4 * sizeof(float));
    assert_memory_equal(buf + 24, f.net.layer[1].W->grad, 12 * sizeof(float));
    assert_memory_equal(buf + 36, f.net.layer[1].b->grad, 3 * sizeof(float));
    free(buf);
    fixture_free(&f);
}

/* unpack(pack(g)) is g bit for bit; unpack writes the gradients only, never the values. */
static void test_round_trip_is_exact(void **state) {
    (void)state;
    fixture f;
    fixture_make(&f);
    backward_rows(&f, 0, 8, 1.0);
    const long n = nn_params_numel(f.ps);
    float *buf = malloc((size_t)n * sizeof *buf), *again = malloc((size_t)n * sizeof *again);
    float *values = malloc((size_t)n * sizeof *values);
    assert_int_equal(nn_grads_pack(f.ps, buf, n), 0);
    long at = 0;
    for (int i = 0; i < nn_params_count(f.ps); i++) {
        const ag_tensor *p = nn_params_at(f.ps, i);
        memcpy(values + at, p->data, (size_t)p->numel * sizeof(float));
        at += p->numel;
    }
    nn_zero_grad(f.ps);
    assert_int_equal(nn_grads_unpack(f.ps, buf, n), 0);
    assert_int_equal(nn_grads_pack(f.ps, again, n), 0);
    assert_memory_equal(buf, again, (size_t)n * sizeof *buf);
    /* a buffer of distinct numbers lands where the layout says */
    for (long k = 0; k < n; k++) buf[k] = (float)k + 0.5f;
    assert_int_equal(nn_grads_unpack(f.ps, buf, n), 0);
    at = 0;
    for (int i = 0; i < nn_params_count(f.ps); i++) {
        const ag_tensor *p = nn_params_at(f.ps, i);
        for (int k = 0; k < p->numel; k++) assert_true(p->grad[k] == (float)(at + k) + 0.5f);
        assert_memory_equal(p->data, values + at, (size_t)p->numel * sizeof(float));
        at += p->numel;
    }
    free(buf), free(again), free(values);
    fixture_free(&f);
}

/* Data parallelism on one machine: two halves of the batch, each scaled by its share (4/8) and
 * packed, summed and unpacked, give the whole batch's mean gradient (to rounding) and a step
 * that moves the weights as the whole batch's step does. */
static void test_sum_of_packed_halves_is_the_batch_gradient(void **state) {
    (void)state;
    fixture f;
    fixture_make(&f);
    const long n = nn_params_numel(f.ps);
    float *whole = malloc((size_t)n * sizeof(float)), *half0 = malloc((size_t)n * sizeof(float));
    float *half1 = malloc((size_t)n * sizeof(float));
    backward_rows(&f, 0, 8, 1.0);
    assert_int_equal(nn_grads_pack(f.ps, whole, n), 0);
    nn_zero_grad(f.ps);
    backward_rows(&f, 0, 4, 0.5);
    assert_int_equal(nn_grads_pack(f.ps, half0, n), 0);
    nn_zero_grad(f.ps);
    backward_rows(&f, 4, 4, 0.5);
    assert_int_equal(nn_grads_pack(f.ps, half1, n), 0);
    double largest = 0;
    for (long k = 0; k < n; k++) {
        half0[k] += half1[k];
        const double d = fabs((double)half0[k] - whole[k]);
        assert_true(d <= 1e-6 * (1 + fabs(whole[k])));
        if (fabs(whole[k]) > largest) largest = fabs(whole[k]);
    }
    assert_true(largest > 1e-3); /* the gradients are not all zero */
    assert_int_equal(nn_grads_unpack(f.ps, half0, n), 0);
    nn_optim *o = nn_sgd_new(f.ps, 0.1, 0.0);
    const float w0 = f.net.layer[0].W->data[0], g = f.net.layer[0].W->grad[0];
    assert_int_equal(nn_optim_step(o, NULL), 0);
    assert_true(fabs(f.net.layer[0].W->data[0] - (w0 - 0.1f * g)) <= 1e-7);
    nn_optim_free(o);
    free(whole), free(half0), free(half1);
    fixture_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_is_list_order_row_major),
        cmocka_unit_test(test_round_trip_is_exact),
        cmocka_unit_test(test_sum_of_packed_halves_is_the_batch_gradient),
    };
    return cmocka_run_group_tests_name("pack", tests, NULL, NULL);
}
