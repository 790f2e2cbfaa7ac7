/*
 * layers.c -- dense layers, multilayer perceptrons and the unfolded recurrent layer, each a
 * forward function made of autograd ops (their gradients come from the tape).
 */
#include "nn_private.h"

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

/* The fused layer's name for an activation (act_ok). */
static ag_act linear_act(nn_act act) {
    switch (act) {
    case NN_SIGMOID: return AG_ACT_SIGMOID;
    case NN_TANH: return AG_ACT_TANH;
    case NN_RELU: return AG_ACT_RELU;
    case NN_IDENTITY: break;
    }
    return AG_ACT_IDENTITY;
}

/* A named parameter NAME.SUFFIX of shape (rows, cols), filled by init; fn names the constructor
 * in messages. A parameter made before the fill failed stays in the list: the constructor rolls
 * the list back (see undo_creation). */
static ag_tensor *make_param(const char *fn, nn_params *ps, const char *name, const char *suffix,
                             int rows, int cols, nn_init init, int fan_in, int fan_out,
                             bool is_bias, nn_rng *rng) {
    char full[64];
    if (snprintf(full, sizeof full, "%s.%s", name, suffix) >= (int)sizeof full) {
        ag_set_last_error("%s: parameter name '%s.%s' is too long (63 characters at most)", fn,
                          name, suffix);
        return NULL;
    }
    if (rows >= 1 && cols >= 1 && (long long)rows * cols > AG_MAX_NUMEL) {
        ag_set_last_error("%s '%s': %d x %d = %lld elements: absurd size: more than %ld", fn, full,
                          rows, cols, (long long)rows * cols, (long)AG_MAX_NUMEL);
        return NULL;
    }
    int shape[2] = {rows, cols};
    ag_tensor *x = nn_param_new(ps, full, 2, shape);
    if (x && nn_init_fill(x, init, fan_in, fan_out, is_bias, rng) != 0) return NULL;
    return x;
}

/* Creation is all or nothing: a constructor that fails removes every parameter it added (the
 * list goes back to the `count` it held) and puts the generator back where it started. */
static void undo_creation(nn_params *ps, int count, nn_rng *rng, const nn_rng *start) {
    nn_params_roll_back(ps, count);
    if (rng) *rng = *start;
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
    const int count = nn_params_count(ps);
    const nn_rng start = *rng;
    ag_tensor *W = make_param("nn_dense_new", ps, name, "W", in, out, init, in, out, false, rng);
    ag_tensor *b = W ? make_param("nn_dense_new", ps, name, "b", 1, out, init, in, out, true, rng)
                     : NULL;
    if (!b) {
        undo_creation(ps, count, rng, &start);
        return d;
    }
    d.W = W;
    d.b = b;
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
    if (!act_ok(layer->act))
        return ag_tape_fail(t, "dense %s: unknown activation %d", layer->W->name, (int)layer->act);
    return ag_linear(t, x, layer->W, layer->b, linear_act(layer->act)); /* one fused node */
}

/* ---- multilayer perceptron ------------------------------------------------------------------ */

/* The largest size a layer-size string may give. */
#define MLP_MAX_SIZE 1000000

/* c as the message shows it: 'x' when printable, else its byte value. */
static const char *char_shown(unsigned char c, char *buf, size_t size) {
    if (c >= 0x20 && c < 0x7f) snprintf(buf, size, "'%c'", c);
    else snprintf(buf, size, "byte 0x%02x", c);
    return buf;
}

/* Parse a layer-size string, strictly:
 *   sizes  := number ( '-' number )*        nothing before, between or after
 *   number := digit digit*                  '0' to '9' only: no sign, no space
 * each number from 1 to MLP_MAX_SIZE, at most max of them. Writes them to sizes[] and returns
 * the count, or -1 with the reason in why (why_size bytes). */
static int parse_sizes(const char *s, int *sizes, int max, char *why, size_t why_size) {
    int n = 0;
    const char *p = s;
    char shown[16];
    for (;;) {
        const char *start = p;
        long v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v <= MLP_MAX_SIZE) v = 10 * v + (*p - '0'); /* stops growing once too big */
            p++;
        }
        if (p == start) {
            if (*p == '\0' || *p == '-')
                snprintf(why, why_size, "size %d is empty (character %d)", n + 1, (int)(p - s) + 1);
            else
                snprintf(why, why_size, "character %d (%s) is not a digit or '-'", (int)(p - s) + 1,
                         char_shown((unsigned char)*p, shown, sizeof shown));
            return -1;
        }
        if (v < 1 || v > MLP_MAX_SIZE) {
            const int digits = (int)(p - start);
            snprintf(why, why_size, "size %d (%.*s%s) is %s %d", n + 1, digits > 12 ? 12 : digits,
                     start, digits > 12 ? "..." : "", v < 1 ? "0, less than" : "more than",
                     v < 1 ? 1 : MLP_MAX_SIZE);
            return -1;
        }
        if (n == max) {
            snprintf(why, why_size, "more than %d sizes", max);
            return -1;
        }
        sizes[n++] = (int)v;
        if (*p == '\0') return n;
        if (*p != '-') {
            snprintf(why, why_size, "character %d (%s) is not a digit or '-'", (int)(p - s) + 1,
                     char_shown((unsigned char)*p, shown, sizeof shown));
            return -1;
        }
        p++;
    }
}

nn_mlp nn_mlp_new(nn_params *ps, const char *name, const char *sizes, nn_act hidden_act,
                  nn_act out_act, nn_init init, nn_rng *rng) {
    nn_mlp m;
    memset(&m, 0, sizeof m);
    int sz[NN_MLP_MAX_LAYERS + 1];
    char why[96] = "sizes is NULL";
    int n = sizes ? parse_sizes(sizes, sz, NN_MLP_MAX_LAYERS + 1, why, sizeof why) : -1;
    if (n == 1) snprintf(why, sizeof why, "only one size (%d)", sz[0]);
    if (!name || n < 2) {
        if (!name) ag_set_last_error("nn_mlp_new: name is NULL");
        else
            ag_set_last_error("nn_mlp_new: sizes must look like \"6-2-1\": 2 to %d numbers from 1 "
                              "to %d joined by '-', digits only; here %s",
                              NN_MLP_MAX_LAYERS + 1, MLP_MAX_SIZE, why);
        return m;
    }
    const int count = nn_params_count(ps);
    const nn_rng start = rng ? *rng : nn_rng_seed(0);
    for (int l = 0; l < n - 1; l++) {
        char lname[64];
        if (snprintf(lname, sizeof lname, "%s.%d", name, l + 1) >= (int)sizeof lname) {
            ag_set_last_error("nn_mlp_new: name '%s' is too long", name);
        } else {
            m.layer[l] = nn_dense_new(ps, lname, sz[l], sz[l + 1],
                                      l == n - 2 ? out_act : hidden_act, init, rng);
            if (m.layer[l].W) continue;
            char inner[200];
            snprintf(inner, sizeof inner, "%s", ag_last_error());
            ag_set_last_error("nn_mlp_new: layer %d: %s", l + 1, inner);
        }
        undo_creation(ps, count, rng, &start);
        memset(&m, 0, sizeof m);
        return m;
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
    const char *fn = "nn_recurrent_new";
    const int count = nn_params_count(ps);
    const nn_rng start = *rng;
    ag_tensor *W = make_param(fn, ps, name, "W", hidden, hidden, init, hidden, hidden, false, rng);
    ag_tensor *U = W ? make_param(fn, ps, name, "U", in, hidden, init, in, hidden, false, rng) : NULL;
    ag_tensor *b = U ? make_param(fn, ps, name, "b", 1, hidden, init, in, hidden, true, rng) : NULL;
    if (!b) {
        undo_creation(ps, count, rng, &start);
        return r;
    }
    r.W = W;
    r.U = U;
    r.b = b;
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
