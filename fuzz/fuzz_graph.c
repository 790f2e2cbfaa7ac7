/*
 * fuzz_graph.c -- differential libFuzzer harness for the ops of autograd/autograd.h.
 *
 * The input bytes are a program: a few leaves (parameters, data, tape constants) of shapes up to
 * 3-D with values k/16, then up to 12 ops chosen from every public op, each with its operands,
 * axes, indices, constants and transposes; the program ends in a scalar loss, sum(last * W) with
 * W fixed. While decoding, the harness evaluates the program in double precision with its own
 * code (fuzz/graph_ref.h, independent of the library's kernels); an op whose input is near a
 * point where it is not differentiable or badly conditioned (log, sqrt, pow near 0, abs and relu
 * near 0, a division by nearly 0, a near tie in max_axis, bce near 0 or 1, log-softmax beyond
 * |x| = 20, an output beyond 1e3) has its input nudged into its domain or becomes tanh
 * (fuzz/graph_decode.h). Then the library runs the program on a tape and these properties are
 * checked:
 *
 *   (a) every op's float output equals the double reference of that op on the library's own
 *       float inputs, within a few float roundings of the op's magnitude (see FWD_TOL);
 *   (b) every tensor's gradient after ag_backward equals the sum, over the ops that read it, of
 *       the vector-Jacobian product of the op, obtained by central differences of the double
 *       reference on the library's inputs and output gradient (see VJP_TOL);
 *   (c) every parameter's gradient equals central differences of the whole double program
 *       (an end-to-end check; looser, as float errors compound along the graph: see END_TOL);
 *   (d) data and constants get no gradient;
 *   (e) when the mode byte's bits 4-5 are 1: the same program on two threads (ag_set_threads)
 *       gives the same bits, and now and then (bits 6-7 set, 1 in 4 of those) a matrix product
 *       large enough to be split over the threads does too;
 *   (f) when they are 2: ag_gradcheck on the same program runs, reports the library's gradient
 *       at its worst element and leaves the parameters and their gradients as they were.
 *
 * With the mode byte's low three bits all set, one op gets wrong shapes (operands that do not
 * broadcast or multiply, mismatched concat parts and loss targets, an axis, row range, index,
 * label or reshape out of range, a transpose of a vector): that op must return the tape's
 * poisoned tensor, the tape's error must name the op and the shapes of its operands, the later
 * ops must record nothing and return the poison, the first error must stay, and ag_backward
 * must refuse and change no gradient. Any broken property aborts, with the program printed.
 */
#include "backprop.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_decode.h" /* and graph_ref.h */

/* ---- running the program on the library --------------------------------------------------- */

/* User-owned leaves, made once per input (they outlive every tape the input uses). */
static bool make_leaves(const prog *P, ag_tensor **lib) {
    for (int i = 0; i < P->nt; i++) {
        lib[i] = NULL;
        const tens *x = &P->T[i];
        if (x->kind != T_PARAM && x->kind != T_DATA) continue;
        float v[MAX_NUMEL];
        for (int k = 0; k < x->s.n; k++) v[k] = (float)x->v[k];
        lib[i] = ag_tensor_from(x->s.nd, x->s.d, v, x->kind == T_PARAM);
        if (!lib[i]) return false;
    }
    return true;
}

static ag_tensor *call_op(ag_tape *t, const node *n, ag_tensor *const *in) {
    ag_tensor *a = in[0], *b = in[1];
    switch (n->op) {
    case OP_ADD: return ag_add(t, a, b);
    case OP_SUB: return ag_sub(t, a, b);
    case OP_MUL: return ag_mul(t, a, b);
    case OP_DIV: return ag_div(t, a, b);
    case OP_NEG: return ag_neg(t, a);
    case OP_SCALE: return ag_scale(t, a, n->c);
    case OP_ADD_CONST: return ag_add_const(t, a, n->c);
    case OP_POW: return ag_pow(t, a, n->c);
    case OP_SQUARE: return ag_square(t, a);
    case OP_SQRT: return ag_sqrt(t, a);
    case OP_EXP: return ag_exp(t, a);
    case OP_LOG: return ag_log(t, a);
    case OP_ABS: return ag_abs(t, a);
    case OP_SIGMOID: return ag_sigmoid(t, a);
    case OP_TANH: return ag_tanh(t, a);
    case OP_RELU: return ag_relu(t, a);
    case OP_SOFTPLUS: return ag_softplus(t, a);
    case OP_MATMUL:
        return n->plain ? ag_matmul(t, a, b) : ag_matmul_ex(t, a, b, n->ta, n->tb);
    case OP_SUM: return ag_sum(t, a);
    case OP_MEAN: return ag_mean(t, a);
    case OP_SUM_AXIS: return ag_sum_axis(t, a, n->axis);
    case OP_MEAN_AXIS: return ag_mean_axis(t, a, n->axis);
    case OP_MAX_AXIS: return ag_max_axis(t, a, n->axis);
    case OP_RESHAPE: return ag_reshape(t, a, n->rnd, n->rshape);
    case OP_TRANSPOSE: return ag_transpose(t, a);
    case OP_CONCAT: return ag_concat(t, in, n->nin, n->axis);
    case OP_SLICE_ROWS: return ag_slice_rows(t, a, n->start, n->count);
    case OP_GATHER_ROWS: return ag_gather_rows(t, a, n->idx, n->count);
    case OP_SOFTMAX: return ag_softmax(t, a);
    case OP_LOG_SOFTMAX: return ag_log_softmax(t, a);
    case OP_SSE: return ag_sse(t, a, b);
    case OP_MSE: return ag_mse(t, a, b);
    case OP_BCE: return ag_bce(t, a, b);
    case OP_BCE_LOGITS: return ag_bce_logits(t, a, b);
    case OP_SOFTMAX_XENT: return ag_softmax_xent(t, a, n->idx);
    default: abort();
    }
}

/* Run every node on tape t (tape constants made on t); lib holds the user-owned leaves and
 * receives the results. Returns the loss. */
static ag_tensor *replay(ag_tape *t, const prog *P, ag_tensor **lib) {
    for (int i = 0; i < P->nt; i++)
        if (P->T[i].kind == T_CONST) {
            float v[MAX_NUMEL];
            for (int k = 0; k < P->T[i].s.n; k++) v[k] = (float)P->T[i].v[k];
            lib[i] = ag_tape_tensor(t, P->T[i].s.nd, P->T[i].s.d, v);
        }
    for (int k = 0; k < P->nn; k++) {
        const node *n = &P->N[k];
        ag_tensor *in[MAX_PARTS] = {NULL, NULL, NULL};
        for (int p = 0; p < n->nin; p++) in[p] = lib[n->in[p]];
        lib[n->out] = call_op(t, n, in);
    }
    return lib[P->N[P->nn - 1].out];
}

/* ---- reporting ------------------------------------------------------------------------------ */

static const prog *current;

static void dump_program(const prog *P) {
    for (int i = 0; i < P->nt; i++) {
        const tens *x = &P->T[i];
        static const char *const kinds[] = {"param", "data", "const", "result"};
        fprintf(stderr, "  t%d %s %s:", i, kinds[x->kind], shp_str(x->s).s);
        for (int k = 0; k < x->s.n && k < 12; k++) fprintf(stderr, " %.9g", x->v[k]);
        fprintf(stderr, x->s.n > 12 ? " ...\n" : "\n");
    }
    for (int k = 0; k < P->nn; k++) {
        const node *n = &P->N[k];
        fprintf(stderr, "  node %d: t%d = %s(", k, n->out, op_names[n->op]);
        for (int p = 0; p < n->nin; p++) fprintf(stderr, "%st%d", p ? ", " : "", n->in[p]);
        fprintf(stderr, ") c=%g axis=%d ta=%d tb=%d start=%d count=%d%s\n", n->c, n->axis, n->ta,
                n->tb, n->start, n->count, k == P->bad ? "  <- wrong shapes" : "");
    }
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_graph: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nprogram:\n");
    if (current) dump_program(current);
    abort();
}

/* ---- the checks ----------------------------------------------------------------------------- */

/* The library's float values of tensor i, in double. */
static void lib_values(const prog *P, ag_tensor *const *lib, int i, double *v) {
    for (int k = 0; k < P->T[i].s.n; k++) v[k] = lib[i]->data[k];
}

/* (a) Forward. Each op is compared with the reference of the same op on the library's own float
 * inputs, so that only the op's own rounding counts: a few float roundings (2^-24 = 6e-8 each)
 * of the magnitude the op works at (ref_magnitude: the sum of the absolute terms for sums and
 * products). FWD_TOL = 1e-5 is some 170 roundings: far above what a correct float op makes,
 * far below what a wrong formula, index or stride makes. Shape ops and max_axis must be exact. */
#define FWD_TOL 1e-5
static void check_forward(const prog *P, ag_tensor *const *lib, int nodes) {
    static double in_v[MAX_PARTS][MAX_NUMEL], out[MAX_NUMEL], mag[MAX_NUMEL];
    for (int k = 0; k < nodes; k++) {
        const node *n = &P->N[k];
        const ag_tensor *y = lib[n->out];
        char shape[64];
        if (!y || (y->flags & AG_POISONED) || !shp_eq(shp_of(y->ndim, y->shape), n->s))
            fail("node %d (%s): result %s, expected shape %s", k, op_names[n->op],
                 y ? ag_shape_str(y, shape, sizeof shape) : "NULL", shp_str(n->s).s);
        const double *in[MAX_PARTS] = {NULL, NULL, NULL};
        for (int p = 0; p < n->nin; p++) lib_values(P, lib, n->in[p], in_v[p]), in[p] = in_v[p];
        ref_eval(P, n, in, out);
        ref_magnitude(P, n, in, out, mag);
        for (int i = 0; i < n->s.n; i++) {
            const double got = y->data[i], tol = FWD_TOL * mag[i] + 1e-30;
            if (!(fabs(got - out[i]) <= tol))
                fail("node %d (%s) forward: element %d is %.9g, the reference on the same inputs "
                     "%.9g (tolerance %.3g)", k, op_names[n->op], i, got, out[i], tol);
        }
    }
}

/* (b) Reverse sweep, one tensor at a time. For every tensor the sweep reached, its gradient
 * must equal the seed (for the loss) plus, for each op that reads it and was reached, the
 * vector-Jacobian product g^T J of that op at the library's inputs, with g the library's
 * gradient of the op's output. J's columns come from central differences of the double
 * reference with step h = 1e-5 max(1, |x|): truncation h^2 |f'''| / 6 and rounding
 * 1e-16 |f| / h are both below 1e-7 relative at the domain margins of graph_ref.h. The library
 * computes the same sums in float from float intermediates: VJP_TOL = 1e-4 of
 * sum_o |g_o| |J_oj| (each product's size) plus 1e-6 (16 float roundings) of sum_o |g_o| times
 * the larger of max_o |J_oj| and the scale of the numbers the derivative is formed from
 * (deriv_scale): sigmoid's y (1 - y) is 0 in float once y rounds to 1, log-softmax's
 * dy_j - p_j sum dy and the losses' y - d or bce's log(1 - p) - log p subtract numbers larger
 * than the result; plus the differences' own rounding. */
static double deriv_scale(const prog *P, const node *n, const double *const *in) {
    const int count = P->T[n->in[0]].s.n;
    double big = 0.0; /* the largest number the derivative is formed from, over the elements */
    switch (n->op) {
    case OP_SIGMOID: case OP_TANH: return 1.0;
    case OP_SOFTMAX: case OP_LOG_SOFTMAX: case OP_SOFTMAX_XENT: /* p from e^(x - max): */
        for (int i = 0; i < count; i++) big = fmax(big, fabs(in[0][i]));  /* rounding ~ |x| */
        return (1 + 2 * big) / (n->op == OP_SOFTMAX_XENT ? P->T[n->in[0]].s.d[0] : 1);
    case OP_SSE: case OP_MSE: case OP_BCE: case OP_BCE_LOGITS: /* y - d, p - d, sigmoid(z) - d, */
        for (int i = 0; i < count; i++) {                      /* log(1 - p) - log p */
            const double y = in[0][i], d = fabs(in[1][i]);
            switch (n->op) {
            case OP_BCE: big = fmax(big, (fabs(y) + d) / (y * (1 - y)) - log(y) - log(1 - y)); break;
            case OP_BCE_LOGITS: big = fmax(big, 1.0 + d); break;
            default: big = fmax(big, fabs(y) + d);
            }
        }
        return n->op == OP_SSE ? big : 2 * big / count;
    default: return 0.0;
    }
}

#define VJP_TOL 1e-4
/* Column e of node n's Jacobian for its operand in slot q by central differences with step h,
 * at the operand values in_v (a tensor read twice is perturbed in one slot at a time, as the
 * library adds each slot's product on its own); size (unless NULL) receives the
 * size of the numbers subtracted, |f(x+h)| + |f(x-h)| plus the magnitudes they are sums of. */
static void fd_column(const prog *P, const node *n, int q, int e, double h,
                      double (*in_v)[MAX_NUMEL], double *col, double *size) {
    static double mag[MAX_NUMEL];
    static double fp[MAX_NUMEL], fm[MAX_NUMEL];
    const double *in[MAX_PARTS] = {in_v[0], in_v[1], in_v[2]};
    const double x0 = in_v[q][e];
    in_v[q][e] = x0 + h;
    ref_eval(P, n, in, fp);
    if (size) {
        ref_magnitude(P, n, in, fp, mag);
        for (int o = 0; o < n->s.n; o++) size[o] = fabs(fp[o]) + 2 * mag[o];
    }
    in_v[q][e] = x0 - h;
    ref_eval(P, n, in, fm);
    in_v[q][e] = x0;
    for (int o = 0; o < n->s.n; o++) {
        col[o] = (fp[o] - fm[o]) / (2 * h);
        if (size) size[o] += fabs(fm[o]);
    }
}

/* Each gradient's error allowance for the end-to-end check (c): (b)'s tolerance of every op on
 * the way, carried back through |J|, plus what the library's float forward values change in
 * each op's Jacobian, |g| |J(float values) - J(double program's values)|. */
static double budget[MAX_T][MAX_NUMEL];
static void check_vjp(const prog *P, ag_tensor *const *lib) {
    static double in_v[MAX_PARTS][MAX_NUMEL], ref_v[MAX_PARTS][MAX_NUMEL], size[MAX_NUMEL],
        col[MAX_NUMEL], col2[MAX_NUMEL], col_ref[MAX_NUMEL];
    memset(budget, 0, sizeof budget);
    for (int j = P->nt - 1; j >= 0; j--) { /* every op's result comes after its operands */
        const ag_tensor *x = lib[j];
        bool reached = false;
        for (int k = 0; k < P->nn; k++)
            for (int p = 0; p < P->N[k].nin; p++)
                if (P->N[k].in[p] == j && lib[P->N[k].out]->grad) reached = true;
        if (!x->grad) {
            if (reached && (x->flags & AG_REQUIRES_GRAD))
                fail("t%d requires a gradient and an op the sweep reached reads it, but it has none", j);
            continue;
        }
        const bool is_loss = j == P->N[P->nn - 1].out;
        for (int e = 0; e < P->T[j].s.n; e++) {
            double want = is_loss ? 1.0 : 0.0, m1 = 0.0, m2 = 0.0, noise = 0.0, carried = 0.0;
            for (int k = 0; k < P->nn; k++) {
                const node *n = &P->N[k];
                const float *g = lib[n->out]->grad;
                if (!g) continue;
                const double *in[MAX_PARTS] = {NULL, NULL, NULL};
                for (int p = 0; p < n->nin; p++) in[p] = in_v[p];
                for (int q = 0; q < n->nin; q++) {
                    if (n->in[q] != j) continue;
                    for (int p = 0; p < n->nin; p++) lib_values(P, lib, n->in[p], in_v[p]);
                    const double h = 1e-5 * fmax(1.0, fabs(x->data[e]));
                    fd_column(P, n, q, e, h, in_v, col, size);
                    fd_column(P, n, q, e, 2 * h, in_v, col2, NULL);
                    for (int p = 0; p < n->nin; p++) memcpy(ref_v[p], P->T[n->in[p]].v, sizeof ref_v[p]);
                    fd_column(P, n, q, e, h, ref_v, col_ref, NULL); /* at the double program's values */
                    double gsum = 0.0, jmax = 0.0;
                    for (int o = 0; o < n->s.n; o++) {
                        want += g[o] * col[o];
                        m1 += fabs(g[o] * col[o]);
                        gsum += fabs(g[o]);
                        jmax = fmax(jmax, fabs(col[o]));
                        /* the differences' rounding, and their truncation (h^2 f''' / 6, which the
                         * step 2h makes four times larger: |col - col2| overestimates it) */
                        noise += fabs(g[o]) * (size[o] * 1e-14 / h + fabs(col[o] - col2[o]));
                        carried += fabs(col[o]) * budget[n->out][o] + fabs(g[o] * (col[o] - col_ref[o]));
                    }
                    m2 += gsum * fmax(jmax, deriv_scale(P, n, in));
                }
            }
            const double got = x->grad[e], tol = VJP_TOL * m1 + 1e-6 * m2 + noise + 1e-30;
            budget[j][e] = tol + carried;
            if (!(fabs(got - want) <= tol))
                fail("gradient of t%d (%s) element %d is %.9g; the ops that read it give %.9g "
                     "(tolerance %.3g)", j, P->T[j].kind == T_RESULT ? "result" : "leaf", e, got,
                     want, tol);
        }
    }
}

/* The whole program in double from the values in v (leaves set; results written); false when a
 * step left an op's domain (with half margins). */
static bool program(const prog *P, double (*v)[MAX_NUMEL], double *loss) {
    for (int k = 0; k < P->nn; k++) {
        const node *n = &P->N[k];
        const double *in[MAX_PARTS] = {NULL, NULL, NULL};
        for (int p = 0; p < n->nin; p++) in[p] = v[n->in[p]];
        ref_eval(P, n, in, v[n->out]);
        if (!ref_domain_ok(P, n, in, v[n->out], 0.5)) return false;
    }
    *loss = v[P->N[P->nn - 1].out][0];
    return true;
}

/* (c) End to end: each parameter's gradient against central differences of the whole double
 * program (step 1e-6 max(1, |w|), skipped when a step crosses a domain margin). The library's
 * gradient carries the float errors of every op on the way and of the forward values the
 * sweep uses: budget (above) bounds both to first order. END_TOL = 1e-3 of the gradient plus
 * 1e-4 of the largest gradient of any parameter leave room for the second order; a wrong
 * gradient is off by far more. */
#define END_TOL 1e-3
/* d loss / d v[i][e] by central differences of the double program with step h; false when a
 * step left an op's domain. */
static bool fd_program(const prog *P, double (*v)[MAX_NUMEL], int i, int e, double h, double *d) {
    const double w = v[i][e];
    double lp = 0.0, lm = 0.0;
    v[i][e] = w + h;
    bool ok = program(P, v, &lp);
    v[i][e] = w - h;
    ok = ok && program(P, v, &lm);
    v[i][e] = w;
    *d = (lp - lm) / (2 * h);
    return ok;
}

static void check_end_to_end(const prog *P, ag_tensor *const *lib) {
    static double v[MAX_T][MAX_NUMEL], want[MAX_T][MAX_NUMEL], fd_err[MAX_T][MAX_NUMEL];
    static bool skip[MAX_T][MAX_NUMEL];
    double largest = 0.0, size = 0.0; /* the largest value anywhere, for the differences' rounding */
    for (int i = 0; i < P->nt; i++) {
        memcpy(v[i], P->T[i].v, sizeof v[i]);
        for (int e = 0; e < P->T[i].s.n; e++) size = fmax(size, fabs(v[i][e]));
    }
    for (int i = 0; i < P->nt; i++) {
        if (P->T[i].kind != T_PARAM) continue;
        for (int e = 0; e < P->T[i].s.n; e++) {
            const double h = 1e-6 * fmax(1.0, fabs(v[i][e]));
            double d2 = 0.0;
            skip[i][e] = !fd_program(P, v, i, e, h, &want[i][e]) || !fd_program(P, v, i, e, 2 * h, &d2);
            /* truncation (overestimated, as in check_vjp) and rounding of the differences */
            fd_err[i][e] = fabs(want[i][e] - d2) + MAX_NUMEL * size * 1e-15 / h;
            if (!skip[i][e]) largest = fmax(largest, fabs(want[i][e]));
        }
    }
    for (int i = 0; i < P->nt; i++) {
        if (P->T[i].kind != T_PARAM) continue;
        for (int e = 0; e < P->T[i].s.n; e++) {
            if (skip[i][e]) continue;
            const double got = lib[i]->grad[e];
            const double tol = END_TOL * fabs(want[i][e]) + 1e-4 * largest + budget[i][e] + fd_err[i][e];
            if (!(fabs(got - want[i][e]) <= tol))
                fail("end to end: d loss / d t%d[%d] is %.9g, central differences of the double "
                     "program %.9g (tolerance %.3g)", i, e, got, want[i][e], tol);
        }
    }
    /* (d) data and constants take no gradient */
    for (int i = 0; i < P->nt; i++)
        if ((P->T[i].kind == T_DATA || P->T[i].kind == T_CONST) &&
            (lib[i]->grad || (lib[i]->flags & AG_REQUIRES_GRAD)))
            fail("t%d (%s) has a gradient", i, P->T[i].kind == T_DATA ? "data" : "constant");
}

/* Copy (back = false) or compare (back = true) every result and every parameter's gradient. */
static size_t snapshot(const prog *P, ag_tensor *const *lib, float *buf, bool compare) {
    size_t at = 0;
    for (int i = 0; i < P->nt; i++) {
        const tens *x = &P->T[i];
        const float *src = x->kind == T_RESULT ? lib[i]->data : x->kind == T_PARAM ? lib[i]->grad : NULL;
        if (!src) continue;
        if (compare && memcmp(buf + at, src, (size_t)x->s.n * sizeof(float)) != 0)
            fail("with 2 threads, t%d's %s differs from 1 thread's", i,
                 x->kind == T_RESULT ? "value" : "gradient");
        if (!compare) memcpy(buf + at, src, (size_t)x->s.n * sizeof(float));
        at += (size_t)x->s.n;
    }
    return at;
}

/* A product big enough to be split over threads (M N K >= 2^21): op(A) op(B), forward and
 * backward; its result and gradients are copied into keep, or compared with it. */
static void big_product(int M, int N, int K, bool ta, bool tb, float *keep, bool compare) {
    ag_tensor *A = ag_tensor_2d(ta ? K : M, ta ? M : K, true), *B = ag_tensor_2d(tb ? N : K, tb ? K : N, true);
    ag_tape *t = ag_tape_new();
    if (!A || !B || !t) fail("out of memory: %s", ag_last_error());
    uint32_t s = 7;
    for (int i = 0; i < A->numel; i++) s = s * 1664525u + 1013904223u, A->data[i] = (float)((int)(s >> 24) - 128) / 64;
    for (int i = 0; i < B->numel; i++) s = s * 1664525u + 1013904223u, B->data[i] = (float)((int)(s >> 24) - 128) / 64;
    ag_tensor *C = ag_matmul_ex(t, A, B, ta, tb);
    ag_tensor *W = ag_tape_tensor(t, 2, C->shape, NULL);
    for (int i = 0; W->data && i < W->numel; i++) W->data[i] = (float)(i % 7 - 3) / 4;
    ag_tensor *loss = ag_sum(t, ag_mul(t, C, W));
    if (ag_backward(t, loss) != 0) fail("big product: %s", ag_tape_error(t));
    const ag_tensor *parts[3] = {C, A, B};
    size_t at = 0;
    for (int p = 0; p < 3; p++) {
        const float *src = p == 0 ? parts[p]->data : parts[p]->grad;
        const size_t bytes = (size_t)parts[p]->numel * sizeof(float);
        if (compare && memcmp(keep + at, src, bytes) != 0)
            fail("(%d,%d,%d) product ta=%d tb=%d: %s differs on 2 threads", M, N, K, ta, tb,
                 p == 0 ? "the result" : p == 1 ? "A's gradient" : "B's gradient");
        if (!compare) memcpy(keep + at, src, bytes);
        at += (size_t)parts[p]->numel;
    }
    ag_tape_free(t);
    ag_tensor_free(A);
    ag_tensor_free(B);
}

/* (e) Two threads give the same bits as one: the program, and now and then a big product. */
static void check_threads(const prog *P, ag_tensor **lib, reader *r, bool big) {
    static float one[MAX_T * MAX_NUMEL];
    snapshot(P, lib, one, false);
    ag_tensor *lib2[MAX_T];
    memcpy(lib2, lib, sizeof lib2);
    for (int i = 0; i < P->nt; i++)
        if (P->T[i].kind == T_PARAM) ag_zero_grad(lib[i]);
    if (ag_set_threads(2) != 0) fail("ag_set_threads(2): %s", ag_last_error());
    ag_tape *t = ag_tape_new();
    if (!t) fail("out of memory");
    ag_tensor *loss = replay(t, P, lib2);
    if (ag_backward(t, loss) != 0) fail("backward on 2 threads: %s", ag_tape_error(t));
    snapshot(P, lib2, one, true);
    ag_tape_free(t);
    if (big && pick(r, 4) == 0) {
        const int M = 120 + pick(r, 40), N = 120 + pick(r, 40), K = 2097152 / (M * N) + 1 + pick(r, 8);
        const bool ta = pick(r, 2), tb = pick(r, 2);
        const size_t n = (size_t)M * N + 2 * (size_t)K * (M + N);
        float *keep = malloc(n * sizeof(float));
        ag_set_threads(1);
        big_product(M, N, K, ta, tb, keep, false);
        ag_set_threads(2);
        big_product(M, N, K, ta, tb, keep, true);
        free(keep);
    }
    ag_set_threads(1);
}

/* (f) ag_gradcheck on the same program: it runs, checks every element, reports the library's
 * own gradient at its worst element, and leaves values and gradients as they were. */
typedef struct {
    const prog *P;
    ag_tensor *const *lib;
} replay_ctx;
static ag_tensor *replay_loss(ag_tape *t, void *ctx) {
    const replay_ctx *c = ctx;
    ag_tensor *lib2[MAX_T];
    memcpy(lib2, c->lib, sizeof lib2);
    return replay(t, c->P, lib2);
}
static void check_gradcheck(const prog *P, ag_tensor **lib) {
    ag_tensor *params[MAX_T];
    static float before[2 * MAX_T * MAX_NUMEL];
    int np = 0, total = 0;
    for (int i = 0; i < P->nt; i++)
        if (P->T[i].kind == T_PARAM) {
            params[np++] = lib[i];
            memcpy(before + 2 * total, lib[i]->data, (size_t)lib[i]->numel * sizeof(float));
            memcpy(before + 2 * total + lib[i]->numel, lib[i]->grad, (size_t)lib[i]->numel * sizeof(float));
            total += lib[i]->numel;
        }
    replay_ctx ctx = {P, lib};
    ag_gradcheck_report rep;
    if (ag_gradcheck(replay_loss, &ctx, params, np, 1e-3, 1e-2, &rep) != 0)
        fail("gradcheck could not run: %s", rep.error);
    if (rep.checked != total) fail("gradcheck checked %d of %d elements", rep.checked, total);
    if (rep.worst_param < 0 || rep.worst_param >= np || rep.worst_index < 0 ||
        rep.worst_index >= params[rep.worst_param]->numel)
        fail("gradcheck reports element %d of parameter %d", rep.worst_index, rep.worst_param);
    if (rep.analytic != params[rep.worst_param]->grad[rep.worst_index])
        fail("gradcheck's analytic gradient %.9g is not the sweep's %.9g", rep.analytic,
             params[rep.worst_param]->grad[rep.worst_index]);
    for (int p = 0, off = 0; p < np; off += 2 * params[p]->numel, p++)
        if (memcmp(before + off, params[p]->data, (size_t)params[p]->numel * sizeof(float)) != 0 ||
            memcmp(before + off + params[p]->numel, params[p]->grad, (size_t)params[p]->numel * sizeof(float)) != 0)
            fail("gradcheck changed parameter %d's values or gradient", p);
}

/* Wrong shapes: the op fails cleanly and the tape stays failed. */
static void check_bad(ag_tape *t, const prog *P, ag_tensor *const *lib, ag_tensor *loss) {
    check_forward(P, lib, P->bad);
    const node *n = &P->N[P->bad];
    ag_tensor *poison = lib[n->out];
    const char *err = ag_tape_error(t);
    if (!poison || !(poison->flags & AG_POISONED) || !err)
        fail("%s with wrong shapes was accepted", op_names[n->op]);
    const size_t len = strlen(op_names[n->op]);
    if (strncmp(err, op_names[n->op], len) != 0 || err[len] != ':')
        fail("the error of %s does not name it: %s", op_names[n->op], err);
    for (int p = 0; p < n->mention; p++)
        if (!strstr(err, shp_str(P->T[n->in[p]].s).s))
            fail("the error of %s does not show operand %d's shape %s: %s", op_names[n->op], p + 1,
                 shp_str(P->T[n->in[p]].s).s, err);
    if (ag_tape_nodes(t) != P->bad)
        fail("%d nodes recorded; %d ops before the failed one", ag_tape_nodes(t), P->bad);
    for (int k = P->bad; k < P->nn; k++)
        if (lib[P->N[k].out] != poison)
            fail("node %d (%s) after the failed op returned something else than the poison", k,
                 op_names[P->N[k].op]);
    char first[512];
    snprintf(first, sizeof first, "%s", err);
    if (ag_backward(t, loss) != -1) fail("ag_backward accepted a failed tape");
    if (!isnan(ag_item(loss))) fail("the poisoned loss holds %g", ag_item(loss));
    if (strcmp(ag_tape_error(t), first) != 0)
        fail("the first error changed from \"%s\" to \"%s\"", first, ag_tape_error(t));
    for (int i = 0; i < P->nt; i++)
        if (P->T[i].kind == T_PARAM)
            for (int e = 0; e < P->T[i].s.n; e++)
                if (lib[i]->grad[e] != 0.0f) fail("a failed tape changed t%d's gradient", i);
}

/* ---- the harness ---------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static prog P;
    reader r = {data + 1, size - 1, 0, 12345u + (uint32_t)size};
    const unsigned mode = data[0];
    decode(&P, &r, (mode & 7) == 7);
    current = &P;
    ag_tensor *lib[MAX_T];
    ag_tape *t = ag_tape_new();
    if (!t || !make_leaves(&P, lib)) fail("out of memory: %s", ag_last_error());
    ag_tensor *loss = replay(t, &P, lib);
    if (P.bad >= 0) check_bad(t, &P, lib, loss);
    else {
        check_forward(&P, lib, P.nn);
        if (ag_backward(t, loss) != 0) fail("backward failed: %s", ag_tape_error(t));
        check_vjp(&P, lib);
        check_end_to_end(&P, lib);
        if ((mode & 0x30) == 0x10) check_threads(&P, lib, &r, (mode & 0xc0) == 0xc0);
        if ((mode & 0x30) == 0x20) check_gradcheck(&P, lib);
    }
    ag_tape_free(t);
    for (int i = 0; i < P.nt; i++)
        if (P.T[i].kind == T_PARAM || P.T[i].kind == T_DATA) ag_tensor_free(lib[i]);
    current = NULL;
    return 0;
}
