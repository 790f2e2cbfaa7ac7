/*
 * ops_loss.c -- softmax, log-softmax and the losses, each fused into one stable op.
 *
 * Rows: these ops work along the last axis; a tensor of N columns has numel / N rows.
 * Losses return one element and, like every op, ADD into their inputs' gradients.
 */
#include "kernels.h"
#include "ops.h"

#include <float.h>
#include <math.h>
#include <string.h>

static int last_dim(const ag_tensor *x) { return x->shape[x->ndim - 1]; }

/* One row of n logits x -> probabilities p = e^(x - m) / s, with m = max x and s the sum of the
 * shifted exponentials (so no exp overflows). Returns m and writes log s to *log_s, so that a
 * caller forms log p_j = (x_j - m) - log s: never m + log s first, whose rounding at |m| >> log s
 * would swamp a small log p (log_softmax([-88, -104, -100])[0] was 22% off). s is 1 (the
 * largest term) plus the rest, so log s = log1p(rest) keeps its relative precision too. */
static float softmax_row(const float *x, float *p, int n, float *log_s) {
    float m = x[0], s = 0.0f, rest = 0.0f;
    int top = 0;
    for (int j = 1; j < n; j++)
        if (x[j] > m) m = x[top = j];
    for (int j = 0; j < n; j++) {
        s += (p[j] = expf(x[j] - m));
        if (j != top) rest += p[j];
    }
    for (int j = 0; j < n; j++) p[j] /= s;
    *log_s = log1pf(rest);
    return m;
}

/* =============================================================================================
 * softmax: y_j = e^(x_j - m) / sum_k e^(x_k - m), m = max_k x_k (per row, for stability);
 *   dx_j += y_j (dy_j - sum_k dy_k y_k)
 * =========================================================================================== */
static void softmax_fwd(ag_node *n) {
    const int N = last_dim(&n->out), rows = n->out.numel / N;
    float log_s;
    for (int r = 0; r < rows; r++)
        softmax_row(n->in[0]->data + (long)r * N, n->out.data + (long)r * N, N, &log_s);
}
static void softmax_vjp(ag_node *n) {
    if (!n->in[0]->grad) return;
    const int N = last_dim(&n->out), rows = n->out.numel / N;
    for (int r = 0; r < rows; r++) {
        const float *y = n->out.data + (long)r * N, *dy = n->out.grad + (long)r * N;
        float *dx = n->in[0]->grad + (long)r * N;
        float dot = 0.0f;
        for (int j = 0; j < N; j++) dot += dy[j] * y[j];
        for (int j = 0; j < N; j++) dx[j] += y[j] * (dy[j] - dot);
    }
}
const ag_op ag_op_softmax = {"softmax", softmax_fwd, softmax_vjp};

/* =============================================================================================
 * log_softmax: y_j = (x_j - m) - log sum_k e^(x_k - m);
 *   dx_j += dy_j - e^(y_j) sum_k dy_k
 * =========================================================================================== */
static void log_softmax_fwd(ag_node *n) {
    const int N = last_dim(&n->out), rows = n->out.numel / N;
    for (int r = 0; r < rows; r++) {
        const float *x = n->in[0]->data + (long)r * N;
        float *y = n->out.data + (long)r * N;
        float log_s;
        const float m = softmax_row(x, y, N, &log_s); /* y holds the probabilities for a moment */
        for (int j = 0; j < N; j++) y[j] = (x[j] - m) - log_s;
    }
}
static void log_softmax_vjp(ag_node *n) {
    if (!n->in[0]->grad) return;
    const int N = last_dim(&n->out), rows = n->out.numel / N;
    for (int r = 0; r < rows; r++) {
        const float *y = n->out.data + (long)r * N, *dy = n->out.grad + (long)r * N;
        float *dx = n->in[0]->grad + (long)r * N;
        /* p_j = e^(y_j). When the largest p is above 1/2 (near 1 is where dy - p total cancels,
         * e.g. under the -1 of a negative log-likelihood), its term is written
         * (dy_top - total) - (p_top - 1) total = -(the others' dy) - expm1(y_top) total. */
        int top = 0;
        for (int j = 1; j < N; j++)
            if (y[j] > y[top]) top = j;
        float total = 0.0f, others = 0.0f;
        for (int j = 0; j < N; j++) {
            total += dy[j];
            if (j != top) others += dy[j];
        }
        for (int j = 0; j < N; j++)
            if (j != top || y[top] <= -0.6931472f) dx[j] += dy[j] - expf(y[j]) * total;
        if (y[top] > -0.6931472f) dx[top] += -others - expm1f(y[top]) * total;
    }
}
const ag_op ag_op_log_softmax = {"log_softmax", log_softmax_fwd, log_softmax_vjp};

static ag_tensor *rowwise(ag_tape *t, const ag_op *op, ag_tensor *a) {
    if (!ag_check_inputs(t, op->name, 1, &a)) return ag_poison(t);
    ag_node *n = ag_record(t, op, 1, &a, a->ndim, a->shape, NULL);
    return n ? ag_run(n) : ag_poison(t);
}
ag_tensor *ag_softmax(ag_tape *t, ag_tensor *a) { return rowwise(t, &ag_op_softmax, a); }
ag_tensor *ag_log_softmax(ag_tape *t, ag_tensor *a) { return rowwise(t, &ag_op_log_softmax, a); }

/* =============================================================================================
 * Losses of a prediction y against a target d of the same shape -> shape (1).
 * Sums run in double so that a loss over many elements stays accurate.
 * =========================================================================================== */

/* The names every two-input loss below uses: y, d, their gradients, n elements, and g, the
 * gradient reaching the loss. */
#define LOSS_VARS(node)                                                                        \
    const float *y = (node)->in[0]->data, *d = (node)->in[1]->data;                             \
    float *dy = (node)->in[0]->grad, *dd = (node)->in[1]->grad;                                 \
    const int n = (node)->in[0]->numel;                                                         \
    const float g = (node)->out.grad ? (node)->out.grad[0] : 0.0f;                              \
    (void)dy; (void)dd; (void)g

/* sse: E = 1/2 sum (y - d)^2   (the paper's error);  dy += g (y - d);  dd -= g (y - d)
 * (sse and mse are recorded with vjp_stores: each gradient nobody has written yet is stored,
 * not zeroed and added to; asked right before each write, so that y given as d too is stored
 * once, then added to) */
static void sse_fwd(ag_node *node) {
    LOSS_VARS(node);
    node->out.data[0] = (float)(0.5 * ag_kernels()->sqdiff_sum(n, y, d));
}
static void sse_vjp(ag_node *node) {
    LOSS_VARS(node);
    if (dy) ag_kernels()->diff_acc(n, g, y, d, dy, !ag_grad_fresh(node->in[0]));
    if (dd) ag_kernels()->diff_acc(n, -g, y, d, dd, !ag_grad_fresh(node->in[1]));
}
const ag_op ag_op_sse = {"sse", sse_fwd, sse_vjp};

/* mse: E = mean (y - d)^2;  dy += g 2 (y - d) / n;  dd -= the same */
static void mse_fwd(ag_node *node) {
    LOSS_VARS(node);
    node->out.data[0] = (float)(ag_kernels()->sqdiff_sum(n, y, d) / n);
}
static void mse_vjp(ag_node *node) {
    LOSS_VARS(node);
    const float k = 2.0f * g / (float)n;
    if (dy) ag_kernels()->diff_acc(n, k, y, d, dy, !ag_grad_fresh(node->in[0]));
    if (dd) ag_kernels()->diff_acc(n, -k, y, d, dd, !ag_grad_fresh(node->in[1]));
}
const ag_op ag_op_mse = {"mse", mse_fwd, mse_vjp};

/* bce: E = -mean(d log p + (1-d) log(1-p)), each log clamped at -100 (p = 0 or 1 stays finite),
 * log(1-p) as log1p(-p) (1 - p would round a small p away);
 *   dp += g (p - d) / (p (1-p)) / n     (p(1-p) floored at FLT_MIN, the smallest normal float:
 *                                        exact for every normal p(1-p), finite at p = 0 and 1)
 *   dd += g (log(1-p) - log p) / n */
static float clamped_log(float x) { return x > 0.0f ? fmaxf(logf(x), -100.0f) : -100.0f; }
/* log(1 - p), clamped the same way: log1p(-p), since 1 - p rounds a small p away */
static float clamped_log1m(float p) { return p < 1.0f ? fmaxf(log1pf(-p), -100.0f) : -100.0f; }
static void bce_fwd(ag_node *node) {
    LOSS_VARS(node);
    const float *p = y;
    double s = 0.0;
    for (int i = 0; i < n; i++) s -= d[i] * clamped_log(p[i]) + (1.0f - d[i]) * clamped_log1m(p[i]);
    node->out.data[0] = (float)(s / n);
}
static void bce_vjp(ag_node *node) {
    LOSS_VARS(node);
    const float *p = y;
    const float k = g / (float)n;
    if (dy)
        for (int i = 0; i < n; i++) dy[i] += k * (p[i] - d[i]) / fmaxf(p[i] * (1.0f - p[i]), FLT_MIN);
    if (dd)
        for (int i = 0; i < n; i++) dd[i] += k * (clamped_log1m(p[i]) - clamped_log(p[i]));
}
const ag_op ag_op_bce = {"bce", bce_fwd, bce_vjp};

/* bce_logits: E = mean(max(z,0) - z d + log(1 + e^-|z|))  (= bce(sigmoid(z), d), stably);
 *   dz += g (sigmoid(z) - d) / n;   dd -= g z / n
 * max(z,0) - z d is formed in double, where z d is exact: in float it cancels when d is near 1.
 * sigmoid(z) - d for z >= 0 is (1 - d) - e^-z / (1 + e^-z): 1/(1 + e^-z) - d would round
 * sigmoid(z) to 1 and lose the small difference. */
static void bce_logits_fwd(ag_node *node) {
    LOSS_VARS(node);
    const float *z = y;
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += (fmax(z[i], 0.0) - (double)z[i] * d[i]) + log1pf(expf(-fabsf(z[i])));
    node->out.data[0] = (float)(s / n);
}
static float sigmoid_minus(float z, float d) {
    const float e = expf(-fabsf(z)), small = e / (1.0f + e); /* sigmoid(-|z|) */
    return z >= 0.0f ? (1.0f - d) - small : small - d;
}
static void bce_logits_vjp(ag_node *node) {
    LOSS_VARS(node);
    const float *z = y;
    const float k = g / (float)n;
    if (dy) for (int i = 0; i < n; i++) dy[i] += k * sigmoid_minus(z[i], d[i]);
    if (dd) for (int i = 0; i < n; i++) dd[i] -= k * z[i];
}
const ag_op ag_op_bce_logits = {"bce_logits", bce_logits_fwd, bce_logits_vjp};

static ag_tensor *loss2(ag_tape *t, const ag_op *op, ag_tensor *y, ag_tensor *d) {
    ag_tensor *in[2] = {y, d};
    if (!ag_check_inputs(t, op->name, 2, in)) return ag_poison(t);
    bool same = y->ndim == d->ndim;
    for (int k = 0; same && k < y->ndim; k++) same = y->shape[k] == d->shape[k];
    if (!same)
        return ag_fail(t, AG_ERR_SHAPE, "%s: prediction %s and target %s differ in shape", op->name,
                       ag_fmt_shape(y).s, ag_fmt_shape(d).s);
    int one = 1;
    ag_node *n = ag_record(t, op, 2, in, 1, &one, NULL);
    return n ? ag_run(n) : ag_poison(t);
}
/* sse and mse store fresh gradients (see sse above) */
ag_tensor *ag_sse(ag_tape *t, ag_tensor *y, ag_tensor *d) {
    return ag_vjp_stores(loss2(t, &ag_op_sse, y, d));
}
ag_tensor *ag_mse(ag_tape *t, ag_tensor *y, ag_tensor *d) {
    return ag_vjp_stores(loss2(t, &ag_op_mse, y, d));
}
ag_tensor *ag_bce(ag_tape *t, ag_tensor *p, ag_tensor *d) { return loss2(t, &ag_op_bce, p, d); }
ag_tensor *ag_bce_logits(ag_tape *t, ag_tensor *z, ag_tensor *d) {
    return loss2(t, &ag_op_bce_logits, z, d);
}

/* =============================================================================================
 * softmax_xent: logits z (B,C), labels l (B);  E = -1/B sum_b log softmax(z_b)[l_b].
 * The forward keeps the probabilities p (B,C) after the labels in aux;
 *   dz_bj += g (p_bj - [j = l_b]) / B
 * =========================================================================================== */
typedef struct {
    int *labels; /* B labels, copied */
    float *prob; /* (B,C) softmax of the logits */
} xent_aux;

static void softmax_xent_fwd(ag_node *n) {
    const ag_tensor *Z = n->in[0];
    const int B = Z->shape[0], C = Z->shape[1];
    xent_aux *aux = n->aux;
    double loss = 0.0;
    for (int b = 0; b < B; b++) {
        const float *z = Z->data + (long)b * C;
        float log_s;
        const float m = softmax_row(z, aux->prob + (long)b * C, C, &log_s);
        loss -= ((double)z[aux->labels[b]] - m) - log_s;
    }
    n->out.data[0] = (float)(loss / B);
}
static void softmax_xent_vjp(ag_node *n) {
    const ag_tensor *Z = n->in[0];
    if (!Z->grad) return;
    const int B = Z->shape[0], C = Z->shape[1];
    const xent_aux *aux = n->aux;
    const float k = n->out.grad[0] / (float)B;
    for (int b = 0; b < B; b++) {
        float *dz = Z->grad + (long)b * C;
        const float *p = aux->prob + (long)b * C;
        /* the label's p - 1 is minus the others' sum: 1.0f - p would cancel as p nears 1 */
        const int label = aux->labels[b];
        float others = 0.0f;
        for (int j = 0; j < C; j++)
            if (j != label) {
                dz[j] += k * p[j];
                others += p[j];
            }
        dz[label] -= k * others;
    }
}
const ag_op ag_op_softmax_xent = {"softmax_xent", softmax_xent_fwd, softmax_xent_vjp};

ag_tensor *ag_softmax_xent(ag_tape *t, ag_tensor *logits, const int *labels) {
    if (!ag_check_inputs(t, "softmax_xent", 1, &logits)) return ag_poison(t);
    if (!labels || logits->ndim != 2)
        return ag_fail(t, labels ? AG_ERR_SHAPE : AG_ERR_NULL, "softmax_xent: logits %s: %s",
                       ag_fmt_shape(logits).s, labels ? "must be 2-D (B,C)" : "labels is NULL");
    const int B = logits->shape[0], C = logits->shape[1];
    for (int b = 0; b < B; b++)
        if (labels[b] < 0 || labels[b] >= C)
            return ag_fail(t, AG_ERR_RANGE,
                           "softmax_xent: label %d of row %d is out of range for logits %s",
                           labels[b], b, ag_fmt_shape(logits).s);
    int one = 1;
    ag_node *n = ag_record(t, &ag_op_softmax_xent, 1, &logits, 1, &one, NULL);
    if (!n) return ag_poison(t);
    xent_aux *aux = ag_arena_alloc(t, sizeof *aux, _Alignof(xent_aux), "softmax_xent");
    int *lab = aux ? ag_arena_alloc(t, (size_t)B * sizeof(int), _Alignof(int), "softmax_xent") : NULL;
    float *prob = lab ? ag_arena_alloc(t, (size_t)B * C * sizeof(float), 64, "softmax_xent") : NULL;
    if (!prob) return ag_poison(t);
    memcpy(lab, labels, (size_t)B * sizeof(int));
    aux->labels = lab;
    aux->prob = prob;
    n->aux = aux;
    return ag_run(n);
}

/* softmax_row for the other ops' files (ops.h): logsumexp and xent_soft in ops_reduce.c. */
float ag_softmax_row(const float *x, float *p, int n, float *log_s) {
    return softmax_row(x, p, n, log_s);
}
