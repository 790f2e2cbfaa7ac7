/*
 * ops_matrix.c -- matrix product, reductions and shape ops.
 *
 * As in every ops file: the maths and shapes in a comment, the forward, the vector-Jacobian
 * product (vjp) that ADDS into the inputs' gradients, the table entry, the public function.
 */
#include "kernels.h"
#include "ops.h"

#include <string.h>

/* Normalise a possibly negative axis of x; false (error recorded) when out of range. */
static bool check_axis(ag_tape *t, const char *op, const ag_tensor *x, int *axis) {
    int ax = *axis < 0 ? *axis + x->ndim : *axis;
    if (ax < 0 || ax >= x->ndim) {
        ag_fail(t, AG_ERR_RANGE, "%s: axis %d is out of range for %s", op, *axis, ag_fmt_shape(x).s);
        return false;
    }
    *axis = ax;
    return true;
}

/* Sizes of x seen as (outer, dim, inner) around an axis. */
static void split_at(const ag_tensor *x, int axis, int *outer, int *dim, int *inner) {
    int o = 1, in = 1;
    for (int k = 0; k < axis; k++) o *= x->shape[k];
    for (int k = axis + 1; k < x->ndim; k++) in *= x->shape[k];
    *outer = o;
    *dim = x->shape[axis];
    *inner = in;
}

/* =============================================================================================
 * matmul: Y = op(A) @ op(B)    (M,K) @ (K,N) -> (M,N);  op transposes when asked
 * (arg.matmul).
 *   dop(A) += dY @ op(B)^T     (M,N) @ (N,K) -> (M,K)
 *   dop(B) += op(A)^T @ dY     (K,M) @ (M,N) -> (K,N)
 * When A is stored transposed its gradient is stored transposed too, so the products are
 * rearranged ((X Y)^T = Y^T X^T) to write it in place. No transpose is ever materialised.
 * =========================================================================================== */

typedef struct {
    int M, N, K;
    bool ta, tb;
} mm_dims;

static mm_dims mm_of(const ag_node *n) {
    const ag_tensor *A = n->in[0];
    mm_dims d;
    d.ta = n->arg.matmul.transpose_a;
    d.tb = n->arg.matmul.transpose_b;
    d.M = n->out.shape[0];
    d.N = n->out.shape[1];
    d.K = d.ta ? A->shape[0] : A->shape[1];
    return d;
}

/* C (+)= op(A) op(B) with the tape's scratch memory for the packed panels. */
static void gemm(const ag_node *n, int M, int N, int K, const float *A, bool ta, const float *B,
                 bool tb, float *C, bool accumulate) {
    const ag_tape *t = n->out.tape;
    ag_gemm(M, N, K, A, ta, B, tb, C, accumulate, t->scratch, t->scratch_bytes / sizeof(float));
}

static void matmul_fwd(ag_node *n) {
    mm_dims d = mm_of(n);
    gemm(n, d.M, d.N, d.K, n->in[0]->data, d.ta, n->in[1]->data, d.tb, n->out.data, false);
}
/* Each product adds into the gradient, or stores into one nobody has written yet (the node is
 * recorded with vjp_stores): the gemm's accumulate flag. */
static void matmul_vjp(ag_node *n) {
    mm_dims d = mm_of(n);
    ag_tensor *A = n->in[0], *B = n->in[1];
    const float *dY = n->out.grad;
    if (A->grad) {
        const bool add = !ag_grad_fresh(A);
        if (!d.ta) gemm(n, d.M, d.K, d.N, dY, false, B->data, !d.tb, A->grad, add); /* dA = dY op(B)^T */
        else gemm(n, d.K, d.M, d.N, B->data, d.tb, dY, true, A->grad, add);          /* dA = op(B) dY^T */
    }
    if (B->grad) { /* after dA: for matmul(x, x), B's gradient is A's, written by now */
        const bool add = !ag_grad_fresh(B);
        if (!d.tb) gemm(n, d.K, d.N, d.M, A->data, !d.ta, dY, false, B->grad, add); /* dB = op(A)^T dY */
        else gemm(n, d.N, d.K, d.M, dY, true, A->data, d.ta, B->grad, add);          /* dB = dY^T op(A) */
    }
}
const ag_op ag_op_matmul = {"matmul", matmul_fwd, matmul_vjp};

ag_tensor *ag_matmul_ex(ag_tape *t, ag_tensor *a, ag_tensor *b, bool transpose_a,
                        bool transpose_b) {
    ag_tensor *in[2] = {a, b};
    if (!ag_check_inputs(t, "matmul", 2, in)) return ag_poison(t);
    const char *ta = transpose_a ? "^T" : "", *tb = transpose_b ? "^T" : "";
    if (a->ndim != 2 || b->ndim != 2)
        return ag_fail(t, AG_ERR_SHAPE, "matmul: %s%s @ %s%s: both operands must be 2-D",
                       ag_fmt_shape(a).s, ta, ag_fmt_shape(b).s, tb);
    int M = transpose_a ? a->shape[1] : a->shape[0], K = transpose_a ? a->shape[0] : a->shape[1];
    int Kb = transpose_b ? b->shape[1] : b->shape[0], N = transpose_b ? b->shape[0] : b->shape[1];
    if (K != Kb)
        return ag_fail(t, AG_ERR_SHAPE, "matmul: %s%s @ %s%s: inner dimensions differ (%d vs %d)",
                       ag_fmt_shape(a).s, ta, ag_fmt_shape(b).s, tb, K, Kb);
    /* Scratch for the packed panels of the forward and both backward products (the same three
     * sizes in other orders), reserved now so that the sweep never has to ask for memory. */
    size_t need = ag_gemm_scratch(M, N, K, ag_get_threads());
    if (need && !ag_tape_scratch(t, need * sizeof(float), "matmul")) return ag_poison(t);
    int shape[2] = {M, N};
    ag_node *n = ag_record(t, &ag_op_matmul, 2, in, 2, shape, NULL);
    if (!n) return ag_poison(t);
    n->arg.matmul.transpose_a = transpose_a;
    n->arg.matmul.transpose_b = transpose_b;
    n->vjp_stores = true;
    return ag_run(n);
}

ag_tensor *ag_matmul(ag_tape *t, ag_tensor *a, ag_tensor *b) {
    return ag_matmul_ex(t, a, b, false, false);
}

/* =============================================================================================
 * Whole-tensor reductions -> shape (1).
 * =========================================================================================== */

/* sum: y = sum_i x_i;  dx_i += dy */
static void sum_fwd(ag_node *n) {
    const float *x = n->in[0]->data;
    double s = 0.0; /* accumulate in double: sums of many floats stay accurate */
    for (int i = 0; i < n->in[0]->numel; i++) s += x[i];
    n->out.data[0] = (float)s;
}
static void sum_vjp(ag_node *n) {
    float *dx = n->in[0]->grad;
    if (!dx) return;
    const float dy = n->out.grad[0];
    for (int i = 0; i < n->in[0]->numel; i++) dx[i] += dy;
}
const ag_op ag_op_sum = {"sum", sum_fwd, sum_vjp};

/* mean: y = sum_i x_i / n;  dx_i += dy / n */
static void mean_fwd(ag_node *n) {
    sum_fwd(n);
    n->out.data[0] /= (float)n->in[0]->numel;
}
static void mean_vjp(ag_node *n) {
    float *dx = n->in[0]->grad;
    if (!dx) return;
    const float dy = n->out.grad[0] / (float)n->in[0]->numel;
    for (int i = 0; i < n->in[0]->numel; i++) dx[i] += dy;
}
const ag_op ag_op_mean = {"mean", mean_fwd, mean_vjp};

static ag_tensor *reduce_all(ag_tape *t, const ag_op *op, ag_tensor *a) {
    if (!ag_check_inputs(t, op->name, 1, &a)) return ag_poison(t);
    int one = 1;
    ag_node *n = ag_record(t, op, 1, &a, 1, &one, NULL);
    return n ? ag_run(n) : ag_poison(t);
}
ag_tensor *ag_sum(ag_tape *t, ag_tensor *a) { return reduce_all(t, &ag_op_sum, a); }
ag_tensor *ag_mean(ag_tape *t, ag_tensor *a) { return reduce_all(t, &ag_op_mean, a); }

/* =============================================================================================
 * Reductions along an axis (kept with size 1). x is seen as (outer, D, inner); y as
 * (outer, 1, inner). arg.axis is the axis.
 * =========================================================================================== */

/* Shared by sum_axis and mean_axis: y[o,i] = scale * sum_d x[o,d,i]. */
static void reduce_axis_fwd(ag_node *n, bool mean) {
    int outer, D, inner;
    split_at(n->in[0], n->arg.axis, &outer, &D, &inner);
    const float *x = n->in[0]->data;
    float *y = n->out.data;
    const float scale = mean ? 1.0f / (float)D : 1.0f;
    for (int o = 0; o < outer; o++) {
        float *yo = y + (long)o * inner;
        for (int i = 0; i < inner; i++) yo[i] = 0.0f;
        for (int d = 0; d < D; d++) {
            const float *xr = x + ((long)o * D + d) * inner;
            for (int i = 0; i < inner; i++) yo[i] += xr[i];
        }
        for (int i = 0; i < inner; i++) yo[i] *= scale;
    }
}
/* dx[o,d,i] += scale * dy[o,i] */
static void reduce_axis_vjp(ag_node *n, bool mean) {
    float *dx = n->in[0]->grad;
    if (!dx) return;
    int outer, D, inner;
    split_at(n->in[0], n->arg.axis, &outer, &D, &inner);
    const float *dy = n->out.grad;
    const float scale = mean ? 1.0f / (float)D : 1.0f;
    for (int o = 0; o < outer; o++)
        for (int d = 0; d < D; d++) {
            float *dxr = dx + ((long)o * D + d) * inner;
            const float *dyo = dy + (long)o * inner;
            for (int i = 0; i < inner; i++) dxr[i] += scale * dyo[i];
        }
}

/* sum_axis: y = sum_d x[.., d, ..];  dx[.., d, ..] += dy */
static void sum_axis_fwd(ag_node *n) { reduce_axis_fwd(n, false); }
static void sum_axis_vjp(ag_node *n) { reduce_axis_vjp(n, false); }
const ag_op ag_op_sum_axis = {"sum_axis", sum_axis_fwd, sum_axis_vjp};

/* mean_axis: y = sum_d x[.., d, ..] / D;  dx[.., d, ..] += dy / D */
static void mean_axis_fwd(ag_node *n) { reduce_axis_fwd(n, true); }
static void mean_axis_vjp(ag_node *n) { reduce_axis_vjp(n, true); }
const ag_op ag_op_mean_axis = {"mean_axis", mean_axis_fwd, mean_axis_vjp};

/* max_axis: y = max_d x[.., d, ..], aux keeps the argmax d (the first one);
 * dx[.., argmax, ..] += dy */
static void max_axis_fwd(ag_node *n) {
    int outer, D, inner;
    split_at(n->in[0], n->arg.axis, &outer, &D, &inner);
    const float *x = n->in[0]->data;
    float *y = n->out.data;
    int *arg = n->aux;
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            const float *xi = x + (long)o * D * inner + i;
            int best = 0;
            for (int d = 1; d < D; d++)
                if (xi[(long)d * inner] > xi[(long)best * inner]) best = d;
            y[(long)o * inner + i] = xi[(long)best * inner];
            arg[(long)o * inner + i] = best;
        }
}
static void max_axis_vjp(ag_node *n) {
    float *dx = n->in[0]->grad;
    if (!dx) return;
    int outer, D, inner;
    split_at(n->in[0], n->arg.axis, &outer, &D, &inner);
    const float *dy = n->out.grad;
    const int *arg = n->aux;
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            long k = (long)o * inner + i;
            dx[((long)o * D + arg[k]) * inner + i] += dy[k];
        }
}
const ag_op ag_op_max_axis = {"max_axis", max_axis_fwd, max_axis_vjp};

static ag_tensor *reduce_axis(ag_tape *t, const ag_op *op, ag_tensor *a, int axis) {
    if (!ag_check_inputs(t, op->name, 1, &a)) return ag_poison(t);
    if (!check_axis(t, op->name, a, &axis)) return ag_poison(t);
    int shape[AG_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[axis] = 1;
    ag_node *n = ag_record(t, op, 1, &a, a->ndim, shape, NULL);
    if (!n) return ag_poison(t);
    n->arg.axis = axis;
    if (op == &ag_op_max_axis) {
        n->aux = ag_arena_alloc(t, (size_t)n->out.numel * sizeof(int), _Alignof(int), op->name);
        if (!n->aux) return ag_poison(t);
    }
    return ag_run(n);
}
ag_tensor *ag_sum_axis(ag_tape *t, ag_tensor *a, int axis) {
    return reduce_axis(t, &ag_op_sum_axis, a, axis);
}
ag_tensor *ag_mean_axis(ag_tape *t, ag_tensor *a, int axis) {
    return reduce_axis(t, &ag_op_mean_axis, a, axis);
}
ag_tensor *ag_max_axis(ag_tape *t, ag_tensor *a, int axis) {
    return reduce_axis(t, &ag_op_max_axis, a, axis);
}

/* =============================================================================================
 * Shape ops.
 * =========================================================================================== */

/* Shared by the views (reshape, slice_rows): the output's values ARE the input's, at offset
 * arg.offset; nothing to compute forward, and dx[offset + i] += dy[i] backward. */
static void view_fwd(ag_node *n) { (void)n; }
static void view_vjp(ag_node *n) {
    float *dx = n->in[0]->grad;
    if (!dx) return;
    ag_kernels()->acc(n->out.numel, n->out.grad, dx + n->arg.offset);
}

/* reshape: y = x with a new shape (a view, no copy);  dx += dy */
const ag_op ag_op_reshape = {"reshape", view_fwd, view_vjp};

ag_tensor *ag_reshape(ag_tape *t, ag_tensor *a, int ndim, const int *shape) {
    if (!ag_check_inputs(t, "reshape", 1, &a)) return ag_poison(t);
    if (!shape || ndim < 1 || ndim > AG_MAX_DIMS)
        return ag_fail(t, shape ? AG_ERR_SHAPE : AG_ERR_NULL,
                       "reshape: %s to %d dimensions%s (must be 1 to %d)", ag_fmt_shape(a).s, ndim,
                       shape ? "" : " with a NULL shape", AG_MAX_DIMS);
    int s[AG_MAX_DIMS], infer = -1;
    long long known = 1; /* 64 bits even where long has 32 (wasm32, i386): no overflow */
    for (int k = 0; k < ndim; k++) {
        s[k] = shape[k];
        if (s[k] == -1 && infer < 0) infer = k;
        else if (s[k] < 1)
            return ag_fail(t, AG_ERR_SHAPE, "reshape: %s: new dimension %d is %d", ag_fmt_shape(a).s,
                           k, s[k]);
        else if ((known *= s[k]) > AG_MAX_NUMEL)
            known = (long long)AG_MAX_NUMEL + 1;
    }
    if (infer >= 0) s[infer] = known <= a->numel && a->numel % known == 0 ? (int)(a->numel / known) : 0;
    long long numel = infer >= 0 ? known * s[infer] : known;
    if (numel != a->numel) {
        char want[64] = "(";
        for (int k = 0; k < ndim; k++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", k ? "," : "", shape[k]);
        return ag_fail(t, AG_ERR_SHAPE, "reshape: %s has %d elements, shape %s) does not fit them",
                       ag_fmt_shape(a).s, a->numel, want);
    }
    ag_node *n = ag_record(t, &ag_op_reshape, 1, &a, ndim, s, a->data);
    return n ? ag_run(n) : ag_poison(t);
}

/* slice_rows: y = x[start : start+count]  (B,...) -> (count,...), a view;
 * dx[start : start+count] += dy */
const ag_op ag_op_slice_rows = {"slice_rows", view_fwd, view_vjp};

ag_tensor *ag_slice_rows(ag_tape *t, ag_tensor *a, int start, int count) {
    if (!ag_check_inputs(t, "slice_rows", 1, &a)) return ag_poison(t);
    if (start < 0 || count < 1 || start > a->shape[0] - count)
        return ag_fail(t, AG_ERR_RANGE,
                       "slice_rows: rows %d..%ld (count %d) are out of range for %s", start,
                       (long)start + count - 1, count, ag_fmt_shape(a).s);
    int shape[AG_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[0] = count;
    int row = a->numel / a->shape[0];
    ag_node *n = ag_record(t, &ag_op_slice_rows, 1, &a, a->ndim, shape, a->data + (long)start * row);
    if (!n) return ag_poison(t);
    n->arg.offset = start * row;
    return ag_run(n);
}

/* transpose: y[b,j,i] = x[b,i,j]   (...,M,N) -> (...,N,M);  dx[b,i,j] += dy[b,j,i] */
static void transpose_fwd(ag_node *n) {
    const ag_tensor *X = n->in[0];
    int M = X->shape[X->ndim - 2], N = X->shape[X->ndim - 1], batch = X->numel / (M * N);
    for (int b = 0; b < batch; b++) {
        const float *x = X->data + (long)b * M * N;
        float *y = n->out.data + (long)b * M * N;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) y[(long)j * M + i] = x[(long)i * N + j];
    }
}
static void transpose_vjp(ag_node *n) {
    const ag_tensor *X = n->in[0];
    if (!X->grad) return;
    int M = X->shape[X->ndim - 2], N = X->shape[X->ndim - 1], batch = X->numel / (M * N);
    for (int b = 0; b < batch; b++) {
        float *dx = X->grad + (long)b * M * N;
        const float *dy = n->out.grad + (long)b * M * N;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) dx[(long)i * N + j] += dy[(long)j * M + i];
    }
}
const ag_op ag_op_transpose = {"transpose", transpose_fwd, transpose_vjp};

ag_tensor *ag_transpose(ag_tape *t, ag_tensor *a) {
    if (!ag_check_inputs(t, "transpose", 1, &a)) return ag_poison(t);
    if (a->ndim < 2)
        return ag_fail(t, AG_ERR_SHAPE, "transpose: %s has fewer than 2 dimensions",
                       ag_fmt_shape(a).s);
    int shape[AG_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[a->ndim - 2] = a->shape[a->ndim - 1];
    shape[a->ndim - 1] = a->shape[a->ndim - 2];
    ag_node *n = ag_record(t, &ag_op_transpose, 1, &a, a->ndim, shape, NULL);
    return n ? ag_run(n) : ag_poison(t);
}

/* concat: y = [x_1, x_2, ...] along an axis (arg.axis). Seen as (outer, D_p, inner) each
 * part's block of D_p*inner values is copied in turn;  dx_p += its block of dy, or = when
 * nobody has written dx_p yet (the node is recorded with vjp_stores: see ag_grad_fresh; asked
 * right before each part's write, so that a part given twice is stored, then added to) */
static void concat_fwd(ag_node *n) {
    int outer, D, inner;
    split_at(&n->out, n->arg.axis, &outer, &D, &inner);
    const long row = (long)D * inner; /* y seen as (outer, row): part p is a block of columns */
    if (n->nin <= AG_CONCAT_MAX_PARTS) { /* narrow parts: row by row across them, whole vectors */
        long cols[AG_CONCAT_MAX_PARTS];
        const float *xs[AG_CONCAT_MAX_PARTS];
        for (int p = 0; p < n->nin; p++)
            cols[p] = (long)n->in[p]->shape[n->arg.axis] * inner, xs[p] = n->in[p]->data;
        if (ag_kernels()->concat_rows(outer, n->nin, cols, xs, n->out.data)) return;
    }
    long col = 0;
    for (int p = 0; p < n->nin; p++) {
        const ag_tensor *X = n->in[p];
        const long block = (long)X->shape[n->arg.axis] * inner;
        ag_kernels()->copy_rows(outer, block, X->data, block, n->out.data + col, row, false);
        col += block;
    }
}
static void concat_vjp(ag_node *n) {
    int outer, D, inner;
    split_at(&n->out, n->arg.axis, &outer, &D, &inner);
    const long row = (long)D * inner;
    long col = 0;
    for (int p = 0; p < n->nin; p++) {
        const ag_tensor *X = n->in[p];
        const long block = (long)X->shape[n->arg.axis] * inner;
        if (X->grad)
            ag_kernels()->copy_rows(outer, block, n->out.grad + col, row, X->grad, block,
                                    !ag_grad_fresh(n->in[p]));
        col += block;
    }
}
const ag_op ag_op_concat = {"concat", concat_fwd, concat_vjp};

ag_tensor *ag_concat(ag_tape *t, ag_tensor *const *parts, int n, int axis) {
    if (!ag_check_inputs(t, "concat", 0, NULL)) return ag_poison(t);
    if (!parts || n < 1)
        return ag_fail(t, parts ? AG_ERR_RANGE : AG_ERR_NULL, "concat: %s",
                       parts ? "needs at least one part" : "parts is NULL");
    if (!ag_check_inputs(t, "concat", n, parts)) return ag_poison(t);
    const ag_tensor *p0 = parts[0];
    if (!check_axis(t, "concat", p0, &axis)) return ag_poison(t);
    int shape[AG_MAX_DIMS];
    memcpy(shape, p0->shape, sizeof shape);
    long long total = p0->shape[axis]; /* 64 bits even where long has 32 */
    for (int p = 1; p < n; p++) {
        bool fits = parts[p]->ndim == p0->ndim;
        for (int k = 0; fits && k < p0->ndim; k++)
            if (k != axis && parts[p]->shape[k] != p0->shape[k]) fits = false;
        if (!fits)
            return ag_fail(t, AG_ERR_SHAPE,
                           "concat: part %d %s does not match part 1 %s along axis %d", p + 1,
                           ag_fmt_shape(parts[p]).s, ag_fmt_shape(p0).s, axis);
        total += parts[p]->shape[axis];
        if (total > AG_MAX_NUMEL) total = (long long)AG_MAX_NUMEL + 1;
    }
    if (total > AG_MAX_NUMEL)
        return ag_fail(t, AG_ERR_SIZE, "concat: absurd size along axis %d", axis);
    shape[axis] = (int)total;
    ag_node *node = ag_record(t, &ag_op_concat, n, parts, p0->ndim, shape, NULL);
    if (!node) return ag_poison(t);
    node->arg.axis = axis;
    node->vjp_stores = true;
    return ag_run(node);
}

/* gather_rows: y[r] = table[idx[r]]   (V,...) -> (n,...); aux holds a copy of idx;
 * dtable[idx[r]] += dy[r]  (repeated indices sum) */
static void gather_rows_fwd(ag_node *n) {
    const ag_tensor *T = n->in[0];
    const int *idx = n->aux;
    long row = T->numel / T->shape[0];
    for (int r = 0; r < n->out.shape[0]; r++)
        memcpy(n->out.data + r * row, T->data + idx[r] * row, (size_t)row * sizeof(float));
}
static void gather_rows_vjp(ag_node *n) {
    const ag_tensor *T = n->in[0];
    if (!T->grad) return;
    const int *idx = n->aux;
    long row = T->numel / T->shape[0];
    for (int r = 0; r < n->out.shape[0]; r++) {
        float *dt = T->grad + idx[r] * row;
        const float *dy = n->out.grad + r * row;
        for (long j = 0; j < row; j++) dt[j] += dy[j];
    }
}
const ag_op ag_op_gather_rows = {"gather_rows", gather_rows_fwd, gather_rows_vjp};

ag_tensor *ag_gather_rows(ag_tape *t, ag_tensor *table, const int *idx, int n) {
    if (!ag_check_inputs(t, "gather_rows", 1, &table)) return ag_poison(t);
    if (!idx || n < 1)
        return ag_fail(t, idx ? AG_ERR_RANGE : AG_ERR_NULL, "gather_rows: %s (from table %s)",
                       idx ? "needs at least one index" : "index array is NULL",
                       ag_fmt_shape(table).s);
    for (int r = 0; r < n; r++)
        if (idx[r] < 0 || idx[r] >= table->shape[0])
            return ag_fail(t, AG_ERR_RANGE,
                           "gather_rows: index %d at position %d is out of range for table %s",
                           idx[r], r, ag_fmt_shape(table).s);
    int shape[AG_MAX_DIMS];
    memcpy(shape, table->shape, sizeof shape);
    shape[0] = n;
    ag_node *node = ag_record(t, &ag_op_gather_rows, 1, &table, table->ndim, shape, NULL);
    if (!node) return ag_poison(t);
    int *copy = ag_arena_alloc(t, (size_t)n * sizeof(int), _Alignof(int), "gather_rows");
    if (!copy) return ag_poison(t);
    memcpy(copy, idx, (size_t)n * sizeof(int));
    node->aux = copy;
    return ag_run(node);
}
