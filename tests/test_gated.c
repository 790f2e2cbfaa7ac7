/*
 * test_gated.c -- the gated recurrent cells (nn_lstm, nn_gru): one step's value worked by hand,
 * every gradient of a 5-step unfolding against finite differences, the layout of the fused gate
 * weights, and creation that is all or nothing under a failing allocator.
 */
#include "support/testutil.h"

#include <math.h>
#include <string.h>

#define EPS 1e-2   /* finite-difference step, relative to max(1, |w|) */
#define FLOOR 1e-2 /* gradients smaller than this are compared in absolute terms */
#define TOL 1e-2   /* the bound on the worst relative error */

static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

static void set(ag_tensor *w, const float *v) { memcpy(w->data, v, (size_t)w->numel * sizeof *v); }

/* ---- one step by hand ------------------------------------------------------------------------ */

/* I = H = B = 1. The four gate columns get different weights, so a wrong gate order shows:
 *   pre i = x*0.5  + h*1  + 0   + 0.25 = 1.25     (x = 1, h = 0.5, c = 0.25)
 *   pre f = x*-1   + h*2  + 0.5 + 0    = 0.5
 *   pre g = x*1    + h*-2 + 0   + 0.5  = 0.5
 *   pre o = x*2    + h*0  - 1   + 0    = 1
 *   c' = sigmoid(0.5) * 0.25 + sigmoid(1.25) * tanh(0.5),  h' = sigmoid(1) * tanh(c') */
static void test_lstm_step_by_hand(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(1);
    nn_lstm cell = nn_lstm_new(ps, "l", 1, 1, nn_init_xavier(), &rng);
    assert_non_null(cell.W_ih);
    tu_assert_shape(cell.W_ih, 2, (int[]){1, 4});
    tu_assert_shape(cell.W_hh, 2, (int[]){1, 4});
    tu_assert_shape(cell.b_ih, 2, (int[]){1, 4});
    tu_assert_shape(cell.b_hh, 2, (int[]){1, 4});
    set(cell.W_ih, (float[]){0.5f, -1, 1, 2});
    set(cell.W_hh, (float[]){1, 2, -2, 0});
    set(cell.b_ih, (float[]){0, 0.5f, 0, -1});
    set(cell.b_hh, (float[]){0.25f, 0, 0.5f, 0});
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_tape_tensor(t, 2, (int[]){1, 1}, (float[]){1});
    ag_tensor *h = ag_tape_tensor(t, 2, (int[]){1, 1}, (float[]){0.5f});
    ag_tensor *c = ag_tape_tensor(t, 2, (int[]){1, 1}, (float[]){0.25f});
    ag_tensor *c_new = NULL;
    ag_tensor *h_new = nn_lstm_step(t, &cell, h, c, x, &c_new);
    assert_null(ag_tape_error(t));
    const double want_c = sigm(0.5) * 0.25 + sigm(1.25) * tanh(0.5);
    tu_assert_values(c_new, (float[]){(float)want_c}, 1, 1e-6);
    tu_assert_values(h_new, (float[]){(float)(sigm(1.0) * tanh(want_c))}, 1, 1e-6);
    /* the zero state: h and c NULL are h = c = 0 (pre i = 0.75, g = 1.5, o = 1) */
    ag_tensor *h0 = nn_lstm_step(t, &cell, NULL, NULL, x, &c_new);
    const double c0 = sigm(0.75) * tanh(1.5);
    tu_assert_values(c_new, (float[]){(float)c0}, 1, 1e-6);
    tu_assert_values(h0, (float[]){(float)(sigm(1.0) * tanh(c0))}, 1, 1e-6);
    ag_tape_free(t);
    nn_params_free(ps);
}

/* I = H = B = 1, gates r, z, n:
 *   pre r = x*1  + 0    + h*2  - 0.5 = 1.5         (x = 1, h = 0.5)
 *   pre z = x*-1 + 0.5  + h*1  + 0   = 0
 *   n = tanh(x*0.5 + 0.25 + sigmoid(1.5) * (h*-1 + 1)) = tanh(0.75 + 0.5 sigmoid(1.5))
 *   h' = (1 - 0.5) n + 0.5 h */
static void test_gru_step_by_hand(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(1);
    nn_gru cell = nn_gru_new(ps, "g", 1, 1, nn_init_xavier(), &rng);
    assert_non_null(cell.W_ih);
    tu_assert_shape(cell.W_ih, 2, (int[]){1, 3});
    tu_assert_shape(cell.W_hh, 2, (int[]){1, 3});
    set(cell.W_ih, (float[]){1, -1, 0.5f});
    set(cell.W_hh, (float[]){2, 1, -1});
    set(cell.b_ih, (float[]){0, 0.5f, 0.25f});
    set(cell.b_hh, (float[]){-0.5f, 0, 1});
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_tape_tensor(t, 2, (int[]){1, 1}, (float[]){1});
    ag_tensor *h = ag_tape_tensor(t, 2, (int[]){1, 1}, (float[]){0.5f});
    ag_tensor *h_new = nn_gru_step(t, &cell, h, x);
    assert_null(ag_tape_error(t));
    const double n = tanh(0.75 + 0.5 * sigm(1.5));
    tu_assert_values(h_new, (float[]){(float)(0.5 * n + 0.25)}, 1, 1e-6);
    /* the zero state: pre r = 0.5, z = -0.5, n = tanh(0.75 + sigmoid(0.5) * 1) */
    ag_tensor *h0 = nn_gru_step(t, &cell, NULL, x);
    const double n0 = tanh(0.75 + sigm(0.5));
    tu_assert_values(h0, (float[]){(float)((1 - sigm(-0.5)) * n0)}, 1, 1e-6);
    ag_tape_free(t);
    nn_params_free(ps);
}

/* The fused weights' columns k*H .. k*H+H-1 are gate k: with H = 2, only the o block (columns
 * 6, 7) of the LSTM's b_ih large and positive, and the g block (4, 5) set, h' = sigmoid(big) *
 * tanh(sigmoid(0) * tanh(g)) per unit; moving the value to another block changes it. */
static void test_gate_blocks_are_contiguous(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(1);
    nn_lstm cell = nn_lstm_new(ps, "l", 1, 2, nn_init_xavier(), &rng);
    assert_non_null(cell.W_ih);
    tu_assert_shape(cell.W_ih, 2, (int[]){1, 8});
    memset(cell.W_ih->data, 0, 8 * sizeof(float));
    memset(cell.W_hh->data, 0, 16 * sizeof(float));
    memset(cell.b_hh->data, 0, 8 * sizeof(float));
    set(cell.b_ih, (float[]){0, 0, 0, 0, 1, -2, 20, 20}); /* i: 0, f: 0, g: (1,-2), o: (20,20) */
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_tape_tensor(t, 2, (int[]){1, 1}, (float[]){0});
    ag_tensor *c = NULL;
    ag_tensor *h = nn_lstm_step(t, &cell, NULL, NULL, x, &c);
    assert_null(ag_tape_error(t));
    const double c1 = 0.5 * tanh(1.0), c2 = 0.5 * tanh(-2.0);
    tu_assert_values(c, (float[]){(float)c1, (float)c2}, 2, 1e-6);
    tu_assert_values(h, (float[]){(float)(sigm(20) * tanh(c1)), (float)(sigm(20) * tanh(c2))}, 2,
                     1e-6);
    ag_tape_free(t);
    nn_params_free(ps);
}

/* ---- gradients over 5 steps ------------------------------------------------------------------ */

#define T_STEPS 5
#define B 2
#define I 3
#define H 4

typedef struct {
    nn_lstm lstm;
    nn_gru gru;
    ag_tensor *x[T_STEPS]; /* (B,I) user-owned inputs (also checked) */
    ag_tensor *h0, *c0;    /* (B,H) */
    ag_tensor *target;     /* (B,H) data */
} run;

/* A loss that reaches every state and every gate: sum over steps of sum(h(k) * target * k)
 * plus, for the LSTM, sum(c(T)^2). */
static ag_tensor *states_loss(ag_tape *t, ag_tensor *const *states, ag_tensor *target) {
    ag_tensor *E = NULL;
    for (int k = 0; k < T_STEPS; k++) {
        ag_tensor *e = ag_scale(t, ag_sum(t, ag_mul(t, states[k], target)), k + 1);
        E = E ? ag_add(t, E, e) : e;
    }
    return E;
}

static ag_tensor *lstm_loss(ag_tape *t, void *ctx) {
    run *r = ctx;
    ag_tensor *states[T_STEPS], *c = NULL;
    nn_lstm_unfold(t, &r->lstm, r->h0, r->c0, r->x, T_STEPS, states, &c);
    return ag_add(t, states_loss(t, states, r->target), ag_sum(t, ag_mul(t, c, c)));
}

static ag_tensor *gru_loss(ag_tape *t, void *ctx) {
    run *r = ctx;
    ag_tensor *states[T_STEPS];
    nn_gru_unfold(t, &r->gru, r->h0, r->x, T_STEPS, states);
    return states_loss(t, states, r->target);
}

static void check_unfold(bool lstm) {
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(7);
    tu_rng tr = {11};
    run r;
    memset(&r, 0, sizeof r);
    if (lstm) r.lstm = nn_lstm_new(ps, "l", I, H, nn_init_uniform(0.6), &rng);
    else r.gru = nn_gru_new(ps, "g", I, H, nn_init_uniform(0.6), &rng);
    assert_int_equal(nn_params_count(ps), 4);
    ag_tensor *params[4 + T_STEPS + 2];
    int n = 0;
    for (int p = 0; p < 4; p++) params[n++] = nn_params_at(ps, p);
    for (int k = 0; k < T_STEPS; k++) params[n++] = r.x[k] = tu_param(&tr, 2, (int[]){B, I}, -1, 1);
    params[n++] = r.h0 = tu_param(&tr, 2, (int[]){B, H}, -0.8, 0.8);
    if (lstm) params[n++] = r.c0 = tu_param(&tr, 2, (int[]){B, H}, -0.8, 0.8);
    r.target = ag_tensor_2d(B, H, false);
    for (int i = 0; i < B * H; i++) r.target->data[i] = (float)tu_uniform(&tr, -1, 1);

    ag_gradcheck_report rep;
    assert_int_equal(ag_gradcheck(lstm ? lstm_loss : gru_loss, &r, params, n, EPS, FLOOR, &rep),
                     0);
    if (!(rep.worst_error < TOL))
        print_error("%s: worst error %.3g (param %d, element %d: %g vs %g)\n",
                    lstm ? "lstm" : "gru", rep.worst_error, rep.worst_param, rep.worst_index,
                    rep.analytic, rep.numeric);
    assert_true(rep.worst_error < TOL);
    /* every element of the four weights and of the inputs and states */
    assert_int_equal(rep.checked, (lstm ? 4 : 3) * H * (I + H + 2) + T_STEPS * B * I +
                                      (lstm ? 2 : 1) * B * H);

    /* the unfolding is the steps chained by hand, bit for bit */
    ag_tape *t = ag_tape_new();
    ag_tensor *states[T_STEPS], *c_last = NULL;
    ag_tensor *hT = lstm ? nn_lstm_unfold(t, &r.lstm, r.h0, r.c0, r.x, T_STEPS, states, &c_last)
                         : nn_gru_unfold(t, &r.gru, r.h0, r.x, T_STEPS, states);
    ag_tensor *h = r.h0, *c = r.c0;
    for (int k = 0; k < T_STEPS; k++) {
        h = lstm ? nn_lstm_step(t, &r.lstm, h, c, r.x[k], &c) : nn_gru_step(t, &r.gru, h, r.x[k]);
        assert_memory_equal(h->data, states[k]->data, B * H * sizeof(float));
    }
    assert_ptr_equal(hT, states[T_STEPS - 1]);
    if (lstm) assert_memory_equal(c->data, c_last->data, B * H * sizeof(float));
    assert_null(ag_tape_error(t));
    ag_tape_free(t);

    for (int k = 0; k < T_STEPS; k++) ag_tensor_free(r.x[k]);
    ag_tensor_free(r.h0);
    ag_tensor_free(r.c0);
    ag_tensor_free(r.target);
    nn_params_free(ps);
}

static void test_lstm_unfold_gradients(void **state) {
    (void)state;
    check_unfold(true);
}

static void test_gru_unfold_gradients(void **state) {
    (void)state;
    check_unfold(false);
}

/* ---- steady state ------------------------------------------------------------------------------ */

/* After the first step has grown the tape, a training step of either cell unfolded over 5 steps
 * (record, backward, update, reset) calls the allocator no more. */
static void test_steady_state_step_allocates_nothing(void **state) {
    (void)state;
    tu_alloc_install();
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(2);
    tu_rng tr = {5};
    run r;
    memset(&r, 0, sizeof r);
    r.lstm = nn_lstm_new(ps, "l", I, H, nn_init_xavier(), &rng);
    r.gru = nn_gru_new(ps, "g", I, H, nn_init_xavier(), &rng);
    assert_non_null(r.gru.W_ih);
    for (int k = 0; k < T_STEPS; k++) r.x[k] = tu_param(&tr, 2, (int[]){B, I}, -1, 1);
    r.target = ag_tensor_2d(B, H, false);
    for (int i = 0; i < B * H; i++) r.target->data[i] = (float)tu_uniform(&tr, -1, 1);
    nn_optim *opt = nn_adam_new(ps, 0.01);
    ag_tape *t = ag_tape_new();
    assert_non_null(opt);
    assert_non_null(t);
    long before = 0;
    double first = 0, last = 0;
    for (int s = 0; s < 30; s++) {
        if (s == 1) before = tu_alloc.allocs;
        ag_tensor *E = ag_add(t, lstm_loss(t, &r), gru_loss(t, &r));
        if (s == 0) first = ag_item(E);
        last = ag_item(E);
        assert_int_equal(ag_backward(t, E), 0);
        assert_int_equal(nn_optim_step(opt, t), 0);
        ag_tape_reset(t);
    }
    assert_int_equal(tu_alloc.allocs - before, 0);
    assert_true(last < first); /* and it trains */
    ag_tape_free(t);
    nn_optim_free(opt);
    for (int k = 0; k < T_STEPS; k++) ag_tensor_free(r.x[k]);
    ag_tensor_free(r.target);
    nn_params_free(ps);
    assert_int_equal(tu_alloc.outstanding_blocks, 0);
    tu_alloc_uninstall();
}

/* ---- all or nothing -------------------------------------------------------------------------- */

/* Make an LSTM and a GRU with the Nth allocation failing, for every N: each constructor either
 * succeeds or leaves the list and the generator as they were (a retry succeeds), and nothing
 * leaks. */
static int make_cells(nn_params *ps, nn_rng *r, int *creations_failed) {
    for (int k = 0; k < 2; k++) {
        for (int attempt = 0; attempt < 2; attempt++) {
            const int count = nn_params_count(ps);
            const nn_rng before = *r;
            bool made = k == 0 ? nn_lstm_new(ps, "l", 3, 2, nn_init_uniform(0.3), r).W_ih != NULL
                               : nn_gru_new(ps, "g", 3, 2, nn_init_uniform(0.3), r).W_ih != NULL;
            if (made) {
                if (nn_params_count(ps) != count + 4) return -1;
                break;
            }
            if (!strstr(ag_last_error(), "out of memory") || nn_params_count(ps) != count ||
                memcmp(&before, r, sizeof before) != 0)
                return -1;
            (*creations_failed)++;
            if (attempt == 1) return -1;
        }
    }
    return nn_params_count(ps) == 8 ? 0 : -1;
}

static void test_failed_creation_is_undone(void **state) {
    (void)state;
    long n = tu_every_allocation_fails(make_cells);
    assert_true(n > 16); /* 8 parameters, each with data, gradient and name */
}

/* The same seed gives the same weights, and a cell made after a failed one gets the values it
 * would have had (the failure put the generator back). */
static void test_creation_failure_keeps_the_generator(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    nn_rng r = nn_rng_seed(3);
    const nn_rng start = r;
    nn_lstm bad = nn_lstm_new(ps, "a-name-long-enough-to-be-refused-for-its-parameters-names-ok-x", 2,
                              2, nn_init_uniform(0.3), &r);
    assert_null(bad.W_ih);
    assert_non_null(strstr(ag_last_error(), "is too long"));
    assert_int_equal(nn_params_count(ps), 0);
    assert_memory_equal(&start, &r, sizeof r);
    nn_gru g = nn_gru_new(ps, "g", 2, 2, nn_init_uniform(0.3), &r);
    nn_params *ps2 = nn_params_new();
    nn_rng r2 = nn_rng_seed(3);
    nn_gru g2 = nn_gru_new(ps2, "g", 2, 2, nn_init_uniform(0.3), &r2);
    assert_memory_equal(g.W_ih->data, g2.W_ih->data, 2 * 6 * sizeof(float));
    assert_memory_equal(g.b_hh->data, g2.b_hh->data, 6 * sizeof(float));
    nn_params_free(ps);
    nn_params_free(ps2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lstm_step_by_hand),
        cmocka_unit_test(test_gru_step_by_hand),
        cmocka_unit_test(test_gate_blocks_are_contiguous),
        cmocka_unit_test(test_lstm_unfold_gradients),
        cmocka_unit_test(test_gru_unfold_gradients),
        cmocka_unit_test(test_steady_state_step_allocates_nothing),
        cmocka_unit_test(test_failed_creation_is_undone),
        cmocka_unit_test(test_creation_failure_keeps_the_generator),
    };
    return cmocka_run_group_tests_name("gated", tests, NULL, NULL);
}
