/*
 * test_custom_op.c -- ops defined by the user (ag_custom): recorded and swept like built-in ops,
 * gradient-checked, named in the trace and the DOT picture, and held to the same sticky-error
 * rules.
 */
#include "support/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* softsign, y = x / (1 + |x|), dx += dy (1 - |y|)^2: one input, output shaped like it. */
static void softsign_fwd(const ag_custom_view *v) {
    for (int i = 0; i < v->out->numel; i++)
        v->out->data[i] = v->in[0]->data[i] / (1.0f + fabsf(v->in[0]->data[i]));
}
static void softsign_vjp(const ag_custom_view *v) {
    if (!v->in[0]->grad) return;
    for (int i = 0; i < v->out->numel; i++) {
        const float s = 1.0f - fabsf(v->out->data[i]);
        v->in[0]->grad[i] += v->out->grad[i] * s * s;
    }
}
static const ag_custom_op softsign = {"softsign", 1, NULL, softsign_fwd, softsign_vjp};

/* rowdot: (B,N), (B,N) -> (B,1), y_b = sum_n a_bn c_bn * k (k = *(float *)user): two inputs, a
 * shape function, a user pointer. */
static int rowdot_shape(ag_tensor *const *in, int nin, int *ndim, int shape[AG_MAX_DIMS],
                        char *why, size_t why_size, void *user) {
    (void)nin, (void)user;
    if (in[0]->ndim != 2 || in[1]->ndim != 2 || in[0]->shape[0] != in[1]->shape[0] ||
        in[0]->shape[1] != in[1]->shape[1]) {
        snprintf(why, why_size, "needs two (B,N) matrices of one shape");
        return -1;
    }
    *ndim = 2;
    shape[0] = in[0]->shape[0];
    shape[1] = 1;
    return 0;
}
static void rowdot_fwd(const ag_custom_view *v) {
    const float k = *(const float *)v->user;
    const int B = v->in[0]->shape[0], N = v->in[0]->shape[1];
    for (int b = 0; b < B; b++) {
        float s = 0;
        for (int n = 0; n < N; n++) s += v->in[0]->data[b * N + n] * v->in[1]->data[b * N + n];
        v->out->data[b] = k * s;
    }
}
static void rowdot_vjp(const ag_custom_view *v) {
    const float k = *(const float *)v->user;
    const int B = v->in[0]->shape[0], N = v->in[0]->shape[1];
    for (int i = 0; i < 2; i++) {
        if (!v->in[i]->grad) continue;
        const float *other = v->in[1 - i]->data;
        for (int b = 0; b < B; b++)
            for (int n = 0; n < N; n++) v->in[i]->grad[b * N + n] += k * v->out->grad[b] * other[b * N + n];
    }
}
static const ag_custom_op rowdot = {"rowdot", 2, rowdot_shape, rowdot_fwd, rowdot_vjp};

static void test_records_like_a_built_in(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_tensor_from(2, (const int[]){1, 3}, (const float[]){-1, 0, 3}, true);
    ag_tensor *y = ag_custom(t, &softsign, &x, 1, NULL);
    assert_null(ag_tape_error(t));
    assert_string_equal(ag_op_name(y), "softsign");
    assert_int_equal(ag_tape_nodes(t), 1);
    tu_assert_shape(y, 2, (const int[]){1, 3});
    tu_assert_values(y, (const float[]){-0.5f, 0, 0.75f}, 3, 1e-7);
    assert_true(y->flags & AG_REQUIRES_GRAD);
    assert_int_equal(ag_backward(t, ag_sum(t, y)), 0);
    tu_assert_values((ag_tensor *)&(ag_tensor){.data = x->grad, .numel = 3},
                     (const float[]){0.25f, 1, 0.0625f}, 3, 1e-7);
    ag_tensor_free(x);
    ag_tape_free(t);
}

typedef struct { ag_tensor *a, *c, *w; float k; } ctx;

static ag_tensor *loss_softsign(ag_tape *t, void *p) {
    ctx *c = p;
    return ag_sum(t, ag_mul(t, ag_custom(t, &softsign, &c->a, 1, NULL), c->w));
}
static ag_tensor *loss_rowdot(ag_tape *t, void *p) {
    ctx *c = p;
    ag_tensor *in[2] = {c->a, c->c};
    return ag_sum(t, ag_mul(t, ag_custom(t, &rowdot, in, 2, &c->k), c->w));
}

/* ag_gradcheck checks a custom op like any other, on several shapes. */
static void test_gradcheck(void **state) {
    (void)state;
    const int shapes[3][2] = {{1, 1}, {4, 3}, {7, 16}};
    tu_rng r = {42};
    for (int k = 0; k < 3; k++) {
        ctx c = {tu_param_away(&r, 2, shapes[k], -2, 2), tu_param(&r, 2, shapes[k], -1, 1),
                 tu_param(&r, 2, shapes[k], -1, 1), 1.5f};
        ag_gradcheck_report rep;
        assert_int_equal(ag_gradcheck(loss_softsign, &c, &c.a, 1, 1e-3, 1e-2, &rep), 0);
        assert_true(rep.worst_error < 1e-2);
        ag_tensor_free(c.w);
        c.w = tu_param(&r, 2, (const int[]){shapes[k][0], 1}, -1, 1);
        ag_tensor *both[2] = {c.a, c.c};
        assert_int_equal(ag_gradcheck(loss_rowdot, &c, both, 2, 1e-3, 1e-2, &rep), 0);
        assert_true(rep.worst_error < 1e-2);
        assert_int_equal(rep.checked, 2 * shapes[k][0] * shapes[k][1]);
        ag_tensor_free(c.a), ag_tensor_free(c.c), ag_tensor_free(c.w);
    }
}

static char *read_all(FILE *f) {
    long n = ftell(f);
    rewind(f);
    char *s = calloc((size_t)n + 1, 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

/* The narrated sweep and the DOT picture call it by its name. */
static void test_trace_and_dot_name_it(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_scalar_param(0.5);
    ag_tensor_set_name(x, "x");
    FILE *f = tmpfile();
    ag_tape_set_trace(t, f);
    ag_tensor *y = ag_custom(t, &softsign, &x, 1, NULL);
    assert_int_equal(ag_backward(t, y), 0);
    ag_tape_set_trace(t, NULL);
    char *trace = read_all(f);
    assert_non_null(strstr(trace, "node 0 softsign: dE/dx = dsoftsign/dx = "));
    free(trace);
    f = tmpfile();
    assert_int_equal(ag_tape_write_dot(t, f), 0);
    char *dot = read_all(f);
    assert_non_null(strstr(dot, "softsign"));
    free(dot);
    ag_tensor_free(x);
    ag_tape_free(t);
}

/* Sticky errors: bad definitions, wrong input counts, shapes that do not fit, unusable inputs
 * fail the tape naming the op; a failed tape records nothing; NaN is caught by the finite
 * check, naming the op. */
static void test_errors_like_a_built_in(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    float k = 1;
    ag_tensor *a = ag_tape_tensor(t, 2, (const int[]){2, 3}, NULL);
    ag_tensor *b = ag_tape_tensor(t, 2, (const int[]){3, 2}, NULL);
    ag_tensor *ab[2] = {a, b};
    ag_tensor *r = ag_custom(t, &rowdot, ab, 2, &k);
    assert_true(r->flags & AG_POISONED);
    assert_int_equal(ag_tape_status(t), AG_ERR_SHAPE);
    tu_assert_error(t, "rowdot: inputs (2,3), (3,2): needs two (B,N) matrices of one shape");
    const int before = ag_tape_nodes(t);
    ag_custom(t, &softsign, &a, 1, NULL); /* the tape has failed: nothing recorded */
    assert_int_equal(ag_tape_nodes(t), before);
    tu_assert_error(t, "rowdot:");

    ag_tape_reset(t);
    a = ag_tape_tensor(t, 2, (const int[]){2, 3}, NULL);
    ag_custom(t, &rowdot, &a, 1, &k);
    tu_assert_error(t, "rowdot: given 1 inputs, the op takes 2");
    ag_tape_reset(t);
    ag_custom(t, &softsign, (ag_tensor *const[]){NULL}, 1, NULL);
    tu_assert_error(t, "softsign: input 1 is NULL");
    ag_tape_reset(t);
    const ag_custom_op no_vjp = {"novjp", 1, NULL, softsign_fwd, NULL};
    a = ag_tape_tensor(t, 1, (const int[]){2}, NULL);
    ag_custom(t, &no_vjp, &a, 1, NULL);
    tu_assert_error(t, "novjp: op definition has no vjp function");
    ag_tape_reset(t);
    /* two inputs of different shapes without a shape function */
    const ag_custom_op any = {"any", 0, NULL, softsign_fwd, softsign_vjp};
    ag_tensor *two[2] = {ag_tape_tensor(t, 1, (const int[]){2}, NULL),
                         ag_tape_tensor(t, 1, (const int[]){3}, NULL)};
    ag_custom(t, &any, two, 2, NULL);
    tu_assert_error(t, "any: input 2 (3) differs from input 1 (2)");
    ag_tape_reset(t);
    ag_tape_check_finite(t, true);
    a = ag_tape_tensor(t, 1, (const int[]){2}, (const float[]){1, NAN});
    ag_custom(t, &softsign, &a, 1, NULL);
    tu_assert_error(t, "softsign: output (2) holds NaN at element 1");
    ag_tape_free(t);
}

/* In the no-gradient mode a custom op runs forward only, like the rest. */
static void test_no_grad_mode(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_scalar_param(2);
    ag_tape_set_grad(t, false);
    ag_tensor *y = ag_custom(t, &softsign, &x, 1, NULL);
    assert_float_equal(ag_item(y), 2.0 / 3.0, 1e-7);
    assert_false(y->flags & AG_REQUIRES_GRAD);
    assert_int_equal(ag_backward(t, y), -1);
    assert_int_equal(ag_tape_status(t), AG_ERR_NO_GRAD);
    ag_tensor_free(x);
    ag_tape_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_like_a_built_in),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_trace_and_dot_name_it),
        cmocka_unit_test(test_errors_like_a_built_in),
        cmocka_unit_test(test_no_grad_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
