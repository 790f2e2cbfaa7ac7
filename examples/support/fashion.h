/*
 * fashion.h -- the Fashion-MNIST data for the examples that train on it (fashion_mnist,
 * fashion_cnn): the IDX files of one split read and checked, pixels standardised with the
 * training set's mean and spread, mini-batches filled, the confusion matrix printed, and the
 * training run both share (fashion_train.c). Not library API (see README.md).
 */
#ifndef BACKPROP_EXAMPLES_FASHION_H
#define BACKPROP_EXAMPLES_FASHION_H

#include "backprop.h"
#include "idx.h"

#include <stdbool.h>

/* Where Debian's package dataset-fashion-mnist puts the files. */
#define FASHION_DEFAULT_DATA "/usr/share/datasets/fashion-mnist"
#define FASHION_NCLASS 10

extern const char *const fashion_class_names[FASHION_NCLASS];

/* One half of the data set: n images of `pixels` bytes each, and their labels. */
typedef struct {
    idx_array images, labels;
    int n, pixels;
} fashion_split;

/* Read PREFIX-images-idx3-ubyte and PREFIX-labels-idx1-ubyte from dir (each plain or .gz) into
 * s, keeping the first `limit` items (0: all). Returns 0, or 1 after saying on stderr, after
 * "prog: ", what is wrong (how to install the data when the files are missing; default_dir:
 * dir is the default one, so the message also mentions --data). Free s with fashion_split_free
 * either way. */
int fashion_load_split(const char *prog, const char *dir, const char *prefix, int limit,
                       bool default_dir, fashion_split *s);
void fashion_split_free(fashion_split *s);

/* The label of item i. */
int fashion_label(const fashion_split *s, int i);

/* Every label of s names one of the FASHION_NCLASS classes: 0, or 1 after saying on stderr
 * ("prog: WHICH label I is L; ...") which one does not. */
int fashion_check_labels(const char *prog, const fashion_split *s, const char *which);

/* Fill pixel_value[v] for each grey level v (0..255) with (v/255 - mean) / sd, the mean and
 * standard deviation of every pixel of the training file (whatever part of it is used, so that
 * saved weights always see the same inputs); they are returned in *mean and *sd. */
void fashion_standardise(const fashion_split *train, float pixel_value[256], double *mean,
                         double *sd);

/* Items order[start .. start+b-1] of the split (items start .. start+b-1 when order is NULL),
 * standardised through pixel_value, into x (b, pixels); their labels into lab. */
void fashion_fill_batch(const fashion_split *s, const float pixel_value[256], const int *order,
                        int start, int b, float *x, int *lab);

/* The index of the largest of row r of a (b, c) matrix. */
int fashion_argmax_row(const ag_tensor *y, int r);

/* The confusion matrix (rows: true class, columns: predicted) on stdout, with each class's
 * fraction right. */
void fashion_print_confusion(long confusion[FASHION_NCLASS][FASHION_NCLASS]);

/* ---- the training run (fashion_train.c) ---------------------------------------------------- */

/* An example's net: x (b, pixels) staged pixels -> logits (b, FASHION_NCLASS), recorded on t. */
typedef ag_tensor *(*fashion_forward_fn)(ag_tape *t, const void *net, int b, const float *x);

typedef struct {
    const char *prog;           /* "fashion_cnn": starts every message */
    fashion_forward_fn forward;
    const void *net;            /* handed to forward */
    nn_params *ps;              /* the net's parameters (--load, --save) */
    nn_optim *opt;              /* steps once per batch; its rate times lr_decay after each epoch */
    const float *pixel_value;   /* fashion_standardise's table */
    int batch, epochs, eval_batch;
    double lr_decay;
    const char *svg, *svg_title; /* the curves' file (NULL: none) and their title */
    const char *save, *load;    /* weight files, or NULL */
    bool quiet;                 /* no progress line */
} fashion_run;

/* Load r->load first if set (then test it), train r->epochs epochs of shuffled mini-batches
 * (softmax cross-entropy), testing after each, and print an `epoch` line each, the confusion
 * matrix, the curves, --save's file and the `result: test_acc=... epochs=N
 * seconds_per_epoch=S` line. Returns 0, or 1 after saying on stderr what went wrong. */
int fashion_train(const fashion_run *r, const fashion_split *train, const fashion_split *test,
                  nn_rng *rng);

#endif
