/*
 * test_cli_parse.c -- the examples' command-line parsing (examples/support/cli): good values land in
 * their variables; every kind of bad flag or value gives status 2 with a usage message, never a
 * crash; and the paper examples themselves answer bad arguments with status 2 and end a run with
 * their `result:` line.
 */
#define _POSIX_C_SOURCE 200809L /* popen, dup, dup2, fileno */
#include "support/testutil.h"

#include "examples/support/cli.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    int n;
    long big;
    double x;
    const char *name;
    bool flag;
} values;

#define OPTS(v)                                                                     \
    {"--n", CLI_INT, &(v).n, 1, 10, "an int in [1, 10]"},                           \
    {"--big", CLI_LONG, &(v).big, 0, -1, "any long"},                               \
    {"--x", CLI_DOUBLE, &(v).x, 0, 1, "a double in [0, 1]"},                        \
    {"--name", CLI_STRING, &(v).name, 0, -1, "a string"},                           \
    {"--flag", CLI_FLAG, &(v).flag, 0, -1, "a flag"}

/* cli_parse on the words of `line` (at most 15), with stdout and stderr silenced. */
static int parse(values *v, const char *line) {
    static char buf[256]; /* string values point into it */
    char *argv[16] = {"prog"};
    int argc = 1;
    snprintf(buf, sizeof buf, "%s", line);
    for (char *w = strtok(buf, " "); w && argc < 16; w = strtok(NULL, " ")) argv[argc++] = w;
    const cli_opt opts[] = {OPTS(*v)};
    fflush(stdout);
    fflush(stderr);
    int out = dup(1), err = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    int st = cli_parse(argc, argv, opts, 5, "a test");
    fflush(stdout);
    fflush(stderr);
    dup2(out, 1);
    dup2(err, 2);
    close(out), close(err), close(null);
    return st;
}

static void test_good_values(void **state) {
    (void)state;
    values v = {5, 0, 0.5, "x", false};
    assert_int_equal(parse(&v, "--n 7 --big -12345678901 --x 0.25 --name hello --flag"), CLI_CONTINUE);
    assert_int_equal(v.n, 7);
    assert_true(v.big == -12345678901L || sizeof(long) < 8);
    assert_float_equal(v.x, 0.25, 0);
    assert_string_equal(v.name, "hello");
    assert_true(v.flag);
    values w = {5, 0, 0.5, "x", false};
    assert_int_equal(parse(&w, ""), CLI_CONTINUE); /* defaults stay */
    assert_int_equal(w.n, 5);
    assert_int_equal(parse(&w, "--n 1 --n 10"), CLI_CONTINUE); /* bounds are inclusive */
    assert_int_equal(w.n, 10);
    assert_int_equal(parse(&w, "--help"), 0);
    assert_int_equal(parse(&w, "-h"), 0);
}

static void test_bad_values_give_status_2(void **state) {
    (void)state;
    const char *bad[] = {"--nope", "--n", "--n abc", "--n 1.5", "--n 11", "--n 0", "--n 99999999999",
                         "--x 2", "--x -0.1", "--x nan", "--x inf", "--x 1e999", "--x 0.5x",
                         "--big 99999999999999999999", "--name", "n", "--flag --n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        values v = {5, 0, 0.5, "x", false};
        int st = parse(&v, bad[i]);
        if (st != 2) {
            print_error("'%s' gave %d, not 2\n", bad[i], st);
            fail();
        }
        assert_int_equal(v.n, 5); /* a refused value is not stored */
    }
    values v = {5, 0, 0.5, "x", false};
    const cli_opt opts[] = {OPTS(v)};
    char *argv[] = {"prog"};
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w");
    int st = cli_error(argv, opts, 5, "a test", "--name: '%s' is not allowed", "z");
    fclose(stderr);
    stderr = saved;
    assert_int_equal(st, 2);
}

/* Run `examples/NAME ARGS` and return its exit status; its stdout goes into out (may be NULL). */
static int run_example(const char *name, const char *args, char *out, size_t size) {
    const char *dir = getenv("BACKPROP_EXAMPLES");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/%s %s 2>/dev/null", dir ? dir : "examples", name, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char sink[4096];
    size_t n = fread(out ? out : sink, 1, (out ? size : sizeof sink) - 1, p);
    (out ? out : sink)[n] = '\0';
    while (fread(sink, 1, sizeof sink, p) > 0) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_examples_refuse_bad_arguments(void **state) {
    (void)state;
    const char *names[] = {"xor", "symmetry", "family_trees", "recurrent"};
    const char *bad[] = {"--nope", "--seed", "--seed -1", "--sweeps x", "--lr -1", "--momentum 1",
                         "--csv", "--seeds 0"};
    for (int e = 0; e < 4; e++) {
        assert_int_equal(run_example(names[e], "--help", NULL, 0), 0);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            if (e == 3 && !strcmp(bad[i], "--seeds 0")) continue;
            int st = run_example(names[e], bad[i], NULL, 0);
            if (st != 2) {
                print_error("%s %s: status %d, not 2\n", names[e], bad[i], st);
                fail();
            }
        }
    }
    assert_int_equal(run_example("xor", "--arch 3-3-3", NULL, 0), 2);
    assert_int_equal(run_example("recurrent", "--copies most", NULL, 0), 2);
    assert_int_equal(run_example("family_trees", "--recipe magic", NULL, 0), 2);
    const char *holdouts[] = {"1,2,3", "1,2,3,3", "1,2,3,104", "1,2,3,4,5", "a,b,c,d", "1,2,3,4,"};
    for (int i = 0; i < 6; i++) {
        char args[64];
        snprintf(args, sizeof args, "--holdout %s", holdouts[i]);
        assert_int_equal(run_example("family_trees", args, NULL, 0), 2);
    }
    assert_int_equal(run_example("xor", "--quiet --csv /nonexistent/dir/x.csv", NULL, 0), 1);
}

/* The last line of out starts with `result:` and holds each of the keys. */
static void expect_result(const char *out, const char *const *keys, int n) {
    const char *r = strstr(out, "\nresult: ");
    if (!r) {
        print_error("no result line in:\n%s\n", out);
        fail();
    }
    for (int i = 0; i < n; i++)
        if (!strstr(r, keys[i])) {
            print_error("result line lacks '%s': %s\n", keys[i], r + 1);
            fail();
        }
}

static void test_examples_end_with_a_result_line(void **state) {
    (void)state;
    static char out[65536];
    assert_int_equal(run_example("xor", "--quiet", out, sizeof out), 0);
    expect_result(out, (const char *[]){" sweeps=", " learned=1", " arch=2-2-1"}, 3);
    assert_int_equal(run_example("symmetry", "--published", out, sizeof out), 0);
    expect_result(out, (const char *[]){" right=64"}, 1);
    assert_int_equal(run_example("symmetry", "--quiet --sweeps 50", out, sizeof out), 0);
    expect_result(out, (const char *[]){" sweeps=50", " learned=0", " mirror_opposite=", " ratio=1:"}, 4);
    assert_int_equal(run_example("family_trees", "--quiet --sweeps 30 --holdout 0,1,2,3", out, sizeof out), 0);
    expect_result(out, (const char *[]){" train=", "/100", " test=", "/4", " sweeps=30", " recipe=paper"}, 6);
    assert_int_equal(run_example("family_trees", "--list-cases", out, sizeof out), 0);
    int lines = 0;
    for (const char *c = out; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 104);
    assert_int_equal(run_example("recurrent", "--quiet --sweeps 20 --seeds 2", out, sizeof out), 0);
    expect_result(out, (const char *[]){" seeds=2", " learned=0", " median_sweeps=", " test_digits_mean="}, 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_values),
        cmocka_unit_test(test_bad_values_give_status_2),
        cmocka_unit_test(test_examples_refuse_bad_arguments),
        cmocka_unit_test(test_examples_end_with_a_result_line),
    };
    return cmocka_run_group_tests_name("cli_parse", tests, NULL, NULL);
}
