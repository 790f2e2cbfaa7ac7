/*
 * test_gradcheck.c -- every op in the op table against central finite differences, on several
 * shapes including broadcast ones, plus random compositions of ops.
 *
 * The cases (an op, its input shapes and arguments) are tests/support/op_cases.c's table, and
 * each op is called through the list in autograd/ops.h. The last test fails if any op in the
 * table was not the checked op of at least one passing case: an op without a gradient check
 * cannot slip in, and deleting an op's cases makes the suite fail.
 */
#include "support/op_cases.h"
#include "support/testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EPS 1e-2   /* finite-difference step, relative to max(1, |w|) */
#define FLOOR 1e-2 /* gradients smaller than this are compared in absolute terms */
#define TOL 1e-2   /* the bound on the worst relative error */

static ag_tensor *params[4];
static bool checked_op[128];

static int op_index(const ag_op *op) {
    for (int i = 0; i < ag_op_count; i++)
        if (ag_op_table[i] == op) return i;
    return -1;
}

/* ---- every case of the table ------------------------------------------------------------------ */

static void test_every_case(void **state) {
    (void)state;
    for (int i = 0; i < tu_n_op_cases; i++) {
        const tu_op_case *c = &tu_op_cases[i];
        tu_gradcheck_case(tu_op_find(tu_ops, tu_nops, c->op), c);
        int k = op_index(c->op);
        assert_true(k >= 0);
        checked_op[k] = true;
    }
}

/* ---- random compositions ------------------------------------------------------------------- */

/* A random smooth expression over two (B,N) parameters and a (N,N) weight: a chain of steps,
 * each a unary activation, a binary op with a parameter, or a product with the weight, ending
 * in a random loss. Smooth ops only, so no kink falls between w-h and w+h. */
typedef struct { uint64_t seed; } comp_ctx;

static ag_tensor *composition(ag_tape *t, void *ctx) {
    tu_rng r = {((comp_ctx *)ctx)->seed};
    ag_tensor *x = params[0];
    int steps = 3 + (int)tu_uniform(&r, 0, 4);
    for (int s = 0; s < steps; s++) {
        switch ((int)tu_uniform(&r, 0, 9)) {
        case 0: x = ag_sigmoid(t, x); break;
        case 1: x = ag_tanh(t, x); break;
        case 2: x = ag_softplus(t, ag_scale(t, x, 0.5)); break;
        case 3: x = ag_add(t, x, params[1]); break;
        case 4: x = ag_mul(t, x, ag_tanh(t, params[1])); break;
        case 5: x = ag_sub(t, ag_matmul(t, x, params[2]), x); break;
        case 6: x = ag_softmax(t, x); break;
        case 7: x = ag_add(t, x, ag_mean_axis(t, x, 0)); break;
        default: x = ag_div(t, x, ag_add_const(t, ag_exp(t, params[1]), 1.0)); break;
        }
    }
    ag_tensor *target = ag_tape_tensor(t, x->ndim, x->shape, NULL);
    switch ((int)tu_uniform(&r, 0, 3)) {
    case 0: return ag_sse(t, x, target);
    case 1: return ag_mse(t, ag_tanh(t, x), target);
    default: return ag_sum(t, ag_square(t, ag_tanh(t, x)));
    }
}

static void test_random_compositions(void **state) {
    (void)state;
    tu_rng r = {99};
    int shape_x[2] = {3, 4}, shape_w[2] = {4, 4};
    for (int k = 0; k < 40; k++) {
        params[0] = tu_param(&r, 2, shape_x, -1, 1);
        params[1] = tu_param(&r, 2, shape_x, -1, 1);
        params[2] = tu_param(&r, 2, shape_w, -0.5, 0.5);
        comp_ctx ctx = {1000u + (uint64_t)k};
        ag_gradcheck_report rep;
        assert_int_equal(ag_gradcheck(composition, &ctx, params, 3, EPS, FLOOR, &rep), 0);
        if (!(rep.worst_error < TOL)) {
            print_error("composition %d: worst error %.3g (param %d, element %d: %g vs %g)\n", k,
                        rep.worst_error, rep.worst_param, rep.worst_index, rep.analytic,
                        rep.numeric);
            fail();
        }
        for (int i = 0; i < 3; i++) ag_tensor_free(params[i]);
    }
}

/* ---- the check can fail --------------------------------------------------------------------- */

/* An op whose vjp is deliberately wrong (twice the true gradient of y = x^2). */
static void bad_fwd(ag_node *n) {
    for (int i = 0; i < n->out.numel; i++) n->out.data[i] = n->in[0]->data[i] * n->in[0]->data[i];
}
static void bad_vjp(ag_node *n) {
    if (!n->in[0]->grad) return;
    for (int i = 0; i < n->out.numel; i++)
        n->in[0]->grad[i] += n->out.grad[i] * 4.0f * n->in[0]->data[i];
}
static const ag_op bad_op = {"bad_square", bad_fwd, bad_vjp};

static ag_tensor *bad_loss(ag_tape *t, void *ctx) {
    (void)ctx;
    ag_node *n = ag_record(t, &bad_op, 1, &params[0], params[0]->ndim, params[0]->shape, NULL);
    return ag_sum(t, n ? ag_run(n) : NULL);
}

static void test_gradcheck_catches_a_wrong_vjp(void **state) {
    (void)state;
    tu_rng r = {5};
    int shape[2] = {2, 3};
    params[0] = tu_param_away(&r, 2, shape, 0.5, 1.0);
    float before[6];
    memcpy(before, params[0]->data, sizeof before);
    params[0]->grad[0] = 42.0f; /* gradcheck must leave the caller's gradient alone */
    ag_gradcheck_report rep;
    assert_int_equal(ag_gradcheck(bad_loss, NULL, params, 1, EPS, FLOOR, &rep), 0);
    assert_true(rep.worst_error > 0.3); /* |4x - 2x| / |4x| = 0.5 */
    assert_int_equal(rep.checked, 6);
    assert_memory_equal(before, params[0]->data, sizeof before);
    assert_true(params[0]->grad[0] == 42.0f);
    ag_tensor_free(params[0]);
}

static ag_tensor *failing_loss(ag_tape *t, void *ctx) {
    (void)ctx;
    int s1[2] = {2, 3}, s2[2] = {4, 5};
    return ag_matmul(t, ag_tape_tensor(t, 2, s1, NULL), ag_tape_tensor(t, 2, s2, NULL));
}

static void test_gradcheck_reports_a_failing_function(void **state) {
    (void)state;
    ag_tensor *w = ag_scalar_param(1.0);
    ag_gradcheck_report rep;
    assert_int_equal(ag_gradcheck(failing_loss, NULL, &w, 1, EPS, FLOOR, &rep), -1);
    assert_non_null(strstr(rep.error, "inner dimensions differ"));
    assert_int_equal(ag_gradcheck(failing_loss, NULL, NULL, 1, EPS, FLOOR, &rep), -1);
    assert_int_equal(ag_gradcheck(NULL, NULL, &w, 1, EPS, FLOOR, &rep), -1);
    assert_int_equal(ag_gradcheck(failing_loss, NULL, &w, 1, 0.0, FLOOR, &rep), -1);
    assert_int_equal(ag_gradcheck(failing_loss, NULL, &w, 1, EPS, FLOOR, NULL), -1);
    ag_tensor_free(w);
}

/* ---- coverage: every op in the table was checked -------------------------------------------- */

static void test_every_op_in_the_table_is_checked(void **state) {
    (void)state;
    assert_true(ag_op_count <= (int)(sizeof checked_op / sizeof checked_op[0]));
    int missing = 0;
    for (int i = 0; i < ag_op_count; i++)
        if (!checked_op[i]) {
            print_error("op '%s' is in the op table but has no passing gradient check\n",
                        ag_op_table[i]->name);
            missing++;
        }
    assert_int_equal(missing, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_case),
        cmocka_unit_test(test_random_compositions),
        cmocka_unit_test(test_gradcheck_catches_a_wrong_vjp),
        cmocka_unit_test(test_gradcheck_reports_a_failing_function),
        cmocka_unit_test(test_every_op_in_the_table_is_checked), /* must stay last */
    };
    return cmocka_run_group_tests_name("gradcheck", tests, NULL, NULL);
}
