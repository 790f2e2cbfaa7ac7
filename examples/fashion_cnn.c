/*
 * fashion_cnn -- a small convolutional net learns Fashion-MNIST (60,000 training and 10,000 test
 * 28x28 grey images of ten kinds of clothing), read from the IDX files Debian's
 * dataset-fashion-mnist installs (plain or .gz).
 *
 * The net, as PyTorch would write it (examples/reference/fashion_cnn.py is that twin):
 *   (B,1,28,28) conv 32 3x3 -> relu -> max pool 2  (B,32,13,13)
 *               conv 64 3x3 -> relu -> max pool 2  (B,64,5,5) -> flatten (B,1600)
 *               dense 128 -> relu -> dense 10 -> softmax cross-entropy with the labels
 * Each step takes a mini-batch (pixels standardised with the training set's mean and
 * deviation), runs the net, back-propagates and applies Adam (or the paper's momentum rule).
 * The training set is shuffled each epoch with the seeded generator, so a run is repeatable
 * (on any thread count: BACKPROP_THREADS=2 gives the same bits, faster).
 *
 *   examples/fashion_cnn                          # the defaults: >= 91% test accuracy in 5 epochs
 *   examples/fashion_cnn --epochs 1 --train-size 2000 --test-size 500      # a quick look
 *   examples/fashion_cnn --save cnn.bin           # keep the trained weights, then later
 *   examples/fashion_cnn --load cnn.bin --epochs 0          # test them again (or train on)
 *
 * Prints per epoch the training loss and error, the test accuracy, the time and the rate; at
 * the end the confusion matrix and `result: test_acc=... epochs=N seconds_per_epoch=S`
 * (training time only; testing is timed apart).
 */
#define _POSIX_C_SOURCE 200809L /* access */
#include "backprop.h"
#include "support/cli.h"
#include "support/fashion.h"
#include "support/idx.h"
#include "support/progress.h"
#include "support/svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIDE 28         /* images are SIDE x SIDE */
#define EVAL_BATCH 250  /* test images per forward pass */


typedef struct {
    const char *data, *optim, *svg, *save, *load;
    double lr, momentum, lr_decay;
    int batch, epochs, train_size, test_size;
    long seed;
    bool quiet;
} options;

/* What the net sees for a pixel of grey level v (fashion_standardise). */
static float pixel_value[256];

/* ---- options --------------------------------------------------------------------------------- */

static int parse_options(int argc, char **argv, options *o, bool *adam) {
    *o = (options){.data = FASHION_DEFAULT_DATA, .optim = "adam", .lr = 0, .momentum = 0.9,
                   .lr_decay = 0.8, .batch = 64, .epochs = 5, .seed = 1};
    const cli_opt opts[] = {
        {"--data", CLI_STRING, &o->data, 0, -1, "directory holding the IDX files (plain or .gz)"},
        {"--optim", CLI_STRING, &o->optim, 0, -1, "adam, or sgd (the paper's momentum rule)"},
        {"--lr", CLI_DOUBLE, &o->lr, 0, 10, "learning rate; 0 picks 0.001 for adam, 0.02 for sgd"},
        {"--lr-decay", CLI_DOUBLE, &o->lr_decay, 0.01, 1, "the learning rate is multiplied by this "
                                                          "after each epoch"},
        {"--momentum", CLI_DOUBLE, &o->momentum, 0, 0.999, "sgd's alpha in dw = -lr g + alpha dw"},
        {"--batch", CLI_INT, &o->batch, 1, 60000, "images per mini-batch"},
        {"--epochs", CLI_INT, &o->epochs, 0, 1000, "passes over the training set (0: only test)"},
        {"--train-size", CLI_INT, &o->train_size, 0, 60000,
         "use the first N training images (0: all)"},
        {"--test-size", CLI_INT, &o->test_size, 0, 10000, "use the first N test images (0: all)"},
        {"--seed", CLI_LONG, &o->seed, 0, 2147483647, "seed of the weights and the shuffling"},
        {"--svg-curve", CLI_STRING, &o->svg, 0, -1, "write test accuracy and training error per "
                                                    "epoch to this SVG file"},
        {"--save", CLI_STRING, &o->save, 0, -1, "write the trained weights to this file"},
        {"--load", CLI_STRING, &o->load, 0, -1, "start from the weights in this file"},
        {"--quiet", CLI_FLAG, &o->quiet, 0, -1, "no progress lines within an epoch"},
    };
    const int n = (int)(sizeof opts / sizeof opts[0]);
    const char *about = "a convolutional net trained on Fashion-MNIST with mini-batches";
    int rc = cli_parse(argc, argv, opts, n, about);
    if (rc != CLI_CONTINUE) return rc;
    if (!strcmp(o->optim, "sgd")) *adam = false;
    else if (!strcmp(o->optim, "adam")) *adam = true;
    else {
        fprintf(stderr, "fashion_cnn: --optim must be adam or sgd\n\n");
        cli_usage(argv[0], opts, n, about, true);
        return 2;
    }
    if (o->lr == 0) o->lr = *adam ? 0.001 : 0.02;
    return CLI_CONTINUE;
}

/* ---- the net ---------------------------------------------------------------------------------- */

typedef struct {
    nn_conv2d conv1, conv2;
    nn_dense hidden, out;
} cnn;

/* Parameters conv1.W (32,1,3,3), conv1.b, conv2.W (64,32,3,3), conv2.b, dense1.W (1600,128),
 * dense1.b, dense2.W (128,10), dense2.b; He initialisation (relu units), biases 0. Returns 0,
 * or -1 (ag_last_error says why). */
static int cnn_new(nn_params *ps, nn_rng *rng, cnn *net) {
    net->conv1 = nn_conv2d_new(ps, "conv1", 1, 32, 3, 1, 0, NN_RELU, nn_init_he(), rng);
    net->conv2 = nn_conv2d_new(ps, "conv2", 32, 64, 3, 1, 0, NN_RELU, nn_init_he(), rng);
    net->hidden = nn_dense_new(ps, "dense1", 64 * 5 * 5, 128, NN_RELU, nn_init_he(), rng);
    net->out = nn_dense_new(ps, "dense2", 128, FASHION_NCLASS, NN_IDENTITY, nn_init_he(), rng);
    return net->conv1.W && net->conv2.W && net->hidden.W && net->out.W ? 0 : -1;
}

/* x (b, 784) staged pixels -> logits (b, 10), recorded on t. */
static ag_tensor *cnn_forward(ag_tape *t, const cnn *net, int b, const float *x) {
    ag_tensor *h = ag_tape_tensor(t, 4, (const int[]){b, 1, SIDE, SIDE}, x);
    h = ag_max_pool2d(t, nn_conv2d_forward(t, &net->conv1, h), 2, 2, 0); /* (b,32,13,13) */
    h = ag_max_pool2d(t, nn_conv2d_forward(t, &net->conv2, h), 2, 2, 0); /* (b,64,5,5) */
    h = ag_reshape(t, h, 2, (const int[]){b, 64 * 5 * 5});               /* (b,1600) */
    return nn_dense_forward(t, &net->out, nn_dense_forward(t, &net->hidden, h));
}

/* ---- training and testing -------------------------------------------------------------------- */

typedef struct {
    cnn net;
    nn_optim *opt;
    ag_tape *tape;
    float *x;   /* (max batch, pixels) staging for one batch */
    int *lab;
    int *order; /* a permutation of the training items, shuffled each epoch */
} trainer;

/* One epoch over s in a freshly shuffled order. Returns 0 or 1; fills the mean loss and the
 * fraction of training images misclassified (before each step's update). */
static int train_epoch(trainer *tr, const fashion_split *s, int batch, nn_rng *rng, bool quiet,
                       double *loss, double *err) {
    nn_rng_shuffle(rng, tr->order, s->n);
    double loss_sum = 0;
    long wrong = 0;
    const long nbatch = (s->n + batch - 1) / batch;
    progress p;
    progress_start(&p, "step", nbatch, quiet);
    for (long k = 0; k < nbatch; k++) {
        const int start = (int)(k * batch), b = s->n - start < batch ? s->n - start : batch;
        fashion_fill_batch(s, pixel_value, tr->order, start, b, tr->x, tr->lab);
        ag_tape *t = tr->tape;
        ag_tensor *logits = cnn_forward(t, &tr->net, b, tr->x); /* (b,10) */
        ag_tensor *E = ag_softmax_xent(t, logits, tr->lab);    /* mean over the batch */
        ag_backward(t, E);
        if (nn_optim_step(tr->opt, t) != 0) {
            fprintf(stderr, "fashion_cnn: step %ld: %s\n", k, nn_error(t));
            return 1;
        }
        loss_sum += ag_item(E) * b;
        for (int r = 0; r < b; r++) wrong += fashion_argmax_row(logits, r) != tr->lab[r];
        ag_tape_reset(t);
        progress_update(&p, k + 1, loss_sum / (start + b));
    }
    progress_end(&p);
    *loss = loss_sum / s->n;
    *err = (double)wrong / s->n;
    return 0;
}

/* Accuracy on the test split, gradients off; confusion[true][predicted] counts. Returns -1 on
 * a tape error. */
static double test_accuracy(trainer *tr, const fashion_split *s,
                            long confusion[FASHION_NCLASS][FASHION_NCLASS]) {
    memset(confusion, 0, sizeof(long) * FASHION_NCLASS * FASHION_NCLASS);
    long right = 0;
    ag_tape *t = tr->tape;
    ag_tape_set_grad(t, false);
    for (int start = 0; start < s->n; start += EVAL_BATCH) {
        const int b = s->n - start < EVAL_BATCH ? s->n - start : EVAL_BATCH;
        fashion_fill_batch(s, pixel_value, NULL, start, b, tr->x, tr->lab);
        ag_tensor *logits = cnn_forward(t, &tr->net, b, tr->x);
        if (ag_tape_error(t)) {
            fprintf(stderr, "fashion_cnn: testing: %s\n", ag_tape_error(t));
            ag_tape_set_grad(t, true);
            return -1;
        }
        for (int r = 0; r < b; r++) {
            int guess = fashion_argmax_row(logits, r);
            confusion[tr->lab[r]][guess]++;
            right += guess == tr->lab[r];
        }
        ag_tape_reset(t);
    }
    ag_tape_set_grad(t, true);
    return (double)right / s->n;
}

static int write_curves(const char *path, const double *acc, const double *err, int n) {
    const svg_series series[2] = {{"test accuracy", acc, n, 1}, {"training error", err, n, 1}};
    return svg_line_plot(path, "Fashion-MNIST, convolutional net: test accuracy and training "
                               "error per epoch",
                         "epoch", "fraction of images", series, 2, false);
}

int main(int argc, char **argv) {
    options o;
    bool adam = true;
    int rc = parse_options(argc, argv, &o, &adam);
    if (rc != CLI_CONTINUE) return rc;

    fashion_split train = {0}, test = {0};
    trainer tr = {0};
    nn_params *ps = NULL;
    double *acc = NULL, *err = NULL;
    rc = 1;
    const bool default_dir = !strcmp(o.data, FASHION_DEFAULT_DATA);
    if (fashion_load_split("fashion_cnn", o.data, "train", o.train_size, default_dir, &train) ||
        fashion_load_split("fashion_cnn", o.data, "t10k", o.test_size, default_dir, &test))
        goto done;
    if (train.pixels != SIDE * SIDE || test.pixels != SIDE * SIDE) {
        fprintf(stderr, "fashion_cnn: the images are %d and %d pixels; this net takes %dx%d\n",
                train.pixels, test.pixels, SIDE, SIDE);
        goto done;
    }
    if (fashion_check_labels("fashion_cnn", &train, "training") ||
        fashion_check_labels("fashion_cnn", &test, "test"))
        goto done;

    nn_rng rng = nn_rng_seed((uint64_t)o.seed);
    ps = nn_params_new();
    if (!ps || cnn_new(ps, &rng, &tr.net) != 0) {
        fprintf(stderr, "fashion_cnn: making the net: %s\n", ag_last_error());
        goto done;
    }
    tr.opt = adam ? nn_adam_new(ps, o.lr) : nn_sgd_new(ps, o.lr, o.momentum);
    tr.tape = ag_tape_new();
    const int rows = o.batch > EVAL_BATCH ? o.batch : EVAL_BATCH;
    tr.x = malloc((size_t)rows * train.pixels * sizeof(float));
    tr.lab = malloc((size_t)rows * sizeof(int));
    tr.order = malloc((size_t)train.n * sizeof(int));
    acc = malloc((size_t)(o.epochs + 1) * sizeof(double));
    err = malloc((size_t)(o.epochs + 1) * sizeof(double));
    if (!tr.opt || !tr.tape || !tr.x || !tr.lab || !tr.order || !acc || !err) {
        fprintf(stderr, "fashion_cnn: out of memory (%s)\n", ag_last_error());
        goto done;
    }
    for (int i = 0; i < train.n; i++) tr.order[i] = i;

    double mean, sd;
    fashion_standardise(&train, pixel_value, &mean, &sd);
    printf("Fashion-MNIST: %d training and %d test images of %dx%d pixels from %s\n", train.n,
           test.n, SIDE, SIDE, o.data);
    printf("inputs (pixel/255 - %.4f) / %.4f: the training pixels' mean and deviation\n", mean, sd);
    printf("net conv 32 3x3 - relu - max pool 2 - conv 64 3x3 - relu - max pool 2 - dense 128 - "
           "relu - dense 10 (%ld weights), softmax outputs\n", nn_params_numel(ps));
    if (adam) printf("adam lr %g", o.lr);
    else printf("sgd lr %g momentum %g", o.lr, o.momentum);
    if (o.lr_decay != 1) printf(" (lr x %g each epoch)", o.lr_decay);
    printf("; batch %d, %d epochs, seed %ld, %d thread%s\n", o.batch, o.epochs, o.seed,
           ag_get_threads(), ag_get_threads() == 1 ? "" : "s");

    long confusion[FASHION_NCLASS][FASHION_NCLASS];
    double train_seconds = 0, test_seconds = 0, final_acc = 0;
    if (o.load) {
        if (nn_load(o.load, ps, NULL) != 0) {
            fprintf(stderr, "fashion_cnn: --load: %s\n", ag_last_error());
            goto done;
        }
        final_acc = test_accuracy(&tr, &test, confusion);
        if (final_acc < 0) goto done;
        printf("weights loaded from %s: test acc %.4f\n", o.load, final_acc);
    } else if (o.epochs == 0) {
        final_acc = test_accuracy(&tr, &test, confusion);
        if (final_acc < 0) goto done;
        printf("untrained weights: test acc %.4f\n", final_acc);
    }
    for (int e = 0; e < o.epochs; e++) {
        double loss, t0 = progress_now();
        if (train_epoch(&tr, &train, o.batch, &rng, o.quiet, &loss, &err[e])) goto done;
        double t1 = progress_now();
        final_acc = acc[e] = test_accuracy(&tr, &test, confusion);
        double t2 = progress_now();
        if (final_acc < 0) goto done;
        train_seconds += t1 - t0;
        test_seconds += t2 - t1;
        printf("epoch %2d/%d  train loss %.4f  train error %6.2f%%  test acc %.4f  "
               "%.2f s (%.0f images/s)  test %.2f s\n",
               e + 1, o.epochs, loss, 100 * err[e], acc[e], t1 - t0, train.n / (t1 - t0),
               t2 - t1);
        fflush(stdout);
        nn_optim_set_lr(tr.opt, nn_optim_lr(tr.opt) * o.lr_decay);
    }
    fashion_print_confusion(confusion);
    if (o.svg && o.epochs > 0) {
        if (write_curves(o.svg, acc, err, o.epochs) != 0) goto done;
        printf("curves written to %s\n", o.svg);
    }
    if (o.save) {
        if (nn_save(o.save, ps, NULL) != 0) {
            fprintf(stderr, "fashion_cnn: --save: %s\n", ag_last_error());
            goto done;
        }
        printf("weights saved to %s\n", o.save);
    }
    printf("training %.1f s, testing %.1f s in all\n", train_seconds, test_seconds);
    printf("result: test_acc=%.4f epochs=%d seconds_per_epoch=%.2f\n", final_acc, o.epochs,
           o.epochs ? train_seconds / o.epochs : 0.0);
    rc = 0;
done:
    free(acc);
    free(err);
    free(tr.x);
    free(tr.lab);
    free(tr.order);
    ag_tape_free(tr.tape);
    nn_optim_free(tr.opt);
    nn_params_free(ps);
    fashion_split_free(&train);
    fashion_split_free(&test);
    return rc;
}
