/*
 * nn.h -- layers, nets, losses and optimisers built from autograd ops (prefix nn_).
 *
 * Nothing here has a backward pass of its own: every layer records autograd ops on the tape,
 * and ag_backward differentiates it. The paper's symmetry net, read like the paper:
 *
 *   nn_params *ps = nn_params_new();
 *   nn_rng rng = nn_rng_seed(1);
 *   nn_dense hid = nn_dense_new(ps, "hidden", 6, 2, NN_SIGMOID, nn_init_uniform(0.3), &rng);
 *   nn_dense out = nn_dense_new(ps, "output", 2, 1, NN_SIGMOID, nn_init_uniform(0.3), &rng);
 *   nn_optim *opt = nn_sgd_new(ps, 0.1, 0.9);          // dw(t) = -eps dE/dw + alpha dw(t-1)
 *   ag_tape *t = ag_tape_new();
 *   for (int sweep = 0; sweep < 1425; sweep++) {
 *       ag_tensor *y = nn_dense_forward(t, &out, nn_dense_forward(t, &hid, X));  // (64,6) -> (64,1)
 *       ag_tensor *E = ag_sse(t, y, D);                   // E = 1/2 sum (y - d)^2
 *       ag_backward(t, E);                                // the reverse sweep
 *       if (nn_optim_step(opt, t) != 0) { fprintf(stderr, "%s\n", nn_error(t)); break; }
 *       ag_tape_reset(t);                                 // O(1): all intermediates gone
 *   }
 *   nn_optim_free(opt); nn_params_free(ps); ag_tape_free(t);
 *
 * OWNERSHIP. A parameter list owns every parameter created in it and frees them all in
 * nn_params_free. Layers (nn_dense, nn_mlp, nn_recurrent, nn_conv2d, nn_lstm, nn_gru) are small structs
 * you keep by value: they point at parameters in a list and own nothing, so they need no free.
 * An optimiser owns its state (momentum buffers, Adam moments) and must be freed before its
 * parameter list.
 *
 * ERRORS. Functions that make things (lists, parameters, layers, optimisers) return NULL, -1 or
 * a layer with NULL weights on failure, with the reason in ag_last_error(). Using such a layer
 * on a tape fails the tape with a message that says so. Forward functions fail through the
 * tape, like every op. Making a layer is all or nothing: a constructor that fails (a bad
 * setting, a name taken, no memory) leaves the list and the generator exactly as they were, so
 * a retry under the same name works and optimisers and nn_save never see half a layer.
 */
#ifndef BACKPROP_NN_H
#define BACKPROP_NN_H

#include "autograd.h"

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* ---------------------------------------------------------------------------------------------
 * Random numbers: a small seeded generator (splitmix64). The same seed gives the same numbers
 * on every platform; uniform draws (and so every initialisation below) are bit-exact.
 * A NULL generator gives 0 (nn_rng_range: lo) and the reason in ag_last_error().
 * ------------------------------------------------------------------------------------------- */

typedef struct nn_rng {
    uint64_t state;
} nn_rng;

nn_rng nn_rng_seed(uint64_t seed);                 /* a generator started from seed (a value) */
uint64_t nn_rng_next(nn_rng *r);                   /* 64 random bits */
double nn_rng_uniform(nn_rng *r);                  /* uniform in [0, 1) */
double nn_rng_range(nn_rng *r, double lo, double hi); /* uniform in [lo, hi) */
double nn_rng_normal(nn_rng *r);                   /* standard normal (Box-Muller) */
int nn_rng_int(nn_rng *r, int n);                  /* uniform in 0 .. n-1 (n >= 1) */
void nn_rng_shuffle(nn_rng *r, int *a, int n);     /* Fisher-Yates shuffle of a[0..n-1] */

/* ---------------------------------------------------------------------------------------------
 * Initialisation
 * ------------------------------------------------------------------------------------------- */

typedef enum { NN_INIT_UNIFORM, NN_INIT_XAVIER, NN_INIT_HE } nn_init_kind;
typedef struct nn_init {
    nn_init_kind kind;
    double r; /* NN_INIT_UNIFORM: the range [-r, r] */
} nn_init;

/* Uniform in [-r, r] for weights AND biases (the paper's: a bias is a weight from a unit that is
 * always on; r = 0.3 in the paper). */
nn_init nn_init_uniform(double r);
/* Xavier/Glorot uniform: U[-s, s], s = sqrt(6 / (fan_in + fan_out)); biases start at 0. */
nn_init nn_init_xavier(void);
/* He/Kaiming uniform (for relu): U[-s, s], s = sqrt(6 / fan_in); biases start at 0. */
nn_init nn_init_he(void);

/* Fill w with init's distribution for a layer of fan_in inputs and fan_out outputs; is_bias
 * picks the bias rule. Returns 0, or -1 for NULL arguments. */
int nn_init_fill(ag_tensor *w, nn_init init, int fan_in, int fan_out, bool is_bias, nn_rng *rng);

/* ---------------------------------------------------------------------------------------------
 * Parameters: named tensors that live outside any tape, collected in a list that optimisers,
 * save/load and printing walk over.
 * ------------------------------------------------------------------------------------------- */

typedef struct nn_params nn_params;

nn_params *nn_params_new(void);       /* an empty list, or NULL when out of memory */
void nn_params_free(nn_params *ps);   /* free the list and every parameter in it; NULL ok */

/* A new zero-filled parameter (requires a gradient) owned by the list: never ag_tensor_free
 * it. Names are unique, 1 to 63 characters, and copied. NULL on error (duplicate name, bad
 * shape, no memory). */
ag_tensor *nn_param_new(nn_params *ps, const char *name, int ndim, const int *shape);

int nn_params_count(const nn_params *ps);                        /* how many */
ag_tensor *nn_params_at(const nn_params *ps, int i);             /* the i-th, or NULL */
ag_tensor *nn_params_find(const nn_params *ps, const char *name); /* by name, or NULL */
long nn_params_numel(const nn_params *ps);                       /* total elements */
void nn_zero_grad(nn_params *ps);                                /* every gradient to 0 */
/* Clip the gradients by their joint norm (PyTorch's clip_grad_norm_): with
 * norm = sqrt(sum over every parameter's gradient of g^2), every gradient is multiplied by
 * max_norm / norm when norm > max_norm, and left alone otherwise. Returns the norm BEFORE
 * clipping. A NaN or infinite norm is reported, not clipped: it is returned, the gradients are
 * left as they are and ag_last_error() says so (skip the step; nn_optim_step refuses them too).
 * max_norm must be > 0 (INFINITY only measures); else, or for a NULL ps, -1 (ag_last_error). */
double nn_clip_grad_norm(nn_params *ps, double max_norm);
/* One line per parameter: name, shape, and its values when it has at most max_values. */
void nn_params_print(const nn_params *ps, FILE *f, int max_values);

/* All gradients as one buffer, to hand to any all-reduce (MPI, sockets, ...) in one call; the
 * library itself never communicates (mpi/ and docs/scale-out.md show one use). THE LAYOUT:
 * nn_params_numel(ps) floats, the gradient of parameter 0 (nn_params_at(ps, 0)), then of
 * parameter 1, ... in list order (the order they were made in), each row-major, back to back
 * with no padding: parameter i starts at the sum of numel of parameters 0..i-1.
 * pack copies the gradients into buf; unpack copies buf over them (values as they are:
 * nn_optim_step refuses NaN/Inf). n must be nn_params_numel(ps) and every parameter must have
 * a gradient; else -1 with the reason in ag_last_error() and nothing written. Returns 0. */
int nn_grads_pack(const nn_params *ps, float *buf, long n);
int nn_grads_unpack(nn_params *ps, const float *buf, long n);

/* ---------------------------------------------------------------------------------------------
 * Layers
 * ------------------------------------------------------------------------------------------- */

typedef enum { NN_SIGMOID, NN_TANH, NN_RELU, NN_IDENTITY } nn_act;

/* f(x) for one of the activations; NN_IDENTITY returns x itself (records nothing). */
ag_tensor *nn_activate(ag_tape *t, ag_tensor *x, nn_act act);
const char *nn_act_name(nn_act act); /* "sigmoid", "tanh", "relu", "identity" (static) */

/* A dense layer y = f(x W + b): W is (in,out), b is (1,out), named NAME.W and NAME.b. */
typedef struct nn_dense {
    ag_tensor *W, *b;
    nn_act act;
} nn_dense;

/* Create the layer's parameters in ps. On failure W and b are NULL (see ag_last_error) and ps
 * and rng are unchanged. */
nn_dense nn_dense_new(nn_params *ps, const char *name, int in, int out, nn_act act, nn_init init,
                      nn_rng *rng);
/* (B,in) -> (B,out). */
ag_tensor *nn_dense_forward(ag_tape *t, const nn_dense *layer, ag_tensor *x);

/* A multilayer perceptron: dense layers of the sizes in a string like "6-2-1", hidden_act on the
 * hidden layers and out_act on the last. Parameters NAME.1.W, NAME.1.b, NAME.2.W, ... The string
 * is 2 to NN_MLP_MAX_LAYERS + 1 numbers joined by single '-', each number decimal digits only
 * (no sign, no space, nothing before or after) with a value from 1 to 1000000; anything else is
 * refused with the reason. */
#define NN_MLP_MAX_LAYERS 16
typedef struct nn_mlp {
    int nlayers; /* 0 when creation failed */
    nn_dense layer[NN_MLP_MAX_LAYERS];
} nn_mlp;

/* Create the net's parameters in ps; on failure nlayers is 0 (see ag_last_error). */
nn_mlp nn_mlp_new(nn_params *ps, const char *name, const char *sizes, nn_act hidden_act,
                  nn_act out_act, nn_init init, nn_rng *rng);
/* (B, sizes[0]) -> (B, sizes[last]). */
ag_tensor *nn_mlp_forward(ag_tape *t, const nn_mlp *net, ag_tensor *x);

/* A recurrent layer (the paper's iterative net, figure 5, and the Elman net):
 *   h(t+1) = f(h(t) W + x(t) U + b)      W (hidden,hidden), U (in,hidden), b (1,hidden)
 * Unfolding it for T steps records the SAME W on the tape T times, so ag_backward gives W the
 * sum of the gradients of its T copies. Parameters NAME.W, NAME.U, NAME.b. */
typedef struct nn_recurrent {
    ag_tensor *W, *U, *b;
    nn_act act;
} nn_recurrent;

/* Create W, U and b in ps; on failure W is NULL (see ag_last_error). */
nn_recurrent nn_recurrent_new(nn_params *ps, const char *name, int in, int hidden, nn_act act,
                              nn_init init, nn_rng *rng);
/* One step: (B,hidden), (B,in) -> (B,hidden). h NULL means the zero state (the h W term is
 * left out); x NULL means no input at this step (the x U term is left out). */
ag_tensor *nn_recurrent_step(ag_tape *t, const nn_recurrent *net, ag_tensor *h, ag_tensor *x);

/* ---------------------------------------------------------------------------------------------
 * Unfolded runs: the paper's iterative net for T steps (figure 5), with inputs and targets at
 * any steps, and the Elman form (a recurrent layer with a readout) for sequence models. Every
 * step records the same weights on the tape again; how the T copies' gradients combine:
 *   NN_COPIES_SUM      dE/dw = the sum over the copies (the plain chain rule; the default)
 *   NN_COPIES_AVERAGE  dE/dw = their average, the paper's rule for keeping copies equal (the same
 *                      as the sum with eps divided by the number of copies). It is recorded on
 *                      the tape (w' = (w/n - c/n) + c with c a constant copy: w' is w exactly,
 *                      dw'/dw = 1/n), so ag_backward alone still computes every gradient.
 * The arrays passed in (xs, ys, states) are the caller's; the tensors written into them are tape
 * tensors, valid until the next reset.
 * ------------------------------------------------------------------------------------------- */

typedef enum { NN_COPIES_SUM = 0, NN_COPIES_AVERAGE = 1 } nn_copies;

/* Run the net for T steps: h(k) = f(h(k-1) W + x(k) U + b), k = 1..T, from h(0) = h0 (NULL: the
 * zero state), with xs[k-1] the input at step k (xs NULL, or an entry NULL: no input then).
 * states (may be NULL) receives h(1)..h(T) in states[0..T-1]. Returns h(T). */
ag_tensor *nn_recurrent_unfold(ag_tape *t, const nn_recurrent *net, ag_tensor *h0,
                               ag_tensor *const *xs, int T, nn_copies copies, ag_tensor **states);

/* The Elman net: the recurrent layer above, read out at every step by a dense layer,
 * y(k) = g(h(k) V + c). Parameters NAME.W, NAME.U, NAME.b, NAME.out.W, NAME.out.b. It keeps
 * pointers into ps, like every layer; on failure rec.W is NULL (see ag_last_error). */
typedef struct nn_elman {
    nn_recurrent rec;
    nn_dense out;
} nn_elman;

/* Create its parameters in ps; on failure rec.W is NULL (see ag_last_error). */
nn_elman nn_elman_new(nn_params *ps, const char *name, int in, int hidden, int out,
                      nn_act hidden_act, nn_act out_act, nn_init init, nn_rng *rng);
/* Run it for T steps as nn_recurrent_unfold does; ys[0..T-1] (required) receives y(1)..y(T),
 * states (may be NULL) h(1)..h(T). The readout's copies follow `copies` too. Returns y(T). */
ag_tensor *nn_elman_forward(ag_tape *t, const nn_elman *net, ag_tensor *h0, ag_tensor *const *xs,
                            int T, nn_copies copies, ag_tensor **ys, ag_tensor **states);

/* The error of a run with targets at any steps: the sum over the steps k with ds[k] != NULL of
 * 1/2 sum (ys[k] - ds[k])^2, or of nn_sse_margin(ys[k], ds[k], margin) when margin > 0. */
ag_tensor *nn_sse_steps(ag_tape *t, ag_tensor *const *ys, ag_tensor *const *ds, int T,
                        double margin);

/* ---------------------------------------------------------------------------------------------
 * Dropout and layer normalisation, built from ops
 * ------------------------------------------------------------------------------------------- */

/* Dropout (PyTorch's nn.Dropout), any shape -> the same shape. training = true (the train
 * switch): each element is zeroed with probability p and the others scaled by 1/(1-p), so the
 * expected value is unchanged; the mask is a tape constant drawn from rng, one uniform draw per
 * element in row-major order, so a run is repeatable from rng's seed. training = false (eval):
 * x itself, nothing recorded, rng untouched (may be NULL). p in [0, 1] (p = 1 gives zeros);
 * else, or a NULL rng in training, the tape fails. */
ag_tensor *nn_dropout(ag_tape *t, ag_tensor *x, double p, bool training, nn_rng *rng);

/* Layer normalisation (PyTorch's nn.LayerNorm over the last axis) with a learned gain (starts
 * at 1) and bias (starts at 0), both (1,N) and named NAME.gain and NAME.bias. */
typedef struct nn_layernorm {
    ag_tensor *gain, *bias;
    double eps; /* added to the variance: 1e-5 is PyTorch's */
} nn_layernorm;

/* Create gain and bias in ps for rows of n features; on failure gain is NULL (see
 * ag_last_error) and ps is unchanged. eps must be finite and above 0. */
nn_layernorm nn_layernorm_new(nn_params *ps, const char *name, int n, double eps);

/* (..., N) -> (..., N): y = (x - mean) / sqrt(var + eps) * gain + bias, the mean and the biased
 * variance taken over the last axis of each row. */
ag_tensor *nn_layernorm_forward(ag_tape *t, const nn_layernorm *ln, ag_tensor *x);

/* A 2-D convolutional layer y = f(conv2d(x, W) + b) (nn/conv.c): W is (OC,C,K,K) and b (OC),
 * named NAME.W and NAME.b, as PyTorch's nn.Conv2d weight and bias; square kernels, the same
 * stride and zero padding along both axes. Init uses fan_in C*K*K and fan_out OC*K*K. */
typedef struct nn_conv2d {
    ag_tensor *W, *b;
    int stride, padding;
    nn_act act;
} nn_conv2d;

/* Create W and b in ps (channels and kernel >= 1, stride >= 1, padding >= 0). All or nothing:
 * on failure W and b are NULL (see ag_last_error), ps holds what it held and rng is unchanged. */
nn_conv2d nn_conv2d_new(nn_params *ps, const char *name, int in_channels, int out_channels,
                        int kernel, int stride, int padding, nn_act act, nn_init init,
                        nn_rng *rng);
/* (N,C,H,W) -> (N,OC,OH,OW), OH = (H + 2 padding - K) / stride + 1 (rounded down), OW alike. */
ag_tensor *nn_conv2d_forward(ag_tape *t, const nn_conv2d *layer, ag_tensor *x);

/* ---------------------------------------------------------------------------------------------
 * Gated recurrent cells: LSTM and GRU, PyTorch's formulas and gate order (nn/gated.c)
 *
 * Each cell has four parameters NAME.W_ih (I,G*H), NAME.W_hh (H,G*H), NAME.b_ih (1,G*H) and
 * NAME.b_hh (1,G*H), G = 4 gates for the LSTM, 3 for the GRU; gate k owns columns k*H..k*H+H-1
 * of each. PyTorch keeps the same blocks in the same order transposed: its weight_ih_l0 (G*H,I)
 * is W_ih^T, weight_hh_l0 is W_hh^T, and bias_ih_l0 / bias_hh_l0 are b_ih / b_hh as vectors. A
 * step makes the fused products x W_ih + b_ih and h W_hh + b_hh, (B,G*H), and cuts them into the
 * gates with ag_split on the feature axis. Weights take `init` with fan_in their rows and fan_out
 * H; biases take it as biases (zero for Xavier and He; nn_init_uniform(1/sqrt(H)) on everything
 * is PyTorch's default). In a step h and c NULL mean the zero state; x is required, (B,I).
 * Unfolding records the same four tensors at every step, so ag_backward gives each the SUM of
 * its copies' gradients. Results are tape tensors, valid until the next reset; the arrays passed
 * in (xs, states) are the caller's.
 * ------------------------------------------------------------------------------------------- */

/* LSTM, gates in the order i, f, g, o (torch.nn.LSTM):
 *   [i f g o] = x W_ih + b_ih + h W_hh + b_hh, i f o through sigmoid, g through tanh
 *   c' = f * c + i * g      h' = o * tanh(c')          (* elementwise) */
typedef struct nn_lstm {
    ag_tensor *W_ih, *W_hh, *b_ih, *b_hh;
} nn_lstm;

/* Create its four parameters in ps (in, hidden >= 1). All or nothing: on failure every field is
 * NULL (see ag_last_error), ps holds what it held and rng is unchanged. */
nn_lstm nn_lstm_new(nn_params *ps, const char *name, int in, int hidden, nn_init init,
                    nn_rng *rng);
/* One step: h, c (B,H) (NULL: zero), x (B,I) -> returns h' (B,H) and writes c' (B,H) to
 * *c_out (required; on failure the tape's poisoned tensor, NULL for a NULL tape). */
ag_tensor *nn_lstm_step(ag_tape *t, const nn_lstm *cell, ag_tensor *h, ag_tensor *c, ag_tensor *x,
                        ag_tensor **c_out);
/* T steps from h0, c0 (NULL: zero) over xs[0..T-1] (each (B,I), none NULL). states (may be
 * NULL) receives h(1)..h(T) in states[0..T-1], c_last (may be NULL) c(T) (the poisoned
 * tensor on failure, as *c_out above). Returns h(T). */
ag_tensor *nn_lstm_unfold(ag_tape *t, const nn_lstm *cell, ag_tensor *h0, ag_tensor *c0,
                          ag_tensor *const *xs, int T, ag_tensor **states, ag_tensor **c_last);

/* GRU, gates in the order r, z, n (torch.nn.GRU); the two biases are kept apart because r
 * multiplies the state's product after its bias b_hn:
 *   r = sigmoid(x W_ir + b_ir + h W_hr + b_hr)     z = sigmoid(x W_iz + b_iz + h W_hz + b_hz)
 *   n = tanh(x W_in + b_in + r * (h W_hn + b_hn))  h' = (1 - z) * n + z * h */
typedef struct nn_gru {
    ag_tensor *W_ih, *W_hh, *b_ih, *b_hh;
} nn_gru;

/* Create its four parameters in ps (in, hidden >= 1). All or nothing, as nn_lstm_new. */
nn_gru nn_gru_new(nn_params *ps, const char *name, int in, int hidden, nn_init init, nn_rng *rng);
/* One step: h (B,H) (NULL: zero), x (B,I) -> h' (B,H). */
ag_tensor *nn_gru_step(ag_tape *t, const nn_gru *cell, ag_tensor *h, ag_tensor *x);
/* T steps from h0 (NULL: zero) over xs[0..T-1] (each (B,I), none NULL); states (may be NULL)
 * receives h(1)..h(T). Returns h(T). */
ag_tensor *nn_gru_unfold(ag_tape *t, const nn_gru *cell, ag_tensor *h0, ag_tensor *const *xs,
                         int T, ag_tensor **states);

/* ---------------------------------------------------------------------------------------------
 * Losses (the others are autograd ops: ag_sse, ag_mse, ag_bce, ag_bce_logits, ag_softmax_xent)
 * ------------------------------------------------------------------------------------------- */

/* The paper's family-trees error: E = 1/2 sum (y - d)^2 where an output's error counts as zero
 * once it is within `margin` of its target side: d >= 0.5 and y > 1 - margin, or d < 0.5 and
 * y < margin (the paper's margin is 0.2). Built from autograd ops with a 0/1 mask. */
ag_tensor *nn_sse_margin(ag_tape *t, ag_tensor *y, ag_tensor *d, double margin);

/* ---------------------------------------------------------------------------------------------
 * Optimisers. A step applies the gradients accumulated since the last step (one whole sweep
 * for full-batch training, one mini-batch otherwise), then zeroes them. Each optimiser's
 * settings have a range (docs/format.md lists them all): finite, learning rates and momenta
 * >= 0, the paper's decay, the betas and alpha in [0, 1), eps > 0, AdamW's decay >= 0. A bad
 * value, or a setting the optimiser does not have, is refused (NULL from the constructors; the
 * setters keep the old setting), with the reason in ag_last_error().
 * ------------------------------------------------------------------------------------------- */

typedef struct nn_optim nn_optim;

/* The paper's rule: dw(t) = -lr * dE/dw + momentum * dw(t-1); w += dw(t). */
nn_optim *nn_sgd_new(nn_params *ps, double lr, double momentum);
/* Adam (Kingma & Ba): beta1 = 0.9, beta2 = 0.999, eps = 1e-8 (change with nn_adam_set). */
nn_optim *nn_adam_new(nn_params *ps, double lr);
/* Adam's or AdamW's constants. */
void nn_adam_set(nn_optim *o, double beta1, double beta2, double eps);
/* RMSprop: v = alpha v + (1 - alpha) g^2; b = momentum b + g / (sqrt(v) + eps); w -= lr b, with
 * alpha = 0.99, eps = 1e-8, momentum 0 (change with nn_rmsprop_set, nn_optim_set_momentum). */
nn_optim *nn_rmsprop_new(nn_params *ps, double lr);
void nn_rmsprop_set(nn_optim *o, double alpha, double eps); /* RMSprop's constants */
/* AdamW (Loshchilov & Hutter, as PyTorch's AdamW): w <- (1 - lr weight_decay) w, then Adam's
 * update, with Adam's constants (nn_adam_set changes them). The decay never enters the moments;
 * nn_optim_set_weight_decay changes it (PyTorch's default is 0.01). */
nn_optim *nn_adamw_new(nn_params *ps, double lr, double weight_decay);
void nn_optim_free(nn_optim *o); /* free it and its state, before its list; NULL ok */

void nn_optim_set_lr(nn_optim *o, double lr);             /* the learning rate from now on */
void nn_optim_set_momentum(nn_optim *o, double momentum); /* SGD's alpha, RMSprop's momentum */
/* The paper's weight decay: after each change, every weight shrinks: w <- (1 - decay) w (SGD,
 * Adam, RMSprop). For AdamW, its decoupled decay (see nn_adamw_new). */
void nn_optim_set_weight_decay(nn_optim *o, double decay);

/* Learning-rate schedules, saved with the optimiser. The rate a step uses is the set rate
 * (nn_optim_set_lr, or the last pending change applied) times a shape: a linear warm-up over
 * the first W steps ((t+1)/W at step t, counting from 0), then, counting from its end, a step
 * decay or a cosine. */
/* From step `step` on (counting from 0), use lr and momentum: the paper's "alpha = 0.5 for the
 * first 20 sweeps, then 0.9" is nn_optim_schedule(o, 20, eps, 0.9). A negative value keeps
 * the current setting (an optimiser without momentum ignores it). Any number of changes may be
 * pending (up to 65536); a second change for the same step replaces the first. */
void nn_optim_schedule(nn_optim *o, long step, double lr, double momentum);
void nn_optim_warmup(nn_optim *o, long steps); /* W = steps; 0 turns the warm-up off */
/* After the warm-up, multiply the rate by factor (in (0, 1]) every `every` steps; 0 steps
 * turns the decay off. Replaces a cosine. */
void nn_optim_step_decay(nn_optim *o, long every, double factor);
/* After the warm-up, follow a half cosine from the rate down to final_fraction (in [0, 1]) of
 * it over `steps` steps, then stay there; 0 steps turns it off. Replaces a step decay. */
void nn_optim_cosine(nn_optim *o, long steps, double final_fraction);
/* The learning rate the next step will use (pending changes and the shape applied). */
double nn_optim_scheduled_lr(const nn_optim *o);

/* Apply one update and zero the gradients. Refuses, changing no weight, when the tape t
 * (may be NULL) holds an error, when a gradient holds NaN or Inf, or when the list has
 * changed since the optimiser was made. Returns 0 or -1 (reason in nn_error(t)). */
int nn_optim_step(nn_optim *o, const ag_tape *t);
long nn_optim_steps(const nn_optim *o);      /* steps taken */
double nn_optim_lr(const nn_optim *o);       /* the set rate (before the schedule's shape) */
double nn_optim_momentum(const nn_optim *o); /* 0 for an optimiser without momentum */

/* The error to report after a failed step: the tape's, else ag_last_error() (see both for how
 * long the string lasts). */
const char *nn_error(const ag_tape *t);

/* ---------------------------------------------------------------------------------------------
 * Saving and loading (nn/serialize.c; the file format is docs/format.md). Both return 0, or -1
 * with the reason, naming the file, in ag_last_error(). Both may be called from any thread for
 * different lists and files.
 * ------------------------------------------------------------------------------------------- */

/* Write every parameter of ps (names, shapes, values) to path and, when opt is not NULL, the
 * optimiser's full state too (momentum buffers or Adam moments, step count, hyperparameters,
 * pending schedule), so that training resumes bit for bit. Atomic: the file is written next to
 * path under a temporary name, flushed, fsync'ed and renamed over path, so a failure or a crash
 * at any moment leaves the old file intact. Refuses to save a parameter or optimiser state that
 * holds NaN or Inf (a diverged run never overwrites a good file). opt must belong to ps. */
int nn_save(const char *path, const nn_params *ps, const nn_optim *opt);

/* Read a file written by nn_save into ps, matching parameters by name: the file must hold
 * exactly the parameters of ps, with the same shapes (the order may differ). With opt, the
 * file must hold the state of an optimiser of the same kind, and opt gets all of it (its
 * hyperparameters included); with opt NULL any saved optimiser state is ignored. Everything is
 * checked before anything changes (magic, version, size, checksum, names, shapes, finite
 * values): on any error the parameters and opt are exactly as they were. */
int nn_load(const char *path, nn_params *ps, nn_optim *opt);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* BACKPROP_NN_H */
