/*
 * ops_linear.c -- the dense layer as one op: the matrix product, the bias and the activation
 * in one node, with the activation's derivative, the bias gradient and both products of the
 * backward in one vjp.
 *
 * Fused, a layer records one node instead of three (matmul, add, activation), keeps one
 * output instead of three, and passes over it once in the forward (bias and activation
 * together, right after the product) and once in the backward (the activation's derivative).
 * The arithmetic is that of the three ops, in the same order, so the bits are theirs too.
 */
#include "kernels.h"
#include "ops.h"

#include <string.h>

/* =============================================================================================
 * linear: y = act(z), z = x @ w + b     x (B,in) @ w (in,out) + b (out) or (1,out) -> (B,out);
 * b is optional (nin 2). The activation is arg.act; the vjp reads its derivative off y.
 *   dz  = dy * act'(y)                (B,out), written into aux (y itself when act is identity)
 *   db += the column sums of dz       (out)
 *   dx += dz @ w^T                    (B,out) @ (out,in) -> (B,in)
 *   dw += x^T @ dz                    (in,B) @ (B,out) -> (in,out)
 * (+= or =: a gradient nobody has written yet is stored into, see linear_vjp)
 * =========================================================================================== */

static void linear_fwd(ag_node *n) {
    const ag_tensor *x = n->in[0], *w = n->in[1];
    const ag_tape *t = n->out.tape;
    const int B = n->out.shape[0], out = n->out.shape[1], in = x->shape[1];
    ag_gemm(B, out, in, x->data, false, w->data, false, n->out.data, false, t->scratch,
            t->scratch_bytes / sizeof(float));
    ag_kernels()->bias_act(B, out, n->nin > 2 ? n->in[2]->data : NULL, n->arg.act, n->out.data);
}

static void linear_vjp(ag_node *n) {
    ag_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;
    const ag_tape *t = n->out.tape;
    const int B = n->out.shape[0], out = n->out.shape[1], in = x->shape[1];
    const ag_kernel_table *k = ag_kernels();
    const float *dz = n->out.grad;
    if (n->arg.act != AG_ACT_IDENTITY) {
        k->act_grad(n->out.numel, n->arg.act, n->out.data, n->out.grad, n->aux);
        dz = n->aux;
    }
    float *scratch = t->scratch;
    const size_t floats = t->scratch_bytes / sizeof(float);
    /* Each gradient is added to, or stored into when nobody has written it yet (the node is
     * recorded with vjp_stores: see ag_grad_fresh); asked right before each write, so that an
     * input given twice is stored once, then added to. */
    if (b && b->grad) {
        if (ag_grad_fresh(b)) memset(b->grad, 0, (size_t)b->numel * sizeof(float));
        k->acc_colsum(B, out, dz, b->grad);
    }
    if (x->grad) ag_gemm(B, in, out, dz, false, w->data, true, x->grad, !ag_grad_fresh(x), scratch, floats);
    if (w->grad) ag_gemm(in, out, B, x->data, true, dz, false, w->grad, !ag_grad_fresh(w), scratch, floats);
}
const ag_op ag_op_linear = {"linear", linear_fwd, linear_vjp};

ag_tensor *ag_linear(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *b, ag_act act) {
    ag_tensor *in[3] = {x, w, b};
    const int nin = b ? 3 : 2;
    if (!ag_check_inputs(t, "linear", nin, in)) return ag_poison(t);
    if (act < AG_ACT_IDENTITY || act > AG_ACT_RELU)
        return ag_fail(t, AG_ERR_RANGE, "linear: activation %d is not one of ag_act (0 to %d)",
                       (int)act, (int)AG_ACT_RELU);
    if (x->ndim != 2 || w->ndim != 2)
        return ag_fail(t, AG_ERR_SHAPE, "linear: x %s and w %s must both be 2-D",
                       ag_fmt_shape(x).s, ag_fmt_shape(w).s);
    if (x->shape[1] != w->shape[0])
        return ag_fail(t, AG_ERR_SHAPE,
                       "linear: x %s @ w %s: inner dimensions differ (%d vs %d)",
                       ag_fmt_shape(x).s, ag_fmt_shape(w).s, x->shape[1], w->shape[0]);
    const int B = x->shape[0], out = w->shape[1];
    if (b && !(b->numel == out && b->shape[b->ndim - 1] == out && b->ndim <= 2))
        return ag_fail(t, AG_ERR_SHAPE, "linear: bias %s must be (%d) or (1,%d) for w %s",
                       ag_fmt_shape(b).s, out, out, ag_fmt_shape(w).s);
    /* Scratch for the packed panels of the forward and both backward products (the same three
     * sizes in other orders), reserved now so that the sweep never has to ask for memory. */
    size_t need = ag_gemm_scratch(B, out, x->shape[1], ag_get_threads());
    if (need && !ag_tape_scratch(t, need * sizeof(float), "linear")) return ag_poison(t);
    const int shape[2] = {B, out};
    ag_node *n = ag_record(t, &ag_op_linear, nin, in, 2, shape, NULL);
    if (!n) return ag_poison(t);
    n->arg.act = act;
    n->vjp_stores = true;
    if (act != AG_ACT_IDENTITY && (n->out.flags & AG_REQUIRES_GRAD)) {
        /* dz, the gradient at the activation's input, for the vjp (no gradient: no dz) */
        n->aux = ag_arena_alloc(t, (size_t)n->out.numel * sizeof(float), n->out.numel >= 16 ? 64 : 4,
                                "linear");
        if (!n->aux) return ag_poison(t);
    }
    return ag_run(n);
}
