/*
 * test_serialize.c -- nn_save / nn_load: the exact bytes of the format, round trips, resuming
 * training bit for bit (SGD with momentum and Adam), every kind of bad file refused with a
 * clear message and the model untouched, and a save that fails half-way (the disk refuses a
 * write, the allocator refuses memory) leaving the old file intact and loadable.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, setrlimit, opendir */
#include "support/testutil.h"

#include "nn/nn_private.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int make_dir(void **s) {
    (void)s;
    return tu_tmpdir_make(dir, sizeof dir, "backprop-serialize");
}

static int remove_dir(void **s) {
    (void)s;
    return tu_tmpdir_remove(dir);
}

static const char *file(const char *name) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* ---- files as bytes ------------------------------------------------------------------------- */

typedef struct {
    unsigned char *p;
    size_t n;
} bytes;

static bytes read_all(const char *path) {
    bytes b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    b.n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    b.p = malloc(b.n + 64);
    assert_non_null(b.p);
    assert_int_equal(fread(b.p, 1, b.n, f), b.n);
    fclose(f);
    return b;
}

static void write_all(const char *path, const unsigned char *p, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void set_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void set_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Make an edited file self-consistent again (size field and checksum), so that the check that
 * is meant to catch the edit is the one that fires. */
static void reseal(bytes *b) {
    set_le64(b->p + NN_FILE_OFF_SIZE, b->n);
    set_le32(b->p + b->n - 4, nn_crc32(0, b->p, b->n - 4));
}

/* ---- models --------------------------------------------------------------------------------- */

typedef struct {
    nn_params *ps;
    nn_mlp net;
    nn_recurrent rec;
} model;

/* The same architecture whatever the seed: an MLP 4-5-3 and a recurrent layer 3 -> 2.
 * reversed creates the layers in the other order (the parameter list's order differs). */
static model model_new(uint64_t seed, bool reversed) {
    model m;
    m.ps = nn_params_new();
    assert_non_null(m.ps);
    nn_rng rng = nn_rng_seed(seed);
    if (reversed) m.rec = nn_recurrent_new(m.ps, "rec", 3, 2, NN_TANH, nn_init_uniform(0.5), &rng);
    m.net = nn_mlp_new(m.ps, "mlp", "4-5-3", NN_SIGMOID, NN_SIGMOID, nn_init_uniform(0.5), &rng);
    if (!reversed) m.rec = nn_recurrent_new(m.ps, "rec", 3, 2, NN_TANH, nn_init_uniform(0.5), &rng);
    assert_int_equal(m.net.nlayers, 2);
    assert_non_null(m.rec.W);
    return m;
}

/* All parameter values of a list, in its order, as one block (to compare bit for bit). */
static float *snapshot(const nn_params *ps) {
    float *s = malloc((size_t)nn_params_numel(ps) * sizeof(float) + 1);
    assert_non_null(s);
    float *p = s;
    for (int i = 0; i < nn_params_count(ps); i++) {
        const ag_tensor *x = nn_params_at(ps, i);
        memcpy(p, x->data, (size_t)x->numel * sizeof(float));
        p += x->numel;
    }
    return s;
}

static void assert_unchanged(const nn_params *ps, const float *before) {
    float *now = snapshot(ps);
    assert_memory_equal(now, before, (size_t)nn_params_numel(ps) * sizeof(float));
    free(now);
}

/* One training sweep on fixed data: MLP on X (8,4) -> (8,3) against D, plus the recurrent
 * layer unfolded for 3 steps from the MLP's output; sse losses; backward; an optimiser step. */
static void sweep(model *m, nn_optim *opt, ag_tape *t) {
    float x[32], d[24];
    for (int i = 0; i < 32; i++) x[i] = (float)((i * 7 % 11) / 10.0 - 0.5);
    for (int i = 0; i < 24; i++) d[i] = (float)(i % 3 == 0);
    ag_tensor *X = ag_tape_tensor(t, 2, (const int[]){8, 4}, x);
    ag_tensor *D = ag_tape_tensor(t, 2, (const int[]){8, 3}, d);
    ag_tensor *y = nn_mlp_forward(t, &m->net, X);
    ag_tensor *h = NULL;
    for (int s = 0; s < 3; s++) h = nn_recurrent_step(t, &m->rec, h, y);
    ag_tensor *E = ag_add(t, ag_sse(t, y, D), ag_sum(t, ag_square(t, h)));
    assert_int_equal(ag_backward(t, E), 0);
    assert_int_equal(nn_optim_step(opt, t), 0);
    ag_tape_reset(t);
}

/* Everything an optimiser holds that a resume needs, for comparison. */
static void assert_same_optim(nn_optim *a, nn_optim *b) {
    nn_optim_state x = nn_optim_state_of(a), y = nn_optim_state_of(b);
    assert_ptr_equal(x.type, y.type);
    assert_int_equal(x.numel, y.numel);
    for (int k = 0; k < x.type->nstate; k++)
        assert_memory_equal(x.state[k], y.state[k], (size_t)x.numel * sizeof(float));
    assert_int_equal(*x.steps, *y.steps);
    assert_memory_equal(x.hyper, y.hyper, (size_t)x.type->nhyper * sizeof(double));
    const nn_schedule *p = x.sched, *q = y.sched;
    assert_int_equal(p->warmup, q->warmup);
    assert_int_equal(p->decay, q->decay);
    assert_int_equal(p->period, q->period);
    assert_memory_equal(&p->factor, &q->factor, sizeof(double));
    assert_int_equal(p->nchanges, q->nchanges);
    for (int i = 0; i < p->nchanges; i++) {
        assert_int_equal(p->changes[i].step, q->changes[i].step);
        assert_memory_equal(&p->changes[i].lr, &q->changes[i].lr, sizeof(double));
        assert_memory_equal(&p->changes[i].momentum, &q->changes[i].momentum, sizeof(double));
    }
}

/* ---- the format ----------------------------------------------------------------------------- */

static void test_crc32(void **state) {
    (void)state;
    assert_int_equal(nn_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(nn_crc32(0, "", 0), 0u);
    /* continuing a CRC over two pieces is the CRC of the whole */
    assert_int_equal(nn_crc32(nn_crc32(0, "12345", 5), "6789", 4), 0xCBF43926u);
}

/* The exact bytes of a small file (docs/format.md shows the same example): little-endian
 * integers and IEEE-754 floats, whatever the machine. */
static void test_exact_bytes(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    ag_tensor *w = nn_param_new(ps, "w", 1, (const int[]){2});
    w->data[0] = 1.0f;
    w->data[1] = -2.0f;
    assert_int_equal(nn_save(file("tiny.bp"), ps, NULL), 0);
    bytes b = read_all(file("tiny.bp"));
    const unsigned char want[] = {
        0x89, 'B', 'P', 'R', 'O', 'P', '\r', '\n', /* magic */
        1, 0, 0, 0,                                /* version 1 */
        0, 0, 0, 0,                                /* flags: no optimiser state */
        51, 0, 0, 0, 0, 0, 0, 0,                   /* file size 51 */
        1, 0, 0, 0,                                /* 1 parameter */
        0, 0, 0, 0,                                /* reserved */
        1, 'w',                                    /* name */
        1, 2, 0, 0, 0,                             /* shape (2) */
        0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, /* 1.0f, -2.0f */
    };
    assert_int_equal(b.n, sizeof want + 4);
    assert_memory_equal(b.p, want, sizeof want);
    assert_int_equal(le32(b.p + sizeof want), nn_crc32(0, want, sizeof want));
    free(b.p);
    nn_params_free(ps);
}

/* ---- round trips ---------------------------------------------------------------------------- */

static void test_round_trip(void **state) {
    (void)state;
    model a = model_new(1, false), b = model_new(2, false), c = model_new(3, true);
    float *want = snapshot(a.ps), *other = snapshot(b.ps);
    assert_true(memcmp(want, other, (size_t)nn_params_numel(a.ps) * sizeof(float)) != 0);
    assert_int_equal(nn_save(file("rt.bp"), a.ps, NULL), 0);
    assert_int_equal(nn_load(file("rt.bp"), b.ps, NULL), 0);
    assert_unchanged(b.ps, want);
    /* the same parameters created in another order: matched by name */
    assert_int_equal(nn_load(file("rt.bp"), c.ps, NULL), 0);
    for (int i = 0; i < nn_params_count(a.ps); i++) {
        const ag_tensor *x = nn_params_at(a.ps, i), *y = nn_params_find(c.ps, x->name);
        assert_non_null(y);
        assert_memory_equal(x->data, y->data, (size_t)x->numel * sizeof(float));
    }
    /* saving over an existing file replaces it */
    assert_int_equal(nn_save(file("rt.bp"), c.ps, NULL), 0);
    assert_int_equal(nn_load(file("rt.bp"), b.ps, NULL), 0);
    assert_unchanged(b.ps, want);
    free(want);
    free(other);
    nn_params_free(a.ps);
    nn_params_free(b.ps);
    nn_params_free(c.ps);
}

/* 2N sweeps == N sweeps, save, load into a fresh model and optimiser, N sweeps: bit for bit. */
typedef nn_optim *(*make_optim)(nn_params *ps);

static void resume_is_exact(make_optim make, const char *name) {
    const int N = 12;
    ag_tape *t = ag_tape_new();
    /* straight through */
    model a = model_new(5, false);
    nn_optim *oa = make(a.ps);
    for (int s = 0; s < 2 * N; s++) sweep(&a, oa, t);
    /* interrupted half-way */
    model b = model_new(5, false);
    nn_optim *ob = make(b.ps);
    for (int s = 0; s < N; s++) sweep(&b, ob, t);
    assert_int_equal(nn_save(file(name), b.ps, ob), 0);
    nn_optim_free(ob);
    nn_params_free(b.ps);
    /* a fresh process would build the model again, with other initial values and settings */
    model c = model_new(99, true);
    nn_optim *oc = make(c.ps);
    nn_optim_set_lr(oc, 0.5);
    nn_optim_set_momentum(oc, 0.1);
    nn_optim_schedule(oc, 3, 9.0, -1); /* and a schedule of its own, which the load replaces */
    nn_optim_warmup(oc, 7);
    nn_optim_step_decay(oc, 2, 0.5);
    assert_int_equal(nn_load(file(name), c.ps, oc), 0);
    assert_int_equal(nn_optim_steps(oc), N);
    for (int s = 0; s < N; s++) sweep(&c, oc, t);
    for (int i = 0; i < nn_params_count(a.ps); i++) {
        const ag_tensor *x = nn_params_at(a.ps, i), *y = nn_params_find(c.ps, x->name);
        assert_memory_equal(x->data, y->data, (size_t)x->numel * sizeof(float));
    }
    /* and the optimisers agree on everything (state in the order of each one's list) */
    model d = model_new(5, false); /* c's list is reversed: compare through a same-order copy */
    nn_optim *od = make(d.ps);
    assert_int_equal(nn_save(file(name), c.ps, oc), 0);
    assert_int_equal(nn_load(file(name), d.ps, od), 0);
    assert_same_optim(oa, od);
    nn_optim_free(oa), nn_optim_free(oc), nn_optim_free(od);
    nn_params_free(a.ps), nn_params_free(c.ps), nn_params_free(d.ps);
    ag_tape_free(t);
}

/* The paper's rule with weight decay, and a schedule change still pending at the save. */
static nn_optim *make_sgd(nn_params *ps) {
    nn_optim *o = nn_sgd_new(ps, 0.3, 0.5);
    nn_optim_set_weight_decay(o, 1e-3);
    nn_optim_schedule(o, 16, -1, 0.9);
    return o;
}
static nn_optim *make_adam(nn_params *ps) {
    nn_optim *o = nn_adam_new(ps, 0.01);
    nn_adam_set(o, 0.8, 0.99, 1e-7);
    return o;
}

/* RMSprop with momentum and the paper's decay; a cosine and changes before and after the save
 * point (12 sweeps). */
static nn_optim *make_rmsprop(nn_params *ps) {
    nn_optim *o = nn_rmsprop_new(ps, 0.02);
    nn_rmsprop_set(o, 0.9, 1e-6);
    nn_optim_set_momentum(o, 0.5);
    nn_optim_set_weight_decay(o, 1e-3);
    nn_optim_cosine(o, 30, 0.1);
    nn_optim_schedule(o, 5, 0.03, 0.6);
    nn_optim_schedule(o, 15, -1, 0.8);
    nn_optim_schedule(o, 20, 0.01, -1);
    return o;
}
/* AdamW with its own constants, a warm-up, a step decay and three changes still pending at
 * the save. */
static nn_optim *make_adamw(nn_params *ps) {
    nn_optim *o = nn_adamw_new(ps, 0.01, 0.05);
    nn_adam_set(o, 0.85, 0.995, 1e-7);
    nn_optim_warmup(o, 4);
    nn_optim_step_decay(o, 5, 0.7);
    nn_optim_schedule(o, 14, 0.02, -1);
    nn_optim_schedule(o, 17, 0.005, -1);
    nn_optim_schedule(o, 22, 0.004, -1);
    return o;
}
/* The paper's rule with several pending changes: the schedule section with SGD. */
static nn_optim *make_sgd_changes(nn_params *ps) {
    nn_optim *o = nn_sgd_new(ps, 0.3, 0.5);
    nn_optim_schedule(o, 13, -1, 0.9);
    nn_optim_schedule(o, 18, 0.1, -1);
    return o;
}

static void test_resume_rmsprop(void **state) {
    (void)state;
    resume_is_exact(make_rmsprop, "rmsprop.bp");
}

static void test_resume_adamw(void **state) {
    (void)state;
    resume_is_exact(make_adamw, "adamw.bp");
}

static void test_resume_sgd_with_pending_changes(void **state) {
    (void)state;
    resume_is_exact(make_sgd_changes, "sgd-changes.bp");
}

/* Every optimiser of the table, with its defaults, a warm-up and changes pending at the save:
 * a new entry is tested here without a line of its own. */
static const nn_optim_type *table_type;
static nn_optim *make_from_table(nn_params *ps) {
    nn_optim *o = nn_optim_new_of_type("test", table_type, ps, table_type->hyper[0].fallback, 0,
                                       NULL, NULL);
    assert_non_null(o);
    nn_optim_warmup(o, 3);
    nn_optim_schedule(o, 14, 2 * table_type->hyper[0].fallback, -1);
    nn_optim_schedule(o, 19, table_type->hyper[0].fallback, -1);
    return o;
}

static void test_resume_every_optimiser_in_the_table(void **state) {
    (void)state;
    for (int k = 0; k < nn_optim_table_count; k++) {
        table_type = nn_optim_table[k];
        resume_is_exact(make_from_table, "table.bp");
    }
}

static void test_resume_sgd_momentum(void **state) {
    (void)state;
    resume_is_exact(make_sgd, "sgd.bp");
}

static void test_resume_adam(void **state) {
    (void)state;
    resume_is_exact(make_adam, "adam.bp");
}

/* ---- bad files ------------------------------------------------------------------------------ */

/* A model with an SGD optimiser that has taken some steps, saved with its state as "good.bp". */
typedef struct {
    model m;
    nn_optim *opt;
    bytes good; /* the saved file's bytes */
    float *params;
} fixture;

static fixture fixture_new(void) {
    fixture f;
    f.m = model_new(7, false);
    f.opt = nn_sgd_new(f.m.ps, 0.2, 0.9);
    ag_tape *t = ag_tape_new();
    for (int s = 0; s < 3; s++) sweep(&f.m, f.opt, t);
    ag_tape_free(t);
    assert_int_equal(nn_save(file("good.bp"), f.m.ps, f.opt), 0);
    f.good = read_all(file("good.bp"));
    /* the model moves on: a load that fails must leave it exactly here */
    for (int i = 0; i < nn_params_count(f.m.ps); i++) nn_params_at(f.m.ps, i)->data[0] += 1.0f;
    f.params = snapshot(f.m.ps);
    return f;
}

static void fixture_free(fixture *f) {
    free(f->good.p);
    free(f->params);
    nn_optim_free(f->opt);
    nn_params_free(f->m.ps);
}

/* Load `path` into the fixture (with its optimiser or not) and expect failure with a message
 * that names the file and contains `part`; the parameters and the optimiser are untouched. */
static void expect_refused(fixture *f, const char *path, bool with_opt, const char *part) {
    nn_optim_state st = nn_optim_state_of(f->opt);
    const size_t sbytes = (size_t)st.numel * sizeof(float);
    float *s1 = malloc(sbytes);
    memcpy(s1, st.state[0], sbytes);
    long steps = *st.steps;
    double lr = st.hyper[0];
    ag_set_last_error("%s", "");
    assert_int_equal(nn_load(path, f->m.ps, with_opt ? f->opt : NULL), -1);
    const char *e = ag_last_error();
    if (!strstr(e, part) || !strstr(e, path) || strncmp(e, "nn_load: ", 9) != 0) {
        print_error("error: %s\nexpected 'nn_load: %s: ...%s...'\n", e, path, part);
        fail();
    }
    assert_unchanged(f->m.ps, f->params);
    assert_memory_equal(st.state[0], s1, sbytes);
    assert_int_equal(*st.steps, steps);
    assert_true(st.hyper[0] == lr);
    free(s1);
}

/* Write an edited copy of the good file and expect it refused. */
static void expect_edit_refused(fixture *f, bytes b, bool seal, const char *part) {
    if (seal) reseal(&b);
    write_all(file("bad.bp"), b.p, b.n);
    expect_refused(f, file("bad.bp"), true, part);
    expect_refused(f, file("bad.bp"), false, part);
}

static bytes copy_of(const bytes *b) {
    bytes c = {calloc(b->n + 64, 1), b->n}; /* room to grow, zeroed */
    memcpy(c.p, b->p, b->n);
    return c;
}

static void test_wrong_magic(void **state) {
    (void)state;
    fixture f = fixture_new();
    bytes b = copy_of(&f.good);
    b.p[1] = 'X';
    expect_edit_refused(&f, b, false, "not a backprop parameter file (wrong magic)");
    write_all(file("text.bp"), (const unsigned char *)"hello, world, this is not a model at all\n", 41);
    expect_refused(&f, file("text.bp"), false, "wrong magic");
    free(b.p);
    fixture_free(&f);
}

static void test_newer_version(void **state) {
    (void)state;
    fixture f = fixture_new();
    bytes b = copy_of(&f.good);
    set_le32(b.p + NN_FILE_OFF_VERSION, NN_FILE_VERSION + 1);
    expect_edit_refused(&f, b, true, "format version 2 is newer than this library reads (version 1)");
    set_le32(b.p + NN_FILE_OFF_VERSION, 0);
    expect_edit_refused(&f, b, true, "invalid format version 0");
    set_le32(b.p + NN_FILE_OFF_VERSION, NN_FILE_VERSION);
    set_le32(b.p + NN_FILE_OFF_FLAGS, 0x10);
    expect_edit_refused(&f, b, true, "unknown flags 0x10");
    free(b.p);
    fixture_free(&f);
}

static void test_truncated(void **state) {
    (void)state;
    fixture f = fixture_new();
    bytes b = copy_of(&f.good);
    char want[96];
    b.n = f.good.n / 2;
    snprintf(want, sizeof want, "truncated: the file has %zu bytes, its header says %zu", b.n, f.good.n);
    expect_edit_refused(&f, b, false, want);
    b.n = f.good.n - 1; /* one byte short: the checksum is cut */
    snprintf(want, sizeof want, "truncated: the file has %zu bytes", b.n);
    expect_edit_refused(&f, b, false, want);
    b.n = 20; /* not even a header */
    expect_edit_refused(&f, b, false, "truncated: 20 bytes, less than a header and a checksum");
    b.n = 0;
    expect_edit_refused(&f, b, false, "truncated: 0 bytes");
    /* a file cut short and resealed: the records themselves run out */
    b.n = f.good.n - 100;
    expect_edit_refused(&f, b, true, "cut short");
    /* and one with data after its end */
    bytes longer = copy_of(&f.good);
    longer.n += 8;
    expect_edit_refused(&f, longer, false, "8 bytes of unexpected data after the end");
    free(longer.p);
    free(b.p);
    fixture_free(&f);
}

static void test_bad_checksum(void **state) {
    (void)state;
    fixture f = fixture_new();
    bytes b = copy_of(&f.good);
    b.p[NN_FILE_HEADER + 20] ^= 0x04; /* one bit of one value */
    expect_edit_refused(&f, b, false, "checksum mismatch");
    memcpy(b.p, f.good.p, b.n);
    b.p[b.n - 1] ^= 0x80; /* the checksum itself */
    expect_edit_refused(&f, b, false, "the file is corrupt");
    free(b.p);
    fixture_free(&f);
}

static void test_name_mismatch(void **state) {
    (void)state;
    fixture f = fixture_new();
    bytes b = copy_of(&f.good);
    /* the first record's name is "mlp.1.W": make it "mlp.1.X" */
    assert_memory_equal(b.p + NN_FILE_HEADER + 1, "mlp.1.W", 7);
    b.p[NN_FILE_HEADER + 7] = 'X';
    expect_edit_refused(&f, b, true, "parameter 'mlp.1.X' (4,5) is in the file but not in the model");
    /* two records with the same name */
    memcpy(b.p, f.good.p, b.n);
    unsigned char *second = b.p + NN_FILE_HEADER + 1 + 7 + 1 + 8 + 4 * 20; /* after mlp.1.W */
    assert_memory_equal(second + 1, "mlp.1.b", 7);
    second[7] = 'W';
    expect_edit_refused(&f, b, true, "corrupt: parameter 'mlp.1.W' appears twice");
    free(b.p);
    /* a model with one parameter more than the file, and one with one fewer */
    model bigger = model_new(7, false);
    nn_param_new(bigger.ps, "extra", 1, (const int[]){3});
    assert_int_equal(nn_load(file("good.bp"), bigger.ps, NULL), -1);
    assert_non_null(strstr(ag_last_error(), "model parameter 'extra' is not in the file"));
    nn_params_free(bigger.ps);
    nn_params *smaller = nn_params_new();
    nn_rng rng = nn_rng_seed(1);
    nn_mlp net = nn_mlp_new(smaller, "mlp", "4-5-3", NN_SIGMOID, NN_SIGMOID, nn_init_uniform(1), &rng);
    assert_int_equal(net.nlayers, 2);
    float *before = snapshot(smaller);
    assert_int_equal(nn_load(file("good.bp"), smaller, NULL), -1);
    assert_non_null(strstr(ag_last_error(), "the file holds 7 parameters, the model only 4"));
    assert_unchanged(smaller, before);
    free(before);
    nn_params_free(smaller);
    fixture_free(&f);
}

static void test_shape_mismatch(void **state) {
    (void)state;
    fixture f = fixture_new();
    /* the same names, one layer wider */
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(1);
    nn_mlp_new(ps, "mlp", "4-6-3", NN_SIGMOID, NN_SIGMOID, nn_init_uniform(1), &rng);
    nn_recurrent_new(ps, "rec", 3, 2, NN_TANH, nn_init_uniform(0.5), &rng);
    assert_int_equal(nn_save(file("wide.bp"), ps, NULL), 0);
    expect_refused(&f, file("wide.bp"), false, "parameter 'mlp.1.W' is (4,6) in the file but (4,5) in the model");
    nn_params_free(ps);
    /* a record whose dimension count is impossible */
    bytes b = copy_of(&f.good);
    b.p[NN_FILE_HEADER + 8] = 7;
    expect_edit_refused(&f, b, true, "parameter 'mlp.1.W' has 7 dimensions (must be 1 to 4)");
    free(b.p);
    fixture_free(&f);
}

static void test_absurd_sizes(void **state) {
    (void)state;
    fixture f = fixture_new();
    bytes b = copy_of(&f.good);
    /* mlp.1.W claims 65536 x 65536 values: refused on its shape, nothing allocated for it */
    set_le32(b.p + NN_FILE_HEADER + 9, 65536);
    set_le32(b.p + NN_FILE_HEADER + 13, 65536);
    expect_edit_refused(&f, b, true, "absurd size: parameter 'mlp.1.W' has shape (65536,65536)");
    set_le32(b.p + NN_FILE_HEADER + 9, 0);
    expect_edit_refused(&f, b, true, "absurd size: parameter 'mlp.1.W' has shape (0,65536)");
    /* a plausible shape with more values than the file holds */
    set_le32(b.p + NN_FILE_HEADER + 9, 400);
    set_le32(b.p + NN_FILE_HEADER + 13, 500);
    expect_edit_refused(&f, b, true, "parameter 'mlp.1.W' (400,500) needs 800000 bytes of values");
    /* four billion parameters in a small file */
    memcpy(b.p, f.good.p, b.n);
    set_le32(b.p + NN_FILE_OFF_COUNT, 0xFFFFFFFFu);
    expect_edit_refused(&f, b, true, "the file holds 4294967295 parameters, the model only 7");
    /* a name length beyond the limit */
    memcpy(b.p, f.good.p, b.n);
    b.p[NN_FILE_HEADER] = 200;
    expect_edit_refused(&f, b, true, "parameter record 0 has a bad name (200 bytes)");
    free(b.p);
    /* a file far larger than any file for this model: refused before it is read */
    nn_params *big = nn_params_new();
    for (int i = 0; i < 7; i++) {
        const ag_tensor *x = nn_params_at(f.m.ps, i);
        nn_param_new(big, x->name, 1, (const int[]){x->numel * 1000});
    }
    assert_int_equal(nn_save(file("big.bp"), big, NULL), 0);
    expect_refused(&f, file("big.bp"), false, "absurd size:");
    nn_params_free(big);
    fixture_free(&f);
}

static void test_not_finite_or_not_a_file(void **state) {
    (void)state;
    fixture f = fixture_new();
    bytes b = copy_of(&f.good);
    set_le32(b.p + NN_FILE_HEADER + 17 + 4 * 3, 0x7FC00000u); /* mlp.1.W[3] = NaN */
    expect_edit_refused(&f, b, true, "parameter 'mlp.1.W' holds NaN at element 3");
    free(b.p);
    expect_refused(&f, file("no-such-file.bp"), false, "cannot open: No such file or directory");
    expect_refused(&f, dir, false, "not a regular file");
    fixture_free(&f);
}

static void test_optimiser_mismatch(void **state) {
    (void)state;
    fixture f = fixture_new();
    /* the file holds SGD state; an Adam optimiser cannot take it */
    nn_optim *adam = nn_adam_new(f.m.ps, 0.01);
    assert_int_equal(nn_load(file("good.bp"), f.m.ps, adam), -1);
    assert_non_null(strstr(ag_last_error(), "the file holds the state of SGD with momentum, the optimiser given is Adam"));
    assert_unchanged(f.m.ps, f.params);
    nn_optim_free(adam);
    /* a file saved without an optimiser, loaded with one */
    assert_int_equal(nn_save(file("plain.bp"), f.m.ps, NULL), 0);
    for (int i = 0; i < nn_params_count(f.m.ps); i++) nn_params_at(f.m.ps, i)->data[0] -= 2.0f;
    free(f.params);
    f.params = snapshot(f.m.ps);
    expect_refused(&f, file("plain.bp"), true, "the file holds no optimiser state");
    /* an optimiser made for another list */
    model other = model_new(1, false);
    nn_optim *foreign = nn_sgd_new(other.ps, 0.1, 0.9);
    assert_int_equal(nn_load(file("good.bp"), f.m.ps, foreign), -1);
    assert_non_null(strstr(ag_last_error(), "the optimiser was made for another parameter list"));
    assert_int_equal(nn_save(file("x.bp"), f.m.ps, foreign), -1);
    assert_non_null(strstr(ag_last_error(), "the optimiser was made for another parameter list"));
    assert_unchanged(f.m.ps, f.params);
    nn_optim_free(foreign);
    nn_params_free(other.ps);
    /* corrupt optimiser state: an unknown kind */
    bytes b = copy_of(&f.good);
    size_t opt_at = b.n - 4 - (4 + 8 + 8 + 48 + 8 + 16) - 4 * (size_t)nn_params_numel(f.m.ps);
    assert_int_equal(le32(b.p + opt_at), nn_optim_sgd.file_id);
    set_le32(b.p + opt_at, 9);
    expect_edit_refused(&f, b, true, "unknown optimiser kind 9");
    free(b.p);
    fixture_free(&f);
}

/* ---- optimiser settings a setter refuses, and sizes of state files ------------------------ */

/* Offset of the optimiser section's first hyperparameter in a file saved with an SGD or Adam
 * optimiser and no schedule beyond one pending change (the version-1 layout: kind 4, V 8,
 * steps 8, then lr, momentum, decay, beta1, beta2, eps). */
static size_t hyper_at(const bytes *b, const nn_params *ps, int nstate) {
    return b->n - 4 - 4 * (size_t)nstate * (size_t)nn_params_numel(ps) - (8 + 16) - 6 * 8;
}

static void set_f64(unsigned char *p, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    set_le64(p, u);
}

/* Load b (resealed) with and without opt and expect it refused with `part` in the message. */
static void expect_hyper_refused(const bytes *src, nn_params *ps, nn_optim *opt, size_t at,
                                 double value, const char *part) {
    bytes b = copy_of(src);
    set_f64(b.p + at, value);
    reseal(&b);
    write_all(file("hyper.bp"), b.p, b.n);
    float *before = snapshot(ps);
    for (int k = 0; k < 2; k++) {
        ag_set_last_error("%s", "");
        if (nn_load(file("hyper.bp"), ps, k ? opt : NULL) != -1 || !strstr(ag_last_error(), part)) {
            print_error("value %g: rc 0 or error '%s'; expected '%s'\n", value, ag_last_error(), part);
            fail();
        }
        assert_unchanged(ps, before);
    }
    free(before);
    free(b.p);
}

/* A file with a valid checksum cannot bring in a setting the setters refuse (beta1 = 1 once
 * loaded turned the weights into NaN three Adam steps later). */
static void test_load_refuses_settings_the_setters_refuse(void **state) {
    (void)state;
    fixture f = fixture_new(); /* SGD */
    const size_t s = hyper_at(&f.good, f.m.ps, 1);
    expect_hyper_refused(&f.good, f.m.ps, f.opt, s + 0, -0.5, "learning rate = -0.5 is out of range");
    expect_hyper_refused(&f.good, f.m.ps, f.opt, s + 8, -0.25, "momentum = -0.25 is out of range");
    expect_hyper_refused(&f.good, f.m.ps, f.opt, s + 16, 1.0, "decay = 1 is out of range");
    expect_hyper_refused(&f.good, f.m.ps, f.opt, s + 16, -1e-3, "decay = -0.001 is out of range");
    fixture_free(&f);

    model m = model_new(3, false);
    nn_optim *adam = nn_adam_new(m.ps, 0.01);
    ag_tape *t = ag_tape_new();
    for (int k = 0; k < 2; k++) sweep(&m, adam, t);
    assert_int_equal(nn_save(file("adam-good.bp"), m.ps, adam), 0);
    bytes good = read_all(file("adam-good.bp"));
    const size_t a = hyper_at(&good, m.ps, 2);
    expect_hyper_refused(&good, m.ps, adam, a + 24, 1.0, "beta1 = 1 is out of range");
    expect_hyper_refused(&good, m.ps, adam, a + 32, 1.5, "beta2 = 1.5 is out of range");
    expect_hyper_refused(&good, m.ps, adam, a + 40, 0.0, "eps = 0 is out of range");
    expect_hyper_refused(&good, m.ps, adam, a + 40, -1e-8, "eps = -1e-08 is out of range");
    expect_hyper_refused(&good, m.ps, adam, a + 0, -0.01, "learning rate = -0.01 is out of range");
    /* the untouched file still loads */
    assert_int_equal(nn_load(file("adam-good.bp"), m.ps, adam), 0);
    free(good.p);
    ag_tape_free(t);
    nn_optim_free(adam);
    nn_params_free(m.ps);
}

/* A slot of the version-1 layout that the optimiser lacks (Adam's momentum: an older library
 * let nn_optim_set_momentum store one) is ignored when finite, refused when not. */
static void test_unused_version_1_slots(void **state) {
    (void)state;
    model m = model_new(3, false);
    nn_optim *adam = nn_adam_new(m.ps, 0.01);
    assert_int_equal(nn_save(file("adam-slot.bp"), m.ps, adam), 0);
    bytes good = read_all(file("adam-slot.bp"));
    const size_t a = hyper_at(&good, m.ps, 2);
    bytes b = copy_of(&good);
    set_f64(b.p + a + 8, 0.7); /* the momentum slot */
    reseal(&b);
    write_all(file("adam-slot.bp"), b.p, b.n);
    assert_int_equal(nn_load(file("adam-slot.bp"), m.ps, adam), 0);
    assert_float_equal(nn_optim_momentum(adam), 0.0, 0);
    expect_hyper_refused(&good, m.ps, adam, a + 8, NAN, "the optimiser's unused momentum slot is not finite");
    free(b.p);
    free(good.p);
    nn_optim_free(adam);
    nn_params_free(m.ps);
}

/* The schedule section: a file with a valid checksum cannot bring in a shape or a pending
 * change the setters refuse, nor changes out of order. */
static void test_load_refuses_schedules_the_setters_refuse(void **state) {
    (void)state;
    model m = model_new(4, false);
    nn_optim *o = nn_sgd_new(m.ps, 0.1, 0.9);
    nn_optim_step_decay(o, 10, 0.5);
    nn_optim_schedule(o, 4, 0.05, -1);
    nn_optim_schedule(o, 8, 0.01, -1);
    assert_int_equal(nn_save(file("sched.bp"), m.ps, o), 0);
    bytes good = read_all(file("sched.bp"));
    assert_int_equal(le32(good.p + NN_FILE_OFF_FLAGS), NN_FILE_FLAG_OPTIM | NN_FILE_FLAG_SCHEDULE);
    /* the schedule section: warm-up 8, kind 4, period 8, factor 8, count 4, one change 24 */
    const size_t sc = good.n - 4 - 24 - (8 + 4 + 8 + 8 + 4);
    assert_int_equal(le32(good.p + sc + 8), NN_DECAY_STEP);
    expect_hyper_refused(&good, m.ps, o, sc + 20, 0.0, "the schedule's step decay factor 0 must be in (0, 1]");
    expect_hyper_refused(&good, m.ps, o, sc + 20, 2.0, "the schedule's step decay factor 2 must be in (0, 1]");
    expect_hyper_refused(&good, m.ps, o, sc + 32 + 8, NAN, "pending schedule change 1: learning rate nan must be finite");
    bytes b = copy_of(&good);
    set_le64(b.p + sc + 32, 2); /* the second change at step 2, before the first (4) */
    reseal(&b);
    write_all(file("hyper.bp"), b.p, b.n);
    assert_int_equal(nn_load(file("hyper.bp"), m.ps, o), -1);
    assert_non_null(strstr(ag_last_error(), "corrupt: pending schedule change 1 (step 2) does not come after the one before it (step 4)"));
    memcpy(b.p, good.p, b.n);
    set_le32(b.p + sc + 8, 7);
    reseal(&b);
    write_all(file("hyper.bp"), b.p, b.n);
    assert_int_equal(nn_load(file("hyper.bp"), m.ps, NULL), -1);
    assert_non_null(strstr(ag_last_error(), "the schedule's unknown decay kind 7"));
    /* the schedule flag without an optimiser section */
    assert_int_equal(nn_save(file("plain-sched.bp"), m.ps, NULL), 0);
    bytes p = read_all(file("plain-sched.bp"));
    set_le32(p.p + NN_FILE_OFF_FLAGS, NN_FILE_FLAG_SCHEDULE);
    reseal(&p);
    write_all(file("hyper.bp"), p.p, p.n);
    assert_int_equal(nn_load(file("hyper.bp"), m.ps, NULL), -1);
    assert_non_null(strstr(ag_last_error(), "a schedule section without an optimiser section"));
    /* and the good file loads, schedule and all */
    nn_optim *fresh = nn_sgd_new(m.ps, 0.1, 0.9);
    assert_int_equal(nn_load(file("sched.bp"), m.ps, fresh), 0);
    nn_optim_state st = nn_optim_state_of(fresh);
    assert_int_equal(st.sched->nchanges, 2);
    assert_int_equal(st.sched->changes[1].step, 8);
    assert_int_equal(st.sched->decay, NN_DECAY_STEP);
    assert_int_equal(st.sched->period, 10);
    nn_optim_free(fresh);
    free(p.p);
    free(b.p);
    free(good.p);
    nn_optim_free(o);
    nn_params_free(m.ps);
}

/* A file saved with Adam state from a model whose shapes differ names the parameter, as a
 * weights-only file does, instead of reporting the file's size against the model's bound. */
static void test_shape_mismatch_with_optimiser_state(void **state) {
    (void)state;
    fixture f = fixture_new();
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(1);
    nn_mlp_new(ps, "mlp", "4-12-3", NN_SIGMOID, NN_SIGMOID, nn_init_uniform(1), &rng);
    nn_recurrent_new(ps, "rec", 3, 2, NN_TANH, nn_init_uniform(0.5), &rng);
    nn_optim *adam = nn_adam_new(ps, 0.01);
    assert_int_equal(nn_save(file("wide-adam.bp"), ps, adam), 0);
    assert_int_equal(nn_save(file("wide-plain.bp"), ps, NULL), 0);
    const char *want = "parameter 'mlp.1.W' is (4,12) in the file but (4,5) in the model";
    expect_refused(&f, file("wide-plain.bp"), false, want);
    expect_refused(&f, file("wide-adam.bp"), false, want);
    nn_optim *own = nn_adam_new(f.m.ps, 0.01);
    assert_int_equal(nn_load(file("wide-adam.bp"), f.m.ps, own), -1);
    assert_non_null(strstr(ag_last_error(), want));
    assert_unchanged(f.m.ps, f.params);
    nn_optim_free(own);
    nn_optim_free(adam);
    nn_params_free(ps);
    fixture_free(&f);
}

/* ---- failures while saving ------------------------------------------------------------------ */

/* True when the directory holds a leftover temporary file. */
static bool temp_files_left(void) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) found = true;
    closedir(d);
    return found;
}

/* A big enough model that its file takes several writes (the writer's buffer is 16 KiB). */
static nn_params *big_model(float value) {
    nn_params *ps = nn_params_new();
    ag_tensor *w = nn_param_new(ps, "w", 2, (const int[]){200, 300});
    nn_param_new(ps, "b", 1, (const int[]){300});
    for (int i = 0; i < w->numel; i++) w->data[i] = value + (float)i;
    return ps;
}

static void expect_old_file(const char *path, float value) {
    nn_params *ps = big_model(-1.0f);
    assert_int_equal(nn_load(path, ps, NULL), 0);
    const ag_tensor *w = nn_params_find(ps, "w");
    for (int i = 0; i < w->numel; i++) assert_true(w->data[i] == value + (float)i);
    nn_params_free(ps);
}

/* The disk refuses a write half-way through the file (a file size limit: EFBIG, as a full
 * disk gives ENOSPC): the save fails with the reason, the old file is intact and loads, and no
 * temporary file is left behind. */
static void test_write_fails_half_way(void **state) {
    (void)state;
    const char *path = file("ckpt.bp");
    nn_params *v1 = big_model(1.0f), *v2 = big_model(2.0f);
    assert_int_equal(nn_save(path, v1, NULL), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size > 200000);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)sb.st_size / 2;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = nn_save(path, v2, NULL);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);

    assert_int_equal(rc, -1);
    const char *e = ag_last_error();
    if (!strstr(e, path) || !strstr(e, "write failed: File too large") ||
        !strstr(e, "the old file is kept")) {
        print_error("unexpected message: %s\n", e);
        fail();
    }
    assert_false(temp_files_left());
    expect_old_file(path, 1.0f);
    /* and once the disk has room again, the save goes through */
    assert_int_equal(nn_save(path, v2, NULL), 0);
    expect_old_file(path, 2.0f);
    assert_false(temp_files_left());
    nn_params_free(v1);
    nn_params_free(v2);
}

/* The allocator refuses memory during a save or a load: a clear error, nothing changed. */
static void test_out_of_memory(void **state) {
    (void)state;
    const char *path = file("mem.bp");
    tu_alloc_install();
    nn_params *v1 = big_model(1.0f), *v2 = big_model(2.0f);
    assert_int_equal(nn_save(path, v1, NULL), 0);
    for (long n = 1; n <= 3; n++) {
        tu_alloc_fail_at(n);
        int rc = nn_save(path, v2, NULL);
        if (rc == 0) break; /* fewer allocations than n: the save went through */
        assert_non_null(strstr(ag_last_error(), "out of memory"));
        tu_alloc_fail_at(0);
        expect_old_file(path, 1.0f);
    }
    tu_alloc_fail_at(0);
    assert_true(tu_alloc.failures >= 1);
    assert_int_equal(nn_save(path, v1, NULL), 0);
    float *before = snapshot(v2);
    long failures = tu_alloc.failures;
    for (long n = 1; n <= 3; n++) {
        tu_alloc_fail_at(n);
        if (nn_load(path, v2, NULL) == 0) break;
        assert_non_null(strstr(ag_last_error(), "out of memory"));
        assert_unchanged(v2, before);
    }
    assert_true(tu_alloc.failures > failures);
    tu_alloc_fail_at(0);
    free(before);
    nn_params_free(v1);
    nn_params_free(v2);
    assert_int_equal(tu_alloc.outstanding_blocks, 0);
    tu_alloc_uninstall();
}

/* A model that has diverged is not saved over a good file. */
static void test_refuses_to_save_nan(void **state) {
    (void)state;
    const char *path = file("nan.bp");
    nn_params *v1 = big_model(1.0f), *v2 = big_model(2.0f);
    assert_int_equal(nn_save(path, v1, NULL), 0);
    nn_params_find(v2, "w")->data[1234] = NAN;
    assert_int_equal(nn_save(path, v2, NULL), -1);
    assert_non_null(strstr(ag_last_error(), "parameter 'w' holds NaN at element 1234; nothing saved"));
    nn_params_find(v2, "w")->data[1234] = -INFINITY;
    assert_int_equal(nn_save(path, v2, NULL), -1);
    assert_non_null(strstr(ag_last_error(), "holds Inf at element 1234"));
    expect_old_file(path, 1.0f);
    assert_int_equal(nn_save(file("no-such-dir/x.bp"), v1, NULL), -1);
    assert_non_null(strstr(ag_last_error(), "cannot create a temporary file next to it: No such file"));
    nn_params_free(v1);
    nn_params_free(v2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_resume_sgd_momentum),
        cmocka_unit_test(test_resume_adam),
        cmocka_unit_test(test_resume_rmsprop),
        cmocka_unit_test(test_resume_adamw),
        cmocka_unit_test(test_resume_sgd_with_pending_changes),
        cmocka_unit_test(test_resume_every_optimiser_in_the_table),
        cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_newer_version),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_checksum),
        cmocka_unit_test(test_name_mismatch),
        cmocka_unit_test(test_shape_mismatch),
        cmocka_unit_test(test_absurd_sizes),
        cmocka_unit_test(test_not_finite_or_not_a_file),
        cmocka_unit_test(test_optimiser_mismatch),
        cmocka_unit_test(test_load_refuses_settings_the_setters_refuse),
        cmocka_unit_test(test_unused_version_1_slots),
        cmocka_unit_test(test_load_refuses_schedules_the_setters_refuse),
        cmocka_unit_test(test_shape_mismatch_with_optimiser_state),
        cmocka_unit_test(test_write_fails_half_way),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_refuses_to_save_nan),
    };
    return cmocka_run_group_tests_name("serialize", tests, make_dir, remove_dir);
}
