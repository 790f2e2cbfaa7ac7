/*
 * paper_family.h -- the paper's family trees (Nature 1986, figures 2-4): two isomorphic trees of
 * 12 people each (English and Italian), 12 relationships, and the 104 (person, relationship)
 * cases they define; the paper's five-layer net; training recipes; accuracy; and the figure-4
 * analysis of what the person-encoding units learned.
 */
#ifndef BACKPROP_EXAMPLES_PAPER_FAMILY_H
#define BACKPROP_EXAMPLES_PAPER_FAMILY_H

#include "train.h"

#include <stdint.h>

#define FAM_PEOPLE 24
#define FAM_RELATIONS 12
#define FAM_CASES 104
#define FAM_HELD_OUT 4

/* A person: English 0..11, Italian 12..23, the two trees in the same order (person i and
 * i + 12 hold the same place). Features for the figure-4 analysis: nationality (0 English,
 * 1 Italian), generation (1 oldest .. 3), branch (+1 the family of the first couple, Christopher
 * and Penelope / Roberto and Maria, with the spouses who married into it; -1 that of the second
 * couple; 0 the two grandchildren, who belong to both). */
typedef struct {
    const char *name;
    bool male;
    int father, mother, spouse; /* indices, -1 for none */
    int nationality, generation, branch;
} fam_person;

extern const fam_person fam_people[FAM_PEOPLE];
extern const char *const fam_relation_names[FAM_RELATIONS]; /* father, mother, husband, ... */

/* One case: a person and a relationship, and the set of people who answer it (a bit mask over
 * the 24 people; the 8 uncle/aunt cases of the grandchildren have two answers). */
typedef struct {
    int person, relation;
    uint32_t answers;
} fam_case;

/* Derive every case from the trees (the relationships' definitions, applied to parents and
 * spouses), ordered by person then relationship. Returns how many (104). */
int fam_derive_cases(fam_case cases[FAM_CASES]);

/* A training recipe: the paper's, or a documented deviation from it. */
typedef struct {
    const char *name;
    const char *change;      /* what differs from the paper's recipe, in a few words */
    double init_range;       /* initial weights and biases uniform in [-r, r] */
    double lr0, momentum0;   /* for the first `switch_at` sweeps */
    long switch_at;
    double lr, momentum;     /* afterwards */
    double decay;            /* w <- (1 - decay) w after each change */
    double margin;           /* error 0 once an on-unit is above 1 - margin / off-unit below margin */
    long sweeps;
    bool biases;             /* every unit has a bias (a weight from an always-on unit) */
} fam_recipe;

extern const fam_recipe fam_recipes[];
extern const int fam_nrecipes;
const fam_recipe *fam_find_recipe(const char *name); /* NULL when there is none of that name */

typedef struct {
    fam_recipe recipe;
    uint64_t seed;
    int held_out[FAM_HELD_OUT]; /* case indices; see fam_random_split */
    bool stop_when_learned;     /* stop at the first sweep with every training case right */
    bool quiet;
    double *errors;             /* optional, recipe.sweeps + 1 values: the error per sweep */
} fam_config;

/* FAM_HELD_OUT distinct case indices drawn from `seed` (its own stream, not the weights'). */
void fam_random_split(uint64_t seed, int held_out[FAM_HELD_OUT]);

typedef struct {
    train_result run;
    int train_right, test_right;    /* cases right at the end, of 100 and of 4 */
    bool test_case_right[FAM_HELD_OUT];
    float person_w[FAM_PEOPLE * 6]; /* the person -> 6 units weights at the end, (24,6) */
    double person_rms[2];           /* root-mean-square of those weights at the start, at the end */
} fam_outcome;

/* Train the paper's net on the 100 cases that are not held out. Returns 0 or -1 (printed). */
int fam_run(const fam_config *c, fam_outcome *out);

/* Figure 4, automatically: for each of the 6 person-encoding units, the Pearson correlation of
 * its 24 weights with each feature (nationality, generation, branch), and the feature it
 * follows best (largest |r|). */
#define FAM_FEATURES 3
extern const char *const fam_feature_names[FAM_FEATURES];
typedef struct {
    double r[6][FAM_FEATURES];
    int best[6];
} fam_features;
void fam_analyse(const float person_w[FAM_PEOPLE * 6], fam_features *f);
/* Which features some unit follows best with |r| >= min_r: bit k set for feature k. */
int fam_features_found(const fam_features *f, double min_r);

/* The figure-4 Hinton diagram of the person weights: for each unit, a row of the 12 English
 * people above a row of their 12 Italian counterparts. Returns 0 or -1 (printed). */
int fam_write_hinton(const char *path, const float person_w[FAM_PEOPLE * 6], const char *title);

#endif
