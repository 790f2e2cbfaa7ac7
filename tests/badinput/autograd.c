/*
 * badinput/autograd.c -- part of tests/test_badinput.c (one suite, one process: see there): the
 * ops and the autograd functions against bad input (every op of the op list against the generic
 * bad inputs, then shapes, axes, arguments, sizes, tensors, memory, traces, backward,
 * gradcheck, ops of your own).
 */
#define _POSIX_C_SOURCE 200809L
#include "badinput.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A healthy call works: the cases below are not failing for some unrelated reason. */
void test_ops_healthy(void **state) {
    (void)state;
    for (int k = 0; k < ntargets; k++) tu_bad_healthy(&targets[k], T);
}

/* No tape: NULL back and the reason, naming the op, in ag_last_error. */
void test_ops_without_tape(void **state) {
    (void)state;
    for (int k = 0; k < ntargets; k++) tu_bad_without_tape(&targets[k], T);
}

/* A NULL input in each position. */
void test_ops_null_inputs(void **state) {
    (void)state;
    for (int k = 0; k < ntargets; k++) tu_bad_null_inputs(&targets[k], T);
}

/* A tape already in error: nothing recorded, the first error kept, the poison returned. */
void test_ops_on_failed_tape(void **state) {
    (void)state;
    for (int k = 0; k < ntargets; k++) tu_bad_failed_tape(&targets[k], F);
}

/* Inputs that are the poisoned result of a failed tape, or that belong to another tape. */
void test_ops_foreign_inputs(void **state) {
    (void)state;
    for (int k = 0; k < ntargets; k++) tu_bad_foreign_inputs(&targets[k], T, F, O);
}

/* Inputs made before the tape's last reset (stale), in each position. */
void test_ops_stale_inputs(void **state) {
    (void)state;
    for (int k = 0; k < ntargets; k++) tu_bad_stale_inputs(&targets[k], T);
}

/* =============================================================================================
 * Op by op: shapes, axes, indices, sizes.
 * =========================================================================================== */

void test_shapes_that_do_not_fit(void **state) {
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

void test_axes_and_indices_out_of_range(void **state) {
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
void test_shape_op_arguments(void **state) {
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
void test_linear_arguments(void **state) {
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
void test_conv_and_pool_arguments(void **state) {
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
void test_math_and_reduce_arguments(void **state) {
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

void test_sizes_zero_negative_overflowing(void **state) {
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

void test_tensor_functions(void **state) {
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

void test_memory_and_errors(void **state) {
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
void test_dot_and_trace(void **state) {
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

void test_backward(void **state) {
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

void test_gradcheck(void **state) {
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

void test_custom_ops(void **state) {
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
