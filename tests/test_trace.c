/*
 * test_trace.c -- the narrated reverse sweep (ag_tape_set_trace): exact lines on a graph worked
 * by hand, products that hold, small tensors shown element by element and bigger ones by
 * shape and norm, the loss's own line as its local derivative, gradients unchanged by narrating, off by default, and no memory is lost when narrating runs out of it.
 */
#include "support/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char text[16384];

/* Everything written to f since it was opened, into text. */
static const char *contents(FILE *f) {
    fflush(f);
    long n = ftell(f);
    assert_true(n >= 0 && n < (long)sizeof text);
    rewind(f);
    size_t got = fread(text, 1, (size_t)n, f);
    text[got] = '\0';
    fseek(f, 0, SEEK_END);
    return text;
}

static void expect_text(const char *got, const char *want) {
    if (strcmp(got, want) != 0) {
        print_error("trace:\n%s\nexpected:\n%s\n", got, want);
        fail();
    }
}

/* q = w*w + w at w = 3: the mul sends 2w = 6 to w, the add sends 1, and w's gradient is the
 * sum, 7, which the trace says when the second contribution arrives. */
static void test_exact_lines_of_a_small_graph(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar_param(3.0);
    ag_tensor_set_name(w, "w");
    ag_tensor *q = ag_add(t, ag_mul(t, w, w), w);
    ag_tensor_set_name(q, "q");
    FILE *f = tmpfile();
    assert_non_null(f);
    ag_tape_set_trace(t, f);
    assert_int_equal(ag_backward(t, q), 0);
    expect_text(contents(f), "backward from q (node 1 add): dq/dq = 1\n"
                             "node 1 add: dq/dv0 = dadd/dv0 = 1\n"
                             "node 1 add: dq/dw = dadd/dw = 1\n"
                             "node 0 mul: dq/dw += dq/dv0 * dv0/dw = 1 * 6 = 6; now dq/dw = 7\n");
    assert_float_equal(ag_grad_item(w), 7.0, 0.0);
    fclose(f);
    ag_tensor_free(w);
    ag_tape_free(t);
}

/* Pull the three numbers out of "... = A * B = C" (NAN when the line has another form). */
static void product_of(const char *line, double *a, double *b, double *c) {
    *a = *b = *c = NAN;
    const char *eq = strstr(line, " = ");
    if (!eq) return;
    char *end;
    *a = strtod(eq + 3, &end);
    if (strncmp(end, " * ", 3) != 0) return;
    *b = strtod(end + 3, &end);
    if (strncmp(end, " = ", 3) != 0) return;
    *c = strtod(end + 3, &end);
}

/* A chain of scalar ops with known derivatives: every line's product holds to the 4 digits
 * printed, and each local derivative is the one calculus gives. */
static void test_products_hold_and_local_derivatives_are_right(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar_param(0.7);
    ag_tensor *u = ag_exp(t, w);                /* node 0: du/dw = e^w */
    ag_tensor *v = ag_tanh(t, u);               /* node 1: dv/du = 1 - v^2 */
    ag_tensor *s = ag_div(t, v, ag_scalar(t, 4.0)); /* node 2: ds/dv = 1/4 */
    ag_tensor *E = ag_log(t, ag_add_const(t, s, 1.0)); /* node 3: +1, node 4: dE/dx = 1/x */
    FILE *f = tmpfile();
    ag_tape_set_trace(t, f);
    assert_int_equal(ag_backward(t, E), 0);
    const char *out = contents(f);
    const double e = exp(0.7), th = tanh(e), sv = th / 4.0;
    const double local[5] = {e, 1.0 - th * th, 0.25, 1.0, 1.0 / (sv + 1.0)};
    int lines = 0;
    for (const char *line = strstr(out, "\nnode "); line; line = strstr(line + 1, "\nnode ")) {
        int k = atoi(line + 6);
        double a, b, c;
        product_of(line, &a, &b, &c);
        assert_true(k >= 0 && k < 5);
        if (fabs(b - local[k]) > 1e-3 * fabs(local[k]) || fabs(a * b - c) > 1e-3 * fabs(c)) {
            print_error("node %d: %g * %g = %g; the local derivative is %g\n", k, a, b, c,
                        local[k]);
            fail();
        }
        lines++;
    }
    assert_int_equal(lines, 5);
    fclose(f);
    ag_tensor_free(w);
    ag_tape_free(t);
}

/* A small net on a batch: tensors of more than 8 elements give shapes and norms, and the norm
 * printed for what reached a parameter is the norm of its gradient. */
static void test_tensors_are_shown_by_shape_and_norm(void **state) {
    (void)state;
    tu_rng r = {7};
    ag_tape *t = ag_tape_new();
    ag_tensor *W = tu_param(&r, 2, (int[]){3, 2}, -1, 1);
    ag_tensor_set_name(W, "W");
    ag_tensor *X = tu_const(t, &r, 2, (int[]){5, 3}, -1, 1);
    ag_tensor *y = ag_sigmoid(t, ag_matmul(t, X, W));
    ag_tensor *E = ag_sse(t, y, tu_const(t, &r, 2, (int[]){5, 2}, 0, 1));
    FILE *f = tmpfile();
    ag_tape_set_trace(t, f);
    assert_int_equal(ag_backward(t, E), 0);
    const char *out = contents(f);
    assert_non_null(strstr(out, "node 2 sse: dE/dv1 = v1 - const = [(5,2) norm "));
    assert_non_null(strstr(out, "node 1 sigmoid: dE/dv0 += dE/dv1 * dv1/dv0 = [(5,2) norm "));
    assert_non_null(strstr(out, "* [Jacobian (5,2) by (5,2)] = [(5,2) norm "));
    const char *line = strstr(out, "node 0 matmul: dE/dW += dE/dv0 * dv0/dW = [(5,2) norm ");
    assert_non_null(line);
    const char *tail = strstr(line, "[Jacobian (5,2) by (3,2)] = [");
    assert_non_null(tail);
    /* W is (3,2), 6 elements: its gradient is shown element by element, a row at a time */
    char want[256];
    snprintf(want, sizeof want, "[Jacobian (5,2) by (3,2)] = [%.4g, %.4g; %.4g, %.4g; %.4g, %.4g]\n",
             W->grad[0], W->grad[1], W->grad[2], W->grad[3], W->grad[4], W->grad[5]);
    if (strncmp(tail, want, strlen(want)) != 0) {
        print_error("trace line:\n%.*s\nexpected it to end:\n%s", (int)strcspn(line, "\n"), line, want);
        fail();
    }
    fclose(f);
    ag_tensor_free(W);
    ag_tape_free(t);
}

/* The loss's own line reads as its local derivative, with the loss's own name and the elements
 * of a small prediction: for sse, dloss/dy = y - d. A loss whose derivative the narration has
 * no words for says d<op>/dy. */
static void test_small_tensors_and_the_loss_line(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_tensor_from(2, (int[]){1, 2}, (const float[]){0.5f, -2.0f}, true);
    ag_tensor_set_name(w, "w");
    ag_tensor *d = ag_tape_tensor(t, 2, (int[]){1, 2}, (const float[]){1.0f, 0.25f});
    ag_tensor_set_name(d, "d");
    ag_tensor *loss = ag_sse(t, w, d);
    ag_tensor_set_name(loss, "loss");
    FILE *f = tmpfile();
    ag_tape_set_trace(t, f);
    assert_int_equal(ag_backward(t, loss), 0);
    expect_text(contents(f), "backward from loss (node 0 sse): dloss/dloss = 1\n"
                             "node 0 sse: dloss/dw = w - d = [-0.5, -2.25]\n");
    ag_tape_reset(t);
    ag_zero_grad(w);
    rewind(f);
    ag_tensor *s = ag_scalar(t, 2.0), *x = ag_scalar_param(3.0);
    ag_tensor_set_name(s, "s");
    ag_tensor_set_name(x, "x");
    ag_tensor *one = ag_sse(t, x, s);
    assert_int_equal(ag_backward(t, one), 0);
    expect_text(contents(f), "backward from E (node 0 sse): dE/dE = 1\n"
                             "node 0 sse: dE/dx = x - s = 3 - 2 = 1\n");
    ag_tape_reset(t);
    rewind(f);
    assert_int_equal(ag_backward(t, ag_bce(t, ag_sigmoid(t, x), ag_scalar(t, 1.0))), 0);
    assert_non_null(strstr(contents(f), "node 1 bce: dE/dv0 = dbce/dv0 = "));
    fclose(f);
    ag_tensor_free(w);
    ag_tensor_free(x);
    ag_tape_free(t);
}

/* A small net with tensors everywhere: tanh(X W1 + b) W2, squared, averaged; W2 used twice. */
typedef struct {
    ag_tensor *W1, *W2, *b;
} small_net;

static void net_make(small_net *m) {
    tu_rng r = {11};
    m->W1 = tu_param(&r, 2, (int[]){3, 4}, -1, 1);
    m->W2 = tu_param(&r, 2, (int[]){4, 1}, -1, 1);
    m->b = tu_param(&r, 2, (int[]){1, 4}, -1, 1);
}

static ag_tensor *net_loss(ag_tape *t, const small_net *m) {
    tu_rng r = {12};
    ag_tensor *X = tu_const(t, &r, 2, (int[]){5, 3}, -1, 1);
    ag_tensor *h = ag_tanh(t, ag_add(t, ag_matmul(t, X, m->W1), m->b));
    return ag_mean(t, ag_mul(t, ag_matmul(t, h, m->W2), ag_matmul(t, h, m->W2)));
}

/* Its 20 gradients, then free it. */
static void net_take_grads(small_net *m, float grads[20]) {
    memcpy(grads, m->W1->grad, 12 * sizeof(float));
    memcpy(grads + 12, m->W2->grad, 4 * sizeof(float));
    memcpy(grads + 16, m->b->grad, 4 * sizeof(float));
    ag_tensor_free(m->W1), ag_tensor_free(m->W2), ag_tensor_free(m->b);
}

/* The same sweep with and without narration leaves bit-identical gradients. */
static void sweep(bool traced, float grads[20]) {
    small_net m;
    net_make(&m);
    ag_tape *t = ag_tape_new();
    FILE *f = traced ? tmpfile() : NULL;
    ag_tape_set_trace(t, f);
    assert_int_equal(ag_backward(t, net_loss(t, &m)), 0);
    net_take_grads(&m, grads);
    if (f) fclose(f);
    ag_tape_free(t);
}

static void test_narrating_changes_no_gradient(void **state) {
    (void)state;
    float plain[20], traced[20];
    sweep(false, plain);
    sweep(true, traced);
    assert_memory_equal(plain, traced, sizeof plain);
}

/* ag_backward_steps: k steps leave what the whole sweep had after its k-th node: the same
 * gradients (bit for bit) and the first k nodes' narration; 0 steps only seeds; enough steps
 * is the whole sweep. */
static void test_a_sweep_step_by_step(void **state) {
    (void)state;
    float whole[20];
    sweep(false, whole);
    int nodes = 0;
    for (int k = 0;; k++) {
        small_net m;
        net_make(&m);
        ag_tape *t = ag_tape_new();
        FILE *f = tmpfile();
        ag_tape_set_trace(t, f);
        ag_tensor *E = net_loss(t, &m);
        nodes = ag_tape_nodes(t);
        assert_int_equal(ag_backward_steps(t, E, k), 0);
        const char *out = contents(f);
        /* the narration of k nodes: one "node N" block for each, from the last node down */
        int narrated = 0, last = nodes;
        for (const char *l = out; (l = strstr(l, "\nnode ")); l++) {
            int idx = atoi(l + 6);
            if (idx != last) narrated++, last = idx;
        }
        assert_int_equal(narrated, k < nodes ? k : nodes);
        float grads[20];
        net_take_grads(&m, grads);
        if (k == 0) assert_true(grads[0] == 0.0f && grads[12] == 0.0f);
        if (k >= nodes) assert_memory_equal(grads, whole, sizeof whole);
        fclose(f);
        ag_tape_free(t);
        if (k > nodes) break;
    }
    assert_int_equal(nodes, 7);
}

/* Off by default; off again with NULL; the setting survives a reset. */
static void test_switching(void **state) {
    (void)state;
    FILE *f = tmpfile();
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar_param(2.0);
    assert_int_equal(ag_backward(t, ag_square(t, w)), 0);
    ag_tape_set_trace(t, f);
    ag_tape_set_trace(t, NULL);
    assert_int_equal(ag_backward(t, ag_square(t, w)), 0);
    expect_text(contents(f), "");
    ag_tape_set_trace(t, f);
    ag_tape_reset(t);
    assert_int_equal(ag_backward(t, ag_square(t, w)), 0);
    expect_text(contents(f), "backward from E (node 0 square): dE/dE = 1\n"
                             "node 0 square: dE/dparam = dsquare/dparam = 4; now "
                             "dE/dparam = 12\n");
    ag_tape_set_trace(NULL, f); /* a NULL tape is ignored */
    fclose(f);
    ag_tensor_free(w);
    ag_tape_free(t);
}

/* Every allocation the narration makes can fail: the sweep still gives the right gradients,
 * says it could not narrate, and loses no memory. */
static void test_out_of_memory_while_narrating(void **state) {
    (void)state;
    float want[20], got[20];
    sweep(false, want);
    for (long k = 1;; k++) {
        tu_alloc_install();
        small_net m;
        net_make(&m);
        ag_tape *t = ag_tape_new();
        ag_tensor *L = net_loss(t, &m);
        FILE *f = tmpfile();
        ag_tape_set_trace(t, f);
        tu_alloc_fail_at(k);
        int rc = ag_backward(t, L);
        tu_alloc_fail_at(0);
        bool failed = tu_alloc.failures > 0;
        net_take_grads(&m, got);
        if (rc != 0) { /* the sweep's own memory failed: no gradient changed */
            tu_assert_error(t, "out of memory");
            for (int i = 0; i < 20; i++) assert_true(got[i] == 0.0f);
        } else {
            assert_memory_equal(want, got, sizeof want);
            if (failed) assert_non_null(strstr(contents(f), "(not narrated: out of memory)"));
        }
        fclose(f);
        ag_tape_free(t);
        assert_int_equal(tu_alloc.outstanding_blocks, 0);
        tu_alloc_uninstall();
        if (!failed) break; /* every allocation of the sweep has been failed once */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_lines_of_a_small_graph),
        cmocka_unit_test(test_products_hold_and_local_derivatives_are_right),
        cmocka_unit_test(test_tensors_are_shown_by_shape_and_norm),
        cmocka_unit_test(test_small_tensors_and_the_loss_line),
        cmocka_unit_test(test_narrating_changes_no_gradient),
        cmocka_unit_test(test_a_sweep_step_by_step),
        cmocka_unit_test(test_switching),
        cmocka_unit_test(test_out_of_memory_while_narrating),
    };
    return cmocka_run_group_tests_name("trace", tests, NULL, NULL);
}
