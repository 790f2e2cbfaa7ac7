/*
 * ops_elementwise.c -- elementwise ops: arithmetic with broadcasting, unary maths, activations.
 *
 * Each op: a one-line comment with its maths, its forward, its vector-Jacobian product (vjp),
 * its table entry, and the public function. "dx += ..." is the chain rule: the gradient that
 * reaches the output (dy) times the local derivative, ADDED into the input's gradient.
 */
#include "kernels.h"
#include "ops.h"

#include <math.h>

/* =============================================================================================
 * Broadcasting binary ops: a (shape A) op b (shape B) -> out (broadcast of A and B).
 *
 * Shapes are aligned on the right and padded to 4 dims; a dim of 1 stretches. A plan holds,
 * for each of the 4 output dims, its size and the stride of a and of b along it (0 where that
 * operand is stretched). Because the vjp walks the same plan, a stretched operand's gradient
 * is summed over the stretched dims by the += itself, with no separate reduction.
 * =========================================================================================== */

typedef struct {
    int n[4];     /* output sizes */
    long sa[4];   /* strides of a per output dim (0 = broadcast) */
    long sb[4];   /* strides of b */
} bcast_plan;

/* The broadcast shape of a and b, or false (error recorded) when they do not broadcast. */
static bool broadcast_shape(ag_tape *t, const char *op, const ag_tensor *a, const ag_tensor *b,
                            int *ndim, int shape[AG_MAX_DIMS]) {
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int k = 0; k < nd; k++) {
        int ka = a->ndim - nd + k, kb = b->ndim - nd + k;
        int da = ka >= 0 ? a->shape[ka] : 1, db = kb >= 0 ? b->shape[kb] : 1;
        if (da != db && da != 1 && db != 1) {
            ag_fail(t, AG_ERR_SHAPE,
                    "%s: shapes %s and %s do not broadcast (dimension %d: %d vs %d)", op,
                    ag_fmt_shape(a).s, ag_fmt_shape(b).s, k, da, db);
            return false;
        }
        shape[k] = da > db ? da : db;
    }
    *ndim = nd;
    return true;
}

/* Strides of x, padded to 4 dims on the left, with 0 for every stretched (size-1) dim. */
static void pad_strides(const ag_tensor *x, int nd, const int *oshape, long s[4]) {
    long stride = 1;
    for (int k = 3; k >= 0; k--) {
        int ko = k - (4 - nd);               /* index into the output's dims */
        int kx = ko - (nd - x->ndim);        /* index into x's dims */
        int dx = kx >= 0 ? x->shape[kx] : 1;
        int dout = ko >= 0 ? oshape[ko] : 1;
        s[k] = (dx == 1 && dout != 1) ? 0 : stride;
        stride *= dx;
    }
}

static void make_plan(const ag_tensor *a, const ag_tensor *b, const ag_tensor *out,
                      bcast_plan *p) {
    int nd = out->ndim;
    if ((a->numel == out->numel || a->numel == 1) && (b->numel == out->numel || b->numel == 1)) {
        /* Same shapes, or a scalar with a tensor: one flat loop. */
        p->n[0] = p->n[1] = p->n[2] = 1;
        p->n[3] = out->numel;
        for (int k = 0; k < 4; k++) p->sa[k] = p->sb[k] = 0;
        p->sa[3] = a->numel == 1 && out->numel > 1 ? 0 : 1;
        p->sb[3] = b->numel == 1 && out->numel > 1 ? 0 : 1;
        return;
    }
    for (int k = 0; k < 4; k++) p->n[k] = k - (4 - nd) >= 0 ? out->shape[k - (4 - nd)] : 1;
    pad_strides(a, nd, out->shape, p->sa);
    pad_strides(b, nd, out->shape, p->sb);
}

/* Run BODY for every output element with `io`, `ia`, `ib` its index in out, a and b. The inner
 * loop has constant strides in each of its four versions, so the compiler can vectorise it. */
#define BCAST_INNER(IA, IB, BODY)                                                              \
    for (int j = 0; j < n3; j++) {                                                              \
        const long io = io0 + j, ia = (IA), ib = (IB);                                          \
        (void)ia;                                                                               \
        (void)ib;                                                                               \
        BODY                                                                                    \
    }
#define BCAST_FOR(p, BODY)                                                                      \
    do {                                                                                        \
        long io0 = 0;                                                                           \
        const int n3 = (p).n[3];                                                                \
        for (int i0 = 0; i0 < (p).n[0]; i0++)                                                   \
            for (int i1 = 0; i1 < (p).n[1]; i1++)                                               \
                for (int i2 = 0; i2 < (p).n[2]; i2++, io0 += n3) {                              \
                    const long ia0 = i0 * (p).sa[0] + i1 * (p).sa[1] + i2 * (p).sa[2];          \
                    const long ib0 = i0 * (p).sb[0] + i1 * (p).sb[1] + i2 * (p).sb[2];          \
                    if ((p).sa[3] && (p).sb[3]) BCAST_INNER(ia0 + j, ib0 + j, BODY)             \
                    else if ((p).sa[3]) BCAST_INNER(ia0 + j, ib0, BODY)                         \
                    else if ((p).sb[3]) BCAST_INNER(ia0, ib0 + j, BODY)                         \
                    else BCAST_INNER(ia0, ib0, BODY)                                            \
                }                                                                               \
    } while (0)

/* The names every binary forward and vjp below uses. */
#define BINARY_VARS(n)                                                                          \
    const ag_tensor *A = (n)->in[0], *B = (n)->in[1];                                           \
    const float *a = A->data, *b = B->data, *out = (n)->out.data;                               \
    const float *g = (n)->out.grad;                                                             \
    float *da = A->grad, *db = B->grad;                                                         \
    bcast_plan p;                                                                               \
    make_plan(A, B, &(n)->out, &p);                                                             \
    (void)a; (void)b; (void)out; (void)g; (void)da; (void)db

/* How an operand of a binary op lines up with the output: as a scalar (1 element), as all of
 * it (same element count), as one row stretched over every row (its element count is the
 * output's last dimension and that is its own last dimension), or otherwise. The kernels
 * handle the first three without a broadcast plan. */
enum { FULL, ROW, SCALAR, OTHER };
static int operand_kind(const ag_tensor *x, const ag_tensor *out) {
    const int last = out->shape[out->ndim - 1];
    if (x->numel == out->numel) return FULL;
    if (x->numel == 1) return SCALAR;
    if (x->numel == last && x->shape[x->ndim - 1] == last) return ROW;
    return OTHER;
}

/* add: out = a + b;  da += g;  db += g                          (broadcast) */
static void add_fwd(ag_node *n) {
    const ag_tensor *A = n->in[0], *B = n->in[1], *O = &n->out;
    if (O->numel == 1) { /* scalars: the whole op in one line */
        O->data[0] = A->data[0] + B->data[0];
        return;
    }
    const int ka = operand_kind(A, O), kb = operand_kind(B, O);
    const long cols = O->shape[O->ndim - 1], rows = O->numel / cols;
    if (ka == FULL && kb == FULL) ag_kernels()->add(O->numel, A->data, B->data, O->data);
    else if (ka == FULL && kb == ROW) ag_kernels()->add_row(rows, cols, A->data, B->data, O->data);
    else if (ka == ROW && kb == FULL) ag_kernels()->add_row(rows, cols, B->data, A->data, O->data);
    else if (ka == FULL && kb == SCALAR) ag_kernels()->add_row(O->numel, 1, A->data, B->data, O->data);
    else if (ka == SCALAR && kb == FULL) ag_kernels()->add_row(O->numel, 1, B->data, A->data, O->data);
    else {
        BINARY_VARS(n);
        float *o = n->out.data;
        BCAST_FOR(p, o[io] = a[ia] + b[ib];);
    }
}
/* g reaching the output, added into one operand's gradient dx: summed over stretched dims. */
static void add_grad(const ag_node *n, const ag_tensor *X, float *dx) {
    const ag_tensor *O = &n->out;
    const int kind = operand_kind(X, O);
    const long cols = O->shape[O->ndim - 1], rows = O->numel / cols;
    if (kind == FULL) ag_kernels()->acc(O->numel, O->grad, dx);
    else if (kind == ROW) ag_kernels()->acc_colsum(rows, cols, O->grad, dx);
    else ag_kernels()->acc_colsum(O->numel, 1, O->grad, dx); /* SCALAR: the sum of all of g */
}
static void add_vjp(ag_node *n) {
    float *da = n->in[0]->grad, *db = n->in[1]->grad;
    const float *g = n->out.grad;
    if (n->out.numel == 1) {
        if (da) da[0] += g[0];
        if (db) db[0] += g[0];
        return;
    }
    if (operand_kind(n->in[0], &n->out) == OTHER || operand_kind(n->in[1], &n->out) == OTHER) {
        BINARY_VARS(n);
        if (da) BCAST_FOR(p, da[ia] += g[io];);
        if (db) BCAST_FOR(p, db[ib] += g[io];);
        return;
    }
    if (da) add_grad(n, n->in[0], da);
    if (db) add_grad(n, n->in[1], db);
}
const ag_op ag_op_add = {"add", add_fwd, add_vjp};

/* sub: out = a - b;  da += g;  db -= g                          (broadcast) */
static void sub_fwd(ag_node *n) {
    if (n->out.numel == 1) {
        n->out.data[0] = n->in[0]->data[0] - n->in[1]->data[0];
        return;
    }
    BINARY_VARS(n);
    float *o = n->out.data;
    BCAST_FOR(p, o[io] = a[ia] - b[ib];);
}
static void sub_vjp(ag_node *n) {
    BINARY_VARS(n);
    if (da) BCAST_FOR(p, da[ia] += g[io];);
    if (db) BCAST_FOR(p, db[ib] -= g[io];);
}
const ag_op ag_op_sub = {"sub", sub_fwd, sub_vjp};

/* mul: out = a * b;  da += g * b;  db += g * a                  (broadcast) */
static void mul_fwd(ag_node *n) {
    if (n->out.numel == 1) {
        n->out.data[0] = n->in[0]->data[0] * n->in[1]->data[0];
        return;
    }
    BINARY_VARS(n);
    float *o = n->out.data;
    BCAST_FOR(p, o[io] = a[ia] * b[ib];);
}
static void mul_vjp(ag_node *n) {
    if (n->out.numel == 1) {
        const float g = n->out.grad[0], a = n->in[0]->data[0], b = n->in[1]->data[0];
        if (n->in[0]->grad) n->in[0]->grad[0] += g * b;
        if (n->in[1]->grad) n->in[1]->grad[0] += g * a;
        return;
    }
    BINARY_VARS(n);
    if (da) BCAST_FOR(p, da[ia] += g[io] * b[ib];);
    if (db) BCAST_FOR(p, db[ib] += g[io] * a[ia];);
}
const ag_op ag_op_mul = {"mul", mul_fwd, mul_vjp};

/* div: out = a / b;  da += g / b;  db -= g * a / b^2 = g * out / b   (broadcast) */
static void div_fwd(ag_node *n) {
    BINARY_VARS(n);
    float *o = n->out.data;
    BCAST_FOR(p, o[io] = a[ia] / b[ib];);
}
static void div_vjp(ag_node *n) {
    BINARY_VARS(n);
    if (da) BCAST_FOR(p, da[ia] += g[io] / b[ib];);
    if (db) BCAST_FOR(p, db[ib] -= g[io] * out[io] / b[ib];);
}
const ag_op ag_op_div = {"div", div_fwd, div_vjp};

static ag_tensor *binary(ag_tape *t, const ag_op *op, ag_tensor *a, ag_tensor *b) {
    ag_tensor *in[2] = {a, b};
    int nd, shape[AG_MAX_DIMS];
    if (!ag_check_inputs(t, op->name, 2, in)) return ag_poison(t);
    ag_node *n;
    if (a->ndim == b->ndim && a->numel == 1 && b->numel == 1) /* scalars: nothing to broadcast */
        n = ag_record(t, op, 2, in, a->ndim, a->shape, NULL);
    else if (broadcast_shape(t, op->name, a, b, &nd, shape))
        n = ag_record(t, op, 2, in, nd, shape, NULL);
    else
        return ag_poison(t);
    return n ? ag_run(n) : ag_poison(t);
}

ag_tensor *ag_add(ag_tape *t, ag_tensor *a, ag_tensor *b) { return binary(t, &ag_op_add, a, b); }
ag_tensor *ag_sub(ag_tape *t, ag_tensor *a, ag_tensor *b) { return binary(t, &ag_op_sub, a, b); }
ag_tensor *ag_mul(ag_tape *t, ag_tensor *a, ag_tensor *b) { return binary(t, &ag_op_mul, a, b); }
ag_tensor *ag_div(ag_tape *t, ag_tensor *a, ag_tensor *b) { return binary(t, &ag_op_div, a, b); }

/* =============================================================================================
 * Unary ops: y = f(x) elementwise, any shape, written with AG_UNARY_FWD / AG_UNARY_VJP (ops.h).
 * =========================================================================================== */

/* The ops with a vector kernel (autograd/kernels_simd.h, where the same formulas are written
 * on vectors): y = K(x) forward; dx += K'(a, dy) backward, with a the forward's output y or,
 * for relu, its input x. */
#define KERNEL_FWD(n, K) ag_kernels()->K((n)->out.numel, (n)->in[0]->data, (n)->out.data)
#define KERNEL_VJP(n, K, a)                                                                     \
    do {                                                                                        \
        if ((n)->in[0]->grad)                                                                   \
            ag_kernels()->K((n)->out.numel, (a), (n)->out.grad, (n)->in[0]->grad);              \
    } while (0)

/* neg: y = -x;  dx += -dy */
static void neg_fwd(ag_node *n) { AG_UNARY_FWD(n, y = -x); }
static void neg_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = -dy); }
const ag_op ag_op_neg = {"neg", neg_fwd, neg_vjp};

/* scale: y = c * x;  dx += c * dy */
static void scale_fwd(ag_node *n) { AG_UNARY_FWD(n, y = c * x); }
static void scale_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = c * dy); }
const ag_op ag_op_scale = {"scale", scale_fwd, scale_vjp};

/* add_const: y = x + c;  dx += dy */
static void add_const_fwd(ag_node *n) { AG_UNARY_FWD(n, y = x + c); }
static void add_const_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = dy); }
const ag_op ag_op_add_const = {"add_const", add_const_fwd, add_const_vjp};

/* pow: y = x^c;  dx += dy * c * x^(c-1) */
static void pow_fwd(ag_node *n) { AG_UNARY_FWD(n, y = powf(x, c)); }
static void pow_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = dy * c * powf(x, c - 1.0f)); }
const ag_op ag_op_pow = {"pow", pow_fwd, pow_vjp};

/* square: y = x^2;  dx += dy * 2x */
static void square_fwd(ag_node *n) { AG_UNARY_FWD(n, y = x * x); }
static void square_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = dy * 2.0f * x); }
const ag_op ag_op_square = {"square", square_fwd, square_vjp};

/* sqrt: y = sqrt(x);  dx += dy / (2y) */
static void sqrt_fwd(ag_node *n) { AG_UNARY_FWD(n, y = sqrtf(x)); }
static void sqrt_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = dy * 0.5f / y); }
const ag_op ag_op_sqrt = {"sqrt", sqrt_fwd, sqrt_vjp};

/* exp: y = e^x;  dx += dy * y */
static void exp_fwd(ag_node *n) { KERNEL_FWD(n, exp); }
static void exp_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = dy * y); }
const ag_op ag_op_exp = {"exp", exp_fwd, exp_vjp};

/* log: y = ln x;  dx += dy / x */
static void log_fwd(ag_node *n) { AG_UNARY_FWD(n, y = logf(x)); }
static void log_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = dy / x); }
const ag_op ag_op_log = {"log", log_fwd, log_vjp};

/* abs: y = |x|;  dx += dy * sign(x)   (0 at x = 0) */
static void abs_fwd(ag_node *n) { AG_UNARY_FWD(n, y = fabsf(x)); }
static void abs_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = x > 0.0f ? dy : x < 0.0f ? -dy : 0.0f); }
const ag_op ag_op_abs = {"abs", abs_fwd, abs_vjp};

/* sigmoid: y = 1/(1+exp(-x));  dx += dy * y * (1 - y)      (the paper's squashing function) */
static void sigmoid_fwd(ag_node *n) { KERNEL_FWD(n, sigmoid); }
static void sigmoid_vjp(ag_node *n) { KERNEL_VJP(n, sigmoid_vjp, n->out.data); }
const ag_op ag_op_sigmoid = {"sigmoid", sigmoid_fwd, sigmoid_vjp};

/* tanh: y = tanh(x);  dx += dy * (1 - y^2) */
static void tanh_fwd(ag_node *n) { KERNEL_FWD(n, tanh); }
static void tanh_vjp(ag_node *n) { KERNEL_VJP(n, tanh_vjp, n->out.data); }
const ag_op ag_op_tanh = {"tanh", tanh_fwd, tanh_vjp};

/* relu: y = max(x, 0);  dx += dy * [x > 0]  (dx = dy * [x > 0] into a fresh gradient: the
 * node is recorded with vjp_stores, see ag_relu) */
static void relu_fwd(ag_node *n) { KERNEL_FWD(n, relu); }
static void relu_vjp(ag_node *n) {
    ag_tensor *x = n->in[0];
    if (x->grad && ag_grad_fresh(x)) ag_kernels()->relu_vjp_set(n->out.numel, x->data, n->out.grad, x->grad);
    else KERNEL_VJP(n, relu_vjp, x->data);
}
const ag_op ag_op_relu = {"relu", relu_fwd, relu_vjp};

/* softplus: y = log(1 + e^x) = max(x,0) + log1p(e^-|x|);  dx += dy * sigmoid(x) */
static void softplus_fwd(ag_node *n) { AG_UNARY_FWD(n, y = fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)))); }
static void softplus_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = dy / (1.0f + expf(-x))); }
const ag_op ag_op_softplus = {"softplus", softplus_fwd, softplus_vjp};

ag_tensor *ag_unary(ag_tape *t, const ag_op *op, ag_tensor *a, double c) {
    if (!ag_check_inputs(t, op->name, 1, &a)) return ag_poison(t);
    ag_node *n = ag_record(t, op, 1, &a, a->ndim, a->shape, NULL);
    if (!n) return ag_poison(t);
    n->arg.constant = (float)c;
    return ag_run(n);
}

ag_tensor *ag_neg(ag_tape *t, ag_tensor *a) { return ag_unary(t, &ag_op_neg, a, 0); }
ag_tensor *ag_scale(ag_tape *t, ag_tensor *a, double c) { return ag_unary(t, &ag_op_scale, a, c); }
ag_tensor *ag_add_const(ag_tape *t, ag_tensor *a, double c) {
    return ag_unary(t, &ag_op_add_const, a, c);
}
ag_tensor *ag_pow(ag_tape *t, ag_tensor *a, double p) { return ag_unary(t, &ag_op_pow, a, p); }
ag_tensor *ag_square(ag_tape *t, ag_tensor *a) { return ag_unary(t, &ag_op_square, a, 0); }
ag_tensor *ag_sqrt(ag_tape *t, ag_tensor *a) { return ag_unary(t, &ag_op_sqrt, a, 0); }
ag_tensor *ag_exp(ag_tape *t, ag_tensor *a) { return ag_unary(t, &ag_op_exp, a, 0); }
ag_tensor *ag_log(ag_tape *t, ag_tensor *a) { return ag_unary(t, &ag_op_log, a, 0); }
ag_tensor *ag_abs(ag_tape *t, ag_tensor *a) { return ag_unary(t, &ag_op_abs, a, 0); }
ag_tensor *ag_sigmoid(ag_tape *t, ag_tensor *a) { return ag_unary(t, &ag_op_sigmoid, a, 0); }
ag_tensor *ag_tanh(ag_tape *t, ag_tensor *a) { return ag_unary(t, &ag_op_tanh, a, 0); }
ag_tensor *ag_relu(ag_tape *t, ag_tensor *a) {
    return ag_vjp_stores(ag_unary(t, &ag_op_relu, a, 0));
}
ag_tensor *ag_softplus(ag_tape *t, ag_tensor *a) { return ag_unary(t, &ag_op_softplus, a, 0); }
