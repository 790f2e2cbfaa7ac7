/*
 * paper_sequences.h -- the sequence task of the paper's companion chapter (PDP vol. 1, ch. 8),
 * learned by the unfolded iterative net of the Nature paper's figure 5. 25 sequences of six
 * symbols: two letters, then four digits that the letters determine (each letter has a code of
 * two digits: A 12, B 23, C 31, D 21, E 13; AB -> A B 1 2 2 3). Letters are the input at steps
 * 1-2 (5 input units); digits are the targets at steps 3-6 (3 output units); 20 sequences are
 * trained and 5 held out (AD, BE, CA, DB, EC).
 *
 * The net: 30 hidden units, each connected to itself and every other hidden unit, fed by the
 * input units, read out by the 3 output units: an iterative net unfolded for 6 steps, in which the
 * output units have no connections back (the Elman form).
 */
#ifndef BACKPROP_EXAMPLES_PAPER_SEQUENCES_H
#define BACKPROP_EXAMPLES_PAPER_SEQUENCES_H

#include "train.h"

#include <stdint.h>

#define SEQ_COUNT 25
#define SEQ_HELD_OUT 5
#define SEQ_STEPS 6
#define SEQ_LETTERS 5
#define SEQ_DIGITS 3

/* Sequence s = 5 * first + second letter (0 = A .. 4 = E); its 4 digits (1..3) in digits[0..3]. */
void seq_digits(int s, int digits[4]);
/* "AD" and so on. */
const char *seq_name(int s);
/* Is sequence s one of the 5 the chapter holds out? */
bool seq_held_out(int s);

typedef struct {
    uint64_t seed;
    int hidden;
    double lr, momentum, init_range;
    nn_copies copies; /* the paper averages the copies' gradients; summing is the plain rule */
    long max_sweeps;
    bool quiet;
    double *errors; /* optional, max_sweeps + 1 values */
} seq_config;

typedef struct {
    train_result run;
    bool learned;                    /* every trained digit output on the right side of 0.5 */
    int train_digits_right;          /* of 20 * 4 */
    int test_digits_right;           /* of 5 * 4: the digit whose output unit is highest */
    int test_sequences_right;        /* of 5: all 4 digits right, every output unit on its side */
    int predicted[SEQ_COUNT][4];     /* the most active output unit at steps 3-6, as a digit */
    bool sequence_right[SEQ_COUNT];  /* every output unit on its side at all 4 steps */
} seq_outcome;

/* Train until every trained digit is right, or max_sweeps. Returns 0, or -1 (printed). */
int seq_run(const seq_config *c, seq_outcome *out);

#endif
