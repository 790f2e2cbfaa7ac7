/*
 * ops_reduce.c -- more reductions (min_axis, argmax, logsumexp, var, std along an axis; norm of
 * the whole tensor) and two losses (cross-entropy with probability targets, Huber).
 *
 * The axis reductions see x as (outer, D, inner) around the axis and keep the axis with size
 * 1, as sum_axis and max_axis do: (B,N) along axis 1 -> (B,1). Sums run in double.
 */
#include "ops.h"

#include <math.h>
#include <string.h>

/* Normalise a possibly negative axis of x; false (error recorded) when out of range. */
static bool axis_of(ag_tape *t, const char *op, const ag_tensor *x, int *axis) {
    const int ax = *axis < 0 ? *axis + x->ndim : *axis;
    if (*axis < -x->ndim || *axis >= x->ndim) {
        ag_fail(t, AG_ERR_RANGE, "%s: axis %d is out of range for %s", op, *axis,
                ag_fmt_shape(x).s);
        return false;
    }
    *axis = ax;
    return true;
}

/* Sizes of x seen as (outer, D, inner) around an axis. */
static void around(const ag_tensor *x, int axis, int *outer, int *D, int *inner) {
    int o = 1, in = 1;
    for (int k = 0; k < axis; k++) o *= x->shape[k];
    for (int k = axis + 1; k < x->ndim; k++) in *= x->shape[k];
    *outer = o, *D = x->shape[axis], *inner = in;
}

/* The names every axis reduction below uses: x (outer, D, inner), y (outer, 1, inner), their
 * gradients, and for element (o, d, i) of x: X_AT(o, d, i); of y: Y_AT(o, i). */
#define AXIS_VARS(n)                                                                            \
    int outer, D, inner;                                                                        \
    around((n)->in[0], (n)->arg.axis, &outer, &D, &inner);                                      \
    const float *x = (n)->in[0]->data, *y = (n)->out.data, *dy = (n)->out.grad;                 \
    float *dx = (n)->in[0]->grad;                                                               \
    (void)x, (void)y, (void)dy, (void)dx
#define X_AT(o, d, i) ((((long)(o) * D + (d)) * inner) + (i))
#define Y_AT(o, i) ((long)(o) * inner + (i))

/* Check an axis reduction of a, record it with `aux_bytes` of aux memory (none for 0). */
static ag_node *record_axis(ag_tape *t, const ag_op *op, ag_tensor *a, int axis, size_t aux_bytes) {
    if (!ag_check_inputs(t, op->name, 1, &a) || !axis_of(t, op->name, a, &axis)) return NULL;
    int shape[AG_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[axis] = 1;
    ag_node *n = ag_record(t, op, 1, &a, a->ndim, shape, NULL);
    if (!n) return NULL;
    n->arg.axis = axis;
    if (aux_bytes && !(n->aux = ag_arena_alloc(t, aux_bytes, 64, op->name))) return NULL;
    return n;
}

/* ---- min_axis, argmax: (.., D, ..) -> (.., 1, ..) ------------------------------------------ */

/* min_axis: y = min_d x[.., d, ..], aux keeps the argmin d (the first one);
 *   dx[.., argmin, ..] += dy */
static void min_axis_fwd(ag_node *n) {
    AXIS_VARS(n);
    int *arg = n->aux;
    float *out = n->out.data;
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            int best = 0;
            for (int d = 1; d < D; d++)
                if (x[X_AT(o, d, i)] < x[X_AT(o, best, i)]) best = d;
            out[Y_AT(o, i)] = x[X_AT(o, best, i)];
            arg[Y_AT(o, i)] = best;
        }
}
static void min_axis_vjp(ag_node *n) {
    AXIS_VARS(n);
    if (!dx) return;
    const int *arg = n->aux;
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) dx[X_AT(o, arg[Y_AT(o, i)], i)] += dy[Y_AT(o, i)];
}
const ag_op ag_op_min_axis = {"min_axis", min_axis_fwd, min_axis_vjp};

ag_tensor *ag_min_axis(ag_tape *t, ag_tensor *a, int axis) {
    ag_node *n = record_axis(t, &ag_op_min_axis, a, axis, 0);
    if (n && !(n->aux = ag_arena_alloc(t, (size_t)n->out.numel * sizeof(int), _Alignof(int),
                                       "min_axis")))
        n = NULL;
    return n ? ag_run(n) : ag_poison(t);
}

/* argmax: y = the index d of the first largest x[.., d, ..], as a float (exact: D <= 2^24);
 *   no gradient (the index is piecewise constant) */
static void argmax_fwd(ag_node *n) {
    AXIS_VARS(n);
    float *out = n->out.data;
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            int best = 0;
            for (int d = 1; d < D; d++)
                if (x[X_AT(o, d, i)] > x[X_AT(o, best, i)]) best = d;
            out[Y_AT(o, i)] = (float)best;
        }
}
static void argmax_vjp(ag_node *n) { (void)n; }
const ag_op ag_op_argmax = {"argmax", argmax_fwd, argmax_vjp};

#define ARGMAX_MAX_D 16777216 /* 2^24: every index up to it is exact in a float */
ag_tensor *ag_argmax(ag_tape *t, ag_tensor *a, int axis) {
    if (!ag_check_inputs(t, "argmax", 1, &a)) return ag_poison(t);
    int ax = axis;
    if (!axis_of(t, "argmax", a, &ax)) return ag_poison(t);
    if (a->shape[ax] > ARGMAX_MAX_D)
        return ag_fail(t, AG_ERR_SIZE,
                       "argmax: axis %d of %s is longer than 2^24: its indices would not be "
                       "exact as floats", axis, ag_fmt_shape(a).s);
    ag_node *n = record_axis(t, &ag_op_argmax, a, axis, 0);
    return n ? ag_run(n) : ag_poison(t);
}

/* ---- logsumexp: (.., D, ..) -> (.., 1, ..) ------------------------------------------------- */

/* logsumexp: y = m + log sum_d e^(x_d - m), m = max_d x_d, with the sum as 1 + the rest and
 * log1p(rest) (ag_softmax_row), so that neither overflow nor rounding of m swamps it; an
 * infinite m gives y = m.  dx_d += dy softmax(x)_d, the softmax formed again from x (not as
 * e^(x_d - y): y's rounding at a large |y| would be the gradient's relative error); rows with
 * an infinite y take none.  aux: 2D floats, one line of x gathered and its softmax. */
static void logsumexp_fwd(ag_node *n) {
    AXIS_VARS(n);
    float *line = n->aux, *p = line + D, *out = n->out.data;
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            for (int d = 0; d < D; d++) line[d] = x[X_AT(o, d, i)];
            float log_s;
            const float m = ag_softmax_row(line, p, D, &log_s);
            out[Y_AT(o, i)] = isinf(m) ? m : m + log_s;
        }
}
static void logsumexp_vjp(ag_node *n) {
    AXIS_VARS(n);
    if (!dx) return;
    float *line = n->aux, *p = line + D;
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            if (isinf(y[Y_AT(o, i)])) continue;
            for (int d = 0; d < D; d++) line[d] = x[X_AT(o, d, i)];
            float log_s;
            ag_softmax_row(line, p, D, &log_s);
            const float g = dy[Y_AT(o, i)];
            for (int d = 0; d < D; d++) dx[X_AT(o, d, i)] += g * p[d];
        }
}
const ag_op ag_op_logsumexp = {"logsumexp", logsumexp_fwd, logsumexp_vjp};

ag_tensor *ag_logsumexp(ag_tape *t, ag_tensor *a, int axis) {
    int ax = axis;
    if (!ag_check_inputs(t, "logsumexp", 1, &a) || !axis_of(t, "logsumexp", a, &ax))
        return ag_poison(t);
    ag_node *n = record_axis(t, &ag_op_logsumexp, a, axis, 2 * (size_t)a->shape[ax] * sizeof(float));
    return n ? ag_run(n) : ag_poison(t);
}

/* ---- var, std: (.., D, ..) -> (.., 1, ..) -------------------------------------------------- */

/* The mean of line (o, i), in double. */
static double line_mean(const float *x, int D, int inner, long at) {
    double s = 0.0;
    for (int d = 0; d < D; d++) s += x[at + (long)d * inner];
    return s / D;
}

/* var: y = sum_d (x_d - mean)^2 / (D - u), u = 1 for the unbiased form (aux: an int u);
 *   dx_d += dy 2 (x_d - mean) / (D - u) */
static void var_fwd(ag_node *n) {
    AXIS_VARS(n);
    const int u = *(const int *)n->aux;
    float *out = n->out.data;
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            const double mu = line_mean(x, D, inner, X_AT(o, 0, i));
            double s = 0.0;
            for (int d = 0; d < D; d++) {
                const double e = x[X_AT(o, d, i)] - mu;
                s += e * e;
            }
            out[Y_AT(o, i)] = (float)(s / (D - u));
        }
}
static void var_vjp(ag_node *n) {
    AXIS_VARS(n);
    if (!dx) return;
    const int u = *(const int *)n->aux;
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            const double mu = line_mean(x, D, inner, X_AT(o, 0, i));
            const double k = 2.0 * dy[Y_AT(o, i)] / (D - u);
            for (int d = 0; d < D; d++) dx[X_AT(o, d, i)] += (float)(k * (x[X_AT(o, d, i)] - mu));
        }
}
const ag_op ag_op_var = {"var", var_fwd, var_vjp};

/* std: y = sqrt(var);  dx_d += dy (x_d - mean) / ((D - u) y), 0 where y = 0 */
static void std_fwd(ag_node *n) {
    var_fwd(n);
    for (int k = 0; k < n->out.numel; k++) n->out.data[k] = sqrtf(n->out.data[k]);
}
static void std_vjp(ag_node *n) {
    AXIS_VARS(n);
    if (!dx) return;
    const int u = *(const int *)n->aux;
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            const float s = y[Y_AT(o, i)];
            if (s == 0.0f) continue;
            const double mu = line_mean(x, D, inner, X_AT(o, 0, i));
            const double k = dy[Y_AT(o, i)] / ((double)(D - u) * s);
            for (int d = 0; d < D; d++) dx[X_AT(o, d, i)] += (float)(k * (x[X_AT(o, d, i)] - mu));
        }
}
const ag_op ag_op_std = {"std", std_fwd, std_vjp};

static ag_tensor *spread(ag_tape *t, const ag_op *op, ag_tensor *a, int axis, bool unbiased) {
    int ax = axis;
    if (!ag_check_inputs(t, op->name, 1, &a) || !axis_of(t, op->name, a, &ax))
        return ag_poison(t);
    if (unbiased && a->shape[ax] < 2)
        return ag_fail(t, AG_ERR_SHAPE,
                       "%s: the unbiased form needs at least 2 elements along axis %d of %s",
                       op->name, axis, ag_fmt_shape(a).s);
    ag_node *n = record_axis(t, op, a, axis, sizeof(int));
    if (!n) return ag_poison(t);
    *(int *)n->aux = unbiased ? 1 : 0;
    return ag_run(n);
}
ag_tensor *ag_var(ag_tape *t, ag_tensor *a, int axis, bool unbiased) {
    return spread(t, &ag_op_var, a, axis, unbiased);
}
ag_tensor *ag_std(ag_tape *t, ag_tensor *a, int axis, bool unbiased) {
    return spread(t, &ag_op_std, a, axis, unbiased);
}

/* ---- norm: any shape -> (1) ---------------------------------------------------------------- */

/* norm: y = sqrt(sum x^2) (the sum in double: no overflow for float x);
 *   dx += dy x / y, 0 where y = 0 */
static void norm_fwd(ag_node *n) {
    const float *x = n->in[0]->data;
    double s = 0.0;
    for (int k = 0; k < n->in[0]->numel; k++) s += (double)x[k] * x[k];
    n->out.data[0] = (float)sqrt(s);
}
static void norm_vjp(ag_node *n) {
    float *dx = n->in[0]->grad;
    const float y = n->out.data[0];
    if (!dx || y == 0.0f) return;
    const float k = n->out.grad[0] / y, *x = n->in[0]->data;
    for (int i = 0; i < n->in[0]->numel; i++) dx[i] += k * x[i];
}
const ag_op ag_op_norm = {"norm", norm_fwd, norm_vjp};

ag_tensor *ag_norm(ag_tape *t, ag_tensor *a) {
    if (!ag_check_inputs(t, "norm", 1, &a)) return ag_poison(t);
    int one = 1;
    ag_node *n = ag_record(t, &ag_op_norm, 1, &a, 1, &one, NULL);
    return n ? ag_run(n) : ag_poison(t);
}

/* =============================================================================================
 * xent_soft: logits z (B,C), targets q (B,C) (each row a distribution over the C classes),
 * optional class weights w (C) (1 without);
 *   E = -1/B sum_b sum_j w_j q_bj log softmax(z_b)_j      (the mean over the B rows)
 *   dz_bj += g/B (p_bj W_b - w_j q_bj), W_b = sum_k w_k q_bk, p = softmax(z)
 *   dq_bj += -g/B w_j log p_bj
 * For the row's largest p (near 1 is where p W - w q cancels) dz is written
 * sum_{k != top} w_k q_k - W sum_{k != top} p_k. Terms with q = 0 add nothing to E (even
 * where log p = -inf). aux keeps the weights, p and log p.
 * =========================================================================================== */
typedef struct {
    float *weights; /* C weights (all 1 when none were given) */
    float *prob;    /* (B,C) softmax of the logits */
    float *logp;    /* (B,C) its log */
} soft_aux;

static void xent_soft_fwd(ag_node *n) {
    const ag_tensor *Z = n->in[0], *Q = n->in[1];
    const int B = Z->shape[0], C = Z->shape[1];
    soft_aux *aux = n->aux;
    double loss = 0.0;
    for (int b = 0; b < B; b++) {
        const float *z = Z->data + (long)b * C, *q = Q->data + (long)b * C;
        float *p = aux->prob + (long)b * C, *lp = aux->logp + (long)b * C, log_s;
        const float m = ag_softmax_row(z, p, C, &log_s);
        for (int j = 0; j < C; j++) {
            lp[j] = (z[j] - m) - log_s;
            if (q[j] != 0.0f) loss -= (double)aux->weights[j] * q[j] * lp[j];
        }
    }
    n->out.data[0] = (float)(loss / B);
}
static void xent_soft_vjp(ag_node *n) {
    const ag_tensor *Z = n->in[0], *Q = n->in[1];
    const int B = Z->shape[0], C = Z->shape[1];
    const soft_aux *aux = n->aux;
    const float k = n->out.grad[0] / (float)B, *w = aux->weights;
    for (int b = 0; b < B; b++) {
        const float *q = Q->data + (long)b * C, *p = aux->prob + (long)b * C;
        const float *lp = aux->logp + (long)b * C;
        if (Z->grad) {
            float *dz = Z->grad + (long)b * C;
            int top = 0;
            for (int j = 1; j < C; j++)
                if (p[j] > p[top]) top = j;
            float W = 0.0f, wq_others = 0.0f, p_others = 0.0f;
            for (int j = 0; j < C; j++) {
                W += w[j] * q[j];
                if (j != top) wq_others += w[j] * q[j], p_others += p[j];
            }
            for (int j = 0; j < C; j++)
                if (j != top) dz[j] += k * (p[j] * W - w[j] * q[j]);
            dz[top] += k * (wq_others - W * p_others);
        }
        if (Q->grad) {
            float *dq = Q->grad + (long)b * C;
            for (int j = 0; j < C; j++) dq[j] -= k * w[j] * lp[j];
        }
    }
}
const ag_op ag_op_xent_soft = {"xent_soft", xent_soft_fwd, xent_soft_vjp};

ag_tensor *ag_xent_soft(ag_tape *t, ag_tensor *logits, ag_tensor *targets,
                        const float *class_weights) {
    ag_tensor *in[2] = {logits, targets};
    if (!ag_check_inputs(t, "xent_soft", 2, in)) return ag_poison(t);
    if (logits->ndim != 2 || targets->ndim != 2 || logits->shape[0] != targets->shape[0] ||
        logits->shape[1] != targets->shape[1])
        return ag_fail(t, AG_ERR_SHAPE,
                       "xent_soft: logits %s and targets %s must both be (B,C)",
                       ag_fmt_shape(logits).s, ag_fmt_shape(targets).s);
    const int B = logits->shape[0], C = logits->shape[1];
    for (int j = 0; class_weights && j < C; j++)
        if (!isfinite(class_weights[j]))
            return ag_fail(t, AG_ERR_RANGE, "xent_soft: class weight %d is %g, not finite", j,
                           class_weights[j]);
    int one = 1;
    ag_node *n = ag_record(t, &ag_op_xent_soft, 2, in, 1, &one, NULL);
    soft_aux *aux = n ? ag_arena_alloc(t, sizeof *aux, _Alignof(soft_aux), "xent_soft") : NULL;
    float *w = aux ? ag_arena_alloc(t, (size_t)C * sizeof(float), 64, "xent_soft") : NULL;
    float *mem = w ? ag_arena_alloc(t, 2 * (size_t)B * C * sizeof(float), 64, "xent_soft") : NULL;
    if (!mem) return ag_poison(t);
    for (int j = 0; j < C; j++) w[j] = class_weights ? class_weights[j] : 1.0f;
    aux->weights = w;
    aux->prob = mem;
    aux->logp = mem + (size_t)B * C;
    n->aux = aux;
    return ag_run(n);
}

/* =============================================================================================
 * huber and smooth_l1: prediction y and target d of the same shape (n elements) -> (1), e = y - d.
 *   huber (PyTorch's HuberLoss), delta > 0:
 *     E = mean( e^2 / 2 where |e| < delta, delta (|e| - delta/2) elsewhere );
 *     dy += g clamp(e, -delta, delta) / n;  dd -= the same
 *   smooth_l1 (PyTorch's SmoothL1Loss), beta >= 0: huber(delta = beta) / beta, and mean |e| for
 *   beta = 0;  dy += g clamp(e / beta, -1, 1) / n (sign(e) for beta = 0, 0 at e = 0)
 * The node's constant is delta or beta. Both are the same loop: huber's terms times `scale`.
 * =========================================================================================== */
static void huber_terms_fwd(ag_node *n, float delta, double scale) {
    const float *y = n->in[0]->data, *d = n->in[1]->data;
    const int N = n->in[0]->numel;
    double s = 0.0;
    for (int i = 0; i < N; i++) {
        const double e = fabs((double)y[i] - d[i]);
        s += e < delta ? 0.5 * e * e : delta * (e - 0.5 * delta);
    }
    n->out.data[0] = (float)(s * scale / N);
}
static void huber_terms_vjp(ag_node *n, float delta, float scale) {
    const float *y = n->in[0]->data, *d = n->in[1]->data;
    float *dy = n->in[0]->grad, *dd = n->in[1]->grad;
    const int N = n->in[0]->numel;
    const float k = n->out.grad[0] * scale / (float)N;
    for (int i = 0; i < N; i++) {
        const float e = k * fminf(fmaxf(y[i] - d[i], -delta), delta);
        if (dy) dy[i] += e;
        if (dd) dd[i] -= e;
    }
}
static void huber_fwd(ag_node *n) { huber_terms_fwd(n, n->arg.constant, 1.0); }
static void huber_vjp(ag_node *n) { huber_terms_vjp(n, n->arg.constant, 1.0f); }
const ag_op ag_op_huber = {"huber", huber_fwd, huber_vjp};

static void smooth_l1_fwd(ag_node *n) {
    const float beta = n->arg.constant;
    if (beta > 0.0f) {
        huber_terms_fwd(n, beta, 1.0 / beta);
        return;
    }
    const float *y = n->in[0]->data, *d = n->in[1]->data;
    double s = 0.0;
    for (int i = 0; i < n->in[0]->numel; i++) s += fabs((double)y[i] - d[i]);
    n->out.data[0] = (float)(s / n->in[0]->numel);
}
static void smooth_l1_vjp(ag_node *n) {
    const float beta = n->arg.constant;
    if (beta > 0.0f) {
        huber_terms_vjp(n, beta, 1.0f / beta);
        return;
    }
    const float *y = n->in[0]->data, *d = n->in[1]->data;
    float *dy = n->in[0]->grad, *dd = n->in[1]->grad;
    const float k = n->out.grad[0] / (float)n->in[0]->numel;
    for (int i = 0; i < n->in[0]->numel; i++) {
        const float e = y[i] > d[i] ? k : y[i] < d[i] ? -k : 0.0f;
        if (dy) dy[i] += e;
        if (dd) dd[i] -= e;
    }
}
const ag_op ag_op_smooth_l1 = {"smooth_l1", smooth_l1_fwd, smooth_l1_vjp};

/* Check and record huber or smooth_l1 with its constant c (> 0, or >= 0 when zero_ok). */
static ag_tensor *huber_like(ag_tape *t, const ag_op *op, ag_tensor *y, ag_tensor *d, double c,
                             const char *what, bool zero_ok) {
    ag_tensor *in[2] = {y, d};
    if (!ag_check_inputs(t, op->name, 2, in)) return ag_poison(t);
    bool same = y->ndim == d->ndim;
    for (int k = 0; same && k < y->ndim; k++) same = y->shape[k] == d->shape[k];
    if (!same)
        return ag_fail(t, AG_ERR_SHAPE, "%s: prediction %s and target %s differ in shape",
                       op->name, ag_fmt_shape(y).s, ag_fmt_shape(d).s);
    const float cf = (float)c;
    if (!isfinite(cf) || !(zero_ok ? cf >= 0.0f && !(c != 0.0 && cf == 0.0f) : cf > 0.0f))
        return ag_fail(t, AG_ERR_RANGE, "%s: %s %g must be %s and finite", op->name, what, c,
                       zero_ok ? "0 or positive" : "positive");
    int one = 1;
    ag_node *n = ag_record(t, op, 2, in, 1, &one, NULL);
    if (!n) return ag_poison(t);
    n->arg.constant = cf;
    return ag_run(n);
}
ag_tensor *ag_huber(ag_tape *t, ag_tensor *y, ag_tensor *d, double delta) {
    return huber_like(t, &ag_op_huber, y, d, delta, "delta", false);
}
ag_tensor *ag_smooth_l1(ag_tape *t, ag_tensor *y, ag_tensor *d, double beta) {
    return huber_like(t, &ag_op_smooth_l1, y, d, beta, "beta", true);
}
