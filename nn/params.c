/*
 * params.c -- the parameter list: named, user-owned tensors that optimisers, save/load and
 * printing walk over.
 */
#include "nn_private.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#define NAME_MAX_LEN 63

nn_params *nn_params_new(void) {
    nn_params *ps = ag_alloc(sizeof *ps);
    if (!ps) {
        ag_set_last_error("nn_params_new: out of memory");
        return NULL;
    }
    memset(ps, 0, sizeof *ps);
    return ps;
}

void nn_params_free(nn_params *ps) {
    if (!ps) return;
    for (int i = 0; i < ps->count; i++) ag_tensor_free(ps->items[i]);
    ag_free(ps->items);
    ag_free(ps);
}

ag_tensor *nn_param_new(nn_params *ps, const char *name, int ndim, const int *shape) {
    if (!ps || !name || !name[0] || strlen(name) > NAME_MAX_LEN) {
        ag_set_last_error("nn_param_new: %s", !ps     ? "parameter list is NULL"
                                              : !name ? "name is NULL"
                                                      : "name must be 1 to 63 characters");
        return NULL;
    }
    if (nn_params_find(ps, name)) {
        ag_set_last_error("nn_param_new: a parameter named '%s' already exists", name);
        return NULL;
    }
    if (ps->count == ps->capacity) {
        if (ps->capacity > INT_MAX / 2) { /* doubling it would overflow an int */
            ag_set_last_error("nn_param_new: the list already holds %d parameters, the most it can",
                              ps->count);
            return NULL;
        }
        int cap = ps->capacity ? 2 * ps->capacity : 16;
        ag_tensor **items = ag_alloc((size_t)cap * sizeof *items);
        if (!items) {
            ag_set_last_error("nn_param_new: out of memory for '%s'", name);
            return NULL;
        }
        if (ps->count) memcpy(items, ps->items, (size_t)ps->count * sizeof *items);
        ag_free(ps->items);
        ps->items = items;
        ps->capacity = cap;
    }
    ag_tensor *x = ag_tensor_new(ndim, shape, true);
    if (!x) {
        char why[200];
        snprintf(why, sizeof why, "%s", ag_last_error());
        ag_set_last_error("nn_param_new '%s': %s", name, why);
        return NULL;
    }
    if (ag_tensor_set_name(x, name) != 0) {
        ag_tensor_free(x);
        ag_set_last_error("nn_param_new: out of memory for '%s'", name);
        return NULL;
    }
    ps->items[ps->count++] = x;
    ps->numel += x->numel;
    return x;
}

int nn_params_count(const nn_params *ps) { return ps ? ps->count : 0; }

void nn_params_roll_back(nn_params *ps, int count) {
    if (!ps || count < 0) return;
    while (ps->count > count) {
        ag_tensor *x = ps->items[--ps->count];
        ps->numel -= x->numel;
        ag_tensor_free(x);
    }
}

ag_tensor *nn_params_at(const nn_params *ps, int i) {
    return ps && i >= 0 && i < ps->count ? ps->items[i] : NULL;
}

ag_tensor *nn_params_find(const nn_params *ps, const char *name) {
    if (!ps || !name) return NULL;
    for (int i = 0; i < ps->count; i++)
        if (!strcmp(ps->items[i]->name, name)) return ps->items[i];
    return NULL;
}

long nn_params_numel(const nn_params *ps) { return ps ? ps->numel : 0; }

void nn_zero_grad(nn_params *ps) {
    for (int i = 0; i < nn_params_count(ps); i++) ag_zero_grad(ps->items[i]);
}

void nn_params_print(const nn_params *ps, FILE *f, int max_values) {
    if (!f) return;
    for (int i = 0; i < nn_params_count(ps); i++) {
        const ag_tensor *x = ps->items[i];
        char shape[64];
        fprintf(f, "%-16s %-10s", x->name, ag_shape_str(x, shape, sizeof shape));
        if (x->numel <= max_values)
            for (int k = 0; k < x->numel; k++) fprintf(f, " %8.4f", x->data[k]);
        fputc('\n', f);
    }
}

/* ---- all gradients as one buffer (for an all-reduce across processes) -------------------------
 * The layout: parameter 0's gradient, then parameter 1's, ... in list order, each row-major, back
 * to back with no padding; nn_params_numel floats in all. */

/* Check what both directions need; 0, or -1 with the reason (prefixed by `fn`) set. */
static int check_grad_buffer(const char *fn, const nn_params *ps, const float *buf, long n) {
    if (!ps || !buf) {
        ag_set_last_error("%s: %s is NULL", fn, !ps ? "parameter list" : "buffer");
        return -1;
    }
    const long want = nn_params_numel(ps);
    if (n != want) {
        ag_set_last_error("%s: the buffer holds %ld floats but the %d parameters' gradients are "
                          "%ld (nn_params_numel)", fn, n, ps->count, want);
        return -1;
    }
    for (int i = 0; i < ps->count; i++)
        if (!ps->items[i]->grad) {
            ag_set_last_error("%s: parameter '%s' has no gradient", fn, ps->items[i]->name);
            return -1;
        }
    return 0;
}

int nn_grads_pack(const nn_params *ps, float *buf, long n) {
    if (check_grad_buffer("nn_grads_pack", ps, buf, n) != 0) return -1;
    long at = 0;
    for (int i = 0; i < ps->count; i++) {
        const ag_tensor *x = ps->items[i];
        memcpy(buf + at, x->grad, (size_t)x->numel * sizeof *buf);
        at += x->numel;
    }
    return 0;
}

int nn_grads_unpack(nn_params *ps, const float *buf, long n) {
    if (check_grad_buffer("nn_grads_unpack", ps, buf, n) != 0) return -1;
    long at = 0;
    for (int i = 0; i < ps->count; i++) {
        ag_tensor *x = ps->items[i];
        memcpy(x->grad, buf + at, (size_t)x->numel * sizeof *buf);
        at += x->numel;
    }
    return 0;
}

/* The joint L2 norm of every gradient, in double; gradients scaled by max_norm / norm when it is
 * above max_norm (PyTorch's clip_grad_norm_, without its 1e-6 added to the norm). */
double nn_clip_grad_norm(nn_params *ps, double max_norm) {
    if (!ps) {
        ag_set_last_error("nn_clip_grad_norm: parameter list is NULL");
        return -1;
    }
    if (!(max_norm > 0)) { /* also NaN */
        ag_set_last_error("nn_clip_grad_norm: max_norm %g must be above 0 (INFINITY: measure only)",
                          max_norm);
        return -1;
    }
    double sq = 0;
    for (int p = 0; p < ps->count; p++) {
        const ag_tensor *w = ps->items[p];
        if (!w->grad) continue;
        for (int i = 0; i < w->numel; i++) sq += (double)w->grad[i] * w->grad[i];
    }
    const double norm = sqrt(sq);
    if (!isfinite(norm)) {
        ag_set_last_error("nn_clip_grad_norm: the gradients' norm is %s; gradients left as they are",
                          isnan(norm) ? "NaN" : "infinite");
        return norm;
    }
    if (norm > max_norm) {
        const float k = (float)(max_norm / norm);
        for (int p = 0; p < ps->count; p++) {
            ag_tensor *w = ps->items[p];
            if (!w->grad) continue;
            for (int i = 0; i < w->numel; i++) w->grad[i] *= k;
        }
    }
    return norm;
}
