/*
 * test_badinput.c -- every public function of autograd.h and nn.h called with bad input: NULL,
 * zero and negative sizes, mismatched shapes, out-of-range indices, element counts that
 * overflow, a tape already in error. Each must give a clear error and no crash; parameters are
 * left as they were.
 *
 * Every call goes through BAD(fn, (args)), which records that fn was exercised. The last test
 * reads the public headers and fails for any function declared there that no test called: a
 * new public function needs its bad-input case. The cases are in tests/badinput/, one file per
 * area (autograd.c, nn_layers.c, nn_training.c), linked into this one suite, so that the
 * coverage check counts the calls made in one process; this file holds what they share (the
 * record of calls, the tapes, the layers, the op targets), the check and main. (The example
 * programs' command lines: tests/test_cli.c.)
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "badinput/badinput.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- which functions were called ------------------------------------------------------------ */

static const char *called[512];
static int ncalled;

void bad_mark(const char *name) {
    for (int i = 0; i < ncalled; i++)
        if (!strcmp(called[i], name)) return;
    if (ncalled < (int)(sizeof called / sizeof called[0])) called[ncalled++] = name;
}


/* ---- fixtures ------------------------------------------------------------------------------- */

ag_tape *T; /* healthy; reset before each test */
ag_tape *F; /* failed: "the first error" */
ag_tape *O; /* another healthy tape, for tensors from elsewhere */

static int setup(void **s) {
    (void)s;
    T = ag_tape_new(), F = ag_tape_new(), O = ag_tape_new();
    return T && F && O ? 0 : -1;
}
static int teardown(void **s) {
    (void)s;
    ag_tape_free(T), ag_tape_free(F), ag_tape_free(O);
    return 0;
}
static int reset(void **s) {
    (void)s;
    ag_tape_reset(T), ag_tape_reset(F), ag_tape_reset(O);
    ag_tape_fail(F, "the first error");
    ag_set_last_error("%s", "");
    return 0;
}

void expect_last(const char *part) {
    const char *e = ag_last_error();
    if (!strstr(e, part)) {
        print_error("last error: %s\nexpected it to contain: %s\n", e, part);
        fail();
    }
}

/* Assert that the tape failed with `part`, that r is its poisoned result, then reset it. */
void expect_tape(ag_tape *t, const ag_tensor *r, const char *part) {
    tu_assert_error(t, part);
    assert_non_null(r);
    assert_true(r->flags & AG_POISONED);
    ag_tape_reset(t);
}

ag_tensor *tt(ag_tape *t, int r, int c) {
    return ag_tape_tensor(t, 2, (const int[]){r, c}, NULL);
}

/* =============================================================================================
 * Every op (and every nn function that records on a tape) against the generic bad inputs.
 * =========================================================================================== */

nn_params *PS;
nn_dense DENSE;
nn_mlp MLP;
nn_recurrent REC;
nn_lstm LSTM;
nn_gru GRU;
nn_conv2d CONV;

static int make_layers(void **s) {
    (void)s;
    nn_rng rng = nn_rng_seed(3);
    PS = nn_params_new();
    DENSE = nn_dense_new(PS, "d", 3, 2, NN_SIGMOID, nn_init_uniform(0.3), &rng);
    MLP = nn_mlp_new(PS, "m", "3-4-2", NN_TANH, NN_SIGMOID, nn_init_xavier(), &rng);
    REC = nn_recurrent_new(PS, "r", 3, 2, NN_TANH, nn_init_he(), &rng);
    LSTM = nn_lstm_new(PS, "lstm", 3, 2, nn_init_xavier(), &rng);
    GRU = nn_gru_new(PS, "gru", 3, 2, nn_init_xavier(), &rng);
    CONV = nn_conv2d_new(PS, "conv", 2, 3, 2, 1, 0, NN_RELU, nn_init_he(), &rng);
    return DENSE.W && MLP.nlayers && REC.W && LSTM.W_ih && GRU.W_ih && CONV.W ? 0 : -1;
}
static int free_layers(void **s) {
    (void)s;
    nn_params_free(PS);
    return 0;
}

/* The functions built on the ops that record on a tape, and the tape constants, as bad-input
 * targets (the ops themselves come from the op list: tests/support/op_cases.c). */
#define OTHER(fn) static ag_tensor *c_##fn(ag_tape *t, ag_tensor *const *in, int nin, const ag_op_args *arg)
OTHER(nn_activate) { (void)nin, (void)arg; return nn_activate(t, in[0], NN_TANH); }
OTHER(nn_dense_forward) { (void)nin, (void)arg; return nn_dense_forward(t, &DENSE, in[0]); }
OTHER(nn_mlp_forward) { (void)nin, (void)arg; return nn_mlp_forward(t, &MLP, in[0]); }
OTHER(nn_recurrent_step) { (void)nin, (void)arg; return nn_recurrent_step(t, &REC, NULL, in[0]); }
OTHER(nn_lstm_step) {
    (void)nin, (void)arg;
    ag_tensor *c;
    return nn_lstm_step(t, &LSTM, NULL, NULL, in[0], &c);
}
OTHER(nn_gru_step) { (void)nin, (void)arg; return nn_gru_step(t, &GRU, NULL, in[0]); }
OTHER(nn_conv2d_forward) { (void)nin, (void)arg; return nn_conv2d_forward(t, &CONV, in[0]); }
OTHER(nn_sse_margin) { (void)nin, (void)arg; return nn_sse_margin(t, in[0], in[1], 0.2); }
OTHER(ag_tape_tensor) { (void)in, (void)nin, (void)arg; return ag_tape_tensor(t, 2, (const int[]){2, 2}, NULL); }
OTHER(ag_scalar) { (void)in, (void)nin, (void)arg; return ag_scalar(t, 1.5); }
OTHER(ag_split) {
    (void)nin, (void)arg;
    ag_tensor *parts[3];
    ag_split(t, in[0], 1, 3, NULL, parts); /* (2,3) into three (2,1) */
    return parts[0];
}

#define A23 TU_P(2, 2, 3, 1, 1, 0.1, 0.6)
static const tu_input OTHER_INPUTS[][2] = {
    {A23}, {A23}, {A23}, {A23}, {A23, TU_P(2, 2, 3, 1, 1, 0.25, 0.25)}, {A23}, {A23},
    {TU_P(4, 2, 2, 3, 3, -1, 1)},
};
static const ag_op_args NO_ARGS;
static const tu_bad_target others[] = {
    {"activate", "nn_activate", 1, OTHER_INPUTS[0], &NO_ARGS, true, c_nn_activate},
    {"dense", "nn_dense_forward", 1, OTHER_INPUTS[1], &NO_ARGS, true, c_nn_dense_forward},
    {"mlp", "nn_mlp_forward", 1, OTHER_INPUTS[2], &NO_ARGS, true, c_nn_mlp_forward},
    {"recurrent", "nn_recurrent_step", 1, OTHER_INPUTS[3], &NO_ARGS, true, c_nn_recurrent_step},
    {"sse_margin", "nn_sse_margin", 2, OTHER_INPUTS[4], &NO_ARGS, true, c_nn_sse_margin},
    {"lstm", "nn_lstm_step", 1, OTHER_INPUTS[5], &NO_ARGS, true, c_nn_lstm_step},
    {"gru", "nn_gru_step", 1, OTHER_INPUTS[6], &NO_ARGS, true, c_nn_gru_step},
    {"conv2d layer", "nn_conv2d_forward", 1, OTHER_INPUTS[7], &NO_ARGS, true, c_nn_conv2d_forward},
    {"tape_tensor", "ag_tape_tensor", 0, NULL, &NO_ARGS, false, c_ag_tape_tensor},
    {"tape_tensor", "ag_scalar", 0, NULL, &NO_ARGS, false, c_ag_scalar},
    {"split", "ag_split", 1, OTHER_INPUTS[0], &NO_ARGS, false, c_ag_split},
};
#define NOTHERS ((int)(sizeof others / sizeof others[0]))

/* Every target: each op of the op list (with the inputs of its first case), then the others. */
tu_bad_target targets[128];
int ntargets;


static int make_targets(void) {
    tu_bad_mark = bad_mark;
    for (int k = 0; k < tu_nops; k++) {
        const tu_op_case *first = tu_op_first_case(tu_op_cases, tu_n_op_cases, tu_ops[k].op);
        if (!first) {
            fprintf(stderr, "op '%s' has no case in tests/support/op_cases.c\n", tu_ops[k].name);
            return -1;
        }
        targets[ntargets++] = tu_bad_target_of(&tu_ops[k], first);
    }
    for (int k = 0; k < NOTHERS; k++) targets[ntargets++] = others[k];
    return 0;
}

/* =============================================================================================
 * Coverage: every public function in the headers has been called above with bad input.
 * =========================================================================================== */

static void test_every_public_function_has_a_case(void **state) {
    (void)state;
    const char *src = getenv("BACKPROP_SRC");
    const char *headers[] = {"autograd/autograd.h", "nn/nn.h"};
    static char names[512][64];
    int n = 0;
    for (int h = 0; h < 2; h++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", src ? src : ".", headers[h]);
        n = tu_declared_functions(path, names, n, 512);
    }
    assert_true(n > 100); /* the scan finds the declarations (about 110 today) */
    int missing = 0;
    for (int i = 0; i < n; i++) {
        int k = 0;
        while (k < ncalled && strcmp(called[k], names[i])) k++;
        if (k == ncalled) {
            print_error("public function %s has no bad-input case in tests/badinput/\n", names[i]);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_ops_healthy, reset),
        cmocka_unit_test_setup(test_ops_without_tape, reset),
        cmocka_unit_test_setup(test_ops_null_inputs, reset),
        cmocka_unit_test_setup(test_ops_on_failed_tape, reset),
        cmocka_unit_test_setup(test_ops_foreign_inputs, reset),
        cmocka_unit_test_setup(test_ops_stale_inputs, reset),
        cmocka_unit_test_setup(test_shapes_that_do_not_fit, reset),
        cmocka_unit_test_setup(test_axes_and_indices_out_of_range, reset),
        cmocka_unit_test_setup(test_shape_op_arguments, reset),
        cmocka_unit_test_setup(test_math_and_reduce_arguments, reset),
        cmocka_unit_test_setup(test_linear_arguments, reset),
        cmocka_unit_test_setup(test_conv_and_pool_arguments, reset),
        cmocka_unit_test_setup(test_sizes_zero_negative_overflowing, reset),
        cmocka_unit_test_setup(test_tensor_functions, reset),
        cmocka_unit_test_setup(test_memory_and_errors, reset),
        cmocka_unit_test_setup(test_dot_and_trace, reset),
        cmocka_unit_test_setup(test_backward, reset),
        cmocka_unit_test_setup(test_gradcheck, reset),
        cmocka_unit_test_setup(test_rng_and_init, reset),
        cmocka_unit_test_setup(test_params, reset),
        cmocka_unit_test_setup(test_layers, reset),
        cmocka_unit_test_setup(test_unfolded_runs, reset),
        cmocka_unit_test_setup(test_conv_layer, reset),
        cmocka_unit_test_setup(test_gated_cells, reset),
        cmocka_unit_test_setup(test_optimisers, reset),
        cmocka_unit_test_setup(test_optimiser_table_settings, reset),
        cmocka_unit_test_setup(test_save_load_arguments, reset),
        cmocka_unit_test_setup(test_grads_pack_unpack, reset),
        cmocka_unit_test_setup(test_detach_grad_mode_and_clipping, reset),
        cmocka_unit_test_setup(test_custom_ops, reset),
        cmocka_unit_test_setup(test_dropout_and_layernorm, reset),
        cmocka_unit_test(test_every_public_function_has_a_case), /* last: counts the calls above */
    };
    int setup_layers = make_layers(NULL);
    if (setup_layers != 0 || make_targets() != 0) return 1;
    int rc = cmocka_run_group_tests_name("badinput", tests, setup, teardown);
    free_layers(NULL);
    return rc;
}
