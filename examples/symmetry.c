/*
 * symmetry -- the paper's mirror-symmetry detector (Nature 1986, figure 1): a 6-2-1 sigmoid net
 * learns whether a 6-bit pattern reads the same backwards, full batch over all 64 patterns, with
 * the paper's eps = 0.1, alpha = 0.9 and initial weights in [-0.3, 0.3]. The paper took 1,425
 * sweeps; the learned weights are printed and checked for the paper's solution.
 *
 *   examples/symmetry                 one run, seed 1
 *   examples/symmetry --seeds 30      the distribution over 30 seeds
 *   examples/symmetry --published     the chapter's printed weights on all 64 patterns
 *
 * Ends with `result: sweeps=N learned=1|0 mirror_opposite=1|0 ratio=a:b:c` (one seed) or
 * `result: seeds=N learned=K median_sweeps=M mirror_opposite=J ratio_124=R` (--seeds).
 */
#include "support/cli.h"
#include "paper/paper_symmetry.h"

#include <stdio.h>

static void print_weights(const sym_weights *w) {
    printf("                 in1     in2     in3     in4     in5     in6    bias   ->out\n");
    for (int j = 0; j < 2; j++) {
        printf("hidden %c   ", 'A' + j);
        for (int i = 0; i < 6; i++) printf(" %7.2f", w->wh[j][i]);
        printf(" %7.2f %7.2f\n", w->bh[j], w->wo[j]);
    }
    printf("output bias %.2f\n", w->bo);
}

static int show_published(void) {
    sym_weights w = sym_published();
    float x[64 * 6], d[64], y[64];
    sym_patterns(x, d);
    if (sym_outputs(&w, y) != 0) return 1;
    printf("The chapter's learned net, loaded by hand:\n");
    print_weights(&w);
    float lo_sym = 1, hi_other = 0;
    int right = 0;
    for (int p = 0; p < 64; p++) {
        right += (y[p] > 0.5f) == (d[p] > 0.5f);
        if (d[p] > 0.5f) lo_sym = y[p] < lo_sym ? y[p] : lo_sym;
        else hi_other = y[p] > hi_other ? y[p] : hi_other;
    }
    printf("%d of 64 patterns right; palindromes >= %.3f, others <= %.3f\n", right, lo_sym, hi_other);
    printf("result: right=%d min_symmetric=%.3f max_other=%.3f\n", right, lo_sym, hi_other);
    return right == 64 ? 0 : 1;
}

int main(int argc, char **argv) {
    train_flags f = {.seed = 1, .sweeps = 20000, .lr = 0.1, .momentum = 0.9, .seeds = 1};
    double init = 0.3;
    int hidden = 2;
    bool published = false;
    const cli_opt opts[] = {
        TRAIN_FLAG_OPTS(f),
        {"--seeds", CLI_INT, &f.seeds, 1, 100000, "run this many seeds (seed, seed+1, ...)"},
        {"--init", CLI_DOUBLE, &init, 0, 100, "initial weights uniform in [-init, init]"},
        {"--published", CLI_FLAG, &published, 0, -1, "only run the chapter's printed weights"},
        {"--hidden", CLI_INT, &hidden, 1, 64,
         "hidden units (6-N-1; the weights are analysed for the paper's 2 only)"},
    };
    const int nopts = sizeof opts / sizeof opts[0];
    int st = cli_parse(argc, argv, opts, nopts,
                       "the paper's 6-2-1 mirror-symmetry detector, trained by back-propagation");
    if (st != CLI_CONTINUE) return st;
    if (published) return show_published();

    printf("Symmetry, 6-%d-1, all 64 patterns, full batch: eps = %g, alpha = %g, initial weights "
           "in [-%g, %g], at most %ld sweeps\n", hidden, f.lr, f.momentum, init, init, f.sweeps);
    sym_config c = {0, f.lr, f.momentum, init, f.sweeps, f.quiet, NULL, hidden};
    double *errors = train_alloc_doubles(f.sweeps + 1), *sweeps = train_alloc_doubles(f.seeds);
    if (!errors || !sweeps) return 1;
    c.errors = errors;
    int learned = 0, mirror = 0, r124 = 0, flipped = 0;
    long lo = -1, hi = -1;
    sym_outcome out;
    for (int s = 0; s < f.seeds; s++) {
        c.seed = (uint64_t)(f.seed + s);
        if (sym_run(&c, &out) != 0) return 1;
        if (out.learned) {
            sweeps[learned++] = (double)out.run.sweeps;
            if (lo < 0 || out.run.sweeps < lo) lo = out.run.sweeps;
            if (out.run.sweeps > hi) hi = out.run.sweeps;
            mirror += out.mirror_opposite;
            r124 += out.mirror_opposite && sym_ratio_124(out.ratio);
            flipped += sym_flipped_pair(&out.w, SYM_MIRROR_TOL);
        }
        double r[3];
        sym_sorted_ratio(out.ratio, r);
        if (f.seeds > 1 && hidden != 2) {
            printf("seed %-6lu %s %6ld sweeps\n", (unsigned long)c.seed,
                   out.learned ? "learned in " : "NOT learned", out.run.sweeps);
            fflush(stdout);
        } else if (f.seeds > 1) {
            printf("seed %-6lu %s %6ld sweeps  mirror/opposite %s  sizes 1:%.2f:%.2f (outside in "
                   "1:%.2f:%.2f)\n", (unsigned long)c.seed, out.learned ? "learned in " : "NOT learned",
                   out.run.sweeps, out.mirror_opposite ? "yes" : "no ", r[1], r[2], out.ratio[1],
                   out.ratio[2]);
            fflush(stdout); /* one line per seed: the progress of a long run */
        }
    }
    int status = train_write_files(&f, "Symmetry: error per sweep", errors, out.run.sweeps + 1) ? 1 : 0;
    if (hidden != 2) { /* another net than the paper's: how often and how fast it learns */
        double med = train_median(sweeps, learned);
        printf("%d of %d seeds learned within %ld sweeps; median %.0f sweeps (range %ld to %ld)\n",
               learned, f.seeds, f.sweeps, med, lo, hi);
        printf("result: seeds=%d learned=%d median_sweeps=%.0f hidden=%d\n", f.seeds, learned, med,
               hidden);
    } else if (f.seeds == 1) {
        print_weights(&out.w);
        printf("%d of 64 patterns right; %s after %ld sweeps (the paper: 1,425)\n", out.right,
               out.learned ? "learned" : "NOT learned", out.run.sweeps);
        double r[3];
        sym_sorted_ratio(out.ratio, r);
        printf("mirrored inputs equal and opposite (within %.0f%%): %s; the three sizes in ratio "
               "1:%.2f:%.2f, from the outside in 1:%.2f:%.2f (the paper: 1:2:4 from the outside in)\n",
               100 * SYM_MIRROR_TOL, out.mirror_opposite ? "yes" : "no", r[1], r[2], out.ratio[1],
               out.ratio[2]);
        printf("hidden units sign-flipped copies of each other, hidden biases negative, output bias "
               "positive (the paper's net): %s\n", sym_flipped_pair(&out.w, SYM_MIRROR_TOL) ? "yes" : "no");
        printf("result: sweeps=%ld learned=%d mirror_opposite=%d ratio=1:%.2f:%.2f\n",
               out.run.sweeps, out.learned, out.mirror_opposite, r[1], r[2]);
    } else {
        double med = train_median(sweeps, learned);
        printf("%d of %d seeds learned within %ld sweeps; median %.0f sweeps (range %ld to %ld; the "
               "paper's one run: 1,425)\n", learned, f.seeds, f.sweeps, med, lo, hi);
        printf("of the %d learned nets, %d show mirrored weights equal and opposite, %d of them with "
               "sizes in ratio 1:2:4 (in some order)\n", learned, mirror, r124);
        printf("%d of the %d have hidden units that are sign-flipped copies, negative hidden biases "
               "and a positive output bias, as the paper's\n", flipped, learned);
        printf("result: seeds=%d learned=%d median_sweeps=%.0f mirror_opposite=%d ratio_124=%d\n",
               f.seeds, learned, med, mirror, r124);
    }
    ag_free(errors);
    ag_free(sweeps);
    return status;
}
