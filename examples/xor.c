/*
 * xor -- the chapter's XOR: a 2-2-1 sigmoid net (or the chapter's 2-1-1 net with direct
 * input->output links) learns exclusive-or by back-propagation, full batch over the 4 cases,
 * eps = 0.5, alpha = 0.9, initial weights uniform in [-0.3, 0.3]: the chapter's settings.
 * --arch 2-1 has no hidden unit (Minsky and Papert's perceptron: it never learns XOR);
 * --hidden N gives the 2-2-1 net N hidden units (the paper's remark on local minima).
 *
 *   examples/xor                          one run, seed 1
 *   examples/xor --arch 2-1-1-direct --seeds 20
 *   examples/xor --arch 2-1 --seeds 100   none learns
 *   examples/xor --hidden 3 --seeds 100
 *
 * Ends with `result: sweeps=N learned=1|0 arch=...` (one seed) or
 * `result: seeds=N learned=K median_sweeps=M arch=...` (--seeds).
 */
#include "support/cli.h"
#include "paper/paper_xor.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    train_flags f = {.seed = 1, .sweeps = 5000, .lr = 0.5, .momentum = 0.9, .seeds = 1};
    double init = 0.3;
    const char *arch = "2-2-1";
    int hidden = 2;
    const cli_opt opts[] = {
        TRAIN_FLAG_OPTS(f),
        {"--seeds", CLI_INT, &f.seeds, 1, 100000, "run this many seeds (seed, seed+1, ...)"},
        {"--arch", CLI_STRING, &arch, 0, -1,
         "2-2-1, 2-1-1-direct (output also sees the inputs) or 2-1 (no hidden unit)"},
        {"--hidden", CLI_INT, &hidden, 1, 64, "hidden units of the 2-2-1 net (2-N-1)"},
        {"--init", CLI_DOUBLE, &init, 0, 100, "initial weights uniform in [-init, init]"},
    };
    const int nopts = sizeof opts / sizeof opts[0];
    const char *about = "a sigmoid net learns XOR with the paper's momentum rule";
    int st = cli_parse(argc, argv, opts, nopts, about);
    if (st != CLI_CONTINUE) return st;
    xor_config c = {XOR_2_2_1, 0, f.lr, f.momentum, init, f.sweeps, f.quiet, NULL, hidden};
    if (!strcmp(arch, "2-1-1-direct")) c.arch = XOR_2_1_1_DIRECT;
    else if (!strcmp(arch, "2-1")) c.arch = XOR_2_1;
    else if (strcmp(arch, "2-2-1"))
        return cli_error(argv, opts, nopts, about,
                         "--arch: '%s' is not 2-2-1, 2-1-1-direct or 2-1", arch);
    if (hidden != 2 && c.arch != XOR_2_2_1)
        return cli_error(argv, opts, nopts, about, "--hidden: only the 2-2-1 net has a hidden layer to size");
    char arch_name[32];
    if (c.arch == XOR_2_2_1) snprintf(arch_name, sizeof arch_name, "2-%d-1", hidden);
    else snprintf(arch_name, sizeof arch_name, "%s", xor_arch_name(c.arch));

    printf("XOR with a %s sigmoid net: eps = %g, alpha = %g, initial weights in [-%g, %g], "
           "full batch, at most %ld sweeps\n",
           arch_name, c.lr, c.momentum, init, init, c.max_sweeps);
    double *errors = train_alloc_doubles(c.max_sweeps + 1);
    double *sweeps = train_alloc_doubles(f.seeds);
    if (!errors || !sweeps) return 1;
    int learned = 0;
    xor_outcome out = {0};
    for (int s = 0; s < f.seeds; s++) {
        c.seed = (uint64_t)(f.seed + s);
        c.errors = errors;
        if (xor_run(&c, &out) != 0) return 1;
        if (out.learned) sweeps[learned++] = (double)out.run.learned_at;
        if (f.seeds > 1) {
            printf("seed %-6lu %s after %5ld sweeps   outputs %.3f %.3f %.3f %.3f\n",
                   (unsigned long)c.seed, out.learned ? "learned    " : "NOT learned", out.run.sweeps,
                   out.y[0], out.y[1], out.y[2], out.y[3]);
            fflush(stdout); /* one line per seed: the progress of a long run */
        }
    }
    int status = train_write_files(&f, "XOR: error per sweep", errors, out.run.sweeps + 1) ? 1 : 0;
    if (f.seeds == 1) {
        printf("outputs for (0,0) (0,1) (1,0) (1,1): %.3f %.3f %.3f %.3f   E = %.5f\n", out.y[0],
               out.y[1], out.y[2], out.y[3], out.run.error);
        printf("%s after %ld sweeps%s\n", out.learned ? "learned" : "NOT learned", out.run.sweeps,
               c.arch == XOR_2_1_1_DIRECT ? " (the chapter: about 558)" : "");
        printf("result: sweeps=%ld learned=%d arch=%s\n", out.run.sweeps, out.learned ? 1 : 0,
               arch_name);
    } else {
        double med = train_median(sweeps, learned);
        printf("%d of %d seeds learned; median %.0f sweeps among them\n", learned, f.seeds, med);
        printf("result: seeds=%d learned=%d median_sweeps=%.0f arch=%s\n", f.seeds, learned, med,
               arch_name);
    }
    ag_free(errors);
    ag_free(sweeps);
    return status;
}
