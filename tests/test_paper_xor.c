/*
 * test_paper_xor.c -- the chapter's XOR, with its settings (eps 0.5, alpha 0.9, initial weights
 * in [-0.3, 0.3], full batch): a 2-2-1 net and the chapter's 2-1-1 net with direct input->output
 * links each learn (every output on the right side of 0.5) on at least 18 of seeds 1-20, a 2-3-1
 * net on all 20; a net with no hidden unit (2-1, Minsky and Papert's perceptron) on none, its
 * error never below that of answering 0.5 everywhere less a little.
 */
#include "support/testutil.h"

#include "examples/paper/paper_xor.h"

#include <stdio.h>

static void check_arch(xor_arch arch, int hidden, int at_least) {
    xor_config c = {arch, 0, 0.5, 0.9, 0.3, 5000, true, NULL, hidden};
    double sweeps[20];
    int learned = 0;
    for (int seed = 1; seed <= 20; seed++) {
        xor_outcome out;
        c.seed = (uint64_t)seed;
        assert_int_equal(xor_run(&c, &out), 0);
        if (!out.learned) continue;
        sweeps[learned++] = (double)out.run.learned_at;
        /* learned means every output on its side of 0.5 */
        assert_true(out.y[0] < 0.5f && out.y[1] > 0.5f && out.y[2] > 0.5f && out.y[3] < 0.5f);
    }
    printf("xor %s (%d hidden): %d of 20 seeds learned, median %.0f sweeps (the chapter: 558 for "
           "2-1-1 with direct links)\n", xor_arch_name(arch), hidden, learned,
           train_median(sweeps, learned));
    assert_true(learned >= at_least);
}

static void test_xor_2_2_1(void **state) {
    (void)state;
    check_arch(XOR_2_2_1, 2, 18);
}

static void test_xor_2_3_1(void **state) {
    (void)state;
    check_arch(XOR_2_2_1, 3, 20);
}

static void test_xor_2_1_1_with_direct_links(void **state) {
    (void)state;
    check_arch(XOR_2_1_1_DIRECT, 2, 18);
}

/* No hidden unit: no seed learns, and the error ends near 0.5, what answering 0.5 to every case
 * gives (a straight line cannot separate XOR's cases). */
static void test_xor_without_hidden_units_never_learns(void **state) {
    (void)state;
    xor_config c = {XOR_2_1, 0, 0.5, 0.9, 0.3, 5000, true, NULL, 0};
    for (int seed = 1; seed <= 20; seed++) {
        xor_outcome out;
        c.seed = (uint64_t)seed;
        assert_int_equal(xor_run(&c, &out), 0);
        assert_false(out.learned);
        assert_true(out.run.error > 0.49);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xor_2_2_1),
        cmocka_unit_test(test_xor_2_3_1),
        cmocka_unit_test(test_xor_2_1_1_with_direct_links),
        cmocka_unit_test(test_xor_without_hidden_units_never_learns),
    };
    return cmocka_run_group_tests_name("paper: xor", tests, NULL, NULL);
}
