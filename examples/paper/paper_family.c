/* paper_family.c -- see paper_family.h. */
#include "paper_family.h"

#include "../support/svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- the two trees -------------------------------------------------------------------------- */

enum { CHRISTOPHER, PENELOPE, ANDREW, CHRISTINE, MARGARET, ARTHUR, VICTORIA, JAMES, JENNIFER,
       CHARLES, COLIN, CHARLOTTE };
#define IT 12 /* the Italian counterpart of English person i is i + IT */

/* One tree in English order; `o` shifts every index (0 English, IT Italian). */
#define FAM_TREE(o, n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10, n11, nat)                      \
    {n0, true, -1, -1, (o) + PENELOPE, nat, 1, 1},                                              \
    {n1, false, -1, -1, (o) + CHRISTOPHER, nat, 1, 1},                                          \
    {n2, true, -1, -1, (o) + CHRISTINE, nat, 1, -1},                                            \
    {n3, false, -1, -1, (o) + ANDREW, nat, 1, -1},                                              \
    {n4, false, -1, -1, (o) + ARTHUR, nat, 2, 1},                                               \
    {n5, true, (o) + CHRISTOPHER, (o) + PENELOPE, (o) + MARGARET, nat, 2, 1},                   \
    {n6, false, (o) + CHRISTOPHER, (o) + PENELOPE, (o) + JAMES, nat, 2, 1},                     \
    {n7, true, (o) + ANDREW, (o) + CHRISTINE, (o) + VICTORIA, nat, 2, -1},                      \
    {n8, false, (o) + ANDREW, (o) + CHRISTINE, (o) + CHARLES, nat, 2, -1},                      \
    {n9, true, -1, -1, (o) + JENNIFER, nat, 2, -1},                                             \
    {n10, true, (o) + JAMES, (o) + VICTORIA, -1, nat, 3, 0},                                    \
    {n11, false, (o) + JAMES, (o) + VICTORIA, -1, nat, 3, 0}

const fam_person fam_people[FAM_PEOPLE] = {
    FAM_TREE(0, "Christopher", "Penelope", "Andrew", "Christine", "Margaret", "Arthur", "Victoria",
             "James", "Jennifer", "Charles", "Colin", "Charlotte", 0),
    FAM_TREE(IT, "Roberto", "Maria", "Pierro", "Francesca", "Gina", "Emilio", "Lucia", "Marco",
             "Angela", "Tomaso", "Alfonso", "Sophia", 1),
};

enum { FATHER, MOTHER, HUSBAND, WIFE, SON, DAUGHTER, UNCLE, AUNT, BROTHER, SISTER, NEPHEW, NIECE };
const char *const fam_relation_names[FAM_RELATIONS] = {
    "father", "mother", "husband", "wife", "son", "daughter",
    "uncle", "aunt", "brother", "sister", "nephew", "niece"};

/* ---- the relationships, from parents and spouses -------------------------------------------- */

static uint32_t bit(int p) { return p >= 0 ? 1u << p : 0u; }

static uint32_t children_of(int p) {
    uint32_t m = 0;
    for (int c = 0; c < FAM_PEOPLE; c++)
        if (p >= 0 && (fam_people[c].father == p || fam_people[c].mother == p)) m |= bit(c);
    return m;
}

static uint32_t siblings_of(int p) {
    const fam_person *a = &fam_people[p];
    uint32_t m = 0;
    for (int s = 0; s < FAM_PEOPLE; s++)
        if (s != p && a->father >= 0 && fam_people[s].father == a->father) m |= bit(s);
    return m;
}

static uint32_t spouses_of(uint32_t people) {
    uint32_t m = 0;
    for (int p = 0; p < FAM_PEOPLE; p++)
        if (people & bit(p)) m |= bit(fam_people[p].spouse);
    return m;
}

static uint32_t of_sex(uint32_t people, bool male) {
    uint32_t m = 0;
    for (int p = 0; p < FAM_PEOPLE; p++)
        if ((people & bit(p)) && fam_people[p].male == male) m |= bit(p);
    return m;
}

/* The people who stand in relation r to person p. */
static uint32_t related(int p, int r) {
    const fam_person *a = &fam_people[p];
    /* a parent's siblings and their spouses; the children of one's own and one's spouse's
     * siblings */
    uint32_t piblings = 0, nibling_parents = siblings_of(p);
    if (a->father >= 0) piblings = siblings_of(a->father) | siblings_of(a->mother);
    piblings |= spouses_of(piblings);
    if (a->spouse >= 0) nibling_parents |= siblings_of(a->spouse);
    uint32_t niblings = 0;
    for (int s = 0; s < FAM_PEOPLE; s++)
        if (nibling_parents & bit(s)) niblings |= children_of(s);
    switch (r) {
    case FATHER: return bit(a->father);
    case MOTHER: return bit(a->mother);
    case HUSBAND: return a->male ? 0 : bit(a->spouse);
    case WIFE: return a->male ? bit(a->spouse) : 0;
    case SON: return of_sex(children_of(p), true);
    case DAUGHTER: return of_sex(children_of(p), false);
    case UNCLE: return of_sex(piblings, true);
    case AUNT: return of_sex(piblings, false);
    case BROTHER: return of_sex(siblings_of(p), true);
    case SISTER: return of_sex(siblings_of(p), false);
    case NEPHEW: return of_sex(niblings, true);
    case NIECE: return of_sex(niblings, false);
    }
    return 0;
}

int fam_derive_cases(fam_case cases[FAM_CASES]) {
    int n = 0;
    for (int p = 0; p < FAM_PEOPLE; p++)
        for (int r = 0; r < FAM_RELATIONS; r++) {
            uint32_t m = related(p, r);
            if (!m) continue;
            if (n < FAM_CASES) cases[n] = (fam_case){p, r, m};
            n++;
        }
    return n;
}

/* ---- recipes -------------------------------------------------------------------------------- */

const fam_recipe fam_recipes[] = {
    {"paper", "none: the recipe as written (the initial range is not stated; +-0.3 assumed, as "
              "for the paper's other nets)",
     0.3, 0.005, 0.5, 20, 0.01, 0.9, 0.002, 0.2, 1500, true},
    /* The smallest change found that works (docs/paper.md tells the search, on seeds 1-10 and
     * 101-150, by training cases only). On seeds 1001-1100, never used to choose it, 87 of 100
     * runs end with all 100 training cases right. */
    {"smallest", "initial weights +-2 (not stated), eps 0.07 instead of 0.01, 8000 sweeps instead "
                 "of 1500",
     2.0, 0.005, 0.5, 20, 0.07, 0.9, 0.002, 0.2, 8000, true},
};
const int fam_nrecipes = sizeof fam_recipes / sizeof fam_recipes[0];

const fam_recipe *fam_find_recipe(const char *name) {
    for (int i = 0; name && i < fam_nrecipes; i++)
        if (!strcmp(fam_recipes[i].name, name)) return &fam_recipes[i];
    return NULL;
}

void fam_random_split(uint64_t seed, int held_out[FAM_HELD_OUT]) {
    nn_rng r = nn_rng_seed(seed ^ 0x5EEDF00DCAFEull);
    int idx[FAM_CASES];
    for (int i = 0; i < FAM_CASES; i++) idx[i] = i;
    nn_rng_shuffle(&r, idx, FAM_CASES);
    for (int i = 0; i < FAM_HELD_OUT; i++) held_out[i] = idx[i];
}

/* ---- the net and its training --------------------------------------------------------------- */

typedef struct {
    nn_dense person, relation, central, hidden, output;
    ag_tensor *P, *R, *D;    /* the training cases: (100,24), (100,12) one-hot; (100,24) targets */
    ag_tensor *Pt, *Rt, *Dt; /* the held-out cases */
    double margin;
    int right;
} fam_task;

/* A sigmoid layer, with or without biases (b NULL). */
static nn_dense fam_layer(nn_params *ps, const char *name, int in, int out, const fam_recipe *rc,
                          nn_rng *rng) {
    nn_init init = nn_init_uniform(rc->init_range);
    if (rc->biases) return nn_dense_new(ps, name, in, out, NN_SIGMOID, init, rng);
    char full[64];
    snprintf(full, sizeof full, "%s.W", name);
    nn_dense d = {nn_param_new(ps, full, 2, (const int[]){in, out}), NULL, NN_SIGMOID};
    if (d.W && nn_init_fill(d.W, init, in, out, false, rng) != 0) d.W = NULL;
    return d;
}

static ag_tensor *fam_layer_forward(ag_tape *t, const nn_dense *l, ag_tensor *x) {
    return l->b ? nn_dense_forward(t, l, x) : ag_sigmoid(t, ag_matmul(t, x, l->W));
}

/* person (B,24) -> 6, relation (B,12) -> 6; both (B,12) -> 12 -> 6 -> 24 outputs. */
static ag_tensor *fam_forward(ag_tape *t, const fam_task *k, ag_tensor *P, ag_tensor *R) {
    ag_tensor *parts[2] = {fam_layer_forward(t, &k->person, P), fam_layer_forward(t, &k->relation, R)};
    ag_tensor *c = fam_layer_forward(t, &k->central, ag_concat(t, parts, 2, 1));
    return fam_layer_forward(t, &k->output, fam_layer_forward(t, &k->hidden, c));
}

/* Cases whose every output is on the right side of 0.5; right[i] (may be NULL) per case. */
static int count_right(const ag_tensor *y, const ag_tensor *d, bool *right) {
    int n = 0, rows = y->shape[0], cols = y->shape[1];
    for (int i = 0; i < rows; i++) {
        bool ok = true;
        for (int j = 0; j < cols; j++)
            ok &= (y->data[i * cols + j] > 0.5f) == (d->data[i * cols + j] > 0.5f);
        if (right) right[i] = ok;
        n += ok;
    }
    return n;
}

static ag_tensor *fam_sweep(ag_tape *t, void *arg, bool *all_right) {
    fam_task *k = arg;
    ag_tensor *y = fam_forward(t, k, k->P, k->R);
    ag_tensor *E = nn_sse_margin(t, y, k->D, k->margin);
    if (ag_tape_error(t)) return E;
    k->right = count_right(y, k->D, NULL);
    *all_right = k->right == y->shape[0];
    return E;
}

/* Fill one-hot inputs and multi-hot targets for the listed cases. */
static void encode(const fam_case *cases, const int *which, int n, ag_tensor *P, ag_tensor *R,
                   ag_tensor *D) {
    for (int i = 0; i < n; i++) {
        const fam_case *c = &cases[which[i]];
        P->data[i * FAM_PEOPLE + c->person] = 1;
        R->data[i * FAM_RELATIONS + c->relation] = 1;
        for (int q = 0; q < FAM_PEOPLE; q++) D->data[i * FAM_PEOPLE + q] = (c->answers >> q) & 1;
    }
}

static double rms(const ag_tensor *w) {
    double s = 0;
    for (int i = 0; i < w->numel; i++) s += (double)w->data[i] * w->data[i];
    return sqrt(s / w->numel);
}

int fam_run(const fam_config *c, fam_outcome *out) {
    fam_case cases[FAM_CASES];
    fam_derive_cases(cases);
    enum { NTRAIN = FAM_CASES - FAM_HELD_OUT };
    int train[NTRAIN], n = 0;
    for (int i = 0; i < FAM_CASES; i++) {
        bool held = false;
        for (int h = 0; h < FAM_HELD_OUT; h++) held |= c->held_out[h] == i;
        if (!held && n < NTRAIN) train[n++] = i;
    }
    if (n != NTRAIN) {
        fprintf(stderr, "family trees: the held-out cases must be %d distinct indices in 0..%d\n",
                FAM_HELD_OUT, FAM_CASES - 1);
        return -1;
    }
    const fam_recipe *rc = &c->recipe;
    fam_task k = {.margin = rc->margin};
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(c->seed);
    k.person = fam_layer(ps, "person", FAM_PEOPLE, 6, rc, &rng);
    k.relation = fam_layer(ps, "relation", FAM_RELATIONS, 6, rc, &rng);
    k.central = fam_layer(ps, "central", 12, 12, rc, &rng);
    k.hidden = fam_layer(ps, "hidden", 12, 6, rc, &rng);
    k.output = fam_layer(ps, "output", 6, FAM_PEOPLE, rc, &rng);
    k.P = ag_tensor_2d(NTRAIN, FAM_PEOPLE, false);
    k.R = ag_tensor_2d(NTRAIN, FAM_RELATIONS, false);
    k.D = ag_tensor_2d(NTRAIN, FAM_PEOPLE, false);
    k.Pt = ag_tensor_2d(FAM_HELD_OUT, FAM_PEOPLE, false);
    k.Rt = ag_tensor_2d(FAM_HELD_OUT, FAM_RELATIONS, false);
    k.Dt = ag_tensor_2d(FAM_HELD_OUT, FAM_PEOPLE, false);
    nn_optim *opt = nn_sgd_new(ps, rc->lr0, rc->momentum0);
    ag_tape *t = ag_tape_new();
    int status = -1;
    if (!k.output.W || !k.P || !k.R || !k.D || !k.Pt || !k.Rt || !k.Dt || !opt || !t) {
        fprintf(stderr, "family trees: %s\n", ag_last_error());
        goto done;
    }
    encode(cases, train, NTRAIN, k.P, k.R, k.D);
    encode(cases, c->held_out, FAM_HELD_OUT, k.Pt, k.Rt, k.Dt);
    nn_optim_set_weight_decay(opt, rc->decay);
    nn_optim_schedule(opt, rc->switch_at, rc->lr, rc->momentum);
    out->person_rms[0] = rms(k.person.W);
    train_opts o = {rc->sweeps, c->stop_when_learned, c->quiet, c->errors};
    if (train_full_batch(t, opt, fam_sweep, &k, &o, &out->run) != 0) goto done;
    out->train_right = k.right;
    ag_tensor *y = fam_forward(t, &k, k.Pt, k.Rt);
    if (ag_tape_error(t)) {
        fprintf(stderr, "family trees: %s\n", ag_tape_error(t));
        goto done;
    }
    out->test_right = count_right(y, k.Dt, out->test_case_right);
    memcpy(out->person_w, k.person.W->data, sizeof out->person_w);
    out->person_rms[1] = rms(k.person.W);
    status = 0;
done:
    ag_tape_free(t);
    nn_optim_free(opt);
    ag_tensor *data[] = {k.P, k.R, k.D, k.Pt, k.Rt, k.Dt};
    for (int i = 0; i < 6; i++) ag_tensor_free(data[i]);
    nn_params_free(ps);
    return status;
}

/* ---- figure 4 ------------------------------------------------------------------------------- */

const char *const fam_feature_names[FAM_FEATURES] = {"nationality", "generation", "branch"};

static double pearson(const double *x, const double *y, int n) {
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) mx += x[i] / n, my += y[i] / n;
    for (int i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0.0;
}

void fam_analyse(const float person_w[FAM_PEOPLE * 6], fam_features *f) {
    double feat[FAM_FEATURES][FAM_PEOPLE], w[FAM_PEOPLE];
    for (int p = 0; p < FAM_PEOPLE; p++) {
        feat[0][p] = fam_people[p].nationality;
        feat[1][p] = fam_people[p].generation;
        feat[2][p] = fam_people[p].branch;
    }
    for (int u = 0; u < 6; u++) {
        for (int p = 0; p < FAM_PEOPLE; p++) w[p] = person_w[p * 6 + u];
        f->best[u] = 0;
        for (int k = 0; k < FAM_FEATURES; k++) {
            f->r[u][k] = pearson(w, feat[k], FAM_PEOPLE);
            if (fabs(f->r[u][k]) > fabs(f->r[u][f->best[u]])) f->best[u] = k;
        }
    }
}

int fam_features_found(const fam_features *f, double min_r) {
    int found = 0;
    for (int u = 0; u < 6; u++)
        if (fabs(f->r[u][f->best[u]]) >= min_r) found |= 1 << f->best[u];
    return found;
}

int fam_write_hinton(const char *path, const float person_w[FAM_PEOPLE * 6], const char *title) {
    float m[12 * 12];
    char row_names[12][24];
    const char *rows[12], *cols[12];
    char col_names[12][32];
    for (int u = 0; u < 6; u++)
        for (int nat = 0; nat < 2; nat++) {
            int r = 2 * u + nat;
            snprintf(row_names[r], sizeof row_names[r], "unit %d %s", u + 1,
                     nat ? "Italian" : "English");
            rows[r] = row_names[r];
            for (int i = 0; i < 12; i++) m[r * 12 + i] = person_w[(nat * IT + i) * 6 + u];
        }
    for (int i = 0; i < 12; i++) {
        snprintf(col_names[i], sizeof col_names[i], "%s/%s", fam_people[i].name,
                 fam_people[i + IT].name);
        cols[i] = col_names[i];
    }
    return svg_hinton_grouped(path, title, m, 12, 12, rows, cols, 0, 2);
}
