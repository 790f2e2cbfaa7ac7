/*
 * badinput/nn_layers.c -- part of tests/test_badinput.c (one suite, one process: see there): the
 * nn layers against bad input: dense layers and MLPs, unfolded recurrent runs, the convolution
 * layer, the gated cells, dropout and layer normalisation.
 */
#define _POSIX_C_SOURCE 200809L
#include "badinput.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void test_layers(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(1);
    nn_init u = nn_init_uniform(0.3);
    char name62[70];
    memset(name62, 'a', 62);
    name62[62] = '\0';
    struct { nn_params *ps; const char *name; nn_act act; nn_rng *rng; const char *why; } dcases[] = {
        {NULL, "a", NN_SIGMOID, &rng, "parameter list is NULL"},
        {ps, NULL, NN_SIGMOID, &rng, "name is NULL"},
        {ps, "a", (nn_act)42, &rng, "unknown activation"},
        {ps, "a", NN_SIGMOID, NULL, "rng is NULL"},
        {ps, name62, NN_SIGMOID, &rng, "is too long (63 characters at most)"},
    };
    for (int k = 0; k < 5; k++) {
        nn_dense d = nn_dense_new(dcases[k].ps, dcases[k].name, 3, 2, dcases[k].act, u, dcases[k].rng);
        assert_true(!d.W && !d.b);
        expect_last(dcases[k].why);
        nn_recurrent r = nn_recurrent_new(dcases[k].ps, dcases[k].name, 3, 2, dcases[k].act, u, dcases[k].rng);
        assert_true(!r.W && !r.U && !r.b);
        expect_last(dcases[k].why);
    }
    assert_int_equal(nn_params_count(ps), 0);
    const char *sizes[] = {NULL, "", "6", "6-", "-6-2", "6--2", "a-b", "0-1", "6-2-1x", "6 2",
                           "99999999999-1", "1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16-17-18"};
    for (int k = 0; k < 12; k++) {
        nn_mlp m = nn_mlp_new(ps, "m", sizes[k], NN_SIGMOID, NN_SIGMOID, u, &rng);
        assert_int_equal(m.nlayers, 0);
        expect_last("nn_mlp_new: sizes must look like \"6-2-1\"");
    }
    nn_mlp m = nn_mlp_new(ps, NULL, "2-1", NN_SIGMOID, NN_SIGMOID, u, &rng);
    assert_int_equal(m.nlayers, 0);
    expect_last("nn_mlp_new: name is NULL");
    assert_int_equal(nn_params_count(ps), 0);
    /* forward through layers whose creation failed, or that were never made */
    nn_dense empty = {NULL, NULL, NN_SIGMOID};
    expect_tape(T, nn_dense_forward(T, &empty, tt(T, 2, 3)), "dense: layer has no weights (its creation failed)");
    expect_tape(T, nn_dense_forward(T, NULL, tt(T, 2, 3)), "dense: layer is NULL");
    nn_mlp none;
    memset(&none, 0, sizeof none);
    expect_tape(T, nn_mlp_forward(T, &none, tt(T, 2, 3)), "mlp: net has no layers (its creation failed)");
    expect_tape(T, nn_mlp_forward(T, NULL, tt(T, 2, 3)), "mlp: net is NULL");
    none.nlayers = 1000; /* a corrupted struct is refused, not read past its end */
    expect_tape(T, nn_mlp_forward(T, &none, tt(T, 2, 3)), "mlp: net has 1000 layers (at most 16)");
    nn_recurrent rnone = {NULL, NULL, NULL, NN_TANH};
    expect_tape(T, nn_recurrent_step(T, &rnone, NULL, tt(T, 2, 3)), "recurrent: layer has no weights");
    expect_tape(T, nn_recurrent_step(T, NULL, NULL, tt(T, 2, 3)), "recurrent: layer is NULL");
    /* activations */
    expect_tape(T, BAD(nn_activate, (T, tt(T, 2, 2), (nn_act)-7)), "activate: unknown activation -7");
    expect_tape(T, nn_activate(T, NULL, NN_IDENTITY), "activate: input is NULL");
    ag_tensor *x = tt(T, 2, 2);
    ag_tape_fail(T, "earlier");
    expect_tape(T, nn_activate(T, x, NN_IDENTITY), "earlier");
    assert_string_equal(BAD(nn_act_name, ((nn_act)99)), "unknown");
    assert_string_equal(nn_act_name((nn_act)-1), "unknown");
    nn_params_free(ps);
}

/* The unfolded runs (nn_recurrent_unfold, the Elman net) and the error over steps. */
void test_unfolded_runs(void **state) {
    (void)state;
    ag_tensor *ys[3] = {NULL}, *ds[3] = {NULL}, *xs[3];
    for (int k = 0; k < 3; k++) xs[k] = tt(T, 2, 3);
    nn_recurrent none = {NULL, NULL, NULL, NN_TANH};
    expect_tape(T, BAD(nn_recurrent_unfold, (T, NULL, NULL, xs, 3, NN_COPIES_SUM, NULL)),
                "recurrent unfold: layer is NULL");
    expect_tape(T, BAD(nn_recurrent_unfold, (T, &none, NULL, xs, 3, NN_COPIES_SUM, NULL)),
                "recurrent unfold: layer has no weights");
    const int steps[] = {0, -1, INT_MIN};
    for (int k = 0; k < 3; k++)
        expect_tape(T, BAD(nn_recurrent_unfold, (T, &REC, NULL, xs, steps[k], NN_COPIES_SUM, NULL)),
                    "recurrent unfold: ");
    for (int k = 0; k < 3; k++) xs[k] = tt(T, 2, 3);
    expect_tape(T, BAD(nn_recurrent_unfold, (T, &REC, NULL, xs, 3, (nn_copies)7, NULL)),
                "recurrent unfold: unknown rule for the copies' gradients (7)");
    for (int k = 0; k < 3; k++) xs[k] = tt(T, 2, 4); /* the layer takes 3 inputs */
    expect_tape(T, BAD(nn_recurrent_unfold, (T, &REC, NULL, xs, 3, NN_COPIES_AVERAGE, NULL)),
                "matmul: (2,4) @ (3,2): inner dimensions differ");
    expect_tape(T, BAD(nn_recurrent_unfold, (T, &REC, NULL, NULL, 2, NN_COPIES_SUM, NULL)),
                "recurrent: a step needs a state h or an input x (both NULL)");
    assert_null(BAD(nn_recurrent_unfold, (NULL, &REC, NULL, xs, 3, NN_COPIES_SUM, NULL)));
    expect_tape(F, nn_recurrent_unfold(F, &REC, NULL, xs, 3, NN_COPIES_SUM, NULL), "the first error");

    /* the Elman net: creation, then runs */
    nn_rng rng = nn_rng_seed(4);
    nn_elman bad = BAD(nn_elman_new, (PS, "e", 3, 0, 2, NN_TANH, NN_SIGMOID, nn_init_he(), &rng));
    assert_null(bad.rec.W);
    expect_last("dimension 0 is 0");
    bad = BAD(nn_elman_new, (PS, "e", 3, 2, -2, NN_TANH, NN_SIGMOID, nn_init_he(), &rng));
    assert_null(bad.rec.W);
    bad = BAD(nn_elman_new, (NULL, "e", 3, 2, 2, NN_TANH, NN_SIGMOID, nn_init_he(), &rng));
    assert_null(bad.rec.W);
    bad = BAD(nn_elman_new, (PS, NULL, 3, 2, 2, NN_TANH, NN_SIGMOID, nn_init_he(), &rng));
    assert_null(bad.rec.W);
    bad = BAD(nn_elman_new, (PS, "elman", 3, 2, 2, NN_TANH, NN_SIGMOID, nn_init_he(), NULL));
    assert_null(bad.rec.W);
    char longname[80];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    bad = BAD(nn_elman_new, (PS, longname, 3, 2, 2, NN_TANH, NN_SIGMOID, nn_init_he(), &rng));
    assert_null(bad.rec.W);
    nn_elman ok = nn_elman_new(PS, "elman", 3, 2, 2, NN_TANH, NN_SIGMOID, nn_init_he(), &rng);
    assert_non_null(ok.rec.W);
    for (int k = 0; k < 3; k++) xs[k] = tt(T, 2, 3);
    expect_tape(T, BAD(nn_elman_forward, (T, NULL, NULL, xs, 3, NN_COPIES_SUM, ys, NULL)),
                "elman: net is NULL");
    expect_tape(T, BAD(nn_elman_forward, (T, &ok, NULL, xs, 3, NN_COPIES_SUM, NULL, NULL)),
                "elman: ys is NULL");
    expect_tape(T, BAD(nn_elman_forward, (T, &ok, NULL, xs, 0, NN_COPIES_SUM, ys, NULL)),
                "elman: 0 steps; at least 1 is needed");
    expect_tape(T, BAD(nn_elman_forward, (T, &bad, NULL, xs, 3, NN_COPIES_SUM, ys, NULL)),
                "elman: layer has no weights");
    nn_elman half = ok;
    half.out.W = NULL;
    for (int k = 0; k < 3; k++) xs[k] = tt(T, 2, 3);
    expect_tape(T, BAD(nn_elman_forward, (T, &half, NULL, xs, 3, NN_COPIES_SUM, ys, NULL)),
                "elman: the readout has no weights");
    for (int k = 0; k < 3; k++) xs[k] = tt(T, 2, 3);
    expect_tape(T, BAD(nn_elman_forward, (T, &ok, tt(T, 2, 5), xs, 3, NN_COPIES_SUM, ys, NULL)),
                "matmul: (2,5) @ (2,2): inner dimensions differ");
    assert_null(BAD(nn_elman_forward, (NULL, &ok, NULL, xs, 3, NN_COPIES_SUM, ys, NULL)));
    ag_tape_fail(F, "the first error");
    expect_tape(F, nn_elman_forward(F, &ok, NULL, xs, 3, NN_COPIES_SUM, ys, NULL), "the first error");

    /* the error over steps */
    for (int k = 0; k < 3; k++) ys[k] = tt(T, 2, 2), ds[k] = NULL;
    expect_tape(T, BAD(nn_sse_steps, (T, NULL, ds, 3, 0)), "sse steps: ys is NULL");
    expect_tape(T, BAD(nn_sse_steps, (T, ys, NULL, 3, 0)), "sse steps: ds is NULL");
    expect_tape(T, BAD(nn_sse_steps, (T, ys, ds, 0, 0)), "sse steps: no steps (T < 1)");
    for (int k = 0; k < 3; k++) ys[k] = tt(T, 2, 2);
    expect_tape(T, BAD(nn_sse_steps, (T, ys, ds, 3, 0)), "sse steps: no step among the 3 has a target");
    for (int k = 0; k < 3; k++) ys[k] = tt(T, 2, 2);
    ds[1] = tt(T, 2, 2);
    ys[1] = NULL;
    expect_tape(T, BAD(nn_sse_steps, (T, ys, ds, 3, 0.2)), "sse steps: step 2 has a target but no output");
    for (int k = 0; k < 3; k++) ys[k] = tt(T, 2, 2);
    ds[1] = tt(T, 1, 4);
    expect_tape(T, BAD(nn_sse_steps, (T, ys, ds, 3, 0)), "sse: prediction (2,2) and target (1,4) differ in shape");
    assert_null(BAD(nn_sse_steps, (NULL, ys, ds, 3, 0)));
    ag_tape_fail(F, "the first error");
    expect_tape(F, nn_sse_steps(F, ys, ds, 3, 0), "the first error");
}

/* The convolutional layer: creation refuses bad sizes all or nothing; its forward names what is
 * wrong (a missing layer, an input with the wrong channels, a kernel larger than the input). */
void test_conv_layer(void **state) {
    (void)state;
    nn_rng rng = nn_rng_seed(6);
    const nn_rng start = rng;
    const int count = nn_params_count(PS);
    char name62[70];
    memset(name62, 'a', 62);
    name62[62] = '\0';
    struct { nn_params *ps; const char *name; int in, out, k, stride, pad; nn_act act; nn_rng *rng;
             const char *why; } cases[] = {
        {NULL, "c", 1, 2, 3, 1, 0, NN_RELU, &rng, "parameter list is NULL"},
        {PS, NULL, 1, 2, 3, 1, 0, NN_RELU, &rng, "nn_conv2d_new: name is NULL"},
        {PS, "c", 1, 2, 3, 1, 0, NN_RELU, NULL, "nn_conv2d_new: rng is NULL"},
        {PS, "c", 1, 2, 3, 1, 0, (nn_act)7, &rng, "nn_conv2d_new: unknown activation"},
        {PS, "c", 0, 2, 3, 1, 0, NN_RELU, &rng, "channels in 0, out 2, kernel 3: each must be at least 1"},
        {PS, "c", 1, -2, 3, 1, 0, NN_RELU, &rng, "channels in 1, out -2, kernel 3"},
        {PS, "c", 1, 2, 0, 1, 0, NN_RELU, &rng, "channels in 1, out 2, kernel 0"},
        {PS, "c", 1, 2, 3, 0, 0, NN_RELU, &rng, "stride 0 must be >= 1 and padding 0 >= 0"},
        {PS, "c", 1, 2, 3, 1, -1, NN_RELU, &rng, "stride 1 must be >= 1 and padding -1 >= 0"},
        {PS, "c", 4096, 4096, 64, 1, 0, NN_RELU, &rng, "absurd size"},
        {PS, name62, 1, 2, 3, 1, 0, NN_RELU, &rng, "is too long (63 characters at most)"},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        nn_conv2d c = BAD(nn_conv2d_new, (cases[k].ps, cases[k].name, cases[k].in, cases[k].out,
                                          cases[k].k, cases[k].stride, cases[k].pad, cases[k].act,
                                          nn_init_he(), cases[k].rng));
        assert_true(!c.W && !c.b);
        expect_last(cases[k].why);
        assert_int_equal(nn_params_count(PS), count);
        assert_memory_equal(&rng, &start, sizeof rng);
    }
    /* a bad initialisation fails after W is made: it goes again */
    nn_init bad_init = {(nn_init_kind)9, 0};
    assert_null(nn_conv2d_new(PS, "c", 1, 2, 3, 1, 0, NN_RELU, bad_init, &rng).W);
    expect_last("unknown initialisation 9");
    assert_int_equal(nn_params_count(PS), count);
    assert_memory_equal(&rng, &start, sizeof rng);
    /* a name already in the list: refused, the first layer stays */
    assert_null(nn_conv2d_new(PS, "conv", 2, 3, 2, 1, 0, NN_RELU, nn_init_he(), &rng).W);
    assert_int_equal(nn_params_count(PS), count);

    nn_conv2d none = {NULL, NULL, 1, 0, NN_RELU};
    const int x4[4] = {2, 2, 3, 3};
    expect_tape(T, BAD(nn_conv2d_forward, (T, NULL, ag_tape_tensor(T, 4, x4, NULL))),
                "conv2d layer: layer is NULL");
    expect_tape(T, nn_conv2d_forward(T, &none, ag_tape_tensor(T, 4, x4, NULL)),
                "conv2d layer: layer has no weights (its creation failed)");
    expect_tape(T, nn_conv2d_forward(T, &CONV, ag_tape_tensor(T, 4, (const int[]){2, 3, 3, 3}, NULL)),
                "conv2d: input (2,3,3,3) has 3 channels but weight (3,2,2,2) takes 2");
    expect_tape(T, nn_conv2d_forward(T, &CONV, ag_tape_tensor(T, 4, (const int[]){2, 2, 1, 3}, NULL)),
                "conv2d: kernel 2x2 (dilation 1) is larger than the padded input 1x3");
    expect_tape(T, nn_conv2d_forward(T, &CONV, tt(T, 2, 3)), "conv2d: input (2,3) must be 4-D");
    ag_tensor *y = nn_conv2d_forward(T, &CONV, ag_tape_tensor(T, 4, x4, NULL));
    assert_null(ag_tape_error(T));
    assert_int_equal(y->ndim, 4);
    assert_int_equal(y->shape[0], 2);
    assert_int_equal(y->shape[1], 3);
    assert_int_equal(y->shape[2], 2);
    assert_int_equal(y->shape[3], 2);
    ag_tape_reset(T);
}

/* The gated cells (nn_lstm, nn_gru): creation, steps and unfolded runs. */
void test_gated_cells(void **state) {
    (void)state;
    nn_rng rng = nn_rng_seed(5);
    const nn_rng start = rng;
    const int count = nn_params_count(PS);
    char name62[70];
    memset(name62, 'a', 62);
    name62[62] = '\0';
    struct { nn_params *ps; const char *name; int in, hidden; nn_rng *rng; const char *why; } cases[] = {
        {NULL, "c", 3, 2, &rng, "parameter list is NULL"},
        {PS, NULL, 3, 2, &rng, ": name is NULL"},
        {PS, "c", 3, 2, NULL, ": rng is NULL"},
        {PS, "c", 0, 2, &rng, " 'c': sizes in 0, hidden 2: each must be at least 1"},
        {PS, "c", 3, -1, &rng, " 'c': sizes in 3, hidden -1: each must be at least 1"},
        {PS, "c", 3, INT_MAX, &rng, "absurd size"},
        {PS, "c", INT_MAX, 1 << 20, &rng, "absurd size"},
        {PS, name62, 3, 2, &rng, "is too long (63 characters at most)"},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        nn_lstm l = BAD(nn_lstm_new, (cases[k].ps, cases[k].name, cases[k].in, cases[k].hidden,
                                      nn_init_xavier(), cases[k].rng));
        assert_true(!l.W_ih && !l.W_hh && !l.b_ih && !l.b_hh);
        if (k != 0) expect_last("nn_lstm_new");
        expect_last(cases[k].why);
        nn_gru g = BAD(nn_gru_new, (cases[k].ps, cases[k].name, cases[k].in, cases[k].hidden,
                                    nn_init_xavier(), cases[k].rng));
        assert_true(!g.W_ih && !g.W_hh && !g.b_ih && !g.b_hh);
        if (k != 0) expect_last("nn_gru_new");
        expect_last(cases[k].why);
        assert_int_equal(nn_params_count(PS), count);
        assert_memory_equal(&rng, &start, sizeof rng);
    }
    /* a bad initialisation fails after the first parameter is made: it goes again */
    nn_init bad_init = {(nn_init_kind)9, 0};
    assert_null(nn_lstm_new(PS, "c", 3, 2, bad_init, &rng).W_ih);
    expect_last("unknown initialisation 9");
    assert_null(nn_gru_new(PS, "c", 3, 2, bad_init, &rng).W_ih);
    assert_int_equal(nn_params_count(PS), count);
    assert_memory_equal(&rng, &start, sizeof rng);
    /* a name already in the list: the second cell is refused, the first one stays */
    assert_null(nn_gru_new(PS, "lstm", 3, 2, nn_init_xavier(), &rng).W_ih);
    assert_int_equal(nn_params_count(PS), count);

    /* steps */
    nn_lstm lnone = {NULL, NULL, NULL, NULL};
    nn_gru gnone = {NULL, NULL, NULL, NULL};
    ag_tensor *c = tt(T, 1, 1);
    expect_tape(T, BAD(nn_lstm_step, (T, NULL, NULL, NULL, tt(T, 2, 3), &c)), "lstm: cell is NULL");
    assert_ptr_equal(c, ag_tape_poison(T)); /* c_out is always written */
    expect_tape(T, nn_lstm_step(T, &lnone, NULL, NULL, tt(T, 2, 3), &c),
                "lstm: cell has no weights (its creation failed)");
    expect_tape(T, nn_lstm_step(T, &LSTM, NULL, NULL, tt(T, 2, 3), NULL),
                "lstm: c_out is NULL (it receives the new cell state)");
    expect_tape(T, nn_lstm_step(T, &LSTM, NULL, NULL, NULL, &c), "lstm: input x is NULL (a step needs one)");
    expect_tape(T, nn_lstm_step(T, &LSTM, NULL, NULL, tt(T, 2, 4), &c), "lstm: input x (2,4) must be (B,3)");
    expect_tape(T, nn_lstm_step(T, &LSTM, tt(T, 2, 3), NULL, tt(T, 2, 3), &c),
                "lstm: state h (2,3) must be (2,2) for input x (2,3)");
    expect_tape(T, nn_lstm_step(T, &LSTM, tt(T, 2, 2), tt(T, 1, 2), tt(T, 2, 3), &c),
                "lstm: cell state c (1,2) must be (2,2) for input x (2,3)");
    assert_null(nn_lstm_step(NULL, &LSTM, NULL, NULL, tt(T, 2, 3), &c));
    assert_null(c);
    ag_tape_reset(T);
    ag_tape_fail(F, "the first error");
    expect_tape(F, nn_lstm_step(F, &LSTM, NULL, NULL, tt(T, 2, 3), &c), "the first error");
    expect_tape(T, BAD(nn_gru_step, (T, NULL, NULL, tt(T, 2, 3))), "gru: cell is NULL");
    expect_tape(T, nn_gru_step(T, &gnone, NULL, tt(T, 2, 3)), "gru: cell has no weights (its creation failed)");
    expect_tape(T, nn_gru_step(T, &GRU, NULL, NULL), "gru: input x is NULL (a step needs one)");
    expect_tape(T, nn_gru_step(T, &GRU, NULL, tt(T, 2, 2)), "gru: input x (2,2) must be (B,3)");
    expect_tape(T, nn_gru_step(T, &GRU, tt(T, 3, 2), tt(T, 2, 3)), "gru: state h (3,2) must be (2,2) for input x (2,3)");
    nn_gru swapped = {LSTM.W_ih, LSTM.W_hh, LSTM.b_ih, LSTM.b_hh}; /* an LSTM's weights */
    expect_tape(T, nn_gru_step(T, &swapped, NULL, tt(T, 2, 3)), "gru: cell's W_hh is not (H,3H)");
    assert_null(nn_gru_step(NULL, &GRU, NULL, tt(T, 2, 3)));
    ag_tape_fail(F, "the first error");
    expect_tape(F, nn_gru_step(F, &GRU, NULL, tt(T, 2, 3)), "the first error");

    /* unfolded runs */
    ag_tensor *xs[3], *states[3];
    for (int k = 0; k < 3; k++) xs[k] = tt(T, 2, 3);
    c = tt(T, 1, 1);
    expect_tape(T, BAD(nn_lstm_unfold, (T, NULL, NULL, NULL, xs, 3, states, &c)), "lstm unfold: cell is NULL");
    assert_ptr_equal(c, ag_tape_poison(T));
    expect_tape(T, nn_lstm_unfold(T, &LSTM, NULL, NULL, NULL, 3, states, &c),
                "lstm unfold: xs is NULL (it holds the T inputs)");
    const int steps[] = {0, -1, INT_MIN};
    for (int k = 0; k < 3; k++) {
        for (int j = 0; j < 3; j++) xs[j] = tt(T, 2, 3);
        expect_tape(T, nn_lstm_unfold(T, &LSTM, NULL, NULL, xs, steps[k], NULL, NULL), "lstm unfold: ");
        for (int j = 0; j < 3; j++) xs[j] = tt(T, 2, 3);
        expect_tape(T, nn_gru_unfold(T, &GRU, NULL, xs, steps[k], NULL), "gru unfold: ");
    }
    for (int j = 0; j < 3; j++) xs[j] = tt(T, 2, 3);
    expect_tape(T, nn_lstm_unfold(T, &LSTM, NULL, NULL, xs, 0, NULL, NULL), "lstm unfold: 0 steps; at least 1 is needed");
    for (int j = 0; j < 3; j++) xs[j] = tt(T, 2, 3);
    xs[1] = NULL;
    expect_tape(T, nn_lstm_unfold(T, &LSTM, NULL, NULL, xs, 3, NULL, NULL), "lstm unfold: input of step 2 (xs[1]) is NULL");
    for (int j = 0; j < 3; j++) xs[j] = tt(T, 2, 3);
    xs[2] = tt(T, 2, 5);
    expect_tape(T, nn_lstm_unfold(T, &LSTM, NULL, NULL, xs, 3, NULL, NULL), "lstm: input x (2,5) must be (B,3)");
    for (int j = 0; j < 3; j++) xs[j] = tt(T, 2, 3);
    expect_tape(T, nn_lstm_unfold(T, &LSTM, tt(T, 2, 2), tt(T, 2, 5), xs, 3, NULL, NULL),
                "lstm: cell state c (2,5) must be (2,2) for input x (2,3)");
    for (int j = 0; j < 3; j++) xs[j] = tt(T, 2, 3);
    expect_tape(T, nn_lstm_unfold(T, &lnone, NULL, NULL, xs, 3, NULL, NULL), "lstm: cell has no weights");
    assert_null(nn_lstm_unfold(NULL, &LSTM, NULL, NULL, xs, 3, NULL, NULL));
    expect_last("lstm unfold: tape is NULL");
    ag_tape_fail(F, "the first error");
    expect_tape(F, nn_lstm_unfold(F, &LSTM, NULL, NULL, xs, 3, NULL, NULL), "the first error");
    expect_tape(T, BAD(nn_gru_unfold, (T, NULL, NULL, xs, 3, states)), "gru unfold: cell is NULL");
    expect_tape(T, nn_gru_unfold(T, &GRU, NULL, NULL, 3, states), "gru unfold: xs is NULL (it holds the T inputs)");
    for (int j = 0; j < 3; j++) xs[j] = tt(T, 2, 3);
    xs[0] = NULL;
    expect_tape(T, nn_gru_unfold(T, &GRU, NULL, xs, 3, NULL), "gru unfold: input of step 1 (xs[0]) is NULL");
    for (int j = 0; j < 3; j++) xs[j] = tt(T, 2, 3);
    expect_tape(T, nn_gru_unfold(T, &GRU, tt(T, 2, 3), xs, 3, NULL), "gru: state h (2,3) must be (2,2) for input x (2,3)");
    for (int j = 0; j < 3; j++) xs[j] = tt(T, 2, 3);
    expect_tape(T, nn_gru_unfold(T, &gnone, NULL, xs, 3, NULL), "gru: cell has no weights");
    assert_null(nn_gru_unfold(NULL, &GRU, NULL, xs, 3, NULL));
    expect_last("gru unfold: tape is NULL");
    ag_tape_fail(F, "the first error");
    expect_tape(F, nn_gru_unfold(F, &GRU, NULL, xs, 3, NULL), "the first error");
}

/* ---- dropout and layer normalisation -------------------------------------------------------- */

void test_dropout_and_layernorm(void **state) {
    (void)state;
    nn_rng rng = nn_rng_seed(1);
    assert_null(BAD(nn_dropout, (NULL, tt(T, 2, 3), 0.5, true, &rng)));
    expect_last("dropout: tape is NULL");
    expect_tape(T, BAD(nn_dropout, (T, NULL, 0.5, true, &rng)), "dropout: input 1 is NULL");
    expect_tape(F, BAD(nn_dropout, (F, tt(F, 2, 3), 0.5, true, &rng)), "the first error");
    expect_tape(T, BAD(nn_dropout, (T, tt(O, 2, 3), 0.5, true, &rng)), "dropout: input 1 (2,3) belongs to another tape");
    const double bad_p[] = {-0.1, 1.5, NAN, INFINITY};
    for (int k = 0; k < 4; k++)
        expect_tape(T, BAD(nn_dropout, (T, tt(T, 2, 3), bad_p[k], true, &rng)), "is not in [0, 1]");
    expect_tape(T, BAD(nn_dropout, (T, tt(T, 2, 3), 0.5, true, NULL)), "dropout: rng is NULL");

    nn_params *ps = nn_params_new();
    const int count = nn_params_count(ps);
    assert_null(BAD(nn_layernorm_new, (ps, NULL, 4, 1e-5)).gain);
    expect_last("nn_layernorm_new: name is NULL");
    const int bad_n[] = {0, -3, INT_MIN};
    for (int k = 0; k < 3; k++) {
        assert_null(BAD(nn_layernorm_new, (ps, "ln", bad_n[k], 1e-5)).gain);
        expect_last("is not at least 1");
    }
    const double bad_eps[] = {0, -1, NAN, INFINITY};
    for (int k = 0; k < 4; k++) {
        assert_null(BAD(nn_layernorm_new, (ps, "ln", 4, bad_eps[k])).gain);
        expect_last("eps");
    }
    assert_null(BAD(nn_layernorm_new, (ps, "a-name-that-is-far-too-long-for-a-parameter-of-the-list-xxxxxx", 4, 1e-5)).gain);
    expect_last("too long");
    assert_null(BAD(nn_layernorm_new, (NULL, "ln", 4, 1e-5)).gain);
    assert_int_equal(nn_params_count(ps), count); /* nothing left behind */
    nn_layernorm ln = nn_layernorm_new(ps, "ln", 4, 1e-5);
    assert_non_null(ln.gain);
    assert_null(BAD(nn_layernorm_new, (ps, "ln", 4, 1e-5)).gain); /* duplicate name */
    assert_int_equal(nn_params_count(ps), count + 2);
    assert_null(BAD(nn_layernorm_forward, (NULL, &ln, tt(T, 2, 4))));
    expect_last("layernorm: tape is NULL");
    expect_tape(T, BAD(nn_layernorm_forward, (T, NULL, tt(T, 2, 4))), "layernorm: layer is NULL");
    expect_tape(T, BAD(nn_layernorm_forward, (T, &(nn_layernorm){NULL, NULL, 1e-5}, tt(T, 2, 4))),
                "layernorm: layer has no parameters");
    expect_tape(T, BAD(nn_layernorm_forward, (T, &ln, NULL)), "layernorm: input 1 is NULL");
    expect_tape(T, BAD(nn_layernorm_forward, (T, &ln, tt(T, 4, 3))), "layernorm: input (4,3): last axis is not the layer's 4");
    ag_tape_fail(F, "the first error"); /* expect_tape reset it */
    expect_tape(F, BAD(nn_layernorm_forward, (F, &ln, tt(F, 2, 4))), "the first error");
    nn_params_free(ps);
}
