/*
 * conv.c -- the convolutional layer: a 2-D convolution with a bias per output channel and an
 * activation, made of autograd ops (ag_conv2d, then nn_activate), so its gradients come from
 * the tape.
 */
#include "nn_private.h"

#include <stdio.h>

nn_conv2d nn_conv2d_new(nn_params *ps, const char *name, int in_channels, int out_channels,
                        int kernel, int stride, int padding, nn_act act, nn_init init,
                        nn_rng *rng) {
    nn_conv2d c = {NULL, NULL, stride, padding, act};
    if (!name || !rng || act < NN_SIGMOID || act > NN_IDENTITY) {
        ag_set_last_error("nn_conv2d_new: %s", !name ? "name is NULL"
                                                : !rng ? "rng is NULL"
                                                       : "unknown activation");
        return c;
    }
    if (in_channels < 1 || out_channels < 1 || kernel < 1) {
        ag_set_last_error("nn_conv2d_new '%s': channels in %d, out %d, kernel %d: each must be at "
                          "least 1", name, in_channels, out_channels, kernel);
        return c;
    }
    if (stride < 1 || padding < 0) {
        ag_set_last_error("nn_conv2d_new '%s': stride %d must be >= 1 and padding %d >= 0", name,
                          stride, padding);
        return c;
    }
    const double numel = (double)out_channels * in_channels * kernel * kernel;
    if (numel > (double)AG_MAX_NUMEL) {
        ag_set_last_error("nn_conv2d_new '%s': %d x %d x %d x %d weights: absurd size: more than "
                          "%ld elements", name, out_channels, in_channels, kernel, kernel,
                          (long)AG_MAX_NUMEL);
        return c;
    }
    char wname[64], bname[64];
    if (snprintf(wname, sizeof wname, "%s.W", name) >= (int)sizeof wname ||
        snprintf(bname, sizeof bname, "%s.b", name) >= (int)sizeof bname) {
        ag_set_last_error("nn_conv2d_new: parameter name '%s.W' is too long (63 characters at "
                          "most)", name);
        return c;
    }
    /* PyTorch's fans for a convolution: a weight sees C*K*K inputs and feeds OC*K*K outputs. */
    const int fan_in = in_channels * kernel * kernel, fan_out = out_channels * kernel * kernel;
    const int count = nn_params_count(ps);
    const nn_rng start = *rng;
    ag_tensor *W = nn_param_new(ps, wname, 4, (const int[]){out_channels, in_channels, kernel, kernel});
    if (W && nn_init_fill(W, init, fan_in, fan_out, false, rng) != 0) W = NULL;
    ag_tensor *b = W ? nn_param_new(ps, bname, 1, (const int[]){out_channels}) : NULL;
    if (b && nn_init_fill(b, init, fan_in, fan_out, true, rng) != 0) b = NULL;
    if (!b) {
        nn_params_roll_back(ps, count);
        *rng = start;
        return c;
    }
    c.W = W;
    c.b = b;
    return c;
}

/* y = f(conv2d(x, W) + b)      (N,C,H,W) -> (N,OC,OH,OW) */
ag_tensor *nn_conv2d_forward(ag_tape *t, const nn_conv2d *layer, ag_tensor *x) {
    if (!ag_tape_ok(t, "conv2d layer", 0, NULL)) return ag_tape_poison(t);
    if (!layer || !layer->W || !layer->b)
        return ag_tape_fail(t, "conv2d layer: %s", layer ? "layer has no weights (its creation "
                                                           "failed)"
                                                         : "layer is NULL");
    return nn_activate(t, ag_conv2d(t, x, layer->W, layer->b, layer->stride, layer->padding, 1),
                       layer->act);
}
