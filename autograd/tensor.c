/*
 * tensor.c -- making, naming, reading and freeing tensors: user-owned ones on the heap, tape
 * constants in the arena.
 */
#include "autograd_private.h"

#include <math.h>
#include <string.h>

/* ---- user-owned tensors ------------------------------------------------------------------- */

/* Header and value memory in one block; the gradient separately (it comes and goes). */
ag_tensor *ag_tensor_new(int ndim, const int *shape, bool requires_grad) {
    long numel = ag_check_shape(NULL, "ag_tensor_new", ndim, shape);
    if (numel < 0) return NULL;
    size_t head = (sizeof(ag_tensor) + 63) & ~(size_t)63;
    size_t bytes = (size_t)numel * sizeof(float);
    ag_tensor *x = ag_alloc(head + bytes);
    if (!x) {
        ag_set_last_error("ag_tensor_new: out of memory for %ld elements", numel);
        return NULL;
    }
    memset(x, 0, head + bytes);
    x->data = (float *)((char *)x + head);
    x->ndim = ndim;
    for (int i = 0; i < AG_MAX_DIMS; i++) x->shape[i] = i < ndim ? shape[i] : 1;
    x->numel = (int)numel;
    x->flags = AG_USER_OWNED;
    if (requires_grad && ag_set_requires_grad(x, true) != 0) {
        ag_tensor_free(x);
        return NULL;
    }
    return x;
}

ag_tensor *ag_tensor_2d(int rows, int cols, bool requires_grad) {
    int shape[2] = {rows, cols};
    return ag_tensor_new(2, shape, requires_grad);
}

ag_tensor *ag_tensor_from(int ndim, const int *shape, const float *values, bool requires_grad) {
    if (!values) {
        ag_set_last_error("ag_tensor_from: values is NULL");
        return NULL;
    }
    ag_tensor *x = ag_tensor_new(ndim, shape, requires_grad);
    if (x) memcpy(x->data, values, (size_t)x->numel * sizeof(float));
    return x;
}

ag_tensor *ag_scalar_param(double v) {
    int one = 1;
    ag_tensor *x = ag_tensor_new(1, &one, true);
    if (x) x->data[0] = (float)v;
    return x;
}

void ag_tensor_free(ag_tensor *x) {
    if (!x || !(x->flags & AG_USER_OWNED)) return;
    ag_free(x->grad);
    ag_free((void *)x->name);
    ag_free(x);
}

int ag_set_requires_grad(ag_tensor *x, bool requires_grad) {
    if (!x || !(x->flags & AG_USER_OWNED)) {
        ag_set_last_error("ag_set_requires_grad: %s", x ? "only user-owned tensors can change"
                                                        : "tensor is NULL");
        return -1;
    }
    if (requires_grad && !x->grad) {
        x->grad = ag_alloc((size_t)x->numel * sizeof(float));
        if (!x->grad) {
            ag_set_last_error("ag_set_requires_grad: out of memory for the gradient of %s",
                              ag_fmt_shape(x).s);
            return -1;
        }
        memset(x->grad, 0, (size_t)x->numel * sizeof(float));
    } else if (!requires_grad) {
        ag_free(x->grad);
        x->grad = NULL;
    }
    x->flags = requires_grad ? x->flags | AG_REQUIRES_GRAD : x->flags & ~AG_REQUIRES_GRAD;
    return 0;
}

int ag_tensor_set_name(ag_tensor *x, const char *name) {
    if (!x || (x->flags & AG_POISONED)) {
        ag_set_last_error("ag_tensor_set_name: tensor is %s", x ? "poisoned" : "NULL");
        return -1;
    }
    if (!(x->flags & AG_USER_OWNED)) {
        x->name = name;
        return 0;
    }
    char *copy = NULL;
    if (name) {
        size_t n = strlen(name) + 1;
        copy = ag_alloc(n);
        if (!copy) {
            ag_set_last_error("ag_tensor_set_name: out of memory");
            return -1;
        }
        memcpy(copy, name, n);
    }
    ag_free((void *)x->name);
    x->name = copy;
    return 0;
}

/* ---- tape constants ----------------------------------------------------------------------- */

ag_tensor *ag_tape_tensor(ag_tape *t, int ndim, const int *shape, const float *values) {
    if (!ag_check_inputs(t, "tape_tensor", 0, NULL)) return ag_poison(t);
    long numel = ag_check_shape(t, "tape_tensor", ndim, shape);
    if (numel < 0) return ag_poison(t);
    ag_tensor *x = ag_arena_alloc(t, sizeof *x, _Alignof(ag_tensor), "tape_tensor");
    float *data = x ? ag_arena_alloc(t, (size_t)numel * sizeof(float), numel >= 16 ? 64 : 4,
                                     "tape_tensor")
                    : NULL;
    if (!data) return ag_poison(t);
    memset(x, 0, sizeof *x);
    x->data = data;
    x->ndim = ndim;
    for (int i = 0; i < AG_MAX_DIMS; i++) x->shape[i] = i < ndim ? shape[i] : 1;
    x->numel = (int)numel;
    x->tape = t;
    x->generation = t->generation;
    if (values) memcpy(data, values, (size_t)numel * sizeof(float));
    else memset(data, 0, (size_t)numel * sizeof(float));
    return x;
}

ag_tensor *ag_scalar(ag_tape *t, double v) {
    int one = 1;
    float f = (float)v;
    return ag_tape_tensor(t, 1, &one, &f);
}

/* ---- reading ------------------------------------------------------------------------------ */

double ag_item(const ag_tensor *x) {
    if (!x || (x->flags & AG_POISONED) || x->numel != 1) return NAN;
    return x->data[0];
}

double ag_grad_item(const ag_tensor *x) {
    if (!x || (x->flags & AG_POISONED) || x->numel != 1) return NAN;
    return x->grad ? x->grad[0] : 0.0;
}

const char *ag_op_name(const ag_tensor *x) {
    if (!x) return "";
    return x->node ? x->node->op->name : "leaf";
}

void ag_zero_grad(ag_tensor *x) {
    if (x && x->grad && !(x->flags & AG_POISONED))
        memset(x->grad, 0, (size_t)x->numel * sizeof(float));
}

/* ---- detaching: a value without its path back --------------------------------------------- */

ag_tensor *ag_detach(ag_tape *t, ag_tensor *x) {
    if (!ag_check_inputs(t, "detach", 1, &x)) return ag_poison(t);
    return ag_tape_tensor(t, x->ndim, x->shape, x->data);
}

ag_tensor *ag_detach_into(ag_tape *t, ag_tensor *x, ag_tensor *keep) {
    ag_tensor *in[2] = {x, keep};
    if (!ag_check_inputs(t, "detach_into", 2, in)) return ag_poison(t);
    if (!(keep->flags & AG_USER_OWNED))
        return ag_fail(t, AG_ERR_OTHER_TAPE,
                       "detach_into: keep %s is a tape tensor; it must be user-owned "
                       "(ag_tensor_new) to outlive ag_tape_reset",
                       ag_fmt_shape(keep).s);
    if (keep->ndim != x->ndim || memcmp(keep->shape, x->shape, sizeof x->shape) != 0)
        return ag_fail(t, AG_ERR_SHAPE, "detach_into: x %s and keep %s differ in shape",
                       ag_fmt_shape(x).s, ag_fmt_shape(keep).s);
    if (keep != x) memcpy(keep->data, x->data, (size_t)x->numel * sizeof(float));
    return keep;
}
