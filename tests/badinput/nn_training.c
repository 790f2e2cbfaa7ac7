/*
 * badinput/nn_training.c -- part of tests/test_badinput.c (one suite, one process: see there):
 * generators and initialisation, parameter lists, optimisers and their settings, save and load,
 * gradients packed and unpacked, detach, the no-gradient mode and clipping.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "badinput.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* =============================================================================================
 * nn: generators, initialisation, parameter lists, layers, optimisers, save/load.
 * =========================================================================================== */

void test_rng_and_init(void **state) {
    (void)state;
    nn_rng r = BAD(nn_rng_seed, (0)); /* seed 0 is a seed like any other */
    assert_true(BAD(nn_rng_next, (&r)) != nn_rng_next(&r));
    assert_int_equal(BAD(nn_rng_next, (NULL)), 0);
    expect_last("nn_rng_next: generator is NULL");
    assert_true(BAD(nn_rng_uniform, (NULL)) == 0.0);
    expect_last("generator is NULL");
    assert_true(BAD(nn_rng_range, (NULL, 2.0, 3.0)) == 2.0);
    expect_last("generator is NULL");
    assert_true(BAD(nn_rng_normal, (NULL)) == 0.0);
    expect_last("generator is NULL");
    assert_int_equal(BAD(nn_rng_int, (NULL, 10)), 0);
    expect_last("generator is NULL");
    ag_set_last_error("%s", "");
    assert_int_equal(BAD(nn_rng_int, (&r, 0)), 0);
    expect_last("nn_rng_int: n = 0 (must be >= 1)");
    assert_int_equal(nn_rng_int(&r, INT_MIN), 0);
    expect_last("nn_rng_int: n = -2147483648");
    int a[4] = {0, 1, 2, 3};
    BAD(nn_rng_shuffle, (NULL, a, 4));
    expect_last("nn_rng_shuffle: generator is NULL");
    BAD(nn_rng_shuffle, (&r, NULL, 4));
    expect_last("nn_rng_shuffle: array is NULL");
    BAD(nn_rng_shuffle, (&r, a, -4));
    expect_last("nn_rng_shuffle: n = -4");
    assert_true(a[0] == 0 && a[1] == 1 && a[2] == 2 && a[3] == 3);
    /* initialisation */
    ag_tensor *w = ag_tensor_2d(3, 4, true);
    for (int i = 0; i < 12; i++) w->data[i] = 7;
    assert_int_equal(BAD(nn_init_fill, (NULL, nn_init_uniform(1), 3, 4, false, &r)), -1);
    expect_last("nn_init_fill: tensor is NULL");
    assert_int_equal(nn_init_fill(w, nn_init_uniform(1), 3, 4, false, NULL), -1);
    expect_last("nn_init_fill: rng is NULL");
    assert_int_equal(nn_init_fill(ag_exp(F, NULL), nn_init_uniform(1), 3, 4, false, &r), -1);
    expect_last("nn_init_fill: tensor is poisoned");
    nn_init kinds[] = {BAD(nn_init_uniform, (-1.0)), nn_init_uniform(NAN), nn_init_uniform(INFINITY)};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(nn_init_fill(w, kinds[k], 3, 4, false, &r), -1);
        expect_last("nn_init_fill: the uniform range");
    }
    nn_init weird = {(nn_init_kind)99, 0.0};
    assert_int_equal(nn_init_fill(w, weird, 3, 4, false, &r), -1);
    expect_last("nn_init_fill: unknown initialisation 99");
    assert_int_equal(nn_init_fill(w, BAD(nn_init_xavier, ()), 0, 0, false, &r), -1);
    expect_last("nn_init_fill: fan_in 0 and fan_out 0");
    assert_int_equal(nn_init_fill(w, BAD(nn_init_he, ()), -3, 4, false, &r), -1);
    expect_last("nn_init_fill: fan_in -3 and fan_out 4");
    for (int i = 0; i < 12; i++) assert_true(w->data[i] == 7); /* untouched */
    nn_params *ps = nn_params_new();
    nn_dense d = BAD(nn_dense_new, (ps, "x", 3, 2, NN_SIGMOID, nn_init_uniform(-1), &r));
    assert_null(d.W);
    expect_last("nn_init_fill: the uniform range");
    nn_params_free(ps);
    ag_tensor_free(w);
}

void test_params(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    ag_tensor *w = nn_param_new(ps, "w", 1, (const int[]){3});
    char long_name[80];
    memset(long_name, 'n', 64);
    long_name[64] = '\0';
    struct { nn_params *ps; const char *name; const char *why; } cases[] = {
        {NULL, "a", "nn_param_new: parameter list is NULL"},
        {ps, NULL, "nn_param_new: name is NULL"},
        {ps, "", "nn_param_new: name must be 1 to 63 characters"},
        {ps, long_name, "nn_param_new: name must be 1 to 63 characters"},
        {ps, "w", "nn_param_new: a parameter named 'w' already exists"},
    };
    for (int k = 0; k < 5; k++) {
        assert_null(BAD(nn_param_new, (cases[k].ps, cases[k].name, 1, (const int[]){3})));
        expect_last(cases[k].why);
    }
    assert_int_equal(nn_params_count(ps), 1);
    BAD(nn_params_free, (NULL));
    assert_int_equal(BAD(nn_params_count, (NULL)), 0);
    assert_null(BAD(nn_params_at, (NULL, 0)));
    const int idx[] = {-1, 1, INT_MAX, INT_MIN};
    for (int k = 0; k < 4; k++) assert_null(nn_params_at(ps, idx[k]));
    assert_null(BAD(nn_params_find, (NULL, "w")));
    assert_null(nn_params_find(ps, NULL));
    assert_null(nn_params_find(ps, "missing"));
    assert_int_equal(BAD(nn_params_numel, (NULL)), 0);
    BAD(nn_zero_grad, (NULL));
    BAD(nn_params_print, (NULL, stdout, 3));
    BAD(nn_params_print, (ps, NULL, 3));
    FILE *devnull = fopen("/dev/null", "w");
    BAD(nn_params_print, (ps, devnull, -1));
    fclose(devnull);
    /* a parameter whose gradient was turned off does not crash the optimiser or zeroing */
    nn_optim *o = nn_sgd_new(ps, 0.1, 0.9);
    ag_set_requires_grad(w, false);
    nn_zero_grad(ps);
    assert_int_equal(BAD(nn_optim_step, (o, NULL)), -1);
    expect_last("optimiser step: parameter 'w' has no gradient");
    nn_optim_free(o);
    nn_params_free(ps);
}

void test_optimisers(void **state) {
    (void)state;
    nn_params *empty = nn_params_new();
    assert_null(BAD(nn_sgd_new, (NULL, 0.1, 0.9)));
    expect_last("nn_sgd_new: parameter list is NULL");
    assert_null(nn_sgd_new(empty, 0.1, 0.9));
    expect_last("nn_sgd_new: the parameter list is empty");
    assert_null(BAD(nn_adam_new, (NULL, 0.1)));
    expect_last("nn_adam_new: parameter list is NULL");
    const double bad_lr[] = {NAN, INFINITY, -0.1};
    for (int k = 0; k < 3; k++) {
        assert_null(nn_sgd_new(PS, bad_lr[k], 0.9));
        expect_last("nn_sgd_new: learning rate");
        assert_null(nn_sgd_new(PS, 0.1, bad_lr[k]));
        expect_last("nn_sgd_new: momentum");
        assert_null(nn_adam_new(PS, bad_lr[k]));
        expect_last("nn_adam_new: learning rate");
    }
    nn_params_free(empty);
    nn_optim *o = nn_sgd_new(PS, 0.1, 0.5), *a = nn_adam_new(PS, 0.01);
    /* setters refuse bad values, say why, and keep the old setting */
    BAD(nn_optim_set_lr, (NULL, 0.1));
    expect_last("nn_optim_set_lr: optimiser is NULL");
    BAD(nn_optim_set_lr, (o, NAN));
    expect_last("nn_optim_set_lr: learning rate nan");
    BAD(nn_optim_set_lr, (o, -1));
    BAD(nn_optim_set_momentum, (NULL, 0.1));
    expect_last("nn_optim_set_momentum: optimiser is NULL");
    BAD(nn_optim_set_momentum, (o, INFINITY));
    expect_last("nn_optim_set_momentum: momentum inf");
    BAD(nn_optim_set_weight_decay, (NULL, 0.1));
    expect_last("nn_optim_set_weight_decay: optimiser is NULL");
    BAD(nn_optim_set_weight_decay, (o, 1.5));
    expect_last("nn_optim_set_weight_decay: decay 1.5");
    BAD(nn_optim_set_weight_decay, (o, -0.1));
    BAD(nn_adam_set, (NULL, 0.9, 0.999, 1e-8));
    expect_last("nn_adam_set: optimiser is NULL");
    BAD(nn_adam_set, (a, 1.0, 0.999, 1e-8));
    expect_last("nn_adam_set: beta1 1");
    BAD(nn_adam_set, (a, 0.9, -0.5, 1e-8));
    expect_last("nn_adam_set: beta2 -0.5");
    BAD(nn_adam_set, (a, 0.9, 0.999, 0.0));
    expect_last("nn_adam_set: eps 0");
    BAD(nn_adam_set, (o, 0.9, 0.999, 1e-8));
    expect_last("nn_adam_set: not an Adam optimiser");
    BAD(nn_optim_schedule, (NULL, 5, 0.1, 0.9));
    expect_last("nn_optim_schedule: optimiser is NULL");
    BAD(nn_optim_schedule, (o, -5, 0.1, 0.9));
    expect_last("nn_optim_schedule: step -5");
    BAD(nn_optim_schedule, (o, 5, NAN, 0.9));
    expect_last("nn_optim_schedule: learning rate nan");
    assert_true(BAD(nn_optim_lr, (o)) == 0.1);
    assert_true(BAD(nn_optim_momentum, (o)) == 0.5);
    nn_optim_state st = nn_optim_state_of(o), sa = nn_optim_state_of(a);
    assert_true(st.hyper[nn_hyper_index(st.type, "decay")] == 0.0 && st.sched->nchanges == 0);
    assert_true(sa.hyper[nn_hyper_index(sa.type, "beta1")] == 0.9 &&
                sa.hyper[nn_hyper_index(sa.type, "beta2")] == 0.999 &&
                sa.hyper[nn_hyper_index(sa.type, "eps")] == 1e-8);
    assert_true(BAD(nn_optim_lr, (NULL)) == 0.0);
    assert_true(BAD(nn_optim_momentum, (NULL)) == 0.0);
    assert_int_equal(BAD(nn_optim_steps, (NULL)), 0);
    /* steps that must not happen */
    float *before = malloc((size_t)nn_params_numel(PS) * sizeof(float));
    for (int i = 0, off = 0; i < nn_params_count(PS); off += nn_params_at(PS, i)->numel, i++)
        memcpy(before + off, nn_params_at(PS, i)->data, (size_t)nn_params_at(PS, i)->numel * sizeof(float));
    assert_int_equal(BAD(nn_optim_step, (NULL, T)), -1);
    expect_last("optimiser step: optimiser is NULL");
    assert_int_equal(nn_optim_step(o, F), -1);
    assert_string_equal(nn_error(F), "the first error");
    nn_params_at(PS, 0)->grad[1] = NAN;
    assert_int_equal(nn_optim_step(a, NULL), -1);
    expect_last("optimiser step: the gradient of d.W holds NaN at element 1");
    nn_params_at(PS, 0)->grad[1] = 0;
    for (int i = 0, off = 0; i < nn_params_count(PS); off += nn_params_at(PS, i)->numel, i++)
        assert_memory_equal(before + off, nn_params_at(PS, i)->data, (size_t)nn_params_at(PS, i)->numel * sizeof(float));
    assert_int_equal(BAD(nn_optim_steps, (o)), 0);
    free(before);
    BAD(nn_optim_free, (NULL));
    nn_optim_free(o);
    nn_optim_free(a);
}

/* RMSprop, AdamW and the learning-rate schedule: every setting checked against the optimiser
 * table's range, refused with the value named, the old setting kept. */
void test_optimiser_table_settings(void **state) {
    (void)state;
    assert_null(BAD(nn_rmsprop_new, (NULL, 0.01)));
    expect_last("nn_rmsprop_new: parameter list is NULL");
    assert_null(nn_rmsprop_new(PS, -1));
    expect_last("nn_rmsprop_new: learning rate -1 must be finite and >= 0");
    assert_null(BAD(nn_adamw_new, (NULL, 0.01, 0.01)));
    expect_last("nn_adamw_new: parameter list is NULL");
    assert_null(nn_adamw_new(PS, NAN, 0.01));
    expect_last("nn_adamw_new: learning rate nan must be finite and >= 0");
    assert_null(nn_adamw_new(PS, 0.01, -0.5));
    expect_last("nn_adamw_new: decay -0.5 must be finite and >= 0");
    assert_null(nn_adamw_new(PS, 0.01, INFINITY));
    expect_last("nn_adamw_new: decay inf must be finite and >= 0");
    nn_optim *r = nn_rmsprop_new(PS, 0.01), *w = nn_adamw_new(PS, 0.001, 0.01);
    nn_optim *s = nn_sgd_new(PS, 0.1, 0.5), *a = nn_adam_new(PS, 0.01);
    assert_non_null(r), assert_non_null(w), assert_non_null(s), assert_non_null(a);

    BAD(nn_rmsprop_set, (NULL, 0.9, 1e-8));
    expect_last("nn_rmsprop_set: optimiser is NULL");
    BAD(nn_rmsprop_set, (r, 1.0, 1e-8));
    expect_last("nn_rmsprop_set: alpha 1 must be in [0, 1)");
    BAD(nn_rmsprop_set, (r, 0.9, 0.0));
    expect_last("nn_rmsprop_set: eps 0 must be finite and > 0");
    BAD(nn_rmsprop_set, (a, 0.9, 1e-8));
    expect_last("nn_rmsprop_set: not an RMSprop optimiser (Adam has no alpha)");
    ag_set_last_error("%s", "");
    nn_adam_set(w, 0.5, 0.75, 1.0); /* AdamW takes Adam's constants */
    assert_string_equal(ag_last_error(), "");
    nn_adam_set(r, 0.5, 0.75, 1.0);
    expect_last("nn_adam_set: not an Adam optimiser (RMSprop has no beta1)");
    nn_adam_set(w, 0.5, 1.5, 1.0); /* all or nothing: beta1 is not changed either */
    expect_last("nn_adam_set: beta2 1.5 must be in [0, 1)");
    nn_optim_state sw = nn_optim_state_of(w);
    assert_true(sw.hyper[nn_hyper_index(sw.type, "beta1")] == 0.5);
    nn_optim_set_weight_decay(w, 2.0); /* AdamW's decoupled decay may exceed 1 */
    assert_true(sw.hyper[nn_hyper_index(sw.type, "decay")] == 2.0);
    nn_optim_set_momentum(a, 0.9);
    expect_last("nn_optim_set_momentum: Adam has no momentum");
    nn_optim_set_momentum(w, 0.9);
    expect_last("nn_optim_set_momentum: AdamW has no momentum");
    nn_optim_set_momentum(r, -1);
    expect_last("nn_optim_set_momentum: momentum -1 must be finite and >= 0");

    BAD(nn_optim_warmup, (NULL, 5));
    expect_last("nn_optim_warmup: optimiser is NULL");
    BAD(nn_optim_warmup, (s, -3));
    expect_last("nn_optim_warmup: warm-up -3 must be >= 0 steps");
    BAD(nn_optim_step_decay, (NULL, 5, 0.5));
    expect_last("nn_optim_step_decay: optimiser is NULL");
    BAD(nn_optim_step_decay, (s, -5, 0.5));
    expect_last("nn_optim_step_decay: step decay period -5 must be >= 1 step");
    BAD(nn_optim_step_decay, (s, 5, 0.0));
    expect_last("nn_optim_step_decay: step decay factor 0 must be in (0, 1]");
    BAD(nn_optim_step_decay, (s, 5, NAN));
    expect_last("nn_optim_step_decay: step decay factor nan must be in (0, 1]");
    BAD(nn_optim_cosine, (NULL, 5, 0.0));
    expect_last("nn_optim_cosine: optimiser is NULL");
    BAD(nn_optim_cosine, (s, -1, 0.0));
    expect_last("nn_optim_cosine: cosine period -1 must be >= 1 step");
    BAD(nn_optim_cosine, (s, 10, 1.5));
    expect_last("nn_optim_cosine: cosine final fraction 1.5 must be in [0, 1]");
    assert_true(BAD(nn_optim_scheduled_lr, (NULL)) == 0.0);
    expect_last("nn_optim_scheduled_lr: optimiser is NULL");
    assert_true(nn_optim_scheduled_lr(s) == 0.1); /* nothing above changed the schedule */
    nn_optim_schedule(s, 3, INFINITY, -1);
    expect_last("nn_optim_schedule: learning rate inf must be finite (negative: keep)");
    nn_optim_schedule(s, 3, 0.5, NAN);
    expect_last("nn_optim_schedule: momentum nan must be finite (negative: keep)");
    nn_optim_state ss = nn_optim_state_of(s);
    assert_int_equal(ss.sched->nchanges, 0);
    assert_int_equal(ss.sched->warmup, 0);
    assert_int_equal(ss.sched->decay, NN_DECAY_NONE);
    nn_optim_free(r), nn_optim_free(w), nn_optim_free(s), nn_optim_free(a);
}

void test_save_load_arguments(void **state) {
    (void)state;
    nn_params *other = nn_params_new();
    nn_param_new(other, "q", 1, (const int[]){2});
    nn_optim *foreign = nn_sgd_new(other, 0.1, 0.9);
    assert_int_equal(BAD(nn_save, (NULL, PS, NULL)), -1);
    expect_last("nn_save: (no file): path is NULL");
    assert_int_equal(nn_save("", PS, NULL), -1);
    expect_last("nn_save: (no file): path is empty");
    assert_int_equal(nn_save("/tmp/x.bp", NULL, NULL), -1);
    expect_last("nn_save: /tmp/x.bp: parameter list is NULL");
    assert_int_equal(nn_save("/tmp/x.bp", PS, foreign), -1);
    expect_last("nn_save: /tmp/x.bp: the optimiser was made for another parameter list");
    char dir[] = "/tmp/backprop-badsave-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(nn_save(dir, PS, NULL), -1); /* a directory: the rename cannot replace it */
    expect_last("rename failed: Is a directory; nothing saved, the old file is kept");
    rmdir(dir);
    assert_int_equal(BAD(nn_load, (NULL, PS, NULL)), -1);
    expect_last("nn_load: (no file): path is NULL");
    assert_int_equal(nn_load("", PS, NULL), -1);
    expect_last("nn_load: (no file): path is empty");
    assert_int_equal(nn_load("/tmp/x.bp", NULL, NULL), -1);
    expect_last("nn_load: /tmp/x.bp: parameter list is NULL");
    assert_int_equal(nn_load("/dev/null", PS, NULL), -1);
    expect_last("nn_load: /dev/null: not a regular file");
    nn_optim_free(foreign);
    nn_params_free(other);
}

/* All gradients as one buffer: NULLs, a buffer of the wrong size, a parameter without a
 * gradient; each refused with nothing written (buffer and gradients as they were). */
void test_grads_pack_unpack(void **state) {
    (void)state;
    nn_params *ps = nn_params_new();
    ag_tensor *w = nn_param_new(ps, "w", 2, (const int[]){2, 3});
    ag_tensor *b = nn_param_new(ps, "b", 1, (const int[]){3});
    for (int i = 0; i < 6; i++) w->grad[i] = (float)i;
    for (int i = 0; i < 3; i++) b->grad[i] = 10.0f + (float)i;
    float buf[9];
    for (int i = 0; i < 9; i++) buf[i] = -1.0f;
    assert_int_equal(BAD(nn_grads_pack, (NULL, buf, 9)), -1);
    expect_last("nn_grads_pack: parameter list is NULL");
    assert_int_equal(nn_grads_pack(ps, NULL, 9), -1);
    expect_last("nn_grads_pack: buffer is NULL");
    const long wrong[] = {0, 8, 10, -1, LONG_MAX};
    for (int k = 0; k < 5; k++) {
        assert_int_equal(nn_grads_pack(ps, buf, wrong[k]), -1);
        expect_last("floats but the 2 parameters' gradients are 9 (nn_params_numel)");
        assert_int_equal(nn_grads_unpack(ps, buf, wrong[k]), -1);
        expect_last("nn_grads_unpack: the buffer holds");
    }
    for (int i = 0; i < 9; i++) assert_true(buf[i] == -1.0f); /* nothing written */
    assert_int_equal(BAD(nn_grads_unpack, (NULL, buf, 9)), -1);
    expect_last("nn_grads_unpack: parameter list is NULL");
    assert_int_equal(nn_grads_unpack(ps, NULL, 9), -1);
    expect_last("nn_grads_unpack: buffer is NULL");
    ag_set_requires_grad(b, false); /* the second parameter has no gradient: w is not touched */
    assert_int_equal(nn_grads_pack(ps, buf, 6), -1);
    expect_last("the buffer holds 6 floats but the 2 parameters' gradients are 9");
    assert_int_equal(nn_grads_pack(ps, buf, 9), -1);
    expect_last("nn_grads_pack: parameter 'b' has no gradient");
    assert_int_equal(nn_grads_unpack(ps, buf, 9), -1);
    expect_last("nn_grads_unpack: parameter 'b' has no gradient");
    for (int i = 0; i < 6; i++) assert_true(w->grad[i] == (float)i);
    for (int i = 0; i < 9; i++) assert_true(buf[i] == -1.0f);
    nn_params *empty = nn_params_new(); /* no parameters: an empty buffer is the right size */
    assert_int_equal(nn_grads_pack(empty, buf, 0), 0);
    assert_int_equal(nn_grads_unpack(empty, buf, 0), 0);
    nn_params_free(empty);
    nn_params_free(ps);
}

/* ---- detach, the no-gradient mode, clipping by norm ------------------------------------------ */

void test_detach_grad_mode_and_clipping(void **state) {
    (void)state;
    ag_tensor *keep = ag_tensor_2d(2, 3, false);
    assert_null(BAD(ag_detach, (NULL, tt(T, 2, 3))));
    expect_last("detach: tape is NULL");
    expect_tape(T, BAD(ag_detach, (T, NULL)), "detach: input 1 is NULL");
    expect_tape(F, BAD(ag_detach, (F, tt(F, 2, 3))), "the first error");
    expect_tape(T, BAD(ag_detach, (T, tt(O, 2, 3))), "detach: input 1 (2,3) belongs to another tape");
    assert_null(BAD(ag_detach_into, (NULL, tt(T, 2, 3), keep)));
    expect_last("detach_into: tape is NULL");
    expect_tape(T, BAD(ag_detach_into, (T, NULL, keep)), "detach_into: input 1 is NULL");
    expect_tape(T, BAD(ag_detach_into, (T, tt(T, 2, 3), NULL)), "detach_into: input 2 is NULL");
    expect_tape(T, BAD(ag_detach_into, (T, tt(T, 3, 2), keep)), "detach_into: x (3,2) and keep (2,3) differ");
    expect_tape(T, BAD(ag_detach_into, (T, tt(T, 2, 3), tt(T, 2, 3))), "must be user-owned");
    ag_tensor_free(keep);

    assert_int_equal(BAD(ag_tape_set_grad, (NULL, false)), -1);
    expect_last("ag_tape_set_grad: tape is NULL");
    assert_false(BAD(ag_tape_grad_enabled, (NULL)));
    assert_int_equal(ag_tape_set_grad(T, false), 0);
    ag_tensor *w = ag_scalar_param(1);
    assert_int_equal(ag_backward(T, ag_mul(T, w, w)), -1);
    tu_assert_error(T, "backward: output (1) was recorded with gradients off");
    assert_float_equal(ag_grad_item(w), 0, 0);
    ag_tensor_free(w);
    ag_tape_set_grad(T, true);
    ag_tape_reset(T);

    assert_true(BAD(nn_clip_grad_norm, (NULL, 1)) == -1);
    expect_last("nn_clip_grad_norm: parameter list is NULL");
    const double bad_max[] = {0, -1, NAN, -INFINITY};
    for (int k = 0; k < 4; k++) {
        assert_true(BAD(nn_clip_grad_norm, (PS, bad_max[k])) == -1);
        expect_last("must be above 0");
    }
}
