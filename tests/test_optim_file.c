/*
 * test_optim_file.c -- optimisers in parameter files: RMSprop, AdamW, SGD with several pending
 * changes and every entry of the optimiser table resume bit for bit; a file with a valid
 * checksum cannot bring in a hyperparameter or a schedule the setters refuse (issue: beta1 = 1
 * loaded and turned the weights into NaN three Adam steps later); the version-1 slots an
 * optimiser lacks. (The format as a whole and bad files in general: tests/test_serialize.c.)
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "support/save_load.h"

#include "nn/nn_private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[64];

static int make_dir(void **s) {
    (void)s;
    return tu_tmpdir_make(dir, sizeof dir, "backprop-optim-file");
}

static int remove_dir(void **s) {
    (void)s;
    return tu_tmpdir_remove(dir);
}

static const char *file(const char *name) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* ---- resuming every optimiser ------------------------------------------------------------- */

/* RMSprop with momentum and the paper's decay; a cosine and changes before and after the save
 * point (12 sweeps). */
static nn_optim *make_rmsprop(nn_params *ps) {
    nn_optim *o = nn_rmsprop_new(ps, 0.02);
    nn_rmsprop_set(o, 0.9, 1e-6);
    nn_optim_set_momentum(o, 0.5);
    nn_optim_set_weight_decay(o, 1e-3);
    nn_optim_cosine(o, 30, 0.1);
    nn_optim_schedule(o, 5, 0.03, 0.6);
    nn_optim_schedule(o, 15, -1, 0.8);
    nn_optim_schedule(o, 20, 0.01, -1);
    return o;
}
/* AdamW with its own constants, a warm-up, a step decay and three changes still pending at
 * the save. */
static nn_optim *make_adamw(nn_params *ps) {
    nn_optim *o = nn_adamw_new(ps, 0.01, 0.05);
    nn_adam_set(o, 0.85, 0.995, 1e-7);
    nn_optim_warmup(o, 4);
    nn_optim_step_decay(o, 5, 0.7);
    nn_optim_schedule(o, 14, 0.02, -1);
    nn_optim_schedule(o, 17, 0.005, -1);
    nn_optim_schedule(o, 22, 0.004, -1);
    return o;
}
/* The paper's rule with several pending changes: the schedule section with SGD. */
static nn_optim *make_sgd_changes(nn_params *ps) {
    nn_optim *o = nn_sgd_new(ps, 0.3, 0.5);
    nn_optim_schedule(o, 13, -1, 0.9);
    nn_optim_schedule(o, 18, 0.1, -1);
    return o;
}

static void test_resume_rmsprop(void **state) {
    (void)state;
    tu_resume_is_exact(make_rmsprop, file("rmsprop.bp"));
}

static void test_resume_adamw(void **state) {
    (void)state;
    tu_resume_is_exact(make_adamw, file("adamw.bp"));
}

static void test_resume_sgd_with_pending_changes(void **state) {
    (void)state;
    tu_resume_is_exact(make_sgd_changes, file("sgd-changes.bp"));
}

/* Every optimiser of the table, with its defaults, a warm-up and changes pending at the save:
 * a new entry is tested here without a line of its own. */
static const nn_optim_type *table_type;
static nn_optim *make_from_table(nn_params *ps) {
    nn_optim *o = nn_optim_new_of_type("test", table_type, ps, table_type->hyper[0].fallback, 0,
                                       NULL, NULL);
    assert_non_null(o);
    nn_optim_warmup(o, 3);
    nn_optim_schedule(o, 14, 2 * table_type->hyper[0].fallback, -1);
    nn_optim_schedule(o, 19, table_type->hyper[0].fallback, -1);
    return o;
}

static void test_resume_every_optimiser_in_the_table(void **state) {
    (void)state;
    for (int k = 0; k < nn_optim_table_count; k++) {
        table_type = nn_optim_table[k];
        tu_resume_is_exact(make_from_table, file("table.bp"));
    }
}



/* ---- settings a setter refuses ------------------------------------------------------------ */

/* Offset of the optimiser section's first hyperparameter in a file saved with an SGD or Adam
 * optimiser and no schedule beyond one pending change (the version-1 layout: kind 4, V 8,
 * steps 8, then lr, momentum, decay, beta1, beta2, eps). */
static size_t hyper_at(const tu_bytes *b, const nn_params *ps, int nstate) {
    return b->n - 4 - 4 * (size_t)nstate * (size_t)nn_params_numel(ps) - (8 + 16) - 6 * 8;
}

/* Load b (resealed) with and without opt and expect it refused with `part` in the message. */
static void expect_hyper_refused(const tu_bytes *src, nn_params *ps, nn_optim *opt, size_t at,
                                 double value, const char *part) {
    tu_bytes b = tu_copy_of(src);
    tu_set_f64(b.p + at, value);
    tu_reseal(&b);
    tu_write_all(file("hyper.bp"), b.p, b.n);
    float *before = tu_snapshot(ps);
    for (int k = 0; k < 2; k++) {
        ag_set_last_error("%s", "");
        if (nn_load(file("hyper.bp"), ps, k ? opt : NULL) != -1 || !strstr(ag_last_error(), part)) {
            print_error("value %g: rc 0 or error '%s'; expected '%s'\n", value, ag_last_error(), part);
            fail();
        }
        tu_assert_unchanged(ps, before);
    }
    free(before);
    free(b.p);
}

/* A file with a valid checksum cannot bring in a setting the setters refuse (beta1 = 1 once
 * loaded turned the weights into NaN three Adam steps later). */
static void test_load_refuses_settings_the_setters_refuse(void **state) {
    (void)state;
    tu_model m = tu_model_new(7, false);
    nn_optim *sgd = nn_sgd_new(m.ps, 0.2, 0.9);
    ag_tape *t = ag_tape_new();
    for (int k = 0; k < 3; k++) tu_sweep(&m, sgd, t);
    assert_int_equal(nn_save(file("sgd-good.bp"), m.ps, sgd), 0);
    tu_bytes sgd_good = tu_read_all(file("sgd-good.bp"));
    const size_t s = hyper_at(&sgd_good, m.ps, 1);
    expect_hyper_refused(&sgd_good, m.ps, sgd, s + 0, -0.5, "learning rate = -0.5 is out of range");
    expect_hyper_refused(&sgd_good, m.ps, sgd, s + 8, -0.25, "momentum = -0.25 is out of range");
    expect_hyper_refused(&sgd_good, m.ps, sgd, s + 16, 1.0, "decay = 1 is out of range");
    expect_hyper_refused(&sgd_good, m.ps, sgd, s + 16, -1e-3, "decay = -0.001 is out of range");
    free(sgd_good.p);
    nn_optim_free(sgd);
    nn_params_free(m.ps);

    m = tu_model_new(3, false);
    nn_optim *adam = nn_adam_new(m.ps, 0.01);
    for (int k = 0; k < 2; k++) tu_sweep(&m, adam, t);
    assert_int_equal(nn_save(file("adam-good.bp"), m.ps, adam), 0);
    tu_bytes good = tu_read_all(file("adam-good.bp"));
    const size_t a = hyper_at(&good, m.ps, 2);
    expect_hyper_refused(&good, m.ps, adam, a + 24, 1.0, "beta1 = 1 is out of range");
    expect_hyper_refused(&good, m.ps, adam, a + 32, 1.5, "beta2 = 1.5 is out of range");
    expect_hyper_refused(&good, m.ps, adam, a + 40, 0.0, "eps = 0 is out of range");
    expect_hyper_refused(&good, m.ps, adam, a + 40, -1e-8, "eps = -1e-08 is out of range");
    expect_hyper_refused(&good, m.ps, adam, a + 0, -0.01, "learning rate = -0.01 is out of range");
    /* the untouched file still loads */
    assert_int_equal(nn_load(file("adam-good.bp"), m.ps, adam), 0);
    free(good.p);
    ag_tape_free(t);
    nn_optim_free(adam);
    nn_params_free(m.ps);
}

/* A slot of the version-1 layout that the optimiser lacks (Adam's momentum: an older library
 * let nn_optim_set_momentum store one) is ignored when finite, refused when not. */
static void test_unused_version_1_slots(void **state) {
    (void)state;
    tu_model m = tu_model_new(3, false);
    nn_optim *adam = nn_adam_new(m.ps, 0.01);
    assert_int_equal(nn_save(file("adam-slot.bp"), m.ps, adam), 0);
    tu_bytes good = tu_read_all(file("adam-slot.bp"));
    const size_t a = hyper_at(&good, m.ps, 2);
    tu_bytes b = tu_copy_of(&good);
    tu_set_f64(b.p + a + 8, 0.7); /* the momentum slot */
    tu_reseal(&b);
    tu_write_all(file("adam-slot.bp"), b.p, b.n);
    assert_int_equal(nn_load(file("adam-slot.bp"), m.ps, adam), 0);
    assert_float_equal(nn_optim_momentum(adam), 0.0, 0);
    expect_hyper_refused(&good, m.ps, adam, a + 8, NAN, "the optimiser's unused momentum slot is not finite");
    free(b.p);
    free(good.p);
    nn_optim_free(adam);
    nn_params_free(m.ps);
}

/* The schedule section: a file with a valid checksum cannot bring in a shape or a pending
 * change the setters refuse, nor changes out of order. */
static void test_load_refuses_schedules_the_setters_refuse(void **state) {
    (void)state;
    tu_model m = tu_model_new(4, false);
    nn_optim *o = nn_sgd_new(m.ps, 0.1, 0.9);
    nn_optim_step_decay(o, 10, 0.5);
    nn_optim_schedule(o, 4, 0.05, -1);
    nn_optim_schedule(o, 8, 0.01, -1);
    assert_int_equal(nn_save(file("sched.bp"), m.ps, o), 0);
    tu_bytes good = tu_read_all(file("sched.bp"));
    assert_int_equal(tu_le32(good.p + NN_FILE_OFF_FLAGS), NN_FILE_FLAG_OPTIM | NN_FILE_FLAG_SCHEDULE);
    /* the schedule section: warm-up 8, kind 4, period 8, factor 8, count 4, one change 24 */
    const size_t sc = good.n - 4 - 24 - (8 + 4 + 8 + 8 + 4);
    assert_int_equal(tu_le32(good.p + sc + 8), NN_DECAY_STEP);
    expect_hyper_refused(&good, m.ps, o, sc + 20, 0.0, "the schedule's step decay factor 0 must be in (0, 1]");
    expect_hyper_refused(&good, m.ps, o, sc + 20, 2.0, "the schedule's step decay factor 2 must be in (0, 1]");
    expect_hyper_refused(&good, m.ps, o, sc + 32 + 8, NAN, "pending schedule change 1: learning rate nan must be finite");
    tu_bytes b = tu_copy_of(&good);
    tu_set_le64(b.p + sc + 32, 2); /* the second change at step 2, before the first (4) */
    tu_reseal(&b);
    tu_write_all(file("hyper.bp"), b.p, b.n);
    assert_int_equal(nn_load(file("hyper.bp"), m.ps, o), -1);
    assert_non_null(strstr(ag_last_error(), "corrupt: pending schedule change 1 (step 2) does not come after the one before it (step 4)"));
    memcpy(b.p, good.p, b.n);
    tu_set_le32(b.p + sc + 8, 7);
    tu_reseal(&b);
    tu_write_all(file("hyper.bp"), b.p, b.n);
    assert_int_equal(nn_load(file("hyper.bp"), m.ps, NULL), -1);
    assert_non_null(strstr(ag_last_error(), "the schedule's unknown decay kind 7"));
    /* the schedule flag without an optimiser section */
    assert_int_equal(nn_save(file("plain-sched.bp"), m.ps, NULL), 0);
    tu_bytes p = tu_read_all(file("plain-sched.bp"));
    tu_set_le32(p.p + NN_FILE_OFF_FLAGS, NN_FILE_FLAG_SCHEDULE);
    tu_reseal(&p);
    tu_write_all(file("hyper.bp"), p.p, p.n);
    assert_int_equal(nn_load(file("hyper.bp"), m.ps, NULL), -1);
    assert_non_null(strstr(ag_last_error(), "a schedule section without an optimiser section"));
    /* and the good file loads, schedule and all */
    nn_optim *fresh = nn_sgd_new(m.ps, 0.1, 0.9);
    assert_int_equal(nn_load(file("sched.bp"), m.ps, fresh), 0);
    nn_optim_state st = nn_optim_state_of(fresh);
    assert_int_equal(st.sched->nchanges, 2);
    assert_int_equal(st.sched->changes[1].step, 8);
    assert_int_equal(st.sched->decay, NN_DECAY_STEP);
    assert_int_equal(st.sched->period, 10);
    nn_optim_free(fresh);
    free(p.p);
    free(b.p);
    free(good.p);
    nn_optim_free(o);
    nn_params_free(m.ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_rmsprop),
        cmocka_unit_test(test_resume_adamw),
        cmocka_unit_test(test_resume_sgd_with_pending_changes),
        cmocka_unit_test(test_resume_every_optimiser_in_the_table),
        cmocka_unit_test(test_load_refuses_settings_the_setters_refuse),
        cmocka_unit_test(test_unused_version_1_slots),
        cmocka_unit_test(test_load_refuses_schedules_the_setters_refuse),
    };
    return cmocka_run_group_tests_name("optim_file", tests, make_dir, remove_dir);
}
