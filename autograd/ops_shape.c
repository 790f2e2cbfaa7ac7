/*
 * ops_shape.c -- shape ops on any axis: slice, split (slices), stack, permute, reverse,
 * broadcast_to and pad. (concat on any axis, reshape, transpose, slice_rows and gather_rows
 * are in ops_matrix.c.)
 *
 * As in every ops file: the maths and shapes in a comment, the forward, the vector-Jacobian
 * product (vjp) that ADDS into the inputs' gradients, the table entry, the public function.
 * Around an axis a tensor is seen as (outer, D, inner): outer is the product of the dimensions
 * before the axis, D the axis's size, inner the product of those after it.
 */
#include "kernels.h"
#include "ops.h"

#include <string.h>

/* Normalise a possibly negative axis for a tensor of ndim dimensions (-1 is the last); false
 * (error recorded, "op: axis 5 is out of range for (2,3)") when out of range. */
static bool shape_axis(ag_tape *t, const char *op, const ag_tensor *x, int ndim, int *axis) {
    int ax = *axis < 0 && *axis >= -ndim ? *axis + ndim : *axis;
    if (ax < 0 || ax >= ndim) {
        ag_fail(t, AG_ERR_RANGE, "%s: axis %d is out of range for %s", op, *axis, ag_fmt_shape(x).s);
        return false;
    }
    *axis = ax;
    return true;
}

/* Sizes of a shape seen as (outer, dim, inner) around an axis. */
static void around(const int *shape, int ndim, int axis, long *outer, int *dim, long *inner) {
    long o = 1, in = 1;
    for (int k = 0; k < axis; k++) o *= shape[k];
    for (int k = axis + 1; k < ndim; k++) in *= shape[k];
    *outer = o;
    *dim = shape[axis];
    *inner = in;
}

/* What a node of this file keeps besides its inputs (in aux): the axis, and where the kept block
 * starts along it (slice: in the input; pad: in the output). */
typedef struct {
    int axis, at;
} axis_at;

/* Record op on the inputs with an output of the given shape and an axis_at in aux; NULL (tape
 * failed) on error. */
static ag_node *record_axis_at(ag_tape *t, const ag_op *op, ag_tensor *a, int ndim,
                               const int *shape, int axis, int at) {
    ag_node *n = ag_record(t, op, 1, &a, ndim, shape, NULL);
    if (!n) return NULL;
    axis_at *aa = ag_arena_alloc(t, sizeof *aa, _Alignof(axis_at), op->name);
    if (!aa) return NULL;
    aa->axis = axis;
    aa->at = at;
    n->aux = aa;
    return n;
}

/* =============================================================================================
 * slice: y = x[.., start : start+length, ..] along an axis   (outer, D, inner) -> (outer, length, inner)
 *   y[o, l, i] = x[o, start + l, i];   dx[o, start + l, i] += dy[o, l, i]
 * =========================================================================================== */

static void slice_fwd(ag_node *n) {
    const axis_at *aa = n->aux;
    const ag_tensor *X = n->in[0];
    long outer, inner;
    int D, L = n->out.shape[aa->axis];
    around(X->shape, X->ndim, aa->axis, &outer, &D, &inner);
    ag_kernels()->copy_rows(outer, L * inner, X->data + aa->at * inner, D * inner, n->out.data,
                            L * inner, false);
}
static void slice_vjp(ag_node *n) {
    const axis_at *aa = n->aux;
    const ag_tensor *X = n->in[0];
    if (!X->grad) return;
    long outer, inner;
    int D, L = n->out.shape[aa->axis];
    around(X->shape, X->ndim, aa->axis, &outer, &D, &inner);
    ag_kernels()->copy_rows(outer, L * inner, n->out.grad, L * inner, X->grad + aa->at * inner,
                            D * inner, true);
}
const ag_op ag_op_slice = {"slice", slice_fwd, slice_vjp};

/* The slice after its checks, named `op` in messages (slice, or split for its parts). */
static ag_tensor *slice_checked(ag_tape *t, const char *op, ag_tensor *a, int axis, int start,
                                int length) {
    if (!shape_axis(t, op, a, a->ndim, &axis)) return ag_poison(t);
    const int D = a->shape[axis];
    const int from = start < 0 && start >= -D ? start + D : start; /* -1: the last position */
    if (from < 0 || from >= D || length < 1 || length > D - from)
        return ag_fail(t, AG_ERR_RANGE,
                       "%s: start %d length %d is out of range for axis %d of %s (size %d)", op,
                       start, length, axis, ag_fmt_shape(a).s, D);
    int shape[AG_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[axis] = length;
    ag_node *n = record_axis_at(t, &ag_op_slice, a, a->ndim, shape, axis, from);
    return n ? ag_run(n) : ag_poison(t);
}

ag_tensor *ag_slice(ag_tape *t, ag_tensor *a, int axis, int start, int length) {
    if (!ag_check_inputs(t, "slice", 1, &a)) return ag_poison(t);
    return slice_checked(t, "slice", a, axis, start, length);
}

/* =============================================================================================
 * split: parts[p] = slice(x, axis, start_p, size_p), one slice node per part; the sizes are
 * given, or D/n each. The gradients of the parts add into dx through the slices' vjps.
 * =========================================================================================== */

static int split_failed(ag_tape *t, int n, ag_tensor **parts) {
    if (parts)
        for (int p = 0; p < n; p++) parts[p] = ag_poison(t);
    return -1;
}

int ag_split(ag_tape *t, ag_tensor *a, int axis, int n, const int *sizes, ag_tensor **parts) {
    if (!ag_check_inputs(t, "split", 1, &a)) return split_failed(t, n, parts);
    if (!parts) {
        ag_fail(t, AG_ERR_NULL, "split: %s: parts (the output array) is NULL", ag_fmt_shape(a).s);
        return -1;
    }
    if (n < 1) {
        ag_fail(t, AG_ERR_RANGE, "split: %s into %d parts: needs at least one", ag_fmt_shape(a).s, n);
        return -1;
    }
    if (!shape_axis(t, "split", a, a->ndim, &axis)) return split_failed(t, n, parts);
    const int D = a->shape[axis];
    if (!sizes && D % n != 0) {
        ag_fail(t, AG_ERR_SHAPE, "split: axis %d of %s (size %d) does not split into %d equal parts",
                axis, ag_fmt_shape(a).s, D, n);
        return split_failed(t, n, parts);
    }
    if (sizes) {
        long total = 0;
        for (int p = 0; p < n; p++) {
            if (sizes[p] < 1) {
                ag_fail(t, AG_ERR_RANGE, "split: size %d of part %d is not positive (%s along axis %d)",
                        sizes[p], p + 1, ag_fmt_shape(a).s, axis);
                return split_failed(t, n, parts);
            }
            total += sizes[p];
            if (total > D) break;
        }
        if (total != D) {
            ag_fail(t, AG_ERR_SHAPE, "split: the sizes of the %d parts %s %d, axis %d of %s has size %d",
                    n, total > D ? "exceed" : "sum to less than", D, axis, ag_fmt_shape(a).s, D);
            return split_failed(t, n, parts);
        }
    }
    for (int p = 0, start = 0; p < n; p++) {
        const int size = sizes ? sizes[p] : D / n;
        parts[p] = slice_checked(t, "split", a, axis, start, size);
        if (parts[p]->flags & AG_POISONED) return split_failed(t, n, parts);
        start += size;
    }
    return 0;
}

/* =============================================================================================
 * stack: y = the n parts (all of one shape S) along a new axis   n x S -> S with n inserted at
 * axis. With S seen as (outer, inner) around the axis, y is (outer, n, inner):
 *   y[o, p, i] = x_p[o, i];   dx_p[o, i] += dy[o, p, i]
 * =========================================================================================== */

static void stack_fwd(ag_node *n) {
    long outer, inner;
    int P;
    around(n->out.shape, n->out.ndim, n->arg.axis, &outer, &P, &inner);
    for (int p = 0; p < P; p++)
        ag_kernels()->copy_rows(outer, inner, n->in[p]->data, inner, n->out.data + p * inner,
                                P * inner, false);
}
static void stack_vjp(ag_node *n) {
    long outer, inner;
    int P;
    around(n->out.shape, n->out.ndim, n->arg.axis, &outer, &P, &inner);
    for (int p = 0; p < P; p++)
        if (n->in[p]->grad)
            ag_kernels()->copy_rows(outer, inner, n->out.grad + p * inner, P * inner,
                                    n->in[p]->grad, inner, true);
}
const ag_op ag_op_stack = {"stack", stack_fwd, stack_vjp};

ag_tensor *ag_stack(ag_tape *t, ag_tensor *const *parts, int n, int axis) {
    if (!ag_check_inputs(t, "stack", 0, NULL)) return ag_poison(t);
    if (!parts || n < 1)
        return ag_fail(t, parts ? AG_ERR_RANGE : AG_ERR_NULL, "stack: %s",
                       parts ? "needs at least one part" : "parts is NULL");
    if (!ag_check_inputs(t, "stack", n, parts)) return ag_poison(t);
    const ag_tensor *p0 = parts[0];
    if (p0->ndim >= AG_MAX_DIMS)
        return ag_fail(t, AG_ERR_SHAPE, "stack: parts %s have %d dimensions already, at most %d",
                       ag_fmt_shape(p0).s, p0->ndim, AG_MAX_DIMS - 1);
    if (!shape_axis(t, "stack", p0, p0->ndim + 1, &axis)) return ag_poison(t);
    for (int p = 1; p < n; p++) {
        bool same = parts[p]->ndim == p0->ndim;
        for (int k = 0; same && k < p0->ndim; k++) same = parts[p]->shape[k] == p0->shape[k];
        if (!same)
            return ag_fail(t, AG_ERR_SHAPE, "stack: part %d %s differs in shape from part 1 %s",
                           p + 1, ag_fmt_shape(parts[p]).s, ag_fmt_shape(p0).s);
    }
    if ((long long)n * p0->numel > AG_MAX_NUMEL)
        return ag_fail(t, AG_ERR_SIZE, "stack: %d parts %s: absurd size", n, ag_fmt_shape(p0).s);
    int shape[AG_MAX_DIMS];
    for (int k = 0, j = 0; k <= p0->ndim; k++) shape[k] = k == axis ? n : p0->shape[j++];
    ag_node *node = ag_record(t, &ag_op_stack, n, parts, p0->ndim + 1, shape, NULL);
    if (!node) return ag_poison(t);
    node->arg.axis = axis;
    return ag_run(node);
}

/* =============================================================================================
 * The strided walk shared by permute and broadcast_to: the output, padded on the left to
 * (s0,s1,s2,s3), in row-major order; its element (i0,i1,i2,i3) is the input's element at
 * sum_k i_k * stride[k] (a stride of 0 repeats the input along that axis).
 *   forward  y[o] = x[at(o)];   backward  dx[at(o)] += dy[o]
 * =========================================================================================== */

typedef struct {
    int shape[AG_MAX_DIMS];
    long stride[AG_MAX_DIMS];
} strided_walk;

static void walk_fwd(ag_node *n) {
    const strided_walk *w = n->aux;
    const float *x = n->in[0]->data;
    float *y = n->out.data;
    long o = 0;
    for (int i0 = 0; i0 < w->shape[0]; i0++)
        for (int i1 = 0; i1 < w->shape[1]; i1++)
            for (int i2 = 0; i2 < w->shape[2]; i2++) {
                const float *xr = x + i0 * w->stride[0] + i1 * w->stride[1] + i2 * w->stride[2];
                for (int i3 = 0; i3 < w->shape[3]; i3++) y[o++] = xr[i3 * w->stride[3]];
            }
}
static void walk_vjp(ag_node *n) {
    const strided_walk *w = n->aux;
    float *dx = n->in[0]->grad;
    if (!dx) return;
    const float *dy = n->out.grad;
    long o = 0;
    for (int i0 = 0; i0 < w->shape[0]; i0++)
        for (int i1 = 0; i1 < w->shape[1]; i1++)
            for (int i2 = 0; i2 < w->shape[2]; i2++) {
                float *dxr = dx + i0 * w->stride[0] + i1 * w->stride[1] + i2 * w->stride[2];
                for (int i3 = 0; i3 < w->shape[3]; i3++) dxr[i3 * w->stride[3]] += dy[o++];
            }
}

/* Record op (a walk) on a with the output shape and the input strides of each output axis. */
static ag_tensor *record_walk(ag_tape *t, const ag_op *op, ag_tensor *a, int ndim,
                              const int *shape, const long *stride) {
    ag_node *n = ag_record(t, op, 1, &a, ndim, shape, NULL);
    if (!n) return ag_poison(t);
    strided_walk *w = ag_arena_alloc(t, sizeof *w, _Alignof(strided_walk), op->name);
    if (!w) return ag_poison(t);
    const int pad = AG_MAX_DIMS - ndim;
    for (int k = 0; k < AG_MAX_DIMS; k++) {
        w->shape[k] = k < pad ? 1 : shape[k - pad];
        w->stride[k] = k < pad ? 0 : stride[k - pad];
    }
    n->aux = w;
    return ag_run(n);
}

/* The row-major strides of x's axes. */
static void strides_of(const ag_tensor *x, long *stride) {
    long s = 1;
    for (int k = x->ndim - 1; k >= 0; k--) {
        stride[k] = s;
        s *= x->shape[k];
    }
}

/* permute: y's axis k is x's axis perm[k]   shape_y[k] = shape_x[perm[k]];
 *   y[i_0, .., i_{n-1}] = x[j] with j_{perm[k]} = i_k;   dx[j] += dy[i]  (each element once) */
const ag_op ag_op_permute = {"permute", walk_fwd, walk_vjp};

ag_tensor *ag_permute(ag_tape *t, ag_tensor *a, const int *perm) {
    if (!ag_check_inputs(t, "permute", 1, &a)) return ag_poison(t);
    if (!perm) return ag_fail(t, AG_ERR_NULL, "permute: %s: perm is NULL", ag_fmt_shape(a).s);
    int p[AG_MAX_DIMS];
    bool seen[AG_MAX_DIMS] = {false};
    for (int k = 0; k < a->ndim; k++) {
        p[k] = perm[k];
        if (!shape_axis(t, "permute", a, a->ndim, &p[k])) return ag_poison(t);
        if (seen[p[k]])
            return ag_fail(t, AG_ERR_RANGE, "permute: %s: axis %d appears twice in perm",
                           ag_fmt_shape(a).s, p[k]);
        seen[p[k]] = true;
    }
    long xs[AG_MAX_DIMS], stride[AG_MAX_DIMS];
    int shape[AG_MAX_DIMS];
    strides_of(a, xs);
    for (int k = 0; k < a->ndim; k++) {
        shape[k] = a->shape[p[k]];
        stride[k] = xs[p[k]];
    }
    return record_walk(t, &ag_op_permute, a, a->ndim, shape, stride);
}

/* broadcast_to: y = x stretched to shape (numpy's / PyTorch's expand): shapes aligned on the
 * right, a dimension of 1 stretches, new dimensions may be added on the left;
 *   y[i] = x[i with stretched axes at 0];   dx[j] += sum of dy over the copies of x[j] */
const ag_op ag_op_broadcast_to = {"broadcast_to", walk_fwd, walk_vjp};

ag_tensor *ag_broadcast_to(ag_tape *t, ag_tensor *a, int ndim, const int *shape) {
    if (!ag_check_inputs(t, "broadcast_to", 1, &a)) return ag_poison(t);
    if (!shape) return ag_fail(t, AG_ERR_NULL, "broadcast_to: %s: shape is NULL", ag_fmt_shape(a).s);
    if (ndim < a->ndim || ndim > AG_MAX_DIMS)
        return ag_fail(t, AG_ERR_SHAPE, "broadcast_to: %s to %d dimensions (must be %d to %d)",
                       ag_fmt_shape(a).s, ndim, a->ndim, AG_MAX_DIMS);
    int s[AG_MAX_DIMS];
    long xs[AG_MAX_DIMS], stride[AG_MAX_DIMS];
    strides_of(a, xs);
    const int lead = ndim - a->ndim; /* new axes on the left */
    for (int k = 0; k < ndim; k++) {
        const int j = k - lead, have = j >= 0 ? a->shape[j] : 1;
        s[k] = shape[k] == -1 && j >= 0 ? have : shape[k]; /* -1 keeps x's size */
        if (s[k] < 1 || (have != 1 && have != s[k]))
            return ag_fail(t, AG_ERR_SHAPE,
                           "broadcast_to: %s cannot stretch to size %d at axis %d of the new shape",
                           ag_fmt_shape(a).s, shape[k], k);
        stride[k] = j >= 0 && have == s[k] ? xs[j] : 0;
    }
    if (ag_check_shape(t, "broadcast_to", ndim, s) < 0) return ag_poison(t);
    return record_walk(t, &ag_op_broadcast_to, a, ndim, s, stride);
}

/* =============================================================================================
 * reverse: y = x flipped along an axis   (outer, D, inner) -> (outer, D, inner)
 *   y[o, d, i] = x[o, D-1-d, i];   dx[o, D-1-d, i] += dy[o, d, i]
 * =========================================================================================== */

static void reverse_fwd(ag_node *n) {
    const ag_tensor *X = n->in[0];
    long outer, inner;
    int D;
    around(X->shape, X->ndim, n->arg.axis, &outer, &D, &inner);
    for (long o = 0; o < outer; o++)
        for (int d = 0; d < D; d++)
            memcpy(n->out.data + (o * D + d) * inner, X->data + (o * D + D - 1 - d) * inner,
                   (size_t)inner * sizeof(float));
}
static void reverse_vjp(ag_node *n) {
    const ag_tensor *X = n->in[0];
    if (!X->grad) return;
    long outer, inner;
    int D;
    around(X->shape, X->ndim, n->arg.axis, &outer, &D, &inner);
    for (long o = 0; o < outer; o++)
        for (int d = 0; d < D; d++)
            ag_kernels()->acc(inner, n->out.grad + (o * D + d) * inner,
                              X->grad + (o * D + D - 1 - d) * inner);
}
const ag_op ag_op_reverse = {"reverse", reverse_fwd, reverse_vjp};

ag_tensor *ag_reverse(ag_tape *t, ag_tensor *a, int axis) {
    if (!ag_check_inputs(t, "reverse", 1, &a)) return ag_poison(t);
    if (!shape_axis(t, "reverse", a, a->ndim, &axis)) return ag_poison(t);
    ag_node *n = ag_record(t, &ag_op_reverse, 1, &a, a->ndim, a->shape, NULL);
    if (!n) return ag_poison(t);
    n->arg.axis = axis;
    return ag_run(n);
}

/* =============================================================================================
 * pad: y = x with `before` zeros ahead of it and `after` zeros behind it along an axis
 *   (outer, D, inner) -> (outer, before + D + after, inner)
 *   y[o, before + d, i] = x[o, d, i], 0 elsewhere;   dx[o, d, i] += dy[o, before + d, i]
 * =========================================================================================== */

static void pad_fwd(ag_node *n) {
    const axis_at *aa = n->aux;
    const ag_tensor *X = n->in[0];
    long outer, inner;
    int D, P = n->out.shape[aa->axis];
    around(X->shape, X->ndim, aa->axis, &outer, &D, &inner);
    memset(n->out.data, 0, (size_t)n->out.numel * sizeof(float));
    ag_kernels()->copy_rows(outer, D * inner, X->data, D * inner, n->out.data + aa->at * inner,
                            P * inner, false);
}
static void pad_vjp(ag_node *n) {
    const axis_at *aa = n->aux;
    const ag_tensor *X = n->in[0];
    if (!X->grad) return;
    long outer, inner;
    int D, P = n->out.shape[aa->axis];
    around(X->shape, X->ndim, aa->axis, &outer, &D, &inner);
    ag_kernels()->copy_rows(outer, D * inner, n->out.grad + aa->at * inner, P * inner, X->grad,
                            D * inner, true);
}
const ag_op ag_op_pad = {"pad", pad_fwd, pad_vjp};

ag_tensor *ag_pad(ag_tape *t, ag_tensor *a, int axis, int before, int after) {
    if (!ag_check_inputs(t, "pad", 1, &a)) return ag_poison(t);
    if (!shape_axis(t, "pad", a, a->ndim, &axis)) return ag_poison(t);
    if (before < 0 || after < 0)
        return ag_fail(t, AG_ERR_RANGE, "pad: %s along axis %d by %d before and %d after: "
                       "padding must not be negative", ag_fmt_shape(a).s, axis, before, after);
    int shape[AG_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    const long long size = (long long)a->shape[axis] + before + after;
    if (size * (a->numel / a->shape[axis]) > AG_MAX_NUMEL)
        return ag_fail(t, AG_ERR_SIZE, "pad: %s along axis %d by %d before and %d after: absurd size",
                       ag_fmt_shape(a).s, axis, before, after);
    shape[axis] = (int)size;
    ag_node *n = record_axis_at(t, &ag_op_pad, a, a->ndim, shape, axis, before);
    return n ? ag_run(n) : ag_poison(t);
}
