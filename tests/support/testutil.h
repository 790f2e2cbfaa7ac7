/*
 * testutil.h -- helpers shared by the test suites: a seeded generator, parameter makers, a
 * counting/failing allocator, and comparisons.
 */
#ifndef BACKPROP_TESTUTIL_H
#define BACKPROP_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "backprop.h"

/* A small deterministic generator (splitmix64) so every run sees the same numbers. */
typedef struct { uint64_t s; } tu_rng;
double tu_uniform(tu_rng *r, double lo, double hi);

/* A user-owned parameter (requires grad) of the given shape with values uniform in [lo, hi]. */
ag_tensor *tu_param(tu_rng *r, int ndim, const int *shape, double lo, double hi);
/* The same, but each value's magnitude is in [lo, hi] and its sign random (away from 0). */
ag_tensor *tu_param_away(tu_rng *r, int ndim, const int *shape, double lo, double hi);
/* A tape constant of the given shape with values uniform in [lo, hi]. */
ag_tensor *tu_const(ag_tape *t, tu_rng *r, int ndim, const int *shape, double lo, double hi);

/* Assert x holds exactly `n` values close to want[] (|diff| <= tol * max(1, |want|)). */
void tu_assert_values(const ag_tensor *x, const float *want, int n, double tol);
/* Assert x's shape is the given one. */
void tu_assert_shape(const ag_tensor *x, int ndim, const int *shape);
/* Assert the tape failed with a message containing `part`. */
void tu_assert_error(const ag_tape *t, const char *part);

/* A counting allocator: every call goes through it once installed; fail_at = N makes the Nth
 * allocation from now on fail (0 = never). */
typedef struct {
    long allocs, frees, outstanding_bytes, outstanding_blocks;
    long fail_at, calls_since_arm;
    long failures;
} tu_alloc_stats;
extern tu_alloc_stats tu_alloc;
void tu_alloc_install(void);   /* reset the counters and install */
void tu_alloc_uninstall(void); /* back to malloc/free */
void tu_alloc_fail_at(long n); /* the nth allocation from now fails; 0 disables */

/* All-or-nothing creation under every allocation failure: for N = 1, 2, ... make the Nth
 * allocation fail and call make(ps, rng, &creations_failed) on a fresh list (make returns 0 when
 * it ends with every parameter made, retrying what failed, and counts the creations that failed);
 * assert that exactly the failed allocations made creations fail and that nothing leaks, until a
 * run with no failure. Returns that N: the number of allocations a whole run makes, plus one. */
typedef int (*tu_make_fn)(nn_params *ps, nn_rng *rng, int *creations_failed);
long tu_every_allocation_fails(tu_make_fn make);

/* A fresh directory /tmp/TAG.XXXXXX for a suite's files, its name written to dir (size bytes);
 * returns 0, or -1 when it cannot be made. tu_tmpdir_remove deletes it with all it holds. */
int tu_tmpdir_make(char *dir, size_t size, const char *tag);
int tu_tmpdir_remove(const char *dir);

/* The whole of a file, or of a stream to its end, as a NUL-terminated string (free it). Fail
 * the test when the file cannot be opened (tests run from the top of the source tree). */
char *tu_read_text(const char *path);
char *tu_read_stream(FILE *f);

/* Append to names[n..max-1] every function declared in the C header at path whose name starts
 * with ag_ or nn_ (comments, preprocessor lines, C++ guards, typedefs and struct bodies are
 * skipped); returns the new count. Fails the test when the file cannot be read. */
int tu_declared_functions(const char *path, char names[][64], int n, int max);

#endif
