/*
 * chain_rule -- one sigmoid neuron, recorded on the tape and back-propagated, with every
 * intermediate value and gradient printed so that the chain rule can be checked by hand.
 *
 *   y = sigmoid(w1*x1 + w2*x2 + b)        E = 1/2 (y - d)^2
 *
 * Usage: chain_rule [--x1 V] [--x2 V] [--w1 V] [--w2 V] [--b V] [--d V] [--trace] [--dot FILE]
 *        chain_rule --hidden
 *   --trace     narrate the reverse sweep node by node (docs/tutorial.md walks it by hand)
 *   --dot FILE  write the tape as a Graphviz picture: dot -Tpng FILE -o graph.png
 *   --hidden    a 2-2-1 sigmoid net instead: forward, the narrated sweep, the hidden units'
 *               rule dE/dy_i = sum_j dE/dx_j w_ji in numbers, and two weight changes with the
 *               paper's rule dw(t) = -eps dE/dw + alpha dw(t-1) (hidden_walkthrough below)
 */
#include "backprop.h"
#include "support/cli.h"
#include "paper/walkthrough.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Give a tensor its name in the picture and the trace (tape tensors keep the pointer: these
 * are string literals). */
static ag_tensor *named(ag_tensor *x, const char *name) {
    ag_tensor_set_name(x, name);
    return x;
}

int main(int argc, char **argv) {
    double x1v = 1.0, x2v = 2.0, w1v = 0.5, w2v = -0.25, bv = 0.5, dv = 1.0;
    bool trace = false, hidden = false;
    const char *dot_path = NULL;
    const cli_opt opts[] = {
        {"--x1", CLI_DOUBLE, &x1v, 1, 0, "input x1"},
        {"--x2", CLI_DOUBLE, &x2v, 1, 0, "input x2"},
        {"--w1", CLI_DOUBLE, &w1v, 1, 0, "weight w1"},
        {"--w2", CLI_DOUBLE, &w2v, 1, 0, "weight w2"},
        {"--b", CLI_DOUBLE, &bv, 1, 0, "bias b"},
        {"--d", CLI_DOUBLE, &dv, 1, 0, "target d"},
        {"--trace", CLI_FLAG, &trace, 1, 0, "narrate the reverse sweep, node by node"},
        {"--dot", CLI_STRING, &dot_path, 1, 0, "write the tape as Graphviz DOT to this file"},
        {"--hidden", CLI_FLAG, &hidden, 1, 0,
         "a 2-2-1 net instead: the hidden units' rule and the momentum step in numbers"},
    };
    int rc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
                       "one neuron, y = sigmoid(w1*x1 + w2*x2 + b), E = 1/2 (y - d)^2: every\n"
                       "  node's value and gradient, so the chain rule can be checked by hand");
    if (rc != CLI_CONTINUE) return rc;
    if (hidden) return hidden_walkthrough();

    /* Parameters live outside the tape; the inputs and the target are data on the tape. */
    ag_tensor *w1 = ag_scalar_param(w1v), *w2 = ag_scalar_param(w2v), *b = ag_scalar_param(bv);
    ag_tape *t = ag_tape_new();
    if (!w1 || !w2 || !b || !t) {
        fprintf(stderr, "chain_rule: %s\n", ag_last_error());
        return 1;
    }
    named(w1, "w1"), named(w2, "w2"), named(b, "b");
    ag_tensor *x1 = named(ag_scalar(t, x1v), "x1"), *x2 = named(ag_scalar(t, x2v), "x2");
    ag_tensor *d = named(ag_scalar(t, dv), "d");

    /* The forward pass: each call runs at once and appends one node to the tape. */
    ag_tensor *a1 = named(ag_mul(t, w1, x1), "a1"); /* a1 = w1 * x1 */
    ag_tensor *a2 = named(ag_mul(t, w2, x2), "a2"); /* a2 = w2 * x2 */
    ag_tensor *s = named(ag_add(t, a1, a2), "s");   /* s = a1 + a2 */
    ag_tensor *z = named(ag_add(t, s, b), "z");     /* z = s + b: the neuron's total input */
    ag_tensor *y = named(ag_sigmoid(t, z), "y");    /* y = 1 / (1 + e^-z) */
    ag_tensor *E = named(ag_sse(t, y, d), "E");     /* E = 1/2 (y - d)^2 */

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
    /* The reverse sweep: from E back to the parameters, narrated when asked. */
    if (trace) {
        printf("\nThe sweep as it runs (--trace):\n");
        ag_tape_set_trace(t, stdout);
    }
    if (ag_backward(t, E) != 0) {
        fprintf(stderr, "chain_rule: %s\n", ag_tape_error(t));
        return 1;
    }
    if (trace) printf("\nThe gradients it left:\n");
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

    int status = 0;
    if (dot_path) {
        FILE *f = fopen(dot_path, "w");
        const char *why = !f                            ? strerror(errno)
                          : ag_tape_write_dot(t, f) != 0 ? ag_last_error()
                                                         : NULL;
        if (f && fclose(f) != 0 && !why) why = strerror(errno);
        if (why) {
            fprintf(stderr, "chain_rule: cannot write %s: %s\n", dot_path, why);
            status = 1;
        } else {
            printf("wrote the graph to %s (render it: dot -Tpng %s -o graph.png)\n", dot_path,
                   dot_path);
        }
    }

    ag_tape_free(t);
    ag_tensor_free(w1);
    ag_tensor_free(w2);
    ag_tensor_free(b);
    return status;
}
