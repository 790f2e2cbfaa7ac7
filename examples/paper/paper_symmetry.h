/*
 * paper_symmetry.h -- the paper's mirror-symmetry detector: 6 inputs, 2 logistic hidden units,
 * 1 logistic output, biases; all 64 binary patterns, target 1 for the 8 that read the same
 * backwards; full-batch sweeps with eps = 0.1, alpha = 0.9, initial weights in [-0.3, 0.3]. The
 * paper's net took 1,425 sweeps and found weights that are equal and opposite across the middle
 * in ratio 1:2:4 from the outside in.
 */
#ifndef BACKPROP_EXAMPLES_PAPER_SYMMETRY_H
#define BACKPROP_EXAMPLES_PAPER_SYMMETRY_H

#include "train.h"

#include <stdint.h>

/* The 64 patterns: X[p*6 + i] = bit i of pattern p (the first input is the high bit), D[p] = 1
 * when the pattern is a palindrome. */
void sym_patterns(float X[64 * 6], float D[64]);

/* The net's weights: hidden unit j gets wh[j][i] from input i and bias bh[j]; the output gets
 * wo[j] from hidden unit j and bias bo. */
typedef struct {
    float wh[2][6], bh[2], wo[2], bo;
} sym_weights;

/* The learned net the chapter prints (its figure): every palindrome above 0.85, every other
 * pattern below 0.17. */
sym_weights sym_published(void);

/* Does each hidden unit show the paper's solution: the weights of mirrored inputs (i, 5 - i) of
 * opposite sign and equal in size to within `tol` (relative)? ratio[0..2] receives the sizes of
 * the three mirrored pairs from the outside in, divided by the outermost (the paper's 1:2:4),
 * averaged over the two hidden units. */
bool sym_mirror_opposite(const sym_weights *w, double tol, double ratio[3]);
#define SYM_MIRROR_TOL 0.1
/* The rest of the paper's description: the two hidden units are sign-flipped copies of each
 * other (to within `tol`, relative), both hidden biases are negative and the output bias positive. */
bool sym_flipped_pair(const sym_weights *w, double tol);

/* The three sizes sorted and divided by the smallest: 1:b:c. The paper's net has them in order
 * 1:2:4 from the outside in; any order of the three pairs detects symmetry as well. */
void sym_sorted_ratio(const double ratio[3], double sorted[3]);
/* Is the sorted ratio the paper's 1:2:4, each size within 25% of it? */
bool sym_ratio_124(const double ratio[3]);

/* The outputs of the net with weights w on the 64 patterns, computed on a tape. 0 or -1. */
int sym_outputs(const sym_weights *w, float y[64]);

typedef struct {
    uint64_t seed;
    double lr, momentum, init_range;
    long max_sweeps;
    bool quiet;
    double *errors; /* optional, max_sweeps + 1 values: the error per sweep */
    int hidden;     /* hidden units: 0 means the paper's 2 (only then are the weights analysed) */
} sym_config;

typedef struct {
    train_result run;
    bool learned;        /* every output on the right side of 0.5 */
    int right;           /* patterns right at the end, of 64 */
    sym_weights w;       /* the weights at the end (2 hidden units only; else zero) */
    bool mirror_opposite;
    double ratio[3];
} sym_outcome;

/* Train until every pattern is right or max_sweeps. Returns 0, or -1 after printing why. */
int sym_run(const sym_config *c, sym_outcome *out);

#endif
