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
#include "backprop.h"
#include "support/cli.h"
#include "support/fashion.h"

#include <stdio.h>
#include <string.h>

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

/* cnn_forward as the shared training run calls it. */
static ag_tensor *forward(ag_tape *t, const void *net, int b, const float *x) {
    return cnn_forward(t, net, b, x);
}

int main(int argc, char **argv) {
    options o;
    bool adam = true;
    int rc = parse_options(argc, argv, &o, &adam);
    if (rc != CLI_CONTINUE) return rc;

    fashion_split train = {0}, test = {0};
    cnn net;
    nn_params *ps = NULL;
    nn_optim *opt = NULL;
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
    if (!ps || cnn_new(ps, &rng, &net) != 0) {
        fprintf(stderr, "fashion_cnn: making the net: %s\n", ag_last_error());
        goto done;
    }
    opt = adam ? nn_adam_new(ps, o.lr) : nn_sgd_new(ps, o.lr, o.momentum);
    if (!opt) {
        fprintf(stderr, "fashion_cnn: out of memory (%s)\n", ag_last_error());
        goto done;
    }

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

    const fashion_run run = {
        "fashion_cnn", forward, &net, ps, opt, pixel_value, o.batch, o.epochs, EVAL_BATCH,
        o.lr_decay, o.svg,
        "Fashion-MNIST, convolutional net: test accuracy and training error per epoch",
        o.save, o.load, o.quiet};
    rc = fashion_train(&run, &train, &test, &rng);
done:
    nn_optim_free(opt);
    nn_params_free(ps);
    fashion_split_free(&train);
    fashion_split_free(&test);
    return rc;
}
