/*
 * test_trace.c -- the narrated reverse sweep (ag_tape_set_trace): exact lines on a graph worked
 * by hand, products that hold, tensors shown by shape and norm, gradients unchanged by
 * narrating, off by default, and no memory is lost when narrating runs out of it.
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
                             "node 1 add: dq/dv0 += dq/dq * dq/dv0 = 1 * 1 = 1\n"
                             "node 1 add: dq/dw += dq/dq * dq/dw = 1 * 1 = 1\n"
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

/* A small net on a batch: tensor lines give shapes and norms, and the norm printed for what
 * reached a parameter is the norm of its gradient. */
static void test_tensors_are_shown_by_shape_and_norm(void **state) {
    (void)state;
    tu_rng r = {7};
    ag_tape *t = ag_tape_new();
    ag_tensor *W = tu_param(&r, 2, (int[]){3, 2}, -1, 1);
    ag_tensor_set_name(W, "W");
    ag_tensor *X = tu_const(t, &r, 2, (int[]){4, 3}, -1, 1);
    ag_tensor *y = ag_sigmoid(t, ag_matmul(t, X, W));
    ag_tensor *E = ag_sse(t, y, tu_const(t, &r, 2, (int[]){4, 2}, 0, 1));
    FILE *f = tmpfile();
    ag_tape_set_trace(t, f);
    assert_int_equal(ag_backward(t, E), 0);
    const char *out = contents(f);
    assert_non_null(strstr(out, "node 2 sse: dE/dv1 += dE/dE * dE/dv1 = 1 * [(4,2) norm "));
    assert_non_null(strstr(out, "node 1 sigmoid: dE/dv0 += dE/dv1 * dv1/dv0 = [(4,2) norm "));
    assert_non_null(strstr(out, "* [Jacobian (4,2) by (4,2)] = [(4,2) norm "));
    const char *line = strstr(out, "node 0 matmul: dE/dW += dE/dv0 * dv0/dW = [(4,2) norm ");
    assert_non_null(line);
    const char *tail = strstr(line, "[Jacobian (4,2) by (3,2)] = [(3,2) norm ");
    assert_non_null(tail);
    double printed = strtod(tail + strlen("[Jacobian (4,2) by (3,2)] = [(3,2) norm "), NULL);
    double norm = 0.0;
    for (int i = 0; i < W->numel; i++) norm += (double)W->grad[i] * W->grad[i];
    assert_true(fabs(printed - sqrt(norm)) <= 1e-3 * sqrt(norm));
    fclose(f);
    ag_tensor_free(W);
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
                             "node 0 square: dE/dparam += dE/dE * dE/dparam = 1 * 4 = 4; now "
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
        cmocka_unit_test(test_narrating_changes_no_gradient),
        cmocka_unit_test(test_switching),
        cmocka_unit_test(test_out_of_memory_while_narrating),
    };
    return cmocka_run_group_tests_name("trace", tests, NULL, NULL);
}
