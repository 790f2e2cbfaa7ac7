/*
 * test_real_data.c -- the two real-data examples, run as programs on small data the tests
 * make themselves: fashion_mnist and fashion_cnn on a synthetic IDX data set (each class a bar
 * of its own),
 * char_rnn on a short repetitive text. Each must learn (a test accuracy, a bits-per-character
 * figure that only a working training loop reaches), repeat itself for a given seed, and turn
 * away bad flags, missing data and damaged files with a clear message.
 */
#define _POSIX_C_SOURCE 200809L /* popen, mkdtemp */
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char dir[64];
static char out[1 << 16], err[1 << 14];

/* ---- running an example ---------------------------------------------------------------------- */

/* Run examples/PROG ARGS; stdout into out, stderr into err; returns the exit status. */
static int run(const char *prog, const char *args) {
    const char *bin = getenv("BACKPROP_EXAMPLES");
    char cmd[2048], errfile[128];
    snprintf(errfile, sizeof errfile, "%s/stderr", dir);
    snprintf(cmd, sizeof cmd, "%s/%s %s 2>'%s'", bin ? bin : "examples", prog, args, errfile);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    FILE *e = fopen(errfile, "r");
    assert_non_null(e);
    n = fread(err, 1, sizeof err - 1, e);
    err[n] = '\0';
    fclose(e);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void expect_in(const char *haystack, const char *needle) {
    if (!strstr(haystack, needle)) {
        print_error("'%s' not found in:\n%s\n", needle, haystack);
        fail();
    }
}

/* The number after `key` (e.g. "test_acc=") on the result line. */
static double result_value(const char *key) {
    const char *r = strstr(out, "\nresult: ");
    const char *k = r ? strstr(r, key) : NULL;
    if (!k) {
        print_error("no result line with %s in:\n%s\n", key, out);
        fail();
    }
    return strtod(k + strlen(key), NULL);
}

static int make_dir(void **state) {
    (void)state;
    return tu_tmpdir_make(dir, sizeof dir, "test_real_data");
}

static int remove_dir(void **state) {
    (void)state;
    return tu_tmpdir_remove(dir);
}

/* ---- fashion_mnist on a synthetic data set --------------------------------------------------- */

/* n images of 28x28: class c is a bright bar across rows 2c+3 .. 2c+5 on a noisy ground. The
 * first `run0` images are all class 0, the rest cycle through the classes, so a training loop
 * that does not visit every image once per epoch drifts to class 0 and fails the test set. */
static void write_set(const char *images, const char *labels, int n, int run0, unsigned seed) {
    FILE *fi = fopen(images, "wb"), *fl = fopen(labels, "wb");
    assert_non_null(fi);
    assert_non_null(fl);
    const unsigned char hi[4] = {0, 0, 8, 3}, hl[4] = {0, 0, 8, 1};
    unsigned char dims[12] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                              (unsigned char)(n >> 8), (unsigned char)n, 0, 0, 0, 28, 0, 0, 0, 28};
    fwrite(hi, 1, 4, fi);
    fwrite(dims, 1, 12, fi);
    fwrite(hl, 1, 4, fl);
    fwrite(dims, 1, 4, fl);
    tu_rng r = {seed};
    for (int i = 0; i < n; i++) {
        unsigned char label = (unsigned char)(i < run0 ? 0 : i % 10), img[28 * 28];
        for (int p = 0; p < 28 * 28; p++) {
            int row = p / 28;
            bool bar = row >= 2 * label + 3 && row <= 2 * label + 5;
            img[p] = (unsigned char)(bar ? 200 + tu_uniform(&r, 0, 55) : tu_uniform(&r, 0, 90));
        }
        fwrite(img, 1, sizeof img, fi);
        fputc(label, fl);
    }
    assert_int_equal(fclose(fi), 0);
    assert_int_equal(fclose(fl), 0);
}

static const char *fm_dir(void) {
    static char d[128];
    snprintf(d, sizeof d, "%s/fm", dir);
    return d;
}

static void make_fashion_data(void) {
    char cmd[512], a[256], b[256];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", fm_dir());
    assert_int_equal(system(cmd), 0);
    snprintf(a, sizeof a, "%s/train-images-idx3-ubyte", fm_dir());
    snprintf(b, sizeof b, "%s/train-labels-idx1-ubyte", fm_dir());
    write_set(a, b, 400, 200, 1);
    snprintf(a, sizeof a, "%s/t10k-images-idx3-ubyte", fm_dir());
    snprintf(b, sizeof b, "%s/t10k-labels-idx1-ubyte", fm_dir());
    write_set(a, b, 200, 0, 2);
    /* the test set compressed, the training set plain: both are read */
    snprintf(cmd, sizeof cmd, "gzip -f '%s/t10k-images-idx3-ubyte' '%s/t10k-labels-idx1-ubyte'",
             fm_dir(), fm_dir());
    assert_int_equal(system(cmd), 0);
}

static int fm(const char *extra) {
    char args[1024];
    snprintf(args, sizeof args, "--data '%s' --layers 784-24-10 --batch 16 --quiet %s", fm_dir(),
             extra);
    return run("fashion_mnist", args);
}

static void test_fashion_mnist_learns(void **state) {
    (void)state;
    make_fashion_data();
    char svg[256], args[512];
    snprintf(svg, sizeof svg, "%s/curve.svg", dir);
    snprintf(args, sizeof args, "--epochs 4 --svg-curve '%s'", svg);
    if (fm(args) != 0) {
        print_error("fashion_mnist failed:\n%s\n%s\n", out, err);
        fail();
    }
    expect_in(out, "400 training and 200 test images of 784 pixels");
    expect_in(out, "epoch  4/4");
    expect_in(out, "confusion matrix");
    expect_in(out, "Ankle boot");
    double acc = result_value("test_acc=");
    if (acc < 0.95) {
        print_error("test accuracy %.4f on bars that a working loop tells apart:\n%s\n", acc, out);
        fail();
    }
    assert_int_equal((int)result_value("epochs="), 4);
    FILE *f = fopen(svg, "r");
    assert_non_null(f);
    char head[6] = "";
    assert_int_equal(fread(head, 1, 5, f), 5);
    fclose(f);
    assert_string_equal(head, "<?xml");
}

/* The training loss and test accuracy of epoch 1, as printed ("train loss 0.1234 ... 0.9500"). */
static void epoch_figures(char *buf, size_t size) {
    const char *e = strstr(out, "train loss ");
    assert_non_null(e);
    const char *end = strstr(e, "  test acc ");
    assert_non_null(end);
    snprintf(buf, size, "%.*s", (int)(end - e) + 17, e);
}

static void test_fashion_mnist_repeats_itself(void **state) {
    (void)state;
    char first[128], again[128];
    assert_int_equal(fm("--epochs 1 --train-size 100 --seed 7 --optim adam"), 0);
    epoch_figures(first, sizeof first);
    assert_int_equal(fm("--epochs 1 --train-size 100 --seed 7 --optim adam"), 0);
    epoch_figures(again, sizeof again);
    assert_string_equal(first, again);
    assert_int_equal(fm("--epochs 1 --train-size 100 --seed 8 --optim adam"), 0);
    epoch_figures(again, sizeof again);
    assert_string_not_equal(first, again); /* another seed, another run */
    assert_int_equal(fm("--epochs 1 --train-size 100 --act tanh --lr-decay 1"), 0);
    assert_int_equal(fm("--epochs 1 --train-size 100 --act sigmoid --test-size 50"), 0);
    expect_in(out, "100 training and 50 test images");
}

static void test_fashion_mnist_refuses(void **state) {
    (void)state;
    /* no data: says which package installs it */
    char args[256];
    snprintf(args, sizeof args, "--data '%s/nothing-here'", dir);
    assert_int_equal(run("fashion_mnist", args), 1);
    expect_in(err, "apt-get install dataset-fashion-mnist");
    /* bad flags: usage and status 2 */
    assert_int_equal(fm("--act softsign"), 2);
    expect_in(err, "--act must be relu, tanh or sigmoid");
    expect_in(err, "usage:");
    assert_int_equal(fm("--optim rmsprop"), 2);
    assert_int_equal(fm("--epochs -1"), 2);
    assert_int_equal(fm("--batch many"), 2);
    assert_int_equal(fm("--no-such-flag"), 2);
    /* a net that does not fit the images */
    assert_int_equal(fm("--layers 100-10"), 1);
    expect_in(err, "the first size must be the 784 pixels");
    assert_int_equal(fm("--layers 784-x-10"), 1);
    expect_in(err, "--layers 784-x-10");
    /* a damaged file: the reader's message, naming the file */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "head -c 5000 '%s/train-images-idx3-ubyte' > '%s/cut' && "
                              "mv '%s/cut' '%s/train-images-idx3-ubyte'",
             fm_dir(), fm_dir(), fm_dir(), fm_dir());
    assert_int_equal(system(cmd), 0);
    assert_int_equal(fm(""), 1);
    expect_in(err, "train-images-idx3-ubyte: its dimensions");
    expect_in(err, "truncated");
}

/* --save keeps the trained weights; --load --epochs 0 tests them again and gets the same
 * accuracy; a file for another net, or no file, is refused. */
static void test_fashion_mnist_save_and_load(void **state) {
    (void)state;
    make_fashion_data();
    char args[512];
    snprintf(args, sizeof args, "--epochs 3 --save '%s/w.bin'", dir);
    assert_int_equal(fm(args), 0);
    expect_in(out, "weights saved to");
    const double trained = result_value("test_acc=");
    assert_true(trained > 0.5);
    snprintf(args, sizeof args, "--epochs 0 --load '%s/w.bin'", dir);
    assert_int_equal(fm(args), 0);
    expect_in(out, "weights loaded from");
    assert_true(result_value("test_acc=") == trained);
    assert_int_equal((int)result_value("epochs="), 0);
    /* untrained, the same net does far worse: the load is what made the difference */
    assert_int_equal(fm("--epochs 0"), 0);
    assert_true(result_value("test_acc=") < trained - 0.2);
    /* refused: another net's file, a missing file, a directory that is not there */
    snprintf(args, sizeof args, "--epochs 0 --layers 784-30-10 --load '%s/w.bin'", dir);
    assert_int_equal(fm(args), 1);
    expect_in(err, "--load");
    expect_in(err, "(784,24)");
    snprintf(args, sizeof args, "--epochs 0 --load '%s/none.bin'", dir);
    assert_int_equal(fm(args), 1);
    expect_in(err, "none.bin");
    snprintf(args, sizeof args, "--epochs 1 --train-size 50 --save '%s/no/such/dir/w.bin'", dir);
    assert_int_equal(fm(args), 1);
    expect_in(err, "--save");
}

/* ---- fashion_cnn on the same synthetic data set ---------------------------------------------- */

static int fc(const char *extra) {
    char args[1024];
    snprintf(args, sizeof args, "--data '%s' --batch 16 --quiet %s", fm_dir(), extra);
    return run("fashion_cnn", args);
}

static void test_fashion_cnn_learns(void **state) {
    (void)state;
    make_fashion_data();
    char svg[256], args[512];
    snprintf(svg, sizeof svg, "%s/cnn.svg", dir);
    snprintf(args, sizeof args, "--epochs 2 --svg-curve '%s'", svg);
    if (fc(args) != 0) {
        print_error("fashion_cnn failed:\n%s\n%s\n", out, err);
        fail();
    }
    expect_in(out, "400 training and 200 test images of 28x28 pixels");
    expect_in(out, "(225034 weights)");
    expect_in(out, "epoch  2/2");
    expect_in(out, "confusion matrix");
    double acc = result_value("test_acc=");
    if (acc < 0.95) {
        print_error("test accuracy %.4f on bars that a working loop tells apart:\n%s\n", acc, out);
        fail();
    }
    FILE *f = fopen(svg, "r");
    assert_non_null(f);
    fclose(f);
}

/* The same seed gives the same run, on one thread or two; another seed another run. */
static void test_fashion_cnn_repeats_itself(void **state) {
    (void)state;
    char first[128], again[128];
    assert_int_equal(fc("--epochs 1 --train-size 100 --seed 7"), 0);
    epoch_figures(first, sizeof first);
    setenv("BACKPROP_THREADS", "2", 1);
    assert_int_equal(fc("--epochs 1 --train-size 100 --seed 7"), 0);
    unsetenv("BACKPROP_THREADS");
    expect_in(out, "seed 7, 2 threads");
    epoch_figures(again, sizeof again);
    assert_string_equal(first, again);
    assert_int_equal(fc("--epochs 1 --train-size 100 --seed 8"), 0);
    epoch_figures(again, sizeof again);
    assert_string_not_equal(first, again);
    assert_int_equal(fc("--epochs 1 --train-size 100 --optim sgd --test-size 50"), 0);
    expect_in(out, "100 training and 50 test images");
}

/* Save, load and test again (the same accuracy); missing data and bad flags refused. */
static void test_fashion_cnn_save_load_and_refusals(void **state) {
    (void)state;
    make_fashion_data();
    char args[512];
    snprintf(args, sizeof args, "--epochs 1 --save '%s/cnn.bin'", dir);
    assert_int_equal(fc(args), 0);
    const double trained = result_value("test_acc=");
    snprintf(args, sizeof args, "--epochs 0 --load '%s/cnn.bin'", dir);
    assert_int_equal(fc(args), 0);
    expect_in(out, "weights loaded from");
    assert_true(result_value("test_acc=") == trained);
    snprintf(args, sizeof args, "--epochs 0 --load '%s/w.bin'", dir); /* an MLP's weights */
    assert_int_equal(fc(args), 1);
    expect_in(err, "--load");
    snprintf(args, sizeof args, "--data '%s/nothing-here'", dir);
    assert_int_equal(run("fashion_cnn", args), 1);
    expect_in(err, "apt-get install dataset-fashion-mnist");
    assert_int_equal(fc("--optim rmsprop"), 2);
    expect_in(err, "--optim must be adam or sgd");
    assert_int_equal(fc("--epochs -1"), 2);
    assert_int_equal(fc("--no-such-flag"), 2);
}

/* ---- char_rnn on a repetitive text ----------------------------------------------------------- */

static const char *text_path(void) {
    static char p[128];
    snprintf(p, sizeof p, "%s/text.txt", dir);
    return p;
}

static int cr(const char *extra) {
    char args[1024];
    snprintf(args, sizeof args,
             "--text '%s' --hidden 32 --batch 4 --seq 16 --prime 'the ' --quiet %s", text_path(),
             extra);
    return run("char_rnn", args);
}

/* "the cat sat on the mat. " over and over: after ' ' the next letter depends on which word
 * came before, so a net without a working memory cannot get far below 0.6 bits per character;
 * a working one gets close to 0. */
static void make_text(void) {
    FILE *f = fopen(text_path(), "w");
    assert_non_null(f);
    for (int i = 0; i < 150; i++) fputs("the cat sat on the mat. ", f);
    assert_int_equal(fclose(f), 0);
}

static void test_char_rnn_learns(void **state) {
    (void)state;
    make_text();
    char args[512];
    snprintf(args, sizeof args, "--steps 400 --eval-every 200 --sample 60 --prime 'the c' "
                                "--svg-curve '%s/bpc.svg'", dir);
    if (cr(args) != 0) {
        print_error("char_rnn failed:\n%s\n%s\n", out, err);
        fail();
    }
    expect_in(out, "3600 characters, 11 different");
    expect_in(out, "held-out");
    expect_in(out, "sample (temperature");
    double bpc = result_value("bpc=");
    if (!(bpc < 0.3)) {
        print_error("held-out bits per character %.3f on a text that repeats every 24 "
                    "characters:\n%s\n",
                    bpc, out);
        fail();
    }
    assert_int_equal((int)result_value("steps="), 400);
    expect_in(out, "the cat sat on the mat");
    expect_in(out, "curves written to");
    snprintf(args, sizeof args, "%s/bpc.svg", dir);
    FILE *f = fopen(args, "r");
    assert_non_null(f);
    char svg[4096];
    svg[fread(svg, 1, sizeof svg - 1, f)] = '\0';
    fclose(f);
    expect_in(svg, "held-out text");
}

static void test_char_rnn_repeats_itself(void **state) {
    (void)state;
    make_text();
    assert_int_equal(cr("--steps 30 --eval-every 30 --sample 40 --seed 3"), 0);
    char first[sizeof out];
    memcpy(first, out, sizeof out);
    assert_int_equal(cr("--steps 30 --eval-every 30 --sample 40 --seed 3"), 0);
    /* everything but the timings is the same */
    const char *s1 = strstr(first, "\nsample"), *s2 = strstr(out, "\nsample");
    assert_non_null(s1);
    assert_non_null(s2);
    const double bpc = strtod(strstr(strstr(first, "\nresult: "), "bpc=") + 4, NULL);
    assert_true(result_value("bpc=") == bpc);
    assert_memory_equal(s1, s2, 60);
    assert_int_equal(cr("--steps 30 --eval-every 30 --act sigmoid --optim sgd"), 0);
}

/* The gated cells learn the same text: the word before each ' ' must be remembered across it,
 * which the LSTM's cell state and the GRU's update gate hold. The same seed gives the same run,
 * the LSTM's carried cell state included. */
static void test_char_rnn_gated_cells_learn(void **state) {
    (void)state;
    make_text();
    const char *cells[2] = {"lstm", "gru"}, *names[2] = {"32 LSTM recurrent units", "32 GRU"};
    for (int k = 0; k < 2; k++) {
        char args[256];
        snprintf(args, sizeof args, "--cell %s --steps 400 --eval-every 200 --sample 40", cells[k]);
        if (cr(args) != 0) {
            print_error("char_rnn --cell %s failed:\n%s\n%s\n", cells[k], out, err);
            fail();
        }
        expect_in(out, names[k]);
        const double bpc = result_value("bpc=");
        if (!(bpc < 0.3)) {
            print_error("--cell %s: held-out bits per character %.3f on a text that repeats every "
                        "24 characters:\n%s\n", cells[k], bpc, out);
            fail();
        }
        const char *s = strstr(out, "\nsample");
        assert_non_null(s);
        char first[128];
        snprintf(first, sizeof first, "%s", s);
        char *timing = strstr(first, "\ntrained"); /* the sample, not the time it took */
        assert_non_null(timing);
        *timing = '\0';
        assert_int_equal(cr(args), 0);
        assert_true(result_value("bpc=") == bpc);
        assert_non_null(strstr(out, first));
    }
}

/* Write n characters of the repeating sentence to dir/name. */
static void write_sentence(const char *name, int n) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    const char *s = "the cat sat on the mat. ";
    for (int i = 0; i < n; i++) fputc(s[i % 24], f);
    assert_int_equal(fclose(f), 0);
}

/* --text DIR: every regular file of the directory, each with its own held-out tail; links,
 * subdirectories and empty files add nothing. Two texts of 1009 characters hold out 100 each
 * (200 in all), where the tail of their concatenation would be 201; the link would add 1009
 * more characters were it read. */
static void test_char_rnn_reads_a_directory(void **state) {
    (void)state;
    char sub[128], cmd[512];
    snprintf(sub, sizeof sub, "%s/texts", dir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/subdir'", sub, sub);
    assert_int_equal(system(cmd), 0);
    write_sentence("texts/b.txt", 1009);
    write_sentence("texts/a.txt", 1009);
    write_sentence("texts/empty", 0);
    snprintf(cmd, sizeof cmd, "ln -s a.txt '%s/link.txt'", sub);
    assert_int_equal(system(cmd), 0);
    char args[512];
    snprintf(args, sizeof args,
             "--text '%s' --hidden 16 --batch 4 --seq 16 --steps 2 --eval-every 2 --sample 10 "
             "--prime t --quiet",
             sub);
    if (run("char_rnn", args) != 0) {
        print_error("char_rnn on a directory failed:\n%s\n%s\n", out, err);
        fail();
    }
    expect_in(out, "2018 characters, 11 different; training on the first 1818, 200 held out");
    /* a directory without a regular file in it */
    snprintf(cmd, sizeof cmd, "rm -f '%s'/*.txt '%s/empty'", sub, sub);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("char_rnn", args), 1);
    expect_in(err, "no text in the directory");
    /* more texts than it takes: refused, not cut short without a word */
    for (int i = 0; i < 257; i++) {
        char name[64];
        snprintf(name, sizeof name, "texts/t%03d", i);
        write_sentence(name, 100);
    }
    assert_int_equal(run("char_rnn", args), 1);
    expect_in(err, "holds more than 256 texts");
}

static void test_char_rnn_refuses(void **state) {
    (void)state;
    make_text();
    char args[256];
    snprintf(args, sizeof args, "--text '%s/no-such-text'", dir);
    assert_int_equal(run("char_rnn", args), 1);
    expect_in(err, "cannot open --text");
    assert_int_equal(cr("--act relu"), 2);
    expect_in(err, "--act must be tanh or sigmoid");
    assert_int_equal(cr("--cell rnn"), 2);
    expect_in(err, "--cell must be elman, lstm or gru");
    assert_int_equal(cr("--seq 0"), 2);
    assert_int_equal(cr("--temperature 0"), 2);
    assert_int_equal(cr("--steps 10 --prime 'Z'"), 2);
    expect_in(err, "never occurs");
    /* too short for the streams */
    FILE *f = fopen(text_path(), "w");
    assert_non_null(f);
    fputs("tiny text", f);
    fclose(f);
    assert_int_equal(cr("--steps 10"), 1);
    expect_in(err, "is too short");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fashion_mnist_learns),
        cmocka_unit_test(test_fashion_mnist_repeats_itself),
        cmocka_unit_test(test_fashion_mnist_refuses),
        cmocka_unit_test(test_fashion_mnist_save_and_load),
        cmocka_unit_test(test_fashion_cnn_learns),
        cmocka_unit_test(test_fashion_cnn_repeats_itself),
        cmocka_unit_test(test_fashion_cnn_save_load_and_refusals),
        cmocka_unit_test(test_char_rnn_learns),
        cmocka_unit_test(test_char_rnn_repeats_itself),
        cmocka_unit_test(test_char_rnn_gated_cells_learn),
        cmocka_unit_test(test_char_rnn_reads_a_directory),
        cmocka_unit_test(test_char_rnn_refuses),
    };
    return cmocka_run_group_tests_name("real_data", tests, make_dir, remove_dir);
}
