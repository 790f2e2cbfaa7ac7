/* walkthrough.c -- see walkthrough.h. */
#include "walkthrough.h"

#include "backprop.h"

#include <stdio.h>

/* The net: input (1,2) -> hidden layer W1 (2,2), b1 (1,2) -> output W2 (2,1), b2 (1,1). W1[i][j]
 * is the paper's w_ji, from input i to hidden unit j. */
typedef struct {
    nn_params *ps;
    ag_tensor *W1, *b1, *W2, *b2;
} net221;

/* The tensors of one forward pass, named as the paper names them: x the total input of a
 * layer, y its output. */
typedef struct {
    ag_tensor *in, *d, *xh, *h, *xo, *y, *E;
} pass;

static const float IN[2] = {1.0f, 0.0f}, TARGET = 1.0f; /* the XOR case (1,0) -> 1 */

static ag_tensor *param(nn_params *ps, const char *name, int rows, int cols, const float *v) {
    ag_tensor *p = nn_param_new(ps, name, 2, (const int[]){rows, cols});
    if (p)
        for (int i = 0; i < p->numel; i++) p->data[i] = v[i];
    return p;
}

static ag_tensor *named(ag_tensor *x, const char *name) {
    ag_tensor_set_name(x, name);
    return x;
}

static pass forward(ag_tape *t, const net221 *n) {
    pass p;
    p.in = named(ag_tape_tensor(t, 2, (const int[]){1, 2}, IN), "in");
    p.d = named(ag_tape_tensor(t, 2, (const int[]){1, 1}, &TARGET), "d");
    ag_tensor *sh = named(ag_matmul(t, p.in, n->W1), "in_W1");   /* (1,2) x (2,2) */
    p.xh = named(ag_add(t, sh, n->b1), "x_h");                   /* hidden total inputs */
    p.h = named(ag_sigmoid(t, p.xh), "h");                       /* hidden outputs y_i */
    ag_tensor *so = named(ag_matmul(t, p.h, n->W2), "h_W2");     /* (1,2) x (2,1) */
    p.xo = named(ag_add(t, so, n->b2), "x_o");                   /* the output's total input */
    p.y = named(ag_sigmoid(t, p.xo), "y");                       /* the output */
    p.E = named(ag_sse(t, p.y, p.d), "E");                       /* E = 1/2 (y - d)^2 */
    return p;
}

static void print_row(const char *name, const ag_tensor *x, const float *v) {
    const int cols = x->shape[x->ndim - 1];
    printf("  %-4s = [", name);
    for (int i = 0; i < x->numel; i++) printf("%s%.6g", i == 0 ? "" : i % cols ? ", " : "; ", v[i]);
    printf("]\n");
}

/* The hidden units' rule with the sweep's own numbers: each hidden unit i gets
 * dE/dy_i = sum_j dE/dx_j w_ji (one output unit here, so one term), then its total input
 * dE/dx_i = dE/dy_i y_i (1 - y_i), then its incoming weights dE/dw_ik = dE/dx_i y_k. */
static void print_hidden_rule(const net221 *n, const pass *p) {
    const float gxo = p->xo->grad[0];
    printf("\nThe hidden units' rule, dE/dy_i = sum_j dE/dx_j w_ji, in numbers (one output unit j,\n"
           "so one term; dE/dx_o = %.6g is the output's, from node 5 of the sweep):\n", gxo);
    for (int i = 0; i < 2; i++) {
        const float w = n->W2->data[i], hi = p->h->data[i];
        printf("  dE/dh%d  = dE/dx_o * w_o%d = %.6g * %.6g = %.6g\n", i + 1, i + 1, gxo, w,
               p->h->grad[i]);
        printf("  dE/dx_h%d = dE/dh%d * h%d (1 - h%d) = %.6g * %.6g = %.6g\n", i + 1, i + 1, i + 1,
               i + 1, p->h->grad[i], hi * (1.0f - hi), p->xh->grad[i]);
        for (int k = 0; k < 2; k++)
            printf("  dE/dw_h%d,in%d = dE/dx_h%d * in%d = %.6g * %g = %.6g\n", i + 1, k + 1, i + 1,
                   k + 1, p->xh->grad[i], IN[k], n->W1->grad[k * 2 + i]);
    }
}

/* One weight change: dw = w_after - w_before, measured, beside the rule's terms. */
static int weight_change(ag_tape *t, nn_optim *o, const net221 *n, int step, float prev[9],
                         double eps, double alpha) {
    ag_tensor *ws[4] = {n->W1, n->b1, n->W2, n->b2};
    static const char *const names[9] = {"w_h1,in1", "w_h2,in1", "w_h1,in2", "w_h2,in2", "b_h1",
                                         "b_h2",     "w_o1",     "w_o2",     "b_o"};
    float before[9], grad[9];
    int k = 0;
    for (int p = 0; p < 4; p++)
        for (int i = 0; i < ws[p]->numel; i++, k++) before[k] = ws[p]->data[i], grad[k] = ws[p]->grad[i];
    if (nn_optim_step(o, t) != 0) {
        fprintf(stderr, "chain_rule: %s\n", nn_error(t));
        return -1;
    }
    printf("\nWeight change %d: dw(%d) = -eps dE/dw + alpha dw(%d), eps = %g, alpha = %g\n", step,
           step, step - 1, eps, alpha);
    k = 0;
    for (int p = 0; p < 4; p++)
        for (int i = 0; i < ws[p]->numel; i++, k++) {
            const float dw = ws[p]->data[i] - before[k];
            printf("  %-9s dw = -%g * %.6g + %g * %.6g = %.6g   w: %.6g -> %.6g\n", names[k], eps,
                   grad[k], alpha, prev[k], dw, before[k], ws[p]->data[i]);
            prev[k] = dw;
        }
    return 0;
}

int hidden_walkthrough(void) {
    const double eps = 0.5, alpha = 0.9;
    net221 n = {nn_params_new(), NULL, NULL, NULL, NULL};
    n.W1 = param(n.ps, "W1", 2, 2, (const float[]){0.5f, 0.3f, -0.4f, 0.8f});
    n.b1 = param(n.ps, "b1", 1, 2, (const float[]){0.1f, -0.1f});
    n.W2 = param(n.ps, "W2", 2, 1, (const float[]){0.6f, -0.7f});
    n.b2 = param(n.ps, "b2", 1, 1, (const float[]){0.2f});
    nn_optim *o = n.b2 ? nn_sgd_new(n.ps, eps, alpha) : NULL;
    ag_tape *t = ag_tape_new();
    if (!o || !t) {
        fprintf(stderr, "chain_rule: %s\n", ag_last_error());
        nn_optim_free(o), nn_params_free(n.ps), ag_tape_free(t);
        return 1;
    }
    printf("A 2-2-1 sigmoid net on the XOR case in = (1, 0), target d = 1:\n"
           "  h = sigmoid(in W1 + b1)    y = sigmoid(h W2 + b2)    E = 1/2 (y - d)^2\n"
           "W1[i][j] is the paper's w_ji, from input i to hidden unit j (rows are separated by ;)\n");
    print_row("W1", n.W1, n.W1->data), print_row("b1", n.b1, n.b1->data);
    print_row("W2", n.W2, n.W2->data), print_row("b2", n.b2, n.b2->data);

    pass p = forward(t, &n);
    printf("\nForward: the tape, in the order the ops ran\n");
    const ag_tensor *fwd[] = {p.xh, p.h, p.xo, p.y, p.E};
    const char *const fname[] = {"x_h", "h", "x_o", "y", "E"};
    for (int i = 0; i < 5; i++) print_row(fname[i], fwd[i], fwd[i]->data);

    printf("\nThe sweep as it runs:\n");
    ag_tape_set_trace(t, stdout);
    int status = ag_backward(t, p.E) == 0 ? 0 : 1;
    ag_tape_set_trace(t, NULL);
    if (status) fprintf(stderr, "chain_rule: %s\n", ag_tape_error(t));
    float prev[9] = {0};
    if (!status) {
        print_hidden_rule(&n, &p);
        status = weight_change(t, o, &n, 1, prev, eps, alpha) ? 1 : 0;
    }
    if (!status) { /* a second sweep, so that the momentum term has a number */
        ag_tape_reset(t);
        p = forward(t, &n);
        printf("\nThe second sweep: E = %.6g, y = %.6g\n", ag_item(p.E), ag_item(p.y));
        status = ag_backward(t, p.E) == 0 ? 0 : 1;
        if (status) fprintf(stderr, "chain_rule: %s\n", ag_tape_error(t));
        else status = weight_change(t, o, &n, 2, prev, eps, alpha) ? 1 : 0;
    }
    if (!status) {
        ag_tape_reset(t);
        p = forward(t, &n);
        printf("\nAfter two changes: E = %.6g, y = %.6g\n", ag_item(p.E), ag_item(p.y));
        printf("\nresult: E=%.6g\n", ag_item(p.E));
    }
    ag_tape_free(t);
    nn_optim_free(o);
    nn_params_free(n.ps);
    return status;
}
