/*
 * layers.c -- dense layers, multilayer perceptrons and the unfolded recurrent layer, each a
 * forward function made of autograd ops (their gradients come from the tape).
 */
#include "nn.h"

#include <stdlib.h>
#include <string.h>

const char *nn_act_name(nn_act act) {
    switch (act) {
    case NN_SIGMOID: return "sigmoid";
    case NN_TANH: return "tanh";
    case NN_RELU: return "relu";
    case NN_IDENTITY: return "identity";
    }
    return "unknown";
}

ag_tensor *nn_activate(ag_tape *t, ag_tensor *x, nn_act act) {
    if (!ag_tape_ok(t, "activate", 0, NULL)) return ag_tape_poison(t);
    if (!x) return ag_tape_fail(t, "activate: input is NULL");
    switch (act) {
    case NN_SIGMOID: return ag_sigmoid(t, x);
    case NN_TANH: return ag_tanh(t, x);
    case NN_RELU: return ag_relu(t, x);
    case NN_IDENTITY: return x;
    }
    return ag_tape_fail(t, "activate: unknown activation %d", (int)act);
}

static bool act_ok(nn_act act) { return act >= NN_SIGMOID && act <= NN_IDENTITY; }

/* A named parameter NAME.SUFFIX of shape (rows, cols), filled by init. */
static ag_tensor *make_param(nn_params *ps, const char *name, const char *suffix, int rows,
                             int cols, nn_init init, int fan_in, int fan_out, bool is_bias,
                             nn_rng *rng) {
    char full[64];
    if (snprintf(full, sizeof full, "%s.%s", name, suffix) >= (int)sizeof full) {
        ag_set_last_error("nn: parameter name '%s.%s' is too long (63 characters at most)", name,
                          suffix);
        return NULL;
    }
    int shape[2] = {rows, cols};
    ag_tensor *x = nn_param_new(ps, full, 2, shape);
    if (x && nn_init_fill(x, init, fan_in, fan_out, is_bias, rng) != 0) return NULL;
    return x;
}

/* ---- dense ---------------------------------------------------------------------------------- */

nn_dense nn_dense_new(nn_params *ps, const char *name, int in, int out, nn_act act, nn_init init,
                      nn_rng *rng) {
    nn_dense d = {NULL, NULL, act};
    if (!name || !rng || !act_ok(act)) {
        ag_set_last_error("nn_dense_new: %s", !name ? "name is NULL"
                                              : !rng ? "rng is NULL"
                                                     : "unknown activation");
        return d;
    }
    ag_tensor *W = make_param(ps, name, "W", in, out, init, in, out, false, rng);
    ag_tensor *b = W ? make_param(ps, name, "b", 1, out, init, in, out, true, rng) : NULL;
    if (W && b) {
        d.W = W;
        d.b = b;
    }
    return d;
}

/* y = f(x W + b)      (B,in) @ (in,out) + (1,out) -> (B,out) */
ag_tensor *nn_dense_forward(ag_tape *t, const nn_dense *layer, ag_tensor *x) {
    if (!ag_tape_ok(t, "dense", 0, NULL)) return ag_tape_poison(t);
    if (!layer || !layer->W || !layer->b)
        return ag_tape_fail(t, "dense: %s", layer ? "layer has no weights (its creation failed)"
                                                  : "layer is NULL");
    if (x && !(x->flags & AG_POISONED) && x->ndim == 2 && x->shape[1] != layer->W->shape[0]) {
        char s[64];
        return ag_tape_fail(t, "dense %s: input %s has %d columns, the layer expects %d",
                            layer->W->name, ag_shape_str(x, s, sizeof s), x->shape[1],
                            layer->W->shape[0]);
    }
    return nn_activate(t, ag_add(t, ag_matmul(t, x, layer->W), layer->b), layer->act);
}

/* ---- multilayer perceptron ------------------------------------------------------------------ */

/* Parse "6-2-1" into sizes[]; returns the count, or -1. */
static int parse_sizes(const char *s, int *sizes, int max) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1000000 || n == max) return -1;
        sizes[n++] = (int)v;
        if (*end == '-' && end[1]) p = end + 1;
        else if (*end == '\0') p = end;
        else return -1;
    }
    return n;
}

nn_mlp nn_mlp_new(nn_params *ps, const char *name, const char *sizes, nn_act hidden_act,
                  nn_act out_act, nn_init init, nn_rng *rng) {
    nn_mlp m;
    memset(&m, 0, sizeof m);
    int sz[NN_MLP_MAX_LAYERS + 1];
    int n = sizes ? parse_sizes(sizes, sz, NN_MLP_MAX_LAYERS + 1) : -1;
    if (!name || n < 2) {
        ag_set_last_error("nn_mlp_new: %s", !name ? "name is NULL"
                                            : "sizes must look like \"6-2-1\": 2 to 17 positive "
                                              "numbers joined by '-'");
        return m;
    }
    for (int l = 0; l < n - 1; l++) {
        char lname[48];
        snprintf(lname, sizeof lname, "%s.%d", name, l + 1);
        m.layer[l] = nn_dense_new(ps, lname, sz[l], sz[l + 1], l == n - 2 ? out_act : hidden_act,
                                  init, rng);
        if (!m.layer[l].W) {
            memset(&m, 0, sizeof m);
            return m;
        }
    }
    m.nlayers = n - 1;
    return m;
}

ag_tensor *nn_mlp_forward(ag_tape *t, const nn_mlp *net, ag_tensor *x) {
    if (!ag_tape_ok(t, "mlp", 0, NULL)) return ag_tape_poison(t);
    if (!net || net->nlayers < 1)
        return ag_tape_fail(t, "mlp: %s", net ? "net has no layers (its creation failed)"
                                              : "net is NULL");
    if (net->nlayers > NN_MLP_MAX_LAYERS)
        return ag_tape_fail(t, "mlp: net has %d layers (at most %d)", net->nlayers,
                            NN_MLP_MAX_LAYERS);
    for (int l = 0; l < net->nlayers; l++) x = nn_dense_forward(t, &net->layer[l], x);
    return x;
}

/* ---- recurrent ------------------------------------------------------------------------------ */

nn_recurrent nn_recurrent_new(nn_params *ps, const char *name, int in, int hidden, nn_act act,
                              nn_init init, nn_rng *rng) {
    nn_recurrent r = {NULL, NULL, NULL, act};
    if (!name || !rng || !act_ok(act)) {
        ag_set_last_error("nn_recurrent_new: %s", !name ? "name is NULL"
                                                  : !rng ? "rng is NULL"
                                                         : "unknown activation");
        return r;
    }
    ag_tensor *W = make_param(ps, name, "W", hidden, hidden, init, hidden, hidden, false, rng);
    ag_tensor *U = W ? make_param(ps, name, "U", in, hidden, init, in, hidden, false, rng) : NULL;
    ag_tensor *b = U ? make_param(ps, name, "b", 1, hidden, init, in, hidden, true, rng) : NULL;
    if (W && U && b) {
        r.W = W;
        r.U = U;
        r.b = b;
    }
    return r;
}

/* h' = f(h W + x U + b)    (B,H) @ (H,H) + (B,I) @ (I,H) + (1,H) -> (B,H) */
ag_tensor *nn_recurrent_step(ag_tape *t, const nn_recurrent *net, ag_tensor *h, ag_tensor *x) {
    if (!ag_tape_ok(t, "recurrent", 0, NULL)) return ag_tape_poison(t);
    if (!net || !net->W)
        return ag_tape_fail(t, "recurrent: %s", net ? "layer has no weights (its creation failed)"
                                                    : "layer is NULL");
    ag_tensor *z = NULL;
    if (h) z = ag_matmul(t, h, net->W);
    if (x) {
        ag_tensor *xu = ag_matmul(t, x, net->U);
        z = z ? ag_add(t, z, xu) : xu;
    }
    if (!z) return ag_tape_fail(t, "recurrent: a step needs a state h or an input x (both NULL)");
    return nn_activate(t, ag_add(t, z, net->b), net->act);
}
