/*
 * test_svg.c -- the examples' SVG writer (examples/support/svg): a complete document, one point per
 * plotted value, text escaped; Hinton squares whose AREA is proportional to |w|, white for
 * positive and black for negative; failures reported, not crashed on.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include "support/testutil.h"

#include "examples/support/svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];
static char doc[1 << 16];

static void read_doc(void) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    doc[n] = '\0';
    fclose(f);
    assert_true(n < sizeof doc - 1);
    assert_true(!strncmp(doc, "<?xml", 5));
    assert_non_null(strstr(doc, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_true(n > 7 && !strcmp(doc + n - 7, "</svg>\n"));
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static int setup(void **state) {
    (void)state;
    snprintf(path, sizeof path, "/tmp/backprop-svg-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    remove(path);
    return 0;
}

static void test_line_plot(void **state) {
    (void)state;
    double a[5] = {4, 2, 1, 0.5, 0.25}, b[3] = {3, -1, 2};
    svg_series s[2] = {{"error <E> & more", a, 5, 0}, {"second", b, 3, 10}};
    assert_int_equal(svg_line_plot(path, "title & <this>", "sweeps", "E", s, 2, false), 0);
    read_doc();
    assert_int_equal(count(doc, "<polyline"), 2);
    assert_non_null(strstr(doc, "title &amp; &lt;this&gt;"));
    assert_non_null(strstr(doc, "error &lt;E&gt; &amp; more"));
    /* one "x,y " pair per value in each polyline */
    const char *p = strstr(doc, "<polyline");
    const char *q = strstr(p, "points=\"") + 8, *end = strchr(q, '"');
    int pairs = 0;
    for (const char *c = q; c < end; c++) pairs += *c == ',';
    assert_int_equal(pairs, 5);
    /* log scale: the value <= 0 of the second series is left out */
    assert_int_equal(svg_line_plot(path, "log", "sweeps", "E", s, 2, true), 0);
    read_doc();
    p = strstr(strstr(doc, "<polyline") + 1, "<polyline");
    q = strstr(p, "points=\"") + 8, end = strchr(q, '"');
    pairs = 0;
    for (const char *c = q; c < end; c++) pairs += *c == ',';
    assert_int_equal(pairs, 2);
    assert_non_null(strstr(doc, "(log scale)"));
    /* nothing to plot still gives a valid frame */
    assert_int_equal(svg_line_plot(path, "empty", "x", "y", s, 0, false), 0);
    read_doc();
}

/* The side of the square drawn for the weight in cell (x0, y0), from the rect attributes. */
static double side_at(const char *fill, int index) {
    char key[32];
    snprintf(key, sizeof key, "fill=\"%s\"", fill);
    const char *p = doc;
    for (int i = 0; i <= index; i++) {
        p = strstr(p + 1, key);
        assert_non_null(p);
    }
    const char *rect = p;
    while (rect > doc && strncmp(rect, "<rect", 5)) rect--;
    const char *w = strstr(rect, "width=\"");
    assert_true(w && w < p);
    return strtod(w + 7, NULL);
}

static void test_hinton_area_and_colour(void **state) {
    (void)state;
    const float w[6] = {1.0f, -0.25f, 0.0f, 0.5f, -1.0f, 0.04f};
    const char *rows[2] = {"a", "b"}, *cols[3] = {"x", "y", "z"};
    assert_int_equal(svg_hinton(path, "weights", w, 2, 3, rows, cols, 0), 0);
    read_doc();
    assert_int_equal(count(doc, "fill=\"white\"/>"), 1 + 3); /* the page + 3 positive weights */
    assert_int_equal(count(doc, "fill=\"black\""), 2);
    /* white squares in order: 1.0, 0.5, 0.04; area ~ |w|: side ~ sqrt(|w|) */
    double s1 = side_at("white", 1), s05 = side_at("white", 2), s004 = side_at("white", 3);
    assert_float_equal(s05 * s05 / (s1 * s1), 0.5, 0.01);
    assert_float_equal(s004 * s004 / (s1 * s1), 0.04, 0.01);
    double b025 = side_at("black", 0), b1 = side_at("black", 1);
    assert_float_equal(b025 * b025 / (b1 * b1), 0.25, 0.01);
    assert_float_equal(b1, s1, 1e-9);
    /* a fixed scale caps the squares at a full cell */
    assert_int_equal(svg_hinton(path, "scaled", w, 2, 3, NULL, NULL, 0.5), 0);
    read_doc();
    assert_float_equal(side_at("white", 1), side_at("white", 2), 1e-9);
    /* grouped: one grey ground per block of rows */
    assert_int_equal(svg_hinton_grouped(path, "grouped", w, 2, 3, rows, cols, 0, 1), 0);
    read_doc();
    assert_int_equal(count(doc, "fill=\"#888\""), 2);
    assert_int_equal(svg_hinton_grouped(path, "one block", w, 2, 3, rows, cols, 0, 0), 0);
    read_doc();
    assert_int_equal(count(doc, "fill=\"#888\""), 1);
}

static void test_failures_are_reported(void **state) {
    (void)state;
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w");
    double a[2] = {1, 2};
    svg_series s = {"a", a, 2, 0};
    int r1 = svg_line_plot("/nonexistent/dir/x.svg", "t", "x", "y", &s, 1, false);
    int r2 = svg_hinton(path, "t", NULL, 2, 2, NULL, NULL, 0);
    int r3 = svg_hinton("/nonexistent/dir/x.svg", "t", (const float[]){1}, 1, 1, NULL, NULL, 0);
    fclose(stderr);
    stderr = saved;
    assert_int_equal(r1, -1);
    assert_int_equal(r2, -1);
    assert_int_equal(r3, -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_plot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hinton_area_and_colour, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures_are_reported, setup, teardown),
    };
    return cmocka_run_group_tests_name("svg", tests, NULL, NULL);
}
