/*
 * save_load.h -- what the save/load suites share (tests/test_serialize.c, tests/test_optim_file.c):
 * files as bytes, a small model with a training sweep, and the check that an optimiser resumes
 * bit for bit from a file.
 */
#ifndef BACKPROP_TEST_SAVE_LOAD_H
#define BACKPROP_TEST_SAVE_LOAD_H

#include "testutil.h"

/* ---- files as bytes ---- */
typedef struct {
    unsigned char *p;
    size_t n;
} tu_bytes;

tu_bytes tu_read_all(const char *path); /* the whole file (room for 64 more bytes); free .p */
void tu_write_all(const char *path, const unsigned char *p, size_t n);
tu_bytes tu_copy_of(const tu_bytes *b); /* a copy with 64 zeroed bytes of room to grow */
uint32_t tu_le32(const unsigned char *p);
void tu_set_le32(unsigned char *p, uint32_t v);
void tu_set_le64(unsigned char *p, uint64_t v);
void tu_set_f64(unsigned char *p, double v); /* binary64, little-endian */
/* Make an edited file self-consistent again (size field and checksum), so that the check that
 * is meant to catch the edit is the one that fires. */
void tu_reseal(tu_bytes *b);

/* ---- a model ---- */
typedef struct {
    nn_params *ps;
    nn_mlp net;
    nn_recurrent rec;
} tu_model;

/* An MLP 4-5-3 and a recurrent layer 3 -> 2 whatever the seed; reversed creates them in the
 * other order (the parameter list's order differs). */
tu_model tu_model_new(uint64_t seed, bool reversed);
float *tu_snapshot(const nn_params *ps); /* every value, in the list's order; free it */
void tu_assert_unchanged(const nn_params *ps, const float *before);
/* One training sweep on fixed data through both layers, backward, an optimiser step. */
void tu_sweep(tu_model *m, nn_optim *opt, ag_tape *t);

/* ---- optimisers ---- */
/* Everything an optimiser holds that a resume needs is the same in a and b. */
void tu_assert_same_optim(nn_optim *a, nn_optim *b);
/* 2N sweeps == N sweeps, save to path, load into a fresh model and an optimiser made by make
 * (given other settings and a schedule of its own first), N sweeps: bit for bit. */
void tu_resume_is_exact(nn_optim *(*make)(nn_params *ps), const char *path);

#endif
