/* train.c -- see train.h. */
#include "train.h"

#include "../support/progress.h"
#include "../support/svg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int train_full_batch(ag_tape *t, nn_optim *opt, train_sweep_fn sweep, void *task,
                     const train_opts *o, train_result *r) {
    progress p;
    progress_start(&p, "sweep", o->max_sweeps, o->quiet);
    r->sweeps = 0;
    r->learned_at = -1;
    r->error = 0;
    int status = 0;
    for (long s = 0;; s++) {
        ag_tape_reset(t);
        bool right = false;
        ag_tensor *E = sweep(t, task, &right);
        if (ag_tape_error(t)) {
            fprintf(stderr, "training: %s\n", ag_tape_error(t));
            status = -1;
            break;
        }
        r->error = ag_item(E);
        if (o->errors) o->errors[s] = r->error;
        if (right && r->learned_at < 0) r->learned_at = s;
        progress_update(&p, s, r->error);
        if (s == o->max_sweeps || (right && o->stop_when_learned)) break;
        if (ag_backward(t, E) != 0 || nn_optim_step(opt, t) != 0) {
            fprintf(stderr, "training: %s\n", nn_error(t));
            status = -1;
            break;
        }
        r->sweeps = s + 1;
    }
    ag_tape_reset(t);
    progress_end(&p);
    return status;
}

int train_write_csv(const char *path, const double *errors, long n) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write '%s': %s\n", path, strerror(errno));
        return -1;
    }
    fputs("sweep,error\n", f);
    for (long s = 0; s < n; s++) fprintf(f, "%ld,%.9g\n", s, errors[s]);
    if (ferror(f) | fclose(f)) {
        fprintf(stderr, "error while writing '%s'\n", path);
        return -1;
    }
    return 0;
}

int train_write_curve_svg(const char *path, const char *title, const double *errors, long n) {
    svg_series s = {"error E", errors, (int)n, 0.0};
    return svg_line_plot(path, title, "sweeps", "error E", &s, 1, true);
}

int train_write_files(const train_flags *f, const char *title, const double *errors, long n) {
    int status = 0;
    if (f->csv && train_write_csv(f->csv, errors, n) != 0) status = -1;
    if (f->svg_curve && train_write_curve_svg(f->svg_curve, title, errors, n) != 0) status = -1;
    return status;
}

double *train_alloc_doubles(long n) {
    double *a = n > 0 ? ag_alloc((size_t)n * sizeof *a) : NULL;
    if (!a) fprintf(stderr, "out of memory for %ld values\n", n);
    return a;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double train_median(double *a, int n) {
    if (n <= 0) return 0.0;
    qsort(a, (size_t)n, sizeof *a, cmp_double);
    return n % 2 ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2]);
}
