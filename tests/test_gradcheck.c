/*
 * test_gradcheck.c -- every op in the op table against central finite differences, on several
 * shapes including broadcast ones, plus random compositions of ops.
 *
 * Each case names the op it checks. The last test fails if any op in the table (autograd/ops.h)
 * was not the checked op of at least one passing case: an op without a gradient check cannot
 * slip in, and deleting an op's cases makes the suite fail.
 */
#include "support/testutil.h"

#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EPS 1e-2   /* finite-difference step, relative to max(1, |w|) */
#define FLOOR 1e-2 /* gradients smaller than this are compared in absolute terms */
#define TOL 1e-2   /* the bound on the worst relative error */

/* ---- one case: an op applied to parameters, reduced to a loss by a fixed random weighting --- */

typedef struct {
    int ndim, shape[4];
    double lo, hi;
    bool away; /* magnitudes in [lo, hi] with random signs (keeps away from kinks and poles) */
} pspec;

typedef struct gc_case gc_case;
struct gc_case {
    const char *label;
    const ag_op *op; /* the op this case checks: the output's node must be this op */
    int nparams;
    pspec p[4];
    ag_tensor *(*build)(ag_tape *t, ag_tensor **p, const gc_case *c);
    double arg;      /* the op's constant, where it has one */
    int axis;
};

static ag_tensor *params[4];
static const gc_case *current;
static bool checked_op[64];

/* The loss: sum(out * R) with R fixed (seeded per case), so every output element matters with
 * its own weight. Also asserts that the case's output came from the op it claims to check. */
static ag_tensor *case_loss(ag_tape *t, void *ctx) {
    const gc_case *c = ctx;
    ag_tensor *out = c->build(t, params, c);
    if (ag_tape_error(t)) return out;
    if (!out->node || out->node->op != c->op) {
        ag_tape_fail(t, "case %s: output was made by %s, not %s", c->label, ag_op_name(out),
                     c->op->name);
        return out;
    }
    tu_rng r = {1234};
    ag_tensor *R = tu_const(t, &r, out->ndim, out->shape, -1.0, 1.0);
    return ag_sum(t, ag_mul(t, out, R));
}

static int op_index(const ag_op *op) {
    for (int i = 0; i < ag_op_count; i++)
        if (ag_op_table[i] == op) return i;
    return -1;
}

static void run_case(const gc_case *c) {
    tu_rng r = {(uint64_t)(uintptr_t)c->label[0] * 7919u + strlen(c->label)};
    for (int i = 0; i < c->nparams; i++) {
        const pspec *s = &c->p[i];
        params[i] = s->away ? tu_param_away(&r, s->ndim, s->shape, s->lo, s->hi)
                            : tu_param(&r, s->ndim, s->shape, s->lo, s->hi);
    }
    current = c;
    ag_gradcheck_report rep;
    int rc = ag_gradcheck(case_loss, (void *)c, params, c->nparams, EPS, FLOOR, &rep);
    if (rc != 0) print_error("%s: %s\n", c->label, rep.error);
    assert_int_equal(rc, 0);
    assert_true(rep.checked > 0);
    if (!(rep.worst_error < TOL)) {
        print_error("%s: worst relative error %.3g at param %d element %d (analytic %.6g, "
                    "numeric %.6g)\n",
                    c->label, rep.worst_error, rep.worst_param, rep.worst_index, rep.analytic,
                    rep.numeric);
        fail();
    }
    for (int i = 0; i < c->nparams; i++) ag_tensor_free(params[i]);
    int k = op_index(c->op);
    assert_true(k >= 0);
    checked_op[k] = true;
}

/* ---- builders --------------------------------------------------------------------------- */

#define S(nd, s0, s1, s2, s3, lo, hi, away) {nd, {s0, s1, s2, s3}, lo, hi, away}
#define P(nd, s0, s1, s2, s3, lo, hi) {nd, {s0, s1, s2, s3}, lo, hi, false}

static ag_tensor *b_binary(ag_tape *t, ag_tensor **p, const gc_case *c) {
    if (c->op == &ag_op_add) return ag_add(t, p[0], p[1]);
    if (c->op == &ag_op_sub) return ag_sub(t, p[0], p[1]);
    if (c->op == &ag_op_mul) return ag_mul(t, p[0], p[1]);
    return ag_div(t, p[0], p[1]);
}

static ag_tensor *b_unary(ag_tape *t, ag_tensor **p, const gc_case *c) {
    const ag_op *op = c->op;
    ag_tensor *x = p[0];
    if (op == &ag_op_neg) return ag_neg(t, x);
    if (op == &ag_op_scale) return ag_scale(t, x, c->arg);
    if (op == &ag_op_add_const) return ag_add_const(t, x, c->arg);
    if (op == &ag_op_pow) return ag_pow(t, x, c->arg);
    if (op == &ag_op_square) return ag_square(t, x);
    if (op == &ag_op_sqrt) return ag_sqrt(t, x);
    if (op == &ag_op_exp) return ag_exp(t, x);
    if (op == &ag_op_log) return ag_log(t, x);
    if (op == &ag_op_abs) return ag_abs(t, x);
    if (op == &ag_op_sigmoid) return ag_sigmoid(t, x);
    if (op == &ag_op_tanh) return ag_tanh(t, x);
    if (op == &ag_op_relu) return ag_relu(t, x);
    if (op == &ag_op_softplus) return ag_softplus(t, x);
    if (op == &ag_op_sum) return ag_sum(t, x);
    if (op == &ag_op_mean) return ag_mean(t, x);
    if (op == &ag_op_sum_axis) return ag_sum_axis(t, x, c->axis);
    if (op == &ag_op_mean_axis) return ag_mean_axis(t, x, c->axis);
    if (op == &ag_op_max_axis) return ag_max_axis(t, x, c->axis);
    if (op == &ag_op_transpose) return ag_transpose(t, x);
    if (op == &ag_op_softmax) return ag_softmax(t, x);
    if (op == &ag_op_log_softmax) return ag_log_softmax(t, x);
    return NULL;
}

static ag_tensor *b_matmul(ag_tape *t, ag_tensor **p, const gc_case *c) {
    return ag_matmul_ex(t, p[0], p[1], c->axis & 1, (c->axis & 2) != 0);
}

static ag_tensor *b_reshape(ag_tape *t, ag_tensor **p, const gc_case *c) {
    (void)c;
    int shape[3] = {2, -1, 3};
    return ag_reshape(t, p[0], 3, shape);
}

static ag_tensor *b_concat(ag_tape *t, ag_tensor **p, const gc_case *c) {
    return ag_concat(t, p, 3, c->axis);
}

static ag_tensor *b_slice(ag_tape *t, ag_tensor **p, const gc_case *c) {
    (void)c;
    return ag_slice_rows(t, p[0], 1, 3);
}

static ag_tensor *b_gather(ag_tape *t, ag_tensor **p, const gc_case *c) {
    (void)c;
    const int idx[5] = {4, 0, 4, 2, 4}; /* repeats: their gradients must add up */
    return ag_gather_rows(t, p[0], idx, 5);
}

static ag_tensor *b_loss(ag_tape *t, ag_tensor **p, const gc_case *c) {
    if (c->op == &ag_op_sse) return ag_sse(t, p[0], p[1]);
    if (c->op == &ag_op_mse) return ag_mse(t, p[0], p[1]);
    if (c->op == &ag_op_bce) return ag_bce(t, p[0], p[1]);
    return ag_bce_logits(t, p[0], p[1]);
}

static ag_tensor *b_xent(ag_tape *t, ag_tensor **p, const gc_case *c) {
    (void)c;
    const int labels[4] = {2, 0, 4, 2};
    return ag_softmax_xent(t, p[0], labels);
}

/* ---- the cases ----------------------------------------------------------------------------- */

#define M34 P(2, 3, 4, 1, 1, -1, 1)
#define BIN(op, label, pa, pb) {label, &ag_op_##op, 2, {pa, pb}, b_binary, 0, 0}
#define BIN_SHAPES(op, lo, hi, away)                                                             \
    BIN(op, #op " (3,4)*(3,4)", M34, S(2, 3, 4, 1, 1, lo, hi, away)),                  \
    BIN(op, #op " (3,4)*(4) row", M34, S(1, 4, 1, 1, 1, lo, hi, away)),                \
    BIN(op, #op " (3,4)*(1,4) row", M34, S(2, 1, 4, 1, 1, lo, hi, away)),              \
    BIN(op, #op " (3,4)*(1) scalar", M34, S(1, 1, 1, 1, 1, lo, hi, away)),             \
    BIN(op, #op " (3,1)*(1,4) both", P(2, 3, 1, 1, 1, -1, 1), S(2, 1, 4, 1, 1, lo, hi, away)), \
    BIN(op, #op " (2,3,4)*(3,1) 3-D", P(3, 2, 3, 4, 1, -1, 1), S(2, 3, 1, 1, 1, lo, hi, away)), \
    BIN(op, #op " (1)*(1) scalars", P(1, 1, 1, 1, 1, -1, 1), S(1, 1, 1, 1, 1, lo, hi, away))
#define UN(op, label, ps, arg, axis) {label, &ag_op_##op, 1, {ps}, b_unary, arg, axis}
#define UN_SHAPES(op, lo, hi, away, arg)                                                         \
    UN(op, #op " (3,4)", S(2, 3, 4, 1, 1, lo, hi, away), arg, 0),                      \
    UN(op, #op " (2,3,2)", S(3, 2, 3, 2, 1, lo, hi, away), arg, 0),                    \
    UN(op, #op " (1)", S(1, 1, 1, 1, 1, lo, hi, away), arg, 0)

static const gc_case cases[] = {
    BIN_SHAPES(add, -1, 1, false),
    BIN_SHAPES(sub, -1, 1, false),
    BIN_SHAPES(mul, -1, 1, false),
    BIN_SHAPES(div, 0.5, 2, true),
    UN_SHAPES(neg, -1, 1, false, 0),
    UN_SHAPES(scale, -1, 1, false, -2.5),
    UN_SHAPES(add_const, -1, 1, false, 0.75),
    UN_SHAPES(pow, 0.5, 2, false, 3.0),
    UN(pow, "pow 0.5", S(2, 3, 4, 1, 1, 0.5, 2, false), 0.5, 0),
    UN(pow, "pow -1.5", S(2, 3, 4, 1, 1, 0.5, 2, false), -1.5, 0),
    UN_SHAPES(square, -1, 1, false, 0),
    UN_SHAPES(sqrt, 0.3, 2, false, 0),
    UN_SHAPES(exp, -1, 1, false, 0),
    UN_SHAPES(log, 0.3, 2, false, 0),
    UN_SHAPES(abs, 0.1, 1, true, 0),
    UN_SHAPES(sigmoid, -3, 3, false, 0),
    UN_SHAPES(tanh, -2, 2, false, 0),
    UN_SHAPES(relu, 0.1, 1, true, 0),
    UN_SHAPES(softplus, -3, 3, false, 0),
    {"matmul (3,4)@(4,5)", &ag_op_matmul, 2, {M34, P(2, 4, 5, 1, 1, -1, 1)}, b_matmul, 0, 0},
    {"matmul (4,3)^T@(4,5)", &ag_op_matmul, 2, {P(2, 4, 3, 1, 1, -1, 1), P(2, 4, 5, 1, 1, -1, 1)}, b_matmul, 0, 1},
    {"matmul (3,4)@(5,4)^T", &ag_op_matmul, 2, {M34, P(2, 5, 4, 1, 1, -1, 1)}, b_matmul, 0, 2},
    {"matmul (4,3)^T@(5,4)^T", &ag_op_matmul, 2, {P(2, 4, 3, 1, 1, -1, 1), P(2, 5, 4, 1, 1, -1, 1)}, b_matmul, 0, 3},
    {"matmul (1,6)@(6,1)", &ag_op_matmul, 2, {P(2, 1, 6, 1, 1, -1, 1), P(2, 6, 1, 1, 1, -1, 1)}, b_matmul, 0, 0},
    UN(sum, "sum (3,4)", M34, 0, 0),
    UN(sum, "sum (2,3,2)", P(3, 2, 3, 2, 1, -1, 1), 0, 0),
    UN(mean, "mean (3,4)", M34, 0, 0),
    UN(mean, "mean (2,3,2)", P(3, 2, 3, 2, 1, -1, 1), 0, 0),
    UN(sum_axis, "sum_axis 0", M34, 0, 0),
    UN(sum_axis, "sum_axis 1", M34, 0, 1),
    UN(sum_axis, "sum_axis -1 of 3-D", P(3, 2, 3, 4, 1, -1, 1), 0, -1),
    UN(sum_axis, "sum_axis 1 of 3-D", P(3, 2, 3, 4, 1, -1, 1), 0, 1),
    UN(mean_axis, "mean_axis 0", M34, 0, 0),
    UN(mean_axis, "mean_axis 1", M34, 0, 1),
    UN(mean_axis, "mean_axis 1 of 3-D", P(3, 2, 3, 4, 1, -1, 1), 0, 1),
    /* max: values in [-3,3]; distinct by far more than the finite-difference step (the seed
     * below was checked to give gaps > 0.05 in every reduced group). */
    UN(max_axis, "max_axis 1", P(2, 3, 4, 1, 1, -3, 3), 0, 1),
    UN(max_axis, "max_axis 0", P(2, 3, 4, 1, 1, -3, 3), 0, 0),
    UN(max_axis, "max_axis 1 of 3-D", P(3, 2, 3, 2, 1, -3, 3), 0, 1),
    {"reshape (4,3)->(2,-1,3)", &ag_op_reshape, 1, {P(2, 4, 3, 1, 1, -1, 1)}, b_reshape, 0, 0},
    UN(transpose, "transpose (3,4)", M34, 0, 0),
    UN(transpose, "transpose (2,3,4)", P(3, 2, 3, 4, 1, -1, 1), 0, 0),
    {"concat axis 0", &ag_op_concat, 3, {P(2, 1, 3, 1, 1, -1, 1), P(2, 2, 3, 1, 1, -1, 1), P(2, 3, 3, 1, 1, -1, 1)}, b_concat, 0, 0},
    {"concat axis 1", &ag_op_concat, 3, {P(2, 2, 1, 1, 1, -1, 1), P(2, 2, 3, 1, 1, -1, 1), P(2, 2, 2, 1, 1, -1, 1)}, b_concat, 0, 1},
    {"concat axis -1 of 3-D", &ag_op_concat, 3, {P(3, 2, 2, 1, 1, -1, 1), P(3, 2, 2, 3, 1, -1, 1), P(3, 2, 2, 2, 1, -1, 1)}, b_concat, 0, -1},
    {"slice_rows 1..3 of (5,3)", &ag_op_slice_rows, 1, {P(2, 5, 3, 1, 1, -1, 1)}, b_slice, 0, 0},
    {"gather_rows (5,3) repeated", &ag_op_gather_rows, 1, {P(2, 5, 3, 1, 1, -1, 1)}, b_gather, 0, 0},
    UN(softmax, "softmax (3,5)", P(2, 3, 5, 1, 1, -2, 2), 0, 0),
    UN(softmax, "softmax (2,2,3)", P(3, 2, 2, 3, 1, -2, 2), 0, 0),
    UN(log_softmax, "log_softmax (3,5)", P(2, 3, 5, 1, 1, -2, 2), 0, 0),
    UN(log_softmax, "log_softmax (2,2,3)", P(3, 2, 2, 3, 1, -2, 2), 0, 0),
    {"sse (3,4)", &ag_op_sse, 2, {M34, M34}, b_loss, 0, 0},
    {"sse (1)", &ag_op_sse, 2, {P(1, 1, 1, 1, 1, -1, 1), P(1, 1, 1, 1, 1, -1, 1)}, b_loss, 0, 0},
    {"mse (3,4)", &ag_op_mse, 2, {M34, M34}, b_loss, 0, 0},
    {"mse (2,3,2)", &ag_op_mse, 2, {P(3, 2, 3, 2, 1, -1, 1), P(3, 2, 3, 2, 1, -1, 1)}, b_loss, 0, 0},
    {"bce (3,4)", &ag_op_bce, 2, {P(2, 3, 4, 1, 1, 0.1, 0.9), P(2, 3, 4, 1, 1, 0, 1)}, b_loss, 0, 0},
    {"bce_logits (3,4)", &ag_op_bce_logits, 2, {P(2, 3, 4, 1, 1, -3, 3), P(2, 3, 4, 1, 1, 0, 1)}, b_loss, 0, 0},
    {"softmax_xent (4,5)", &ag_op_softmax_xent, 1, {P(2, 4, 5, 1, 1, -2, 2)}, b_xent, 0, 0},
};

static void test_every_case(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
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
