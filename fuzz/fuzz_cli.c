/*
 * fuzz_cli.c -- libFuzzer harness for the examples' command-line parser (examples/support/cli.c).
 * The input is split at NUL bytes into arguments (at most 16) after a program name. Besides
 * "no crash, no sanitizer report": when the parser says go on, every value it stored is of its
 * kind and within its range.
 */
#include "examples/support/cli.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int i_v = 10;
    long l_v = 5;
    double d_v = 0.5, any_v = 1.0;
    const char *s_v = NULL;
    bool f_v = false;
    const cli_opt opts[] = {
        {"--int", CLI_INT, &i_v, 1, 1000, "an integer"},
        {"--long", CLI_LONG, &l_v, 0, 1e12, "a long"},
        {"--double", CLI_DOUBLE, &d_v, -1, 1, "a number in [-1, 1]"},
        {"--any", CLI_DOUBLE, &any_v, 1, 0, "any number"},
        {"--name", CLI_STRING, &s_v, 0, -1, "a string"},
        {"--flag", CLI_FLAG, &f_v, 0, -1, "a flag"},
    };
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[18] = {"prog"};
    int argc = 1;
    for (size_t at = 0; at <= size && argc < 17;) {
        argv[argc++] = text + at;
        at += strlen(text + at) + 1;
    }
    argv[argc] = NULL;
    int rc = cli_parse(argc, argv, opts, 6, "fuzzing the parser");
    if (rc == CLI_CONTINUE) {
        bool ok = i_v >= 1 && i_v <= 1000 && l_v >= 0 && l_v <= 1000000000000L && d_v >= -1 &&
                  d_v <= 1 && isfinite(any_v) && (!s_v || s_v[0]);
        if (!ok) {
            fprintf(stderr, "accepted a bad value: %d %ld %g %g\n", i_v, l_v, d_v, any_v);
            abort();
        }
    } else if (rc != 0 && rc != 2) {
        abort();
    }
    free(text);
    return 0;
}
