/*
 * playground_cli.c -- the playground's C side (web/playground.c) run natively: what the page
 * shows for the same clicks, printed, so that the browser test (web/test/run.mjs) can compare
 * the page with the native build.
 *
 *   playground_cli MODEL [--seed N] [--expr TEXT] [--forward] [--backward K] [--dot] [--train N]
 *     MODEL        neuron, xor, symmetry, perceptron (XOR with no hidden unit) or expr (with
 *                  --expr)
 *     --forward    every node of the forward pass, one line each
 *     --backward K the narrated sweep after K steps (K < 0: all of it)
 *     --dot        the tape as Graphviz DOT, values only
 *     --train N    N sweeps with the paper's rule, then "E after N sweeps: E HEX"
 */
#include "playground.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
    fprintf(stderr, "usage: playground_cli neuron|xor|symmetry|perceptron|expr [--seed N] [--expr TEXT] "
                    "[--forward] [--backward K] [--dot] [--train N]\n");
    return 2;
}

static int failed(const char *what) {
    fprintf(stderr, "playground_cli: %s: %s\n", what, pg_text());
    return 1;
}

int main(int argc, char **argv) {
    static const char *const models[] = {"neuron", "xor", "symmetry", "expr", "perceptron"};
    int model = -1;
    for (int m = 0; argc > 1 && m < 5; m++)
        if (!strcmp(argv[1], models[m])) model = m;
    if (model < 0) return usage();
    const char *expr = NULL;
    for (int i = 2; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--seed")) pg_set_seed(atoi(argv[i + 1]));
        if (!strcmp(argv[i], "--expr")) expr = argv[i + 1];
    }
    if (model == 3) {
        if (!expr || strlen(expr) >= (size_t)pg_input_size()) return usage();
        strcpy(pg_input(), expr);
        if (pg_set_expression() != 0) return failed("expression");
    } else if (pg_model(model) != 0) {
        return failed("model");
    }
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "--seed") || !strcmp(arg, "--expr")) {
            i++;
        } else if (!strcmp(arg, "--forward")) {
            int n = pg_record();
            if (n < 0) return failed("forward");
            for (int k = 0; k < n; k++) {
                if (pg_forward_line(k) != 0) return failed("forward");
                printf("%s\n", pg_text());
            }
        } else if (!strcmp(arg, "--backward") && val) {
            if (pg_backward(atoi(val)) < 0) return failed("backward");
            fputs(pg_text(), stdout);
            i++;
        } else if (!strcmp(arg, "--dot")) {
            if (pg_forward_dot() != 0) return failed("dot");
            fputs(pg_text(), stdout);
        } else if (!strcmp(arg, "--train") && val) {
            int n = atoi(val);
            if (pg_train(n) < 0 || pg_error() != 0) return failed("train");
            char e[64], hex[64];
            if (sscanf(pg_text(), "%63s %63s", e, hex) != 2) return failed("train");
            printf("E after %d sweeps: %s %s\n", n, e, hex);
            i++;
        } else {
            return usage();
        }
    }
    return 0;
}
