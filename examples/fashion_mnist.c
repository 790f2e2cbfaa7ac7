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
#include "backprop.h"
#include "support/cli.h"
#include "support/fashion.h"

#include <stdio.h>
#include <string.h>

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

/* ---- the net ------------------------------------------------------------------------------- */

/* The MLP on a batch of staged pixels: x (b, pixels) -> logits (b, 10), recorded on t. */
static ag_tensor *forward(ag_tape *t, const void *net, int b, const float *x) {
    const nn_mlp *mlp = net;
    const int pixels = mlp->layer[0].W->shape[0]; /* checked to be the images' */
    return nn_mlp_forward(t, mlp, ag_tape_tensor(t, 2, (const int[]){b, pixels}, x));
}

int main(int argc, char **argv) {
    options o;
    nn_act act = NN_RELU;
    bool adam = false;
    int rc = parse_options(argc, argv, &o, &act, &adam);
    if (rc != CLI_CONTINUE) return rc;

    fashion_split train = {0}, test = {0};
    nn_mlp net;
    nn_params *ps = NULL;
    nn_optim *opt = NULL;
    rc = 1;
    const bool default_dir = !strcmp(o.data, FASHION_DEFAULT_DATA);
    if (fashion_load_split("fashion_mnist", o.data, "train", o.train_size, default_dir, &train) ||
        fashion_load_split("fashion_mnist", o.data, "t10k", o.test_size, default_dir, &test))
        goto done;

    nn_rng rng = nn_rng_seed((uint64_t)o.seed);
    ps = nn_params_new();
    net = nn_mlp_new(ps, "mlp", o.layers, act, NN_IDENTITY,
                     act == NN_RELU ? nn_init_he() : nn_init_xavier(), &rng);
    if (!ps || net.nlayers == 0) {
        fprintf(stderr, "fashion_mnist: --layers %s: %s\n", o.layers, ag_last_error());
        goto done;
    }
    const int in = net.layer[0].W->shape[0];
    const int out = net.layer[net.nlayers - 1].W->shape[1];
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
    opt = adam ? nn_adam_new(ps, o.lr) : nn_sgd_new(ps, o.lr, o.momentum);
    if (!opt) {
        fprintf(stderr, "fashion_mnist: out of memory (%s)\n", ag_last_error());
        goto done;
    }

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

    const fashion_run run = {
        "fashion_mnist", forward, &net, ps, opt, pixel_value, o.batch, o.epochs, EVAL_BATCH,
        o.lr_decay, o.svg, "Fashion-MNIST: test accuracy and training error per epoch",
        o.save, o.load, o.quiet};
    rc = fashion_train(&run, &train, &test, &rng);
done:
    nn_optim_free(opt);
    nn_params_free(ps);
    fashion_split_free(&train);
    fashion_split_free(&test);
    return rc;
}
