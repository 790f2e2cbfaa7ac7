/*
 * op_cases.c -- every op as the tests call it (from AG_OP_LIST), the shapes each is checked on,
 * and the gradient and bad-input checks every op goes through (see op_cases.h).
 */
#include "op_cases.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- the ops, from the list -------------------------------------------------------------------- */

AG_OP_LIST(TU_OP_CALLER)
const tu_op tu_ops[] = {AG_OP_LIST(TU_OP_ENTRY)};
const int tu_nops = (int)(sizeof tu_ops / sizeof tu_ops[0]);

const tu_op *tu_op_find(const tu_op *ops, int n, const ag_op *op) {
    for (int i = 0; i < n; i++)
        if (ops[i].op == op) return &ops[i];
    return NULL;
}

const tu_op_case *tu_op_first_case(const tu_op_case *cases, int n, const ag_op *op) {
    for (int i = 0; i < n; i++)
        if (cases[i].op == op) return &cases[i];
    return NULL;
}

/* ---- the shapes -------------------------------------------------------------------------------- */

static const int reshape_to[3] = {2, -1, 3};
static const int gather_idx[5] = {4, 0, 4, 2, 4}; /* repeats: their gradients must add up */
static const int xent_labels[4] = {2, 0, 4, 2};
static const int permute_201[3] = {2, 0, 1}, permute_10[2] = {1, 0}, permute_3102[4] = {3, 1, 0, 2},
                 permute_0[1] = {0};
static const int expand_234[3] = {2, 3, 4}, expand_34[2] = {3, 4}, expand_2222[4] = {2, 2, 2, 2},
                 expand_keep[3] = {2, 4, -1};
static const float xent_weights[5] = {0.5f, 2.0f, 1.0f, 0.25f, 1.5f};

const tu_op_case tu_op_cases[] = {
    BIN_SHAPES(add, -1, 1, false),
    BIN_SHAPES(sub, -1, 1, false),
    BIN_SHAPES(mul, -1, 1, false),
    BIN_SHAPES(div, 0.5, 2, true),
    UN_SHAPES(neg, -1, 1, false, 0),
    UN_SHAPES(scale, -1, 1, false, -2.5),
    UN_SHAPES(add_const, -1, 1, false, 0.75),
    UN_SHAPES(pow, 0.5, 2, false, 3.0),
    UN(pow, "pow 0.5", TU_S(2, 3, 4, 1, 1, 0.5, 2, false), .c = 0.5),
    UN(pow, "pow -1.5", TU_S(2, 3, 4, 1, 1, 0.5, 2, false), .c = -1.5),
    UN_SHAPES(square, -1, 1, false, 0),
    UN_SHAPES(sqrt, 0.3, 2, false, 0),
    UN_SHAPES(exp, -1, 1, false, 0),
    UN_SHAPES(log, 0.3, 2, false, 0),
    UN_SHAPES(abs, 0.1, 1, true, 0),
    UN_SHAPES(sigmoid, -3, 3, false, 0),
    UN_SHAPES(tanh, -2, 2, false, 0),
    UN_SHAPES(relu, 0.1, 1, true, 0),
    UN_SHAPES(softplus, -3, 3, false, 0),
    BIN(matmul, "matmul (3,4)@(4,5)", TU_M34, TU_P(2, 4, 5, 1, 1, -1, 1)),
    {"matmul (4,3)^T@(4,5)", &ag_op_matmul, 2, {TU_P(2, 4, 3, 1, 1, -1, 1), TU_P(2, 4, 5, 1, 1, -1, 1)}, {.transpose_a = true}},
    {"matmul (3,4)@(5,4)^T", &ag_op_matmul, 2, {TU_M34, TU_P(2, 5, 4, 1, 1, -1, 1)}, {.transpose_b = true}},
    {"matmul (4,3)^T@(5,4)^T", &ag_op_matmul, 2, {TU_P(2, 4, 3, 1, 1, -1, 1), TU_P(2, 5, 4, 1, 1, -1, 1)}, {.transpose_a = true, .transpose_b = true}},
    BIN(matmul, "matmul (1,6)@(6,1)", TU_P(2, 1, 6, 1, 1, -1, 1), TU_P(2, 6, 1, 1, 1, -1, 1)),
    /* linear: the first case has no bias (the bad-input checks give NULL to every input of the
     * first case, and a NULL bias is allowed); narrow and wide outputs, a 1-D bias, batch 1;
     * relu with z = x w + b kept off its kink (all positive, then all negative). */
    {"linear (5,3)@(3,4) sigmoid no bias", &ag_op_linear, 2, {TU_P(2, 5, 3, 1, 1, -1, 1), TU_P(2, 3, 4, 1, 1, -1, 1)}, {.act = AG_ACT_SIGMOID}},
    {"linear (6,4)@(4,2)+(1,2) sigmoid", &ag_op_linear, 3, {TU_P(2, 6, 4, 1, 1, -1, 1), TU_P(2, 4, 2, 1, 1, -1, 1), TU_P(2, 1, 2, 1, 1, -1, 1)}, {.act = AG_ACT_SIGMOID}},
    {"linear (9,5)@(5,1)+(1,1) sigmoid", &ag_op_linear, 3, {TU_P(2, 9, 5, 1, 1, -1, 1), TU_P(2, 5, 1, 1, 1, -1, 1), TU_P(2, 1, 1, 1, 1, -1, 1)}, {.act = AG_ACT_SIGMOID}},
    {"linear (3,5)@(5,11)+(11) tanh", &ag_op_linear, 3, {TU_P(2, 3, 5, 1, 1, -1, 1), TU_P(2, 5, 11, 1, 1, -1, 1), TU_P(1, 11, 1, 1, 1, -1, 1)}, {.act = AG_ACT_TANH}},
    {"linear (1,6)@(6,9)+(1,9) tanh", &ag_op_linear, 3, {TU_P(2, 1, 6, 1, 1, -1, 1), TU_P(2, 6, 9, 1, 1, -1, 1), TU_P(2, 1, 9, 1, 1, -1, 1)}, {.act = AG_ACT_TANH}},
    {"linear (4,3)@(3,6)+(1,6) identity", &ag_op_linear, 3, {TU_P(2, 4, 3, 1, 1, -1, 1), TU_P(2, 3, 6, 1, 1, -1, 1), TU_P(2, 1, 6, 1, 1, -1, 1)}, {.act = AG_ACT_IDENTITY}},
    {"linear (3,4)@(4,5)+(1,5) relu, z > 0", &ag_op_linear, 3, {TU_P(2, 3, 4, 1, 1, 0.1, 1), TU_P(2, 4, 5, 1, 1, 0.1, 1), TU_P(2, 1, 5, 1, 1, 0.1, 1)}, {.act = AG_ACT_RELU}},
    {"linear (3,4)@(4,5)+(1,5) relu, z < 0", &ag_op_linear, 3, {TU_P(2, 3, 4, 1, 1, 0.1, 1), TU_P(2, 4, 5, 1, 1, -1, -0.1), TU_P(2, 1, 5, 1, 1, -1, -0.1)}, {.act = AG_ACT_RELU}},
    UN(sum, "sum (3,4)", TU_M34, .c = 0),
    UN(sum, "sum (2,3,2)", TU_P(3, 2, 3, 2, 1, -1, 1), .c = 0),
    UN(mean, "mean (3,4)", TU_M34, .c = 0),
    UN(mean, "mean (2,3,2)", TU_P(3, 2, 3, 2, 1, -1, 1), .c = 0),
    UN(sum_axis, "sum_axis 0", TU_M34, .axis = 0),
    UN(sum_axis, "sum_axis 1", TU_M34, .axis = 1),
    UN(sum_axis, "sum_axis -1 of 3-D", TU_P(3, 2, 3, 4, 1, -1, 1), .axis = -1),
    UN(sum_axis, "sum_axis 1 of 3-D", TU_P(3, 2, 3, 4, 1, -1, 1), .axis = 1),
    UN(mean_axis, "mean_axis 0", TU_M34, .axis = 0),
    UN(mean_axis, "mean_axis 1", TU_M34, .axis = 1),
    UN(mean_axis, "mean_axis 1 of 3-D", TU_P(3, 2, 3, 4, 1, -1, 1), .axis = 1),
    /* max: values in [-3,3]; distinct by far more than the finite-difference step (the seed
     * below was checked to give gaps > 0.05 in every reduced group). */
    UN(max_axis, "max_axis 1", TU_P(2, 3, 4, 1, 1, -3, 3), .axis = 1),
    UN(max_axis, "max_axis 0", TU_P(2, 3, 4, 1, 1, -3, 3), .axis = 0),
    UN(max_axis, "max_axis 1 of 3-D", TU_P(3, 2, 3, 2, 1, -3, 3), .axis = 1),
    UN(reshape, "reshape (4,3)->(2,-1,3)", TU_P(2, 4, 3, 1, 1, -1, 1), .ndim = 3, .shape = reshape_to),
    UN(transpose, "transpose (3,4)", TU_M34, .c = 0),
    UN(transpose, "transpose (2,3,4)", TU_P(3, 2, 3, 4, 1, -1, 1), .c = 0),
    {"concat axis 0", &ag_op_concat, 3, {TU_P(2, 1, 3, 1, 1, -1, 1), TU_P(2, 2, 3, 1, 1, -1, 1), TU_P(2, 3, 3, 1, 1, -1, 1)}, {.axis = 0}},
    {"concat axis 1", &ag_op_concat, 3, {TU_P(2, 2, 1, 1, 1, -1, 1), TU_P(2, 2, 3, 1, 1, -1, 1), TU_P(2, 2, 2, 1, 1, -1, 1)}, {.axis = 1}},
    {"concat axis -1 of 3-D", &ag_op_concat, 3, {TU_P(3, 2, 2, 1, 1, -1, 1), TU_P(3, 2, 2, 3, 1, -1, 1), TU_P(3, 2, 2, 2, 1, -1, 1)}, {.axis = -1}},
    UN(slice_rows, "slice_rows 1..3 of (5,3)", TU_P(2, 5, 3, 1, 1, -1, 1), .start = 1, .count = 3),
    UN(gather_rows, "gather_rows (5,3) repeated", TU_P(2, 5, 3, 1, 1, -1, 1), .index = gather_idx, .count = 5),
    UN(softmax, "softmax (3,5)", TU_P(2, 3, 5, 1, 1, -2, 2), .c = 0),
    UN(softmax, "softmax (2,2,3)", TU_P(3, 2, 2, 3, 1, -2, 2), .c = 0),
    UN(log_softmax, "log_softmax (3,5)", TU_P(2, 3, 5, 1, 1, -2, 2), .c = 0),
    UN(log_softmax, "log_softmax (2,2,3)", TU_P(3, 2, 2, 3, 1, -2, 2), .c = 0),
    BIN(sse, "sse (3,4)", TU_M34, TU_M34),
    BIN(sse, "sse (1)", TU_P(1, 1, 1, 1, 1, -1, 1), TU_P(1, 1, 1, 1, 1, -1, 1)),
    BIN(mse, "mse (3,4)", TU_M34, TU_M34),
    BIN(mse, "mse (2,3,2)", TU_P(3, 2, 3, 2, 1, -1, 1), TU_P(3, 2, 3, 2, 1, -1, 1)),
    BIN(bce, "bce (3,4)", TU_P(2, 3, 4, 1, 1, 0.1, 0.9), TU_P(2, 3, 4, 1, 1, 0, 1)),
    BIN(bce_logits, "bce_logits (3,4)", TU_P(2, 3, 4, 1, 1, -3, 3), TU_P(2, 3, 4, 1, 1, 0, 1)),
    UN(softmax_xent, "softmax_xent (4,5)", TU_P(2, 4, 5, 1, 1, -2, 2), .index = xent_labels),
    /* ---- the shape ops (autograd/ops_shape.c): first and last axis, length-1 dims, 3-D and 4-D */
    UN(slice, "slice axis 0 1..3 of (5,3)", TU_P(2, 5, 3, 1, 1, -1, 1), .axis = 0, .start = 1, .count = 3),
    UN(slice, "slice axis -1 2..4 of (2,3,5)", TU_P(3, 2, 3, 5, 1, -1, 1), .axis = -1, .start = 2, .count = 3),
    UN(slice, "slice axis 1 from -3 of (2,4,3,2)", TU_P(4, 2, 4, 3, 2, -1, 1), .axis = 1, .start = -3, .count = 2),
    UN(slice, "slice axis 1 last one of (3,4)", TU_M34, .axis = 1, .start = 3, .count = 1),
    UN(slice, "slice axis 1 all of (3,1)", TU_P(2, 3, 1, 1, 1, -1, 1), .axis = 1, .start = 0, .count = 1),
    {"stack 3 (2,3) axis 0", &ag_op_stack, 3, {TU_P(2, 2, 3, 1, 1, -1, 1), TU_P(2, 2, 3, 1, 1, -1, 1), TU_P(2, 2, 3, 1, 1, -1, 1)}, {.axis = 0}},
    {"stack 2 (2,3) axis -1", &ag_op_stack, 2, {TU_P(2, 2, 3, 1, 1, -1, 1), TU_P(2, 2, 3, 1, 1, -1, 1)}, {.axis = -1}},
    {"stack 3 (1,2,2) axis 1 to 4-D", &ag_op_stack, 3, {TU_P(3, 1, 2, 2, 1, -1, 1), TU_P(3, 1, 2, 2, 1, -1, 1), TU_P(3, 1, 2, 2, 1, -1, 1)}, {.axis = 1}},
    {"stack 1 (1) axis 0", &ag_op_stack, 1, {TU_P(1, 1, 1, 1, 1, -1, 1)}, {.axis = 0}},
    UN(permute, "permute (2,3,4) by 2,0,1", TU_P(3, 2, 3, 4, 1, -1, 1), .perm = permute_201),
    UN(permute, "permute (3,4) by 1,0", TU_M34, .perm = permute_10),
    UN(permute, "permute (2,1,3,2) by 3,1,0,2", TU_P(4, 2, 1, 3, 2, -1, 1), .perm = permute_3102),
    UN(permute, "permute (4) by 0", TU_P(1, 4, 1, 1, 1, -1, 1), .perm = permute_0),
    UN(reverse, "reverse (3,4) axis 0", TU_M34, .axis = 0),
    UN(reverse, "reverse (3,4) axis -1", TU_M34, .axis = -1),
    UN(reverse, "reverse (2,3,2,2) axis 2", TU_P(4, 2, 3, 2, 2, -1, 1), .axis = 2),
    UN(reverse, "reverse (1,3) axis 0", TU_P(2, 1, 3, 1, 1, -1, 1), .axis = 0),
    UN(broadcast_to, "broadcast_to (3,1)->(2,3,4)", TU_P(2, 3, 1, 1, 1, -1, 1), .ndim = 3, .shape = expand_234),
    UN(broadcast_to, "broadcast_to (4)->(3,4)", TU_P(1, 4, 1, 1, 1, -1, 1), .ndim = 2, .shape = expand_34),
    UN(broadcast_to, "broadcast_to (1)->(2,2,2,2)", TU_P(1, 1, 1, 1, 1, -1, 1), .ndim = 4, .shape = expand_2222),
    UN(broadcast_to, "broadcast_to (2,1,3)->(2,4,-1)", TU_P(3, 2, 1, 3, 1, -1, 1), .ndim = 3, .shape = expand_keep),
    UN(pad, "pad (3,4) axis 0 by 1,2", TU_M34, .axis = 0, .before = 1, .after = 2),
    UN(pad, "pad (2,3,2) axis -1 by 0,3", TU_P(3, 2, 3, 2, 1, -1, 1), .axis = -1, .before = 0, .after = 3),
    UN(pad, "pad (2,1,2,3) axis 1 by 2,0", TU_P(4, 2, 1, 2, 3, -1, 1), .axis = 1, .before = 2, .after = 0),
    UN(pad, "pad (1) axis 0 by 0,0", TU_P(1, 1, 1, 1, 1, -1, 1), .axis = 0, .before = 0, .after = 0),
    {"concat axis 2 of 4-D", &ag_op_concat, 2, {TU_P(4, 1, 2, 1, 2, -1, 1), TU_P(4, 1, 2, 3, 2, -1, 1)}, {.axis = 2}},
    /* ---- ops_math.c, ops_reduce.c ----
     * maximum/minimum: a = +-[0.3,1], b in [-0.2,0.2]: |a - b| >= 0.1, far from the tie (kink);
     * each side wins somewhere. */
    BIN(maximum, "maximum (3,4)*(3,4)", TU_S(2, 3, 4, 1, 1, 0.3, 1, true), TU_P(2, 3, 4, 1, 1, -0.2, 0.2)),
    BIN(maximum, "maximum (3,4)*(4) row", TU_S(2, 3, 4, 1, 1, 0.3, 1, true), TU_P(1, 4, 1, 1, 1, -0.2, 0.2)),
    BIN(maximum, "maximum (3,1)*(1,4) both", TU_S(2, 3, 1, 1, 1, 0.3, 1, true), TU_P(2, 1, 4, 1, 1, -0.2, 0.2)),
    BIN(maximum, "maximum (1)*(2,3,2) scalar", TU_S(1, 1, 1, 1, 1, 0.3, 1, true), TU_P(3, 2, 3, 2, 1, -0.2, 0.2)),
    BIN(minimum, "minimum (3,4)*(3,4)", TU_S(2, 3, 4, 1, 1, 0.3, 1, true), TU_P(2, 3, 4, 1, 1, -0.2, 0.2)),
    BIN(minimum, "minimum (3,4)*(1,4) row", TU_S(2, 3, 4, 1, 1, 0.3, 1, true), TU_P(2, 1, 4, 1, 1, -0.2, 0.2)),
    BIN(minimum, "minimum (2,3,4)*(3,1) 3-D", TU_S(3, 2, 3, 4, 1, 0.3, 1, true), TU_P(2, 3, 1, 1, 1, -0.2, 0.2)),
    /* where: mask = +-[0.5,1] (a step of 0.01 never flips it), both a and b chosen somewhere */
    {"where (3,4) all same", &ag_op_where, 3, {TU_S(2, 3, 4, 1, 1, 0.5, 1, true), TU_M34, TU_M34}, {.c = 0}},
    {"where (3,1) mask, (3,4) a, (4) b", &ag_op_where, 3, {TU_S(2, 3, 1, 1, 1, 0.5, 1, true), TU_M34, TU_P(1, 4, 1, 1, 1, -1, 1)}, {.c = 0}},
    {"where (2,3,4) mask, (1) a, (3,1) b", &ag_op_where, 3, {TU_S(3, 2, 3, 4, 1, 0.5, 1, true), TU_P(1, 1, 1, 1, 1, -1, 1), TU_P(2, 3, 1, 1, 1, -1, 1)}, {.c = 0}},
    /* clamp, hardtanh to [-0.5, 0.25] on x = +-[0.3,0.45]: the positives are clipped, the
     * negatives pass; every x is at least 0.05 from a bound */
    UN(clamp, "clamp (3,4)", TU_S(2, 3, 4, 1, 1, 0.3, 0.45, true), .lo = -0.5, .hi = 0.25),
    UN(clamp, "clamp (2,3,2)", TU_S(3, 2, 3, 2, 1, 0.3, 0.45, true), .lo = -0.5, .hi = 0.25),
    UN(clamp, "clamp (1) lo > hi", TU_S(1, 1, 1, 1, 1, 0.3, 0.45, true), .lo = 1, .hi = -1),
    UN(hardtanh, "hardtanh (3,4)", TU_S(2, 3, 4, 1, 1, 0.3, 0.45, true), .lo = -0.5, .hi = 0.25),
    UN(hardtanh, "hardtanh (2,3,2)", TU_S(3, 2, 3, 2, 1, 0.3, 0.45, true), .lo = -0.5, .hi = 0.25),
    UN(hardtanh, "hardtanh (1)", TU_S(1, 1, 1, 1, 1, 0.3, 0.45, true), .lo = -1, .hi = 1),
    UN_SHAPES(sin, -3, 3, false, 0),
    UN_SHAPES(cos, -3, 3, false, 0),
    UN_SHAPES(leaky_relu, 0.1, 2, true, 0.1),
    UN_SHAPES(elu, 0.1, 2, true, 1.5),
    UN_SHAPES(silu, -4, 4, false, 0),
    UN_SHAPES(gelu, -3, 3, false, 0),
    UN_SHAPES(sign, 0.1, 2, true, 0),
    UN_SHAPES(step, 0.1, 2, true, 0),
    UN_SHAPES(reciprocal, 0.5, 2, true, 0),
    /* min_axis, argmax: values in [-3,3]; a near-tie that the finite-difference step flips
     * shows as a wrong gradient (min_axis) or a huge one (argmax), so a passing case has none.
     * (The seed comes from the label: "min_axis -2 of 3-D" drew such a near-tie, hence the
     * 3-D case's longer label.) */
    UN(min_axis, "min_axis 1", TU_P(2, 3, 4, 1, 1, -3, 3), .axis = 1),
    UN(min_axis, "min_axis 0", TU_P(2, 3, 4, 1, 1, -3, 3), .axis = 0),
    UN(min_axis, "min_axis -2 of (2,3,2)", TU_P(3, 2, 3, 2, 1, -3, 3), .axis = -2),
    UN(argmax, "argmax 1", TU_P(2, 3, 4, 1, 1, -3, 3), .axis = 1),
    UN(argmax, "argmax 0", TU_P(2, 3, 4, 1, 1, -3, 3), .axis = 0),
    UN(argmax, "argmax -1 of 3-D", TU_P(3, 2, 3, 2, 1, -3, 3), .axis = -1),
    UN(logsumexp, "logsumexp 1", TU_P(2, 3, 4, 1, 1, -2, 2), .axis = 1),
    UN(logsumexp, "logsumexp 0", TU_P(2, 3, 4, 1, 1, -2, 2), .axis = 0),
    UN(logsumexp, "logsumexp 1 of 3-D", TU_P(3, 2, 3, 2, 1, -2, 2), .axis = 1),
    UN(logsumexp, "logsumexp (1) edge", TU_P(1, 1, 1, 1, 1, -2, 2), .axis = 0),
    UN(var, "var 1 unbiased", TU_P(2, 3, 4, 1, 1, -1, 1), .axis = 1, .unbiased = true),
    UN(var, "var 0 biased", TU_P(2, 3, 4, 1, 1, -1, 1), .axis = 0),
    UN(var, "var -1 of 3-D unbiased", TU_P(3, 2, 3, 2, 1, -1, 1), .axis = -1, .unbiased = true),
    UN(var, "var (1) biased edge", TU_P(1, 1, 1, 1, 1, -1, 1), .axis = 0),
    UN(std, "std 1 unbiased", TU_P(2, 3, 4, 1, 1, -1, 1), .axis = 1, .unbiased = true),
    UN(std, "std 0 biased", TU_P(2, 3, 4, 1, 1, -1, 1), .axis = 0),
    UN(std, "std 1 of 3-D unbiased", TU_P(3, 2, 3, 2, 1, -1, 1), .axis = 1, .unbiased = true),
    UN(norm, "norm (3,4)", TU_M34, .c = 0),
    UN(norm, "norm (2,3,2)", TU_P(3, 2, 3, 2, 1, -1, 1), .c = 0),
    UN(norm, "norm (1)", TU_S(1, 1, 1, 1, 1, 0.5, 2, true), .c = 0),
    BIN(xent_soft, "xent_soft (4,5)", TU_P(2, 4, 5, 1, 1, -2, 2), TU_P(2, 4, 5, 1, 1, 0, 1)),
    {"xent_soft (4,5) weighted", &ag_op_xent_soft, 2, {TU_P(2, 4, 5, 1, 1, -2, 2), TU_P(2, 4, 5, 1, 1, 0, 1)}, {.weights = xent_weights}},
    BIN(xent_soft, "xent_soft (1,5) one row", TU_P(2, 1, 5, 1, 1, -2, 2), TU_P(2, 1, 5, 1, 1, 0, 1)),
    BIN(xent_soft, "xent_soft (3,1) one class", TU_P(2, 3, 1, 1, 1, -2, 2), TU_P(2, 3, 1, 1, 1, 0, 1)),
    /* huber, smooth_l1, delta/beta 0.5: y = +-[0.1,1] against d in [-0.05,0.05], so |e| is on
     * both sides of delta (where the gradient is continuous); for beta 0 (L1, a kink at e = 0)
     * |e| >= 0.1 */
    {"huber (3,4) delta 0.5", &ag_op_huber, 2, {TU_S(2, 3, 4, 1, 1, 0.1, 1, true), TU_P(2, 3, 4, 1, 1, -0.05, 0.05)}, {.c = 0.5}},
    {"huber (2,3,2) delta 1", &ag_op_huber, 2, {TU_P(3, 2, 3, 2, 1, -2, 2), TU_P(3, 2, 3, 2, 1, -0.05, 0.05)}, {.c = 1.0}},
    {"huber (1) delta 2", &ag_op_huber, 2, {TU_P(1, 1, 1, 1, 1, -1, 1), TU_P(1, 1, 1, 1, 1, -1, 1)}, {.c = 2.0}},
    {"smooth_l1 (3,4) beta 0.5", &ag_op_smooth_l1, 2, {TU_S(2, 3, 4, 1, 1, 0.1, 1, true), TU_P(2, 3, 4, 1, 1, -0.05, 0.05)}, {.c = 0.5}},
    {"smooth_l1 (2,3,2) beta 0 (L1)", &ag_op_smooth_l1, 2, {TU_S(3, 2, 3, 2, 1, 0.2, 1, true), TU_P(3, 2, 3, 2, 1, -0.1, 0.1)}, {.c = 0.0}},
    {"smooth_l1 (1) beta 2", &ag_op_smooth_l1, 2, {TU_P(1, 1, 1, 1, 1, -1, 1), TU_P(1, 1, 1, 1, 1, -1, 1)}, {.c = 2.0}},
    /* ---- ops_conv.c ----
     * conv2d, conv1d: the first case of each has no bias (the bad-input checks give NULL to
     * every input of the first case, and a NULL bias is allowed); then stride > 1, padding,
     * dilation, odd sizes, one channel, batch 1, with the bias. */
    {"conv2d (2,3,5,5)*(4,3,3,3) no bias", &ag_op_conv2d, 2, {TU_P(4, 2, 3, 5, 5, -1, 1), TU_P(4, 4, 3, 3, 3, -1, 1)}, {.stride = 1, .padding = 0, .dilation = 1}},
    {"conv2d (1,2,7,6)*(3,2,3,3) stride 2 pad 1", &ag_op_conv2d, 3, {TU_P(4, 1, 2, 7, 6, -1, 1), TU_P(4, 3, 2, 3, 3, -1, 1), TU_P(1, 3, 1, 1, 1, -1, 1)}, {.stride = 2, .padding = 1, .dilation = 1}},
    {"conv2d (2,1,7,5)*(2,1,3,2) pad 2 dilation 2", &ag_op_conv2d, 3, {TU_P(4, 2, 1, 7, 5, -1, 1), TU_P(4, 2, 1, 3, 2, -1, 1), TU_P(1, 2, 1, 1, 1, -1, 1)}, {.stride = 1, .padding = 2, .dilation = 2}},
    {"conv2d (1,1,8,9)*(1,1,2,3) stride 3 pad 1", &ag_op_conv2d, 3, {TU_P(4, 1, 1, 8, 9, -1, 1), TU_P(4, 1, 1, 2, 3, -1, 1), TU_P(1, 1, 1, 1, 1, -1, 1)}, {.stride = 3, .padding = 1, .dilation = 1}},
    {"conv2d (1,2,3,3)*(2,2,3,3) whole input", &ag_op_conv2d, 2, {TU_P(4, 1, 2, 3, 3, -1, 1), TU_P(4, 2, 2, 3, 3, -1, 1)}, {.stride = 2, .padding = 0, .dilation = 1}},
    {"conv1d (2,3,9)*(4,3,3) no bias", &ag_op_conv1d, 2, {TU_P(3, 2, 3, 9, 1, -1, 1), TU_P(3, 4, 3, 3, 1, -1, 1)}, {.stride = 1, .padding = 0, .dilation = 1}},
    {"conv1d (1,2,10)*(3,2,4) stride 2 pad 1 dilation 2", &ag_op_conv1d, 3, {TU_P(3, 1, 2, 10, 1, -1, 1), TU_P(3, 3, 2, 4, 1, -1, 1), TU_P(1, 3, 1, 1, 1, -1, 1)}, {.stride = 2, .padding = 1, .dilation = 2}},
    {"conv1d (3,1,5)*(1,1,5) pad 2", &ag_op_conv1d, 3, {TU_P(3, 3, 1, 5, 1, -1, 1), TU_P(3, 1, 1, 5, 1, -1, 1), TU_P(1, 1, 1, 1, 1, -1, 1)}, {.stride = 1, .padding = 2, .dilation = 1}},
    /* max_pool2d: values in [-3,3]; every window's largest value must stand clear of the
     * others by more than the finite-difference step (the seeds of these labels do). */
    UN(max_pool2d, "max_pool2d (2,2,4,4) k2 s2", TU_P(4, 2, 2, 4, 4, -3, 3), .kernel = 2, .stride = 2, .padding = 0),
    UN(max_pool2d, "max_pool2d (1,1,5,5) k3 s2 pad 1", TU_P(4, 1, 1, 5, 5, -3, 3), .kernel = 3, .stride = 2, .padding = 1),
    UN(max_pool2d, "max_pool2d (1,3,5,4) k3 s1", TU_P(4, 1, 3, 5, 4, -3, 3), .kernel = 3, .stride = 1, .padding = 0),
    UN(avg_pool2d, "avg_pool2d (2,2,4,4) k2 s2", TU_P(4, 2, 2, 4, 4, -1, 1), .kernel = 2, .stride = 2, .padding = 0),
    UN(avg_pool2d, "avg_pool2d (1,1,5,5) k3 s2 pad 1", TU_P(4, 1, 1, 5, 5, -1, 1), .kernel = 3, .stride = 2, .padding = 1),
    UN(avg_pool2d, "avg_pool2d (1,3,6,5) k3 s1 pad 1", TU_P(4, 1, 3, 6, 5, -1, 1), .kernel = 3, .stride = 1, .padding = 1),
};
const int tu_n_op_cases = (int)(sizeof tu_op_cases / sizeof tu_op_cases[0]);

/* ---- the gradient check ------------------------------------------------------------------------ */

#define EPS 1e-2   /* finite-difference step, relative to max(1, |w|) */
#define FLOOR 1e-2 /* gradients smaller than this are compared in absolute terms */
#define TOL 1e-2   /* the bound on the worst relative error */

typedef struct {
    const tu_op *op;
    const tu_op_case *c;
    ag_tensor *params[4];
} gc_run;

/* The loss: sum(out * R) with R fixed (seeded per case), so every output element matters with
 * its own weight. Also fails the tape when the output did not come from the op it checks. */
static ag_tensor *case_loss(ag_tape *t, void *ctx) {
    const gc_run *run = ctx;
    const tu_op_case *c = run->c;
    ag_tensor *out = run->op->call(t, run->params, c->nin, &c->arg);
    if (ag_tape_error(t)) return out;
    if (!out->node || out->node->op != c->op) {
        ag_tape_fail(t, "case %s: output was made by %s, not %s", c->label, ag_op_name(out),
                     c->op->name);
        return out;
    }
    tu_rng r = {1234};
    ag_tensor *R = tu_const(t, &r, out->ndim, out->shape, -1.0, 1.0);
    return ag_sum(t, ag_mul(t, out, R));
}

void tu_gradcheck_case(const tu_op *op, const tu_op_case *c) {
    assert_non_null(op);
    assert_ptr_equal(op->op, c->op);
    gc_run run = {op, c, {NULL}};
    tu_rng r = {(uint64_t)(uintptr_t)c->label[0] * 7919u + strlen(c->label)};
    for (int i = 0; i < c->nin; i++) {
        const tu_input *s = &c->in[i];
        run.params[i] = s->away ? tu_param_away(&r, s->ndim, s->shape, s->lo, s->hi)
                                : tu_param(&r, s->ndim, s->shape, s->lo, s->hi);
    }
    ag_gradcheck_report rep;
    int rc = ag_gradcheck(case_loss, &run, run.params, c->nin, EPS, FLOOR, &rep);
    if (rc != 0) print_error("%s: %s\n", c->label, rep.error);
    assert_int_equal(rc, 0);
    assert_true(rep.checked > 0);
    if (!(rep.worst_error < TOL)) {
        print_error("%s: worst relative error %.3g at param %d element %d (analytic %.6g, "
                    "numeric %.6g)\n",
                    c->label, rep.worst_error, rep.worst_param, rep.worst_index, rep.analytic,
                    rep.numeric);
        fail();
    }
    for (int i = 0; i < c->nin; i++) ag_tensor_free(run.params[i]);
}

/* ---- the bad-input checks ----------------------------------------------------------------------- */

void (*tu_bad_mark)(const char *fn);

static ag_tensor *bad_call(const tu_bad_target *b, ag_tape *t, ag_tensor *const *in) {
    if (tu_bad_mark) tu_bad_mark(b->fn);
    return b->call(t, in, b->nin, b->arg);
}

/* The public function named by a call column: "ag_add(t, ...)" -> "ag_add". */
static const char *function_name(const char *call_text) {
    static char names[128][48];
    static int n;
    size_t len = strcspn(call_text, "(");
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && !strncmp(names[i], call_text, len)) return names[i];
    assert_true(n < 128 && len < sizeof names[0]);
    memcpy(names[n], call_text, len);
    names[n][len] = '\0';
    return names[n++];
}

tu_bad_target tu_bad_target_of(const tu_op *op, const tu_op_case *first) {
    assert_non_null(first);
    tu_bad_target b = {op->name, function_name(op->call_text), first->nin, first->in,
                       &first->arg, false, op->call};
    return b;
}

void tu_bad_inputs(ag_tape *t, const tu_bad_target *b, ag_tensor **in) {
    tu_rng r = {77};
    for (int i = 0; i < b->nin; i++) {
        const tu_input *s = &b->in[i];
        /* positive values in [lo, hi] where the range keeps away from 0 (div, log, sqrt) */
        in[i] = tu_const(t, &r, s->ndim, s->shape, s->away ? fabs(s->lo) : s->lo, s->hi);
    }
}

/* Assert that the tape failed with `part`, that r is its poisoned result, then reset it. */
static void expect_tape(ag_tape *t, const ag_tensor *r, const char *part) {
    tu_assert_error(t, part);
    assert_non_null(r);
    assert_true(r->flags & AG_POISONED);
    ag_tape_reset(t);
}

/* The same, and the tape's status is `status`. */
static void expect_tape_status(ag_tape *t, const ag_tensor *r, const char *part, ag_status status) {
    tu_assert_error(t, part);
    if (ag_tape_status(t) != status) {
        print_error("%s: status %s, expected %s\n", ag_tape_error(t),
                    ag_status_str(ag_tape_status(t)), ag_status_str(status));
        fail();
    }
    expect_tape(t, r, part);
}

void tu_bad_healthy(const tu_bad_target *b, ag_tape *T) {
    ag_tensor *in[4];
    tu_bad_inputs(T, b, in);
    ag_tensor *r = bad_call(b, T, in);
    if (ag_tape_error(T) || !r || (r->flags & AG_POISONED)) {
        print_error("%s: a healthy call failed: %s\n", b->name, ag_tape_error(T));
        fail();
    }
    ag_tape_reset(T);
}

void tu_bad_without_tape(const tu_bad_target *b, ag_tape *T) {
    ag_tensor *in[4];
    tu_bad_inputs(T, b, in);
    ag_set_last_error("%s", "");
    assert_null(bad_call(b, NULL, in));
    char want[64];
    snprintf(want, sizeof want, "%s: tape is NULL", b->name);
    if (!strstr(ag_last_error(), want)) {
        print_error("last error: %s\nexpected it to contain: %s\n", ag_last_error(), want);
        fail();
    }
    ag_tape_reset(T);
}

void tu_bad_null_inputs(const tu_bad_target *b, ag_tape *T) {
    for (int i = 0; i < b->nin; i++) {
        ag_tensor *in[4];
        tu_bad_inputs(T, b, in);
        in[i] = NULL;
        ag_tensor *r = bad_call(b, T, in);
        char want[64];
        if (b->layer) snprintf(want, sizeof want, "NULL");
        else snprintf(want, sizeof want, "%s: input %d is NULL", b->name, i + 1);
        expect_tape(T, r, want);
    }
}

void tu_bad_failed_tape(const tu_bad_target *b, ag_tape *F) {
    ag_tensor *in[4];
    for (int i = 0; i < b->nin; i++) {
        in[i] = ag_tensor_new(b->in[i].ndim, b->in[i].shape, i == 0);
        assert_non_null(in[i]);
    }
    int nodes = ag_tape_nodes(F);
    ag_tensor *r = bad_call(b, F, in);
    assert_non_null(r);
    assert_true(r->flags & AG_POISONED);
    assert_int_equal(ag_tape_nodes(F), nodes);
    assert_string_equal(ag_tape_error(F), "the first error");
    for (int i = 0; i < b->nin; i++) ag_tensor_free(in[i]);
}

void tu_bad_foreign_inputs(const tu_bad_target *b, ag_tape *T, ag_tape *F, ag_tape *O) {
    for (int i = 0; i < b->nin; i++) {
        ag_tensor *in[4], *other[4];
        tu_bad_inputs(T, b, in);
        in[i] = ag_exp(F, NULL); /* the poisoned result of a failed tape */
        ag_tensor *r = bad_call(b, T, in);
        expect_tape(T, r, "is the poisoned result of a failed tape");
        tu_bad_inputs(T, b, in);
        tu_bad_inputs(O, b, other);
        in[i] = other[i];
        r = bad_call(b, T, in);
        expect_tape(T, r, "belongs to another tape");
        ag_tape_reset(O);
    }
}

void tu_bad_stale_inputs(const tu_bad_target *b, ag_tape *T) {
    for (int i = 0; i < b->nin; i++) {
        ag_tensor *in[4], *stale[4];
        tu_bad_inputs(T, b, stale);
        ag_tape_reset(T);
        /* the other inputs user-owned, so that nothing new lands where the stale one lives */
        for (int k = 0; k < b->nin; k++) {
            in[k] = k == i ? stale[k] : ag_tensor_new(b->in[k].ndim, b->in[k].shape, false);
            if (k != i) {
                assert_non_null(in[k]);
                memcpy(in[k]->data, stale[k]->data, (size_t)in[k]->numel * sizeof(float));
            }
        }
        ag_tensor *r = bad_call(b, T, in);
        char want[64];
        if (b->layer) snprintf(want, sizeof want, "is stale: made before the tape's last reset");
        else snprintf(want, sizeof want, "%s: input %d", b->name, i + 1);
        expect_tape_status(T, r, want, AG_ERR_STALE_TENSOR);
        for (int k = 0; k < b->nin; k++)
            if (k != i) ag_tensor_free(in[k]);
    }
}

void tu_bad_all(const tu_bad_target *b, ag_tape *T, ag_tape *F, ag_tape *O) {
    tu_bad_healthy(b, T);
    tu_bad_without_tape(b, T);
    tu_bad_null_inputs(b, T);
    tu_bad_failed_tape(b, F);
    tu_bad_foreign_inputs(b, T, F, O);
    tu_bad_stale_inputs(b, T);
}
