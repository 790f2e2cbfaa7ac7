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

static char output[8192];

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
        cmocka_unit_test(test_bad_flags_are_refused),
    };
    return cmocka_run_group_tests_name("chain_rule", tests, NULL, NULL);
}
