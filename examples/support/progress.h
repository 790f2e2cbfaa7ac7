/*
 * progress.h -- progress of long runs: after the first second, the step, the error and the
 * rate, on one updating line when stdout is a terminal and as plain lines (one every few
 * seconds) otherwise. Off when quiet.
 */
#ifndef BACKPROP_EXAMPLES_PROGRESS_H
#define BACKPROP_EXAMPLES_PROGRESS_H

#include <stdbool.h>

typedef struct {
    bool quiet, tty, shown;
    long total;        /* steps planned (0 if unknown) */
    const char *unit;  /* "sweep", "epoch", "step" */
    double start, last; /* seconds */
} progress;

double progress_now(void); /* seconds on a monotonic-enough clock */
void progress_start(progress *p, const char *unit, long total, bool quiet);
/* Report that `done` steps are finished and the error is `error` (cheap when nothing prints). */
void progress_update(progress *p, long done, double error);
/* Finish: clears the updating line on a terminal. */
void progress_end(progress *p);

#endif
