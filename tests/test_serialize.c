/*
 * test_serialize.c -- nn_save / nn_load: the exact bytes of the format, round trips, resuming
 * training bit for bit (SGD with momentum and Adam), every kind of bad file refused with a
 * clear message and the model untouched, and a save that fails half-way (the disk refuses a
 * write, the allocator refuses memory) leaving the old file intact and loadable.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, setrlimit, opendir */
#define _GNU_SOURCE /* unshare: the full-disk test's own small filesystem */
#include "support/save_load.h"

#include "nn/nn_private.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
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
    tu_bytes b = tu_read_all(file("tiny.bp"));
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
    assert_int_equal(tu_le32(b.p + sizeof want), nn_crc32(0, want, sizeof want));
    free(b.p);
    nn_params_free(ps);
}

/* ---- round trips ---------------------------------------------------------------------------- */

static void test_round_trip(void **state) {
    (void)state;
    tu_model a = tu_model_new(1, false), b = tu_model_new(2, false), c = tu_model_new(3, true);
    float *want = tu_snapshot(a.ps), *other = tu_snapshot(b.ps);
    assert_true(memcmp(want, other, (size_t)nn_params_numel(a.ps) * sizeof(float)) != 0);
    assert_int_equal(nn_save(file("rt.bp"), a.ps, NULL), 0);
    assert_int_equal(nn_load(file("rt.bp"), b.ps, NULL), 0);
    tu_assert_unchanged(b.ps, want);
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
    tu_assert_unchanged(b.ps, want);
    free(want);
    free(other);
    nn_params_free(a.ps);
    nn_params_free(b.ps);
    nn_params_free(c.ps);
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

static void test_resume_sgd_momentum(void **state) {
    (void)state;
    tu_resume_is_exact(make_sgd, file("sgd.bp"));
}

static void test_resume_adam(void **state) {
    (void)state;
    tu_resume_is_exact(make_adam, file("adam.bp"));
}

/* ---- bad files ------------------------------------------------------------------------------ */

/* A model with an SGD optimiser that has taken some steps, saved with its state as "good.bp". */
typedef struct {
    tu_model m;
    nn_optim *opt;
    tu_bytes good; /* the saved file's bytes */
    float *params;
} fixture;

static fixture fixture_new(void) {
    fixture f;
    f.m = tu_model_new(7, false);
    f.opt = nn_sgd_new(f.m.ps, 0.2, 0.9);
    ag_tape *t = ag_tape_new();
    for (int s = 0; s < 3; s++) tu_sweep(&f.m, f.opt, t);
    ag_tape_free(t);
    assert_int_equal(nn_save(file("good.bp"), f.m.ps, f.opt), 0);
    f.good = tu_read_all(file("good.bp"));
    /* the model moves on: a load that fails must leave it exactly here */
    for (int i = 0; i < nn_params_count(f.m.ps); i++) nn_params_at(f.m.ps, i)->data[0] += 1.0f;
    f.params = tu_snapshot(f.m.ps);
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
    tu_assert_unchanged(f->m.ps, f->params);
    assert_memory_equal(st.state[0], s1, sbytes);
    assert_int_equal(*st.steps, steps);
    assert_true(st.hyper[0] == lr);
    free(s1);
}

/* Write an edited copy of the good file and expect it refused. */
static void expect_edit_refused(fixture *f, tu_bytes b, bool seal, const char *part) {
    if (seal) tu_reseal(&b);
    tu_write_all(file("bad.bp"), b.p, b.n);
    expect_refused(f, file("bad.bp"), true, part);
    expect_refused(f, file("bad.bp"), false, part);
}

static void test_wrong_magic(void **state) {
    (void)state;
    fixture f = fixture_new();
    tu_bytes b = tu_copy_of(&f.good);
    b.p[1] = 'X';
    expect_edit_refused(&f, b, false, "not a backprop parameter file (wrong magic)");
    tu_write_all(file("text.bp"), (const unsigned char *)"hello, world, this is not a model at all\n", 41);
    expect_refused(&f, file("text.bp"), false, "wrong magic");
    free(b.p);
    fixture_free(&f);
}

static void test_newer_version(void **state) {
    (void)state;
    fixture f = fixture_new();
    tu_bytes b = tu_copy_of(&f.good);
    tu_set_le32(b.p + NN_FILE_OFF_VERSION, NN_FILE_VERSION + 1);
    expect_edit_refused(&f, b, true, "format version 2 is newer than this library reads (version 1)");
    tu_set_le32(b.p + NN_FILE_OFF_VERSION, 0);
    expect_edit_refused(&f, b, true, "invalid format version 0");
    tu_set_le32(b.p + NN_FILE_OFF_VERSION, NN_FILE_VERSION);
    tu_set_le32(b.p + NN_FILE_OFF_FLAGS, 0x10);
    expect_edit_refused(&f, b, true, "unknown flags 0x10");
    free(b.p);
    fixture_free(&f);
}

static void test_truncated(void **state) {
    (void)state;
    fixture f = fixture_new();
    tu_bytes b = tu_copy_of(&f.good);
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
    tu_bytes longer = tu_copy_of(&f.good);
    longer.n += 8;
    expect_edit_refused(&f, longer, false, "8 bytes of unexpected data after the end");
    free(longer.p);
    free(b.p);
    fixture_free(&f);
}

static void test_bad_checksum(void **state) {
    (void)state;
    fixture f = fixture_new();
    tu_bytes b = tu_copy_of(&f.good);
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
    tu_bytes b = tu_copy_of(&f.good);
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
    tu_model bigger = tu_model_new(7, false);
    nn_param_new(bigger.ps, "extra", 1, (const int[]){3});
    assert_int_equal(nn_load(file("good.bp"), bigger.ps, NULL), -1);
    assert_non_null(strstr(ag_last_error(), "model parameter 'extra' is not in the file"));
    nn_params_free(bigger.ps);
    nn_params *smaller = nn_params_new();
    nn_rng rng = nn_rng_seed(1);
    nn_mlp net = nn_mlp_new(smaller, "mlp", "4-5-3", NN_SIGMOID, NN_SIGMOID, nn_init_uniform(1), &rng);
    assert_int_equal(net.nlayers, 2);
    float *before = tu_snapshot(smaller);
    assert_int_equal(nn_load(file("good.bp"), smaller, NULL), -1);
    assert_non_null(strstr(ag_last_error(), "the file holds 7 parameters, the model only 4"));
    tu_assert_unchanged(smaller, before);
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
    tu_bytes b = tu_copy_of(&f.good);
    b.p[NN_FILE_HEADER + 8] = 7;
    expect_edit_refused(&f, b, true, "parameter 'mlp.1.W' has 7 dimensions (must be 1 to 4)");
    free(b.p);
    fixture_free(&f);
}

static void test_absurd_sizes(void **state) {
    (void)state;
    fixture f = fixture_new();
    tu_bytes b = tu_copy_of(&f.good);
    /* mlp.1.W claims 65536 x 65536 values: refused on its shape, nothing allocated for it */
    tu_set_le32(b.p + NN_FILE_HEADER + 9, 65536);
    tu_set_le32(b.p + NN_FILE_HEADER + 13, 65536);
    expect_edit_refused(&f, b, true, "absurd size: parameter 'mlp.1.W' has shape (65536,65536)");
    tu_set_le32(b.p + NN_FILE_HEADER + 9, 0);
    expect_edit_refused(&f, b, true, "absurd size: parameter 'mlp.1.W' has shape (0,65536)");
    /* a plausible shape with more values than the file holds */
    tu_set_le32(b.p + NN_FILE_HEADER + 9, 400);
    tu_set_le32(b.p + NN_FILE_HEADER + 13, 500);
    expect_edit_refused(&f, b, true, "parameter 'mlp.1.W' (400,500) needs 800000 bytes of values");
    /* four billion parameters in a small file */
    memcpy(b.p, f.good.p, b.n);
    tu_set_le32(b.p + NN_FILE_OFF_COUNT, 0xFFFFFFFFu);
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
    tu_bytes b = tu_copy_of(&f.good);
    tu_set_le32(b.p + NN_FILE_HEADER + 17 + 4 * 3, 0x7FC00000u); /* mlp.1.W[3] = NaN */
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
    tu_assert_unchanged(f.m.ps, f.params);
    nn_optim_free(adam);
    /* a file saved without an optimiser, loaded with one */
    assert_int_equal(nn_save(file("plain.bp"), f.m.ps, NULL), 0);
    for (int i = 0; i < nn_params_count(f.m.ps); i++) nn_params_at(f.m.ps, i)->data[0] -= 2.0f;
    free(f.params);
    f.params = tu_snapshot(f.m.ps);
    expect_refused(&f, file("plain.bp"), true, "the file holds no optimiser state");
    /* an optimiser made for another list */
    tu_model other = tu_model_new(1, false);
    nn_optim *foreign = nn_sgd_new(other.ps, 0.1, 0.9);
    assert_int_equal(nn_load(file("good.bp"), f.m.ps, foreign), -1);
    assert_non_null(strstr(ag_last_error(), "the optimiser was made for another parameter list"));
    assert_int_equal(nn_save(file("x.bp"), f.m.ps, foreign), -1);
    assert_non_null(strstr(ag_last_error(), "the optimiser was made for another parameter list"));
    tu_assert_unchanged(f.m.ps, f.params);
    nn_optim_free(foreign);
    nn_params_free(other.ps);
    /* corrupt optimiser state: an unknown kind */
    tu_bytes b = tu_copy_of(&f.good);
    size_t opt_at = b.n - 4 - (4 + 8 + 8 + 48 + 8 + 16) - 4 * (size_t)nn_params_numel(f.m.ps);
    assert_int_equal(tu_le32(b.p + opt_at), nn_optim_sgd.file_id);
    tu_set_le32(b.p + opt_at, 9);
    expect_edit_refused(&f, b, true, "unknown optimiser kind 9");
    free(b.p);
    fixture_free(&f);
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
    tu_assert_unchanged(f.m.ps, f.params);
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
    float *before = tu_snapshot(v2);
    long failures = tu_alloc.failures;
    for (long n = 1; n <= 3; n++) {
        tu_alloc_fail_at(n);
        if (nn_load(path, v2, NULL) == 0) break;
        assert_non_null(strstr(ag_last_error(), "out of memory"));
        tu_assert_unchanged(v2, before);
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

/* ---- a full disk, in a child process -------------------------------------------------------- */

/* The checks below run in a forked child (a file size limit or a mount must not outlive them);
 * a failed check sends its message up a pipe and exits 1; exit 77 means "cannot be run here". */
static int child_pipe = -1;

static void child_fail(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n > 0 && write(child_pipe, msg, (size_t)(n < (int)sizeof msg ? n : (int)sizeof msg - 1)) < 0) _exit(2);
    _exit(1);
}
#define CHILD_CHECK(cond, ...) do { if (!(cond)) child_fail(__VA_ARGS__); } while (0)

/* Run body(arg) in a child; returns its exit status, with its message (if any) in msg. */
static int run_in_child(void (*body)(const char *), const char *arg, char *msg, size_t size) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_pipe = fds[1];
        body(arg);
        _exit(0);
    }
    close(fds[1]);
    ssize_t n = 0, k;
    while ((size_t)n < size - 1 && (k = read(fds[0], msg + n, size - 1 - (size_t)n)) > 0) n += k;
    msg[n] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Temporary files left in directory d, and its only other entries are "ckpt.bp", "." and "..". */
static int strays_in(const char *d) {
    DIR *dp = opendir(d);
    if (!dp) return -1;
    int strays = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "ckpt.bp")) strays++;
    closedir(dp);
    return strays;
}

/* In the child: path holds a good file of big_model(1); it loads and holds those values. */
static void child_expect_old_file(const char *path, const char *when) {
    nn_params *ps = big_model(-1.0f);
    CHILD_CHECK(nn_load(path, ps, NULL) == 0, "%s: the old file does not load: %s", when, ag_last_error());
    const ag_tensor *w = nn_params_find(ps, "w");
    for (int i = 0; i < w->numel; i++)
        CHILD_CHECK(w->data[i] == 1.0f + (float)i, "%s: the old file changed at element %d", when, i);
    nn_params_free(ps);
}

/* A save that the disk stops part-way: -1, a message naming the file, the step, the system's
 * reason and that the old file is kept; no temporary file left; the old file intact. */
static void child_expect_refused(const char *d, const char *path, int rc, const char *reason,
                                 const char *when) {
    const char *e = ag_last_error();
    CHILD_CHECK(rc == -1, "%s: nn_save returned %d", when, rc);
    CHILD_CHECK(strstr(e, path) && strstr(e, "write failed: ") && strstr(e, reason) &&
                    strstr(e, "nothing saved, the old file is kept"),
                "%s: unexpected message: %s", when, e);
    CHILD_CHECK(strays_in(d) == 0, "%s: %d stray files left in %s", when, strays_in(d), d);
    child_expect_old_file(path, when);
}

/* A model with Adam state after one step: its file is about three times the weights alone. */
static nn_optim *adam_for(nn_params *ps) {
    nn_optim *o = nn_adam_new(ps, 0.01);
    for (int i = 0; i < nn_params_count(ps); i++) nn_params_at(ps, i)->grad[0] = 1.0f;
    if (nn_optim_step(o, NULL) != 0) child_fail("adam step: %s", ag_last_error());
    return o;
}

/* A file size limit (what a full disk does, with EFBIG for ENOSPC) at every boundary of the
 * file: no byte, the header, each edge of the writer's 16 KiB buffer, half, the checksum, the
 * last byte. At exactly the file's size the save goes through. */
static void full_disk_by_size_limit(const char *d) {
    char path[300];
    snprintf(path, sizeof path, "%s/ckpt.bp", d);
    signal(SIGXFSZ, SIG_IGN); /* the limit then fails write() with EFBIG instead of a signal */
    nn_params *v1 = big_model(1.0f), *v2 = big_model(2.0f);
    nn_optim *adam = adam_for(v2);
    for (int with_opt = 0; with_opt < 2; with_opt++) {
        const nn_optim *opt = with_opt ? adam : NULL;
        /* the size of the new file, from a save with no limit */
        CHILD_CHECK(nn_save(path, v2, opt) == 0, "save: %s", ag_last_error());
        struct stat sb;
        CHILD_CHECK(stat(path, &sb) == 0, "stat %s", path);
        const long size = (long)sb.st_size;
        const long limits[] = {0, 1, 31, 32, 16383, 16384, 16385, size / 2, size - 4, size - 1, size};
        for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
            CHILD_CHECK(nn_save(path, v1, NULL) == 0, "save: %s", ag_last_error());
            struct rlimit lim;
            CHILD_CHECK(getrlimit(RLIMIT_FSIZE, &lim) == 0, "getrlimit");
            lim.rlim_cur = (rlim_t)limits[k];
            CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit %ld", limits[k]);
            const int rc = nn_save(path, v2, opt);
            lim.rlim_cur = lim.rlim_max;
            CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit back");
            char when[96];
            snprintf(when, sizeof when, "limit %ld of a %ld-byte file%s", limits[k], size,
                     with_opt ? " with Adam state" : "");
            if (limits[k] == size) {
                CHILD_CHECK(rc == 0 && strays_in(d) == 0, "%s: the save failed: %s", when, ag_last_error());
                continue;
            }
            child_expect_refused(d, path, rc, strerror(EFBIG), when);
        }
    }
    nn_optim_free(adam);
    nn_params_free(v1);
    nn_params_free(v2);
}

/* The real thing, where the system allows it: a 512 KiB filesystem of our own (a tmpfs mounted
 * in a private mount namespace, so nothing outside the child sees it). The old file takes half
 * of it; the new one with Adam state needs more than the rest: ENOSPC. Afterwards the free
 * space is what it was (the temporary file's blocks are given back), and a save that fits in
 * the room left goes through. */
static void full_disk_by_small_filesystem(const char *d) {
    const uid_t uid = getuid();
    const gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) _exit(77);
    char map[64];
    int fd = open("/proc/self/setgroups", O_WRONLY);
    if (fd >= 0) {
        if (write(fd, "deny", 4) != 4) _exit(77);
        close(fd);
    }
    const char *maps[2] = {"/proc/self/uid_map", "/proc/self/gid_map"};
    for (int k = 0; k < 2; k++) {
        int n = snprintf(map, sizeof map, "0 %ld 1", k ? (long)gid : (long)uid);
        fd = open(maps[k], O_WRONLY);
        if (fd < 0 || write(fd, map, (size_t)n) != n) _exit(77);
        close(fd);
    }
    if (mount("none", d, "tmpfs", 0, "size=512k") != 0) _exit(77);

    char path[300];
    snprintf(path, sizeof path, "%s/ckpt.bp", d);
    nn_params *v1 = big_model(1.0f), *v2 = big_model(2.0f);
    nn_optim *adam = adam_for(v2);
    CHILD_CHECK(nn_save(path, v1, NULL) == 0, "save on the small filesystem: %s", ag_last_error());
    struct statvfs before, after;
    CHILD_CHECK(statvfs(d, &before) == 0, "statvfs");
    const int rc = nn_save(path, v2, adam);
    child_expect_refused(d, path, rc, strerror(ENOSPC), "a full filesystem");
    CHILD_CHECK(statvfs(d, &after) == 0, "statvfs");
    CHILD_CHECK(after.f_bfree == before.f_bfree, "free blocks %lu before the failed save, %lu after",
                (unsigned long)before.f_bfree, (unsigned long)after.f_bfree);
    CHILD_CHECK(nn_save(path, v2, NULL) == 0, "a save that fits: %s", ag_last_error());
    CHILD_CHECK(strays_in(d) == 0, "stray files after a save that fits");
    nn_optim_free(adam);
    nn_params_free(v1);
    nn_params_free(v2);
}

static void test_full_disk(void **state) {
    (void)state;
    char d[128], msg[512];
    snprintf(d, sizeof d, "%s/full-disk", dir);
    assert_int_equal(mkdir(d, 0700), 0);
    int status = run_in_child(full_disk_by_size_limit, d, msg, sizeof msg);
    if (status != 0) {
        print_error("file size limit: exit %d: %s\n", status, msg);
        fail();
    }
    assert_int_equal(unlink(file("full-disk/ckpt.bp")), 0);
    status = run_in_child(full_disk_by_small_filesystem, d, msg, sizeof msg);
    if (status == 77)
        print_message("full disk: no private tmpfs here (user namespaces not allowed); "
                      "the file size limit case ran\n");
    else if (status != 0) {
        print_error("small filesystem: exit %d: %s\n", status, msg);
        fail();
    }
    assert_int_equal(rmdir(d), 0); /* empty: the child's filesystem was never visible here */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_resume_sgd_momentum),
        cmocka_unit_test(test_resume_adam),
        cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_newer_version),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_checksum),
        cmocka_unit_test(test_name_mismatch),
        cmocka_unit_test(test_shape_mismatch),
        cmocka_unit_test(test_absurd_sizes),
        cmocka_unit_test(test_not_finite_or_not_a_file),
        cmocka_unit_test(test_optimiser_mismatch),
        cmocka_unit_test(test_shape_mismatch_with_optimiser_state),
        cmocka_unit_test(test_write_fails_half_way),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_refuses_to_save_nan),
        cmocka_unit_test(test_full_disk),
    };
    return cmocka_run_group_tests_name("serialize", tests, make_dir, remove_dir);
}
