/*
 * paper_xor.h -- XOR, the chapter's first hard problem: a 2-2-1 sigmoid net, or the chapter's
 * 2-1-1 net whose output unit also sees the two inputs directly, or a net with no hidden unit
 * (2-1, which cannot learn it). Full batch over the 4 cases,
 * E = 1/2 sum (y - d)^2, the paper's momentum rule, trained until every output is on the right
 * side of 0.5.
 */
#ifndef BACKPROP_EXAMPLES_PAPER_XOR_H
#define BACKPROP_EXAMPLES_PAPER_XOR_H

#include "train.h"

#include <stdint.h>

/* XOR_2_2_1: a hidden layer (of xor_config.hidden units, 2 by default); XOR_2_1: no hidden unit
 * at all (the perceptron of Minsky and Papert's argument: it cannot compute XOR). */
typedef enum { XOR_2_2_1, XOR_2_1_1_DIRECT, XOR_2_1 } xor_arch;
const char *xor_arch_name(xor_arch a); /* "2-2-1", "2-1-1-direct", "2-1" */

typedef struct {
    xor_arch arch;
    uint64_t seed;
    double lr, momentum, init_range; /* the chapter's: 0.5, 0.9, 0.3 */
    long max_sweeps;
    bool quiet;
    double *errors; /* optional, max_sweeps + 1 values: the error per sweep */
    int hidden;     /* XOR_2_2_1's hidden units: 0 means the chapter's 2 */
} xor_config;

typedef struct {
    train_result run;
    bool learned;
    float y[4]; /* outputs for (0,0) (0,1) (1,0) (1,1) at the end */
} xor_outcome;

/* Train one net. Returns 0, or -1 after printing the library's error. */
int xor_run(const xor_config *c, xor_outcome *out);

#endif
