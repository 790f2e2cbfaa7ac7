/*
 * test_cli.c -- every example program found (in $BACKPROP_EXAMPLES, else examples/) rejects
 * unknown flags, stray words, missing values and bad numbers (not a number, NaN, infinities,
 * out of range, fractions for integers) with a usage message on stderr and a non-zero exit
 * status: never a crash, never a run with a nonsense setting. The options and the kind of
 * value each takes are read from the program's --help, so new examples are covered as they
 * land.
 */
#define _POSIX_C_SOURCE 200809L /* fork, dirent, alarm, mkstemp */
#include "support/testutil.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run prog with args, stdout and stderr to the files given; the wait status. A program that
 * accepted a bad value and started real work is stopped after a minute (a failure). */
static int run(const char *prog, char *const *args, const char *outfile, const char *errfile) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int out = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || err < 0) _exit(127);
        dup2(out, 1);
        dup2(err, 2);
        alarm(60);
        execv(prog, args);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static bool file_contains(const char *path, const char *part) {
    char buf[8192];
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (char *c = buf; *c; c++) *c = (char)tolower((unsigned char)*c);
    return strstr(buf, part) != NULL;
}

/* The options a program's --help lists, with the kind of value each takes: "--name N" (an
 * integer), "--name X" or "V" (a number), "--name TEXT", or nothing (a flag). */
typedef struct { char name[40]; char kind; } option;

static int help_options(const char *prog, const char *tmp, option *opts, int max) {
    char *const args[] = {(char *)prog, "--help", NULL};
    int st = run(prog, args, tmp, "/dev/null");
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char text[16384];
    FILE *f = fopen(tmp, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    int count = 0;
    for (char *p = strstr(text, "--"); p && count < max; p = strstr(p + 2, "--")) {
        int len = 2;
        while (isalnum((unsigned char)p[len]) || p[len] == '-' || p[len] == '_') len++;
        if (len <= 2 || len >= (int)sizeof opts[0].name || !strncmp(p, "--help", 6)) continue;
        option o;
        memcpy(o.name, p, (size_t)len);
        o.name[len] = '\0';
        const char *v = p + len;
        o.kind = v[0] == ' ' && (v[1] == 'N' || v[1] == 'X' || v[1] == 'V' || v[1] == 'T') &&
                         !isalnum((unsigned char)v[2 + (v[1] == 'T' ? 3 : 0)])
                     ? v[1]
                     : 'F';
        bool seen = false;
        for (int k = 0; k < count; k++) seen |= !strcmp(opts[k].name, o.name);
        if (!seen) opts[count++] = o;
    }
    return count;
}

static void expect_usage_error(const char *prog, char *const *args, const char *tmp) {
    int st = run(prog, args, "/dev/null", tmp);
    bool ok = WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) < 126 && file_contains(tmp, "usage");
    if (!ok) {
        print_error("%s", prog);
        for (int i = 1; args[i]; i++) print_error(" '%s'", args[i]);
        print_error(": %s %d, %s a usage message\n", WIFEXITED(st) ? "exit status" : "killed by signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
                    file_contains(tmp, "usage") ? "with" : "without");
        fail();
    }
}

static void test_example_command_lines(void **state) {
    (void)state;
    const char *dirname = getenv("BACKPROP_EXAMPLES");
    if (!dirname) dirname = "examples";
    DIR *d = opendir(dirname);
    assert_non_null(d);
    char tmp[] = "/tmp/backprop-badinput-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    int programs = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char prog[512];
        struct stat sb;
        snprintf(prog, sizeof prog, "%s/%s", dirname, e->d_name);
        if (strchr(e->d_name, '.') || stat(prog, &sb) != 0 || !S_ISREG(sb.st_mode) || !(sb.st_mode & S_IXUSR))
            continue;
        programs++;
        option opts[64];
        int n = help_options(prog, tmp, opts, 64);
        char *const unknown[] = {prog, "--no-such-option", NULL};
        expect_usage_error(prog, unknown, tmp);
        char *const stray[] = {prog, "stray", NULL};
        expect_usage_error(prog, stray, tmp);
        for (int k = 0; k < n; k++) {
            char *name = opts[k].name;
            if (opts[k].kind == 'F') continue;
            char *const missing[] = {prog, name, NULL};
            expect_usage_error(prog, missing, tmp);
            char *const empty[] = {prog, name, "", NULL};
            expect_usage_error(prog, empty, tmp);
            if (opts[k].kind == 'T') continue;
            const char *bad[] = {"abc", "nan", "inf", "-inf", "1e999", "1,5", "0x", "2abc"};
            for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
                char *const args[] = {prog, name, (char *)bad[b], NULL};
                expect_usage_error(prog, args, tmp);
            }
            if (opts[k].kind == 'N') {
                const char *badint[] = {"1.5", "99999999999999999999", "-99999999999999999999"};
                for (size_t b = 0; b < 3; b++) {
                    char *const args[] = {prog, name, (char *)badint[b], NULL};
                    expect_usage_error(prog, args, tmp);
                }
            }
        }
    }
    closedir(d);
    unlink(tmp);
    assert_true(programs >= 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_command_lines),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
