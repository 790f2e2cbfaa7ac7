/*
 * test_paper_recurrent.c -- the chapter's sequence task on the unfolded iterative net: trained
 * on 20 sequences with targets at steps 3-6 only, every trained digit output ends on the right
 * side of 0.5; the 5 held-out sequences are reported.
 */
#include "support/testutil.h"

#include "examples/paper/paper_sequences.h"

#include <stdio.h>

static void test_data_follows_the_letter_codes(void **state) {
    (void)state;
    int d[4];
    seq_digits(1, d); /* AB -> 1 2 2 3 */
    assert_true(d[0] == 1 && d[1] == 2 && d[2] == 2 && d[3] == 3);
    seq_digits(24, d); /* EE -> 1 3 1 3 */
    assert_true(d[0] == 1 && d[1] == 3 && d[2] == 1 && d[3] == 3);
    const char *held[SEQ_HELD_OUT] = {"AD", "BE", "CA", "DB", "EC"};
    int n = 0;
    for (int s = 0; s < SEQ_COUNT; s++)
        if (seq_held_out(s)) assert_string_equal(seq_name(s), held[n++]);
    assert_int_equal(n, SEQ_HELD_OUT);
}

static void run_and_check(nn_copies copies, double lr) {
    seq_config c = {1, 30, lr, 0.9, 0.3, copies, 2000, true, NULL};
    seq_outcome out;
    assert_int_equal(seq_run(&c, &out), 0);
    printf("sequences (%s of the copies, eps %g): learned after %ld sweeps (the chapter: about "
           "260); held out: %d of 20 digits, %d of 5 sequences exact\n",
           copies == NN_COPIES_AVERAGE ? "average" : "sum", lr, out.run.sweeps,
           out.test_digits_right, out.test_sequences_right);
    assert_true(out.learned);
    assert_int_equal(out.train_digits_right, 80);
}

/* The paper's rule: the copies' gradients averaged. */
static void test_sequences_learned_averaging_the_copies(void **state) {
    (void)state;
    run_and_check(NN_COPIES_AVERAGE, 0.2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_follows_the_letter_codes),
        cmocka_unit_test(test_sequences_learned_averaging_the_copies),
    };
    return cmocka_run_group_tests_name("paper: recurrent", tests, NULL, NULL);
}
