/*
 * test_nn.c -- the nn layer: generator, initialisation, parameter lists, layers, the margin
 * loss, and the optimisers' update rules worked by hand.
 */
#include "support/testutil.h"

#include <limits.h>
#include <math.h>
#include <string.h>

static void test_rng_is_deterministic_and_uniform(void **state) {
    (void)state;
    nn_rng a = nn_rng_seed(42), b = nn_rng_seed(42), c = nn_rng_seed(43);
    for (int i = 0; i < 100; i++) assert_true(nn_rng_next(&a) == nn_rng_next(&b));
    assert_true(nn_rng_next(&a) != nn_rng_next(&c));
    /* splitmix64's published first output for seed 0 */
    nn_rng z = nn_rng_seed(0);
    assert_true(nn_rng_next(&z) == 0xE220A8397B1DCDAFull);
    nn_rng r = nn_rng_seed(7);
    double sum = 0, lo = 1, hi = 0;
    int counts[5] = {0};
    for (int i = 0; i < 100000; i++) {
        double u = nn_rng_uniform(&r);
        sum += u;
        lo = fmin(lo, u);
        hi = fmax(hi, u);
        counts[nn_rng_int(&r, 5)]++;
    }
    assert_true(lo >= 0.0 && hi < 1.0);
    assert_float_equal(sum / 100000, 0.5, 0.01);
    for (int k = 0; k < 5; k++) assert_in_range(counts[k], 19000, 21000);
    int perm[10];
    for (int i = 0; i < 10; i++) perm[i] = i;
    nn_rng_shuffle(&r, perm, 10);
    int seen = 0;
    for (int i = 0; i < 10; i++) seen |= 1 << perm[i];
    assert_int_equal(seen, 1023);
}

static void test_initialisation_ranges(void **state) {
    (void)state;
    nn_rng r = nn_rng_seed(1);
    ag_tensor *w = ag_tensor_2d(50, 40, true);
    assert_int_equal(nn_init_fill(w, nn_init_uniform(0.3), 50, 40, false, &r), 0);
    float mx = 0;
    for (int i = 0; i < w->numel; i++) mx = fmaxf(mx, fabsf(w->data[i]));
    assert_true(mx <= 0.3f && mx > 0.29f);
    assert_int_equal(nn_init_fill(w, nn_init_xavier(), 50, 40, false, &r), 0);
    mx = 0;
    for (int i = 0; i < w->numel; i++) mx = fmaxf(mx, fabsf(w->data[i]));
    assert_true(mx <= sqrtf(6.0f / 90) && mx > 0.95f * sqrtf(6.0f / 90));
    assert_int_equal(nn_init_fill(w, nn_init_he(), 50, 40, true, &r), 0); /* biases: zeros */
    for (int i = 0; i < w->numel; i++) assert_true(w->data[i] == 0.0f);
    assert_int_equal(nn_init_fill(NULL, nn_init_he(), 1, 1, false, &r), -1);
    ag_tensor_free(w);
}

static void test_parameter_list(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    ag_tensor *a = nn_param_new(ps, "a", 2, (const int[]){2, 3});
    ag_tensor *b = nn_param_new(ps, "b", 1, (const int[]){4});
    assert_non_null(a);
    assert_non_null(b);
    assert_null(nn_param_new(ps, "a", 1, (const int[]){1}));
    assert_non_null(strstr(ag_last_error(), "'a' already exists"));
    assert_null(nn_param_new(ps, "bad", 1, (const int[]){0}));
    assert_non_null(strstr(ag_last_error(), "'bad'"));
    assert_null(nn_param_new(ps, "", 1, (const int[]){1}));
    assert_int_equal(nn_params_count(ps), 2);
    assert_int_equal(nn_params_numel(ps), 10);
    assert_ptr_equal(nn_params_find(ps, "b"), b);
    assert_ptr_equal(nn_params_at(ps, 0), a);
    assert_null(nn_params_at(ps, 2));
    assert_null(nn_params_find(ps, "c"));
    a->grad[1] = 3;
    nn_zero_grad(ps);
    assert_true(a->grad[1] == 0);
    for (int i = 0; i < 40; i++) { /* grows past its first capacity */
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        assert_non_null(nn_param_new(ps, name, 1, (const int[]){1}));
    }
    assert_int_equal(nn_params_count(ps), 42);
    nn_params_free(ps);
}

static void test_dense_layer_computes_f_of_xW_plus_b(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    nn_rng r = nn_rng_seed(3);
    nn_dense d = nn_dense_new(ps, "layer", 3, 2, NN_SIGMOID, nn_init_uniform(0.5), &r);
    assert_non_null(d.W);
    assert_string_equal(d.W->name, "layer.W");
    assert_string_equal(d.b->name, "layer.b");
    ag_tape *t = ag_tape_new();
    const float xv[6] = {1, -2, 0.5f, 0, 1, 2};
    ag_tensor *x = ag_tape_tensor(t, 2, (const int[]){2, 3}, xv);
    ag_tensor *y = nn_dense_forward(t, &d, x);
    assert_null(ag_tape_error(t));
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            double z = d.b->data[j];
            for (int k = 0; k < 3; k++) z += xv[i * 3 + k] * d.W->data[k * 2 + j];
            assert_float_equal(y->data[i * 2 + j], 1 / (1 + exp(-z)), 1e-6);
        }
    /* the wrong number of columns is named at the layer */
    ag_tape_reset(t);
    x = ag_tape_tensor(t, 2, (const int[]){2, 5}, NULL);
    nn_dense_forward(t, &d, x);
    tu_assert_error(t, "dense layer.W: input (2,5) has 5 columns, the layer expects 3");
    /* a layer whose creation failed */
    ag_tape_reset(t);
    nn_dense bad = nn_dense_new(ps, "layer", 3, 2, NN_SIGMOID, nn_init_uniform(0.5), &r);
    assert_null(bad.W);
    nn_dense_forward(t, &bad, x);
    tu_assert_error(t, "dense: layer has no weights");
    ag_tape_free(t);
    nn_params_free(ps);
}

static void test_mlp_from_sizes(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    nn_rng r = nn_rng_seed(3);
    nn_mlp m = nn_mlp_new(ps, "net", "6-2-1", NN_SIGMOID, NN_SIGMOID, nn_init_uniform(0.3), &r);
    assert_int_equal(m.nlayers, 2);
    assert_int_equal(nn_params_count(ps), 4);
    tu_assert_shape(nn_params_find(ps, "net.1.W"), 2, (const int[]){6, 2});
    tu_assert_shape(nn_params_find(ps, "net.2.b"), 2, (const int[]){1, 1});
    const char *bad[] = {"6", "6--1", "6-0-1", "a-b", "6-2-", "", "1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16-17-18"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nn_mlp b = nn_mlp_new(ps, "b", bad[i], NN_TANH, NN_IDENTITY, nn_init_xavier(), &r);
        assert_int_equal(b.nlayers, 0);
    }
    /* the grammar is strict: digits and single '-' only, nothing before, between or after */
    const struct {
        const char *sizes, *why;
    } loose[] = {
        {" 6-2", "character 1 (' ') is not a digit or '-'"},
        {"+6-2", "character 1 ('+') is not a digit or '-'"},
        {"6- 2", "character 3 (' ') is not a digit or '-'"},
        {"6-+2", "character 3 ('+') is not a digit or '-'"},
        {"6--2", "size 2 is empty (character 3)"},
        {"-6-2", "size 1 is empty (character 1)"},
        {"6-2-", "size 3 is empty (character 5)"},
        {"6-2 ", "character 4 (' ') is not a digit or '-'"},
        {"6 -2", "character 2 (' ') is not a digit or '-'"},
        {"6-\t2", "character 3 (byte 0x09) is not a digit or '-'"},
        {"6-2\n", "character 4 (byte 0x0a) is not a digit or '-'"},
        {"0x6-2", "size 1 (0) is 0, less than 1"},
        {"6-000", "size 2 (000) is 0, less than 1"},
        {"1000001-2", "size 1 (1000001) is more than 1000000"},
        {"6-99999999999999999999", "size 2 (999999999999...) is more than 1000000"},
        {"6-4294967302", "size 2 (4294967302) is more than 1000000"}, /* 6 mod 2^32 */
        {"6", "only one size (6)"},
        {"", "size 1 is empty (character 1)"},
        {"1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16-17-18", "more than 17 sizes"},
    };
    for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++) {
        nn_mlp b = nn_mlp_new(ps, "b", loose[i].sizes, NN_TANH, NN_IDENTITY, nn_init_xavier(), &r);
        if (b.nlayers != 0 || !strstr(ag_last_error(), loose[i].why)) {
            print_error("\"%s\": %d layers, error \"%s\" (want \"%s\")\n", loose[i].sizes,
                        b.nlayers, ag_last_error(), loose[i].why);
            fail();
        }
        assert_non_null(strstr(ag_last_error(), "nn_mlp_new: sizes must look like \"6-2-1\""));
    }
    assert_int_equal(nn_params_count(ps), 4);
    /* leading zeros are digits too; 17 sizes is the most */
    nn_mlp z = nn_mlp_new(ps, "z", "006-02", NN_TANH, NN_IDENTITY, nn_init_xavier(), &r);
    assert_int_equal(z.nlayers, 1);
    tu_assert_shape(z.layer[0].W, 2, (const int[]){6, 2});
    z = nn_mlp_new(ps, "z17", "1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16-17", NN_TANH, NN_IDENTITY,
                   nn_init_xavier(), &r);
    assert_int_equal(z.nlayers, 16);
    tu_assert_shape(z.layer[15].W, 2, (const int[]){16, 17});
    ag_tape *t = ag_tape_new();
    ag_tensor *y = nn_mlp_forward(t, &m, ag_tape_tensor(t, 2, (const int[]){5, 6}, NULL));
    tu_assert_shape(y, 2, (const int[]){5, 1});
    ag_tape_free(t);
    nn_params_free(ps);
}

/* The recurrent weight's gradient is the sum of the gradients of its T unfolded copies: the
 * same net built once with one shared W and once with T separate copies of it. */
static void test_recurrent_gradient_is_sum_over_copies(void **state) {
    (void)state;
    enum { B = 3, I = 2, H = 4, T = 5 };
    nn_params *ps = nn_params_new();
    nn_rng r = nn_rng_seed(11);
    nn_recurrent net = nn_recurrent_new(ps, "rnn", I, H, NN_TANH, nn_init_uniform(0.5), &r);
    assert_non_null(net.W);
    ag_tensor *copies[T];
    for (int k = 0; k < T; k++) {
        copies[k] = ag_tensor_2d(H, H, true);
        memcpy(copies[k]->data, net.W->data, sizeof(float) * H * H);
    }
    ag_tape *t = ag_tape_new();
    tu_rng tr = {5};
    ag_tensor *xs[T], *target = tu_const(t, &tr, 2, (const int[]){B, H}, -1, 1);
    for (int k = 0; k < T; k++) xs[k] = k % 2 ? NULL : tu_const(t, &tr, 2, (const int[]){B, I}, -1, 1);
    /* shared */
    ag_tensor *h = NULL;
    for (int k = 0; k < T; k++) h = nn_recurrent_step(t, &net, h, xs[k]);
    assert_int_equal(ag_backward(t, ag_sse(t, h, target)), 0);
    /* separate copies, same values */
    nn_recurrent sep = net;
    h = NULL;
    for (int k = 0; k < T; k++) {
        sep.W = copies[k];
        h = nn_recurrent_step(t, &sep, h, xs[k]);
    }
    assert_int_equal(ag_backward(t, ag_sse(t, h, target)), 0);
    assert_null(ag_tape_error(t));
    for (int i = 0; i < H * H; i++) {
        double sum = 0;
        for (int k = 1; k < T; k++) sum += copies[k]->grad[i]; /* step 0 has no h: W unused */
        assert_true(copies[0]->grad[i] == 0.0f);
        assert_float_equal(net.W->grad[i], sum, 1e-5 * fmax(1.0, fabs(sum)));
    }
    for (int k = 0; k < T; k++) ag_tensor_free(copies[k]);
    ag_tape_free(t);
    nn_params_free(ps);
}

/* nn_recurrent_unfold records what T calls of nn_recurrent_step record: the same states, and
 * with NN_COPIES_SUM the same gradients, which are the sums over T separate copies of W, U, b.
 * With NN_COPIES_AVERAGE the forward pass is bit for bit the same and each weight's gradient is
 * that sum divided by its number of copies (W: T - 1 with the zero start state, U: the steps with
 * an input, b: T). */
static void test_unfold_sums_or_averages_the_copies(void **state) {
    (void)state;
    enum { B = 3, I = 2, H = 4, T = 5 };
    nn_params *ps = nn_params_new();
    nn_rng r = nn_rng_seed(21);
    nn_recurrent net = nn_recurrent_new(ps, "rnn", I, H, NN_SIGMOID, nn_init_uniform(0.8), &r);
    ag_tensor *Wc[T], *Uc[T], *bc[T];
    for (int k = 0; k < T; k++) {
        Wc[k] = ag_tensor_from(2, (const int[]){H, H}, net.W->data, true);
        Uc[k] = ag_tensor_from(2, (const int[]){I, H}, net.U->data, true);
        bc[k] = ag_tensor_from(2, (const int[]){1, H}, net.b->data, true);
    }
    ag_tape *t = ag_tape_new();
    tu_rng tr = {9};
    ag_tensor *xs[T], *ds[T];
    for (int k = 0; k < T; k++) {
        xs[k] = k == 1 || k == 3 ? NULL : tu_const(t, &tr, 2, (const int[]){B, I}, -1, 1);
        ds[k] = k == 0 ? NULL : tu_const(t, &tr, 2, (const int[]){B, H}, 0, 1);
    }
    /* T separate copies, step by step: the reference */
    ag_tensor *h = NULL, *ref[T];
    for (int k = 0; k < T; k++) {
        nn_recurrent copy = {Wc[k], Uc[k], bc[k], NN_SIGMOID};
        h = ref[k] = nn_recurrent_step(t, &copy, h, xs[k]);
    }
    assert_int_equal(ag_backward(t, nn_sse_steps(t, ref, ds, T, 0.0)), 0);
    const int nW = T - 1, nU = 3, nb = T;
    for (int rule = 0; rule < 2; rule++) {
        nn_zero_grad(ps);
        ag_tensor *states[T];
        nn_copies copies = rule ? NN_COPIES_AVERAGE : NN_COPIES_SUM;
        ag_tensor *last = nn_recurrent_unfold(t, &net, NULL, xs, T, copies, states);
        assert_ptr_equal(last, states[T - 1]);
        assert_int_equal(ag_backward(t, nn_sse_steps(t, states, ds, T, 0.0)), 0);
        assert_null(ag_tape_error(t));
        for (int k = 0; k < T; k++)
            for (int i = 0; i < B * H; i++) assert_true(states[k]->data[i] == ref[k]->data[i]);
        struct { ag_tensor *w, **c; int n; } sets[3] = {{net.W, Wc, nW}, {net.U, Uc, nU}, {net.b, bc, nb}};
        for (int p = 0; p < 3; p++)
            for (int i = 0; i < sets[p].w->numel; i++) {
                double sum = 0;
                for (int k = 0; k < T; k++) sum += sets[p].c[k]->grad[i];
                double want = rule ? sum / sets[p].n : sum;
                assert_float_equal(sets[p].w->grad[i], want, 1e-5 * fmax(1.0, fabs(want)));
            }
    }
    for (int k = 0; k < T; k++) {
        ag_tensor_free(Wc[k]);
        ag_tensor_free(Uc[k]);
        ag_tensor_free(bc[k]);
    }
    ag_tape_free(t);
    nn_params_free(ps);
}

/* Targets at some steps only: the error is the sum of the per-step errors where there is a
 * target, with or without the margin. */
static void test_sse_steps_sums_where_targets_are(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    tu_rng tr = {4};
    ag_tensor *ys[3], *ds[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3; k++) ys[k] = tu_const(t, &tr, 2, (const int[]){2, 3}, 0, 1);
    ds[1] = tu_const(t, &tr, 2, (const int[]){2, 3}, 0, 1);
    ds[2] = tu_const(t, &tr, 2, (const int[]){2, 3}, 0, 1);
    double want = ag_item(ag_sse(t, ys[1], ds[1])) + ag_item(ag_sse(t, ys[2], ds[2]));
    assert_float_equal(ag_item(nn_sse_steps(t, ys, ds, 3, 0.0)), want, 1e-6);
    want = ag_item(nn_sse_margin(t, ys[1], ds[1], 0.2)) + ag_item(nn_sse_margin(t, ys[2], ds[2], 0.2));
    assert_float_equal(ag_item(nn_sse_steps(t, ys, ds, 3, 0.2)), want, 1e-6);
    assert_null(ag_tape_error(t));
    ag_tensor *none[3] = {NULL, NULL, NULL};
    nn_sse_steps(t, ys, none, 3, 0.0);
    tu_assert_error(t, "sse steps: no step among the 3 has a target");
    ag_tape_reset(t); /* every tape tensor above is gone: make new ones */
    for (int k = 0; k < 3; k++) {
        ys[k] = k == 2 ? NULL : tu_const(t, &tr, 2, (const int[]){2, 3}, 0, 1);
        ds[k] = k == 0 ? NULL : tu_const(t, &tr, 2, (const int[]){2, 3}, 0, 1);
    }
    nn_sse_steps(t, ys, ds, 3, 0.0);
    tu_assert_error(t, "sse steps: step 3 has a target but no output");
    ag_tape_free(t);
}

/* The Elman net: y(k) = g(h(k) V + c) at every step, h from the recurrent layer; the readout's
 * gradient is also the sum over its T copies. */
static void test_elman_reads_out_every_step(void **state) {
    (void)state;
    enum { B = 2, I = 3, H = 5, O = 2, T = 4 };
    nn_params *ps = nn_params_new();
    nn_rng r = nn_rng_seed(5);
    nn_elman e = nn_elman_new(ps, "el", I, H, O, NN_TANH, NN_SIGMOID, nn_init_uniform(0.5), &r);
    assert_non_null(e.rec.W);
    assert_non_null(nn_params_find(ps, "el.out.W"));
    assert_non_null(nn_params_find(ps, "el.out.b"));
    assert_int_equal(nn_params_count(ps), 5);
    ag_tape *t = ag_tape_new();
    tu_rng tr = {6};
    ag_tensor *xs[T], *ys[T], *hs[T];
    for (int k = 0; k < T; k++) xs[k] = tu_const(t, &tr, 2, (const int[]){B, I}, -1, 1);
    ag_tensor *last = nn_elman_forward(t, &e, NULL, xs, T, NN_COPIES_SUM, ys, hs);
    assert_null(ag_tape_error(t));
    assert_ptr_equal(last, ys[T - 1]);
    for (int k = 0; k < T; k++) {
        tu_assert_shape(ys[k], 2, (const int[]){B, O});
        ag_tensor *want = nn_dense_forward(t, &e.out, hs[k]);
        for (int i = 0; i < B * O; i++) assert_float_equal(ys[k]->data[i], want->data[i], 1e-7);
    }
    /* readout gradient = sum over steps of the per-step readout gradients */
    assert_int_equal(ag_backward(t, ag_sum(t, ag_concat(t, ys, T, 0))), 0);
    double gc = 0;
    for (int k = 0; k < T; k++)
        for (int i = 0; i < B * O; i++) {
            double y = ys[k]->data[i];
            gc += y * (1 - y); /* d sum(y) / dc for a sigmoid readout */
        }
    assert_float_equal(e.out.b->grad[0] + e.out.b->grad[1], gc, 1e-5);
    /* errors name the function */
    ag_tape_reset(t);
    nn_elman_forward(t, &e, NULL, xs, T, NN_COPIES_SUM, NULL, NULL);
    tu_assert_error(t, "elman: ys is NULL");
    ag_tape_reset(t);
    nn_recurrent_unfold(t, &e.rec, NULL, NULL, 0, NN_COPIES_SUM, NULL);
    tu_assert_error(t, "recurrent unfold: 0 steps");
    ag_tape_reset(t);
    nn_recurrent_unfold(t, &e.rec, NULL, NULL, 2, (nn_copies)7, NULL);
    tu_assert_error(t, "recurrent unfold: unknown rule");
    ag_tape_reset(t);
    nn_recurrent bad = {NULL, NULL, NULL, NN_SIGMOID};
    nn_recurrent_unfold(t, &bad, NULL, NULL, 2, NN_COPIES_SUM, NULL);
    tu_assert_error(t, "recurrent unfold: layer has no weights");
    ag_tape_free(t);
    nn_params_free(ps);
}

static void test_margin_loss(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *y = ag_tensor_from(1, (const int[]){4}, (const float[]){0.9f, 0.7f, 0.1f, 0.3f}, true);
    ag_tensor *d = ag_tape_tensor(t, 1, (const int[]){4}, (const float[]){1, 1, 0, 0});
    ag_tensor *E = nn_sse_margin(t, y, d, 0.2);
    /* 0.9 (on, > 0.8) and 0.1 (off, < 0.2) count as zero error */
    assert_float_equal(ag_item(E), 0.5 * (0.3 * 0.3 + 0.3 * 0.3), 1e-6);
    assert_int_equal(ag_backward(t, E), 0);
    const float want[4] = {0, -0.3f, 0, 0.3f};
    tu_assert_values(&(ag_tensor){.data = y->grad, .numel = 4}, want, 4, 1e-6);
    ag_tape_reset(t);
    nn_sse_margin(t, y, ag_tape_tensor(t, 1, (const int[]){3}, NULL), 0.2);
    tu_assert_error(t, "sse: prediction (4) and target (3) differ in shape");
    ag_tensor_free(y);
    ag_tape_free(t);
}

/* The paper's rule by hand, for one weight w with gradient g(t) = w(t) (E = w^2 / 2):
 *   dw(t) = -eps g(t) + alpha dw(t-1);  w(t+1) = (1 - decay) (w(t) + dw(t))
 * with eps and alpha switching at step 2 (the schedule). */
static void test_sgd_matches_the_paper_formula(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    ag_tensor *w = nn_param_new(ps, "w", 1, (const int[]){1});
    w->data[0] = 1.0f;
    nn_optim *o = nn_sgd_new(ps, 0.005, 0.5);
    nn_optim_set_weight_decay(o, 0.002);
    nn_optim_schedule(o, 2, 0.01, 0.9);
    ag_tape *t = ag_tape_new();
    double wd = 1.0, dw = 0.0;
    for (int step = 0; step < 5; step++) {
        assert_int_equal(ag_backward(t, ag_scale(t, ag_square(t, w), 0.5)), 0);
        assert_float_equal(w->grad[0], wd, 1e-6);
        assert_int_equal(nn_optim_step(o, t), 0);
        double eps = step < 2 ? 0.005 : 0.01, alpha = step < 2 ? 0.5 : 0.9;
        dw = -eps * wd + alpha * dw;
        wd = (1 - 0.002) * (wd + dw);
        assert_float_equal(w->data[0], wd, 1e-6);
        assert_true(w->grad[0] == 0.0f); /* the step zeroes the gradients */
        ag_tape_reset(t);
    }
    assert_int_equal(nn_optim_steps(o), 5);
    assert_float_equal(nn_optim_lr(o), 0.01, 0);
    assert_float_equal(nn_optim_momentum(o), 0.9, 0);
    nn_optim_free(o);
    ag_tape_free(t);
    nn_params_free(ps);
}

static void test_adam_matches_a_hand_computation(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    ag_tensor *w = nn_param_new(ps, "w", 1, (const int[]){1});
    w->data[0] = 2.0f;
    nn_optim *o = nn_adam_new(ps, 0.1);
    double m = 0, v = 0, wd = 2.0;
    for (int step = 1; step <= 3; step++) {
        double g = 3.0 * step;
        w->grad[0] = (float)g;
        assert_int_equal(nn_optim_step(o, NULL), 0);
        m = 0.9 * m + 0.1 * g;
        v = 0.999 * v + 0.001 * g * g;
        wd -= 0.1 * (m / (1 - pow(0.9, step))) / (sqrt(v / (1 - pow(0.999, step))) + 1e-8);
        assert_float_equal(w->data[0], wd, 1e-5);
    }
    nn_optim_free(o);
    nn_params_free(ps);
}

static void test_refused_steps_change_no_weight(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    ag_tensor *w = nn_param_new(ps, "w", 1, (const int[]){2});
    w->data[0] = 1;
    w->data[1] = 2;
    w->grad[0] = 0.5f;
    nn_optim *o = nn_sgd_new(ps, 0.1, 0.9);
    ag_tape *t = ag_tape_new();
    ag_matmul(t, ag_scalar(t, 1), ag_scalar(t, 2)); /* fail the tape */
    assert_int_equal(nn_optim_step(o, t), -1);
    assert_non_null(strstr(nn_error(t), "matmul"));
    w->grad[1] = NAN;
    assert_int_equal(nn_optim_step(o, NULL), -1);
    assert_non_null(strstr(nn_error(NULL), "gradient of w holds NaN at element 1"));
    assert_true(w->data[0] == 1 && w->data[1] == 2 && w->grad[0] == 0.5f);
    w->grad[1] = 0;
    nn_param_new(ps, "late", 1, (const int[]){1});
    assert_int_equal(nn_optim_step(o, NULL), -1);
    assert_non_null(strstr(nn_error(NULL), "parameter list changed"));
    assert_true(w->data[0] == 1);
    assert_int_equal(nn_optim_steps(o), 0);
    assert_int_equal(nn_optim_step(NULL, NULL), -1);
    assert_null(nn_sgd_new(NULL, 0.1, 0.9));
    nn_optim_free(o);
    ag_tape_free(t);
    nn_params_free(ps);
}

/* ---- creation is all or nothing ------------------------------------------------------------- */

/* The names in ps, joined by spaces, into buf: what a failed creation must leave unchanged. */
static const char *param_names(const nn_params *ps, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < nn_params_count(ps) && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s ", nn_params_at(ps, i)->name);
    return buf;
}

/* A constructor that fails leaves the list (names and count), the generator and any optimiser
 * already made on the list exactly as they were; a retry under the same name then succeeds. */
static void test_failed_creation_leaves_nothing(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    nn_rng r = nn_rng_seed(11);
    ag_tensor *w = nn_param_new(ps, "w", 1, (const int[]){1});
    nn_optim *opt = nn_sgd_new(ps, 0.1, 0.0);
    assert_non_null(opt);
    const nn_init nan_init = nn_init_uniform(NAN), ok = nn_init_uniform(0.3);
    char before[512], after[512];
    param_names(ps, before, sizeof before);
    const uint64_t rng_before = r.state;
#define EXPECT_UNCHANGED(why)                                                                 \
    do {                                                                                      \
        assert_non_null(strstr(ag_last_error(), why));                                        \
        assert_string_equal(param_names(ps, after, sizeof after), before);                    \
        assert_true(r.state == rng_before);                                                   \
    } while (0)

    /* dense: the init fails on W; the second parameter's name is taken */
    nn_dense d = nn_dense_new(ps, "d", 2, 2, NN_TANH, nan_init, &r);
    assert_null(d.W);
    assert_null(d.b);
    EXPECT_UNCHANGED("uniform range");
    /* recurrent: the init fails on W; the input size fails U after W was made */
    nn_recurrent rec = nn_recurrent_new(ps, "r", 2, 3, NN_TANH, nan_init, &r);
    assert_null(rec.W);
    EXPECT_UNCHANGED("uniform range");
    rec = nn_recurrent_new(ps, "r", 0, 3, NN_TANH, ok, &r);
    assert_null(rec.W);
    assert_null(rec.U);
    assert_null(rec.b);
    EXPECT_UNCHANGED("nn_param_new 'r.U'");
    /* mlp: the second layer fails after the first was made */
    nn_mlp m = nn_mlp_new(ps, "m", "2-3-2", NN_TANH, NN_IDENTITY, nan_init, &r);
    assert_int_equal(m.nlayers, 0);
    EXPECT_UNCHANGED("uniform range");
    /* elman: the readout's name is too long after the recurrent part was made */
    char longname[64];
    memset(longname, 'e', 60);
    longname[60] = '\0';
    nn_elman el = nn_elman_new(ps, longname, 2, 3, 1, NN_TANH, NN_SIGMOID, ok, &r);
    assert_null(el.rec.W);
    assert_null(el.out.W);
    EXPECT_UNCHANGED("too long");
    el = nn_elman_new(ps, "el", 2, 3, 0, NN_TANH, NN_SIGMOID, ok, &r);
    assert_null(el.rec.W);
    EXPECT_UNCHANGED("nn_param_new 'el.out.W'");

    /* the optimiser made before still steps: the list did not change */
    w->grad[0] = 1.0f;
    assert_int_equal(nn_optim_step(opt, NULL), 0);
    nn_optim_free(opt);

    /* a name taken by a later parameter of the layer: every part made before it goes too */
    assert_non_null(nn_param_new(ps, "d.b", 1, (const int[]){1}));
    assert_non_null(nn_param_new(ps, "r.b", 1, (const int[]){1}));
    assert_non_null(nn_param_new(ps, "m.2.W", 1, (const int[]){1}));
    assert_non_null(nn_param_new(ps, "el.out.b", 1, (const int[]){1}));
    param_names(ps, before, sizeof before);
    d = nn_dense_new(ps, "d", 2, 2, NN_TANH, ok, &r);
    assert_null(d.W);
    EXPECT_UNCHANGED("'d.b' already exists");
    rec = nn_recurrent_new(ps, "r", 2, 3, NN_TANH, ok, &r);
    assert_null(rec.W);
    EXPECT_UNCHANGED("'r.b' already exists");
    m = nn_mlp_new(ps, "m", "2-3-2", NN_TANH, NN_IDENTITY, ok, &r);
    assert_int_equal(m.nlayers, 0);
    EXPECT_UNCHANGED("'m.2.W' already exists");
    el = nn_elman_new(ps, "el", 2, 3, 1, NN_TANH, NN_SIGMOID, ok, &r);
    assert_null(el.rec.W);
    EXPECT_UNCHANGED("'el.out.b' already exists");
#undef EXPECT_UNCHANGED


    /* the same names are free again: a retry succeeds */
    d = nn_dense_new(ps, "d2", 2, 2, NN_TANH, ok, &r);
    assert_non_null(d.W);
    d = nn_dense_new(ps, "d", 2, 2, NN_TANH, ok, &r);
    assert_null(d.W); /* d.b still taken (by the parameter made by hand) */
    rec = nn_recurrent_new(ps, "r2", 2, 3, NN_TANH, ok, &r);
    assert_non_null(rec.W);
    m = nn_mlp_new(ps, "m", "2-3", NN_TANH, NN_IDENTITY, ok, &r);
    assert_int_equal(m.nlayers, 1);
    el = nn_elman_new(ps, "el2", 2, 3, 1, NN_TANH, NN_SIGMOID, ok, &r);
    assert_non_null(el.rec.W);
    assert_non_null(el.out.W);
    nn_params_free(ps);

    /* the case: the first attempt fails, the retry under the same name succeeds */
    ps = nn_params_new();
    d = nn_dense_new(ps, "d", 2, 2, NN_TANH, nan_init, &r);
    assert_null(d.W);
    assert_int_equal(nn_params_count(ps), 0);
    d = nn_dense_new(ps, "d", 2, 2, NN_TANH, ok, &r);
    assert_non_null(d.W);
    assert_int_equal(nn_params_count(ps), 2);
    rec = nn_recurrent_new(ps, "r", 2, 2, NN_TANH, nan_init, &r);
    assert_int_equal(nn_params_count(ps), 2);
    rec = nn_recurrent_new(ps, "r", 2, 2, NN_TANH, ok, &r);
    assert_non_null(rec.W);
    m = nn_mlp_new(ps, "m", "2-2-2", NN_TANH, NN_TANH, nan_init, &r);
    assert_int_equal(nn_params_count(ps), 5);
    m = nn_mlp_new(ps, "m", "2-2-2", NN_TANH, NN_TANH, ok, &r);
    assert_int_equal(m.nlayers, 2);
    el = nn_elman_new(ps, "el", 2, 2, 2, NN_TANH, NN_TANH, nan_init, &r);
    assert_int_equal(nn_params_count(ps), 9);
    el = nn_elman_new(ps, "el", 2, 2, 2, NN_TANH, NN_TANH, ok, &r);
    assert_non_null(el.rec.W);
    assert_int_equal(nn_params_count(ps), 14);
    nn_params_free(ps);
}

/* Sizes whose products or sums pass INT_MAX: computed without overflow (the initialisation's
 * fan_in + fan_out), or refused with the numbers named. */
static void test_sizes_past_int_max(void **state) {
    (void)state;
    nn_rng r = nn_rng_seed(2);
    ag_tensor *w = ag_tensor_2d(4, 5, true);
    /* Xavier with fans whose sum overflows an int: s = sqrt(6 / (2 (2^31 - 1))) ~ 3.74e-5 */
    assert_int_equal(nn_init_fill(w, nn_init_xavier(), INT_MAX, INT_MAX, false, &r), 0);
    const double s = sqrt(6.0 / (2.0 * INT_MAX));
    float mx = 0;
    for (int i = 0; i < w->numel; i++) mx = fmaxf(mx, fabsf(w->data[i]));
    assert_true(mx <= s && mx > 0.5 * s);
    assert_int_equal(nn_init_fill(w, nn_init_xavier(), INT_MAX, 1, false, &r), 0);
    mx = 0;
    for (int i = 0; i < w->numel; i++) mx = fmaxf(mx, fabsf(w->data[i]));
    assert_true(mx <= sqrt(6.0 / (INT_MAX + 1.0)) && mx > 0.5 * sqrt(6.0 / (INT_MAX + 1.0)));
    ag_tensor_free(w);

    /* layers whose weight matrices would hold more than AG_MAX_NUMEL elements */
    nn_params *ps = nn_params_new();
    nn_dense d = nn_dense_new(ps, "big", 65536, 65536, NN_TANH, nn_init_he(), &r);
    assert_null(d.W);
    assert_non_null(strstr(ag_last_error(),
                           "nn_dense_new 'big.W': 65536 x 65536 = 4294967296 elements: absurd size"));
    nn_recurrent rec = nn_recurrent_new(ps, "rec", 3, 50000, NN_TANH, nn_init_he(), &r);
    assert_null(rec.W);
    assert_non_null(strstr(ag_last_error(),
                           "nn_recurrent_new 'rec.W': 50000 x 50000 = 2500000000 elements"));
    rec = nn_recurrent_new(ps, "rec", 1000000, 3000, NN_TANH, nn_init_he(), &r);
    assert_null(rec.W);
    assert_non_null(strstr(ag_last_error(),
                           "nn_recurrent_new 'rec.U': 1000000 x 3000 = 3000000000 elements"));
    nn_mlp m = nn_mlp_new(ps, "m", "3-1000000-1000000", NN_TANH, NN_TANH, nn_init_he(), &r);
    assert_int_equal(m.nlayers, 0);
    assert_non_null(strstr(ag_last_error(), "nn_mlp_new: layer 2: nn_dense_new 'm.2.W': 1000000 x "
                                            "1000000 = 1000000000000 elements: absurd size"));
    nn_elman e = nn_elman_new(ps, "e", 2, 2, 1100000000, NN_TANH, NN_TANH, nn_init_he(), &r);
    assert_null(e.rec.W);
    assert_non_null(strstr(ag_last_error(), "nn_elman_new 'e': readout: nn_dense_new 'e.out.W': 2 x "
                                            "1100000000 = 2200000000 elements: absurd size"));
    e = nn_elman_new(ps, "e", 2, 60000, 1, NN_TANH, NN_TANH, nn_init_he(), &r);
    assert_null(e.rec.W);
    assert_non_null(strstr(ag_last_error(), "nn_elman_new 'e': nn_recurrent_new 'e.W': 60000 x 60000"));
    assert_int_equal(nn_params_count(ps), 0);
    nn_params_free(ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_is_deterministic_and_uniform),
        cmocka_unit_test(test_initialisation_ranges),
        cmocka_unit_test(test_parameter_list),
        cmocka_unit_test(test_dense_layer_computes_f_of_xW_plus_b),
        cmocka_unit_test(test_mlp_from_sizes),
        cmocka_unit_test(test_recurrent_gradient_is_sum_over_copies),
        cmocka_unit_test(test_unfold_sums_or_averages_the_copies),
        cmocka_unit_test(test_sse_steps_sums_where_targets_are),
        cmocka_unit_test(test_elman_reads_out_every_step),
        cmocka_unit_test(test_margin_loss),
        cmocka_unit_test(test_sgd_matches_the_paper_formula),
        cmocka_unit_test(test_adam_matches_a_hand_computation),
        cmocka_unit_test(test_refused_steps_change_no_weight),
        cmocka_unit_test(test_failed_creation_leaves_nothing),
        cmocka_unit_test(test_sizes_past_int_max),
    };
    return cmocka_run_group_tests_name("nn", tests, NULL, NULL);
}
