/*
 * losses.c -- losses built from autograd ops.
 */
#include "nn.h"

/* E = 1/2 sum (m (y - d))^2 with m = 0 where the output is already close enough to its side:
 * d >= 0.5 and y > 1 - margin, or d < 0.5 and y < margin; m = 1 elsewhere. The mask is read off
 * the forward values, so it is a constant on the tape: dE/dy = m (y - d). */
ag_tensor *nn_sse_margin(ag_tape *t, ag_tensor *y, ag_tensor *d, double margin) {
    if (!ag_tape_ok(t, "sse_margin", 2, (ag_tensor *const[]){y, d})) return ag_tape_poison(t);
    bool usable = y && d && !(y->flags & AG_POISONED) && !(d->flags & AG_POISONED) &&
                  y->ndim == d->ndim && !ag_tape_error(t);
    for (int k = 0; usable && k < y->ndim; k++) usable = y->shape[k] == d->shape[k];
    if (!usable) return ag_sse(t, y, d); /* the op names whatever is wrong */
    ag_tensor *mask = ag_tape_tensor(t, y->ndim, y->shape, NULL);
    if (ag_tape_error(t)) return mask;
    const float hi = (float)(1.0 - margin), lo = (float)margin;
    for (int i = 0; i < y->numel; i++) {
        bool on = d->data[i] >= 0.5f;
        bool close_enough = on ? y->data[i] > hi : y->data[i] < lo;
        mask->data[i] = close_enough ? 0.0f : 1.0f;
    }
    return ag_sse(t, ag_mul(t, y, mask), ag_mul(t, d, mask));
}
