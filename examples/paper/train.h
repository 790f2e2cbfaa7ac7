/*
 * train.h -- the full-batch training loop the paper's examples share: record the forward pass
 * and the error on the tape, check whether every case is right, back-propagate, change the
 * weights once per sweep; with progress lines, an error curve, and its CSV and SVG files.
 */
#ifndef BACKPROP_EXAMPLES_TRAIN_H
#define BACKPROP_EXAMPLES_TRAIN_H

#include "backprop.h"

#include <stdbool.h>

/* A task records one sweep on t: its forward pass over every training case and the error E,
 * which it returns (one element). It sets *all_right when every training case is right (the
 * paper's test: every output unit on the right side of 0.5). */
typedef ag_tensor *(*train_sweep_fn)(ag_tape *t, void *task, bool *all_right);

typedef struct {
    long max_sweeps;        /* weight changes at most */
    bool stop_when_learned; /* stop at the first sweep where every case is right */
    bool quiet;             /* no progress lines */
    double *errors;         /* optional, max_sweeps + 1 values: errors[s] = E after s sweeps */
} train_opts;

typedef struct {
    long sweeps;     /* weight changes made */
    long learned_at; /* sweeps after which every case was first right; -1 if never */
    double error;    /* E after the last change */
} train_result;

/* Train with opt until max_sweeps changes were made (or, with stop_when_learned, until every
 * case is right). Returns 0, or -1 after printing the library's error to stderr. */
int train_full_batch(ag_tape *t, nn_optim *opt, train_sweep_fn sweep, void *task,
                     const train_opts *o, train_result *r);

/* Write errors[0..n-1] as CSV "sweep,error" / as an SVG line plot (log error against sweeps).
 * Return 0, or -1 after printing why to stderr. */
int train_write_csv(const char *path, const double *errors, long n);
int train_write_curve_svg(const char *path, const char *title, const double *errors, long n);

/* The flags every paper example takes, and the cli_opt entries for them (see cli.h). */
typedef struct {
    long seed, sweeps;
    double lr, momentum;
    int seeds;             /* how many seeds to run, from seed on */
    bool quiet;
    const char *csv, *svg_curve;
} train_flags;

#define TRAIN_FLAG_OPTS(f)                                                                       \
    {"--seed", CLI_LONG, &(f).seed, 0, 2147483647.0, "random seed (a run is the same on every platform)"}, \
    {"--sweeps", CLI_LONG, &(f).sweeps, 0, 10000000, "sweeps (weight changes) at most"},              \
    {"--lr", CLI_DOUBLE, &(f).lr, 0, 100, "learning rate eps"},                                       \
    {"--momentum", CLI_DOUBLE, &(f).momentum, 0, 0.999999, "momentum alpha"},                         \
    {"--quiet", CLI_FLAG, &(f).quiet, 0, -1, "no progress lines"},                                    \
    {"--csv", CLI_STRING, &(f).csv, 0, -1, "write the error per sweep to this CSV file"},             \
    {"--svg-curve", CLI_STRING, &(f).svg_curve, 0, -1, "write the error per sweep as an SVG plot"}

/* Write the error curve to the files the flags name (if any). Returns 0 or -1. */
int train_write_files(const train_flags *f, const char *title, const double *errors, long n);

/* An array of n doubles from ag_alloc (free with ag_free), or NULL after printing why. */
double *train_alloc_doubles(long n);

/* Sort a[0..n-1] ascending and return its median (0 for n = 0). */
double train_median(double *a, int n);

#endif
