/*
 * test_errors.c -- bad input never aborts: NULLs, mismatched shapes, bad axes and indices,
 * absurd sizes each give a clear message on the tape, which then stays failed (sticky), poisons
 * every later op, and refuses to change any gradient.
 */
#include "support/testutil.h"

#include <math.h>
#include <string.h>

static ag_tape *T;
static int setup(void **s) { (void)s; T = ag_tape_new(); return T ? 0 : -1; }
static int teardown(void **s) { (void)s; ag_tape_free(T); return 0; }
static int reset(void **s) { (void)s; ag_tape_reset(T); return 0; }

static ag_tensor *z(int r, int c) { return ag_tape_tensor(T, 2, (const int[]){r, c}, NULL); }

/* Run one bad call on a fresh tape and check its message and poisoned result. */
#define EXPECT_FAIL(call, message)                                                            \
    do {                                                                                      \
        ag_tape_reset(T);                                                                     \
        ag_tensor *r_ = (call);                                                               \
        tu_assert_error(T, message);                                                          \
        assert_non_null(r_);                                                                  \
        assert_true(r_->flags & AG_POISONED);                                                 \
        assert_true(isnan(ag_item(r_)));                                                      \
    } while (0)

static void test_shape_mismatches(void **state) {
    (void)state;
    EXPECT_FAIL(ag_matmul(T, z(2, 3), z(4, 5)), "matmul: (2,3) @ (4,5): inner dimensions differ (3 vs 4)");
    EXPECT_FAIL(ag_matmul_ex(T, z(2, 3), z(2, 3), false, false), "matmul: (2,3) @ (2,3)");
    EXPECT_FAIL(ag_matmul_ex(T, z(2, 3), z(4, 5), true, true), "matmul: (2,3)^T @ (4,5)^T");
    EXPECT_FAIL(ag_matmul(T, ag_scalar(T, 1), z(1, 1)), "both operands must be 2-D");
    EXPECT_FAIL(ag_add(T, z(2, 3), z(4, 3)), "add: shapes (2,3) and (4,3) do not broadcast");
    EXPECT_FAIL(ag_mul(T, z(2, 3), z(2, 2)), "mul: shapes (2,3) and (2,2) do not broadcast");
    EXPECT_FAIL(ag_sse(T, z(4, 1), z(1, 4)), "sse: prediction (4,1) and target (1,4) differ in shape");
    EXPECT_FAIL(ag_bce(T, z(4, 1), z(4, 2)), "bce: prediction (4,1) and target (4,2)");
    EXPECT_FAIL(ag_concat(T, (ag_tensor *const[]){z(2, 3), z(3, 2)}, 2, 0),
                "concat: part 2 (3,2) does not match part 1 (2,3) along axis 0");
    EXPECT_FAIL(ag_reshape(T, z(2, 3), 2, (const int[]){4, 2}), "reshape: (2,3) has 6 elements, shape (4,2)");
    EXPECT_FAIL(ag_reshape(T, z(2, 3), 2, (const int[]){-1, 4}), "reshape: (2,3) has 6 elements");
    EXPECT_FAIL(ag_reshape(T, z(2, 3), 2, (const int[]){-1, -1}), "reshape: (2,3): new dimension 1 is -1");
    EXPECT_FAIL(ag_transpose(T, ag_scalar(T, 1)), "transpose: (1) has fewer than 2 dimensions");
    EXPECT_FAIL(ag_softmax_xent(T, ag_scalar(T, 1), (const int[]){0}), "softmax_xent: logits (1): must be 2-D");
}

static void test_axes_and_indices(void **state) {
    (void)state;
    EXPECT_FAIL(ag_sum_axis(T, z(2, 3), 2), "sum_axis: axis 2 is out of range for (2,3)");
    EXPECT_FAIL(ag_mean_axis(T, z(2, 3), -3), "mean_axis: axis -3 is out of range for (2,3)");
    EXPECT_FAIL(ag_max_axis(T, z(2, 3), 7), "max_axis: axis 7 is out of range");
    EXPECT_FAIL(ag_concat(T, (ag_tensor *const[]){z(2, 3)}, 1, 5), "concat: axis 5 is out of range");
    EXPECT_FAIL(ag_slice_rows(T, z(4, 2), 3, 2), "slice_rows: rows 3..4 (count 2) are out of range for (4,2)");
    EXPECT_FAIL(ag_slice_rows(T, z(4, 2), -1, 1), "slice_rows: rows -1..-1");
    EXPECT_FAIL(ag_slice_rows(T, z(4, 2), 0, 0), "slice_rows");
    EXPECT_FAIL(ag_gather_rows(T, z(5, 3), (const int[]){0, 5}, 2),
                "gather_rows: index 5 at position 1 is out of range for table (5,3)");
    EXPECT_FAIL(ag_gather_rows(T, z(5, 3), (const int[]){-1}, 1), "gather_rows: index -1");
    EXPECT_FAIL(ag_gather_rows(T, z(5, 3), (const int[]){0}, 0), "needs at least one index");
    EXPECT_FAIL(ag_softmax_xent(T, z(2, 3), (const int[]){0, 3}),
                "softmax_xent: label 3 of row 1 is out of range for logits (2,3)");
}

static void test_nulls(void **state) {
    (void)state;
    EXPECT_FAIL(ag_add(T, NULL, z(1, 1)), "add: input 1 is NULL");
    EXPECT_FAIL(ag_mul(T, z(1, 1), NULL), "mul: input 2 is NULL");
    EXPECT_FAIL(ag_sigmoid(T, NULL), "sigmoid: input 1 is NULL");
    EXPECT_FAIL(ag_concat(T, NULL, 2, 0), "concat: parts is NULL");
    EXPECT_FAIL(ag_concat(T, (ag_tensor *const[]){z(1, 1), NULL}, 2, 0), "concat: input 2 is NULL");
    EXPECT_FAIL(ag_gather_rows(T, z(2, 2), NULL, 1), "gather_rows: index array is NULL");
    EXPECT_FAIL(ag_softmax_xent(T, z(2, 2), NULL), "labels is NULL");
    EXPECT_FAIL(ag_reshape(T, z(2, 2), 2, NULL), "reshape");
    EXPECT_FAIL(ag_tape_tensor(T, 2, NULL, NULL), "tape_tensor: shape is NULL");
    /* no tape: nothing to record on, so NULL comes back and the reason is kept per thread */
    assert_null(ag_add(NULL, z(1, 1), z(1, 1)));
    assert_non_null(strstr(ag_last_error(), "add: tape is NULL"));
    assert_null(ag_scalar(NULL, 1.0));
    assert_int_equal(ag_backward(NULL, NULL), -1);
    assert_string_equal(ag_tape_error(NULL), "no tape (NULL)");
    assert_true(isnan(ag_item(NULL)));
    assert_true(isnan(ag_grad_item(NULL)));
    ag_tape_reset(T);
    assert_int_equal(ag_backward(T, NULL), -1);
    tu_assert_error(T, "backward: input 1 is NULL");
    ag_tape_reset(T);
    assert_int_equal(ag_backward_seed(T, z(1, 2), NULL), -1);
    tu_assert_error(T, "backward: seed gradient is NULL");
    /* harmless no-ops */
    ag_tensor_free(NULL);
    ag_tape_free(NULL);
    ag_tape_reset(NULL);
    ag_zero_grad(NULL);
    assert_int_equal(ag_set_requires_grad(NULL, true), -1);
    assert_int_equal(ag_tensor_set_name(NULL, "x"), -1);
}

static void test_absurd_sizes(void **state) {
    (void)state;
    const int huge[2] = {1 << 20, 1 << 20}, neg[2] = {3, -2}, zero[2] = {0, 4};
    assert_null(ag_tensor_new(2, huge, true));
    assert_non_null(strstr(ag_last_error(), "absurd size"));
    assert_null(ag_tensor_new(2, neg, false));
    assert_non_null(strstr(ag_last_error(), "dimension 1 is -2"));
    assert_null(ag_tensor_new(2, zero, false));
    assert_non_null(strstr(ag_last_error(), "dimension 0 is 0"));
    assert_null(ag_tensor_new(5, (const int[]){1, 1, 1, 1, 1}, false));
    assert_non_null(strstr(ag_last_error(), "5 dimensions"));
    assert_null(ag_tensor_new(0, huge, false));
    assert_null(ag_tensor_2d(-1, 3, false));
    assert_null(ag_tensor_from(2, (const int[]){2, 2}, NULL, false));
    assert_non_null(strstr(ag_last_error(), "values is NULL"));
    EXPECT_FAIL(ag_tape_tensor(T, 2, huge, NULL), "tape_tensor: absurd size");
    EXPECT_FAIL(ag_tape_tensor(T, 2, neg, NULL), "tape_tensor: dimension 1 is -2");
    /* products whose element count overflows an int, made from legal pieces */
    ag_tape_reset(T);
    ag_tensor *col = ag_tape_tensor(T, 2, (const int[]){1 << 16, 1}, NULL);
    ag_tensor *row = ag_tape_tensor(T, 2, (const int[]){1, 1 << 16}, NULL);
    ag_tensor *r = ag_add(T, col, row); /* (65536,65536): 2^32 elements */
    tu_assert_error(T, "add: absurd size");
    assert_true(r->flags & AG_POISONED);
    ag_tape_reset(T);
    col = ag_tape_tensor(T, 2, (const int[]){1 << 16, 1}, NULL);
    row = ag_tape_tensor(T, 2, (const int[]){1, 1 << 16}, NULL);
    r = ag_matmul(T, col, row);
    tu_assert_error(T, "matmul: absurd size");
    ag_tape_reset(T);
    r = ag_reshape(T, z(2, 2), 3, (const int[]){1 << 20, 1 << 20, -1});
    tu_assert_error(T, "reshape: (2,2) has 4 elements");
}

static void test_tensors_from_elsewhere(void **state) {
    (void)state;
    ag_tape *other = ag_tape_new();
    ag_tensor *foreign = ag_scalar(other, 1.0);
    EXPECT_FAIL(ag_add(T, foreign, z(1, 1)), "add: input 1 (1) belongs to another tape");
    /* the poisoned result of a failed tape, fed to a healthy one */
    ag_tensor *bad = ag_matmul(other, ag_scalar(other, 1), ag_scalar(other, 1));
    assert_non_null(ag_tape_error(other));
    EXPECT_FAIL(ag_exp(T, bad), "exp: input 1 is the poisoned result of a failed tape");
    ag_tape_free(other);
}

/* The first error sticks: later ops record nothing, return the poison, keep the message;
 * backward changes no gradient; a reset clears it. */
static void test_errors_are_sticky(void **state) {
    (void)state;
    ag_tensor *w = ag_tensor_from(1, (const int[]){2}, (const float[]){1, 2}, true);
    w->grad[0] = 7;
    ag_tensor *y = ag_mul(T, w, w);
    int nodes = ag_tape_nodes(T);
    ag_tensor *bad = ag_add(T, y, z(3, 3));
    tu_assert_error(T, "add: shapes (2) and (3,3) do not broadcast");
    ag_tensor *later = ag_sum(T, ag_sigmoid(T, bad));
    assert_true(later->flags & AG_POISONED);
    ag_tensor *also = ag_sum(T, y); /* even from healthy inputs */
    assert_true(also->flags & AG_POISONED);
    ag_tensor *c = ag_scalar(T, 2.0);
    assert_true(c->flags & AG_POISONED);
    assert_int_equal(ag_tape_nodes(T), nodes);
    tu_assert_error(T, "add: shapes (2) and (3,3)"); /* still the first error */
    assert_int_equal(ag_backward(T, later), -1);
    assert_int_equal(ag_backward(T, y), -1); /* even from a node recorded before the error */
    assert_true(w->grad[0] == 7 && w->grad[1] == 0);
    ag_tape_fail(T, "my own error");
    tu_assert_error(T, "add: shapes");
    ag_tape_reset(T);
    assert_null(ag_tape_error(T));
    ag_tape_fail(T, "dense: input has %d columns, layer expects %d", 5, 6);
    tu_assert_error(T, "dense: input has 5 columns, layer expects 6");
    ag_tensor_free(w);
}

/* Every failure sets a status beside its message, the same for every op of a kind; a reset
 * clears it, and a later failure cannot change the first one's. */
#define EXPECT_STATUS(call, status, message)                                                  \
    do {                                                                                      \
        EXPECT_FAIL(call, message);                                                           \
        if (ag_tape_status(T) != (status)) {                                                  \
            print_error("%s: status %s, expected %s\n", #call, ag_status_str(ag_tape_status(T)), \
                        ag_status_str(status));                                               \
            fail();                                                                           \
        }                                                                                     \
    } while (0)

static void test_status_codes(void **state) {
    (void)state;
    assert_int_equal(ag_tape_status(T), AG_OK);
    assert_int_equal(ag_tape_status(NULL), AG_ERR_NO_TAPE);
    EXPECT_STATUS(ag_add(T, z(2, 3), z(4, 3)), AG_ERR_SHAPE, "add: shapes");
    EXPECT_STATUS(ag_matmul(T, z(2, 3), z(4, 5)), AG_ERR_SHAPE, "matmul: (2,3) @ (4,5)");
    EXPECT_STATUS(ag_sse(T, z(4, 1), z(1, 4)), AG_ERR_SHAPE, "sse: prediction");
    EXPECT_STATUS(ag_transpose(T, ag_scalar(T, 1)), AG_ERR_SHAPE, "transpose:");
    EXPECT_STATUS(ag_reshape(T, z(2, 3), 2, (const int[]){4, 2}), AG_ERR_SHAPE, "reshape:");
    EXPECT_STATUS(ag_tape_tensor(T, 2, (const int[]){0, 2}, NULL), AG_ERR_SHAPE, "dimension 0 is 0");
    EXPECT_STATUS(ag_sum_axis(T, z(2, 3), 2), AG_ERR_RANGE, "sum_axis: axis 2");
    EXPECT_STATUS(ag_slice_rows(T, z(4, 2), 3, 2), AG_ERR_RANGE, "slice_rows: rows 3..4");
    EXPECT_STATUS(ag_gather_rows(T, z(5, 3), (const int[]){5}, 1), AG_ERR_RANGE, "gather_rows: index 5");
    EXPECT_STATUS(ag_softmax_xent(T, z(2, 3), (const int[]){0, 3}), AG_ERR_RANGE, "label 3");
    EXPECT_STATUS(ag_add(T, NULL, z(1, 1)), AG_ERR_NULL, "add: input 1 is NULL");
    EXPECT_STATUS(ag_concat(T, NULL, 2, 0), AG_ERR_NULL, "concat: parts is NULL");
    EXPECT_STATUS(ag_gather_rows(T, z(2, 2), NULL, 1), AG_ERR_NULL, "index array is NULL");
    EXPECT_STATUS(ag_softmax_xent(T, z(2, 2), NULL), AG_ERR_NULL, "labels is NULL");
    EXPECT_STATUS(ag_tape_tensor(T, 2, NULL, NULL), AG_ERR_NULL, "shape is NULL");
    EXPECT_STATUS(ag_tape_tensor(T, 2, (const int[]){1 << 20, 1 << 20}, NULL), AG_ERR_SIZE,
                  "tape_tensor: absurd size");
    ag_tape *other = ag_tape_new();
    EXPECT_STATUS(ag_add(T, ag_scalar(other, 1.0), z(1, 1)), AG_ERR_OTHER_TAPE, "another tape");
    ag_tensor *bad = ag_exp(other, NULL);
    EXPECT_STATUS(ag_exp(T, bad), AG_ERR_POISONED_INPUT, "poisoned result of a failed tape");
    ag_tape_free(other);
    EXPECT_STATUS(ag_tape_fail(T, "mine"), AG_ERR_USER, "mine");
    ag_tape_reset(T);
    assert_int_equal(ag_tape_check_finite(T, true), 0);
    EXPECT_STATUS(ag_log(T, ag_scalar(T, -1.0)), AG_ERR_NOT_FINITE, "log: output (1) holds NaN");
    assert_int_equal(ag_tape_check_finite(T, false), 0);
    /* out of memory, with the allocator refusing */
    tu_alloc_install();
    ag_tape *fresh = ag_tape_new();
    assert_non_null(fresh);
    tu_alloc_fail_at(1);
    ag_tensor *r = ag_tape_tensor(fresh, 1, (const int[]){4}, NULL);
    assert_true(r->flags & AG_POISONED);
    assert_int_equal(ag_tape_status(fresh), AG_ERR_NO_MEMORY);
    tu_alloc_fail_at(0);
    ag_tape_free(fresh);
    tu_alloc_uninstall();
    /* the first failure's status stays; a reset clears it */
    ag_tape_reset(T);
    ag_add(T, z(2, 3), z(4, 3));
    ag_add(T, NULL, NULL);
    ag_tape_fail(T, "later");
    assert_int_equal(ag_tape_status(T), AG_ERR_SHAPE);
    ag_tape_reset(T);
    assert_int_equal(ag_tape_status(T), AG_OK);
    /* every status has its own name */
    for (int a = AG_OK; a <= AG_ERR_NO_GRAD; a++) {
        assert_non_null(ag_status_str((ag_status)a));
        assert_string_not_equal(ag_status_str((ag_status)a), "unknown status");
        for (int b = AG_OK; b < a; b++)
            assert_string_not_equal(ag_status_str((ag_status)a), ag_status_str((ag_status)b));
    }
    assert_string_equal(ag_status_str((ag_status)-1), "unknown status");
}

/* A NULL tape is handled in one place: ag_tape_ok says so, for the ops and for code built on
 * them alike, with the same message; it checks inputs the way the ops do. */
static void test_null_tape_in_one_place(void **state) {
    (void)state;
    ag_set_last_error("%s", "");
    assert_false(ag_tape_ok(NULL, "my_layer", 0, NULL));
    assert_string_equal(ag_last_error(), "my_layer: tape is NULL");
    assert_null(ag_tape_poison(NULL));
    assert_true(ag_tape_ok(T, "my_layer", 0, NULL));
    ag_tensor *x = z(1, 1);
    assert_true(ag_tape_ok(T, "my_layer", 1, &x));
    ag_tape_reset(T);
    assert_false(ag_tape_ok(T, "my_layer", 1, &x)); /* stale: made before the reset */
    tu_assert_error(T, "my_layer: input 1 (1,1) is stale");
    assert_int_equal(ag_tape_status(T), AG_ERR_STALE_TENSOR);
    ag_tape_reset(T);
    assert_false(ag_tape_ok(T, "my_layer", 2, (ag_tensor *const[]){z(1, 1), NULL}));
    tu_assert_error(T, "my_layer: input 2 is NULL");
    ag_tape_reset(T);
    ag_tape_fail(T, "broken");
    assert_false(ag_tape_ok(T, "my_layer", 0, NULL));
    assert_ptr_equal(ag_tape_poison(T), ag_exp(T, NULL));
    assert_true(ag_tape_poison(T)->flags & AG_POISONED);
    tu_assert_error(T, "broken");
    assert_null(ag_exp(NULL, NULL));
    assert_string_equal(ag_last_error(), "exp: tape is NULL");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_shape_mismatches, reset),
        cmocka_unit_test_setup(test_axes_and_indices, reset),
        cmocka_unit_test_setup(test_nulls, reset),
        cmocka_unit_test_setup(test_absurd_sizes, reset),
        cmocka_unit_test_setup(test_tensors_from_elsewhere, reset),
        cmocka_unit_test_setup(test_errors_are_sticky, reset),
        cmocka_unit_test_setup(test_status_codes, reset),
        cmocka_unit_test_setup(test_null_tape_in_one_place, reset),
    };
    return cmocka_run_group_tests_name("errors", tests, setup, teardown);
}
