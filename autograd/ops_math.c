/*
 * ops_math.c -- more elementwise ops: maximum/minimum, clamp, where (all broadcasting), sin,
 * cos, leaky_relu, elu, silu, gelu, hardtanh, sign, step, reciprocal.
 *
 * Each op: a one-line comment with its maths and shapes, its forward, its vector-Jacobian
 * product (vjp), its table entry and the public function. "dx += ..." is the chain rule: the
 * gradient that reaches the output (dy) times the local derivative, ADDED into the input's
 * gradient. Where a derivative has a kink the comment says which side it takes.
 */
#include "ops.h"

#include <math.h>
#include <string.h>

/* =============================================================================================
 * Broadcasting over up to three operands (numpy's rule, as ag_add has it): shapes aligned on
 * the right, a dimension of 1 stretches. The plan holds the output's 4 sizes (padded on the
 * left) and each operand's stride along them, 0 where that operand is stretched; the vjp walks
 * the same plan, so a stretched operand's gradient is summed by the += itself.
 * =========================================================================================== */

typedef struct {
    int n[4];     /* output sizes, padded to 4 dims */
    long s[3][4]; /* strides of each operand per output dim (0 = stretched) */
} nway_plan;

/* The broadcast shape of in[0..nin-1], or false (error recorded, naming the two operands that
 * clash) when they do not broadcast. */
static bool nway_shape(ag_tape *t, const char *op, int nin, ag_tensor *const *in, int *ndim,
                       int shape[AG_MAX_DIMS]) {
    int nd = 0;
    for (int i = 0; i < nin; i++) nd = in[i]->ndim > nd ? in[i]->ndim : nd;
    for (int k = 0; k < nd; k++) {
        int size = 1, from = 0; /* the size so far along output dim k, and who set it */
        for (int i = 0; i < nin; i++) {
            const int ki = in[i]->ndim - nd + k, d = ki >= 0 ? in[i]->shape[ki] : 1;
            if (d == 1 || d == size) continue;
            if (size != 1) {
                ag_fail(t, AG_ERR_SHAPE,
                        "%s: shapes %s and %s do not broadcast (dimension %d: %d vs %d)", op,
                        ag_fmt_shape(in[from]).s, ag_fmt_shape(in[i]).s, k, size, d);
                return false;
            }
            size = d, from = i;
        }
        shape[k] = size;
    }
    *ndim = nd;
    return true;
}

static void nway_plan_of(const ag_node *n, nway_plan *p) {
    const int nd = n->out.ndim;
    for (int k = 0; k < 4; k++) p->n[k] = k - (4 - nd) >= 0 ? n->out.shape[k - (4 - nd)] : 1;
    for (int i = 0; i < n->nin; i++) {
        const ag_tensor *x = n->in[i];
        long stride = 1;
        for (int k = 3; k >= 0; k--) {
            const int kx = k - (4 - x->ndim), dx = kx >= 0 ? x->shape[kx] : 1;
            p->s[i][k] = (dx == 1 && p->n[k] != 1) ? 0 : stride;
            stride *= dx;
        }
    }
}

/* Run BODY for every output element: io its index in the output, k0, k1, k2 in the operands. */
#define NWAY_FOR(p, BODY)                                                                       \
    do {                                                                                        \
        long io = 0;                                                                            \
        for (int i0 = 0; i0 < (p).n[0]; i0++)                                                   \
            for (int i1 = 0; i1 < (p).n[1]; i1++)                                               \
                for (int i2 = 0; i2 < (p).n[2]; i2++)                                           \
                    for (int i3 = 0; i3 < (p).n[3]; i3++, io++) {                               \
                        const long k0 = i0 * (p).s[0][0] + i1 * (p).s[0][1] +                   \
                                        i2 * (p).s[0][2] + i3 * (p).s[0][3];                    \
                        const long k1 = i0 * (p).s[1][0] + i1 * (p).s[1][1] +                   \
                                        i2 * (p).s[1][2] + i3 * (p).s[1][3];                    \
                        const long k2 = i0 * (p).s[2][0] + i1 * (p).s[2][1] +                   \
                                        i2 * (p).s[2][2] + i3 * (p).s[2][3];                    \
                        (void)k0, (void)k1, (void)k2;                                           \
                        BODY                                                                    \
                    }                                                                           \
    } while (0)

/* Check, broadcast, record and run an op on nin (2 or 3) broadcasting operands. */
static ag_tensor *broadcasting(ag_tape *t, const ag_op *op, int nin, ag_tensor *const *in) {
    int nd, shape[AG_MAX_DIMS];
    if (!ag_check_inputs(t, op->name, nin, in)) return ag_poison(t);
    if (!nway_shape(t, op->name, nin, in, &nd, shape)) return ag_poison(t);
    ag_node *n = ag_record(t, op, nin, in, nd, shape, NULL);
    return n ? ag_run(n) : ag_poison(t);
}

/* ---- maximum, minimum: a (A) and b (B) -> broadcast of A and B ---------------------------- */

/* maximum: y = max(a, b) (NaN if either is NaN);
 *   da += dy where a > b, dy/2 where a = b;  db += dy where b > a, dy/2 where a = b */
static void maximum_fwd(ag_node *n) {
    nway_plan p;
    nway_plan_of(n, &p);
    const float *a = n->in[0]->data, *b = n->in[1]->data;
    float *y = n->out.data;
    NWAY_FOR(p, y[io] = a[k0] > b[k1] || isnan(a[k0]) ? a[k0] : b[k1];);
}
static void maximum_vjp(ag_node *n) {
    nway_plan p;
    nway_plan_of(n, &p);
    const float *a = n->in[0]->data, *b = n->in[1]->data, *g = n->out.grad;
    float *da = n->in[0]->grad, *db = n->in[1]->grad;
    if (da) NWAY_FOR(p, da[k0] += a[k0] > b[k1] ? g[io] : a[k0] == b[k1] ? 0.5f * g[io] : 0.0f;);
    if (db) NWAY_FOR(p, db[k1] += b[k1] > a[k0] ? g[io] : a[k0] == b[k1] ? 0.5f * g[io] : 0.0f;);
}
const ag_op ag_op_maximum = {"maximum", maximum_fwd, maximum_vjp};

/* minimum: y = min(a, b) (NaN if either is NaN);
 *   da += dy where a < b, dy/2 where a = b;  db += dy where b < a, dy/2 where a = b */
static void minimum_fwd(ag_node *n) {
    nway_plan p;
    nway_plan_of(n, &p);
    const float *a = n->in[0]->data, *b = n->in[1]->data;
    float *y = n->out.data;
    NWAY_FOR(p, y[io] = a[k0] < b[k1] || isnan(a[k0]) ? a[k0] : b[k1];);
}
static void minimum_vjp(ag_node *n) {
    nway_plan p;
    nway_plan_of(n, &p);
    const float *a = n->in[0]->data, *b = n->in[1]->data, *g = n->out.grad;
    float *da = n->in[0]->grad, *db = n->in[1]->grad;
    if (da) NWAY_FOR(p, da[k0] += a[k0] < b[k1] ? g[io] : a[k0] == b[k1] ? 0.5f * g[io] : 0.0f;);
    if (db) NWAY_FOR(p, db[k1] += b[k1] < a[k0] ? g[io] : a[k0] == b[k1] ? 0.5f * g[io] : 0.0f;);
}
const ag_op ag_op_minimum = {"minimum", minimum_fwd, minimum_vjp};

ag_tensor *ag_maximum(ag_tape *t, ag_tensor *a, ag_tensor *b) {
    return broadcasting(t, &ag_op_maximum, 2, (ag_tensor *const[]){a, b});
}
ag_tensor *ag_minimum(ag_tape *t, ag_tensor *a, ag_tensor *b) {
    return broadcasting(t, &ag_op_minimum, 2, (ag_tensor *const[]){a, b});
}

/* ---- where: mask (M), a (A), b (B) -> broadcast of M, A and B -------------------------------- */

/* where: y = a where mask > 0, else b;  da += dy where mask > 0;  db += dy elsewhere;
 * the mask takes no gradient (it is piecewise constant). */
static void where_fwd(ag_node *n) {
    nway_plan p;
    nway_plan_of(n, &p);
    const float *m = n->in[0]->data, *a = n->in[1]->data, *b = n->in[2]->data;
    float *y = n->out.data;
    NWAY_FOR(p, y[io] = m[k0] > 0.0f ? a[k1] : b[k2];);
}
static void where_vjp(ag_node *n) {
    nway_plan p;
    nway_plan_of(n, &p);
    const float *m = n->in[0]->data, *g = n->out.grad;
    float *da = n->in[1]->grad, *db = n->in[2]->grad;
    if (da) NWAY_FOR(p, if (m[k0] > 0.0f) da[k1] += g[io];);
    if (db) NWAY_FOR(p, if (!(m[k0] > 0.0f)) db[k2] += g[io];);
}
const ag_op ag_op_where = {"where", where_fwd, where_vjp};

ag_tensor *ag_where(ag_tape *t, ag_tensor *mask, ag_tensor *a, ag_tensor *b) {
    return broadcasting(t, &ag_op_where, 3, (ag_tensor *const[]){mask, a, b});
}

/* =============================================================================================
 * Unary ops: y = f(x) elementwise, any shape, written with AG_UNARY_FWD / AG_UNARY_VJP (ops.h).
 * =========================================================================================== */

/* The two bounds of clamp and hardtanh, kept in the node's aux. */
typedef struct {
    float lo, hi;
} bounds;
#define LO (((const bounds *)n->aux)->lo)
#define HI (((const bounds *)n->aux)->hi)

/* clamp: y = min(max(x, lo), hi) (hi everywhere when lo > hi);
 *   dx += dy where lo <= x <= hi (bounds included), 0 elsewhere */
static void clamp_fwd(ag_node *n) { AG_UNARY_FWD(n, y = fminf(fmaxf(x, LO), HI)); }
static void clamp_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = x >= LO && x <= HI ? dy : 0.0f); }
const ag_op ag_op_clamp = {"clamp", clamp_fwd, clamp_vjp};

/* hardtanh: y = min(max(x, lo), hi), lo < hi;  dx += dy where lo < x < hi (bounds excluded) */
static void hardtanh_fwd(ag_node *n) { AG_UNARY_FWD(n, y = fminf(fmaxf(x, LO), HI)); }
static void hardtanh_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = x > LO && x < HI ? dy : 0.0f); }
const ag_op ag_op_hardtanh = {"hardtanh", hardtanh_fwd, hardtanh_vjp};

static ag_tensor *bounded(ag_tape *t, const ag_op *op, ag_tensor *x, double lo, double hi,
                          bool strict) {
    if (!ag_check_inputs(t, op->name, 1, &x)) return ag_poison(t);
    if (isnan(lo) || isnan(hi))
        return ag_fail(t, AG_ERR_RANGE, "%s: bounds lo %g and hi %g: a bound is NaN", op->name,
                       lo, hi);
    if (strict && !(lo < hi))
        return ag_fail(t, AG_ERR_RANGE, "%s: lo %g must be below hi %g", op->name, lo, hi);
    ag_node *n = ag_record(t, op, 1, &x, x->ndim, x->shape, NULL);
    bounds *b = n ? ag_arena_alloc(t, sizeof *b, _Alignof(bounds), op->name) : NULL;
    if (!b) return ag_poison(t);
    b->lo = (float)lo, b->hi = (float)hi;
    n->aux = b;
    return ag_run(n);
}
ag_tensor *ag_clamp(ag_tape *t, ag_tensor *x, double lo, double hi) {
    return bounded(t, &ag_op_clamp, x, lo, hi, false);
}
ag_tensor *ag_hardtanh(ag_tape *t, ag_tensor *x, double lo, double hi) {
    return bounded(t, &ag_op_hardtanh, x, lo, hi, true);
}

/* sin: y = sin x;  dx += dy cos x */
static void sin_fwd(ag_node *n) { AG_UNARY_FWD(n, y = sinf(x)); }
static void sin_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = dy * cosf(x)); }
const ag_op ag_op_sin = {"sin", sin_fwd, sin_vjp};

/* cos: y = cos x;  dx += -dy sin x */
static void cos_fwd(ag_node *n) { AG_UNARY_FWD(n, y = cosf(x)); }
static void cos_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = -dy * sinf(x)); }
const ag_op ag_op_cos = {"cos", cos_fwd, cos_vjp};

/* leaky_relu: y = x for x > 0, c x otherwise (c the slope);  dx += dy for x > 0, c dy otherwise */
static void leaky_relu_fwd(ag_node *n) { AG_UNARY_FWD(n, y = x > 0.0f ? x : c * x); }
static void leaky_relu_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = x > 0.0f ? dy : c * dy); }
const ag_op ag_op_leaky_relu = {"leaky_relu", leaky_relu_fwd, leaky_relu_vjp};

/* elu: y = x for x > 0, c (e^x - 1) otherwise (c = alpha);  dx += dy for x > 0, dy c e^x otherwise */
static void elu_fwd(ag_node *n) { AG_UNARY_FWD(n, y = x > 0.0f ? x : c * expm1f(x)); }
static void elu_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = x > 0.0f ? dy : dy * c * expf(x)); }
const ag_op ag_op_elu = {"elu", elu_fwd, elu_vjp};

/* silu: y = x s, s = sigmoid(x);  dx += dy s (1 + x (1 - s)) */
static float sigmoid_of(float x) {
    const float e = expf(-fabsf(x)); /* never overflows */
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}
static void silu_fwd(ag_node *n) { AG_UNARY_FWD(n, y = x * sigmoid_of(x)); }
static void silu_vjp(ag_node *n) {
    AG_UNARY_VJP(n, const float s = sigmoid_of(x); dx = dy * s * (1.0f + x * (1.0f - s)));
}
const ag_op ag_op_silu = {"silu", silu_fwd, silu_vjp};

/* gelu (tanh form): y = x/2 (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3);
 *   dx += dy (1/2 (1 + tanh u) + x/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)) */
#define GELU_K 0.7978845608f /* sqrt(2/pi) */
#define GELU_C 0.044715f
static void gelu_fwd(ag_node *n) {
    AG_UNARY_FWD(n, y = 0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_C * x * x * x))));
}
static void gelu_vjp(ag_node *n) {
    AG_UNARY_VJP(n, const float th = tanhf(GELU_K * (x + GELU_C * x * x * x));
                 dx = dy * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * GELU_K *
                                                     (1.0f + 3.0f * GELU_C * x * x)));
}
const ag_op ag_op_gelu = {"gelu", gelu_fwd, gelu_vjp};

/* sign: y = -1, 0 or 1 (NaN for NaN);  no gradient (the derivative is 0 wherever it exists) */
static void sign_fwd(ag_node *n) {
    AG_UNARY_FWD(n, y = x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x); /* x: keeps 0, -0 and NaN */
}
static void zero_vjp(ag_node *n) { (void)n; }
const ag_op ag_op_sign = {"sign", sign_fwd, zero_vjp};

/* step: y = 1 for x > 0, 0 otherwise (0 at 0, NaN for NaN);  no gradient */
static void step_fwd(ag_node *n) { AG_UNARY_FWD(n, y = x > 0.0f ? 1.0f : isnan(x) ? x : 0.0f); }
const ag_op ag_op_step = {"step", step_fwd, zero_vjp};

/* reciprocal: y = 1 / x;  dx += -dy y^2 */
static void reciprocal_fwd(ag_node *n) { AG_UNARY_FWD(n, y = 1.0f / x); }
static void reciprocal_vjp(ag_node *n) { AG_UNARY_VJP(n, dx = -dy * y * y); }
const ag_op ag_op_reciprocal = {"reciprocal", reciprocal_fwd, reciprocal_vjp};

/* A unary op whose constant (what) must be finite. */
static ag_tensor *unary_finite(ag_tape *t, const ag_op *op, ag_tensor *x, double c,
                               const char *what) {
    if (!ag_check_inputs(t, op->name, 1, &x)) return ag_poison(t);
    if (!isfinite((float)c))
        return ag_fail(t, AG_ERR_RANGE, "%s: %s %g is not finite", op->name, what, c);
    return ag_unary(t, op, x, c);
}

ag_tensor *ag_sin(ag_tape *t, ag_tensor *x) { return ag_unary(t, &ag_op_sin, x, 0); }
ag_tensor *ag_cos(ag_tape *t, ag_tensor *x) { return ag_unary(t, &ag_op_cos, x, 0); }
ag_tensor *ag_leaky_relu(ag_tape *t, ag_tensor *x, double slope) {
    return unary_finite(t, &ag_op_leaky_relu, x, slope, "slope");
}
ag_tensor *ag_elu(ag_tape *t, ag_tensor *x, double alpha) {
    return unary_finite(t, &ag_op_elu, x, alpha, "alpha");
}
ag_tensor *ag_silu(ag_tape *t, ag_tensor *x) { return ag_unary(t, &ag_op_silu, x, 0); }
ag_tensor *ag_gelu(ag_tape *t, ag_tensor *x) { return ag_unary(t, &ag_op_gelu, x, 0); }
ag_tensor *ag_sign(ag_tape *t, ag_tensor *x) { return ag_unary(t, &ag_op_sign, x, 0); }
ag_tensor *ag_step(ag_tape *t, ag_tensor *x) { return ag_unary(t, &ag_op_step, x, 0); }
ag_tensor *ag_reciprocal(ag_tape *t, ag_tensor *x) { return ag_unary(t, &ag_op_reciprocal, x, 0); }
