/*
 * svg.h -- plots without dependencies: a line plot (error per sweep, accuracy per epoch) and a
 * Hinton diagram (the paper's figure 4), written as standalone SVG files.
 */
#ifndef BACKPROP_EXAMPLES_SVG_H
#define BACKPROP_EXAMPLES_SVG_H

#include <stdbool.h>

/* One curve: y[0..n-1] plotted at x = x0, x0 + 1, ... (e.g. sweeps 1..n). */
typedef struct {
    const char *label;
    const double *y;
    int n;
    double x0;
} svg_series;

/* A line plot of the series, with axes, ticks, a title and a legend; log_y plots log10(y)
 * (values <= 0 are left out). Returns 0, or -1 after printing why to stderr. */
int svg_line_plot(const char *path, const char *title, const char *xlabel, const char *ylabel,
                  const svg_series *series, int nseries, bool log_y);

/* A Hinton diagram of a (rows, cols) row-major matrix: one square per weight, its area
 * proportional to |w| / max_abs (max_abs <= 0: the largest |w|), white for positive and black
 * for negative, on a grey ground. Labels may be NULL. Returns 0 or -1. */
int svg_hinton(const char *path, const char *title, const float *w, int rows, int cols,
               const char *const *row_labels, const char *const *col_labels, double max_abs);

/* The same with a gap after every `group` rows (group <= 0: none), e.g. group = 2 to show
 * each hidden unit as a block of two rows, as the paper's figure 4 does. */
int svg_hinton_grouped(const char *path, const char *title, const float *w, int rows, int cols,
                       const char *const *row_labels, const char *const *col_labels,
                       double max_abs, int group);

#endif
