/* paper_sequences.c -- see paper_sequences.h. */
#include "paper_sequences.h"

#include <stdio.h>

static const int codes[SEQ_LETTERS][2] = {{1, 2}, {2, 3}, {3, 1}, {2, 1}, {1, 3}};

void seq_digits(int s, int digits[4]) {
    int a = s / SEQ_LETTERS, b = s % SEQ_LETTERS;
    digits[0] = codes[a][0], digits[1] = codes[a][1], digits[2] = codes[b][0], digits[3] = codes[b][1];
}

const char *seq_name(int s) {
    static const char names[SEQ_COUNT][3] = {"AA", "AB", "AC", "AD", "AE", "BA", "BB", "BC", "BD",
                                             "BE", "CA", "CB", "CC", "CD", "CE", "DA", "DB", "DC",
                                             "DD", "DE", "EA", "EB", "EC", "ED", "EE"};
    return s >= 0 && s < SEQ_COUNT ? names[s] : "??";
}

bool seq_held_out(int s) {
    int a = s / SEQ_LETTERS, b = s % SEQ_LETTERS;
    return (b - a + SEQ_LETTERS) % SEQ_LETTERS == 3; /* AD BE CA DB EC */
}

typedef struct {
    nn_elman net;
    nn_copies copies;
    int n;                        /* sequences in the batch */
    ag_tensor *x[SEQ_STEPS];      /* (n,5) letters at steps 1-2, NULL after */
    ag_tensor *d[SEQ_STEPS];      /* (n,3) digits at steps 3-6, NULL before */
    ag_tensor *y[SEQ_STEPS];      /* the outputs of the last sweep (tape tensors) */
    int right;                    /* digits of the last sweep with every unit on its side */
} seq_task;

/* Unfold the net over the 6 steps for the whole batch; E sums over the steps with targets. */
static ag_tensor *seq_sweep(ag_tape *t, void *arg, bool *all_right) {
    seq_task *k = arg;
    nn_elman_forward(t, &k->net, NULL, k->x, SEQ_STEPS, k->copies, k->y, NULL);
    ag_tensor *E = nn_sse_steps(t, k->y, k->d, SEQ_STEPS, 0.0);
    if (ag_tape_error(t)) return E;
    k->right = 0;
    for (int step = 2; step < SEQ_STEPS; step++)
        for (int i = 0; i < k->n; i++) {
            bool ok = true;
            for (int j = 0; j < SEQ_DIGITS; j++)
                ok &= (k->y[step]->data[i * SEQ_DIGITS + j] > 0.5f) ==
                      (k->d[step]->data[i * SEQ_DIGITS + j] > 0.5f);
            k->right += ok;
        }
    *all_right = k->right == 4 * k->n;
    return E;
}

/* Inputs and targets of the listed sequences, as user-owned tensors in k (NULL on failure). */
static bool seq_encode(seq_task *k, const int *which, int n) {
    k->n = n;
    for (int step = 0; step < SEQ_STEPS; step++) {
        k->x[step] = step < 2 ? ag_tensor_2d(n, SEQ_LETTERS, false) : NULL;
        k->d[step] = step >= 2 ? ag_tensor_2d(n, SEQ_DIGITS, false) : NULL;
        if (!k->x[step] && !k->d[step]) return false;
    }
    for (int i = 0; i < n; i++) {
        int s = which[i], digits[4];
        seq_digits(s, digits);
        k->x[0]->data[i * SEQ_LETTERS + s / SEQ_LETTERS] = 1;
        k->x[1]->data[i * SEQ_LETTERS + s % SEQ_LETTERS] = 1;
        for (int step = 2; step < SEQ_STEPS; step++)
            k->d[step]->data[i * SEQ_DIGITS + digits[step - 2] - 1] = 1;
    }
    return true;
}

static void seq_free_data(seq_task *k) {
    for (int step = 0; step < SEQ_STEPS; step++) {
        ag_tensor_free(k->x[step]);
        ag_tensor_free(k->d[step]);
        k->x[step] = k->d[step] = NULL;
    }
}

/* Read the outputs of the sweep just recorded for the sequences in `which`. */
static void seq_read(const seq_task *k, const int *which, seq_outcome *out, int *digits_right,
                     int *sequences_right) {
    for (int i = 0; i < k->n; i++) {
        int s = which[i], want[4], all = 1;
        seq_digits(s, want);
        for (int step = 2; step < SEQ_STEPS; step++) {
            const float *y = k->y[step]->data + i * SEQ_DIGITS;
            int best = 0;
            for (int j = 1; j < SEQ_DIGITS; j++)
                if (y[j] > y[best]) best = j;
            out->predicted[s][step - 2] = best + 1;
            *digits_right += best + 1 == want[step - 2];
            for (int j = 0; j < SEQ_DIGITS; j++) all &= (y[j] > 0.5f) == (j + 1 == want[step - 2]);
        }
        out->sequence_right[s] = all;
        *sequences_right += all;
    }
}

int seq_run(const seq_config *c, seq_outcome *out) {
    int train[SEQ_COUNT - SEQ_HELD_OUT], test[SEQ_HELD_OUT], nt = 0, nh = 0;
    for (int s = 0; s < SEQ_COUNT; s++) {
        if (seq_held_out(s)) test[nh++] = s;
        else train[nt++] = s;
    }
    seq_task k = {.copies = c->copies};
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(c->seed);
    k.net = nn_elman_new(ps, "seq", SEQ_LETTERS, c->hidden, SEQ_DIGITS, NN_SIGMOID, NN_SIGMOID,
                         nn_init_uniform(c->init_range), &rng);
    nn_optim *opt = k.net.rec.W ? nn_sgd_new(ps, c->lr, c->momentum) : NULL;
    ag_tape *t = ag_tape_new();
    int status = -1;
    if (!opt || !t || !seq_encode(&k, train, nt)) {
        fprintf(stderr, "sequences: %s\n", ag_last_error());
        goto done;
    }
    train_opts o = {c->max_sweeps, true, c->quiet, c->errors};
    if (train_full_batch(t, opt, seq_sweep, &k, &o, &out->run) != 0) goto done;
    out->learned = out->run.learned_at >= 0;
    /* One more sweep's forward pass at the final weights, for the trained then the held-out. */
    int unused = 0;
    bool ignored;
    seq_sweep(t, &k, &ignored);
    out->train_digits_right = 0;
    if (!ag_tape_error(t)) seq_read(&k, train, out, &out->train_digits_right, &unused);
    ag_tape_reset(t);
    seq_free_data(&k);
    if (!seq_encode(&k, test, nh)) {
        fprintf(stderr, "sequences: %s\n", ag_last_error());
        goto done;
    }
    seq_sweep(t, &k, &ignored);
    out->test_digits_right = out->test_sequences_right = 0;
    if (ag_tape_error(t)) {
        fprintf(stderr, "sequences: %s\n", ag_tape_error(t));
        goto done;
    }
    seq_read(&k, test, out, &out->test_digits_right, &out->test_sequences_right);
    status = 0;
done:
    seq_free_data(&k);
    ag_tape_free(t);
    nn_optim_free(opt);
    nn_params_free(ps);
    return status;
}
