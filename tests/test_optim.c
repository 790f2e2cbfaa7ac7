/*
 * test_optim.c -- the optimiser table: RMSprop and AdamW against steps worked by hand, the
 * learning-rate schedule (warm-up, step decay, cosine, several pending changes) against rates
 * worked by hand, and docs/format.md listing every entry's hyperparameters with the table's
 * defaults and ranges; the step's own checks (a NaN or infinity anywhere in any of several small
 * parameters refuses the whole step, a changed list is noticed) and every element getting the
 * same bits wherever it falls in the step's loops. (Saving and resuming each optimiser bit for
 * bit: tests/test_serialize.c.)
 */
#include "support/testutil.h"

#include "nn/nn_private.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A list with one parameter w of n elements holding w0[]. */
static nn_params *one_param(int n, const float *w0, ag_tensor **w) {
    nn_params *ps = nn_params_new();
    *w = nn_param_new(ps, "w", 1, (const int[]){n});
    assert_non_null(*w);
    memcpy((*w)->data, w0, (size_t)n * sizeof(float));
    return ps;
}

/* One step with the gradients g[0..n-1]. */
static void step_with(nn_optim *o, ag_tensor *w, const float *g) {
    memcpy(w->grad, g, (size_t)w->numel * sizeof(float));
    assert_int_equal(nn_optim_step(o, NULL), 0);
    for (int i = 0; i < w->numel; i++) assert_true(w->grad[i] == 0.0f);
}

/* RMSprop with lr 0.1, alpha 0.75, eps 1, momentum 0.5:
 *   v = 0.75 v + 0.25 g^2;  b = 0.5 b + g / (sqrt(v) + 1);  w -= 0.1 b
 * element 0, w = 1:
 *   step 1, g = 2:  v = 0.25 * 4 = 1;          b = 2 / 2 = 1;               w = 1 - 0.1 = 0.9
 *   step 2, g = 1:  v = 0.75 + 0.25 = 1;       b = 0.5 + 1 / 2 = 1;         w = 0.8
 * element 1, w = -2:
 *   step 1, g = -4: v = 0.25 * 16 = 4;         b = -4 / 3;                  w = -2 + 2/15 = -28/15
 *   step 2, g = 0:  v = 3;                     b = 0.5 (-4/3) = -2/3;       w = -28/15 + 1/15 = -1.8 */
static void test_rmsprop_by_hand(void **state) {
    (void)state;
    ag_tensor *w;
    nn_params *ps = one_param(2, (const float[]){1.0f, -2.0f}, &w);
    nn_optim *o = nn_rmsprop_new(ps, 0.1);
    assert_non_null(o);
    nn_rmsprop_set(o, 0.75, 1.0);
    nn_optim_set_momentum(o, 0.5);
    assert_float_equal(nn_optim_momentum(o), 0.5, 0);
    step_with(o, w, (const float[]){2.0f, -4.0f});
    assert_float_equal(w->data[0], 0.9, 1e-6);
    assert_float_equal(w->data[1], -28.0 / 15.0, 1e-6);
    step_with(o, w, (const float[]){1.0f, 0.0f});
    assert_float_equal(w->data[0], 0.8, 1e-6);
    assert_float_equal(w->data[1], -1.8, 1e-6);
    assert_int_equal(nn_optim_steps(o), 2);
    nn_optim_free(o);
    nn_params_free(ps);
}

/* RMSprop's defaults are PyTorch's: alpha 0.99, eps 1e-8, momentum 0. One step, w = 0.5, g = 3:
 *   v = 0.01 * 9 = 0.09;  b = 3 / (0.3 + 1e-8);  w = 0.5 - 0.01 * 10 = 0.4 (to 1e-7) */
static void test_rmsprop_defaults(void **state) {
    (void)state;
    ag_tensor *w;
    nn_params *ps = one_param(1, (const float[]){0.5f}, &w);
    nn_optim *o = nn_rmsprop_new(ps, 0.01);
    step_with(o, w, (const float[]){3.0f});
    assert_float_equal(w->data[0], 0.4, 1e-6);
    assert_float_equal(nn_optim_momentum(o), 0.0, 0);
    nn_optim_free(o);
    nn_params_free(ps);
}

/* AdamW with lr 0.1, weight decay 0.5, beta1 0.5, beta2 0.75, eps 1:
 *   w <- (1 - 0.1 * 0.5) w = 0.95 w;  m = 0.5 m + 0.5 g;  v = 0.75 v + 0.25 g^2;
 *   w -= 0.1 m^ / (sqrt(v^) + 1),  m^ = m / (1 - 0.5^t),  v^ = v / (1 - 0.75^t)
 * element 0, w = 2:
 *   step 1, g = 1:   w = 1.9;  m = 0.5, m^ = 1;  v = 0.25, v^ = 1;  w = 1.9 - 0.1 / 2 = 1.85
 *   step 2, g = 2.5: w = 1.85 * 0.95 = 1.7575;  m = 0.25 + 1.25 = 1.5, m^ = 1.5 / 0.75 = 2;
 *                    v = 0.1875 + 1.5625 = 1.75, v^ = 1.75 / 0.4375 = 4;  w = 1.7575 - 0.2 / 3
 * element 1, w = -1:
 *   step 1, g = -2:  w = -0.95;  m = -1, m^ = -2;  v = 1, v^ = 4;  w = -0.95 + 0.2 / 3
 *   step 2, g = 0:   w = 0.95 (-0.95 + 0.2/3);  m = -0.5, m^ = -2/3;  v = 0.75, v^ = 12/7;
 *                    w += 0.1 (2/3) / (sqrt(12/7) + 1)
 * (Adam with the paper's decay would shrink after the change and without the factor lr.) */
static void test_adamw_by_hand(void **state) {
    (void)state;
    ag_tensor *w;
    nn_params *ps = one_param(2, (const float[]){2.0f, -1.0f}, &w);
    nn_optim *o = nn_adamw_new(ps, 0.1, 0.5);
    assert_non_null(o);
    nn_adam_set(o, 0.5, 0.75, 1.0);
    step_with(o, w, (const float[]){1.0f, -2.0f});
    assert_float_equal(w->data[0], 1.85, 1e-6);
    const double w1 = -0.95 + 0.2 / 3.0;
    assert_float_equal(w->data[1], w1, 1e-6);
    step_with(o, w, (const float[]){2.5f, 0.0f});
    assert_float_equal(w->data[0], 1.7575 - 0.2 / 3.0, 1e-6);
    assert_float_equal(w->data[1], 0.95 * w1 + 0.1 * (2.0 / 3.0) / (sqrt(12.0 / 7.0) + 1.0), 1e-6);
    nn_optim_free(o);
    nn_params_free(ps);
}

/* AdamW's decay is scaled by the scheduled rate: with a zero gradient the moments stay 0 and
 * only the decay acts. lr 0.1, decay 0.5, a warm-up of 2 steps, w = 2:
 *   step 1: rate 0.05, w = 2 (1 - 0.025) = 1.95;  step 2: rate 0.1, w = 1.95 * 0.95 = 1.8525 */
static void test_adamw_decay_follows_the_schedule(void **state) {
    (void)state;
    ag_tensor *w;
    nn_params *ps = one_param(1, (const float[]){2.0f}, &w);
    nn_optim *o = nn_adamw_new(ps, 0.1, 0.5);
    nn_optim_warmup(o, 2);
    step_with(o, w, (const float[]){0.0f});
    assert_float_equal(w->data[0], 1.95, 1e-6);
    step_with(o, w, (const float[]){0.0f});
    assert_float_equal(w->data[0], 1.8525, 1e-6);
    nn_optim_free(o);
    nn_params_free(ps);
}

/* Run `steps` SGD steps (momentum 0, gradient 1) and check the rate of each: the scheduled rate
 * reported before the step, and the change of the weight (w += -rate). */
static void expect_rates(nn_optim *o, ag_tensor *w, const double *rates, int steps) {
    for (int t = 0; t < steps; t++) {
        const float before = w->data[0];
        if (fabs(nn_optim_scheduled_lr(o) - rates[t]) > 1e-12) {
            print_error("step %d: scheduled rate %.17g, expected %.17g\n", t,
                        nn_optim_scheduled_lr(o), rates[t]);
            fail();
        }
        step_with(o, w, (const float[]){1.0f});
        assert_float_equal(before - w->data[0], rates[t], 1e-6);
    }
}

/* Warm-up over 4 steps, then halve every 2 steps, from 0.8:
 *   t = 0..3: 0.8 (t+1)/4 = 0.2, 0.4, 0.6, 0.8;  then u = t - 4: 0.8 * 0.5^(u/2) = 0.8, 0.8, 0.4,
 *   0.4, 0.2, 0.2 */
static void test_warmup_then_step_decay(void **state) {
    (void)state;
    ag_tensor *w;
    nn_params *ps = one_param(1, (const float[]){10.0f}, &w);
    nn_optim *o = nn_sgd_new(ps, 0.8, 0.0);
    nn_optim_warmup(o, 4);
    nn_optim_step_decay(o, 2, 0.5);
    expect_rates(o, w, (const double[]){0.2, 0.4, 0.6, 0.8, 0.8, 0.8, 0.4, 0.4, 0.2, 0.2}, 10);
    assert_float_equal(nn_optim_lr(o), 0.8, 0); /* the set rate is not changed by the shape */
    nn_optim_free(o);
    nn_params_free(ps);
}

/* A cosine over 4 steps from 1 down to 0.2, then flat:
 *   t: 0.2 + 0.8 (1 + cos(pi t / 4)) / 2 = 1, 0.2 + 0.4 (1 + sqrt(1/2)), 0.6,
 *   0.2 + 0.4 (1 - sqrt(1/2)), 0.2, 0.2. Then the cosine turned off: back to 1. */
static void test_cosine(void **state) {
    (void)state;
    ag_tensor *w;
    nn_params *ps = one_param(1, (const float[]){10.0f}, &w);
    nn_optim *o = nn_sgd_new(ps, 1.0, 0.0);
    nn_optim_cosine(o, 4, 0.2);
    const double h = sqrt(0.5);
    expect_rates(o, w, (const double[]){1.0, 0.2 + 0.4 * (1 + h), 0.6, 0.2 + 0.4 * (1 - h), 0.2, 0.2}, 6);
    nn_optim_step_decay(o, 3, 0.5); /* replaces the cosine: u = 6 -> 0.5^2 */
    expect_rates(o, w, (const double[]){0.25}, 1);
    nn_optim_cosine(o, 0, 0.0); /* off */
    expect_rates(o, w, (const double[]){1.0}, 1);
    nn_optim_free(o);
    nn_params_free(ps);
}

/* Several pending changes, given in any order: each applies at its step; a second change for
 * one step replaces the first; momentum changes too; the shape multiplies the changed rate. */
static void test_several_pending_changes(void **state) {
    (void)state;
    ag_tensor *w;
    nn_params *ps = one_param(1, (const float[]){10.0f}, &w);
    nn_optim *o = nn_sgd_new(ps, 1.0, 0.0);
    nn_optim_schedule(o, 5, 0.25, -1);
    nn_optim_schedule(o, 2, 0.5, -1);
    nn_optim_schedule(o, 3, 0.125, -1);
    nn_optim_schedule(o, 5, 0.375, -1); /* replaces 0.25 */
    nn_optim_state st = nn_optim_state_of(o);
    assert_int_equal(st.sched->nchanges, 3);
    expect_rates(o, w, (const double[]){1.0, 1.0, 0.5, 0.125, 0.125, 0.375, 0.375}, 7);
    assert_int_equal(st.sched->nchanges, 0);
    assert_float_equal(nn_optim_lr(o), 0.375, 0);
    /* a change already due applies at the next step; momentum -1 keeps, >= 0 sets */
    nn_optim_schedule(o, 0, -1, 0.75);
    assert_float_equal(nn_optim_momentum(o), 0.0, 0);
    assert_float_equal(nn_optim_scheduled_lr(o), 0.375, 0);
    step_with(o, w, (const float[]){1.0f});
    assert_float_equal(nn_optim_momentum(o), 0.75, 0);
    assert_float_equal(nn_optim_lr(o), 0.375, 0);
    /* with a warm-up counted from step 0: at step 8 of 10, 0.9 * the changed rate */
    nn_optim_set_momentum(o, 0.0);
    nn_optim_warmup(o, 10);
    nn_optim_schedule(o, 8, 0.5, -1);
    expect_rates(o, w, (const double[]){0.45, 0.5}, 2);
    /* an optimiser without momentum ignores a scheduled momentum */
    nn_optim *a = nn_adam_new(ps, 0.01);
    nn_optim_schedule(a, 0, 0.02, 0.9);
    assert_float_equal(nn_optim_scheduled_lr(a), 0.02, 0);
    step_with(a, w, (const float[]){1.0f});
    assert_float_equal(nn_optim_lr(a), 0.02, 0);
    assert_float_equal(nn_optim_momentum(a), 0.0, 0);
    nn_optim_free(a);
    nn_optim_free(o);
    nn_params_free(ps);
}

/* The table itself: unique names and file ids, SGD = 1 and Adam = 2 (files already written
 * say so), the learning rate first, every default inside its own range. */
static void test_the_table_is_consistent(void **state) {
    (void)state;
    assert_int_equal(nn_optim_sgd.file_id, 1);
    assert_int_equal(nn_optim_adam.file_id, 2);
    for (int a = 0; a < nn_optim_table_count; a++) {
        const nn_optim_type *t = nn_optim_table[a];
        assert_true(t->nstate >= 1 && t->nstate <= NN_OPTIM_MAX_STATE);
        assert_true(t->nhyper >= 1 && t->nhyper <= NN_OPTIM_MAX_HYPER);
        assert_string_equal(t->hyper[0].name, "learning rate");
        assert_ptr_equal(nn_optim_type_of_file_id(t->file_id), t);
        for (int k = 0; k < t->nhyper; k++) {
            if (!nn_hyper_ok(&t->hyper[k], t->hyper[k].fallback)) {
                print_error("%s: the default of %s is outside its range\n", t->name, t->hyper[k].name);
                fail();
            }
            assert_int_equal(nn_hyper_index(t, t->hyper[k].name), k);
        }
        for (int b = 0; b < a; b++) {
            assert_true(nn_optim_table[b]->file_id != t->file_id);
            assert_true(strcmp(nn_optim_table[b]->name, t->name) != 0);
        }
    }
    assert_null(nn_optim_type_of_file_id(0));
}

/* docs/format.md lists every optimiser of the table, its state arrays and each hyperparameter
 * with the table's default and range, in the table's words: the docs read the ranges from the
 * table, and a new entry without its rows fails here. */
static void test_format_md_lists_the_table(void **state) {
    (void)state;
    char *doc = tu_read_text("docs/format.md");
    int missing = 0;
    for (int a = 0; a < nn_optim_table_count; a++) {
        const nn_optim_type *t = nn_optim_table[a];
        char row[256], rule[64];
        snprintf(row, sizeof row, "| %u | %s | %s%s%s |", (unsigned)t->file_id, t->name,
                 t->state_name[0], t->nstate > 1 ? ", " : "", t->nstate > 1 ? t->state_name[1] : "");
        if (!strstr(doc, row)) print_error("docs/format.md lacks the row: %s\n", row), missing++;
        for (int k = 0; k < t->nhyper; k++) {
            snprintf(row, sizeof row, "| %s | %s | %g | %s |", t->name, t->hyper[k].name,
                     t->hyper[k].fallback, nn_hyper_rule(&t->hyper[k], rule, sizeof rule));
            if (!strstr(doc, row)) print_error("docs/format.md lacks the row: %s\n", row), missing++;
        }
    }
    free(doc);
    assert_int_equal(missing, 0);
}

/* ---- the step's checks ------------------------------------------------------------------------ */

/* Four small parameters (1, 5, 8 and 13 elements: one in the scan's tail only, one in its
 * vector part and its tail, one a whole vector, one both): a NaN or an infinity at any element
 * of any of them refuses the step, names that element, and leaves every weight, every state
 * value and every gradient as it was. Huge finite values and subnormals are not refused. */
static void test_any_bad_gradient_refuses_the_whole_step(void **state) {
    (void)state;
    const int sizes[4] = {1, 5, 8, 13};
    const char *names[4] = {"p1", "p5", "p8", "p13"};
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int kind = 0; kind < nn_optim_table_count; kind++) {
        nn_params *ps = nn_params_new();
        ag_tensor *w[4];
        for (int p = 0; p < 4; p++) w[p] = nn_param_new(ps, names[p], 1, &sizes[p]);
        nn_optim *o = nn_optim_new_of_type("test", nn_optim_table[kind], ps, 0.1, 0, NULL, NULL);
        assert_non_null(o);
        for (int p = 0; p < 4; p++)
            for (int i = 0; i < sizes[p]; i++) w[p]->data[i] = 1.0f + (float)i;
        for (int p = 0; p < 4; p++)
            for (int i = 0; i < sizes[p]; i++)
                for (int b = 0; b < 3; b++) {
                    for (int q = 0; q < 4; q++) /* finite gradients, the extremes among them */
                        for (int j = 0; j < sizes[q]; j++)
                            w[q]->grad[j] = j % 3 == 0 ? FLT_MAX : j % 3 == 1 ? -FLT_TRUE_MIN : 0.25f;
                    w[p]->grad[i] = bad[b];
                    assert_int_equal(nn_optim_step(o, NULL), -1);
                    char want[96];
                    snprintf(want, sizeof want, "gradient of %s holds %s at element %d", names[p],
                             b == 0 ? "NaN" : "Inf", i);
                    assert_non_null(strstr(nn_error(NULL), want));
                    for (int q = 0; q < 4; q++)
                        for (int j = 0; j < sizes[q]; j++) {
                            assert_true(w[q]->data[j] == 1.0f + (float)j);
                            if (q != p || j != i) assert_true(w[q]->grad[j] != 0.0f || j % 3 == 2);
                        }
                }
        assert_int_equal(nn_optim_steps(o), 0);
        nn_optim_state st = nn_optim_state_of(o);
        for (int k = 0; k < nn_optim_table[kind]->nstate; k++)
            for (long i = 0; i < st.numel; i++) assert_true(st.state[k][i] == 0.0f);
        nn_optim_free(o);
        nn_params_free(ps);
    }
}

/* The list's element count is kept as parameters come and go; a list that lost a parameter and
 * gained another of a different size since the optimiser was made is refused (same count). */
static void test_a_changed_list_is_noticed(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    nn_param_new(ps, "a", 1, (const int[]){3});
    nn_param_new(ps, "b", 1, (const int[]){4});
    assert_int_equal(nn_params_numel(ps), 7);
    nn_optim *o = nn_sgd_new(ps, 0.1, 0.0);
    nn_params_roll_back(ps, 1);
    assert_int_equal(nn_params_numel(ps), 3);
    ag_tensor *c = nn_param_new(ps, "c", 1, (const int[]){5});
    c->grad[0] = 1;
    assert_int_equal(nn_params_numel(ps), 8);
    assert_int_equal(nn_optim_step(o, NULL), -1);
    assert_non_null(strstr(nn_error(NULL), "parameter list changed"));
    assert_true(c->grad[0] == 1 && c->data[0] == 0);
    nn_optim_free(o);
    nn_params_free(ps);
    assert_int_equal(nn_params_numel(NULL), 0);
}

/* Every optimiser gives an element the same bits wherever it lies: in a parameter of 1 element,
 * or anywhere in 40 more of 1 to 40 elements (the step functions' vector part and their tail;
 * more parameters than one call of the step function takes), over three steps of the same
 * gradient everywhere. A vector loop whose arithmetic differed from the one-by-one loop (fused,
 * reordered), or a parameter left out of a call, would split the values. */
static void test_every_element_gets_the_same_bits(void **state) {
    (void)state;
    enum { MORE = 40 };
    for (int kind = 0; kind < nn_optim_table_count; kind++) {
        nn_params *ps = nn_params_new();
        ag_tensor *one = nn_param_new(ps, "one", 1, (const int[]){1}), *more[MORE];
        for (int p = 0; p < MORE; p++) {
            char name[16];
            snprintf(name, sizeof name, "p%d", p);
            more[p] = nn_param_new(ps, name, 1, (const int[]){p + 1});
            for (int i = 0; i <= p; i++) more[p]->data[i] = 0.7f;
        }
        nn_optim *o = nn_optim_new_of_type("test", nn_optim_table[kind], ps, 0.01, 0, NULL, NULL);
        assert_non_null(o);
        one->data[0] = 0.7f;
        for (int step = 0; step < 3; step++) {
            one->grad[0] = 0.3f - 0.2f * (float)step;
            for (int p = 0; p < MORE; p++)
                for (int i = 0; i <= p; i++) more[p]->grad[i] = one->grad[0];
            assert_int_equal(nn_optim_step(o, NULL), 0);
            assert_true(one->grad[0] == 0.0f);
            for (int p = 0; p < MORE; p++)
                for (int i = 0; i <= p; i++) {
                    assert_memory_equal(&more[p]->data[i], &one->data[0], sizeof(float));
                    assert_true(more[p]->grad[i] == 0.0f);
                }
        }
        assert_true(one->data[0] != 0.7f);
        nn_optim_free(o);
        nn_params_free(ps);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsprop_by_hand),
        cmocka_unit_test(test_rmsprop_defaults),
        cmocka_unit_test(test_adamw_by_hand),
        cmocka_unit_test(test_adamw_decay_follows_the_schedule),
        cmocka_unit_test(test_warmup_then_step_decay),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_several_pending_changes),
        cmocka_unit_test(test_the_table_is_consistent),
        cmocka_unit_test(test_format_md_lists_the_table),
        cmocka_unit_test(test_any_bad_gradient_refuses_the_whole_step),
        cmocka_unit_test(test_a_changed_list_is_noticed),
        cmocka_unit_test(test_every_element_gets_the_same_bits),
    };
    return cmocka_run_group_tests_name("optim", tests, NULL, NULL);
}
