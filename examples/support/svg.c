/* svg.c -- see svg.h. */
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static FILE *open_svg(const char *path, int width, int height) {
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f) {
        fprintf(stderr, "svg: cannot write '%s': %s\n", path ? path : "(null)",
                path ? strerror(errno) : "no path");
        return NULL;
    }
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\">\n",
            width, height, width, height);
    return f;
}

static int close_svg(FILE *f, const char *path) {
    fputs("</svg>\n", f);
    if (ferror(f) | fclose(f)) {
        fprintf(stderr, "svg: error while writing '%s'\n", path);
        return -1;
    }
    return 0;
}

/* Text with &, < and > escaped. */
static void put_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        if (*s == '&') fputs("&amp;", f);
        else if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else fputc(*s, f);
    }
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about `want` ticks over span. */
static double nice_step(double span, int want) {
    double raw = span / want, p = pow(10.0, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

int svg_line_plot(const char *path, const char *title, const char *xlabel, const char *ylabel,
                  const svg_series *series, int nseries, bool log_y) {
    static const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
    const int W = 720, H = 440, L = 80, R = 30, T = 50, B = 60;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int s = 0; s < nseries; s++)
        for (int i = 0; i < series[s].n; i++) {
            double y = series[s].y[i];
            if (!isfinite(y) || (log_y && y <= 0)) continue;
            y = log_y ? log10(y) : y;
            xmin = fmin(xmin, series[s].x0 + i);
            xmax = fmax(xmax, series[s].x0 + i);
            ymin = fmin(ymin, y);
            ymax = fmax(ymax, y);
        }
    if (!(xmin <= xmax)) { /* nothing to plot: an empty frame still renders */
        xmin = 0, xmax = 1, ymin = 0, ymax = 1;
    }
    if (xmax == xmin) xmax = xmin + 1;
    if (ymax == ymin) ymax = ymin + 1, ymin -= 1;
    if (log_y) ymin = floor(ymin), ymax = ceil(ymax);
    FILE *f = open_svg(path, W, H);
    if (!f) return -1;
    const double pw = W - L - R, ph = H - T - B;
#define PX(x) (L + ((x) - xmin) / (xmax - xmin) * pw)
#define PY(y) (T + ph - ((y) - ymin) / (ymax - ymin) * ph)
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"28\" font-size=\"18\" text-anchor=\"middle\">", W / 2);
    put_text(f, title);
    fputs("</text>\n", f);
    /* grid and ticks */
    double xs = nice_step(xmax - xmin, 8), ys = log_y ? 1.0 : nice_step(ymax - ymin, 6);
    fputs("<g font-size=\"12\" fill=\"#333\">\n", f);
    for (double x = ceil(xmin / xs) * xs; x <= xmax + 1e-9 * xs; x += xs)
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                PX(x), T, PX(x), T + ph, PX(x), T + ph + 18, x);
    for (double y = ceil(ymin / ys) * ys; y <= ymax + 1e-9 * ys; y += ys) {
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", L,
                PY(y), L + pw, PY(y));
        if (log_y) fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">1e%g</text>\n", L - 6, PY(y) + 4, y);
        else fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L - 6, PY(y) + 4, fabs(y) < 1e-12 * ys ? 0.0 : y);
    }
    fputs("</g>\n", f);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#333\"/>\n",
            L, T, pw, ph);
    fprintf(f, "<text x=\"%.0f\" y=\"%d\" font-size=\"14\" text-anchor=\"middle\">", L + pw / 2, H - 15);
    put_text(f, xlabel);
    fprintf(f, "</text>\n<text x=\"18\" y=\"%.0f\" font-size=\"14\" text-anchor=\"middle\" "
               "transform=\"rotate(-90 18 %.0f)\">", T + ph / 2, T + ph / 2);
    put_text(f, ylabel);
    if (log_y) fputs(" (log scale)", f);
    fputs("</text>\n", f);
    /* the curves, then the legend */
    for (int s = 0; s < nseries; s++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"",
                colors[s % 6]);
        for (int i = 0; i < series[s].n; i++) {
            double y = series[s].y[i];
            if (!isfinite(y) || (log_y && y <= 0)) continue;
            fprintf(f, "%.1f,%.1f ", PX(series[s].x0 + i), PY(log_y ? log10(y) : y));
        }
        fputs("\"/>\n", f);
        fprintf(f, "<rect x=\"%.0f\" y=\"%d\" width=\"14\" height=\"4\" fill=\"%s\"/>"
                   "<text x=\"%.0f\" y=\"%d\" font-size=\"13\">",
                L + pw - 170, T + 14 + 18 * s, colors[s % 6], L + pw - 150, T + 20 + 18 * s);
        put_text(f, series[s].label);
        fputs("</text>\n", f);
    }
#undef PX
#undef PY
    return close_svg(f, path);
}

/* Widest of the labels, in characters. */
static int longest(const char *const *labels, int n) {
    int m = 0;
    for (int i = 0; labels && i < n; i++)
        if (labels[i] && (int)strlen(labels[i]) > m) m = (int)strlen(labels[i]);
    return m;
}

int svg_hinton(const char *path, const char *title, const float *w, int rows, int cols,
               const char *const *row_labels, const char *const *col_labels, double max_abs) {
    return svg_hinton_grouped(path, title, w, rows, cols, row_labels, col_labels, max_abs, 0);
}

int svg_hinton_grouped(const char *path, const char *title, const float *w, int rows, int cols,
                       const char *const *row_labels, const char *const *col_labels,
                       double max_abs, int group) {
    if (!w || rows < 1 || cols < 1) {
        fprintf(stderr, "svg_hinton: no matrix to draw\n");
        return -1;
    }
    if (max_abs <= 0)
        for (int i = 0; i < rows * cols; i++) max_abs = fmax(max_abs, fabs(w[i]));
    if (max_abs <= 0) max_abs = 1;
    /* Sizes: about 7 px per character of 12 px text. Column labels are turned 60 degrees, so
     * they rise by sin 60 and lean right by cos 60 of their length. */
    const int cell = 28, gap = group > 0 ? 10 : 0, ngaps = group > 0 ? (rows - 1) / group : 0;
    const int rlab = longest(row_labels, rows) * 7, clab = longest(col_labels, cols) * 7;
    const int left = 20 + (rlab ? rlab + 10 : 0), top = 50 + (clab ? clab * 87 / 100 + 10 : 0);
    int W = left + cols * cell + 20 + clab / 2, H = top + rows * cell + ngaps * gap + 20;
    const int title_w = (int)(title ? strlen(title) : 0) * 9 + 40;
    if (W < title_w) W = title_w;
    FILE *f = open_svg(path, W, H);
    if (!f) return -1;
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"26\" font-size=\"16\" text-anchor=\"middle\">", W / 2);
    put_text(f, title);
    fputs("</text>\n", f);
    for (int r = 0; r < rows; r++) {
        const int y0 = top + r * cell + (group > 0 ? r / group : 0) * gap;
        if (group > 0 ? r % group == 0 : r == 0) { /* the grey ground of this block of rows */
            int n = group > 0 ? (rows - r < group ? rows - r : group) : rows;
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#888\"/>\n",
                    left, y0, cols * cell, n * cell);
        }
        if (row_labels && row_labels[r]) {
            fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"end\">", left - 6,
                    y0 + cell / 2 + 4);
            put_text(f, row_labels[r]);
            fputs("</text>\n", f);
        }
        for (int c = 0; c < cols; c++) {
            double v = w[r * cols + c], side = (cell - 2) * sqrt(fmin(fabs(v) / max_abs, 1.0));
            if (side < 0.5) continue;
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n",
                    left + c * cell + (cell - side) / 2, y0 + (cell - side) / 2, side, side,
                    v > 0 ? "white" : "black");
        }
    }
    for (int c = 0; col_labels && c < cols; c++) {
        if (!col_labels[c]) continue;
        double x = left + c * cell + cell / 2 + 4, y = top - 6;
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" transform=\"rotate(-60 %.0f %.0f)\">",
                x, y, x, y);
        put_text(f, col_labels[c]);
        fputs("</text>\n", f);
    }
    return close_svg(f, path);
}
