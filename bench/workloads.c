/*
 * workloads.c -- the benchmark's workloads with the public API (see workloads.h).
 */
#include "workloads.h"

#include "backprop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const bench_workload bench_workloads[] = {
    {"symmetry", "6-2-1 sigmoid, batch 64, sum-squared error", {0, 0, 0}, false, false},
    {"family", "(24->6, 12->6) -> 12 -> 6 -> 24 sigmoid, batch 100, SSE", {0, 0, 0}, false, false},
    {"mlp", "784-512-256-10 relu, softmax xent, batch 128", {0, 0, 0}, false, false},
    {"rnn", "Elman 64->128 tanh, T=32, batch 32, SSE every step", {0, 0, 0}, false, false},
    {"cnn", "fashion_cnn's net on (64,1,28,28), softmax xent", {0, 0, 0}, false, false},
    {"lstm", "LSTM 64->128, T=32, batch 32, SSE every step", {0, 0, 0}, false, false},
    {"mlp_fwd", "the mlp's forward alone (loss included), gradients on", {0, 0, 0}, false, false},
    {"mlp_infer", "the mlp's forward alone, no-gradient mode (ag_tape_set_grad)", {0, 0, 0}, false, false},
    {"rnn_fwd", "the rnn's forward alone (loss included), gradients on", {0, 0, 0}, false, false},
    {"rnn_infer", "the rnn's forward alone, no-gradient mode (ag_tape_set_grad)", {0, 0, 0}, false, false},
    {"scalar_chain", "100,000 scalar ops x = x*a + b, forward + backward", {0, 0, 0}, false, false},
    {"matmul_512", "(512,512) @ (512,512)", {512, 512, 512}, false, false},
    {"matmul_mlp1", "(128,784) @ (784,512)", {128, 512, 784}, false, false},
    {"matmul_mlp2", "(128,512) @ (512,256)", {128, 256, 512}, false, false},
    {"matmul_mlp3", "(128,256) @ (256,10)", {128, 10, 256}, false, false},
    {"matmul_mlp1_tn", "(784,128)^T @ (128,512): the mlp's dW1", {784, 512, 128}, true, false},
    {"matmul_mlp2_nt", "(128,256) @ (512,256)^T: the mlp's dX2", {128, 512, 256}, false, true},
};
const int bench_nworkloads = (int)(sizeof bench_workloads / sizeof bench_workloads[0]);

enum { SYMMETRY, FAMILY, MLP, RNN, CNN, LSTM, SCALAR_CHAIN, MATMUL };

/* What a step of a training workload runs: the whole step, or its forward alone (the *_fwd and
 * *_infer workloads: the loss recorded, then the tape reset), with gradients on or off. */
enum { TRAIN_STEP, FORWARD_ONLY, INFERENCE };

#define RNN_T 32
#define RNN_B 32
#define RNN_IN 64
#define RNN_H 128
#define MLP_B 128
#define CNN_B 64

struct bench_state {
    int kind;
    int mode;                  /* TRAIN_STEP, FORWARD_ONLY or INFERENCE */
    ag_tape *t;
    nn_params *ps;
    nn_optim *opt;
    nn_rng rng;
    ag_tensor *X, *X2, *D;     /* inputs and targets (user-owned) */
    int labels[MLP_B];
    nn_mlp net;                /* symmetry, mlp */
    nn_dense fam[5];           /* family: person, relation, central, penultimate, output */
    nn_recurrent rnn;
    nn_lstm lstm;
    nn_conv2d conv[2];         /* cnn: conv 32 3x3, conv 64 3x3 (relu), then dense 128, 10 */
    nn_dense dense[2];
    ag_tensor *a, *b;          /* scalar_chain */
    const bench_workload *w;
};

static int fail(bench_state *s, const char *what) {
    fprintf(stderr, "bench %s: %s: %s\n", s->w->name, what, nn_error(s->t));
    return -1;
}

/* A user-owned (rows, cols) tensor with values uniform in [lo, hi). */
static ag_tensor *random_tensor(nn_rng *r, int rows, int cols, double lo, double hi) {
    ag_tensor *x = ag_tensor_2d(rows, cols, false);
    if (x)
        for (int i = 0; i < x->numel; i++) x->data[i] = (float)nn_rng_range(r, lo, hi);
    return x;
}

/* A (rows, n) batch of one-hot rows with random hot positions. */
static ag_tensor *one_hot(nn_rng *r, int rows, int n) {
    ag_tensor *x = ag_tensor_2d(rows, n, false);
    if (x)
        for (int i = 0; i < rows; i++) x->data[(long)i * n + nn_rng_int(r, n)] = 1.0f;
    return x;
}

bench_state *bench_setup(const bench_workload *w) {
    bench_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->w = w;
    s->rng = nn_rng_seed(1986);
    s->t = ag_tape_new();
    s->ps = nn_params_new();
    if (!s->t || !s->ps) goto failed;
    nn_rng *r = &s->rng;
    /* mlp_fwd, mlp_infer, rnn_fwd, rnn_infer: the model and data of mlp or rnn */
    char base[32];
    snprintf(base, sizeof base, "%s", w->name);
    char *suffix = strchr(base, '_');
    if (suffix && (!strcmp(suffix, "_fwd") || !strcmp(suffix, "_infer"))) {
        s->mode = !strcmp(suffix, "_fwd") ? FORWARD_ONLY : INFERENCE;
        *suffix = '\0';
        if (s->mode == INFERENCE && ag_tape_set_grad(s->t, false) != 0) goto failed;
    }
    if (w->mm[0]) {
        s->kind = MATMUL;
        int M = w->mm[0], N = w->mm[1], K = w->mm[2];
        s->X = w->ta ? random_tensor(r, K, M, -1, 1) : random_tensor(r, M, K, -1, 1);
        s->X2 = w->tb ? random_tensor(r, N, K, -1, 1) : random_tensor(r, K, N, -1, 1);
        if (!s->X || !s->X2) goto failed;
        return s;
    }
    if (!strcmp(w->name, "symmetry")) {
        /* The paper's task: all 64 binary patterns of 6 bits, target 1 when symmetric. */
        s->kind = SYMMETRY;
        s->X = ag_tensor_2d(64, 6, false);
        s->D = ag_tensor_2d(64, 1, false);
        if (!s->X || !s->D) goto failed;
        for (int p = 0; p < 64; p++) {
            for (int i = 0; i < 6; i++) s->X->data[p * 6 + i] = (float)((p >> i) & 1);
            bool sym = ((p >> 0) & 1) == ((p >> 5) & 1) && ((p >> 1) & 1) == ((p >> 4) & 1) &&
                       ((p >> 2) & 1) == ((p >> 3) & 1);
            s->D->data[p] = sym ? 1.0f : 0.0f;
        }
        s->net = nn_mlp_new(s->ps, "sym", "6-2-1", NN_SIGMOID, NN_SIGMOID, nn_init_uniform(0.3), r);
        if (!s->net.nlayers) goto failed;
        s->opt = nn_sgd_new(s->ps, 0.1, 0.9);
    } else if (!strcmp(w->name, "family")) {
        s->kind = FAMILY;
        s->X = one_hot(r, 100, 24);  /* person 1 */
        s->X2 = one_hot(r, 100, 12); /* relationship */
        s->D = ag_tensor_2d(100, 24, false);
        if (!s->X || !s->X2 || !s->D) goto failed;
        for (int i = 0; i < s->D->numel; i++) s->D->data[i] = nn_rng_uniform(r) < 0.1 ? 1.0f : 0.0f;
        static const struct { const char *name; int in, out; } L[5] = {
            {"person", 24, 6}, {"relation", 12, 6}, {"central", 12, 12}, {"penult", 12, 6},
            {"output", 6, 24}};
        for (int l = 0; l < 5; l++) {
            s->fam[l] = nn_dense_new(s->ps, L[l].name, L[l].in, L[l].out, NN_SIGMOID,
                                     nn_init_uniform(0.3), r);
            if (!s->fam[l].W) goto failed;
        }
        s->opt = nn_sgd_new(s->ps, 0.005, 0.9);
    } else if (!strcmp(base, "mlp")) {
        s->kind = MLP;
        s->X = random_tensor(r, MLP_B, 784, 0, 1);
        if (!s->X) goto failed;
        for (int i = 0; i < MLP_B; i++) s->labels[i] = nn_rng_int(r, 10);
        s->net = nn_mlp_new(s->ps, "mlp", "784-512-256-10", NN_RELU, NN_IDENTITY, nn_init_he(), r);
        if (!s->net.nlayers) goto failed;
        s->opt = nn_sgd_new(s->ps, 0.01, 0.9);
    } else if (!strcmp(base, "rnn")) {
        s->kind = RNN;
        s->X = random_tensor(r, RNN_T * RNN_B, RNN_IN, -1, 1); /* time-major: step t is rows tB.. */
        s->D = random_tensor(r, RNN_T * RNN_B, RNN_H, -0.5, 0.5);
        if (!s->X || !s->D) goto failed;
        s->rnn = nn_recurrent_new(s->ps, "elman", RNN_IN, RNN_H, NN_TANH, nn_init_xavier(), r);
        if (!s->rnn.W) goto failed;
        s->opt = nn_sgd_new(s->ps, 0.001, 0.9);
    } else if (!strcmp(w->name, "cnn")) {
        s->kind = CNN;
        s->X = random_tensor(r, CNN_B, 28 * 28, 0, 1); /* seen as (64,1,28,28) */
        if (!s->X) goto failed;
        for (int i = 0; i < CNN_B; i++) s->labels[i] = nn_rng_int(r, 10);
        s->conv[0] = nn_conv2d_new(s->ps, "conv1", 1, 32, 3, 1, 0, NN_RELU, nn_init_he(), r);
        s->conv[1] = nn_conv2d_new(s->ps, "conv2", 32, 64, 3, 1, 0, NN_RELU, nn_init_he(), r);
        s->dense[0] = nn_dense_new(s->ps, "dense1", 64 * 5 * 5, 128, NN_RELU, nn_init_he(), r);
        s->dense[1] = nn_dense_new(s->ps, "dense2", 128, 10, NN_IDENTITY, nn_init_he(), r);
        if (!s->conv[0].W || !s->conv[1].W || !s->dense[0].W || !s->dense[1].W) goto failed;
        s->opt = nn_sgd_new(s->ps, 0.01, 0.9);
    } else if (!strcmp(w->name, "lstm")) {
        s->kind = LSTM;
        s->X = random_tensor(r, RNN_T * RNN_B, RNN_IN, -1, 1); /* time-major, as rnn */
        s->D = random_tensor(r, RNN_T * RNN_B, RNN_H, -0.5, 0.5);
        if (!s->X || !s->D) goto failed;
        s->lstm = nn_lstm_new(s->ps, "lstm", RNN_IN, RNN_H, nn_init_xavier(), r);
        if (!s->lstm.W_ih) goto failed;
        s->opt = nn_sgd_new(s->ps, 0.001, 0.9);
    } else if (!strcmp(w->name, "scalar_chain")) {
        s->kind = SCALAR_CHAIN;
        s->a = ag_scalar_param(0.999);
        s->b = ag_scalar_param(0.001);
        if (!s->a || !s->b) goto failed;
        return s;
    } else {
        goto failed;
    }
    if (!s->opt) goto failed;
    return s;
failed:
    fprintf(stderr, "bench %s: setup failed: %s\n", w->name, ag_last_error());
    bench_teardown(s);
    return NULL;
}

void bench_teardown(bench_state *s) {
    if (!s) return;
    nn_optim_free(s->opt);
    nn_params_free(s->ps);
    ag_tensor_free(s->X);
    ag_tensor_free(s->X2);
    ag_tensor_free(s->D);
    ag_tensor_free(s->a);
    ag_tensor_free(s->b);
    ag_tape_free(s->t);
    free(s);
}

/* The loss of one training step, recorded on s->t. */
static ag_tensor *forward(bench_state *s) {
    ag_tape *t = s->t;
    switch (s->kind) {
    case SYMMETRY:
        return ag_sse(t, nn_mlp_forward(t, &s->net, s->X), s->D);
    case FAMILY: {
        ag_tensor *parts[2] = {nn_dense_forward(t, &s->fam[0], s->X),
                               nn_dense_forward(t, &s->fam[1], s->X2)};
        ag_tensor *h = ag_concat(t, parts, 2, 1); /* (100,12) */
        for (int l = 2; l < 5; l++) h = nn_dense_forward(t, &s->fam[l], h);
        return ag_sse(t, h, s->D);
    }
    case MLP:
        return ag_softmax_xent(t, nn_mlp_forward(t, &s->net, s->X), s->labels);
    case RNN: {
        ag_tensor *h = NULL, *E = NULL;
        for (int step = 0; step < RNN_T; step++) {
            ag_tensor *x = ag_slice_rows(t, s->X, step * RNN_B, RNN_B);
            h = nn_recurrent_step(t, &s->rnn, h, x);
            ag_tensor *e = ag_sse(t, h, ag_slice_rows(t, s->D, step * RNN_B, RNN_B));
            E = E ? ag_add(t, E, e) : e;
        }
        return E;
    }
    case CNN: {
        ag_tensor *h = ag_reshape(t, s->X, 4, (const int[]){CNN_B, 1, 28, 28});
        h = ag_max_pool2d(t, nn_conv2d_forward(t, &s->conv[0], h), 2, 2, 0); /* (64,32,13,13) */
        h = ag_max_pool2d(t, nn_conv2d_forward(t, &s->conv[1], h), 2, 2, 0); /* (64,64,5,5) */
        h = ag_reshape(t, h, 2, (const int[]){CNN_B, 64 * 5 * 5});
        h = nn_dense_forward(t, &s->dense[1], nn_dense_forward(t, &s->dense[0], h));
        return ag_softmax_xent(t, h, s->labels);
    }
    case LSTM: {
        ag_tensor *h = NULL, *c = NULL, *E = NULL;
        for (int step = 0; step < RNN_T; step++) {
            ag_tensor *x = ag_slice_rows(t, s->X, step * RNN_B, RNN_B);
            h = nn_lstm_step(t, &s->lstm, h, c, x, &c);
            ag_tensor *e = ag_sse(t, h, ag_slice_rows(t, s->D, step * RNN_B, RNN_B));
            E = E ? ag_add(t, E, e) : e;
        }
        return E;
    }
    }
    return NULL;
}

int bench_step(bench_state *s) {
    ag_tape *t = s->t;
    if (s->kind == MATMUL) {
        ag_matmul_ex(t, s->X, s->X2, s->w->ta, s->w->tb);
        int ok = ag_tape_error(t) ? fail(s, "matmul") : 0;
        ag_tape_reset(t);
        return ok;
    }
    if (s->kind == SCALAR_CHAIN) {
        ag_tensor *x = ag_scalar(t, 1.0);
        for (int i = 0; i < 50000; i++) x = ag_add(t, ag_mul(t, x, s->a), s->b);
        if (ag_backward(t, x) != 0) return fail(s, "backward");
        ag_zero_grad(s->a);
        ag_zero_grad(s->b);
        ag_tape_reset(t);
        return 0;
    }
    ag_tensor *E = forward(s);
    if (s->mode != TRAIN_STEP) {
        int ok = ag_tape_error(t) ? fail(s, "forward") : 0;
        ag_tape_reset(t);
        return ok;
    }
    if (ag_backward(t, E) != 0) return fail(s, "backward");
    if (nn_optim_step(s->opt, t) != 0) return fail(s, "optimiser step");
    ag_tape_reset(t);
    return 0;
}

void bench_matmul_operands(const bench_state *s, const float **A, const float **B) {
    *A = s->X->data;
    *B = s->X2->data;
}

double bench_flops(const bench_workload *w) {
    return 2.0 * w->mm[0] * w->mm[1] * w->mm[2];
}

double bench_mlp_bytes_needed(void) {
    const int sizes[4] = {784, 512, 256, 10};
    double params = 0, acts = 0;
    for (int l = 0; l < 3; l++) {
        params += (double)sizes[l] * sizes[l + 1] + sizes[l + 1];
        /* matmul, bias add and (hidden layers) relu outputs, each with its gradient */
        int tensors = l < 2 ? 3 : 2;
        acts += 2.0 * tensors * MLP_B * sizes[l + 1];
    }
    acts += MLP_B * 10;          /* the loss's softmax probabilities */
    acts += MLP_B * 784;         /* the input batch */
    return 4.0 * (3.0 * params + acts) + sizeof(int) * MLP_B;
}
