/*
 * chain_rule -- one sigmoid neuron, recorded on the tape and back-propagated, with every
 * intermediate value and gradient printed so that the chain rule can be checked by hand.
 *
 *   y = sigmoid(w1*x1 + w2*x2 + b)        E = 1/2 (y - d)^2
 *
 * Usage: chain_rule [--x1 V] [--x2 V] [--w1 V] [--w2 V] [--b V] [--d V] [--help]
 */
#include "backprop.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: chain_rule [--x1 V] [--x2 V] [--w1 V] [--w2 V] [--b V] [--d V] [--help]\n"
            "  One neuron y = sigmoid(w1*x1 + w2*x2 + b) with error E = 1/2 (y - d)^2, recorded on\n"
            "  the tape and back-propagated; prints every node's value and gradient.\n"
            "  Defaults: x1=1 x2=2 w1=0.5 w2=-0.25 b=0.5 d=1\n");
}

int main(int argc, char **argv) {
    double x1v = 1.0, x2v = 2.0, w1v = 0.5, w2v = -0.25, bv = 0.5, dv = 1.0;
    struct { const char *flag; double *value; } opts[] = {
        {"--x1", &x1v}, {"--x2", &x2v}, {"--w1", &w1v}, {"--w2", &w2v}, {"--b", &bv}, {"--d", &dv},
    };
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        size_t k = 0, n = sizeof opts / sizeof opts[0];
        while (k < n && strcmp(argv[i], opts[k].flag)) k++;
        char *end = NULL;
        if (k == n || i + 1 >= argc || (*opts[k].value = strtod(argv[i + 1], &end), *end) ||
            end == argv[i + 1] || !isfinite(*opts[k].value)) {
            fprintf(stderr, "chain_rule: bad argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    /* Parameters live outside the tape; the inputs and the target are data on the tape. */
    ag_tensor *w1 = ag_scalar_param(w1v), *w2 = ag_scalar_param(w2v), *b = ag_scalar_param(bv);
    ag_tape *t = ag_tape_new();
    if (!w1 || !w2 || !b || !t) {
        fprintf(stderr, "chain_rule: %s\n", ag_last_error());
        return 1;
    }
    ag_tensor *x1 = ag_scalar(t, x1v), *x2 = ag_scalar(t, x2v), *d = ag_scalar(t, dv);

    /* The forward pass: each call runs at once and appends one node to the tape. */
    ag_tensor *a1 = ag_mul(t, w1, x1);  /* a1 = w1 * x1 */
    ag_tensor *a2 = ag_mul(t, w2, x2);  /* a2 = w2 * x2 */
    ag_tensor *s = ag_add(t, a1, a2);   /* s = a1 + a2 */
    ag_tensor *z = ag_add(t, s, b);     /* z = s + b: the neuron's total input */
    ag_tensor *y = ag_sigmoid(t, z);    /* y = 1 / (1 + e^-z) */
    ag_tensor *E = ag_sse(t, y, d);     /* E = 1/2 (y - d)^2 */

    /* The reverse sweep: from E back to the parameters. */
    if (ag_backward(t, E) != 0) {
        fprintf(stderr, "chain_rule: %s\n", ag_tape_error(t));
        return 1;
    }

    printf("One neuron:  y = sigmoid(w1*x1 + w2*x2 + b),  E = 1/2 (y - d)^2\n");
    printf("inputs x1 = %g, x2 = %g, target d = %g; parameters w1 = %g, w2 = %g, b = %g\n\n",
           ag_item(x1), ag_item(x2), ag_item(d), ag_item(w1), ag_item(w2), ag_item(b));

    printf("Forward: the tape, in the order the ops ran\n");
    struct { const char *name, *formula; ag_tensor *x; } fwd[] = {
        {"a1", "w1 * x1", a1}, {"a2", "w2 * x2", a2},      {"s", "a1 + a2", s},
        {"z", "s + b", z},     {"y", "sigmoid(z)", y},     {"E", "1/2 (y - d)^2", E},
    };
    for (int i = 0; i < 6; i++)
        printf("  node %d  %-8s %-2s = %-14s = %.6g\n", i, ag_op_name(fwd[i].x), fwd[i].name,
               fwd[i].formula, ag_item(fwd[i].x));

    printf("\nBackward: the same nodes, last to first; each multiplies the gradient it receives\n"
           "by its local derivative and adds the product into its inputs' gradients\n");
    struct { const char *name, *rule; ag_tensor *x; } bwd[] = {
        {"E", "seed", E},
        {"y", "dE/dE * (y - d)", y},
        {"z", "dE/dy * y (1 - y)", z},
        {"s", "dE/dz * 1", s},
        {"b", "dE/dz * 1", b},
        {"a1", "dE/ds * 1", a1},
        {"a2", "dE/ds * 1", a2},
        {"w1", "dE/da1 * x1", w1},
        {"w2", "dE/da2 * x2", w2},
    };
    for (int i = 0; i < 9; i++)
        printf("  dE/d%-2s = %-18s = %.6g\n", bwd[i].name, bwd[i].rule, ag_grad_item(bwd[i].x));

    printf("\nresult: E=%.6g y=%.6g dE_dw1=%.6g dE_dw2=%.6g dE_db=%.6g\n", ag_item(E), ag_item(y),
           ag_grad_item(w1), ag_grad_item(w2), ag_grad_item(b));

    ag_tape_free(t);
    ag_tensor_free(w1);
    ag_tensor_free(w2);
    ag_tensor_free(b);
    return 0;
}
