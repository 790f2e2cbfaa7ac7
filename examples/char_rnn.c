/*
 * char_rnn -- a character-level recurrent net learns to predict the next character of a text,
 * then writes some text of its own.
 *
 * The net is the paper's recurrent layer unfolded in time, with a softmax readout:
 *
 *   h(t+1) = f(h(t) W + x(t) U + b)      x(t) the one-hot code of character t, f tanh or sigmoid
 *   p(t+1) = softmax(h(t+1) V + c)       the predicted distribution of character t+1
 *
 * Training is truncated back-propagation through time: the training text is cut into --batch
 * parallel streams; each step unfolds the net for --seq characters of every stream, from the
 * state the previous step ended in (held as data: no gradient flows back past the cut), takes
 * the mean cross-entropy of the predictions, and lets ag_backward sum the gradients of the
 * --seq copies of W, U and b. With --cell lstm or --cell gru the recurrent layer is a gated cell
 * instead (nn_lstm, nn_gru: PyTorch's formulas and gate order), trained the same way; the LSTM
 * carries its cell state from step to step beside h. The last tenth of the text (of each text,
 * when --text names a directory) is held out and only ever predicted.
 *
 *   examples/char_rnn                               # the licences every Debian system has
 *   examples/char_rnn --text mybook.txt --hidden 256 --steps 5000 --temperature 0.5
 *   examples/char_rnn --cell lstm                   # the same with an LSTM cell (or gru)
 *
 * Prints the training and held-out bits per character as it goes, a sample at the end, and
 * `result: bpc=X steps=N` with X the held-out bits per character.
 */
#define _POSIX_C_SOURCE 200809L /* opendir, lstat */
#include "backprop.h"
#include "support/cli.h"
#include "support/progress.h"
#include "support/svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

/* The licences every Debian system has (package base-files), as one text: about 240,000
 * characters. GPL-3 alone (35,000) is too little to learn from: see docs/real-data.md. */
#define DEFAULT_TEXT "/usr/share/common-licenses"
#define EVAL_SEQ 256 /* characters per tape when predicting the held-out text */

typedef struct {
    const char *text, *act, *optim, *prime, *svg, *cell;
    int hidden, seq, batch, sample;
    long steps, eval_every, seed;
    double lr, momentum, decay, clip, holdout, temperature;
    bool quiet;
} options;

/* The text as indices 0..V-1 into its alphabet (the distinct bytes, in byte order). */
typedef struct {
    int *code;
    long n;            /* characters: the training text, then the held-out text */
    long held;         /* characters held out, at the end */
    int V;             /* alphabet size */
    unsigned char alphabet[256];
    int index[256];    /* byte -> index, -1 when the byte never occurs */
} corpus;

typedef enum { CELL_ELMAN, CELL_LSTM, CELL_GRU } cell_kind;

typedef struct {
    cell_kind cell;
    nn_recurrent rnn; /* --cell elman */
    nn_lstm lstm;     /* --cell lstm */
    nn_gru gru;       /* --cell gru */
    nn_dense readout;
    ag_tensor *onehot; /* (V,V) identity: row i is the code of character i */
    ag_tensor *state;  /* (batch, H) the training streams' state, carried from step to step */
    ag_tensor *state1; /* (1, H) the same for predicting the held-out text and sampling */
    ag_tensor *cstate, *cstate1; /* the LSTM's cell states beside them (NULL for other cells) */
    int V, H;
} model;

/* ---- the text -------------------------------------------------------------------------------- */

/* A growing byte buffer. */
typedef struct {
    unsigned char *p;
    size_t n, cap;
} bytes;

static int bytes_reserve(bytes *b, size_t more) {
    if (b->cap - b->n >= more) return 0;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap - b->n < more)
        if ((cap *= 2) > ((size_t)1 << 30)) return -1;
    unsigned char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Append the bytes of the file at path to b. */
static int append_file(const char *path, bytes *b) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "char_rnn: cannot open --text %s: %s\n", path, strerror(errno));
        return 1;
    }
    bool bad = false;
    for (size_t r = 1; r > 0;) {
        if (bytes_reserve(b, 1 << 16) != 0) {
            fprintf(stderr, "char_rnn: %s: the text is too big\n", path);
            bad = true;
            break;
        }
        b->n += r = fread(b->p + b->n, 1, b->cap - b->n, f);
    }
    if (!bad && ferror(f)) {
        fprintf(stderr, "char_rnn: cannot read %s: read error\n", path);
        bad = true;
    }
    fclose(f);
    return bad;
}

/* Append one text to the training bytes and its last `holdout` fraction to the held-out ones. */
static int split_text(const bytes *text, double holdout, bytes *train, bytes *tail) {
    size_t held = (size_t)((double)text->n * holdout);
    if (bytes_reserve(train, text->n - held) || bytes_reserve(tail, held)) {
        fprintf(stderr, "char_rnn: out of memory\n");
        return 1;
    }
    /* (a part of length 0 may have no buffer yet: memcpy must not see its NULL) */
    if (text->n > held) memcpy(train->p + train->n, text->p, text->n - held);
    train->n += text->n - held;
    if (held) memcpy(tail->p + tail->n, text->p + text->n - held, held);
    tail->n += held;
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The text at path as [training text][held-out text], with *held the length of the second part.
 * A file's held-out text is its last `holdout` fraction. A directory's is the last fraction of
 * each of its regular files (read in name order; links are skipped, so a text linked under two
 * names counts once): every text is learned from, and every text's tail is tested on. */
static int read_text(const char *path, double holdout, bytes *out, size_t *held) {
    bytes train = {0}, tail = {0}, one = {0};
    int rc = 0, count = 0;
    char *names[256];
    DIR *dir = opendir(path);
    if (!dir) {
        rc = append_file(path, &one) || split_text(&one, holdout, &train, &tail);
    } else {
        for (struct dirent *e; !rc && (e = readdir(dir));) {
            char full[4096];
            struct stat st;
            if (snprintf(full, sizeof full, "%s/%s", path, e->d_name) >= (int)sizeof full) {
                fprintf(stderr, "char_rnn: %s/%s: the path is too long\n", path, e->d_name);
                rc = 1;
            } else if (lstat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
                continue;
            } else if (count == (int)(sizeof names / sizeof names[0])) {
                fprintf(stderr, "char_rnn: %s holds more than %d texts; give a directory with "
                        "fewer\n", path, count);
                rc = 1;
            } else if (!(names[count] = malloc(strlen(full) + 1))) {
                fprintf(stderr, "char_rnn: out of memory\n");
                rc = 1;
            } else {
                strcpy(names[count++], full);
            }
        }
        closedir(dir);
        qsort(names, (size_t)count, sizeof names[0], by_name);
        for (int i = 0; i < count; i++) {
            one.n = 0;
            if (!rc) rc = append_file(names[i], &one) || split_text(&one, holdout, &train, &tail);
            free(names[i]);
        }
        if (!rc && train.n == 0) {
            fprintf(stderr, "char_rnn: no text in the directory %s\n", path);
            rc = 1;
        }
    }
    if (!rc && bytes_reserve(&train, tail.n)) {
        fprintf(stderr, "char_rnn: out of memory\n");
        rc = 1;
    }
    if (!rc && tail.n) memcpy(train.p + train.n, tail.p, tail.n);
    *held = tail.n;
    train.n += rc ? 0 : tail.n;
    free(tail.p);
    free(one.p);
    *out = train;
    return rc;
}

static int load_text(const char *path, double holdout, corpus *c) {
    memset(c, 0, sizeof *c);
    bytes text;
    size_t held;
    if (read_text(path, holdout, &text, &held)) {
        free(text.p);
        return 1;
    }
    const unsigned char *buf = text.p;
    const size_t n = text.n;
    c->held = (long)held;
    c->code = malloc((n ? n : 1) * sizeof(int));
    if (!c->code) {
        free(text.p);
        fprintf(stderr, "char_rnn: out of memory for %zu characters\n", n);
        return 1;
    }
    bool seen[256] = {false};
    for (size_t i = 0; i < n; i++) seen[buf[i]] = true;
    for (int b = 0; b < 256; b++) {
        c->index[b] = seen[b] ? c->V : -1;
        if (seen[b]) c->alphabet[c->V++] = (unsigned char)b;
    }
    for (size_t i = 0; i < n; i++) c->code[i] = c->index[buf[i]];
    c->n = (long)n;
    free(text.p);
    return 0;
}

/* ---- the net --------------------------------------------------------------------------------- */

static int model_new(model *m, nn_params *ps, cell_kind cell, int V, int H, nn_act act, int rows,
                     nn_rng *rng) {
    memset(m, 0, sizeof *m);
    m->V = V;
    m->H = H;
    m->cell = cell;
    bool made;
    if (cell == CELL_LSTM) {
        m->lstm = nn_lstm_new(ps, "lstm", V, H, nn_init_xavier(), rng);
        m->cstate = ag_tensor_2d(rows, H, false);
        m->cstate1 = ag_tensor_2d(1, H, false);
        made = m->lstm.W_ih && m->cstate && m->cstate1;
    } else if (cell == CELL_GRU) {
        m->gru = nn_gru_new(ps, "gru", V, H, nn_init_xavier(), rng);
        made = m->gru.W_ih != NULL;
    } else {
        m->rnn = nn_recurrent_new(ps, "rnn", V, H, act, nn_init_xavier(), rng);
        made = m->rnn.W != NULL;
    }
    m->readout = nn_dense_new(ps, "readout", H, V, NN_IDENTITY, nn_init_xavier(), rng);
    m->onehot = ag_tensor_2d(V, V, false);
    m->state = ag_tensor_2d(rows, H, false);
    m->state1 = ag_tensor_2d(1, H, false);
    if (!made || !m->readout.W || !m->onehot || !m->state || !m->state1) return -1;
    for (int i = 0; i < V; i++) m->onehot->data[i * V + i] = 1.0f;
    return 0;
}

static void model_free(model *m) {
    ag_tensor_free(m->onehot);
    ag_tensor_free(m->state);
    ag_tensor_free(m->state1);
    ag_tensor_free(m->cstate);
    ag_tensor_free(m->cstate1);
}

/* Unfold the net over T characters of B streams: codes[t*B + s] is character t of stream s.
 * Starts from the state in `carry` (B,H) (and the LSTM's cell state in `ccarry`) or, when fresh,
 * from zero, and leaves the last state, detached, in carry (and ccarry) (ag_detach_into: a
 * user-owned tensor that outlives the tape's reset, so no gradient flows back into the previous
 * unfolding: truncated back-propagation through time). Returns the logits (T*B, V), row t*B + s
 * predicting character t+1 of stream s. */
static ag_tensor *unfold(ag_tape *t, model *m, ag_tensor *carry, ag_tensor *ccarry,
                         const int *codes, int T, int B, bool fresh) {
    ag_tensor *h = fresh ? NULL : carry; /* NULL: the zero state */
    ag_tensor *c = fresh ? NULL : ccarry;
    ag_tensor *hs[EVAL_SEQ];
    for (int k = 0; k < T; k++) {
        ag_tensor *x = ag_gather_rows(t, m->onehot, codes + (size_t)k * B, B); /* (B,V) one-hot */
        if (m->cell == CELL_LSTM) h = nn_lstm_step(t, &m->lstm, h, c, x, &c);  /* (B,H) each */
        else if (m->cell == CELL_GRU) h = nn_gru_step(t, &m->gru, h, x);
        else h = nn_recurrent_step(t, &m->rnn, h, x);
        hs[k] = h;
    }
    ag_tensor *all = ag_concat(t, hs, T, 0);                /* (T*B, H) */
    ag_tensor *logits = nn_dense_forward(t, &m->readout, all); /* (T*B, V) */
    ag_detach_into(t, h, carry);
    if (ccarry) ag_detach_into(t, c, ccarry);
    return logits;
}

/* Bits per character of text[0..n-1] predicted one character at a time from a zero state:
 * the mean of -log2 p(next character). NaN on a tape error. */
static double held_out_bpc(ag_tape *t, model *m, const int *text, long n) {
    double nats = 0;
    bool fresh = true;
    for (long start = 0; start + 1 < n; start += EVAL_SEQ) {
        const int T = (int)(n - 1 - start < EVAL_SEQ ? n - 1 - start : EVAL_SEQ);
        ag_tensor *logits = unfold(t, m, m->state1, m->cstate1, text + start, T, 1, fresh);
        ag_tensor *E = ag_softmax_xent(t, logits, text + start + 1);
        if (ag_tape_error(t)) {
            fprintf(stderr, "char_rnn: held-out text: %s\n", ag_tape_error(t));
            ag_tape_reset(t);
            return NAN;
        }
        nats += ag_item(E) * T;
        ag_tape_reset(t);
        fresh = false;
    }
    return nats / (double)(n - 1) / log(2.0);
}

/* Feed the prime (not empty), then draw n characters one at a time from
 * softmax(logits / temperature), printing them. Returns 0, or 1 on a tape error. */
static int sample(ag_tape *t, model *m, const corpus *c, const char *prime, int n,
                  double temperature, nn_rng *rng) {
    const size_t np = strlen(prime);
    double *p = malloc((size_t)m->V * sizeof(double));
    if (!p) return 1;
    printf("%s", prime);
    int code = c->index[(unsigned char)prime[0]];
    for (size_t k = 1; k < np + (size_t)n; k++) {
        ag_tensor *logits = unfold(t, m, m->state1, m->cstate1, &code, 1, 1, k == 1); /* (1,V) */
        if (ag_tape_error(t)) {
            fprintf(stderr, "char_rnn: sampling: %s\n", ag_tape_error(t));
            free(p);
            return 1;
        }
        if (k < np) {
            code = c->index[(unsigned char)prime[k]];
        } else {
            double top = -INFINITY, sum = 0;
            for (int j = 0; j < m->V; j++) top = fmax(top, logits->data[j] / temperature);
            for (int j = 0; j < m->V; j++) sum += p[j] = exp(logits->data[j] / temperature - top);
            double u = nn_rng_uniform(rng) * sum;
            code = 0;
            while (code < m->V - 1 && (u -= p[code]) > 0) code++;
            putchar(c->alphabet[code]);
        }
        ag_tape_reset(t);
    }
    putchar('\n');
    free(p);
    return 0;
}

/* ---- options --------------------------------------------------------------------------------- */

static int parse_options(int argc, char **argv, options *o, cell_kind *cell, nn_act *act,
                         bool *adam) {
    *o = (options){.text = DEFAULT_TEXT, .act = "tanh", .cell = "elman", .optim = "adam", .prime = "The ",
                   .hidden = 256, .seq = 32, .batch = 16, .sample = 400, .steps = 10000,
                   .eval_every = 1000, .seed = 1, .lr = 0, .momentum = 0.9, .decay = 0.0001,
                   .clip = 5,
                   .holdout = 0.1, .temperature = 0.6};
    const cli_opt opts[] = {
        {"--text", CLI_STRING, &o->text, 0, -1,
         "the text to learn: a file, or a directory of files read in name order"},
        {"--hidden", CLI_INT, &o->hidden, 1, 4096, "recurrent units"},
        {"--cell", CLI_STRING, &o->cell, 0, -1,
         "recurrent layer: elman (the paper's), lstm or gru (PyTorch's gated cells)"},
        {"--act", CLI_STRING, &o->act, 0, -1, "elman units' activation: tanh or sigmoid"},
        {"--seq", CLI_INT, &o->seq, 1, EVAL_SEQ, "characters per unfolding (truncated BPTT)"},
        {"--batch", CLI_INT, &o->batch, 1, 1024, "parallel streams through the text"},
        {"--steps", CLI_LONG, &o->steps, 1, 100000000, "training steps"},
        {"--optim", CLI_STRING, &o->optim, 0, -1, "adam, or sgd (the paper's momentum rule)"},
        {"--lr", CLI_DOUBLE, &o->lr, 0, 10, "learning rate; 0 picks 0.003 for adam, 0.1 for sgd"},
        {"--momentum", CLI_DOUBLE, &o->momentum, 0, 0.999, "sgd's alpha"},
        {"--weight-decay", CLI_DOUBLE, &o->decay, 0, 0.5, "after each step every weight w <- (1 - "
                                                          "this) w"},
        {"--clip", CLI_DOUBLE, &o->clip, 0, 1e6, "largest gradient norm (0: no clipping)"},
        {"--holdout", CLI_DOUBLE, &o->holdout, 0.01, 0.5,
         "fraction held out at the end of the text (of each text, for a directory)"},
        {"--eval-every", CLI_LONG, &o->eval_every, 1, 100000000, "steps between held-out checks"},
        {"--sample", CLI_INT, &o->sample, 0, 1000000, "characters to write at the end"},
        {"--temperature", CLI_DOUBLE, &o->temperature, 0.01, 10, "sampling temperature"},
        {"--prime", CLI_STRING, &o->prime, 0, -1, "text the sample starts from"},
        {"--seed", CLI_LONG, &o->seed, 0, 2147483647, "seed of the weights and the sampling"},
        {"--svg-curve", CLI_STRING, &o->svg, 0, -1, "write the bits-per-character curves here"},
        {"--quiet", CLI_FLAG, &o->quiet, 0, -1, "no progress lines between checks"},
    };
    const int n = (int)(sizeof opts / sizeof opts[0]);
    const char *about = "a character-level recurrent net trained with truncated BPTT";
    int rc = cli_parse(argc, argv, opts, n, about);
    if (rc != CLI_CONTINUE) return rc;
    const char *bad = NULL;
    if (!strcmp(o->act, "tanh")) *act = NN_TANH;
    else if (!strcmp(o->act, "sigmoid")) *act = NN_SIGMOID;
    else bad = "--act must be tanh or sigmoid";
    if (!bad && !strcmp(o->cell, "elman")) *cell = CELL_ELMAN;
    else if (!bad && !strcmp(o->cell, "lstm")) *cell = CELL_LSTM;
    else if (!bad && !strcmp(o->cell, "gru")) *cell = CELL_GRU;
    else if (!bad) bad = "--cell must be elman, lstm or gru";
    if (!bad && !strcmp(o->optim, "adam")) *adam = true;
    else if (!bad && !strcmp(o->optim, "sgd")) *adam = false;
    else if (!bad) bad = "--optim must be adam or sgd";
    if (bad) {
        fprintf(stderr, "char_rnn: %s\n\n", bad);
        cli_usage(argv[0], opts, n, about, true);
        return 2;
    }
    if (o->lr == 0) o->lr = *adam ? 0.003 : 0.1;
    return CLI_CONTINUE;
}

/* ---- main ------------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    options o;
    nn_act act = NN_TANH;
    cell_kind cell = CELL_ELMAN;
    bool adam = true;
    int rc = parse_options(argc, argv, &o, &cell, &act, &adam);
    if (rc != CLI_CONTINUE) return rc;

    corpus c;
    if (load_text(o.text, o.holdout, &c)) return 1;
    const long held = c.held, ntrain = c.n - held;
    const long per_stream = ntrain / o.batch; /* characters in each stream */
    if (held < 2 || per_stream < o.seq + 1 || c.V < 2) {
        fprintf(stderr,
                "char_rnn: %s is too short: %ld characters (%d different) leave %ld held out and "
                "%ld per stream; each stream needs --seq + 1 = %d\n",
                o.text, c.n, c.V, held, per_stream, o.seq + 1);
        free(c.code);
        return 1;
    }
    for (const char *q = o.prime; *q; q++)
        if (c.index[(unsigned char)*q] < 0) {
            fprintf(stderr, "char_rnn: --prime: the character '%c' never occurs in %s\n", *q,
                    o.text);
            free(c.code);
            return 2;
        }

    rc = 1;
    nn_rng rng = nn_rng_seed((uint64_t)o.seed);
    nn_params *ps = nn_params_new();
    model m;
    nn_optim *opt = NULL;
    ag_tape *t = ag_tape_new();
    int *codes = malloc((size_t)(o.seq + 1) * o.batch * sizeof(int));
    const long nchecks = o.steps / o.eval_every + 2;
    double *curve_train = malloc((size_t)nchecks * sizeof(double));
    double *curve_held = malloc((size_t)nchecks * sizeof(double));
    int ncurve = 0;
    if (!ps || model_new(&m, ps, cell, c.V, o.hidden, act, o.batch, &rng) != 0 || !t || !codes ||
        !curve_train || !curve_held) {
        fprintf(stderr, "char_rnn: %s\n", ag_last_error()[0] ? ag_last_error() : "out of memory");
        goto done;
    }
    opt = adam ? nn_adam_new(ps, o.lr) : nn_sgd_new(ps, o.lr, o.momentum);
    if (!opt) {
        fprintf(stderr, "char_rnn: %s\n", ag_last_error());
        goto done;
    }
    nn_optim_set_weight_decay(opt, o.decay);

    printf("text %s: %ld characters, %d different; training on the first %ld, %ld held out\n",
           o.text, c.n, c.V, ntrain, held);
    printf("net: %d one-hot -> %d %s recurrent units -> softmax over %d (%ld weights); "
           "%d streams x %d characters a step; %s lr %g",
           c.V, o.hidden,
           cell == CELL_LSTM ? "LSTM" : cell == CELL_GRU ? "GRU" : nn_act_name(act), c.V, nn_params_numel(ps), o.batch, o.seq,
           adam ? "adam" : "sgd", o.lr);
    if (!adam) printf(" momentum %g", o.momentum);
    printf(", weight decay %g, gradient norm clipped at %g\n", o.decay, o.clip);
    printf("before training: held-out %.3f bits per character (uniform guessing: %.3f)\n",
           held_out_bpc(t, &m, c.code + ntrain, held), log2(c.V));

    /* Stream s reads training characters s*per_stream .. (s+1)*per_stream - 1; `pos` is where
     * every stream is. A stream that has no room for another unfolding starts again. */
    long pos = 0;
    bool fresh = true;
    double bits = 0, start = progress_now(), held_bpc = NAN;
    long bits_count = 0;
    progress p;
    progress_start(&p, "step", o.steps, o.quiet);
    for (long step = 1; step <= o.steps; step++) {
        if (pos + o.seq + 1 > per_stream) pos = 0, fresh = true;
        for (int k = 0; k <= o.seq; k++)
            for (int s = 0; s < o.batch; s++)
                codes[k * o.batch + s] = c.code[s * per_stream + pos + k];
        ag_tensor *logits = unfold(t, &m, m.state, m.cstate, codes, o.seq, o.batch, fresh); /* (seq*B,V) */
        ag_tensor *E = ag_softmax_xent(t, logits, codes + o.batch); /* the next characters */
        ag_backward(t, E);
        if (!ag_tape_error(t) && o.clip > 0) nn_clip_grad_norm(ps, o.clip); /* NaN: step refuses */
        if (nn_optim_step(opt, t) != 0) {
            fprintf(stderr, "char_rnn: step %ld: %s\n", step, nn_error(t));
            goto done;
        }
        bits += ag_item(E) / log(2.0);
        bits_count++;
        ag_tape_reset(t);
        pos += o.seq;
        fresh = false;
        progress_update(&p, step, bits / bits_count);
        if (step % o.eval_every == 0 || step == o.steps) {
            progress_end(&p);
            held_bpc = held_out_bpc(t, &m, c.code + ntrain, held);
            const double secs = progress_now() - start;
            printf("step %6ld/%ld  train %.3f bpc  held-out %.3f bpc  %.1f s  (%.0f chars/s)\n",
                   step, o.steps, bits / bits_count, held_bpc, secs,
                   (double)step * o.seq * o.batch / secs);
            fflush(stdout);
            curve_train[ncurve] = bits / bits_count;
            curve_held[ncurve++] = held_bpc;
            bits = 0, bits_count = 0;
            if (isnan(held_bpc)) goto done;
        }
    }
    const double train_seconds = progress_now() - start;

    if (o.sample > 0) {
        printf("\nsample (temperature %g):\n", o.temperature);
        if (sample(t, &m, &c, o.prime, o.sample, o.temperature, &rng)) goto done;
    }
    if (o.svg) {
        const svg_series series[2] = {{"training text", curve_train, ncurve, 1},
                                      {"held-out text", curve_held, ncurve, 1}};
        char xlabel[64];
        snprintf(xlabel, sizeof xlabel, "check (every %ld steps)", o.eval_every);
        if (svg_line_plot(o.svg, "char_rnn: bits per character", xlabel, "bits per character",
                          series, 2, false) != 0)
            goto done;
        printf("curves written to %s\n", o.svg);
    }
    printf("trained %ld steps in %.1f s\n", o.steps, train_seconds);
    printf("result: bpc=%.3f steps=%ld\n", held_bpc, o.steps);
    rc = 0;
done:
    nn_optim_free(opt);
    if (ps) model_free(&m);
    nn_params_free(ps);
    ag_tape_free(t);
    free(codes);
    free(curve_train);
    free(curve_held);
    free(c.code);
    return rc;
}
