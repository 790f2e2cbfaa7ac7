/*
 * graph_ref.h -- the graph fuzz harness's programs and their double-precision reference
 * (fuzz/fuzz_graph.c). Written from the documented meaning of each op in autograd/autograd.h,
 * with no code shared with the library's kernels: the forward of every op in double, its
 * output shape, the magnitude its float rounding is measured against, and the domain checks
 * that keep a program away from the points where an op is not differentiable or is badly
 * conditioned.
 */
#ifndef BACKPROP_FUZZ_GRAPH_REF_H
#define BACKPROP_FUZZ_GRAPH_REF_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_OPS 12    /* ops a program chooses (the loss adds two) */
#define MAX_NODES 24   /* with the loss's two and the nodes domain fixes insert */
#define MAX_T 48      /* tensors: leaves and results */
#define MAX_NUMEL 64  /* elements per tensor */
#define MAX_PARTS 3   /* operands per op (concat's parts) */
#define MAX_ROWS 6    /* rows a gather picks */
#define VALUE_CAP 1e3 /* an op whose output exceeds this becomes tanh */

enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_NEG, OP_SCALE, OP_ADD_CONST, OP_POW, OP_SQUARE, OP_SQRT,
    OP_EXP, OP_LOG, OP_ABS, OP_SIGMOID, OP_TANH, OP_RELU, OP_SOFTPLUS, OP_MATMUL, OP_SUM, OP_MEAN,
    OP_SUM_AXIS, OP_MEAN_AXIS, OP_MAX_AXIS, OP_RESHAPE, OP_TRANSPOSE, OP_CONCAT, OP_SLICE_ROWS,
    OP_GATHER_ROWS, OP_SOFTMAX, OP_LOG_SOFTMAX, OP_SSE, OP_MSE, OP_BCE, OP_BCE_LOGITS,
    OP_SOFTMAX_XENT, OP_COUNT
};
/* The names the library's errors start with (matmul_ex is "matmul" too). */
static const char *const op_names[OP_COUNT] = {
    "add", "sub", "mul", "div", "neg", "scale", "add_const", "pow", "square", "sqrt", "exp", "log",
    "abs", "sigmoid", "tanh", "relu", "softplus", "matmul", "sum", "mean", "sum_axis", "mean_axis",
    "max_axis", "reshape", "transpose", "concat", "slice_rows", "gather_rows", "softmax",
    "log_softmax", "sse", "mse", "bce", "bce_logits", "softmax_xent"};

typedef struct {
    int nd, d[3], n; /* 1..3 dimensions, their sizes, the element count */
} shp;

enum { T_PARAM, T_DATA, T_CONST, T_RESULT };
typedef struct {
    shp s;
    int kind;            /* T_PARAM (user-owned, with gradient), T_DATA, T_CONST (tape), T_RESULT */
    double v[MAX_NUMEL]; /* the reference value */
} tens;

typedef struct {
    int op, nin, in[MAX_PARTS], out; /* operands and result: indices into prog.T */
    shp s;                           /* the result's shape */
    double c;                        /* scale, add_const, pow */
    int axis, ta, tb, plain;         /* axis ops, concat; matmul's transposes (plain: ag_matmul) */
    int start, count;                /* slice_rows; gather_rows' count */
    int idx[MAX_NUMEL];              /* gather_rows' indices, softmax_xent's labels */
    int rnd, rshape[3];              /* reshape's request (may hold -1) */
    int mention;                     /* wrong shapes: operands the error must show */
} node;

typedef struct {
    tens T[MAX_T];
    int nt;
    node N[MAX_NODES];
    int nn;
    int bad; /* the node given wrong shapes, or -1 */
} prog;

static shp shp_of(int nd, const int *d) {
    shp s = {nd, {1, 1, 1}, 1};
    for (int k = 0; k < nd; k++) s.d[k] = d[k], s.n *= d[k];
    return s;
}
static bool shp_eq(shp a, shp b) {
    if (a.nd != b.nd) return false;
    for (int k = 0; k < a.nd; k++)
        if (a.d[k] != b.d[k]) return false;
    return true;
}
typedef struct {
    char s[48];
} shp_text;
static shp_text shp_str(shp s) { /* "(2,3)", as ag_shape_str writes it */
    shp_text t;
    int len = snprintf(t.s, sizeof t.s, "(");
    for (int k = 0; k < s.nd; k++) len += snprintf(t.s + len, sizeof t.s - len, "%s%d", k ? "," : "", s.d[k]);
    snprintf(t.s + len, sizeof t.s - len, ")");
    return t;
}

/* x seen as (outer, D, inner) around axis */
static void split3(shp x, int axis, int *outer, int *D, int *inner) {
    *outer = *inner = 1;
    for (int k = 0; k < axis; k++) *outer *= x.d[k];
    for (int k = axis + 1; k < x.nd; k++) *inner *= x.d[k];
    *D = x.d[axis];
}
static int norm_axis(int axis, int nd) { return axis < 0 ? axis + nd : axis; }

/* The result's shape into n->s; false when the op cannot take these operands or the result
 * would be too large. */
static bool node_shape(const prog *P, node *n) {
    const shp a = P->T[n->in[0]].s, b = n->nin > 1 ? P->T[n->in[1]].s : a;
    shp s = a;
    switch (n->op) {
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: {
        if (a.nd == b.nd && a.n == 1 && b.n == 1) break; /* two scalars: a's shape */
        s.nd = a.nd > b.nd ? a.nd : b.nd;
        for (int k = 1; k <= s.nd; k++) {
            const int da = k <= a.nd ? a.d[a.nd - k] : 1, db = k <= b.nd ? b.d[b.nd - k] : 1;
            if (da != db && da != 1 && db != 1) return false;
            s.d[s.nd - k] = da > db ? da : db;
        }
        s = shp_of(s.nd, s.d);
        break;
    }
    case OP_MATMUL:
        s = shp_of(2, (int[]){n->ta ? a.d[1] : a.d[0], n->tb ? b.d[0] : b.d[1]});
        break;
    case OP_SUM: case OP_MEAN: case OP_SSE: case OP_MSE: case OP_BCE: case OP_BCE_LOGITS:
    case OP_SOFTMAX_XENT:
        s = shp_of(1, (int[]){1});
        break;
    case OP_SUM_AXIS: case OP_MEAN_AXIS: case OP_MAX_AXIS:
        s.d[norm_axis(n->axis, a.nd)] = 1;
        s = shp_of(s.nd, s.d);
        break;
    case OP_RESHAPE: {
        int d[3], known = 1, infer = -1;
        for (int k = 0; k < n->rnd; k++) {
            d[k] = n->rshape[k];
            if (d[k] == -1) infer = k;
            else known *= d[k];
        }
        if (infer >= 0) d[infer] = a.n / known;
        s = shp_of(n->rnd, d);
        break;
    }
    case OP_TRANSPOSE:
        s.d[a.nd - 1] = a.d[a.nd - 2], s.d[a.nd - 2] = a.d[a.nd - 1];
        break;
    case OP_CONCAT:
        for (int p = 1; p < n->nin; p++) s.d[n->axis] += P->T[n->in[p]].s.d[n->axis];
        s = shp_of(s.nd, s.d);
        break;
    case OP_SLICE_ROWS: case OP_GATHER_ROWS:
        s.d[0] = n->count;
        s = shp_of(s.nd, s.d);
        break;
    default: break; /* elementwise, softmax, log_softmax: a's shape */
    }
    n->s = s;
    return s.n <= MAX_NUMEL;
}

/* Index into x (right-aligned, dimensions of 1 stretched) of element o of a broadcast result
 * of shape s. */
static int bcast_index(shp s, shp x, int o) {
    int idx = 0, stride = 1;
    for (int k = 1; k <= s.nd; k++) {
        const int c = o % s.d[s.nd - k];
        o /= s.d[s.nd - k];
        if (k <= x.nd) {
            const int dx = x.d[x.nd - k];
            idx += (dx == 1 ? 0 : c) * stride;
            stride *= dx;
        }
    }
    return idx;
}

/* Row-wise log-sum-exp of n values. */
static double ref_lse(const double *x, int n) {
    double m = x[0], s = 0.0;
    for (int j = 1; j < n; j++) m = fmax(m, x[j]);
    for (int j = 0; j < n; j++) s += exp(x[j] - m);
    return m + log(s);
}

/* The forward of node n in double from the operand values in[p] (shapes from P). */
static void ref_eval(const prog *P, const node *n, const double *const *in, double *out) {
    const shp a = P->T[n->in[0]].s, b = n->nin > 1 ? P->T[n->in[1]].s : a, s = n->s;
    const double *x = in[0], *y = in[1];
    const double c = n->c;
    switch (n->op) {
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV:
        for (int o = 0; o < s.n; o++) {
            const double u = x[bcast_index(s, a, o)], w = y[bcast_index(s, b, o)];
            out[o] = n->op == OP_ADD ? u + w : n->op == OP_SUB ? u - w : n->op == OP_MUL ? u * w : u / w;
        }
        return;
    case OP_MATMUL: {
        const int M = s.d[0], N = s.d[1], K = n->ta ? a.d[0] : a.d[1];
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double acc = 0.0;
                for (int k = 0; k < K; k++)
                    acc += (n->ta ? x[k * M + i] : x[i * K + k]) * (n->tb ? y[j * K + k] : y[k * N + j]);
                out[i * N + j] = acc;
            }
        return;
    }
    case OP_SUM: case OP_MEAN: {
        double acc = 0.0;
        for (int i = 0; i < a.n; i++) acc += x[i];
        out[0] = n->op == OP_SUM ? acc : acc / a.n;
        return;
    }
    case OP_SUM_AXIS: case OP_MEAN_AXIS: case OP_MAX_AXIS: {
        int outer, D, inner;
        split3(a, norm_axis(n->axis, a.nd), &outer, &D, &inner);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++) {
                double acc = n->op == OP_MAX_AXIS ? -INFINITY : 0.0;
                for (int d = 0; d < D; d++) {
                    const double v = x[(o * D + d) * inner + i];
                    acc = n->op == OP_MAX_AXIS ? fmax(acc, v) : acc + v;
                }
                out[o * inner + i] = n->op == OP_MEAN_AXIS ? acc / D : acc;
            }
        return;
    }
    case OP_TRANSPOSE: {
        const int R = a.d[a.nd - 2], C = a.d[a.nd - 1], B = a.n / (R * C);
        for (int q = 0; q < B; q++)
            for (int i = 0; i < R; i++)
                for (int j = 0; j < C; j++) out[q * R * C + j * R + i] = x[q * R * C + i * C + j];
        return;
    }
    case OP_CONCAT: {
        int outer, D, inner, off = 0;
        split3(s, n->axis, &outer, &D, &inner);
        for (int p = 0; p < n->nin; p++) {
            const int Dp = P->T[n->in[p]].s.d[n->axis];
            for (int o = 0; o < outer; o++)
                for (int d = 0; d < Dp; d++)
                    for (int i = 0; i < inner; i++)
                        out[(o * D + off + d) * inner + i] = in[p][(o * Dp + d) * inner + i];
            off += Dp;
        }
        return;
    }
    case OP_SLICE_ROWS: case OP_GATHER_ROWS: {
        const int row = a.n / a.d[0];
        for (int r = 0; r < n->count; r++) {
            const int from = n->op == OP_SLICE_ROWS ? n->start + r : n->idx[r];
            for (int i = 0; i < row; i++) out[r * row + i] = x[from * row + i];
        }
        return;
    }
    case OP_SOFTMAX: case OP_LOG_SOFTMAX: {
        const int N = a.d[a.nd - 1];
        for (int r = 0; r < a.n / N; r++) {
            const double lse = ref_lse(x + r * N, N);
            for (int j = 0; j < N; j++)
                out[r * N + j] = n->op == OP_SOFTMAX ? exp(x[r * N + j] - lse) : x[r * N + j] - lse;
        }
        return;
    }
    case OP_SSE: case OP_MSE: case OP_BCE: case OP_BCE_LOGITS: {
        double acc = 0.0;
        for (int i = 0; i < a.n; i++) {
            const double p = x[i], d = y[i];
            if (n->op == OP_SSE || n->op == OP_MSE) acc += (p - d) * (p - d);
            else if (n->op == OP_BCE) acc -= d * fmax(log(p), -100.0) + (1 - d) * fmax(log(1 - p), -100.0);
            else acc += fmax(p, 0.0) + log1p(exp(-fabs(p))) - p * d; /* log(1 + e^z) - z d */
        }
        out[0] = n->op == OP_SSE ? acc / 2 : acc / a.n;
        return;
    }
    case OP_SOFTMAX_XENT: {
        const int B = a.d[0], C = a.d[1];
        double acc = 0.0;
        for (int r = 0; r < B; r++) acc -= x[r * C + n->idx[r]] - ref_lse(x + r * C, C);
        out[0] = acc / B;
        return;
    }
    default: break;
    }
    for (int i = 0; i < s.n; i++) { /* elementwise unary; reshape copies */
        const double v = x[i];
        double r = v;
        switch (n->op) {
        case OP_NEG: r = -v; break;
        case OP_SCALE: r = c * v; break;
        case OP_ADD_CONST: r = v + c; break;
        case OP_POW: r = pow(v, c); break;
        case OP_SQUARE: r = v * v; break;
        case OP_SQRT: r = sqrt(v); break;
        case OP_EXP: r = exp(v); break;
        case OP_LOG: r = log(v); break;
        case OP_ABS: r = fabs(v); break;
        case OP_SIGMOID: r = 1.0 / (1.0 + exp(-v)); break;
        case OP_TANH: r = tanh(v); break;
        case OP_RELU: r = v > 0 ? v : 0.0; break;
        case OP_SOFTPLUS: r = fmax(v, 0.0) + log1p(exp(-fabs(v))); break; /* log(1 + e^v) */
        default: break; /* OP_RESHAPE */
        }
        out[i] = r;
    }
}

/* The magnitude each output element's float rounding is relative to: |result| for ops with one
 * rounding per element, the sum of the absolute terms for sums and products, and for the
 * row-wise ops the sizes of the numbers they subtract. */
static void ref_magnitude(const prog *P, const node *n, const double *const *in, const double *out,
                          double *mag) {
    const shp a = P->T[n->in[0]].s, s = n->s;
    const double *x = in[0], *y = in[1];
    double abs_in[MAX_PARTS][MAX_NUMEL];
    const double *absp[MAX_PARTS];
    for (int p = 0; p < n->nin; p++) {
        for (int i = 0; i < P->T[n->in[p]].s.n; i++) abs_in[p][i] = fabs(in[p][i]);
        absp[p] = abs_in[p];
    }
    switch (n->op) {
    case OP_ADD: case OP_SUB: case OP_MATMUL: case OP_SUM: case OP_MEAN: case OP_SUM_AXIS:
    case OP_MEAN_AXIS: {
        node m = *n;
        if (m.op == OP_SUB) m.op = OP_ADD;
        ref_eval(P, &m, absp, mag);
        return;
    }
    case OP_SOFTMAX: case OP_LOG_SOFTMAX: {
        const int N = a.d[a.nd - 1];
        for (int r = 0; r < a.n / N; r++) {
            const double lse = ref_lse(x + r * N, N);
            for (int j = 0; j < N; j++) {
                const double gap = fabs(x[r * N + j] - lse);
                mag[r * N + j] = n->op == OP_SOFTMAX ? fabs(out[r * N + j]) * (1 + gap)
                                                      : fabs(x[r * N + j]) + fabs(lse) + 1;
            }
        }
        return;
    }
    case OP_SSE: case OP_MSE: case OP_BCE: case OP_BCE_LOGITS: {
        double acc = 0.0;
        for (int i = 0; i < a.n; i++) {
            const double p = x[i], d = y[i];
            if (n->op == OP_SSE || n->op == OP_MSE) acc += (fabs(p) + fabs(d)) * (fabs(p) + fabs(d));
            else if (n->op == OP_BCE) acc += fabs(d * log(p)) + fabs((1 - d) * log(1 - p));
            else acc += fabs(p) + fabs(p * d) + 1;
        }
        mag[0] = n->op == OP_SSE ? acc / 2 : acc / a.n;
        return;
    }
    case OP_SOFTMAX_XENT: {
        const int B = a.d[0], C = a.d[1];
        double acc = 0.0;
        for (int r = 0; r < B; r++) acc += fabs(x[r * C + n->idx[r]]) + fabs(ref_lse(x + r * C, C)) + 1;
        mag[0] = acc / B;
        return;
    }
    default:
        for (int i = 0; i < s.n; i++) mag[i] = fabs(out[i]);
    }
}

/* Whether the op is smooth and well conditioned at these operands, with margins scaled by m
 * (1 when deciding, smaller when checking that a finite-difference step stayed on the same
 * side). */
static bool ref_domain_ok(const prog *P, const node *n, const double *const *in, const double *out,
                          double m) {
    const shp a = P->T[n->in[0]].s;
    const double *x = in[0];
    for (int i = 0; i < n->s.n; i++)
        if (!(fabs(out[i]) <= VALUE_CAP * (2 - m))) return false;
    for (int i = 0; i < a.n; i++) {
        const double v = x[i];
        switch (n->op) {
        case OP_POW:
            if (n->c == 2 || n->c == 3) break;
            if (n->c == -1 || n->c == -2 ? fabs(v) < 0.2 * m : v < 0.1 * m) return false;
            break;
        case OP_SQRT: case OP_LOG: if (v < 0.05 * m) return false; break;
        case OP_ABS: case OP_RELU: if (fabs(v) < 0.02 * m) return false; break;
        case OP_BCE: if (v < 0.02 * m || v > 1 - 0.02 * m) return false; break;
        case OP_LOG_SOFTMAX: case OP_SOFTMAX_XENT: if (fabs(v) > 20 * (2 - m)) return false; break;
        default: break;
        }
    }
    if (n->op == OP_DIV)
        for (int i = 0; i < P->T[n->in[1]].s.n; i++)
            if (fabs(in[1][i]) < 0.1 * m) return false;
    if (n->op == OP_MAX_AXIS) { /* the largest must lead the next by a margin */
        int outer, D, inner;
        split3(a, norm_axis(n->axis, a.nd), &outer, &D, &inner);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++) {
                double top = -INFINITY, second = -INFINITY;
                for (int d = 0; d < D; d++) {
                    const double v = x[(o * D + d) * inner + i];
                    if (v > top) second = top, top = v;
                    else if (v > second) second = v;
                }
                if (D > 1 && top - second < 0.02 * m * fmax(1.0, fabs(top))) return false;
            }
    }
    return true;
}

#endif
