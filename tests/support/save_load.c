/*
 * save_load.c -- what the save/load suites share (see save_load.h).
 */
#include "save_load.h"

#include "nn/nn_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- files as bytes ------------------------------------------------------------------------ */

tu_bytes tu_read_all(const char *path) {
    tu_bytes b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    b.n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    b.p = malloc(b.n + 64);
    assert_non_null(b.p);
    assert_int_equal(fread(b.p, 1, b.n, f), b.n);
    fclose(f);
    return b;
}

void tu_write_all(const char *path, const unsigned char *p, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

uint32_t tu_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
void tu_set_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
void tu_set_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Make an edited file self-consistent again (size field and checksum), so that the check that
 * is meant to catch the edit is the one that fires. */
void tu_reseal(tu_bytes *b) {
    tu_set_le64(b->p + NN_FILE_OFF_SIZE, b->n);
    tu_set_le32(b->p + b->n - 4, nn_crc32(0, b->p, b->n - 4));
}

void tu_set_f64(unsigned char *p, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    tu_set_le64(p, u);
}

/* ---- models --------------------------------------------------------------------------------- */

/* The same architecture whatever the seed: an MLP 4-5-3 and a recurrent layer 3 -> 2.
 * reversed creates the layers in the other order (the parameter list's order differs). */
tu_model tu_model_new(uint64_t seed, bool reversed) {
    tu_model m;
    m.ps = nn_params_new();
    assert_non_null(m.ps);
    nn_rng rng = nn_rng_seed(seed);
    if (reversed) m.rec = nn_recurrent_new(m.ps, "rec", 3, 2, NN_TANH, nn_init_uniform(0.5), &rng);
    m.net = nn_mlp_new(m.ps, "mlp", "4-5-3", NN_SIGMOID, NN_SIGMOID, nn_init_uniform(0.5), &rng);
    if (!reversed) m.rec = nn_recurrent_new(m.ps, "rec", 3, 2, NN_TANH, nn_init_uniform(0.5), &rng);
    assert_int_equal(m.net.nlayers, 2);
    assert_non_null(m.rec.W);
    return m;
}

/* All parameter values of a list, in its order, as one block (to compare bit for bit). */
float *tu_snapshot(const nn_params *ps) {
    float *s = malloc((size_t)nn_params_numel(ps) * sizeof(float) + 1);
    assert_non_null(s);
    float *p = s;
    for (int i = 0; i < nn_params_count(ps); i++) {
        const ag_tensor *x = nn_params_at(ps, i);
        memcpy(p, x->data, (size_t)x->numel * sizeof(float));
        p += x->numel;
    }
    return s;
}

void tu_assert_unchanged(const nn_params *ps, const float *before) {
    float *now = tu_snapshot(ps);
    assert_memory_equal(now, before, (size_t)nn_params_numel(ps) * sizeof(float));
    free(now);
}

/* One training sweep on fixed data: MLP on X (8,4) -> (8,3) against D, plus the recurrent
 * layer unfolded for 3 steps from the MLP's output; sse losses; backward; an optimiser step. */
void tu_sweep(tu_model *m, nn_optim *opt, ag_tape *t) {
    float x[32], d[24];
    for (int i = 0; i < 32; i++) x[i] = (float)((i * 7 % 11) / 10.0 - 0.5);
    for (int i = 0; i < 24; i++) d[i] = (float)(i % 3 == 0);
    ag_tensor *X = ag_tape_tensor(t, 2, (const int[]){8, 4}, x);
    ag_tensor *D = ag_tape_tensor(t, 2, (const int[]){8, 3}, d);
    ag_tensor *y = nn_mlp_forward(t, &m->net, X);
    ag_tensor *h = NULL;
    for (int s = 0; s < 3; s++) h = nn_recurrent_step(t, &m->rec, h, y);
    ag_tensor *E = ag_add(t, ag_sse(t, y, D), ag_sum(t, ag_square(t, h)));
    assert_int_equal(ag_backward(t, E), 0);
    assert_int_equal(nn_optim_step(opt, t), 0);
    ag_tape_reset(t);
}

/* Everything an optimiser holds that a resume needs, for comparison. */
void tu_assert_same_optim(nn_optim *a, nn_optim *b) {
    nn_optim_state x = nn_optim_state_of(a), y = nn_optim_state_of(b);
    assert_ptr_equal(x.type, y.type);
    assert_int_equal(x.numel, y.numel);
    for (int k = 0; k < x.type->nstate; k++)
        assert_memory_equal(x.state[k], y.state[k], (size_t)x.numel * sizeof(float));
    assert_int_equal(*x.steps, *y.steps);
    assert_memory_equal(x.hyper, y.hyper, (size_t)x.type->nhyper * sizeof(double));
    const nn_schedule *p = x.sched, *q = y.sched;
    assert_int_equal(p->warmup, q->warmup);
    assert_int_equal(p->decay, q->decay);
    assert_int_equal(p->period, q->period);
    assert_memory_equal(&p->factor, &q->factor, sizeof(double));
    assert_int_equal(p->nchanges, q->nchanges);
    for (int i = 0; i < p->nchanges; i++) {
        assert_int_equal(p->changes[i].step, q->changes[i].step);
        assert_memory_equal(&p->changes[i].lr, &q->changes[i].lr, sizeof(double));
        assert_memory_equal(&p->changes[i].momentum, &q->changes[i].momentum, sizeof(double));
    }
}


tu_bytes tu_copy_of(const tu_bytes *b) {
    tu_bytes c = {calloc(b->n + 64, 1), b->n}; /* room to grow, zeroed */
    memcpy(c.p, b->p, b->n);
    return c;
}

/* 2N sweeps == N sweeps, save, load into a fresh model and optimiser, N sweeps: bit for bit. */

void tu_resume_is_exact(nn_optim *(*make)(nn_params *ps), const char *path) {
    const int N = 12;
    ag_tape *t = ag_tape_new();
    /* straight through */
    tu_model a = tu_model_new(5, false);
    nn_optim *oa = make(a.ps);
    for (int s = 0; s < 2 * N; s++) tu_sweep(&a, oa, t);
    /* interrupted half-way */
    tu_model b = tu_model_new(5, false);
    nn_optim *ob = make(b.ps);
    for (int s = 0; s < N; s++) tu_sweep(&b, ob, t);
    assert_int_equal(nn_save(path, b.ps, ob), 0);
    nn_optim_free(ob);
    nn_params_free(b.ps);
    /* a fresh process would build the model again, with other initial values and settings */
    tu_model c = tu_model_new(99, true);
    nn_optim *oc = make(c.ps);
    nn_optim_set_lr(oc, 0.5);
    nn_optim_set_momentum(oc, 0.1);
    nn_optim_schedule(oc, 3, 9.0, -1); /* and a schedule of its own, which the load replaces */
    nn_optim_warmup(oc, 7);
    nn_optim_step_decay(oc, 2, 0.5);
    assert_int_equal(nn_load(path, c.ps, oc), 0);
    assert_int_equal(nn_optim_steps(oc), N);
    for (int s = 0; s < N; s++) tu_sweep(&c, oc, t);
    for (int i = 0; i < nn_params_count(a.ps); i++) {
        const ag_tensor *x = nn_params_at(a.ps, i), *y = nn_params_find(c.ps, x->name);
        assert_memory_equal(x->data, y->data, (size_t)x->numel * sizeof(float));
    }
    /* and the optimisers agree on everything (state in the order of each one's list) */
    tu_model d = tu_model_new(5, false); /* c's list is reversed: compare through a same-order copy */
    nn_optim *od = make(d.ps);
    assert_int_equal(nn_save(path, c.ps, oc), 0);
    assert_int_equal(nn_load(path, d.ps, od), 0);
    tu_assert_same_optim(oa, od);
    nn_optim_free(oa), nn_optim_free(oc), nn_optim_free(od);
    nn_params_free(a.ps), nn_params_free(c.ps), nn_params_free(d.ps);
    ag_tape_free(t);
}
