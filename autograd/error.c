/*
 * error.c -- everything about failing: the tape's sticky error and its status code, the last
 * error of tape-less calls (per thread), the one place a NULL tape is handled, the halves of
 * the input and shape checks that say what is wrong, and shapes written for messages.
 *
 * It calls no other file of autograd/, so every other file may call it (docs/design.md has the
 * whole dependency list).
 */
#include "autograd_private.h"

#include <stdarg.h>
#include <string.h>

/* ---- the status codes ------------------------------------------------------------------------ */

const char *ag_status_str(ag_status status) {
    switch (status) {
    case AG_OK: return "ok";
    case AG_ERR_NO_TAPE: return "no tape (NULL)";
    case AG_ERR_NULL: return "a NULL argument";
    case AG_ERR_POISONED_INPUT: return "an input is the poisoned result of a failed tape";
    case AG_ERR_OTHER_TAPE: return "an input belongs to another tape";
    case AG_ERR_STALE_TENSOR: return "an input was made before the tape's last reset";
    case AG_ERR_SHAPE: return "shapes that do not fit";
    case AG_ERR_RANGE: return "an axis, row, index or count out of range";
    case AG_ERR_SIZE: return "an absurd size";
    case AG_ERR_NO_MEMORY: return "out of memory";
    case AG_ERR_NOT_FINITE: return "NaN or Inf in an op's output";
    case AG_ERR_TAPE_LIMIT: return "the tape's size limit";
    case AG_ERR_USER: return "recorded with ag_tape_fail";
    case AG_ERR_NO_GRAD: return "back-propagation with gradients off";
    }
    return "unknown status";
}

/* ---- the tape's sticky error ----------------------------------------------------------------- */

static ag_tensor *vfail(ag_tape *t, ag_status status, const char *fmt, va_list ap) {
    if (!t) return NULL;
    if (!t->failed) {
        vsnprintf(t->error, sizeof t->error, fmt ? fmt : "error", ap);
        t->failed = true;
        t->status = status;
    }
    return &t->poison;
}

ag_tensor *ag_fail(ag_tape *t, ag_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ag_tensor *poison = vfail(t, status, fmt, ap);
    va_end(ap);
    return poison;
}

ag_tensor *ag_tape_fail(ag_tape *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ag_tensor *poison = vfail(t, AG_ERR_USER, fmt, ap);
    va_end(ap);
    return poison;
}

const char *ag_tape_error(const ag_tape *t) {
    if (!t) return "no tape (NULL)";
    return t->failed ? t->error : NULL;
}

ag_status ag_tape_status(const ag_tape *t) {
    if (!t) return AG_ERR_NO_TAPE;
    return t->failed ? t->status : AG_OK;
}

/* ---- the last error of tape-less calls (one per thread: no shared state) -------------------- */

static _Thread_local char last_error[256];

void ag_set_last_error(const char *fmt, ...) {
    last_error[0] = '\0';
    if (!fmt) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

const char *ag_last_error(void) { return last_error; }

/* ---- a NULL tape, handled here and nowhere else --------------------------------------------- */

void ag_no_tape(const char *who) { ag_set_last_error("%s: tape is NULL", who); }

bool ag_tape_ok(ag_tape *t, const char *op, int nin, ag_tensor *const *in) {
    if (!op) op = "ag_tape_ok";
    if (t && nin > 0 && !in) {
        ag_fail(t, AG_ERR_NULL, "%s: the input array is NULL", op);
        return false;
    }
    return ag_check_inputs(t, op, in ? nin : 0, in);
}

ag_tensor *ag_tape_poison(ag_tape *t) { return ag_poison(t); }

/* ---- shapes in messages ---------------------------------------------------------------------- */

char *ag_shape_str(const ag_tensor *x, char *buf, size_t size) {
    if (!buf || size == 0) return buf;
    if (!x) {
        snprintf(buf, size, "(null)");
        return buf;
    }
    size_t len = 0;
    buf[0] = '\0';
    int nd = x->ndim < 1 ? 1 : x->ndim > AG_MAX_DIMS ? AG_MAX_DIMS : x->ndim;
    for (int i = 0; i < nd && len < size; i++) {
        int w = snprintf(buf + len, size - len, "%s%d", i ? "," : "(", x->shape[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
    if (len < size) snprintf(buf + len, size - len, ")");
    return buf;
}

ag_shape_buf ag_fmt_shape(const ag_tensor *x) {
    ag_shape_buf b;
    ag_shape_str(x, b.s, sizeof b.s);
    return b;
}

/* ---- the checks' second halves: what is wrong ------------------------------------------------ */

long ag_check_shape_report(ag_tape *t, const char *op, int ndim, const int *shape) {
    char msg[200];
    msg[0] = '\0';
    ag_status status = AG_ERR_SHAPE;
    long long n = 1;
    if (!shape) {
        snprintf(msg, sizeof msg, "%s: shape is NULL", op);
        status = AG_ERR_NULL;
    } else if (ndim < 1 || ndim > AG_MAX_DIMS) {
        snprintf(msg, sizeof msg, "%s: %d dimensions (must be 1 to %d)", op, ndim, AG_MAX_DIMS);
    } else {
        for (int i = 0; i < ndim && !msg[0]; i++) {
            if (shape[i] < 1) {
                snprintf(msg, sizeof msg, "%s: dimension %d is %d (must be >= 1)", op, i, shape[i]);
            } else if ((n *= shape[i]) > AG_NUMEL_HERE) {
                snprintf(msg, sizeof msg, "%s: absurd size: more than %lld elements", op,
                         AG_NUMEL_HERE);
                status = AG_ERR_SIZE;
            }
        }
    }
    if (!msg[0]) return (long)n;
    if (t) ag_fail(t, status, "%s", msg);
    else ag_set_last_error("%s", msg);
    return -1;
}

bool ag_check_inputs_report(ag_tape *t, const char *op, int nin, ag_tensor *const *in) {
    if (!t) {
        ag_no_tape(op);
        return false;
    }
    if (t->failed) return false;
    for (int i = 0; i < nin; i++) {
        const ag_tensor *x = in[i];
        if (!x) {
            ag_fail(t, AG_ERR_NULL, "%s: input %d is NULL", op, i + 1);
            return false;
        }
        if (x->flags & AG_POISONED) {
            ag_fail(t, AG_ERR_POISONED_INPUT, "%s: input %d is the poisoned result of a failed tape",
                    op, i + 1);
            return false;
        }
        if (x->tape && x->tape != t) {
            ag_fail(t, AG_ERR_OTHER_TAPE, "%s: input %d %s belongs to another tape", op, i + 1,
                    ag_fmt_shape(x).s);
            return false;
        }
        if (x->tape && x->generation != t->generation) {
            ag_fail(t, AG_ERR_STALE_TENSOR,
                    "%s: input %d %s is stale: made before the tape's last reset", op, i + 1,
                    ag_fmt_shape(x).s);
            return false;
        }
    }
    return true;
}
