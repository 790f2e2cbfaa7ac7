/*
 * norm.c -- dropout and layer normalisation, each a forward function made of autograd ops (their
 * gradients come from the tape).
 */
#include "nn_private.h"

#include <math.h>
#include <stdio.h>

/* ---- dropout --------------------------------------------------------------------------------- */

/* y = x * mask   any shape; mask[i] = 0 with probability p, else 1/(1-p) (a tape constant drawn
 * from rng, one uniform draw per element in row-major order). Identity when !training or p = 0. */
ag_tensor *nn_dropout(ag_tape *t, ag_tensor *x, double p, bool training, nn_rng *rng) {
    if (!ag_tape_ok(t, "dropout", 1, &x)) return ag_tape_poison(t);
    if (!(p >= 0 && p <= 1)) return ag_tape_fail(t, "dropout: p = %g is not in [0, 1]", p);
    if (!training || p == 0) return x;
    if (!rng) return ag_tape_fail(t, "dropout: rng is NULL (training needs a generator)");
    ag_tensor *mask = ag_tape_tensor(t, x->ndim, x->shape, NULL); /* zeros */
    if (ag_tape_error(t)) return ag_tape_poison(t);
    const float keep = p < 1 ? (float)(1.0 / (1.0 - p)) : 0.0f;
    for (int i = 0; i < mask->numel; i++)
        if (nn_rng_uniform(rng) >= p) mask->data[i] = keep;
    return ag_mul(t, x, mask);
}

/* ---- layer normalisation ---------------------------------------------------------------------- */

nn_layernorm nn_layernorm_new(nn_params *ps, const char *name, int n, double eps) {
    nn_layernorm ln = {NULL, NULL, eps};
    if (!name || !(eps > 0) || !isfinite(eps) || n < 1) {
        if (!name) ag_set_last_error("nn_layernorm_new: name is NULL");
        else if (n < 1) ag_set_last_error("nn_layernorm_new: size %d is not at least 1", n);
        else ag_set_last_error("nn_layernorm_new: eps = %g must be finite and above 0", eps);
        return ln;
    }
    char gname[64], bname[64];
    if (snprintf(gname, sizeof gname, "%s.gain", name) >= (int)sizeof gname ||
        snprintf(bname, sizeof bname, "%s.bias", name) >= (int)sizeof bname) {
        ag_set_last_error("nn_layernorm_new: parameter name '%s.gain' is too long (63 characters "
                          "at most)", name);
        return ln;
    }
    const int count = nn_params_count(ps);
    const int shape[2] = {1, n};
    ag_tensor *gain = nn_param_new(ps, gname, 2, shape);
    ag_tensor *bias = gain ? nn_param_new(ps, bname, 2, shape) : NULL;
    if (!bias) {
        nn_params_roll_back(ps, count);
        return ln;
    }
    for (int i = 0; i < n; i++) gain->data[i] = 1.0f; /* bias stays 0: y = x_hat at first */
    ln.gain = gain;
    ln.bias = bias;
    return ln;
}

/* y = (x - mean) / sqrt(var + eps) * gain + bias, mean and (biased) var over the last axis:
 * (..., N) with gain, bias (1,N) -> (..., N). */
ag_tensor *nn_layernorm_forward(ag_tape *t, const nn_layernorm *ln, ag_tensor *x) {
    if (!ag_tape_ok(t, "layernorm", 1, &x)) return ag_tape_poison(t);
    if (!ln || !ln->gain || !ln->bias)
        return ag_tape_fail(t, "layernorm: %s", ln ? "layer has no parameters (its creation failed)"
                                                   : "layer is NULL");
    const int n = ln->gain->shape[1];
    if (x->shape[x->ndim - 1] != n) {
        char s[64];
        return ag_tape_fail(t, "layernorm: input %s: last axis is not the layer's %d",
                            ag_shape_str(x, s, sizeof s), n);
    }
    ag_tensor *mean = ag_mean_axis(t, x, -1);                        /* (...,1) */
    ag_tensor *centred = ag_sub(t, x, mean);                         /* (...,N) */
    ag_tensor *var = ag_mean_axis(t, ag_square(t, centred), -1);     /* (...,1) */
    ag_tensor *inv_std = ag_pow(t, ag_add_const(t, var, ln->eps), -0.5);
    ag_tensor *x_hat = ag_mul(t, centred, inv_std);                  /* (...,N) */
    return ag_add(t, ag_mul(t, x_hat, ln->gain), ln->bias);
}
