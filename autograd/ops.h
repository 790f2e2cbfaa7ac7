/*
 * ops.h -- the list of every op in the op table, and the building blocks the ops_*.c files
 * share. Each op is defined, forward beside its vector-Jacobian product, in one of the
 * ops_*.c files as `const ag_op ag_op_<name>`. docs/design.md ("How to add an op") lists every
 * edit a new op takes; tests/test_op_recipe.c follows it for a dummy op.
 */
#ifndef BACKPROP_AUTOGRAD_OPS_H
#define BACKPROP_AUTOGRAD_OPS_H

#include "autograd_private.h"

/* One line per op: X(name, inputs, call).
 *   name    its table entry is ag_op_<name>, and its messages start with "<name>: "
 *   inputs  how many tensors it takes; -1 for any number (concat)
 *   call    its public function, written with t (the tape), in[0..] (the inputs), nin (their
 *           number) and arg (an ag_op_args, below, for the arguments that are not tensors)
 * The tests build their tables from this list: tests/support/op_cases.c calls every op through
 * `call` to check its gradient (tests/test_gradcheck.c) and to give it every bad input
 * (tests/test_badinput.c), so a new op needs no hand-written test table, only its shapes. */
#define AG_OP_LIST(X)                                                                       \
    /* ops_elementwise.c */                                                                 \
    X(add, 2, ag_add(t, in[0], in[1]))                                                      \
    X(sub, 2, ag_sub(t, in[0], in[1]))                                                      \
    X(mul, 2, ag_mul(t, in[0], in[1]))                                                      \
    X(div, 2, ag_div(t, in[0], in[1]))                                                      \
    X(neg, 1, ag_neg(t, in[0]))                                                             \
    X(scale, 1, ag_scale(t, in[0], arg->c))                                                 \
    X(add_const, 1, ag_add_const(t, in[0], arg->c))                                         \
    X(pow, 1, ag_pow(t, in[0], arg->c))                                                     \
    X(square, 1, ag_square(t, in[0]))                                                       \
    X(sqrt, 1, ag_sqrt(t, in[0]))                                                           \
    X(exp, 1, ag_exp(t, in[0]))                                                             \
    X(log, 1, ag_log(t, in[0]))                                                             \
    X(abs, 1, ag_abs(t, in[0]))                                                             \
    X(sigmoid, 1, ag_sigmoid(t, in[0]))                                                     \
    X(tanh, 1, ag_tanh(t, in[0]))                                                           \
    X(relu, 1, ag_relu(t, in[0]))                                                           \
    X(softplus, 1, ag_softplus(t, in[0]))                                                   \
    /* ops_matrix.c */                                                                      \
    X(matmul, 2, ag_matmul_ex(t, in[0], in[1], arg->transpose_a, arg->transpose_b))         \
    X(sum, 1, ag_sum(t, in[0]))                                                             \
    X(mean, 1, ag_mean(t, in[0]))                                                           \
    X(sum_axis, 1, ag_sum_axis(t, in[0], arg->axis))                                        \
    X(mean_axis, 1, ag_mean_axis(t, in[0], arg->axis))                                      \
    X(max_axis, 1, ag_max_axis(t, in[0], arg->axis))                                        \
    X(reshape, 1, ag_reshape(t, in[0], arg->ndim, arg->shape))                              \
    X(transpose, 1, ag_transpose(t, in[0]))                                                 \
    X(concat, -1, ag_concat(t, in, nin, arg->axis))                                         \
    X(slice_rows, 1, ag_slice_rows(t, in[0], arg->start, arg->count))                       \
    X(gather_rows, 1, ag_gather_rows(t, in[0], arg->index, arg->count))                     \
    /* ops_linear.c (2 inputs, or 3 with the bias) */                                       \
    X(linear, -1, ag_linear(t, in[0], in[1], nin > 2 ? in[2] : NULL, arg->act))            \
    /* ops_loss.c */                                                                        \
    X(softmax, 1, ag_softmax(t, in[0]))                                                     \
    X(log_softmax, 1, ag_log_softmax(t, in[0]))                                             \
    X(sse, 2, ag_sse(t, in[0], in[1]))                                                      \
    X(mse, 2, ag_mse(t, in[0], in[1]))                                                      \
    X(bce, 2, ag_bce(t, in[0], in[1]))                                                      \
    X(bce_logits, 2, ag_bce_logits(t, in[0], in[1]))                                        \
    X(softmax_xent, 1, ag_softmax_xent(t, in[0], arg->index))                                 \
    /* ops_shape.c */                                                                       \
    X(slice, 1, ag_slice(t, in[0], arg->axis, arg->start, arg->count))                      \
    X(stack, -1, ag_stack(t, in, nin, arg->axis))                                           \
    X(permute, 1, ag_permute(t, in[0], arg->perm))                                          \
    X(reverse, 1, ag_reverse(t, in[0], arg->axis))                                          \
    X(broadcast_to, 1, ag_broadcast_to(t, in[0], arg->ndim, arg->shape))                    \
    X(pad, 1, ag_pad(t, in[0], arg->axis, arg->before, arg->after))                         \
    /* ops_math.c */                                                                        \
    X(maximum, 2, ag_maximum(t, in[0], in[1]))                                              \
    X(minimum, 2, ag_minimum(t, in[0], in[1]))                                              \
    X(where, 3, ag_where(t, in[0], in[1], in[2]))                                           \
    X(clamp, 1, ag_clamp(t, in[0], arg->lo, arg->hi))                                       \
    X(hardtanh, 1, ag_hardtanh(t, in[0], arg->lo, arg->hi))                                 \
    X(sin, 1, ag_sin(t, in[0]))                                                             \
    X(cos, 1, ag_cos(t, in[0]))                                                             \
    X(leaky_relu, 1, ag_leaky_relu(t, in[0], arg->c))                                       \
    X(elu, 1, ag_elu(t, in[0], arg->c))                                                     \
    X(silu, 1, ag_silu(t, in[0]))                                                           \
    X(gelu, 1, ag_gelu(t, in[0]))                                                           \
    X(sign, 1, ag_sign(t, in[0]))                                                           \
    X(step, 1, ag_step(t, in[0]))                                                           \
    X(reciprocal, 1, ag_reciprocal(t, in[0]))                                               \
    /* ops_reduce.c */                                                                      \
    X(min_axis, 1, ag_min_axis(t, in[0], arg->axis))                                        \
    X(argmax, 1, ag_argmax(t, in[0], arg->axis))                                            \
    X(logsumexp, 1, ag_logsumexp(t, in[0], arg->axis))                                      \
    X(var, 1, ag_var(t, in[0], arg->axis, arg->unbiased))                                   \
    X(std, 1, ag_std(t, in[0], arg->axis, arg->unbiased))                                   \
    X(norm, 1, ag_norm(t, in[0]))                                                           \
    X(xent_soft, 2, ag_xent_soft(t, in[0], in[1], arg->weights))                            \
    X(huber, 2, ag_huber(t, in[0], in[1], arg->c))                                          \
    X(smooth_l1, 2, ag_smooth_l1(t, in[0], in[1], arg->c))                                  \
    /* ops_conv.c (conv2d, conv1d: 2 inputs, or 3 with the bias) */                        \
    X(conv2d, -1, ag_conv2d(t, in[0], in[1], nin > 2 ? in[2] : NULL, arg->stride, arg->padding, arg->dilation)) \
    X(conv1d, -1, ag_conv1d(t, in[0], in[1], nin > 2 ? in[2] : NULL, arg->stride, arg->padding, arg->dilation)) \
    X(max_pool2d, 1, ag_max_pool2d(t, in[0], arg->kernel, arg->stride, arg->padding))       \
    X(avg_pool2d, 1, ag_avg_pool2d(t, in[0], arg->kernel, arg->stride, arg->padding))

/* The arguments of an op that are not tensors, as the `call` column reads them. */
typedef struct ag_op_args {
    double c;                      /* scale, add_const, pow: the constant */
    int axis;                      /* sum_axis, mean_axis, max_axis, concat */
    bool transpose_a, transpose_b; /* matmul */
    ag_act act;                    /* linear: the activation */
    int ndim;                      /* reshape: the new shape */
    const int *shape;
    int start, count;              /* slice_rows: rows start..start+count-1; gather_rows: count */
    /* the shape ops (ops_shape.c): slice takes axis, start, count (its length); stack and
     * reverse take axis; broadcast_to takes ndim and shape; permute and pad these: */
    const int *perm;               /* permute: y's axis k is x's axis perm[k] */
    int before, after;             /* pad: zeros before and after along axis */
    const int *index;              /* gather_rows: the row indices; softmax_xent: the labels */
    /* ops_math.c, ops_reduce.c (axis and c as above: leaky_relu's slope, elu's alpha, huber's
     * delta, smooth_l1's beta; min_axis, argmax, logsumexp, var, std: the axis) */
    double lo, hi;                 /* clamp, hardtanh: the bounds */
    bool unbiased;                 /* var, std: divide by D - 1 instead of D */
    const float *weights;          /* xent_soft: the class weights, or NULL */
    /* ops_conv.c: conv2d, conv1d take stride, padding, dilation; the poolings kernel, stride,
     * padding */
    int kernel, stride, padding, dilation;
} ag_op_args;

#define AG_DECLARE_OP(name, inputs, call) extern const ag_op ag_op_##name;
AG_OP_LIST(AG_DECLARE_OP)
#undef AG_DECLARE_OP

/* ---- building blocks of the elementwise ops (autograd/ops_elementwise.c) --------------------
 * y = f(x) elementwise, any shape. In AG_UNARY_FWD, EXPR sets y from x (and the op's constant
 * c); in AG_UNARY_VJP, EXPR sets dx from dy, x, y and c, and dx is added into the input's
 * gradient (skipped when the input takes none). */

#define AG_UNARY_FWD(n, EXPR)                                                                   \
    do {                                                                                        \
        const float *X_ = (n)->in[0]->data;                                                     \
        float *Y_ = (n)->out.data;                                                              \
        const float c = (n)->arg.constant;                                                      \
        (void)c;                                                                                \
        for (int i_ = 0, n_ = (n)->out.numel; i_ < n_; i_++) {                                  \
            const float x = X_[i_];                                                             \
            float y;                                                                            \
            EXPR;                                                                               \
            Y_[i_] = y;                                                                         \
        }                                                                                       \
    } while (0)

#define AG_UNARY_VJP(n, EXPR)                                                                   \
    do {                                                                                        \
        float *D_ = (n)->in[0]->grad;                                                           \
        if (!D_) break;                                                                         \
        const float *X_ = (n)->in[0]->data, *Y_ = (n)->out.data, *G_ = (n)->out.grad;           \
        const float c = (n)->arg.constant;                                                      \
        (void)c;                                                                                \
        for (int i_ = 0, n_ = (n)->out.numel; i_ < n_; i_++) {                                  \
            const float x = X_[i_], y = Y_[i_], dy = G_[i_];                                    \
            float dx;                                                                           \
            (void)x;                                                                            \
            (void)y;                                                                            \
            EXPR;                                                                               \
            D_[i_] += dx;                                                                       \
        }                                                                                       \
    } while (0)

/* Record an elementwise op on a (output shape = a's shape, constant c) and run it: what every
 * elementwise public function returns. Checks the input; the poison on error. */
ag_tensor *ag_unary(ag_tape *t, const ag_op *op, ag_tensor *a, double c);

/* ---- shared by the losses and the reductions (autograd/ops_loss.c) -------------------------
 * One row x (n) -> its softmax p (n). Returns m = max x and writes log s to *log_s, s the sum
 * of e^(x - m) written 1 + the rest: log p_j = (x_j - m) - log s, log sum e^x = m + log s. */
float ag_softmax_row(const float *x, float *p, int n, float *log_s);

#endif /* BACKPROP_AUTOGRAD_OPS_H */
