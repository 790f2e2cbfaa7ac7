/*
 * ops.h -- the list of every op in the op table. Each op is defined, forward beside its
 * vector-Jacobian product, in one of the ops_*.c files as `const ag_op ag_op_<name>`.
 * Adding an op = its entry in an ops_*.c file + one line here + its case in
 * tests/test_gradcheck.c (the suite fails for any op listed here that it never checks).
 */
#ifndef BACKPROP_AUTOGRAD_OPS_H
#define BACKPROP_AUTOGRAD_OPS_H

#include "autograd_private.h"

#define AG_OP_LIST(X)                                                                       \
    /* ops_elementwise.c */                                                                 \
    X(add) X(sub) X(mul) X(div) X(neg) X(scale) X(add_const) X(pow) X(square) X(sqrt) X(exp) \
    X(log) X(abs) X(sigmoid) X(tanh) X(relu) X(softplus)                                    \
    /* ops_matrix.c */                                                                      \
    X(matmul) X(sum) X(mean) X(sum_axis) X(mean_axis) X(max_axis) X(reshape) X(transpose)   \
    X(concat) X(slice_rows) X(gather_rows)                                                  \
    /* ops_loss.c */                                                                        \
    X(softmax) X(log_softmax) X(sse) X(mse) X(bce) X(bce_logits) X(softmax_xent)

#define AG_DECLARE_OP(name) extern const ag_op ag_op_##name;
AG_OP_LIST(AG_DECLARE_OP)
#undef AG_DECLARE_OP

#endif /* BACKPROP_AUTOGRAD_OPS_H */
