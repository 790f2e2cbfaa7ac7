/*
 * recurrent -- the unfolded iterative net (Nature 1986, figure 5) learning the sequence task of
 * the companion chapter: two letters in, then four digits out at steps 3-6, with targets at those
 * intermediate steps only. 20 of the 25 sequences are trained; the 5 held out (AD, BE, CA, DB,
 * EC) test whether the net learned the letters' codes rather than the 20 sequences.
 *
 *   examples/recurrent                      one run, seed 1, the paper's averaging over copies
 *   examples/recurrent --copies sum         the plain chain rule (the sum over the 6 copies)
 *   examples/recurrent --seeds 10
 *
 * Ends with `result: learned=1|0 sweeps=N test_digits=a/20 test_sequences=b/5` (one seed) or
 * `result: seeds=N learned=K median_sweeps=M test_digits_mean=m` (--seeds).
 */
#include "support/cli.h"
#include "paper/paper_sequences.h"

#include <stdio.h>
#include <string.h>

static void print_held_out(const seq_outcome *out) {
    printf("held-out sequences (never trained): letters -> the most active digit unit at steps 3-6 "
           "(the right digits); 'exact' when every output unit is on its side of 0.5\n");
    for (int s = 0; s < SEQ_COUNT; s++) {
        if (!seq_held_out(s)) continue;
        int want[4];
        seq_digits(s, want);
        printf("  %s -> %d%d%d%d  (%d%d%d%d)%s\n", seq_name(s), out->predicted[s][0],
               out->predicted[s][1], out->predicted[s][2], out->predicted[s][3], want[0], want[1],
               want[2], want[3], out->sequence_right[s] ? "  exact" : "");
    }
}

int main(int argc, char **argv) {
    train_flags f = {.seed = 1, .sweeps = 5000, .lr = 0.2, .momentum = 0.9, .seeds = 1};
    seq_config c = {.hidden = 30, .init_range = 0.3, .copies = NN_COPIES_AVERAGE};
    const char *copies = "average";
    const cli_opt opts[] = {
        TRAIN_FLAG_OPTS(f),
        {"--seeds", CLI_INT, &f.seeds, 1, 100000, "run this many seeds (seed, seed+1, ...)"},
        {"--hidden", CLI_INT, &c.hidden, 1, 1000, "hidden (recurrent) units"},
        {"--init", CLI_DOUBLE, &c.init_range, 0, 100, "initial weights uniform in [-init, init]"},
        {"--copies", CLI_STRING, &copies, 0, -1, "the 6 copies' gradients: average (the paper's) or sum"},
    };
    const int nopts = sizeof opts / sizeof opts[0];
    const char *about = "an unfolded recurrent net learns the chapter's letter -> digit sequences";
    int st = cli_parse(argc, argv, opts, nopts, about);
    if (st != CLI_CONTINUE) return st;
    if (!strcmp(copies, "sum")) c.copies = NN_COPIES_SUM;
    else if (strcmp(copies, "average"))
        return cli_error(argv, opts, nopts, about, "--copies: '%s' is not average or sum", copies);
    c.lr = f.lr, c.momentum = f.momentum, c.max_sweeps = f.sweeps, c.quiet = f.quiet;

    printf("Sequences: 5-%d-3 net unfolded for %d steps, letters in at steps 1-2, digits out at "
           "steps 3-6; 20 sequences trained, 5 held out\neps = %g, alpha = %g, initial weights in "
           "[-%g, %g], %s of the copies' gradients, at most %ld sweeps\n", c.hidden, SEQ_STEPS,
           c.lr, c.momentum, c.init_range, c.init_range, copies, c.max_sweeps);
    double *errors = train_alloc_doubles(f.sweeps + 1), *sweeps = train_alloc_doubles(f.seeds);
    if (!errors || !sweeps) return 1;
    c.errors = errors;
    int learned = 0;
    double test_digits = 0;
    seq_outcome out;
    for (int s = 0; s < f.seeds; s++) {
        c.seed = (uint64_t)(f.seed + s);
        if (seq_run(&c, &out) != 0) return 1;
        if (out.learned) sweeps[learned++] = (double)out.run.sweeps;
        test_digits += (double)out.test_digits_right / f.seeds;
        if (f.seeds > 1) {
            printf("seed %-6lu %s %5ld sweeps  held out: %2d/20 digits, %d/5 sequences\n",
                   (unsigned long)c.seed, out.learned ? "learned in " : "NOT learned", out.run.sweeps,
                   out.test_digits_right, out.test_sequences_right);
            fflush(stdout); /* one line per seed: the progress of a long run */
        }
    }
    int status = train_write_files(&f, "Sequences: error per sweep", errors, out.run.sweeps + 1);
    if (f.seeds == 1) {
        printf("%s after %ld sweeps (the chapter: about 260); %d of 80 trained digits right\n",
               out.learned ? "every trained digit right" : "NOT learned", out.run.sweeps,
               out.train_digits_right);
        print_held_out(&out);
        printf("result: learned=%d sweeps=%ld test_digits=%d/20 test_sequences=%d/5\n", out.learned,
               out.run.sweeps, out.test_digits_right, out.test_sequences_right);
    } else {
        double med = train_median(sweeps, learned);
        printf("%d of %d seeds learned; median %.0f sweeps; held-out digits right: mean %.1f of 20\n",
               learned, f.seeds, med, test_digits);
        printf("result: seeds=%d learned=%d median_sweeps=%.0f test_digits_mean=%.1f\n", f.seeds,
               learned, med, test_digits);
    }
    ag_free(errors);
    ag_free(sweeps);
    return status ? 1 : 0;
}
