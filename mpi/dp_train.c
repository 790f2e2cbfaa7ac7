/*
 * dp_train.c -- see dp_train.h: the training loop shared by mpi_train (MPI) and serial_train
 * (one process, no MPI). Rank 0 reads Fashion-MNIST and hands it to the others; every rank keeps
 * the same weights and takes the same optimiser steps; rank 0 reports and saves.
 */
#define _POSIX_C_SOURCE 200809L /* access, clock_gettime */
#include "dp_train.h"

#include "backprop.h"
#include "cli.h"
#include "idx.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"
#define NCLASS 10
#define EVAL_BATCH 1000
#define MAX_MICRO_BATCHES 1024 /* per global batch */

typedef struct {
    const char *data, *layers, *act, *optim, *save, *checkpoint, *resume, *reduce;
    double lr, momentum, lr_decay;
    int batch, micro, epochs, train_size, test_size;
    long seed;
    bool quiet;
} options;

/* The data every rank holds: n images of `pixels` bytes and their labels, per split. */
typedef struct {
    unsigned char *images, *labels;
    int n;
} split;

typedef struct {
    int status, n_train, n_test, pixels; /* status != 0: rank 0 could not read the data */
    float pixel_value[256];              /* what the net sees for each grey level */
} data_header;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void dp_share(int K, int N, int r, int *first, int *count) {
    const long lo = (long)r * K / N, hi = (long)(r + 1) * K / N;
    *first = (int)lo;
    *count = (int)(hi - lo);
}

void dp_fold(float *restrict acc, const float *restrict p, long n) {
    for (long i = 0; i < n; i++) acc[i] += p[i];
}

/* FNV-1a, 64 bits, over n bytes, continuing from h (start with FNV_START). */
#define FNV_START 0xcbf29ce484222325u
static uint64_t fnv1a(uint64_t h, const void *bytes, size_t n) {
    const unsigned char *b = bytes;
    for (size_t k = 0; k < n; k++) {
        h ^= b[k];
        h *= 0x100000001b3u;
    }
    return h;
}

/* The hash of every parameter's values in list order. */
static uint64_t weights_hash(const nn_params *ps) {
    uint64_t h = FNV_START;
    for (int i = 0; i < nn_params_count(ps); i++) {
        const ag_tensor *p = nn_params_at(ps, i);
        h = fnv1a(h, p->data, (size_t)p->numel * sizeof(float));
    }
    return h;
}

/* ---- data: read on rank 0, broadcast to the others ------------------------------------------- */

/* dir/base, else dir/base.gz; NULL when neither exists. */
static const char *find_file(const char *dir, const char *base, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s", dir, base);
    if (access(buf, F_OK) == 0) return buf;
    snprintf(buf, size, "%s/%s.gz", dir, base);
    return access(buf, F_OK) == 0 ? buf : NULL;
}

/* Read PREFIX-images/labels into im and lb (u8, (n,rows,cols) and (n), labels < NCLASS). */
static int read_split(const char *prog, const char *dir, const char *prefix, idx_array *im,
                      idx_array *lb) {
    char base[2][64], path[2][1024];
    snprintf(base[0], sizeof base[0], "%s-images-idx3-ubyte", prefix);
    snprintf(base[1], sizeof base[1], "%s-labels-idx1-ubyte", prefix);
    for (int k = 0; k < 2; k++)
        if (!find_file(dir, base[k], path[k], sizeof path[k])) {
            fprintf(stderr, "%s: Fashion-MNIST is not in %s (no %s nor %s.gz); install it with "
                            "sudo apt-get install dataset-fashion-mnist, or give --data DIR\n",
                    prog, dir, base[k], base[k]);
            return -1;
        }
    if (idx_read(path[0], im) != 0 || idx_read(path[1], lb) != 0) {
        fprintf(stderr, "%s: %s\n", prog, ag_last_error());
        return -1;
    }
    if (im->type != IDX_U8 || im->ndim != 3 || lb->type != IDX_U8 || lb->ndim != 1 ||
        im->dims[0] != lb->dims[0]) {
        fprintf(stderr, "%s: %s and %s are not matching u8 image (n,rows,cols) and label (n) "
                        "files\n", prog, path[0], path[1]);
        return -1;
    }
    const unsigned char *l = lb->data;
    for (int i = 0; i < lb->dims[0]; i++)
        if (l[i] >= NCLASS) {
            fprintf(stderr, "%s: %s: label %d is %d; labels must be 0..%d\n", prog, path[1], i,
                    l[i], NCLASS - 1);
            return -1;
        }
    return 0;
}

/* Rank 0: read both splits, keep the first train_size/test_size items, fill the header (the
 * pixel scale from every training pixel of the file, as examples/fashion_mnist does). */
static int read_data(const options *o, const char *prog, data_header *h, split *train,
                     split *test) {
    idx_array im[2] = {{0}}, lb[2] = {{0}};
    int rc = -1;
    if (read_split(prog, o->data, "train", &im[0], &lb[0]) ||
        read_split(prog, o->data, "t10k", &im[1], &lb[1]))
        goto done;
    h->pixels = im[0].dims[1] * im[0].dims[2];
    if (im[1].dims[1] * im[1].dims[2] != h->pixels) {
        fprintf(stderr, "%s: training and test images differ in size\n", prog);
        goto done;
    }
    const int limit[2] = {o->train_size, o->test_size};
    int n[2];
    for (int s = 0; s < 2; s++) n[s] = limit[s] > 0 && limit[s] < im[s].dims[0] ? limit[s] : im[s].dims[0];
    h->n_train = n[0], h->n_test = n[1];
    const unsigned char *px = im[0].data;
    double sum = 0, sum2 = 0;
    for (size_t i = 0; i < im[0].count; i++) {
        const double v = px[i] / 255.0;
        sum += v;
        sum2 += v * v;
    }
    const double mean = sum / (double)im[0].count;
    const double sd = sqrt(fmax(sum2 / (double)im[0].count - mean * mean, 1e-12));
    for (int v = 0; v < 256; v++) h->pixel_value[v] = (float)((v / 255.0 - mean) / sd);
    split *out[2] = {train, test};
    for (int s = 0; s < 2; s++) {
        out[s]->n = n[s];
        out[s]->images = malloc((size_t)n[s] * (size_t)h->pixels);
        out[s]->labels = malloc((size_t)n[s]);
        if (!out[s]->images || !out[s]->labels) {
            fprintf(stderr, "%s: out of memory for the data\n", prog);
            goto done;
        }
        memcpy(out[s]->images, im[s].data, (size_t)n[s] * (size_t)h->pixels);
        memcpy(out[s]->labels, lb[s].data, (size_t)n[s]);
    }
    rc = 0;
done:
    for (int s = 0; s < 2; s++) idx_free(&im[s]), idx_free(&lb[s]);
    return rc;
}

/* Every rank: the data from rank 0. Returns 0, or -1 (every rank knows, rank 0 said why). */
static int share_data(dp_comm *c, const options *o, data_header *h, split *train, split *test) {
    memset(h, 0, sizeof *h);
    if (c->rank == 0) h->status = read_data(o, c->prog, h, train, test) ? 1 : 0;
    if (c->bcast(c, h, sizeof *h) != 0) return -1;
    if (h->status != 0) return -1;
    split *s[2] = {train, test};
    const int n[2] = {h->n_train, h->n_test};
    for (int k = 0; k < 2; k++) {
        if (c->rank != 0) {
            s[k]->n = n[k];
            s[k]->images = malloc((size_t)n[k] * (size_t)h->pixels);
            s[k]->labels = malloc((size_t)n[k]);
            if (!s[k]->images || !s[k]->labels) {
                fprintf(stderr, "%s: rank %d: out of memory for the data\n", c->prog, c->rank);
                return -1; /* the job ends: mpi_train aborts on any failure */
            }
        }
        if (c->bcast(c, s[k]->images, (size_t)n[k] * (size_t)h->pixels) != 0 ||
            c->bcast(c, s[k]->labels, (size_t)n[k]) != 0)
            return -1;
    }
    return 0;
}

/* ---- one step --------------------------------------------------------------------------------- */

typedef struct {
    nn_params *ps;
    nn_mlp net;
    nn_optim *opt;
    ag_tape *tape;
    const data_header *h;
    float *x;        /* (max(micro, EVAL_BATCH), pixels) staging */
    int *lab, *order;
    float *partials; /* this rank's partial gradients of one step, n floats each */
    float *sum;      /* the batch gradient */
    long n;          /* nn_params_numel */
} trainer;

static void fill_rows(const trainer *tr, const split *s, const int *order, int start, int rows) {
    const int px = tr->h->pixels;
    for (int r = 0; r < rows; r++) {
        const int item = order ? order[start + r] : start + r;
        const unsigned char *img = s->images + (size_t)item * px;
        for (int j = 0; j < px; j++) tr->x[(size_t)r * px + j] = tr->h->pixel_value[img[j]];
        tr->lab[r] = s->labels[item];
    }
}

static int argmax_row(const ag_tensor *y, int r) {
    const float *p = y->data + (size_t)r * y->shape[1];
    int best = 0;
    for (int j = 1; j < y->shape[1]; j++)
        if (p[j] > p[best]) best = j;
    return best;
}

/* The partial gradient of micro-batch rows start .. start+rows-1 of a batch of b rows, packed
 * into out; adds its loss (times rows) and misclassified rows to the tallies. */
static int micro_partial(trainer *tr, const split *s, int start, int rows, int b, float *out,
                         double *loss, double *wrong) {
    ag_tape *t = tr->tape;
    fill_rows(tr, s, tr->order, start, rows);
    nn_zero_grad(tr->ps);
    ag_tensor *X = ag_tape_tensor(t, 2, (int[]){rows, tr->h->pixels}, tr->x);
    ag_tensor *logits = nn_mlp_forward(t, &tr->net, X);       /* (rows,784) -> (rows,10) */
    ag_tensor *E = ag_softmax_xent(t, logits, tr->lab);        /* mean over the rows */
    ag_tensor *share = ag_scale(t, E, (double)rows / b);       /* its share of the batch mean */
    if (ag_backward(t, share) != 0 || ag_tape_error(t)) {
        fprintf(stderr, "training: %s\n", nn_error(t));
        return -1;
    }
    *loss += ag_item(E) * rows;
    for (int r = 0; r < rows; r++) *wrong += argmax_row(logits, r) != tr->lab[r];
    ag_tape_reset(t);
    return nn_grads_pack(tr->ps, out, tr->n);
}

/* One epoch: every rank computes its micro-batches of each batch, the comm sums them in order,
 * every rank steps. tallies[0] += loss * rows, tallies[1] += wrong (this rank's rows only). */
static int train_epoch(dp_comm *c, trainer *tr, const options *o, const split *s, nn_rng *rng,
                       double tallies[2], double *reduce_seconds) {
    nn_rng_shuffle(rng, tr->order, s->n);
    for (int start = 0; start < s->n; start += o->batch) {
        const int b = s->n - start < o->batch ? s->n - start : o->batch;
        const int K = (b + o->micro - 1) / o->micro;
        int first, count;
        dp_share(K, c->size, c->rank, &first, &count);
        for (int j = 0; j < count; j++) {
            const int k = first + j, at = k * o->micro;
            const int rows = b - at < o->micro ? b - at : o->micro;
            if (micro_partial(tr, s, start + at, rows, b, tr->partials + (size_t)j * tr->n,
                              &tallies[0], &tallies[1]) != 0)
                return -1;
        }
        const double t0 = now();
        if (c->reduce(c, tr->partials, first, count, K, tr->sum, tr->n) != 0) return -1;
        *reduce_seconds += now() - t0;
        if (nn_grads_unpack(tr->ps, tr->sum, tr->n) != 0 || nn_optim_step(tr->opt, NULL) != 0) {
            fprintf(stderr, "%s: rank %d: step: %s\n", c->prog, c->rank, ag_last_error());
            return -1;
        }
    }
    return 0;
}

/* Test items of this rank's share, classified; returns how many were right, or -1. */
static long test_right(dp_comm *c, trainer *tr, const split *s) {
    int first, count;
    dp_share(s->n, c->size, c->rank, &first, &count);
    long right = 0;
    for (int at = first; at < first + count; at += EVAL_BATCH) {
        const int rows = first + count - at < EVAL_BATCH ? first + count - at : EVAL_BATCH;
        fill_rows(tr, s, NULL, at, rows);
        ag_tape *t = tr->tape;
        ag_tensor *y = nn_mlp_forward(t, &tr->net,
                                      ag_tape_tensor(t, 2, (int[]){rows, tr->h->pixels}, tr->x));
        if (ag_tape_error(t)) {
            fprintf(stderr, "%s: testing: %s\n", c->prog, ag_tape_error(t));
            return -1;
        }
        for (int r = 0; r < rows; r++) right += argmax_row(y, r) == tr->lab[r];
        ag_tape_reset(t);
    }
    return right;
}

/* Every rank's weights must hash as rank 0's. Returns 0, or -1 (on every rank) when not. */
static int check_same_weights(dp_comm *c, const trainer *tr, const char *when, uint64_t *hash) {
    uint64_t all[1024];
    *hash = weights_hash(tr->ps);
    if (c->gather_hash(c, *hash, all) != 0) return -1;
    int bad = 0;
    for (int r = 1; r < c->size; r++)
        if (all[r] != all[0]) {
            if (c->rank == 0)
                fprintf(stderr, "%s: rank %d's weights differ from rank 0's %s (hash %016llx, "
                                "rank 0 %016llx)\n", c->prog, r, when, (unsigned long long)all[r],
                        (unsigned long long)all[0]);
            bad = 1;
        }
    return bad ? -1 : 0;
}

/* Every rank must compute the same bits for the same micro-batch: the partial gradient of the
 * first micro-batch of the (unshuffled) training set, hashed and compared with rank 0's. Differing
 * CPU kernels (AVX-512 on one machine, AVX2 on another) or library builds fail here, before any
 * step, instead of quietly breaking the promise. 0, or -1 on every rank. */
static int check_same_kernels(dp_comm *c, trainer *tr, const options *o, const split *s) {
    const int rows = s->n < o->micro ? s->n : o->micro;
    double ignored[2] = {0, 0};
    if (rows < 1) return 0;
    if (micro_partial(tr, s, 0, rows, rows, tr->sum, &ignored[0], &ignored[1]) != 0) return -1;
    nn_zero_grad(tr->ps);
    uint64_t all[1024];
    const uint64_t h = fnv1a(FNV_START, tr->sum, (size_t)tr->n * sizeof(float));
    if (c->gather_hash(c, h, all) != 0) return -1;
    int bad = 0;
    for (int r = 1; r < c->size; r++)
        if (all[r] != all[0]) {
            if (c->rank == 0)
                fprintf(stderr, "%s: rank %d computes another gradient than rank 0 for the same "
                                "images: different CPU kernels or library builds. Run the same "
                                "build everywhere with the same kernels, e.g. mpirun -x "
                                "BACKPROP_ISA=avx2 (docs/scale-out.md)\n", c->prog, r);
            bad = 1;
        }
    return bad ? -1 : 0;
}

/* Go on from a checkpoint written by --checkpoint with the same settings: every rank loads it
 * (weights and optimiser state), the epochs it holds are skipped with the same shuffles (so the
 * generator is where it was) and the learning rate decays as after an epoch. Returns the number
 * of epochs done, or -1 (on every rank: a failure on one is made known to all). */
static int resume(dp_comm *c, trainer *tr, const options *o, const split *s, nn_rng *rng) {
    double failed = nn_load(o->resume, tr->ps, tr->opt) != 0;
    if (failed) fprintf(stderr, "%s: rank %d: --resume: %s\n", c->prog, c->rank, ag_last_error());
    if (c->sum_doubles(c, &failed, 1) != 0 || failed) return -1;
    const long steps = nn_optim_steps(tr->opt), per_epoch = (s->n + o->batch - 1) / o->batch;
    if (steps % per_epoch != 0) {
        if (c->rank == 0)
            fprintf(stderr, "%s: --resume %s: its %ld steps are not whole epochs of %ld steps: "
                            "a checkpoint of another --batch or --train-size?\n",
                    c->prog, o->resume, steps, per_epoch);
        return -1;
    }
    if (steps / per_epoch > o->epochs) {
        if (c->rank == 0)
            fprintf(stderr, "%s: --resume %s: it holds %ld epochs, more than --epochs %d\n",
                    c->prog, o->resume, steps / per_epoch, o->epochs);
        return -1;
    }
    const int done = (int)(steps / per_epoch);
    for (int e = 0; e < done; e++) nn_rng_shuffle(rng, tr->order, s->n);
    if (done > 0) nn_optim_set_lr(tr->opt, nn_optim_lr(tr->opt) * o->lr_decay);
    return done;
}

/* ---- options and the run ---------------------------------------------------------------------- */

static int parse(dp_comm *c, int argc, char **argv, options *o, nn_act *act, bool *adam) {
    *o = (options){.data = DEFAULT_DATA, .layers = "784-256-10", .act = "relu", .optim = "sgd",
                   .reduce = "ordered", .momentum = 0.9, .lr_decay = 0.8, .batch = 64,
                   .micro = 16, .epochs = 10, .seed = 1};
    const cli_opt opts[] = {
        {"--data", CLI_STRING, &o->data, 0, -1, "directory holding the IDX files (plain or .gz)"},
        {"--layers", CLI_STRING, &o->layers, 0, -1, "layer sizes, input 784 and output 10"},
        {"--act", CLI_STRING, &o->act, 0, -1, "hidden units: relu, tanh or sigmoid"},
        {"--optim", CLI_STRING, &o->optim, 0, -1, "sgd (momentum) or adam"},
        {"--lr", CLI_DOUBLE, &o->lr, 0, 10, "learning rate; 0 picks 0.02 for sgd, 0.001 for adam"},
        {"--lr-decay", CLI_DOUBLE, &o->lr_decay, 0.01, 1, "lr multiplier after each epoch"},
        {"--momentum", CLI_DOUBLE, &o->momentum, 0, 0.999, "sgd's alpha"},
        {"--batch", CLI_INT, &o->batch, 1, 60000, "images per global batch (all ranks together)"},
        {"--micro-batch", CLI_INT, &o->micro, 1, 60000, "images per micro-batch: the unit of "
                                                        "work and of the fixed summation order"},
        {"--epochs", CLI_INT, &o->epochs, 0, 1000, "passes over the training set"},
        {"--train-size", CLI_INT, &o->train_size, 0, 60000, "the first N training images (0: all)"},
        {"--test-size", CLI_INT, &o->test_size, 0, 10000, "the first N test images (0: all)"},
        {"--seed", CLI_LONG, &o->seed, 0, 2147483647, "seed of the weights and the shuffling"},
        {"--save", CLI_STRING, &o->save, 0, -1, "write the final weights here (rank 0; as "
                                                "examples/fashion_mnist --save)"},
        {"--checkpoint", CLI_STRING, &o->checkpoint, 0, -1, "after each epoch, rank 0 saves "
                                                            "weights and optimiser state here"},
        {"--resume", CLI_STRING, &o->resume, 0, -1, "go on from this checkpoint (every rank "
                                                    "reads it: a path all machines see)"},
        {"--reduce", CLI_STRING, &o->reduce, 0, -1, "ordered (the same bits for any number of "
                                                    "ranks) or allreduce (plain MPI_Allreduce)"},
        {"--quiet", CLI_FLAG, &o->quiet, 0, -1, "only the result line"},
    };
    const int n = (int)(sizeof opts / sizeof opts[0]);
    const char *about = "Fashion-MNIST trained data-parallel: the same weights, bit for bit, "
                        "for any number of processes";
    int rc = cli_parse(argc, argv, opts, n, about);
    if (rc != CLI_CONTINUE) return rc;
    if (!strcmp(o->act, "relu")) *act = NN_RELU;
    else if (!strcmp(o->act, "tanh")) *act = NN_TANH;
    else if (!strcmp(o->act, "sigmoid")) *act = NN_SIGMOID;
    else return cli_error(argv, opts, n, about, "--act must be relu, tanh or sigmoid");
    if (strcmp(o->optim, "sgd") && strcmp(o->optim, "adam"))
        return cli_error(argv, opts, n, about, "--optim must be sgd or adam");
    *adam = !strcmp(o->optim, "adam");
    if (strcmp(o->reduce, "ordered") && strcmp(o->reduce, "allreduce"))
        return cli_error(argv, opts, n, about, "--reduce must be ordered or allreduce");
    c->plain_allreduce = !strcmp(o->reduce, "allreduce");
    if (o->micro > o->batch)
        return cli_error(argv, opts, n, about, "--micro-batch %d is larger than --batch %d",
                         o->micro, o->batch);
    if ((o->batch + o->micro - 1) / o->micro > MAX_MICRO_BATCHES)
        return cli_error(argv, opts, n, about, "--batch / --micro-batch is more than %d "
                         "micro-batches", MAX_MICRO_BATCHES);
    if (c->size > 1024)
        return cli_error(argv, opts, n, about, "at most 1024 processes (%d started)", c->size);
    if (o->lr == 0) o->lr = *adam ? 0.001 : 0.02;
    return CLI_CONTINUE;
}

int dp_main(dp_comm *c, int argc, char **argv, int *help_only) {
    options o;
    nn_act act = NN_RELU;
    bool adam = false;
    *help_only = 0;
    /* Every rank parses the same command line; only rank 0 speaks about it. */
    int saved[2] = {-1, -1};
    if (c->rank != 0) {
        fflush(stdout), fflush(stderr);
        const int quiet = open("/dev/null", O_WRONLY);
        for (int fd = 1; fd <= 2 && quiet >= 0; fd++) saved[fd - 1] = dup(fd), dup2(quiet, fd);
        if (quiet >= 0) close(quiet);
    }
    int rc = parse(c, argc, argv, &o, &act, &adam);
    if (c->rank != 0) {
        fflush(stdout), fflush(stderr);
        for (int fd = 1; fd <= 2; fd++)
            if (saved[fd - 1] >= 0) dup2(saved[fd - 1], fd), close(saved[fd - 1]);
    }
    if (rc != CLI_CONTINUE) {
        *help_only = rc == 0;
        return rc;
    }
    data_header h;
    split train = {0}, test = {0};
    trainer tr = {.h = &h};
    rc = 1;
    if (share_data(c, &o, &h, &train, &test) != 0) goto done;
    nn_rng rng = nn_rng_seed((uint64_t)o.seed); /* the same draws as examples/fashion_mnist */
    tr.ps = nn_params_new();
    tr.net = nn_mlp_new(tr.ps, "mlp", o.layers, act, NN_IDENTITY,
                        act == NN_RELU ? nn_init_he() : nn_init_xavier(), &rng);
    if (!tr.ps || tr.net.nlayers == 0 || tr.net.layer[0].W->shape[0] != h.pixels ||
        tr.net.layer[tr.net.nlayers - 1].W->shape[1] != NCLASS) {
        if (c->rank == 0)
            fprintf(stderr, "%s: --layers %s: %s\n", c->prog, o.layers,
                    tr.net.nlayers ? "must start with 784 and end with 10" : ag_last_error());
        goto done;
    }
    tr.n = nn_params_numel(tr.ps);
    tr.opt = adam ? nn_adam_new(tr.ps, o.lr) : nn_sgd_new(tr.ps, o.lr, o.momentum);
    tr.tape = ag_tape_new();
    const int rows = o.micro > EVAL_BATCH ? o.micro : EVAL_BATCH;
    const int K = (o.batch + o.micro - 1) / o.micro;
    const int most = (K + c->size - 1) / c->size; /* micro-batches a rank holds at most */
    tr.x = malloc((size_t)rows * (size_t)h.pixels * sizeof(float));
    tr.lab = malloc((size_t)rows * sizeof(int));
    tr.order = malloc((size_t)(train.n ? train.n : 1) * sizeof(int));
    tr.partials = malloc((size_t)(most ? most : 1) * (size_t)tr.n * sizeof(float));
    tr.sum = malloc((size_t)tr.n * sizeof(float));
    if (!tr.opt || !tr.tape || !tr.x || !tr.lab || !tr.order || !tr.partials || !tr.sum) {
        fprintf(stderr, "%s: rank %d: out of memory (%s)\n", c->prog, c->rank, ag_last_error());
        goto done;
    }
    for (int i = 0; i < train.n; i++) tr.order[i] = i;
    const int epochs_done = o.resume ? resume(c, &tr, &o, &train, &rng) : 0;
    if (epochs_done < 0) goto done;
    uint64_t hash;
    if (check_same_weights(c, &tr, "at the start", &hash) != 0 ||
        check_same_kernels(c, &tr, &o, &train) != 0)
        goto done;
    if (c->rank == 0 && !o.quiet) {
        printf("%d training and %d test images; net %s (%ld weights, %ld bytes of gradient "
               "per step), %s; %d process%s\n", train.n, test.n, o.layers, tr.n,
               tr.n * (long)sizeof(float), adam ? "adam" : "sgd", c->size, c->size > 1 ? "es" : "");
        printf("global batch %d = %d micro-batches of %d (at most %d per process); reduction: "
               "%s\n", o.batch, K, o.micro, most, c->plain_allreduce ? "plain MPI_Allreduce"
                                                                     : "ordered (fixed order)");
        if (K < c->size)
            printf("note: %d micro-batches per batch for %d processes: %d of them idle at every "
                   "step (raise --batch or lower --micro-batch)\n", K, c->size, c->size - K);
        if (o.resume)
            printf("resumed from %s after epoch %d of %d\n", o.resume, epochs_done,
                   o.epochs);
        fflush(stdout);
    }
    double train_seconds = 0, reduce_seconds = 0, acc = 0;
    for (int e = epochs_done; e < o.epochs; e++) {
        double tallies[3] = {0, 0, 0}, red = 0;
        const double t0 = now();
        if (train_epoch(c, &tr, &o, &train, &rng, tallies, &red) != 0) goto done;
        const double t1 = now();
        const long right = test_right(c, &tr, &test);
        if (right < 0) goto done;
        tallies[2] = (double)right;
        if (c->sum_doubles(c, tallies, 3) != 0) goto done;
        char when[64];
        snprintf(when, sizeof when, "after epoch %d", e + 1);
        if (check_same_weights(c, &tr, when, &hash) != 0) goto done;
        train_seconds += t1 - t0;
        reduce_seconds += red;
        acc = test.n ? tallies[2] / test.n : 0;
        if (c->rank == 0 && o.checkpoint && nn_save(o.checkpoint, tr.ps, tr.opt) != 0) {
            fprintf(stderr, "%s: checkpoint: %s\n", c->prog, ag_last_error());
            goto done;
        }
        if (c->rank == 0 && !o.quiet) {
            printf("epoch %2d/%d  train loss %.4f  train error %6.2f%%  test acc %.4f  %.2f s "
                   "(reduction %.2f s)  weights %016llx on all %d%s\n", e + 1, o.epochs,
                   tallies[0] / train.n, 100 * tallies[1] / train.n, acc, t1 - t0, red,
                   (unsigned long long)hash, c->size, o.checkpoint ? ", checkpoint saved" : "");
            fflush(stdout);
        }
        nn_optim_set_lr(tr.opt, nn_optim_lr(tr.opt) * o.lr_decay);
    }
    if (c->rank == 0 && o.save) {
        if (nn_save(o.save, tr.ps, NULL) != 0) {
            fprintf(stderr, "%s: --save: %s\n", c->prog, ag_last_error());
            goto done;
        }
        if (!o.quiet) printf("weights saved to %s\n", o.save);
    }
    const int ran = o.epochs - epochs_done;
    if (c->rank == 0)
        printf("result: test_acc=%.4f epochs=%d processes=%d seconds_per_epoch=%.2f "
               "reduce_seconds_per_epoch=%.3f weights=%016llx\n", acc, o.epochs, c->size,
               ran ? train_seconds / ran : 0.0, ran ? reduce_seconds / ran : 0.0,
               (unsigned long long)hash);
    rc = 0;
done:
    free(tr.x), free(tr.lab), free(tr.order), free(tr.partials), free(tr.sum);
    ag_tape_free(tr.tape);
    nn_optim_free(tr.opt);
    nn_params_free(tr.ps);
    free(train.images), free(train.labels), free(test.images), free(test.labels);
    return rc;
}
