/*
 * test_chain_rule.c -- `make run` (examples/chain_rule) prints the numbers a hand computation
 * of the chain rule gives, node by node.
 */
#define _POSIX_C_SOURCE 200809L /* popen */
#include "support/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char output[16384];

static void run_example(const char *args) {
    const char *dir = getenv("BACKPROP_EXAMPLES");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/chain_rule %s", dir ? dir : "examples", args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(output, 1, sizeof output - 1, p);
    output[n] = '\0';
    assert_int_equal(pclose(p), 0);
}

/* The number printed after the last '=' on the line that starts with `label`. */
static double value_of(const char *label) {
    const char *line = strstr(output, label);
    if (!line) {
        print_error("no line '%s' in:\n%s\n", label, output);
        fail();
    }
    const char *end = strchr(line, '\n'), *eq = NULL;
    for (const char *c = line; c < end; c++)
        if (*c == '=') eq = c;
    assert_non_null(eq);
    return strtod(eq + 1, NULL);
}

static void expect(const char *label, double want) {
    double got = value_of(label);
    if (fabs(got - want) > 1e-5 * fmax(1.0, fabs(want))) {
        print_error("%s: printed %.9g, the hand computation gives %.9g\n", label, got, want);
        fail();
    }
}

static void check_against_hand_computation(double x1, double x2, double w1, double w2, double b,
                                           double d) {
    /* forward, by hand */
    double a1 = w1 * x1, a2 = w2 * x2, s = a1 + a2, z = s + b;
    double y = 1.0 / (1.0 + exp(-z)), E = 0.5 * (y - d) * (y - d);
    /* backward, by hand: the chain rule one factor at a time */
    double dE_dy = y - d;
    double dE_dz = dE_dy * y * (1.0 - y);
    double dE_ds = dE_dz, dE_db = dE_dz, dE_da1 = dE_ds, dE_da2 = dE_ds;
    double dE_dw1 = dE_da1 * x1, dE_dw2 = dE_da2 * x2;

    expect("  node 0  mul      a1", a1);
    expect("  node 1  mul      a2", a2);
    expect("  node 2  add      s ", s);
    expect("  node 3  add      z ", z);
    expect("  node 4  sigmoid  y ", y);
    expect("  node 5  sse      E ", E);
    expect("  dE/dE ", 1.0);
    expect("  dE/dy ", dE_dy);
    expect("  dE/dz ", dE_dz);
    expect("  dE/ds ", dE_ds);
    expect("  dE/db ", dE_db);
    expect("  dE/da1", dE_da1);
    expect("  dE/da2", dE_da2);
    expect("  dE/dw1", dE_dw1);
    expect("  dE/dw2", dE_dw2);
    assert_non_null(strstr(output, "\nresult: E="));
}

static void test_default_neuron(void **state) {
    (void)state;
    run_example("");
    check_against_hand_computation(1, 2, 0.5, -0.25, 0.5, 1);
}

static void test_other_numbers(void **state) {
    (void)state;
    run_example("--x1 -1.5 --x2 0.25 --w1 2 --w2 -3 --b 0.125 --d 0");
    check_against_hand_computation(-1.5, 0.25, 2, -3, 0.125, 0);
}

/* The number after `key` on the first line at or after `from` that starts with `label`. */
static double value_after(const char *from, const char *label, const char *key) {
    const char *line = strstr(from, label);
    if (!line) {
        print_error("no line '%s' in:\n%s\n", label, from);
        fail();
    }
    const char *k = strstr(line, key), *end = strchr(line, '\n');
    assert_true(k && (!end || k < end));
    return strtod(k + strlen(key), NULL);
}

static void expect_near(const char *what, double got, double want) {
    if (fabs(got - want) > 2e-5 * fmax(1.0, fabs(want))) {
        print_error("%s: printed %.9g, the hand computation gives %.9g\n", what, got, want);
        fail();
    }
}

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

/* One sweep of the 2-2-1 net by hand, in double, with w in the example's order (W1 row-major,
 * b1, W2, b2): the gradients into g[9], dE/dh into dh[2]; returns E. */
static double sweep_by_hand(const double w[9], const double in[2], double d, double g[9],
                            double dh[2]) {
    double h[2];
    for (int j = 0; j < 2; j++) h[j] = sigmoid(in[0] * w[j] + in[1] * w[2 + j] + w[4 + j]);
    const double y = sigmoid(h[0] * w[6] + h[1] * w[7] + w[8]);
    const double dxo = (y - d) * y * (1 - y);
    for (int j = 0; j < 2; j++) {
        dh[j] = dxo * w[6 + j]; /* the hidden units' rule: sum over the output units of dE/dx w */
        const double dxh = dh[j] * h[j] * (1 - h[j]);
        g[j] = dxh * in[0], g[2 + j] = dxh * in[1], g[4 + j] = dxh;
        g[6 + j] = dxo * h[j];
    }
    g[8] = dxo;
    return 0.5 * (y - d) * (y - d);
}

/* --hidden: the forward pass, the hidden units' gradients and both weight changes (eps 0.5,
 * alpha 0.9, the second with momentum) are what the hand computation gives. */
static void test_hidden_layer_and_momentum_by_hand(void **state) {
    (void)state;
    run_example("--hidden");
    double w[9] = {0.5, 0.3, -0.4, 0.8, 0.1, -0.1, 0.6, -0.7, 0.2}, g[9], dh[2], dw[9] = {0};
    const double in[2] = {1, 0}, d = 1, eps = 0.5, alpha = 0.9;
    static const char *const names[9] = {"  w_h1,in1 ", "  w_h2,in1 ", "  w_h1,in2 ",
                                         "  w_h2,in2 ", "  b_h1 ",     "  b_h2 ",
                                         "  w_o1 ",     "  w_o2 ",     "  b_o "};
    double E = sweep_by_hand(w, in, d, g, dh);
    expect_near("E", value_after(output, "  E    = [", "["), E);
    expect_near("dE/dh1", value_of("  dE/dh1 "), dh[0]);
    expect_near("dE/dh2", value_of("  dE/dh2 "), dh[1]);
    expect_near("dE/dx_h1", value_of("  dE/dx_h1 "), g[4]);
    expect_near("dE/dx_h2", value_of("  dE/dx_h2 "), g[5]);
    expect_near("dE/dw_h2,in1", value_of("  dE/dw_h2,in1 "), g[1]);
    expect_near("dE/dw_h2,in2", value_of("  dE/dw_h2,in2 "), g[3]);
    static const char *const change[2] = {"Weight change 1", "Weight change 2"};
    for (int step = 0; step < 2; step++) {
        if (step == 1) sweep_by_hand(w, in, d, g, dh);
        const char *at = strstr(output, change[step]);
        assert_non_null(at);
        for (int k = 0; k < 9; k++) {
            dw[k] = -eps * g[k] + alpha * dw[k];
            w[k] += dw[k];
            expect_near(names[k], value_after(at, names[k], "dw = -0.5 * "), g[k]);
            expect_near(names[k], value_after(at, names[k], "w: "), w[k] - dw[k]);
            expect_near(names[k], value_after(at, names[k], "-> "), w[k]);
        }
    }
    expect_near("E after two changes", value_of("result: E"), sweep_by_hand(w, in, d, g, dh));
}

static void test_bad_flags_are_refused(void **state) {
    (void)state;
    const char *dir = getenv("BACKPROP_EXAMPLES");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/chain_rule --w1 abc 2>/dev/null", dir ? dir : "examples");
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/chain_rule --nope 2>/dev/null", dir ? dir : "examples");
    assert_int_not_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_neuron),
        cmocka_unit_test(test_other_numbers),
        cmocka_unit_test(test_hidden_layer_and_momentum_by_hand),
        cmocka_unit_test(test_bad_flags_are_refused),
    };
    return cmocka_run_group_tests_name("chain_rule", tests, NULL, NULL);
}
