/* progress.c -- see progress.h. */
#define _POSIX_C_SOURCE 200809L /* isatty, fileno, clock_gettime */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double progress_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_start(progress *p, const char *unit, long total, bool quiet) {
    p->quiet = quiet;
    p->tty = isatty(fileno(stdout)) != 0;
    p->shown = false;
    p->total = total;
    p->unit = unit;
    p->start = p->last = progress_now();
}

void progress_update(progress *p, long done, double error) {
    if (p->quiet) return;
    double now = progress_now();
    double every = p->tty ? 0.2 : 5.0;
    if (now - p->start < 1.0 || now - p->last < every) return;
    p->last = now;
    double rate = done / (now - p->start);
    char total[32] = "";
    if (p->total > 0) snprintf(total, sizeof total, "/%ld", p->total);
    printf("%s%s %ld%s  error %.6g  (%.0f %s per second)%s", p->tty ? "\r" : "", p->unit, done,
           total, error, rate, p->unit, p->tty ? "   " : "\n");
    fflush(stdout);
    p->shown = true;
}

void progress_end(progress *p) {
    if (p->quiet || !p->shown || !p->tty) return;
    printf("\r%60s\r", "");
    fflush(stdout);
}
