/*
 * fashion_mnist -- a multilayer perceptron learns to tell ten kinds of clothing apart from
 * 28x28 grey images: Fashion-MNIST, 60,000 training and 10,000 test images, read from the IDX
 * files Debian's dataset-fashion-mnist installs (plain or .gz).
 *
 * Each step takes a mini-batch of images (pixels / 255), runs the net (default 784-256-10,
 * relu hidden units, linear outputs), takes the softmax cross-entropy with the labels,
 * back-propagates, and applies the paper's momentum rule (or Adam). The training set is
 * shuffled each epoch with the seeded generator, so a run is repeatable.
 *
 *   examples/fashion_mnist                       # the defaults: >= 88% test accuracy in 10 epochs
 *   examples/fashion_mnist --layers 784-512-256-10 --act tanh --optim adam
 *   examples/fashion_mnist --epochs 1 --train-size 2000 --test-size 500     # a quick look
 *   examples/fashion_mnist --save net.bin         # keep the trained weights, then later
 *   examples/fashion_mnist --load net.bin --epochs 0        # test them again (or train on)
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

#define EVAL_BATCH 1000


typedef struct {
    const char *data, *layers, *act, *optim, *svg, *save, *load;
    double lr, momentum, lr_decay;
    int batch, epochs, train_size, test_size;
    long seed;
    bool quiet;
} options;

/* What the net sees for a pixel of grey level v (fashion_standardise). */
static float pixel_value[256];

/* ---- options --------------------------------------------------------------------------------- */

static int parse_options(int argc, char **argv, options *o, nn_act *act, bool *adam) {
    *o = (options){.data = FASHION_DEFAULT_DATA, .layers = "784-256-10", .act = "relu",
                   .optim = "sgd", .lr = 0, .momentum = 0.9, .lr_decay = 0.8, .batch = 64,
                   .epochs = 10, .seed = 1};
    const cli_opt opts[] = {
        {"--data", CLI_STRING, &o->data, 0, -1, "directory holding the IDX files (plain or .gz)"},
        {"--layers", CLI_STRING, &o->layers, 0, -1, "layer sizes, input 784 and output 10"},
        {"--act", CLI_STRING, &o->act, 0, -1, "hidden units: relu, tanh or sigmoid"},
        {"--optim", CLI_STRING, &o->optim, 0, -1, "sgd (the paper's momentum rule) or adam"},
        {"--lr", CLI_DOUBLE, &o->lr, 0, 10, "learning rate; 0 picks 0.02 for sgd, 0.001 for adam"},
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
        {"--load", CLI_STRING, &o->load, 0, -1, "start from the weights in this file (saved "
                                                "with the same --layers)"},
        {"--quiet", CLI_FLAG, &o->quiet, 0, -1, "no progress lines within an epoch"},
    };
    const int n = (int)(sizeof opts / sizeof opts[0]);
    const char *about = "a multilayer perceptron trained on Fashion-MNIST with mini-batches";
    int rc = cli_parse(argc, argv, opts, n, about);
    if (rc != CLI_CONTINUE) return rc;
    const char *bad = NULL;
    if (!strcmp(o->act, "relu")) *act = NN_RELU;
    else if (!strcmp(o->act, "tanh")) *act = NN_TANH;
    else if (!strcmp(o->act, "sigmoid")) *act = NN_SIGMOID;
    else bad = "--act must be relu, tanh or sigmoid";
    if (!bad && !strcmp(o->optim, "sgd")) *adam = false;
    else if (!bad && !strcmp(o->optim, "adam")) *adam = true;
    else if (!bad) bad = "--optim must be sgd or adam";
    if (bad) {
        fprintf(stderr, "fashion_mnist: %s\n\n", bad);
        cli_usage(argv[0], opts, n, about, true);
        return 2;
    }
    if (o->lr == 0) o->lr = *adam ? 0.001 : 0.02;
    return CLI_CONTINUE;
}

/* ---- training and testing -------------------------------------------------------------------- */

typedef struct {
    nn_mlp net;
    nn_optim *opt;
    ag_tape *tape;
    float *x;   /* (max batch, pixels) staging for one batch */
    int *lab;
    int *order; /* a permutation of the training items, shuffled each epoch */
} trainer;

/* One epoch over tr in the order `order` (shuffled first). Returns 0 or 1; fills the mean
 * loss and the fraction of training images misclassified (before each step's update). */
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
        ag_tensor *X = ag_tape_tensor(t, 2, (int[]){b, s->pixels}, tr->x);
        ag_tensor *logits = nn_mlp_forward(t, &tr->net, X);   /* (b,784) -> (b,10) */
        ag_tensor *E = ag_softmax_xent(t, logits, tr->lab);   /* mean over the batch */
        ag_backward(t, E);
        if (nn_optim_step(tr->opt, t) != 0) {
            fprintf(stderr, "fashion_mnist: step %ld: %s\n", k, nn_error(t));
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

/* Accuracy on the test split; confusion[true][predicted] counts. Returns -1 on a tape error. */
static double test_accuracy(trainer *tr, const fashion_split *s,
                            long confusion[FASHION_NCLASS][FASHION_NCLASS]) {
    memset(confusion, 0, sizeof(long) * FASHION_NCLASS * FASHION_NCLASS);
    long right = 0;
    for (int start = 0; start < s->n; start += EVAL_BATCH) {
        const int b = s->n - start < EVAL_BATCH ? s->n - start : EVAL_BATCH;
        fashion_fill_batch(s, pixel_value, NULL, start, b, tr->x, tr->lab);
        ag_tape *t = tr->tape;
        ag_tensor *logits =
            nn_mlp_forward(t, &tr->net, ag_tape_tensor(t, 2, (int[]){b, s->pixels}, tr->x));
        if (ag_tape_error(t)) {
            fprintf(stderr, "fashion_mnist: testing: %s\n", ag_tape_error(t));
            return -1;
        }
        for (int r = 0; r < b; r++) {
            int guess = fashion_argmax_row(logits, r);
            confusion[tr->lab[r]][guess]++;
            right += guess == tr->lab[r];
        }
        ag_tape_reset(t);
    }
    return (double)right / s->n;
}

static int write_curves(const char *path, const double *acc, const double *err, int n) {
    const svg_series series[2] = {{"test accuracy", acc, n, 1}, {"training error", err, n, 1}};
    return svg_line_plot(path, "Fashion-MNIST: test accuracy and training error per epoch",
                         "epoch", "fraction of images", series, 2, false);
}

int main(int argc, char **argv) {
    options o;
    nn_act act = NN_RELU;
    bool adam = false;
    int rc = parse_options(argc, argv, &o, &act, &adam);
    if (rc != CLI_CONTINUE) return rc;

    fashion_split train = {0}, test = {0};
    trainer tr = {0};
    nn_params *ps = NULL;
    double *acc = NULL, *err = NULL;
    rc = 1;
    const bool default_dir = !strcmp(o.data, FASHION_DEFAULT_DATA);
    if (fashion_load_split("fashion_mnist", o.data, "train", o.train_size, default_dir, &train) ||
        fashion_load_split("fashion_mnist", o.data, "t10k", o.test_size, default_dir, &test))
        goto done;

    nn_rng rng = nn_rng_seed((uint64_t)o.seed);
    ps = nn_params_new();
    tr.net = nn_mlp_new(ps, "mlp", o.layers, act, NN_IDENTITY,
                        act == NN_RELU ? nn_init_he() : nn_init_xavier(), &rng);
    if (!ps || tr.net.nlayers == 0) {
        fprintf(stderr, "fashion_mnist: --layers %s: %s\n", o.layers, ag_last_error());
        goto done;
    }
    const int in = tr.net.layer[0].W->shape[0];
    const int out = tr.net.layer[tr.net.nlayers - 1].W->shape[1];
    if (in != train.pixels || out != FASHION_NCLASS || test.pixels != train.pixels) {
        fprintf(stderr,
                "fashion_mnist: --layers %s: the first size must be the %d pixels of an image "
                "and the last the %d classes\n",
                o.layers, train.pixels, FASHION_NCLASS);
        goto done;
    }
    if (fashion_check_labels("fashion_mnist", &train, "training") ||
        fashion_check_labels("fashion_mnist", &test, "test"))
        goto done;

    tr.opt = adam ? nn_adam_new(ps, o.lr) : nn_sgd_new(ps, o.lr, o.momentum);
    tr.tape = ag_tape_new();
    const int rows = o.batch > EVAL_BATCH ? o.batch : EVAL_BATCH;
    tr.x = malloc((size_t)rows * train.pixels * sizeof(float));
    tr.lab = malloc((size_t)rows * sizeof(int));
    tr.order = malloc((size_t)train.n * sizeof(int));
    acc = malloc((size_t)(o.epochs + 1) * sizeof(double));
    err = malloc((size_t)(o.epochs + 1) * sizeof(double));
    if (!tr.opt || !tr.tape || !tr.x || !tr.lab || !tr.order || !acc || !err) {
        fprintf(stderr, "fashion_mnist: out of memory (%s)\n", ag_last_error());
        goto done;
    }
    for (int i = 0; i < train.n; i++) tr.order[i] = i;

    double mean, sd;
    fashion_standardise(&train, pixel_value, &mean, &sd);
    printf("Fashion-MNIST: %d training and %d test images of %d pixels from %s\n", train.n,
           test.n, train.pixels, o.data);
    printf("inputs (pixel/255 - %.4f) / %.4f: the training pixels' mean and deviation\n", mean, sd);
    printf("net %s (%ld weights), %s hidden units, softmax outputs; ", o.layers,
           nn_params_numel(ps), nn_act_name(act));
    if (adam) printf("adam lr %g", o.lr);
    else printf("sgd lr %g momentum %g", o.lr, o.momentum);
    if (o.lr_decay != 1) printf(" (lr x %g each epoch)", o.lr_decay);
    printf("; batch %d, %d epochs, seed %ld\n", o.batch, o.epochs, o.seed);

    long confusion[FASHION_NCLASS][FASHION_NCLASS];
    double train_seconds = 0, test_seconds = 0, final_acc = 0;
    if (o.load) {
        if (nn_load(o.load, ps, NULL) != 0) {
            fprintf(stderr, "fashion_mnist: --load: %s\n", ag_last_error());
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
            fprintf(stderr, "fashion_mnist: --save: %s\n", ag_last_error());
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
