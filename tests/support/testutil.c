/* testutil.c -- see testutil.h. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double tu_uniform(tu_rng *r, double lo, double hi) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * ((double)(z >> 11) / 9007199254740992.0);
}

ag_tensor *tu_param(tu_rng *r, int ndim, const int *shape, double lo, double hi) {
    ag_tensor *x = ag_tensor_new(ndim, shape, true);
    assert_non_null(x);
    for (int i = 0; i < x->numel; i++) x->data[i] = (float)tu_uniform(r, lo, hi);
    return x;
}

ag_tensor *tu_param_away(tu_rng *r, int ndim, const int *shape, double lo, double hi) {
    ag_tensor *x = tu_param(r, ndim, shape, lo, hi);
    for (int i = 0; i < x->numel; i++)
        if (tu_uniform(r, 0, 1) < 0.5) x->data[i] = -x->data[i];
    return x;
}

ag_tensor *tu_const(ag_tape *t, tu_rng *r, int ndim, const int *shape, double lo, double hi) {
    ag_tensor *x = ag_tape_tensor(t, ndim, shape, NULL);
    assert_non_null(x);
    for (int i = 0; i < x->numel; i++) x->data[i] = (float)tu_uniform(r, lo, hi);
    return x;
}

void tu_assert_values(const ag_tensor *x, const float *want, int n, double tol) {
    assert_non_null(x);
    assert_int_equal(x->numel, n);
    for (int i = 0; i < n; i++) {
        double d = fabs((double)x->data[i] - want[i]);
        if (!(d <= tol * fmax(1.0, fabs(want[i])))) {
            print_error("value %d: got %.9g, want %.9g\n", i, x->data[i], want[i]);
            fail();
        }
    }
}

void tu_assert_shape(const ag_tensor *x, int ndim, const int *shape) {
    assert_non_null(x);
    assert_int_equal(x->ndim, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(x->shape[i], shape[i]);
}

void tu_assert_error(const ag_tape *t, const char *part) {
    const char *e = ag_tape_error(t);
    if (!e || !strstr(e, part)) {
        print_error("tape error: %s\nexpected it to contain: %s\n", e ? e : "(none)", part);
        fail();
    }
}

/* ---- the counting allocator --------------------------------------------------------------- */

tu_alloc_stats tu_alloc;

static void *count_alloc(size_t size, void *ctx) {
    (void)ctx;
    tu_alloc.calls_since_arm++;
    if (tu_alloc.fail_at > 0 && tu_alloc.calls_since_arm == tu_alloc.fail_at) {
        tu_alloc.failures++;
        return NULL;
    }
    void *p = malloc(size);
    if (p) {
        tu_alloc.allocs++;
        tu_alloc.outstanding_blocks++;
        tu_alloc.outstanding_bytes += (long)size;
    }
    return p;
}

static void count_release(void *p, size_t size, void *ctx) {
    (void)ctx;
    if (!p) return;
    tu_alloc.frees++;
    tu_alloc.outstanding_blocks--;
    tu_alloc.outstanding_bytes -= (long)size;
    free(p);
}

void tu_alloc_install(void) {
    memset(&tu_alloc, 0, sizeof tu_alloc);
    ag_set_allocator(count_alloc, count_release, NULL);
}

void tu_alloc_uninstall(void) { ag_set_allocator(NULL, NULL, NULL); }

void tu_alloc_fail_at(long n) {
    tu_alloc.fail_at = n;
    tu_alloc.calls_since_arm = 0;
}

int tu_tmpdir_make(char *dir, size_t size, const char *tag) {
    if (snprintf(dir, size, "/tmp/%s.XXXXXX", tag) >= (int)size) return -1;
    return mkdtemp(dir) ? 0 : -1;
}

int tu_tmpdir_remove(const char *dir) {
    char cmd[256];
    if (snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir) >= (int)sizeof cmd) return -1;
    return system(cmd) == 0 ? 0 : -1;
}

char *tu_read_stream(FILE *f) {
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    for (size_t got; (got = fread(s + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (n + 1 == cap) {
            cap *= 2;
            s = realloc(s, cap);
            assert_non_null(s);
        }
    }
    s[n] = '\0';
    return s;
}

char *tu_read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_error("cannot open %s (run the tests from the top of the source tree)\n", path);
        fail();
    }
    char *s = tu_read_stream(f);
    fclose(f);
    return s;
}

long tu_every_allocation_fails(tu_make_fn make) {
    long n;
    for (n = 1; n < 10000; n++) {
        tu_alloc_install();
        tu_alloc_fail_at(n);
        nn_params *ps = nn_params_new();
        nn_rng r = nn_rng_seed(1);
        int creations_failed = 0;
        if (!ps) {
            assert_int_equal(tu_alloc.failures, 1);
        } else {
            assert_int_equal(make(ps, &r, &creations_failed), 0);
            assert_int_equal(creations_failed, (int)tu_alloc.failures);
        }
        nn_params_free(ps);
        assert_int_equal(tu_alloc.outstanding_blocks, 0);
        if (tu_alloc.failures == 0) break;
    }
    tu_alloc_uninstall();
    return n;
}
