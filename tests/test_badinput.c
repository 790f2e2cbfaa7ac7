/*
 * test_badinput.c -- every public function of autograd.h and nn.h called with bad input: NULL,
 * zero and negative sizes, mismatched shapes, out-of-range indices, element counts that
 * overflow, a tape already in error. Each must give a clear error and no crash; parameters are
 * left as they were.
 *
 * Every call goes through BAD(fn, (args)), which records that fn was exercised. The last test
 * reads the public headers and fails for any function declared there that no test called: a
 * new public function needs its bad-input case here.
 * One file on purpose, though a long one: the coverage check counts the calls made in this
 * process. (The example programs' command lines: tests/test_cli.c.)
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "support/op_cases.h"
#include "support/testutil.h"

#include "nn/nn_private.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- which functions were called ------------------------------------------------------------ */

static const char *called[512];
static int ncalled;

static void mark(const char *name) {
    for (int i = 0; i < ncalled; i++)
        if (!strcmp(called[i], name)) return;
    if (ncalled < (int)(sizeof called / sizeof called[0])) called[ncalled++] = name;
}

#define BAD(fn, args) (mark(#fn), fn args)

/* ---- fixtures ------------------------------------------------------------------------------- */

static ag_tape *T; /* healthy; reset before each test */
static ag_tape *F; /* failed: "the first error" */
static ag_tape *O; /* another healthy tape, for tensors from elsewhere */

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

static void expect_last(const char *part) {
    const char *e = ag_last_error();
    if (!strstr(e, part)) {
        print_error("last error: %s\nexpected it to contain: %s\n", e, part);
        fail();
    }
}

/* Assert that the tape failed with `part`, that r is its poisoned result, then reset it. */
static void expect_tape(ag_tape *t, const ag_tensor *r, const char *part) {
    tu_assert_error(t, part);
    assert_non_null(r);
    assert_true(r->flags & AG_POISONED);
    ag_tape_reset(t);
}

static ag_tensor *tt(ag_tape *t, int r, int c) {
    return ag_tape_tensor(t, 2, (const int[]){r, c}, NULL);
}

/* =============================================================================================
 * Every op (and every nn function that records on a tape) against the generic bad inputs.
 * =========================================================================================== */

static nn_params *PS;
static nn_dense DENSE;
static nn_mlp MLP;
static nn_recurrent REC;
static nn_lstm LSTM; /* 3 inputs, 2 units */
static nn_gru GRU;   /* 3 inputs, 2 units */
static nn_conv2d CONV; /* 2 channels in, 3 out, 2x2 kernel */

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
static tu_bad_target targets[128];
static int ntargets;

static void mark_call(const char *fn) { mark(fn); }

static int make_targets(void) {
    tu_bad_mark = mark_call;
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

/* A healthy call works: the cases below are not failing for some unrelated reason. */
static void test_ops_healthy(void **state) {
    (void)state;
    for (int k = 0; k < ntargets; k++) tu_bad_healthy(&targets[k], T);
}

/* No tape: NULL back and the reason, naming the op, in ag_last_error. */
static void test_ops_without_tape(void **state) {
    (void)state;
    for (int k = 0; k < ntargets; k++) tu_bad_without_tape(&targets[k], T);
}

/* A NULL input in each position. */
static void test_ops_null_inputs(void **state) {
    (void)state;
    for (int k = 0; k < ntargets; k++) tu_bad_null_inputs(&targets[k], T);
}

/* A tape already in error: nothing recorded, the first error kept, the poison returned. */
static void test_ops_on_failed_tape(void **state) {
    (void)state;
    for (int k = 0; k < ntargets; k++) tu_bad_failed_tape(&targets[k], F);
}

/* Inputs that are the poisoned result of a failed tape, or that belong to another tape. */
static void test_ops_foreign_inputs(void **state) {
    (void)state;
    for (int k = 0; k < ntargets; k++) tu_bad_foreign_inputs(&targets[k], T, F, O);
}

/* Inputs made before the tape's last reset (stale), in each position. */
static void test_ops_stale_inputs(void **state) {
    (void)state;
    for (int k = 0; k < ntargets; k++) tu_bad_stale_inputs(&targets[k], T);
}

/* =============================================================================================
 * Op by op: shapes, axes, indices, sizes.
 * =========================================================================================== */

static void test_shapes_that_do_not_fit(void **state) {
    (void)state;
    ag_tensor *r;
    r = BAD(ag_add, (T, tt(T, 2, 3), tt(T, 3, 2)));
    expect_tape(T, r, "add: shapes (2,3) and (3,2) do not broadcast");
    r = BAD(ag_div, (T, tt(T, 4, 1), tt(T, 2, 2)));
    expect_tape(T, r, "div: shapes (4,1) and (2,2) do not broadcast");
    r = BAD(ag_matmul, (T, tt(T, 2, 3), tt(T, 2, 3)));
    expect_tape(T, r, "matmul: (2,3) @ (2,3): inner dimensions differ (3 vs 2)");
    r = BAD(ag_matmul_ex, (T, tt(T, 2, 3), tt(T, 2, 3), true, true));
    expect_tape(T, r, "matmul: (2,3)^T @ (2,3)^T: inner dimensions differ (2 vs 3)");
    r = BAD(ag_matmul, (T, ag_scalar(T, 1), tt(T, 1, 1)));
    expect_tape(T, r, "matmul: (1) @ (1,1): both operands must be 2-D");
    r = BAD(ag_transpose, (T, ag_scalar(T, 1)));
    expect_tape(T, r, "transpose: (1) has fewer than 2 dimensions");
    r = BAD(ag_concat, (T, (ag_tensor *const[]){tt(T, 2, 3), tt(T, 2, 4)}, 2, 0));
    expect_tape(T, r, "concat: part 2 (2,4) does not match part 1 (2,3) along axis 0");
    r = BAD(ag_concat, (T, (ag_tensor *const[]){tt(T, 2, 3), ag_scalar(T, 1)}, 2, 1));
    expect_tape(T, r, "concat: part 2 (1) does not match part 1 (2,3)");
    const char *losses[] = {"sse", "mse", "bce", "bce_logits"};
    ag_tensor *(*fns[])(ag_tape *, ag_tensor *, ag_tensor *) = {ag_sse, ag_mse, ag_bce, ag_bce_logits};
    for (int k = 0; k < 4; k++) {
        char want[96];
        r = fns[k](T, tt(T, 4, 1), tt(T, 1, 4));
        snprintf(want, sizeof want, "%s: prediction (4,1) and target (1,4) differ in shape", losses[k]);
        expect_tape(T, r, want);
    }
    r = BAD(nn_sse_margin, (T, tt(T, 4, 1), tt(T, 1, 4), 0.2));
    expect_tape(T, r, "prediction (4,1) and target (1,4) differ in shape");
    r = BAD(ag_softmax_xent, (T, ag_scalar(T, 1), (const int[]){0}));
    expect_tape(T, r, "softmax_xent: logits (1): must be 2-D (B,C)");
    r = BAD(nn_dense_forward, (T, &DENSE, tt(T, 2, 4)));
    expect_tape(T, r, "dense d.W: input (2,4) has 4 columns, the layer expects 3");
    r = BAD(nn_mlp_forward, (T, &MLP, tt(T, 5, 2)));
    expect_tape(T, r, "dense m.1.W: input (5,2) has 2 columns, the layer expects 3");
    r = BAD(nn_recurrent_step, (T, &REC, tt(T, 2, 3), NULL));
    expect_tape(T, r, "matmul: (2,3) @ (2,2): inner dimensions differ");
    r = BAD(nn_recurrent_step, (T, &REC, NULL, NULL));
    expect_tape(T, r, "recurrent: a step needs a state h or an input x (both NULL)");
}

static void test_axes_and_indices_out_of_range(void **state) {
    (void)state;
    ag_tensor *r;
    const int axes[] = {2, -3, INT_MAX, INT_MIN};
    for (int k = 0; k < 4; k++) {
        char want[96];
        snprintf(want, sizeof want, "sum_axis: axis %d is out of range for (2,3)", axes[k]);
        expect_tape(T, BAD(ag_sum_axis, (T, tt(T, 2, 3), axes[k])), want);
        expect_tape(T, BAD(ag_mean_axis, (T, tt(T, 2, 3), axes[k])), "mean_axis: axis");
        expect_tape(T, BAD(ag_max_axis, (T, tt(T, 2, 3), axes[k])), "max_axis: axis");
        expect_tape(T, BAD(ag_concat, (T, (ag_tensor *const[]){tt(T, 2, 3)}, 1, axes[k])), "concat: axis");
    }
    r = BAD(ag_slice_rows, (T, tt(T, 4, 2), 3, 2));
    expect_tape(T, r, "slice_rows: rows 3..4 (count 2) are out of range for (4,2)");
    expect_tape(T, BAD(ag_slice_rows, (T, tt(T, 4, 2), -1, 1)), "slice_rows: rows -1..-1");
    expect_tape(T, BAD(ag_slice_rows, (T, tt(T, 4, 2), 0, 0)), "slice_rows: rows 0..-1 (count 0)");
    expect_tape(T, BAD(ag_slice_rows, (T, tt(T, 4, 2), 0, -5)), "(count -5) are out of range");
    expect_tape(T, BAD(ag_slice_rows, (T, tt(T, 4, 2), 2, INT_MAX)), "(count 2147483647) are out of range");
    expect_tape(T, BAD(ag_slice_rows, (T, tt(T, 4, 2), INT_MAX, 1)), "slice_rows: rows 2147483647..");
    expect_tape(T, BAD(ag_slice_rows, (T, tt(T, 4, 2), INT_MIN, INT_MAX)), "slice_rows: rows -2147483648..");
    const int bad_rows[] = {5, -1, INT_MAX, INT_MIN};
    for (int k = 0; k < 4; k++) {
        char want[96];
        snprintf(want, sizeof want, "gather_rows: index %d at position 1 is out of range for table (5,3)", bad_rows[k]);
        expect_tape(T, BAD(ag_gather_rows, (T, tt(T, 5, 3), (const int[]){0, bad_rows[k]}, 2)), want);
        snprintf(want, sizeof want, "softmax_xent: label %d of row 1 is out of range for logits (2,3)", bad_rows[k] == 5 ? 3 : bad_rows[k]);
        expect_tape(T, BAD(ag_softmax_xent, (T, tt(T, 2, 3), (const int[]){0, bad_rows[k] == 5 ? 3 : bad_rows[k]})), want);
    }
    expect_tape(T, BAD(ag_gather_rows, (T, tt(T, 5, 3), (const int[]){0}, 0)), "gather_rows: needs at least one index");
    expect_tape(T, BAD(ag_gather_rows, (T, tt(T, 5, 3), (const int[]){0}, -3)), "gather_rows: needs at least one index");
    expect_tape(T, BAD(ag_gather_rows, (T, tt(T, 5, 3), NULL, 2)), "gather_rows: index array is NULL");
    expect_tape(T, BAD(ag_softmax_xent, (T, tt(T, 2, 3), NULL)), "softmax_xent: logits (2,3): labels is NULL");
    expect_tape(T, BAD(ag_concat, (T, NULL, 2, 0)), "concat: parts is NULL");
    expect_tape(T, BAD(ag_concat, (T, (ag_tensor *const[]){tt(T, 1, 1)}, 0, 0)), "concat: needs at least one part");
    expect_tape(T, BAD(ag_concat, (T, (ag_tensor *const[]){tt(T, 1, 1)}, -1, 0)), "concat: needs at least one part");
}

/* The shape ops of autograd/ops_shape.c: wrong axes, starts, lengths, sizes, permutations and
 * shapes, each with its message. */
static void test_shape_op_arguments(void **state) {
    (void)state;
    const int axes[] = {2, -3, INT_MAX, INT_MIN};
    for (int k = 0; k < 4; k++) {
        char want[96];
        snprintf(want, sizeof want, "slice: axis %d is out of range for (2,3)", axes[k]);
        expect_tape(T, BAD(ag_slice, (T, tt(T, 2, 3), axes[k], 0, 1)), want);
        snprintf(want, sizeof want, "reverse: axis %d is out of range for (2,3)", axes[k]);
        expect_tape(T, BAD(ag_reverse, (T, tt(T, 2, 3), axes[k])), want);
        snprintf(want, sizeof want, "pad: axis %d is out of range for (2,3)", axes[k]);
        expect_tape(T, BAD(ag_pad, (T, tt(T, 2, 3), axes[k], 1, 1)), want);
        ag_tensor *parts[3] = {NULL, NULL, NULL};
        assert_int_equal(BAD(ag_split, (T, tt(T, 2, 3), axes[k], 3, NULL, parts)), -1);
        snprintf(want, sizeof want, "split: axis %d is out of range for (2,3)", axes[k]);
        expect_tape(T, parts[2], want);
    }
    /* stack's axis counts the new one: 0..2 for (2,3) parts */
    expect_tape(T, BAD(ag_stack, (T, (ag_tensor *const[]){tt(T, 2, 3)}, 1, 3)), "stack: axis 3 is out of range for (2,3)");
    expect_tape(T, BAD(ag_stack, (T, (ag_tensor *const[]){tt(T, 2, 3)}, 1, -4)), "stack: axis -4 is out of range for (2,3)");

    /* slice: start and length */
    expect_tape(T, BAD(ag_slice, (T, tt(T, 2, 5), 1, 3, 3)), "slice: start 3 length 3 is out of range for axis 1 of (2,5) (size 5)");
    expect_tape(T, BAD(ag_slice, (T, tt(T, 2, 5), 1, 5, 1)), "slice: start 5 length 1 is out of range");
    expect_tape(T, BAD(ag_slice, (T, tt(T, 2, 5), 1, -6, 1)), "slice: start -6 length 1 is out of range");
    expect_tape(T, BAD(ag_slice, (T, tt(T, 2, 5), 1, 0, 0)), "slice: start 0 length 0 is out of range");
    expect_tape(T, BAD(ag_slice, (T, tt(T, 2, 5), 0, 1, -1)), "slice: start 1 length -1 is out of range for axis 0 of (2,5) (size 2)");
    expect_tape(T, BAD(ag_slice, (T, tt(T, 2, 5), 1, 1, INT_MAX)), "slice: start 1 length 2147483647 is out of range");
    expect_tape(T, BAD(ag_slice, (T, tt(T, 2, 5), 1, INT_MIN, 1)), "slice: start -2147483648 length 1 is out of range");
    expect_tape(T, BAD(ag_slice, (T, tt(T, 2, 5), 1, INT_MAX, 1)), "slice: start 2147483647 length 1 is out of range");

    /* split: parts, counts and sizes; every part is the poison after a failure */
    ag_tensor *parts[4];
    assert_int_equal(BAD(ag_split, (T, tt(T, 2, 5), 1, 2, NULL, parts)), -1);
    assert_true(parts[0]->flags & AG_POISONED && parts[1]->flags & AG_POISONED);
    expect_tape(T, parts[0], "split: axis 1 of (2,5) (size 5) does not split into 2 equal parts");
    assert_int_equal(BAD(ag_split, (T, tt(T, 2, 5), 1, 2, (const int[]){2, 2}, parts)), -1);
    expect_tape(T, parts[1], "split: the sizes of the 2 parts sum to less than 5, axis 1 of (2,5) has size 5");
    assert_int_equal(BAD(ag_split, (T, tt(T, 2, 5), 1, 2, (const int[]){2, 4}, parts)), -1);
    expect_tape(T, parts[1], "split: the sizes of the 2 parts exceed 5, axis 1 of (2,5) has size 5");
    assert_int_equal(BAD(ag_split, (T, tt(T, 2, 5), 1, 2, (const int[]){INT_MAX, INT_MAX}, parts)), -1);
    expect_tape(T, parts[0], "split: the sizes of the 2 parts exceed 5");
    assert_int_equal(BAD(ag_split, (T, tt(T, 2, 5), -1, 3, (const int[]){3, 0, 2}, parts)), -1);
    expect_tape(T, parts[2], "split: size 0 of part 2 is not positive ((2,5) along axis 1)");
    assert_int_equal(BAD(ag_split, (T, tt(T, 2, 5), 1, 0, NULL, parts)), -1);
    tu_assert_error(T, "split: (2,5) into 0 parts: needs at least one");
    ag_tape_reset(T);
    assert_int_equal(BAD(ag_split, (T, tt(T, 2, 5), 1, -2, NULL, parts)), -1);
    tu_assert_error(T, "split: (2,5) into -2 parts: needs at least one");
    ag_tape_reset(T);
    assert_int_equal(BAD(ag_split, (T, tt(T, 2, 5), 1, 5, NULL, NULL)), -1);
    tu_assert_error(T, "split: (2,5): parts (the output array) is NULL");
    assert_int_equal(ag_tape_status(T), AG_ERR_NULL);
    ag_tape_reset(T);

    /* stack: parts that differ, too many dimensions, no parts */
    expect_tape(T, BAD(ag_stack, (T, (ag_tensor *const[]){tt(T, 2, 3), tt(T, 3, 2)}, 2, 0)), "stack: part 2 (3,2) differs in shape from part 1 (2,3)");
    expect_tape(T, BAD(ag_stack, (T, (ag_tensor *const[]){tt(T, 2, 3), ag_scalar(T, 1)}, 2, 0)), "stack: part 2 (1) differs in shape from part 1 (2,3)");
    ag_tensor *four = ag_tape_tensor(T, 4, (const int[]){1, 2, 1, 2}, NULL);
    expect_tape(T, BAD(ag_stack, (T, (ag_tensor *const[]){four}, 1, 0)), "stack: parts (1,2,1,2) have 4 dimensions already, at most 3");
    expect_tape(T, BAD(ag_stack, (T, NULL, 2, 0)), "stack: parts is NULL");
    expect_tape(T, BAD(ag_stack, (T, (ag_tensor *const[]){tt(T, 1, 1)}, 0, 0)), "stack: needs at least one part");
    expect_tape(T, BAD(ag_stack, (T, (ag_tensor *const[]){tt(T, 1, 1), NULL}, 2, 0)), "stack: input 2 is NULL");

    /* permute: not a permutation, NULL */
    expect_tape(T, BAD(ag_permute, (T, tt(T, 2, 3), (const int[]){0, 0})), "permute: (2,3): axis 0 appears twice in perm");
    expect_tape(T, BAD(ag_permute, (T, tt(T, 2, 3), (const int[]){1, -1})), "permute: (2,3): axis 1 appears twice in perm");
    expect_tape(T, BAD(ag_permute, (T, tt(T, 2, 3), (const int[]){0, 2})), "permute: axis 2 is out of range for (2,3)");
    expect_tape(T, BAD(ag_permute, (T, tt(T, 2, 3), (const int[]){INT_MIN, 0})), "permute: axis -2147483648 is out of range for (2,3)");
    expect_tape(T, BAD(ag_permute, (T, tt(T, 2, 3), NULL)), "permute: (2,3): perm is NULL");

    /* broadcast_to: sizes that do not stretch, dimensions, NULL, absurd sizes */
    expect_tape(T, BAD(ag_broadcast_to, (T, tt(T, 2, 3), 2, (const int[]){4, 3})), "broadcast_to: (2,3) cannot stretch to size 4 at axis 0 of the new shape");
    expect_tape(T, BAD(ag_broadcast_to, (T, tt(T, 2, 1), 3, (const int[]){-1, 2, 5})), "broadcast_to: (2,1) cannot stretch to size -1 at axis 0 of the new shape");
    expect_tape(T, BAD(ag_broadcast_to, (T, tt(T, 2, 1), 2, (const int[]){2, 0})), "broadcast_to: (2,1) cannot stretch to size 0 at axis 1");
    expect_tape(T, BAD(ag_broadcast_to, (T, tt(T, 2, 3), 1, (const int[]){3})), "broadcast_to: (2,3) to 1 dimensions (must be 2 to 4)");
    expect_tape(T, BAD(ag_broadcast_to, (T, tt(T, 2, 3), 5, (const int[]){1, 1, 1, 2, 3})), "broadcast_to: (2,3) to 5 dimensions (must be 2 to 4)");
    expect_tape(T, BAD(ag_broadcast_to, (T, tt(T, 2, 3), 2, NULL)), "broadcast_to: (2,3): shape is NULL");
    ag_tensor *r = BAD(ag_broadcast_to, (T, tt(T, 1, 1), 2, (const int[]){65536, 65536}));
    assert_int_equal(ag_tape_status(T), AG_ERR_SIZE);
    expect_tape(T, r, "broadcast_to: absurd size: more than");

    /* pad: negative or absurd amounts */
    expect_tape(T, BAD(ag_pad, (T, tt(T, 2, 3), 1, -1, 0)), "pad: (2,3) along axis 1 by -1 before and 0 after: padding must not be negative");
    expect_tape(T, BAD(ag_pad, (T, tt(T, 2, 3), 0, 0, INT_MIN)), "pad: (2,3) along axis 0 by 0 before and -2147483648 after: padding must not be negative");
    r = BAD(ag_pad, (T, tt(T, 2, 3), 0, INT_MAX, INT_MAX));
    assert_int_equal(ag_tape_status(T), AG_ERR_SIZE);
    expect_tape(T, r, "pad: (2,3) along axis 0 by 2147483647 before and 2147483647 after: absurd size");
}

/* r is the poison of "op: axis <axis> is out of range for (2,3)". */
static void expect_axis(const ag_tensor *r, const char *op, int axis) {
    char want[96];
    snprintf(want, sizeof want, "%s: axis %d is out of range for (2,3)", op, axis);
    expect_tape(T, r, want);
}


/* The fused dense layer (autograd/ops_linear.c): operands that are not 2-D, inner dimensions
 * that differ, a bias of the wrong size, an activation outside ag_act. */
static void test_linear_arguments(void **state) {
    (void)state;
    expect_tape(T, BAD(ag_linear, (T, ag_tape_tensor(T, 1, (const int[]){3}, NULL), tt(T, 3, 2), NULL, AG_ACT_SIGMOID)),
                "linear: x (3) and w (3,2) must both be 2-D");
    expect_tape(T, BAD(ag_linear, (T, tt(T, 4, 3), tt(T, 2, 5), NULL, AG_ACT_TANH)),
                "linear: x (4,3) @ w (2,5): inner dimensions differ (3 vs 2)");
    expect_tape(T, BAD(ag_linear, (T, tt(T, 4, 3), tt(T, 3, 5), tt(T, 1, 4), AG_ACT_RELU)),
                "linear: bias (1,4) must be (5) or (1,5) for w (3,5)");
    expect_tape(T, BAD(ag_linear, (T, tt(T, 4, 3), tt(T, 3, 5), tt(T, 5, 1), AG_ACT_RELU)),
                "linear: bias (5,1) must be (5) or (1,5) for w (3,5)");
    ag_tensor *r = BAD(ag_linear, (T, tt(T, 4, 3), tt(T, 3, 5), NULL, (ag_act)7));
    assert_int_equal(ag_tape_status(T), AG_ERR_RANGE);
    expect_tape(T, r, "linear: activation 7 is not one of ag_act (0 to 3)");
}

/* The convolutions and poolings (autograd/ops_conv.c): wrong ndim, channel mismatch, a bias of
 * the wrong size, zero or negative stride, negative padding, zero dilation, a kernel larger
 * than the padded input, pooling padding over half the kernel. */
static ag_tensor *tn(int ndim, const int *shape) {
    ag_tensor *x = ag_tape_tensor(T, ndim, shape, NULL);
    assert_non_null(x);
    return x;
}
#define T4(a, b, c, d) tn(4, (const int[]){a, b, c, d})
#define T3(a, b, c) tn(3, (const int[]){a, b, c})
#define T1(a) tn(1, (const int[]){a})
static void test_conv_and_pool_arguments(void **state) {
    (void)state;
    expect_tape(T, BAD(ag_conv2d, (T, T3(2, 3, 5), T4(4, 3, 3, 3), NULL, 1, 0, 1)),
                "conv2d: input (2,3,5) must be 4-D (N,C,H,W)");
    expect_tape(T, BAD(ag_conv2d, (T, T4(2, 3, 5, 5), T3(4, 3, 3), NULL, 1, 0, 1)),
                "conv2d: weight (4,3,3) must be 4-D (OC,C,KH,KW)");
    expect_tape(T, BAD(ag_conv2d, (T, T4(2, 3, 5, 5), T4(4, 2, 3, 3), NULL, 1, 0, 1)),
                "conv2d: input (2,3,5,5) has 3 channels but weight (4,2,3,3) takes 2");
    expect_tape(T, BAD(ag_conv2d, (T, T4(2, 3, 5, 5), T4(4, 3, 3, 3), T1(3), 1, 0, 1)),
                "conv2d: bias (3) must be (4), one per output channel of weight (4,3,3,3)");
    expect_tape(T, BAD(ag_conv2d, (T, T4(2, 3, 5, 5), T4(4, 3, 3, 3), NULL, 0, 0, 1)),
                "conv2d: input (2,3,5,5): stride 0 must be >= 1");
    expect_tape(T, BAD(ag_conv2d, (T, T4(2, 3, 5, 5), T4(4, 3, 3, 3), NULL, -2, 0, 1)),
                "conv2d: input (2,3,5,5): stride -2 must be >= 1");
    expect_tape(T, BAD(ag_conv2d, (T, T4(2, 3, 5, 5), T4(4, 3, 3, 3), NULL, 1, -1, 1)),
                "conv2d: input (2,3,5,5): padding -1 must be >= 0");
    expect_tape(T, BAD(ag_conv2d, (T, T4(2, 3, 5, 5), T4(4, 3, 3, 3), NULL, 1, 0, 0)),
                "conv2d: input (2,3,5,5): dilation 0 must be >= 1");
    expect_tape(T, BAD(ag_conv2d, (T, T4(2, 3, 5, 5), T4(4, 3, 6, 3), NULL, 1, 0, 1)),
                "conv2d: kernel 6x3 (dilation 1) is larger than the padded input 5x5 ((2,3,5,5) with padding 0)");
    expect_tape(T, BAD(ag_conv2d, (T, T4(1, 1, 4, 4), T4(1, 1, 3, 3), NULL, 1, 0, 2)),
                "conv2d: kernel 3x3 (dilation 2) is larger than the padded input 4x4 ((1,1,4,4) with padding 0)");
    expect_tape(T, BAD(ag_conv1d, (T, T4(2, 3, 5, 1), T3(4, 3, 3), NULL, 1, 0, 1)),
                "conv1d: input (2,3,5,1) must be 3-D (N,C,L)");
    expect_tape(T, BAD(ag_conv1d, (T, T3(2, 3, 5), T3(4, 2, 3), NULL, 1, 0, 1)),
                "conv1d: input (2,3,5) has 3 channels but weight (4,2,3) takes 2");
    expect_tape(T, BAD(ag_conv1d, (T, T3(2, 3, 5), T3(4, 3, 3), T1(3), 1, 0, 1)),
                "conv1d: bias (3) must be (4), one per output channel of weight (4,3,3)");
    expect_tape(T, BAD(ag_conv1d, (T, T3(2, 3, 5), T3(4, 3, 3), NULL, 0, 0, 1)),
                "conv1d: input (2,3,5): stride 0 must be >= 1");
    expect_tape(T, BAD(ag_conv1d, (T, T3(2, 3, 2), T3(4, 3, 5), NULL, 1, 1, 1)),
                "conv1d: kernel 5 (dilation 1) is larger than the padded input 4 ((2,3,2) with padding 1)");
    expect_tape(T, BAD(ag_max_pool2d, (T, T3(2, 3, 5), 2, 2, 0)),
                "max_pool2d: input (2,3,5) must be 4-D (N,C,H,W)");
    expect_tape(T, BAD(ag_max_pool2d, (T, T4(1, 1, 4, 4), 0, 1, 0)),
                "max_pool2d: input (1,1,4,4): kernel 0 must be >= 1");
    expect_tape(T, BAD(ag_max_pool2d, (T, T4(1, 1, 4, 4), 2, 0, 0)),
                "max_pool2d: input (1,1,4,4): stride 0 must be >= 1");
    expect_tape(T, BAD(ag_max_pool2d, (T, T4(1, 1, 4, 4), 3, 1, 2)),
                "max_pool2d: input (1,1,4,4): padding 2 must be at most half the kernel 3");
    expect_tape(T, BAD(ag_max_pool2d, (T, T4(1, 1, 2, 4), 3, 1, 0)),
                "max_pool2d: kernel 3x3 is larger than the padded input 2x4 ((1,1,2,4) with padding 0)");
    expect_tape(T, BAD(ag_avg_pool2d, (T, T4(1, 2, 3, 3), 2, -1, 0)),
                "avg_pool2d: input (1,2,3,3): stride -1 must be >= 1");
    expect_tape(T, BAD(ag_avg_pool2d, (T, T4(1, 2, 3, 3), 2, 1, -1)),
                "avg_pool2d: input (1,2,3,3): padding -1 must be >= 0");
    expect_tape(T, BAD(ag_avg_pool2d, (T, T4(1, 2, 3, 3), 5, 1, 0)),
                "avg_pool2d: kernel 5x5 is larger than the padded input 3x3 ((1,2,3,3) with padding 0)");
}
#undef T4
#undef T3
#undef T1

/* The ops of ops_math.c and ops_reduce.c: shapes that do not fit, axes out of range, arguments
 * that make no sense. */
static void test_math_and_reduce_arguments(void **state) {
    (void)state;
    expect_tape(T, BAD(ag_maximum, (T, tt(T, 2, 3), tt(T, 3, 2))),
                "maximum: shapes (2,3) and (3,2) do not broadcast (dimension 0: 2 vs 3)");
    expect_tape(T, BAD(ag_minimum, (T, tt(T, 2, 3), tt(T, 2, 2))),
                "minimum: shapes (2,3) and (2,2) do not broadcast (dimension 1: 3 vs 2)");
    expect_tape(T, BAD(ag_where, (T, tt(T, 2, 1), tt(T, 2, 3), tt(T, 2, 4))),
                "where: shapes (2,3) and (2,4) do not broadcast (dimension 1: 3 vs 4)");
    expect_tape(T, BAD(ag_where, (T, tt(T, 3, 1), tt(T, 2, 3), tt(T, 1, 3))),
                "where: shapes (3,1) and (2,3) do not broadcast (dimension 0: 3 vs 2)");
    expect_tape(T, BAD(ag_clamp, (T, tt(T, 2, 3), NAN, 1)),
                "clamp: bounds lo nan and hi 1: a bound is NaN");
    expect_tape(T, BAD(ag_clamp, (T, tt(T, 2, 3), 0, NAN)), "clamp: bounds lo 0 and hi nan");
    expect_tape(T, BAD(ag_hardtanh, (T, tt(T, 2, 3), 1, 1)), "hardtanh: lo 1 must be below hi 1");
    expect_tape(T, BAD(ag_hardtanh, (T, tt(T, 2, 3), 2, -2)), "hardtanh: lo 2 must be below hi -2");
    expect_tape(T, BAD(ag_hardtanh, (T, tt(T, 2, 3), NAN, 1)), "hardtanh: bounds lo nan and hi 1");
    expect_tape(T, BAD(ag_leaky_relu, (T, tt(T, 2, 3), NAN)), "leaky_relu: slope nan is not finite");
    expect_tape(T, BAD(ag_leaky_relu, (T, tt(T, 2, 3), 1e300)), "leaky_relu: slope 1e+300 is not finite");
    expect_tape(T, BAD(ag_elu, (T, tt(T, 2, 3), INFINITY)), "elu: alpha inf is not finite");
    const int axes[] = {2, -3, INT_MAX, INT_MIN};
    for (int k = 0; k < 4; k++) {
        expect_axis(BAD(ag_min_axis, (T, tt(T, 2, 3), axes[k])), "min_axis", axes[k]);
        expect_axis(BAD(ag_argmax, (T, tt(T, 2, 3), axes[k])), "argmax", axes[k]);
        expect_axis(BAD(ag_logsumexp, (T, tt(T, 2, 3), axes[k])), "logsumexp", axes[k]);
        expect_axis(BAD(ag_var, (T, tt(T, 2, 3), axes[k], true)), "var", axes[k]);
        expect_axis(BAD(ag_std, (T, tt(T, 2, 3), axes[k], false)), "std", axes[k]);
    }
    expect_tape(T, BAD(ag_var, (T, tt(T, 2, 1), 1, true)),
                "var: the unbiased form needs at least 2 elements along axis 1 of (2,1)");
    expect_tape(T, BAD(ag_std, (T, tt(T, 1, 3), -2, true)),
                "std: the unbiased form needs at least 2 elements along axis -2 of (1,3)");
    /* 2^24 + 1 elements along the axis: the last index would round to 2^24 as a float */
    ag_tensor *longest = ag_tape_tensor(T, 1, (const int[]){16777217}, NULL);
    assert_non_null(longest);
    expect_tape(T, BAD(ag_argmax, (T, longest, 0)),
                "argmax: axis 0 of (16777217) is longer than 2^24: its indices would not be exact as floats");
    expect_tape(T, BAD(ag_xent_soft, (T, tt(T, 2, 3), tt(T, 3, 2), NULL)),
                "xent_soft: logits (2,3) and targets (3,2) must both be (B,C)");
    expect_tape(T, BAD(ag_xent_soft, (T, ag_scalar(T, 1), ag_scalar(T, 1), NULL)),
                "xent_soft: logits (1) and targets (1) must both be (B,C)");
    expect_tape(T, BAD(ag_xent_soft, (T, tt(T, 2, 3), tt(T, 2, 3), (const float[]){1, NAN, 1})),
                "xent_soft: class weight 1 is nan, not finite");
    expect_tape(T, BAD(ag_huber, (T, tt(T, 4, 1), tt(T, 1, 4), 1.0)),
                "huber: prediction (4,1) and target (1,4) differ in shape");
    const double deltas[] = {0, -1, NAN, INFINITY, 1e-300};
    for (int k = 0; k < 5; k++) {
        char want[96];
        snprintf(want, sizeof want, "huber: delta %g must be positive and finite", deltas[k]);
        expect_tape(T, BAD(ag_huber, (T, tt(T, 2, 2), tt(T, 2, 2), deltas[k])), want);
    }
    expect_tape(T, BAD(ag_smooth_l1, (T, tt(T, 2, 3), tt(T, 3, 2), 1.0)),
                "smooth_l1: prediction (2,3) and target (3,2) differ in shape");
    const double betas[] = {-1, NAN, INFINITY, 1e-300};
    for (int k = 0; k < 4; k++) {
        char want[96];
        snprintf(want, sizeof want, "smooth_l1: beta %g must be 0 or positive and finite", betas[k]);
        expect_tape(T, BAD(ag_smooth_l1, (T, tt(T, 2, 2), tt(T, 2, 2), betas[k])), want);
    }
}

static void test_sizes_zero_negative_overflowing(void **state) {
    (void)state;
    /* shapes given directly */
    const int bad[][4] = {{0, 3}, {3, -2}, {-1, -1}, {65536, 65536}, {INT_MAX, INT_MAX}, {INT_MIN, 1}};
    const char *why[] = {"dimension 0 is 0", "dimension 1 is -2", "dimension 0 is -1",
                         "absurd size", "absurd size", "dimension 0 is -2147483648"};
    for (int k = 0; k < 6; k++) {
        assert_null(BAD(ag_tensor_new, (2, bad[k], true)));
        expect_last(why[k]);
        assert_null(BAD(ag_tensor_2d, (bad[k][0], bad[k][1], false)));
        expect_last(why[k]);
        assert_null(BAD(ag_tensor_from, (2, bad[k], (const float[]){1}, false)));
        expect_last(why[k]);
        expect_tape(T, BAD(ag_tape_tensor, (T, 2, bad[k], NULL)), why[k]);
        nn_params *ps = nn_params_new();
        assert_null(BAD(nn_param_new, (ps, "w", 2, bad[k])));
        expect_last(why[k]);
        assert_int_equal(nn_params_count(ps), 0);
        nn_params_free(ps);
    }
    const int four[4] = {1024, 1024, 1024, 1024};
    assert_null(BAD(ag_tensor_new, (4, four, false)));
    expect_last("ag_tensor_new: absurd size: more than 2147483647 elements");
    const int ndims[] = {0, -1, 5, INT_MAX, INT_MIN};
    for (int k = 0; k < 5; k++) {
        char want[64];
        snprintf(want, sizeof want, "%d dimensions (must be 1 to 4)", ndims[k]);
        assert_null(BAD(ag_tensor_new, (ndims[k], four, false)));
        expect_last(want);
        expect_tape(T, BAD(ag_tape_tensor, (T, ndims[k], four, NULL)), want);
        expect_tape(T, BAD(ag_reshape, (T, tt(T, 2, 2), ndims[k], four)), "reshape: (2,2) to");
    }
    assert_null(BAD(ag_tensor_new, (2, NULL, false)));
    expect_last("ag_tensor_new: shape is NULL");
    assert_null(BAD(ag_tensor_from, (2, (const int[]){2, 2}, NULL, false)));
    expect_last("ag_tensor_from: values is NULL");
    expect_tape(T, BAD(ag_tape_tensor, (T, 2, NULL, NULL)), "tape_tensor: shape is NULL");
    expect_tape(T, BAD(ag_reshape, (T, tt(T, 2, 2), 2, NULL)), "reshape: (2,2) to 2 dimensions with a NULL shape");
    /* results whose element count overflows, made from legal pieces */
    ag_tensor *col = tt(T, 65536, 1), *row = tt(T, 1, 32768);
    expect_tape(T, BAD(ag_mul, (T, col, row)), "mul: absurd size"); /* 2^31 elements */
    col = tt(T, 65536, 1), row = tt(T, 1, 65536);
    expect_tape(T, BAD(ag_matmul, (T, col, row)), "matmul: absurd size");
    expect_tape(T, BAD(ag_reshape, (T, tt(T, 2, 2), 3, (const int[]){1 << 20, 1 << 20, -1})),
                "reshape: (2,2) has 4 elements");
    expect_tape(T, BAD(ag_reshape, (T, tt(T, 2, 2), 2, (const int[]){INT_MAX, INT_MAX})),
                "reshape: (2,2) has 4 elements");
    /* 65536 * 65536 is 2^32: 0 in a 32-bit long, which used to divide by zero there (wasm32) */
    expect_tape(T, BAD(ag_reshape, (T, tt(T, 1, 1), 3, (const int[]){65536, 65536, -1})),
                "reshape: (1,1) has 1 elements, shape (65536,65536,-1) does not fit them");
    expect_tape(T, BAD(ag_reshape, (T, tt(T, 2, 2), 2, (const int[]){-1, -1})), "new dimension 1 is -1");
    expect_tape(T, BAD(ag_reshape, (T, tt(T, 2, 2), 2, (const int[]){0, -1})), "new dimension 0 is 0");
    int *idx = calloc(1 << 20, sizeof(int));
    assert_non_null(idx);
    expect_tape(T, BAD(ag_gather_rows, (T, tt(T, 1, 4096), idx, 1 << 20)), "gather_rows: absurd size");
    free(idx);
    /* layers and nets of absurd size are refused before any memory is asked for */
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(1);
    nn_dense d = BAD(nn_dense_new, (ps, "big", 65536, 65536, NN_SIGMOID, nn_init_uniform(1), &rng));
    assert_null(d.W);
    expect_last("absurd size");
    d = BAD(nn_dense_new, (ps, "zero", 0, 3, NN_SIGMOID, nn_init_uniform(1), &rng));
    assert_null(d.W);
    expect_last("dimension 0 is 0");
    nn_recurrent rn = BAD(nn_recurrent_new, (ps, "rn", 3, -2, NN_TANH, nn_init_uniform(1), &rng));
    assert_null(rn.W);
    expect_last("dimension 0 is -2");
    nn_mlp m = BAD(nn_mlp_new, (ps, "m", "65536-65536", NN_SIGMOID, NN_SIGMOID, nn_init_uniform(1), &rng));
    assert_int_equal(m.nlayers, 0);
    expect_last("absurd size");
    nn_params_free(ps);
    /* the allocator refuses sizes that cannot be represented */
    assert_null(BAD(ag_alloc, ((size_t)-1)));
    assert_null(BAD(ag_alloc, ((size_t)-1 - 40)));
}

/* =============================================================================================
 * Tape-less functions.
 * =========================================================================================== */

static void test_tensor_functions(void **state) {
    (void)state;
    ag_tensor *poison = ag_exp(F, NULL), *c = tt(T, 2, 2);
    BAD(ag_tensor_free, (NULL));
    BAD(ag_tensor_free, (c));      /* a tape tensor: ignored */
    BAD(ag_tensor_free, (poison)); /* ignored */
    assert_int_equal(BAD(ag_set_requires_grad, (NULL, true)), -1);
    expect_last("ag_set_requires_grad: tensor is NULL");
    assert_int_equal(BAD(ag_set_requires_grad, (c, true)), -1);
    expect_last("ag_set_requires_grad: only user-owned tensors can change");
    assert_int_equal(BAD(ag_set_requires_grad, (poison, false)), -1);
    assert_int_equal(BAD(ag_tensor_set_name, (NULL, "x")), -1);
    expect_last("ag_tensor_set_name: tensor is NULL");
    assert_int_equal(BAD(ag_tensor_set_name, (poison, "x")), -1);
    expect_last("ag_tensor_set_name: tensor is poisoned");
    ag_tensor *u = ag_tensor_2d(2, 2, false);
    assert_int_equal(BAD(ag_tensor_set_name, (u, NULL)), 0); /* clears the name */
    assert_null(u->name);
    assert_true(isnan(BAD(ag_item, (NULL))));
    assert_true(isnan(BAD(ag_item, (poison))));
    assert_true(isnan(BAD(ag_item, (u)))); /* more than one element */
    assert_true(isnan(BAD(ag_grad_item, (NULL))));
    assert_true(isnan(BAD(ag_grad_item, (poison))));
    assert_true(isnan(BAD(ag_grad_item, (u))));
    char buf[8] = "xxxxxxx";
    assert_string_equal(BAD(ag_shape_str, (NULL, buf, sizeof buf)), "(null)");
    assert_null(BAD(ag_shape_str, (u, NULL, 10)));
    assert_ptr_equal(BAD(ag_shape_str, (u, buf, 0)), buf);
    ag_tensor *w4 = ag_tensor_new(4, (const int[]){10, 100, 1000, 2}, false);
    assert_non_null(w4);
    char tiny[6];
    BAD(ag_shape_str, (w4, tiny, sizeof tiny)); /* cut short, still terminated */
    assert_int_equal(strlen(tiny), 5);
    ag_tensor_free(w4);
    assert_string_equal(BAD(ag_op_name, (NULL)), "");
    assert_string_equal(BAD(ag_op_name, (poison)), "leaf");
    BAD(ag_zero_grad, (NULL));
    BAD(ag_zero_grad, (u)); /* no gradient: nothing to do */
    BAD(ag_zero_grad, (poison));
    ag_tensor_free(u);
    /* out of memory in every constructor */
    tu_alloc_install();
    tu_alloc_fail_at(1);
    assert_null(BAD(ag_scalar_param, (1.0)));
    expect_last("ag_tensor_new: out of memory");
    tu_alloc_fail_at(2);
    assert_null(ag_scalar_param(1.0)); /* the gradient's allocation */
    expect_last("out of memory for the gradient");
    tu_alloc_fail_at(1);
    assert_null(BAD(ag_tape_new, ()));
    expect_last("ag_tape_new: out of memory");
    tu_alloc_fail_at(1);
    assert_null(BAD(nn_params_new, ()));
    expect_last("nn_params_new: out of memory");
    tu_alloc_fail_at(0);
    assert_int_equal(tu_alloc.outstanding_blocks, 0);
    tu_alloc_uninstall();
}

static int counted;
static void *counting_alloc(size_t n, void *ctx) { (void)ctx; counted++; return malloc(n); }

static void count_nothing(void *ctx, int task) {
    (void)ctx;
    (void)task;
    fail(); /* never run: the calls below are refused */
}

static void test_memory_and_errors(void **state) {
    (void)state;
    /* half an allocator is no allocator: the default comes back */
    BAD(ag_set_allocator, (counting_alloc, NULL, NULL));
    void *p = BAD(ag_alloc, (100));
    assert_non_null(p);
    assert_int_equal(counted, 0);
    BAD(ag_free, (p));
    BAD(ag_free, (NULL));
    BAD(ag_set_allocator, (NULL, NULL, NULL));
    /* the last error: a NULL format, an overlong message */
    BAD(ag_set_last_error, ("%s", "something"));
    assert_string_equal(BAD(ag_last_error, ()), "something");
    BAD(ag_set_last_error, (NULL));
    assert_string_equal(ag_last_error(), "");
    char longmsg[1000];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    ag_set_last_error("%s", longmsg);
    assert_true(strlen(ag_last_error()) < 1000 && strlen(ag_last_error()) > 100);
    /* tapes */
    BAD(ag_tape_free, (NULL));
    BAD(ag_tape_reset, (NULL));
    assert_string_equal(BAD(ag_tape_error, (NULL)), "no tape (NULL)");
    assert_null(BAD(ag_tape_fail, (NULL, "x")));
    ag_tensor *poison = BAD(ag_tape_fail, (T, NULL));
    assert_ptr_equal(poison, ag_exp(T, NULL));
    tu_assert_error(T, "error");
    ag_tape_reset(T);
    ag_tape_fail(T, "%s", longmsg);
    assert_true(strlen(ag_tape_error(T)) < 1000);
    /* the status beside the message, and the check functions built on the ops start with */
    assert_int_equal(BAD(ag_tape_status, (NULL)), AG_ERR_NO_TAPE);
    assert_int_equal(BAD(ag_tape_status, (T)), AG_ERR_USER);
    assert_string_equal(BAD(ag_status_str, ((ag_status)12345)), "unknown status");
    assert_string_equal(BAD(ag_status_str, (AG_OK)), "ok");
    ag_set_last_error("%s", "");
    assert_false(BAD(ag_tape_ok, (NULL, NULL, 0, NULL)));
    expect_last("ag_tape_ok: tape is NULL");
    assert_false(BAD(ag_tape_ok, (F, "layer", 0, NULL)));
    ag_tape_reset(T);
    assert_false(BAD(ag_tape_ok, (T, "layer", 2, NULL)));
    expect_tape(T, ag_tape_poison(T), "layer: the input array is NULL");
    assert_false(BAD(ag_tape_ok, (T, "layer", 1, (ag_tensor *const[]){ag_exp(F, NULL)})));
    expect_tape(T, ag_tape_poison(T), "layer: input 1 is the poisoned result of a failed tape");
    assert_string_equal(ag_tape_error(F), "the first error");
    assert_null(BAD(ag_tape_poison, (NULL)));
    assert_true(BAD(ag_tape_poison, (F))->flags & AG_POISONED);
    assert_int_equal(BAD(ag_tape_nodes, (NULL)), 0);
    assert_int_equal(BAD(ag_tape_bytes, (NULL)), 0);
    ag_tape_reset(T);
    assert_int_equal(BAD(ag_tape_set_limit, (NULL, 1000)), -1);
    expect_last("ag_tape_set_limit: tape is NULL");
    ag_tape *L = ag_tape_new(); /* a fresh tape: no arena yet */
    assert_int_equal(BAD(ag_tape_set_limit, (L, 1)), 0); /* absurdly small: the first op fails */
    ag_tensor *r = ag_scalar(L, 1.0);
    assert_int_equal(ag_tape_status(L), AG_ERR_TAPE_LIMIT);
    expect_tape(L, r, "tape_tensor: the tape would hold");
    assert_int_equal(BAD(ag_tape_set_limit, (L, (size_t)-1)), 0); /* as good as none */
    assert_false(ag_scalar(L, 1.0)->flags & AG_POISONED);
    ag_tape_free(L);
    assert_int_equal(BAD(ag_tape_check_finite, (NULL, true)), -1);
    expect_last("ag_tape_check_finite: tape is NULL");
    assert_string_equal(BAD(nn_error, (NULL)), ag_last_error());
    assert_string_equal(BAD(nn_error, (F)), "the first error");
    /* threads: a count below 1 means one per online CPU (at most 64); back to 1 joins them */
    assert_int_equal(BAD(ag_set_threads, (-7)), 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(BAD(ag_get_threads, ()), cpus < 1 ? 1 : cpus > 64 ? 64 : cpus);
    assert_int_equal(ag_set_threads(1), 0);
    assert_int_equal(ag_get_threads(), 1);
    /* the pool: no function, or fewer than no tasks, runs nothing */
    assert_int_equal(BAD(ag_parallel, (3, NULL, NULL)), -1);
    expect_last("ag_parallel: task function is NULL (3 tasks); nothing run");
    assert_int_equal(ag_parallel(-2, count_nothing, NULL), -1);
    expect_last("ag_parallel: -2 tasks (must be 0 or more)");
    /* the kernels' instruction set: one of three names whatever BACKPROP_ISA says */
    const char *isa = BAD(ag_kernels_name, ());
    assert_true(!strcmp(isa, "avx512") || !strcmp(isa, "avx2") || !strcmp(isa, "generic"));
}

/* The tape as a picture and the narrated sweep. */
static void test_dot_and_trace(void **state) {
    (void)state;
    FILE *sink = fopen("/dev/null", "w"), *full = fopen("/dev/full", "w");
    assert_non_null(sink);
    assert_int_equal(BAD(ag_tape_write_dot, (NULL, sink)), -1);
    expect_last("ag_tape_write_dot: tape is NULL");
    assert_int_equal(ag_tape_write_dot(T, NULL), -1);
    expect_last("ag_tape_write_dot: file is NULL");
    ag_tensor *w = ag_tensor_from(1, (const int[]){2}, (const float[]){1, 2}, true);
    ag_sum(T, ag_mul(T, w, w));
    if (full) { /* a disk that is full */
        assert_int_equal(ag_tape_write_dot(T, full), -1);
        expect_last("ag_tape_write_dot: write error");
        fclose(full);
    }
    tu_alloc_install();
    tu_alloc_fail_at(1);
    assert_int_equal(ag_tape_write_dot(T, sink), -1);
    expect_last("ag_tape_write_dot: out of memory");
    tu_alloc_fail_at(0);
    tu_alloc_uninstall();
    assert_int_equal(ag_tape_write_dot(F, sink), 0); /* a failed tape is drawn, with its error */
    BAD(ag_tape_set_trace, (NULL, sink));
    expect_last("ag_tape_set_trace: tape is NULL");
    ag_tape_set_trace(F, sink);
    assert_int_equal(ag_backward(F, ag_exp(F, NULL)), -1); /* nothing to narrate */
    ag_tape_set_trace(F, NULL);
    ag_tensor_free(w);
    fclose(sink);
}

static void test_backward(void **state) {
    (void)state;
    ag_tensor *w = ag_tensor_from(1, (const int[]){2}, (const float[]){1, 2}, true);
    assert_int_equal(BAD(ag_backward, (NULL, NULL)), -1);
    expect_last("backward: tape is NULL");
    assert_int_equal(BAD(ag_backward, (T, NULL)), -1);
    tu_assert_error(T, "backward: input 1 is NULL");
    ag_tape_reset(T);
    assert_int_equal(BAD(ag_backward, (T, ag_mul(T, w, w))), -1);
    tu_assert_error(T, "backward: loss has shape (2), not one element");
    ag_tape_reset(T);
    assert_int_equal(BAD(ag_backward, (T, ag_sum(O, ag_tape_tensor(O, 1, (const int[]){2}, NULL)))), -1);
    tu_assert_error(T, "backward: input 1 (1) belongs to another tape");
    ag_tape_reset(T);
    assert_int_equal(BAD(ag_backward, (T, ag_exp(F, NULL))), -1);
    tu_assert_error(T, "backward: input 1 is the poisoned result of a failed tape");
    ag_tape_reset(T);
    assert_int_equal(BAD(ag_backward_seed, (T, ag_mul(T, w, w), NULL)), -1);
    tu_assert_error(T, "backward: seed gradient is NULL for output (2)");
    ag_tape_reset(T);
    assert_int_equal(BAD(ag_backward_seed, (NULL, w, (const float[]){1, 1})), -1);
    expect_last("backward: tape is NULL");
    assert_int_equal(BAD(ag_backward_seed, (T, NULL, (const float[]){1})), -1);
    ag_tape_reset(T);
    assert_int_equal(BAD(ag_backward_steps, (NULL, w, 1)), -1);
    expect_last("backward_steps: tape is NULL");
    assert_int_equal(BAD(ag_backward_steps, (T, NULL, 1)), -1);
    tu_assert_error(T, "backward_steps: input 1 is NULL");
    ag_tape_reset(T);
    assert_int_equal(BAD(ag_backward_steps, (T, ag_mul(T, w, w), 1)), -1);
    tu_assert_error(T, "backward_steps: loss has shape (2), not one element");
    ag_tape_reset(T);
    assert_int_equal(BAD(ag_backward_steps, (T, ag_sum(T, ag_mul(T, w, w)), -1)), -1);
    tu_assert_error(T, "backward_steps: steps is -1 (must be 0 or more)");
    assert_true(w->grad == NULL || (w->grad[0] == 0 && w->grad[1] == 0));
    ag_tape_reset(T);
    /* on a failed tape no gradient changes, even from a node recorded before the failure */
    ag_tensor *y = ag_sum(T, ag_mul(T, w, w));
    ag_tape_fail(T, "later failure");
    assert_int_equal(ag_backward(T, y), -1);
    assert_int_equal(ag_backward_steps(T, y, 1), -1);
    assert_true(w->grad[0] == 0 && w->grad[1] == 0);
    ag_tensor_free(w);
}

/* A loss function for gradcheck that fails, and one that returns the wrong shape. */
static ag_tensor *loss_fails(ag_tape *t, void *ctx) { (void)ctx; return ag_exp(t, NULL); }
static ag_tensor *loss_wide(ag_tape *t, void *ctx) { return ag_square(t, (ag_tensor *)ctx); }
static ag_tensor *loss_null(ag_tape *t, void *ctx) { (void)t, (void)ctx; return NULL; }
static ag_tensor *loss_ok(ag_tape *t, void *ctx) { return ag_sum(t, ag_square(t, (ag_tensor *)ctx)); }

static void test_gradcheck(void **state) {
    (void)state;
    ag_tensor *w = ag_tensor_from(1, (const int[]){2}, (const float[]){1, 2}, true);
    ag_tensor *c = tt(T, 1, 2), *nograd = ag_tensor_2d(1, 2, false);
    ag_gradcheck_report r;
    ag_tensor *const ps[] = {w};
    assert_int_equal(BAD(ag_gradcheck, (loss_ok, w, ps, 1, 1e-3, 1e-2, NULL)), -1);
    expect_last("gradcheck: report is NULL");
    struct { ag_loss_fn f; ag_tensor *const *p; int n; double eps, floor; const char *why; } cases[] = {
        {NULL, ps, 1, 1e-3, 1e-2, "needs a loss function and at least one parameter"},
        {loss_ok, NULL, 1, 1e-3, 1e-2, "needs a loss function and at least one parameter"},
        {loss_ok, ps, 0, 1e-3, 1e-2, "needs a loss function and at least one parameter"},
        {loss_ok, ps, -4, 1e-3, 1e-2, "needs a loss function and at least one parameter"},
        {loss_ok, ps, 1, 0.0, 1e-2, "eps and floor must be positive"},
        {loss_ok, ps, 1, NAN, 1e-2, "eps and floor must be positive"},
        {loss_ok, ps, 1, 1e-3, -1.0, "eps and floor must be positive"},
        {loss_ok, (ag_tensor *const[]){c}, 1, 1e-3, 1e-2, "must be a user-owned tensor that requires a gradient"},
        {loss_ok, (ag_tensor *const[]){nograd}, 1, 1e-3, 1e-2, "must be a user-owned tensor that requires"},
        {loss_ok, (ag_tensor *const[]){NULL}, 1, 1e-3, 1e-2, "must be a user-owned tensor"},
        {loss_fails, ps, 1, 1e-3, 1e-2, "the loss function failed: exp: input 1 is NULL"},
        {loss_wide, ps, 1, 1e-3, 1e-2, "the loss function must return a one-element tensor"},
        {loss_null, ps, 1, 1e-3, 1e-2, "the loss function must return a one-element tensor"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        w->data[0] = 1, w->data[1] = 2, w->grad[0] = 5, w->grad[1] = 6;
        assert_int_equal(ag_gradcheck(cases[k].f, w, cases[k].p, cases[k].n, cases[k].eps, cases[k].floor, &r), -1);
        if (!strstr(r.error, cases[k].why)) {
            print_error("case %zu: %s\nexpected: %s\n", k, r.error, cases[k].why);
            fail();
        }
        assert_true(w->data[0] == 1 && w->data[1] == 2 && w->grad[0] == 5 && w->grad[1] == 6);
    }
    ag_tensor_free(w);
    ag_tensor_free(nograd);
}

/* =============================================================================================
 * nn: generators, initialisation, parameter lists, layers, optimisers, save/load.
 * =========================================================================================== */

static void test_rng_and_init(void **state) {
    (void)state;
    nn_rng r = BAD(nn_rng_seed, (0)); /* seed 0 is a seed like any other */
    assert_true(BAD(nn_rng_next, (&r)) != nn_rng_next(&r));
    assert_int_equal(BAD(nn_rng_next, (NULL)), 0);
    expect_last("nn_rng_next: generator is NULL");
    assert_true(BAD(nn_rng_uniform, (NULL)) == 0.0);
    expect_last("generator is NULL");
    assert_true(BAD(nn_rng_range, (NULL, 2.0, 3.0)) == 2.0);
    expect_last("generator is NULL");
    assert_true(BAD(nn_rng_normal, (NULL)) == 0.0);
    expect_last("generator is NULL");
    assert_int_equal(BAD(nn_rng_int, (NULL, 10)), 0);
    expect_last("generator is NULL");
    ag_set_last_error("%s", "");
    assert_int_equal(BAD(nn_rng_int, (&r, 0)), 0);
    expect_last("nn_rng_int: n = 0 (must be >= 1)");
    assert_int_equal(nn_rng_int(&r, INT_MIN), 0);
    expect_last("nn_rng_int: n = -2147483648");
    int a[4] = {0, 1, 2, 3};
    BAD(nn_rng_shuffle, (NULL, a, 4));
    expect_last("nn_rng_shuffle: generator is NULL");
    BAD(nn_rng_shuffle, (&r, NULL, 4));
    expect_last("nn_rng_shuffle: array is NULL");
    BAD(nn_rng_shuffle, (&r, a, -4));
    expect_last("nn_rng_shuffle: n = -4");
    assert_true(a[0] == 0 && a[1] == 1 && a[2] == 2 && a[3] == 3);
    /* initialisation */
    ag_tensor *w = ag_tensor_2d(3, 4, true);
    for (int i = 0; i < 12; i++) w->data[i] = 7;
    assert_int_equal(BAD(nn_init_fill, (NULL, nn_init_uniform(1), 3, 4, false, &r)), -1);
    expect_last("nn_init_fill: tensor is NULL");
    assert_int_equal(nn_init_fill(w, nn_init_uniform(1), 3, 4, false, NULL), -1);
    expect_last("nn_init_fill: rng is NULL");
    assert_int_equal(nn_init_fill(ag_exp(F, NULL), nn_init_uniform(1), 3, 4, false, &r), -1);
    expect_last("nn_init_fill: tensor is poisoned");
    nn_init kinds[] = {BAD(nn_init_uniform, (-1.0)), nn_init_uniform(NAN), nn_init_uniform(INFINITY)};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(nn_init_fill(w, kinds[k], 3, 4, false, &r), -1);
        expect_last("nn_init_fill: the uniform range");
    }
    nn_init weird = {(nn_init_kind)99, 0.0};
    assert_int_equal(nn_init_fill(w, weird, 3, 4, false, &r), -1);
    expect_last("nn_init_fill: unknown initialisation 99");
    assert_int_equal(nn_init_fill(w, BAD(nn_init_xavier, ()), 0, 0, false, &r), -1);
    expect_last("nn_init_fill: fan_in 0 and fan_out 0");
    assert_int_equal(nn_init_fill(w, BAD(nn_init_he, ()), -3, 4, false, &r), -1);
    expect_last("nn_init_fill: fan_in -3 and fan_out 4");
    for (int i = 0; i < 12; i++) assert_true(w->data[i] == 7); /* untouched */
    nn_params *ps = nn_params_new();
    nn_dense d = BAD(nn_dense_new, (ps, "x", 3, 2, NN_SIGMOID, nn_init_uniform(-1), &r));
    assert_null(d.W);
    expect_last("nn_init_fill: the uniform range");
    nn_params_free(ps);
    ag_tensor_free(w);
}

static void test_params(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    ag_tensor *w = nn_param_new(ps, "w", 1, (const int[]){3});
    char long_name[80];
    memset(long_name, 'n', 64);
    long_name[64] = '\0';
    struct { nn_params *ps; const char *name; const char *why; } cases[] = {
        {NULL, "a", "nn_param_new: parameter list is NULL"},
        {ps, NULL, "nn_param_new: name is NULL"},
        {ps, "", "nn_param_new: name must be 1 to 63 characters"},
        {ps, long_name, "nn_param_new: name must be 1 to 63 characters"},
        {ps, "w", "nn_param_new: a parameter named 'w' already exists"},
    };
    for (int k = 0; k < 5; k++) {
        assert_null(BAD(nn_param_new, (cases[k].ps, cases[k].name, 1, (const int[]){3})));
        expect_last(cases[k].why);
    }
    assert_int_equal(nn_params_count(ps), 1);
    BAD(nn_params_free, (NULL));
    assert_int_equal(BAD(nn_params_count, (NULL)), 0);
    assert_null(BAD(nn_params_at, (NULL, 0)));
    const int idx[] = {-1, 1, INT_MAX, INT_MIN};
    for (int k = 0; k < 4; k++) assert_null(nn_params_at(ps, idx[k]));
    assert_null(BAD(nn_params_find, (NULL, "w")));
    assert_null(nn_params_find(ps, NULL));
    assert_null(nn_params_find(ps, "missing"));
    assert_int_equal(BAD(nn_params_numel, (NULL)), 0);
    BAD(nn_zero_grad, (NULL));
    BAD(nn_params_print, (NULL, stdout, 3));
    BAD(nn_params_print, (ps, NULL, 3));
    FILE *devnull = fopen("/dev/null", "w");
    BAD(nn_params_print, (ps, devnull, -1));
    fclose(devnull);
    /* a parameter whose gradient was turned off does not crash the optimiser or zeroing */
    nn_optim *o = nn_sgd_new(ps, 0.1, 0.9);
    ag_set_requires_grad(w, false);
    nn_zero_grad(ps);
    assert_int_equal(BAD(nn_optim_step, (o, NULL)), -1);
    expect_last("optimiser step: parameter 'w' has no gradient");
    nn_optim_free(o);
    nn_params_free(ps);
}

static void test_layers(void **state) {
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
static void test_unfolded_runs(void **state) {
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

static void test_optimisers(void **state) {
    (void)state;
    nn_params *empty = nn_params_new();
    assert_null(BAD(nn_sgd_new, (NULL, 0.1, 0.9)));
    expect_last("nn_sgd_new: parameter list is NULL");
    assert_null(nn_sgd_new(empty, 0.1, 0.9));
    expect_last("nn_sgd_new: the parameter list is empty");
    assert_null(BAD(nn_adam_new, (NULL, 0.1)));
    expect_last("nn_adam_new: parameter list is NULL");
    const double bad_lr[] = {NAN, INFINITY, -0.1};
    for (int k = 0; k < 3; k++) {
        assert_null(nn_sgd_new(PS, bad_lr[k], 0.9));
        expect_last("nn_sgd_new: learning rate");
        assert_null(nn_sgd_new(PS, 0.1, bad_lr[k]));
        expect_last("nn_sgd_new: momentum");
        assert_null(nn_adam_new(PS, bad_lr[k]));
        expect_last("nn_adam_new: learning rate");
    }
    nn_params_free(empty);
    nn_optim *o = nn_sgd_new(PS, 0.1, 0.5), *a = nn_adam_new(PS, 0.01);
    /* setters refuse bad values, say why, and keep the old setting */
    BAD(nn_optim_set_lr, (NULL, 0.1));
    expect_last("nn_optim_set_lr: optimiser is NULL");
    BAD(nn_optim_set_lr, (o, NAN));
    expect_last("nn_optim_set_lr: learning rate nan");
    BAD(nn_optim_set_lr, (o, -1));
    BAD(nn_optim_set_momentum, (NULL, 0.1));
    expect_last("nn_optim_set_momentum: optimiser is NULL");
    BAD(nn_optim_set_momentum, (o, INFINITY));
    expect_last("nn_optim_set_momentum: momentum inf");
    BAD(nn_optim_set_weight_decay, (NULL, 0.1));
    expect_last("nn_optim_set_weight_decay: optimiser is NULL");
    BAD(nn_optim_set_weight_decay, (o, 1.5));
    expect_last("nn_optim_set_weight_decay: decay 1.5");
    BAD(nn_optim_set_weight_decay, (o, -0.1));
    BAD(nn_adam_set, (NULL, 0.9, 0.999, 1e-8));
    expect_last("nn_adam_set: optimiser is NULL");
    BAD(nn_adam_set, (a, 1.0, 0.999, 1e-8));
    expect_last("nn_adam_set: beta1 1");
    BAD(nn_adam_set, (a, 0.9, -0.5, 1e-8));
    expect_last("nn_adam_set: beta2 -0.5");
    BAD(nn_adam_set, (a, 0.9, 0.999, 0.0));
    expect_last("nn_adam_set: eps 0");
    BAD(nn_adam_set, (o, 0.9, 0.999, 1e-8));
    expect_last("nn_adam_set: not an Adam optimiser");
    BAD(nn_optim_schedule, (NULL, 5, 0.1, 0.9));
    expect_last("nn_optim_schedule: optimiser is NULL");
    BAD(nn_optim_schedule, (o, -5, 0.1, 0.9));
    expect_last("nn_optim_schedule: step -5");
    BAD(nn_optim_schedule, (o, 5, NAN, 0.9));
    expect_last("nn_optim_schedule: learning rate nan");
    assert_true(BAD(nn_optim_lr, (o)) == 0.1);
    assert_true(BAD(nn_optim_momentum, (o)) == 0.5);
    nn_optim_state st = nn_optim_state_of(o), sa = nn_optim_state_of(a);
    assert_true(st.hyper[nn_hyper_index(st.type, "decay")] == 0.0 && st.sched->nchanges == 0);
    assert_true(sa.hyper[nn_hyper_index(sa.type, "beta1")] == 0.9 &&
                sa.hyper[nn_hyper_index(sa.type, "beta2")] == 0.999 &&
                sa.hyper[nn_hyper_index(sa.type, "eps")] == 1e-8);
    assert_true(BAD(nn_optim_lr, (NULL)) == 0.0);
    assert_true(BAD(nn_optim_momentum, (NULL)) == 0.0);
    assert_int_equal(BAD(nn_optim_steps, (NULL)), 0);
    /* steps that must not happen */
    float *before = malloc((size_t)nn_params_numel(PS) * sizeof(float));
    for (int i = 0, off = 0; i < nn_params_count(PS); off += nn_params_at(PS, i)->numel, i++)
        memcpy(before + off, nn_params_at(PS, i)->data, (size_t)nn_params_at(PS, i)->numel * sizeof(float));
    assert_int_equal(BAD(nn_optim_step, (NULL, T)), -1);
    expect_last("optimiser step: optimiser is NULL");
    assert_int_equal(nn_optim_step(o, F), -1);
    assert_string_equal(nn_error(F), "the first error");
    nn_params_at(PS, 0)->grad[1] = NAN;
    assert_int_equal(nn_optim_step(a, NULL), -1);
    expect_last("optimiser step: the gradient of d.W holds NaN at element 1");
    nn_params_at(PS, 0)->grad[1] = 0;
    for (int i = 0, off = 0; i < nn_params_count(PS); off += nn_params_at(PS, i)->numel, i++)
        assert_memory_equal(before + off, nn_params_at(PS, i)->data, (size_t)nn_params_at(PS, i)->numel * sizeof(float));
    assert_int_equal(BAD(nn_optim_steps, (o)), 0);
    free(before);
    BAD(nn_optim_free, (NULL));
    nn_optim_free(o);
    nn_optim_free(a);
}

/* RMSprop, AdamW and the learning-rate schedule: every setting checked against the optimiser
 * table's range, refused with the value named, the old setting kept. */
static void test_optimiser_table_settings(void **state) {
    (void)state;
    assert_null(BAD(nn_rmsprop_new, (NULL, 0.01)));
    expect_last("nn_rmsprop_new: parameter list is NULL");
    assert_null(nn_rmsprop_new(PS, -1));
    expect_last("nn_rmsprop_new: learning rate -1 must be finite and >= 0");
    assert_null(BAD(nn_adamw_new, (NULL, 0.01, 0.01)));
    expect_last("nn_adamw_new: parameter list is NULL");
    assert_null(nn_adamw_new(PS, NAN, 0.01));
    expect_last("nn_adamw_new: learning rate nan must be finite and >= 0");
    assert_null(nn_adamw_new(PS, 0.01, -0.5));
    expect_last("nn_adamw_new: decay -0.5 must be finite and >= 0");
    assert_null(nn_adamw_new(PS, 0.01, INFINITY));
    expect_last("nn_adamw_new: decay inf must be finite and >= 0");
    nn_optim *r = nn_rmsprop_new(PS, 0.01), *w = nn_adamw_new(PS, 0.001, 0.01);
    nn_optim *s = nn_sgd_new(PS, 0.1, 0.5), *a = nn_adam_new(PS, 0.01);
    assert_non_null(r), assert_non_null(w), assert_non_null(s), assert_non_null(a);

    BAD(nn_rmsprop_set, (NULL, 0.9, 1e-8));
    expect_last("nn_rmsprop_set: optimiser is NULL");
    BAD(nn_rmsprop_set, (r, 1.0, 1e-8));
    expect_last("nn_rmsprop_set: alpha 1 must be in [0, 1)");
    BAD(nn_rmsprop_set, (r, 0.9, 0.0));
    expect_last("nn_rmsprop_set: eps 0 must be finite and > 0");
    BAD(nn_rmsprop_set, (a, 0.9, 1e-8));
    expect_last("nn_rmsprop_set: not an RMSprop optimiser (Adam has no alpha)");
    ag_set_last_error("%s", "");
    nn_adam_set(w, 0.5, 0.75, 1.0); /* AdamW takes Adam's constants */
    assert_string_equal(ag_last_error(), "");
    nn_adam_set(r, 0.5, 0.75, 1.0);
    expect_last("nn_adam_set: not an Adam optimiser (RMSprop has no beta1)");
    nn_adam_set(w, 0.5, 1.5, 1.0); /* all or nothing: beta1 is not changed either */
    expect_last("nn_adam_set: beta2 1.5 must be in [0, 1)");
    nn_optim_state sw = nn_optim_state_of(w);
    assert_true(sw.hyper[nn_hyper_index(sw.type, "beta1")] == 0.5);
    nn_optim_set_weight_decay(w, 2.0); /* AdamW's decoupled decay may exceed 1 */
    assert_true(sw.hyper[nn_hyper_index(sw.type, "decay")] == 2.0);
    nn_optim_set_momentum(a, 0.9);
    expect_last("nn_optim_set_momentum: Adam has no momentum");
    nn_optim_set_momentum(w, 0.9);
    expect_last("nn_optim_set_momentum: AdamW has no momentum");
    nn_optim_set_momentum(r, -1);
    expect_last("nn_optim_set_momentum: momentum -1 must be finite and >= 0");

    BAD(nn_optim_warmup, (NULL, 5));
    expect_last("nn_optim_warmup: optimiser is NULL");
    BAD(nn_optim_warmup, (s, -3));
    expect_last("nn_optim_warmup: warm-up -3 must be >= 0 steps");
    BAD(nn_optim_step_decay, (NULL, 5, 0.5));
    expect_last("nn_optim_step_decay: optimiser is NULL");
    BAD(nn_optim_step_decay, (s, -5, 0.5));
    expect_last("nn_optim_step_decay: step decay period -5 must be >= 1 step");
    BAD(nn_optim_step_decay, (s, 5, 0.0));
    expect_last("nn_optim_step_decay: step decay factor 0 must be in (0, 1]");
    BAD(nn_optim_step_decay, (s, 5, NAN));
    expect_last("nn_optim_step_decay: step decay factor nan must be in (0, 1]");
    BAD(nn_optim_cosine, (NULL, 5, 0.0));
    expect_last("nn_optim_cosine: optimiser is NULL");
    BAD(nn_optim_cosine, (s, -1, 0.0));
    expect_last("nn_optim_cosine: cosine period -1 must be >= 1 step");
    BAD(nn_optim_cosine, (s, 10, 1.5));
    expect_last("nn_optim_cosine: cosine final fraction 1.5 must be in [0, 1]");
    assert_true(BAD(nn_optim_scheduled_lr, (NULL)) == 0.0);
    expect_last("nn_optim_scheduled_lr: optimiser is NULL");
    assert_true(nn_optim_scheduled_lr(s) == 0.1); /* nothing above changed the schedule */
    nn_optim_schedule(s, 3, INFINITY, -1);
    expect_last("nn_optim_schedule: learning rate inf must be finite (negative: keep)");
    nn_optim_schedule(s, 3, 0.5, NAN);
    expect_last("nn_optim_schedule: momentum nan must be finite (negative: keep)");
    nn_optim_state ss = nn_optim_state_of(s);
    assert_int_equal(ss.sched->nchanges, 0);
    assert_int_equal(ss.sched->warmup, 0);
    assert_int_equal(ss.sched->decay, NN_DECAY_NONE);
    nn_optim_free(r), nn_optim_free(w), nn_optim_free(s), nn_optim_free(a);
}

static void test_save_load_arguments(void **state) {
    (void)state;
    nn_params *other = nn_params_new();
    nn_param_new(other, "q", 1, (const int[]){2});
    nn_optim *foreign = nn_sgd_new(other, 0.1, 0.9);
    assert_int_equal(BAD(nn_save, (NULL, PS, NULL)), -1);
    expect_last("nn_save: (no file): path is NULL");
    assert_int_equal(nn_save("", PS, NULL), -1);
    expect_last("nn_save: (no file): path is empty");
    assert_int_equal(nn_save("/tmp/x.bp", NULL, NULL), -1);
    expect_last("nn_save: /tmp/x.bp: parameter list is NULL");
    assert_int_equal(nn_save("/tmp/x.bp", PS, foreign), -1);
    expect_last("nn_save: /tmp/x.bp: the optimiser was made for another parameter list");
    char dir[] = "/tmp/backprop-badsave-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(nn_save(dir, PS, NULL), -1); /* a directory: the rename cannot replace it */
    expect_last("rename failed: Is a directory; nothing saved, the old file is kept");
    rmdir(dir);
    assert_int_equal(BAD(nn_load, (NULL, PS, NULL)), -1);
    expect_last("nn_load: (no file): path is NULL");
    assert_int_equal(nn_load("", PS, NULL), -1);
    expect_last("nn_load: (no file): path is empty");
    assert_int_equal(nn_load("/tmp/x.bp", NULL, NULL), -1);
    expect_last("nn_load: /tmp/x.bp: parameter list is NULL");
    assert_int_equal(nn_load("/dev/null", PS, NULL), -1);
    expect_last("nn_load: /dev/null: not a regular file");
    nn_optim_free(foreign);
    nn_params_free(other);
}

/* All gradients as one buffer: NULLs, a buffer of the wrong size, a parameter without a
 * gradient; each refused with nothing written (buffer and gradients as they were). */
static void test_grads_pack_unpack(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    ag_tensor *w = nn_param_new(ps, "w", 2, (const int[]){2, 3});
    ag_tensor *b = nn_param_new(ps, "b", 1, (const int[]){3});
    for (int i = 0; i < 6; i++) w->grad[i] = (float)i;
    for (int i = 0; i < 3; i++) b->grad[i] = 10.0f + (float)i;
    float buf[9];
    for (int i = 0; i < 9; i++) buf[i] = -1.0f;
    assert_int_equal(BAD(nn_grads_pack, (NULL, buf, 9)), -1);
    expect_last("nn_grads_pack: parameter list is NULL");
    assert_int_equal(nn_grads_pack(ps, NULL, 9), -1);
    expect_last("nn_grads_pack: buffer is NULL");
    const long wrong[] = {0, 8, 10, -1, LONG_MAX};
    for (int k = 0; k < 5; k++) {
        assert_int_equal(nn_grads_pack(ps, buf, wrong[k]), -1);
        expect_last("floats but the 2 parameters' gradients are 9 (nn_params_numel)");
        assert_int_equal(nn_grads_unpack(ps, buf, wrong[k]), -1);
        expect_last("nn_grads_unpack: the buffer holds");
    }
    for (int i = 0; i < 9; i++) assert_true(buf[i] == -1.0f); /* nothing written */
    assert_int_equal(BAD(nn_grads_unpack, (NULL, buf, 9)), -1);
    expect_last("nn_grads_unpack: parameter list is NULL");
    assert_int_equal(nn_grads_unpack(ps, NULL, 9), -1);
    expect_last("nn_grads_unpack: buffer is NULL");
    ag_set_requires_grad(b, false); /* the second parameter has no gradient: w is not touched */
    assert_int_equal(nn_grads_pack(ps, buf, 6), -1);
    expect_last("the buffer holds 6 floats but the 2 parameters' gradients are 9");
    assert_int_equal(nn_grads_pack(ps, buf, 9), -1);
    expect_last("nn_grads_pack: parameter 'b' has no gradient");
    assert_int_equal(nn_grads_unpack(ps, buf, 9), -1);
    expect_last("nn_grads_unpack: parameter 'b' has no gradient");
    for (int i = 0; i < 6; i++) assert_true(w->grad[i] == (float)i);
    for (int i = 0; i < 9; i++) assert_true(buf[i] == -1.0f);
    nn_params *empty = nn_params_new(); /* no parameters: an empty buffer is the right size */
    assert_int_equal(nn_grads_pack(empty, buf, 0), 0);
    assert_int_equal(nn_grads_unpack(empty, buf, 0), 0);
    nn_params_free(empty);
    nn_params_free(ps);
}

/* =============================================================================================
 * Coverage: every public function in the headers has been called above with bad input.
 * =========================================================================================== */

/* The convolutional layer: creation refuses bad sizes all or nothing; its forward names what is
 * wrong (a missing layer, an input with the wrong channels, a kernel larger than the input). */
static void test_conv_layer(void **state) {
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
static void test_gated_cells(void **state) {
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
            print_error("public function %s has no bad-input case in tests/test_badinput.c\n", names[i]);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
}

/* ---- detach, the no-gradient mode, clipping by norm ------------------------------------------ */

static void test_detach_grad_mode_and_clipping(void **state) {
    (void)state;
    ag_tensor *keep = ag_tensor_2d(2, 3, false);
    assert_null(BAD(ag_detach, (NULL, tt(T, 2, 3))));
    expect_last("detach: tape is NULL");
    expect_tape(T, BAD(ag_detach, (T, NULL)), "detach: input 1 is NULL");
    expect_tape(F, BAD(ag_detach, (F, tt(F, 2, 3))), "the first error");
    expect_tape(T, BAD(ag_detach, (T, tt(O, 2, 3))), "detach: input 1 (2,3) belongs to another tape");
    assert_null(BAD(ag_detach_into, (NULL, tt(T, 2, 3), keep)));
    expect_last("detach_into: tape is NULL");
    expect_tape(T, BAD(ag_detach_into, (T, NULL, keep)), "detach_into: input 1 is NULL");
    expect_tape(T, BAD(ag_detach_into, (T, tt(T, 2, 3), NULL)), "detach_into: input 2 is NULL");
    expect_tape(T, BAD(ag_detach_into, (T, tt(T, 3, 2), keep)), "detach_into: x (3,2) and keep (2,3) differ");
    expect_tape(T, BAD(ag_detach_into, (T, tt(T, 2, 3), tt(T, 2, 3))), "must be user-owned");
    ag_tensor_free(keep);

    assert_int_equal(BAD(ag_tape_set_grad, (NULL, false)), -1);
    expect_last("ag_tape_set_grad: tape is NULL");
    assert_false(BAD(ag_tape_grad_enabled, (NULL)));
    assert_int_equal(ag_tape_set_grad(T, false), 0);
    ag_tensor *w = ag_scalar_param(1);
    assert_int_equal(ag_backward(T, ag_mul(T, w, w)), -1);
    tu_assert_error(T, "backward: output (1) was recorded with gradients off");
    assert_float_equal(ag_grad_item(w), 0, 0);
    ag_tensor_free(w);
    ag_tape_set_grad(T, true);
    ag_tape_reset(T);

    assert_true(BAD(nn_clip_grad_norm, (NULL, 1)) == -1);
    expect_last("nn_clip_grad_norm: parameter list is NULL");
    const double bad_max[] = {0, -1, NAN, -INFINITY};
    for (int k = 0; k < 4; k++) {
        assert_true(BAD(nn_clip_grad_norm, (PS, bad_max[k])) == -1);
        expect_last("must be above 0");
    }
}

/* ---- dropout and layer normalisation -------------------------------------------------------- */

static void test_dropout_and_layernorm(void **state) {
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

/* ---- ops of your own (ag_custom) ------------------------------------------------------------ */

static void square_fwd(const ag_custom_view *v) {
    for (int i = 0; i < v->out->numel; i++) v->out->data[i] = v->in[0]->data[i] * v->in[0]->data[i];
}
static void square_vjp(const ag_custom_view *v) {
    if (v->in[0]->grad)
        for (int i = 0; i < v->out->numel; i++)
            v->in[0]->grad[i] += 2 * v->in[0]->data[i] * v->out->grad[i];
}
static int refuse_shape(ag_tensor *const *in, int nin, int *ndim, int shape[AG_MAX_DIMS], char *why,
                        size_t why_size, void *user) {
    (void)in, (void)nin, (void)ndim, (void)shape, (void)user;
    snprintf(why, why_size, "never fits");
    return -1;
}
static int absurd_shape(ag_tensor *const *in, int nin, int *ndim, int shape[AG_MAX_DIMS], char *why,
                        size_t why_size, void *user) {
    (void)in, (void)nin, (void)why, (void)why_size, (void)user;
    *ndim = 2, shape[0] = 1 << 16, shape[1] = 1 << 16;
    return 0;
}

static void test_custom_ops(void **state) {
    (void)state;
    static const ag_custom_op sq = {"sq", 1, NULL, square_fwd, square_vjp};
    static const ag_custom_op no_fwd = {"nofwd", 1, NULL, NULL, square_vjp};
    static const ag_custom_op no_name = {NULL, 1, NULL, square_fwd, square_vjp};
    static const ag_custom_op refuses = {"refuses", 1, refuse_shape, square_fwd, square_vjp};
    static const ag_custom_op absurd = {"absurd", 1, absurd_shape, square_fwd, square_vjp};
    ag_tensor *x = tt(T, 2, 3);
    assert_null(BAD(ag_custom, (NULL, &sq, &x, 1, NULL)));
    expect_last("sq: tape is NULL");
    expect_tape(T, BAD(ag_custom, (T, NULL, &x, 1, NULL)), "custom: op definition is NULL");
    x = tt(T, 2, 3);
    expect_tape(T, BAD(ag_custom, (T, &no_name, &x, 1, NULL)), "custom: op definition has no name");
    x = tt(T, 2, 3);
    expect_tape(T, BAD(ag_custom, (T, &no_fwd, &x, 1, NULL)), "nofwd: op definition has no forward function");
    x = tt(T, 2, 3);
    expect_tape(T, BAD(ag_custom, (T, &sq, NULL, 1, NULL)), "sq: inputs array is NULL");
    x = tt(T, 2, 3);
    expect_tape(T, BAD(ag_custom, (T, &sq, &x, 0, NULL)), "sq: 0 inputs; a custom op takes 1 to 8");
    x = tt(T, 2, 3);
    expect_tape(T, BAD(ag_custom, (T, &sq, &x, -4, NULL)), "sq: -4 inputs");
    expect_tape(T, BAD(ag_custom, (T, &sq, (ag_tensor *const[]){NULL}, 1, NULL)), "sq: input 1 is NULL");
    expect_tape(T, BAD(ag_custom, (T, &sq, (ag_tensor *const[]){tt(O, 2, 3)}, 1, NULL)),
                "sq: input 1 (2,3) belongs to another tape");
    expect_tape(F, BAD(ag_custom, (F, &sq, (ag_tensor *const[]){tt(T, 2, 3)}, 1, NULL)), "the first error");
    expect_tape(T, BAD(ag_custom, (T, &refuses, (ag_tensor *const[]){tt(T, 2, 3)}, 1, NULL)),
                "refuses: inputs (2,3): never fits");
    expect_tape(T, BAD(ag_custom, (T, &absurd, (ag_tensor *const[]){tt(T, 2, 3)}, 1, NULL)),
                "absurd: absurd size");
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
