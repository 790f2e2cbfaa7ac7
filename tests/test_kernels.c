/*
 * test_kernels.c -- every kernel table this CPU can run (generic, and on x86-64 AVX2 and
 * AVX-512 when present) against plain scalar reference loops: the matrix product in all its
 * forms and sizes, the vector exp/sigmoid/tanh against libm (within a few ulp, with the IEEE
 * edge cases), and the elementwise loops at every length around the vector width (the partial
 * vectors must neither miss an element nor write past the end), also where an operand ends a
 * page that is followed by an unreadable one.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "support/testutil.h"

#include "kernels.h"

#include <math.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static const char *const isas[] = {"generic", "avx2", "avx512"};

/* Run body for every table this CPU supports; restores the default table afterwards. */
#define FOR_EACH_TABLE(k)                                                                       \
    for (int isa_ = 0; isa_ < 3; isa_++)                                                        \
        for (const ag_kernel_table *k = ag_kernels_select(isas[isa_]); k; k = NULL)

static void restore_default(void) { assert_non_null(ag_kernels_select(NULL)); }

static void fill(tu_rng *r, float *x, long n, double lo, double hi) {
    for (long i = 0; i < n; i++) x[i] = (float)tu_uniform(r, lo, hi);
}

static void test_generic_is_always_there(void **state) {
    (void)state;
    const ag_kernel_table *k = ag_kernels_select("generic");
    assert_non_null(k);
    assert_string_equal(k->name, "generic");
    assert_null(ag_kernels_select("no-such-instruction-set"));
    assert_ptr_equal(ag_kernels(), k); /* a failed request left the table alone */
    restore_default();
}

/* ---- the matrix product against a double-precision loop ------------------------------------ */

static void test_gemm_matches_reference(void **state) {
    (void)state;
    static const int shapes[][3] = {{1, 1, 1},  {3, 1, 7},   {1, 9, 4},    {5, 7, 3},
                                    {64, 2, 6}, {100, 6, 24}, {6, 24, 100}, {37, 41, 43},
                                    {1, 100, 100}, {64, 64, 64}, {129, 257, 300}, {9, 600, 33},
                                    {200, 12, 400},
                                    /* narrow last panels (see test_packed_products_are_fma_chains) */
                                    {131, 10, 300}, {37, 12, 100}, {45, 20, 70}, {64, 5, 128},
                                    {70, 26, 30}, {33, 56, 40}, {17, 24, 200}, {50, 14, 60}};
    tu_rng r = {3};
    FOR_EACH_TABLE(k) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
            float *C0 = malloc(sizeof(float) * M * N), *C = malloc(sizeof(float) * (M * N + 1));
            size_t need = ag_gemm_scratch(M, N, K, 1);
            float *scratch = ag_alloc((need + 1) * sizeof(float));
            assert_true(A && B && C0 && C && scratch);
            fill(&r, A, (long)M * K, -1, 1);
            fill(&r, B, (long)K * N, -1, 1);
            fill(&r, C0, (long)M * N, -1, 1);
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++)
                    for (int acc = 0; acc < 2; acc++) {
                        memcpy(C, C0, sizeof(float) * M * N);
                        C[M * N] = 12345.0f; /* a canary past the end */
                        ag_gemm(M, N, K, A, ta, B, tb, C, acc, scratch, need);
                        assert_true(C[M * N] == 12345.0f);
                        for (int i = 0; i < M; i++)
                            for (int j = 0; j < N; j++) {
                                double want = acc ? C0[(long)i * N + j] : 0.0;
                                for (int q = 0; q < K; q++)
                                    want += (double)(ta ? A[(long)q * M + i] : A[(long)i * K + q]) *
                                            (tb ? B[(long)j * K + q] : B[(long)q * N + j]);
                                double got = C[(long)i * N + j];
                                if (!(fabs(got - want) <= 1e-5 * (K + 1))) {
                                    print_error("%s (%d,%d,%d) ta=%d tb=%d acc=%d: C[%d,%d] = %.9g, "
                                                "want %.9g\n",
                                                k->name, M, N, K, ta, tb, acc, i, j, got, want);
                                    fail();
                                }
                            }
                    }
            free(A), free(B), free(C0), free(C);
            ag_free(scratch);
        }
    }
    restore_default();
}

/* ---- exp, sigmoid, tanh against libm -------------------------------------------------------- */

static double ulps(float got, double want) {
    if (isnan(want)) return isnan(got) ? 0 : INFINITY;
    if (isinf((float)want)) return got == (float)want ? 0 : INFINITY; /* overflows a float */
    if (fabs(want) < 1.17549435e-38) /* a subnormal result: within the smallest normal float */
        return fabs(got - want) <= 1.17549435e-38 ? 0 : INFINITY;
    double unit = fmax(fabs(want), 1.17549435e-38) * 5.9604645e-8; /* half an ulp of a float */
    return fabs(got - want) / (2 * unit);
}

typedef void (*map_fn)(long n, const float *x, float *y);

/* Worst error in ulp of kernel f against reference g over xs; also returns the element. */
static double worst_ulps(map_fn f, double (*g)(double), const float *xs, int n, int *at) {
    float *y = malloc(sizeof(float) * n);
    assert_non_null(y);
    f(n, xs, y);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double u = ulps(y[i], g((double)xs[i]));
        if (u > worst) worst = u, *at = i;
    }
    free(y);
    return worst;
}

static double sigmoid_ref(double x) { return 1.0 / (1.0 + exp(-x)); }

static void test_vector_maths_matches_libm(void **state) {
    (void)state;
    enum { N = 20000 };
    static float xs[N];
    tu_rng r = {5};
    for (int i = 0; i < N; i++) xs[i] = (float)tu_uniform(&r, -110, 95);
    for (int i = 0; i < 2000; i++) xs[i] = (float)tu_uniform(&r, -1, 1); /* tanh's small range */
    const float edge[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 0.625f, -0.625f, 88.7f, 88.8f, 89.0f,
                          -87.3f, -87.4f, -100.0f, -103.9f, -104.5f, 1e4f, -1e4f, INFINITY,
                          -INFINITY, NAN};
    memcpy(xs + 2000, edge, sizeof edge);
    FOR_EACH_TABLE(k) {
        int at = 0;
        double e = worst_ulps(k->exp, exp, xs, N, &at);
        if (e > 4) print_error("%s exp(%.9g): %.1f ulp\n", k->name, xs[at], e), fail();
        e = worst_ulps(k->sigmoid, sigmoid_ref, xs, N, &at);
        if (e > 4) print_error("%s sigmoid(%.9g): %.1f ulp\n", k->name, xs[at], e), fail();
        e = worst_ulps(k->tanh, tanh, xs, N, &at);
        if (e > 4) print_error("%s tanh(%.9g): %.1f ulp\n", k->name, xs[at], e), fail();
        /* exact edge values */
        float in[6] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 1e4f}, out[6];
        k->exp(6, in, out);
        assert_true(out[0] == INFINITY && out[1] == 0.0f && isnan(out[2]) && out[3] == 1.0f);
        k->sigmoid(6, in, out);
        assert_true(out[0] == 1.0f && out[1] == 0.0f && isnan(out[2]) && out[3] == 0.5f);
        k->tanh(6, in, out);
        assert_true(out[0] == 1.0f && out[1] == -1.0f && isnan(out[2]) && out[3] == 0.0f);
        assert_true(signbit(out[4]) && out[5] == 1.0f); /* tanh(-0) = -0 */
    }
    restore_default();
}

/* ---- the elementwise loops at every length around the vector width -------------------------- */

static void test_elementwise_loops(void **state) {
    (void)state;
    enum { MAX = 70 };
    tu_rng r = {9};
    FOR_EACH_TABLE(k) {
        for (int n = 1; n <= MAX; n++) {
            float x[MAX + 1], u[MAX + 1], y0[MAX + 1], y[MAX + 1];
            fill(&r, x, n, -3, 3);
            fill(&r, u, n, -3, 3);
            fill(&r, y0, MAX + 1, -3, 3); /* all of it: the taps' check below reads past n */
            x[n] = u[n] = y0[n] = 777.0f;
            /* each kernel against its formula, and nothing written past n */
#define CHECK(CALL, FORMULA, TOL)                                                               \
    do {                                                                                        \
        memcpy(y, y0, sizeof y);                                                                \
        CALL;                                                                                   \
        assert_true(y[n] == 777.0f);                                                            \
        for (int i = 0; i < n; i++) {                                                           \
            double want = (FORMULA);                                                            \
            if (!(fabs(y[i] - want) <= (TOL) * fmax(1.0, fabs(want)))) {                        \
                print_error("%s %s n=%d i=%d: %.9g, want %.9g\n", k->name, #CALL, n, i, y[i], want); \
                fail();                                                                         \
            }                                                                                   \
        }                                                                                       \
    } while (0)
            CHECK(k->relu(n, x, y), x[i] > 0 ? x[i] : 0, 0);
            CHECK(k->copy(n, x, y), x[i], 0);
            CHECK(k->add(n, x, u, y), (double)x[i] + u[i], 1e-7);
            CHECK(k->acc(n, x, y), (double)y0[i] + x[i], 1e-7);
            CHECK(k->sigmoid_vjp(n, x, u, y), y0[i] + (double)u[i] * x[i] * (1 - x[i]), 1e-6);
            CHECK(k->tanh_vjp(n, x, u, y), y0[i] + (double)u[i] * (1 - (double)x[i] * x[i]), 1e-6);
            CHECK(k->relu_vjp(n, x, u, y), y0[i] + (x[i] > 0 ? u[i] : 0), 1e-7);
            CHECK(k->relu_vjp_set(n, x, u, y), x[i] > 0 ? u[i] : 0, 0);
            CHECK(k->diff_acc(n, 0.5f, x, u, y, true), y0[i] + 0.5 * ((double)x[i] - u[i]), 1e-6);
            CHECK(k->diff_acc(n, 0.5f, x, u, y, false), 0.5 * ((double)x[i] - u[i]), 1e-6);
            /* rows of n columns: a row vector added to each, and column sums */
            const int rows = 3;
            float a[3 * MAX], o[3 * MAX + 1];
            fill(&r, a, rows * n, -3, 3);
            o[rows * n] = 777.0f;
            k->add_row(rows, n, a, x, o);
            assert_true(o[rows * n] == 777.0f);
            for (int i = 0; i < rows * n; i++) assert_true(fabs(o[i] - (a[i] + x[i % n])) < 1e-6);
            CHECK(k->acc_colsum(rows, n, a, y), (double)y0[i] + a[i] + a[n + i] + a[2 * n + i], 1e-6);
            /* a block of n columns out of rows of 2n+1, and back, adding */
            float wide[3 * (2 * MAX + 1)], blk[3 * MAX + 1];
            for (int i = 0; i < rows * (2 * n + 1); i++) wide[i] = (float)i;
            blk[rows * n] = 777.0f;
            k->copy_rows(rows, n, wide + 1, 2 * n + 1, blk, n, false);
            assert_true(blk[rows * n] == 777.0f);
            for (int q = 0; q < rows; q++)
                for (int i = 0; i < n; i++) assert_true(blk[q * n + i] == wide[q * (2 * n + 1) + 1 + i]);
            k->copy_rows(rows, n, wide + 1, 2 * n + 1, blk, n, true); /* added into the block */
            assert_true(blk[rows * n] == 777.0f);
            for (int q = 0; q < rows; q++)
                for (int i = 0; i < n; i++)
                    assert_true(blk[q * n + i] == 2.0f * wide[q * (2 * n + 1) + 1 + i]);
            k->copy_rows(rows, n, wide + 1, 2 * n + 1, blk, n, false);
            k->copy_rows(rows, n, blk, n, wide + 1, 2 * n + 1, true);
            for (int q = 0; q < rows; q++) {
                assert_true(wide[q * (2 * n + 1)] == (float)(q * (2 * n + 1))); /* untouched */
                for (int i = 0; i < n; i++) {
                    const int at = q * (2 * n + 1) + 1 + i;
                    assert_true(wide[at] == 2.0f * (float)at);
                }
                for (int i = n + 1; i < 2 * n + 1; i++)
                    assert_true(wide[q * (2 * n + 1) + i] == (float)(q * (2 * n + 1) + i));
            }
            /* col2im's taps: 3 rows of `len` values added into y shifted by 0, dil, 2*dil, in
             * that order (the same bits as adding them one by one), nothing written past */
            for (int dil = 1; dil <= 2; dil++) {
                const int len = n / 2 + 1, span = len + 2 * dil, ldx = len + 3;
                if (span > MAX) continue;
                float src[3 * (MAX + 3)];
                fill(&r, src, 3 * ldx, -3, 3);
                memcpy(y, y0, sizeof y);
                y[span] = 777.0f;
                k->taps_acc(span, 3, dil, len, src, ldx, y);
                assert_true(y[span] == 777.0f);
                for (int i = 0; i < span; i++) {
                    float want = y0[i];
                    for (int t = 0; t < 3; t++)
                        if (i - t * dil >= 0 && i - t * dil < len) want += src[t * ldx + i - t * dil];
                    assert_true(y[i] == want);
                }
            }
            double s = 0;
            for (int i = 0; i < n; i++) s += (double)(x[i] - u[i]) * (x[i] - u[i]);
            assert_true(fabs(k->sqdiff_sum(n, x, u) - s) <= 1e-9 * s);
#undef CHECK
        }
    }
    restore_default();
}

/* ---- the fused dense layer's epilogue ---------------------------------------------------------
 * bias_act takes a (rows, cols) block as one flat array with the bias laid out over the period
 * lcm(cols, vector width) (the bias row itself when cols is a multiple of the width), or row by
 * row when that period is too long (cols 65 on every table): every path must give the bits of
 * add_row followed by the activation's own kernel, and write nothing past the block. */

static void test_bias_act_is_add_row_then_activation(void **state) {
    (void)state;
    enum { MAXC = 70, MAXR = 5 };
    tu_rng r = {41};
    static float y0[MAXR * MAXC + 1], y[MAXR * MAXC + 1], want[MAXR * MAXC], b[MAXC];
    FOR_EACH_TABLE(k) {
        const map_fn acts[] = {NULL, k->sigmoid, k->tanh, k->relu}; /* by ag_act: identity first */
        for (int cols = 1; cols <= MAXC; cols++)
            for (int rows = 1; rows <= MAXR; rows++)
                for (int act = AG_ACT_IDENTITY; act <= AG_ACT_RELU; act++)
                    for (int with_b = 0; with_b < 2; with_b++) {
                        const int n = rows * cols;
                        fill(&r, y0, n, -6, 6);
                        fill(&r, b, cols, -2, 2);
                        if (with_b) k->add_row(rows, cols, y0, b, want);
                        else memcpy(want, y0, sizeof(float) * n);
                        if (acts[act]) acts[act](n, want, want);
                        memcpy(y, y0, sizeof(float) * n);
                        y[n] = 777.0f;
                        k->bias_act(rows, cols, with_b ? b : NULL, (ag_act)act, y);
                        assert_true(y[n] == 777.0f);
                        if (memcmp(y, want, sizeof(float) * n)) {
                            print_error("%s bias_act rows %d cols %d act %d bias %d differs\n",
                                        k->name, rows, cols, act, with_b);
                            fail();
                        }
                    }
    }
    restore_default();
}

/* Column sums over enough rows that narrow rows (cols below the vector width) run whole
 * periods of phases in registers, then a ragged rest: every column against a double sum,
 * nothing written past y's end. */
static void test_column_sums_over_many_rows(void **state) {
    (void)state;
    enum { MAXC = 20, MAXR = 41 };
    tu_rng r = {43};
    static float x[MAXR * MAXC], y0[MAXC + 1], y[MAXC + 1];
    FOR_EACH_TABLE(k) {
        for (int cols = 1; cols <= MAXC; cols++)
            for (int rows = 1; rows <= MAXR; rows += 4) {
                fill(&r, x, rows * cols, -3, 3);
                fill(&r, y0, cols, -3, 3);
                memcpy(y, y0, sizeof(float) * cols);
                y[cols] = 777.0f;
                k->acc_colsum(rows, cols, x, y);
                assert_true(y[cols] == 777.0f);
                for (int j = 0; j < cols; j++) {
                    double want = y0[j];
                    for (int i = 0; i < rows; i++) want += x[i * cols + j];
                    if (!(fabs(y[j] - want) <= 1e-5 * (rows + 1))) {
                        print_error("%s acc_colsum rows %d cols %d: y[%d] = %.9g, want %.9g\n",
                                    k->name, rows, cols, j, y[j], want);
                        fail();
                    }
                }
            }
    }
    restore_default();
}

/* ---- operands that end a page ---------------------------------------------------------------
 * A ragged end is finished by a masked move (or lane by lane), never by a whole vector that
 * would reach past the data. Here every operand ends exactly where an unreadable page begins:
 * nothing may touch that page, and the results must be bit-identical to the same call on
 * operands in ordinary memory. */

static void test_operands_ending_a_page(void **state) {
    (void)state;
    const long page = sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, (size_t)(2 * page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(mprotect(map + page, (size_t)page, PROT_NONE), 0);
#define AT_END(n) ((float *)(map + page) - (n)) /* the last n floats before the guard page */
    tu_rng r = {21};
    FOR_EACH_TABLE(k) {
        for (int n = 1; n <= 40; n++) {
            float x[40], y[40], s[40];
            fill(&r, x, n, -3, 3);
            fill(&r, y, n, -3, 3);
            float *end = AT_END(n);
            memcpy(end, y, sizeof(float) * n);
            k->acc(n, x, end); /* the output ends the page */
            k->acc(n, x, y);
            assert_memory_equal(end, y, sizeof(float) * n);
            memcpy(end, x, sizeof(float) * n);
            k->sigmoid(n, end, y); /* the input ends the page */
            k->sigmoid(n, x, s);
            assert_memory_equal(y, s, sizeof(float) * n);
            /* bias_act on 3 rows of n: the block ending the page, then the bias row */
            float blk[3 * 40], got[3 * 40];
            fill(&r, blk, 3 * n, -3, 3);
            memcpy(got, blk, sizeof(float) * 3 * n);
            k->bias_act(3, n, x, AG_ACT_SIGMOID, got);
            end = AT_END(3 * n);
            memcpy(end, blk, sizeof(float) * 3 * n);
            k->bias_act(3, n, x, AG_ACT_SIGMOID, end);
            assert_memory_equal(end, got, sizeof(float) * 3 * n);
            end = AT_END(n);
            memcpy(end, x, sizeof(float) * n);
            memcpy(s, blk, sizeof(float) * n);
            k->bias_act(1, n, end, AG_ACT_SIGMOID, s);
            memcpy(y, blk, sizeof(float) * n);
            k->bias_act(1, n, x, AG_ACT_SIGMOID, y);
            assert_memory_equal(s, y, sizeof(float) * n);
            /* copy_rows from 3 rows of n, 2n + 1 apart (concat's gradient), the block's last row
             * ending the page: copied, then added, into a flat block */
            const long ldx = 2 * n + 1, span = 2 * ldx + n;
            float wide[2 * (2 * 40 + 1) + 40], want[3 * 40];
            fill(&r, wide, span, -3, 3);
            end = AT_END(span);
            memcpy(end, wide, sizeof(float) * span);
            for (int add = 0; add < 2; add++) {
                memcpy(got, blk, sizeof(float) * 3 * n);
                memcpy(want, blk, sizeof(float) * 3 * n);
                k->copy_rows(3, n, end, ldx, got, n, add);
                for (int q = 0; q < 3; q++)
                    for (int i = 0; i < n; i++)
                        want[q * n + i] = (add ? want[q * n + i] : 0.0f) + wide[q * ldx + i];
                assert_memory_equal(got, want, sizeof(float) * 3 * n);
            }
        }
        /* the symmetry net's dW = X^T (6,64) @ dY (64,2): dY ending the page, then C */
        enum { M = 6, N = 2, K = 64 };
        float A[K * M], B[K * N], C[M * N], C0[M * N];
        fill(&r, A, K * M, -1, 1);
        fill(&r, B, K * N, -1, 1);
        for (int acc = 0; acc < 2; acc++) {
            fill(&r, C0, M * N, -1, 1);
            memcpy(C, C0, sizeof C);
            k->gemm_small(M, N, K, A, true, B, false, C, acc);
            float *Bend = AT_END(K * N), Cb[M * N];
            memcpy(Bend, B, sizeof B);
            memcpy(Cb, C0, sizeof C0);
            k->gemm_small(M, N, K, A, true, Bend, false, Cb, acc);
            assert_memory_equal(Cb, C, sizeof C);
            float *Cend = AT_END(M * N);
            memcpy(Cend, C0, sizeof C0);
            k->gemm_small(M, N, K, A, true, B, false, Cend, acc);
            assert_memory_equal(Cend, C, sizeof C);
        }
    }
#undef AT_END
    munmap(map, (size_t)(2 * page));
    restore_default();
}

/* concat_rows: narrow parts side by side, row by row with whole vectors whose spare lanes land on
 * values stored after them. Every part count, width and row count around the vector widths:
 * each value in its place, nothing written past y, y untouched when a part is too wide (false);
 * then the last part and y each ending a page followed by an unreadable one. */
static void test_concat_rows(void **state) {
    (void)state;
    enum { MAXP = 5, MAXW = 18, MAXR = 12 };
    const long page = sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, (size_t)(2 * page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(mprotect(map + page, (size_t)page, PROT_NONE), 0);
    float *const end = (float *)(void *)(map + page);
    tu_rng r = {33};
    FOR_EACH_TABLE(k) {
        int done = 0;
        for (int parts = 1; parts <= MAXP; parts++)
            for (int trial = 0; trial < 40; trial++) {
                const long rows = 1 + (long)tu_uniform(&r, 0, MAXR);
                long cols[MAXP], total = 0;
                float x[MAXP][MAXR * MAXW];
                const float *xs[MAXP];
                for (int p = 0; p < parts; p++) {
                    cols[p] = 1 + (long)tu_uniform(&r, 0, trial < 30 ? 7 : MAXW);
                    total += cols[p];
                    fill(&r, x[p], rows * cols[p], -3, 3);
                    xs[p] = x[p];
                }
                float y[MAXR * MAXP * MAXW + 1];
                for (long i = 0; i <= rows * total; i++) y[i] = 777.0f;
                const bool ok = k->concat_rows(rows, parts, cols, xs, y);
                assert_true(y[rows * total] == 777.0f);
                if (!ok) { /* a part as wide as a vector: nothing written */
                    for (long i = 0; i < rows * total; i++) assert_true(y[i] == 777.0f);
                    continue;
                }
                done++;
                for (long q = 0, at = 0; q < rows; q++)
                    for (int p = 0; p < parts; p++)
                        for (long i = 0; i < cols[p]; i++, at++)
                            if (y[at] != x[p][q * cols[p] + i]) {
                                print_error("%s rows=%ld part %d of %d (%ld cols), row %ld col %ld\n",
                                            k->name, rows, p + 1, parts, cols[p], q, i);
                                fail();
                            }
                /* the last part, then y, as the last floats before the unreadable page */
                float *xl = end - rows * cols[parts - 1];
                memcpy(xl, x[parts - 1], sizeof(float) * rows * cols[parts - 1]);
                xs[parts - 1] = xl;
                float got[MAXR * MAXP * MAXW];
                assert_true(k->concat_rows(rows, parts, cols, xs, got));
                assert_memory_equal(got, y, sizeof(float) * rows * total);
                xs[parts - 1] = x[parts - 1];
                float *ye = end - rows * total;
                assert_true(k->concat_rows(rows, parts, cols, xs, ye));
                assert_memory_equal(ye, y, sizeof(float) * rows * total);
            }
        assert_true(done > 0);
    }
    munmap(map, (size_t)(2 * page));
    restore_default();
}

/* The small products (the small nets' layers and their gradients), which gemm_small computes as
 * their transposes when they have one or two columns, and two vectors of columns at a time when
 * they have more than one vector's worth, give for every element C's old value (or 0) plus the
 * products over k in order, one fused multiply-add at a time: bit for bit a scalar fmaf chain,
 * on the tables whose multiply-adds are fused (AVX2, AVX-512). */
static void test_narrow_products_are_fma_chains(void **state) {
    (void)state;
    static const int shapes[][3] = {{64, 2, 6}, {64, 1, 2}, {64, 2, 1}, {2, 1, 64}, {6, 2, 64},
                                    {1, 2, 33}, {13, 1, 17}, {5, 2, 1}, {9, 1, 1}, {100, 2, 40},
                                    {100, 12, 12}, {13, 24, 7}, {7, 17, 5}, {6, 9, 3},
                                    {20, 40, 3}, {12, 12, 64}, {6, 24, 50}, {32, 1, 9}, {48, 2, 3},
                                    /* the family net's products and their gradients, and ragged
                                     * strips and tails of rows of other sizes */
                                    {100, 6, 24}, {100, 6, 12}, {100, 24, 6}, {100, 12, 6},
                                    {24, 6, 100}, {12, 6, 100}, {12, 12, 100}, {6, 24, 100},
                                    {20, 7, 30}, {7, 20, 30}, {13, 33, 5}, {33, 13, 5}, {9, 5, 11},
                                    {5, 9, 11}, {31, 3, 8}, {3, 31, 8}, {17, 40, 2}, {40, 17, 2},
                                    /* blocks of 12 rows (a transposed A) ending 9 to 11 rows in */
                                    {23, 5, 9}, {22, 7, 13}, {35, 3, 6}, {21, 8, 10}};
    tu_rng r = {33};
    FOR_EACH_TABLE(k) {
        if (!strcmp(k->name, "generic")) continue; /* a*b + c, not fused: no fmaf to match */
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int form = 0; form < 8; form++) {
                const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                const bool ta = form & 1, tb = form & 2, acc = form & 4;
                static float A[100 * 100], B[100 * 40], C[100 * 40], want[100 * 40];
                fill(&r, A, M * K, -1, 1);
                fill(&r, B, K * N, -1, 1);
                fill(&r, C, M * N, -1, 1);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        float c = acc ? C[i * N + j] : 0.0f;
                        for (int q = 0; q < K; q++)
                            c = fmaf(ta ? A[q * M + i] : A[i * K + q], tb ? B[j * K + q] : B[q * N + j], c);
                        want[i * N + j] = c;
                    }
                k->gemm_small(M, N, K, A, ta, B, tb, C, acc);
                assert_memory_equal(C, want, sizeof(float) * M * N);
            }
    }
    restore_default();
}

/* The packed products give for every element the products over k in order, one fused
 * multiply-add at a time from 0, for each K block (of block_k's length) in order, the first
 * stored (or added to C's old value) and the others added: bit for bit, on the tables whose
 * multiply-adds are fused. The shapes take the packed way with a narrow last panel (VL < columns
 * <= VL + VL/2 in it: 10, 12, 26 columns with AVX2; 20, 24, 56 with AVX-512), whose tail vector
 * holds several rows, from M below one tile of rows to more than mc, with one K block or more.
 * The second row of shapes ends a block of rows with one to three rows past a whole tile (MR = 6
 * with AVX2, 8 with AVX-512; mc = 72 or 128), which the macro-kernel cuts into two tiles of
 * about equal height when A is read in place. */
static void test_packed_products_are_fma_chains(void **state) {
    (void)state;
    static const int shapes[][3] = {{131, 10, 300}, {128, 10, 256}, {37, 12, 100}, {45, 20, 70},
                                    {70, 26, 30},   {33, 56, 40},   {17, 24, 200}, {9, 11, 600},
                                    {260, 19, 64},  {150, 40, 20},  {40, 88, 30},
                                    {7, 48, 200},   {8, 64, 100},   {9, 64, 100},  {10, 40, 90},
                                    {11, 64, 80},   {128, 64, 60},  {138, 32, 64}, {127, 48, 40},
                                    {129, 40, 50}};
    tu_rng r = {35};
    FOR_EACH_TABLE(k) {
        if (!strcmp(k->name, "generic")) continue; /* a*b + c, not fused: no fmaf to match */
        int packed = 0;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
            float *C0 = malloc(sizeof(float) * M * N), *C = malloc(sizeof(float) * M * N);
            float *want = malloc(sizeof(float) * M * N);
            const size_t need = ag_gemm_scratch(M, N, K, 1);
            float *scratch = ag_alloc((need + 1) * sizeof(float));
            assert_true(A && B && C0 && C && want && scratch);
            fill(&r, A, (long)M * K, -1, 1);
            fill(&r, B, (long)K * N, -1, 1);
            fill(&r, C0, (long)M * N, -1, 1);
            const int blocks = (K + k->kc - 1) / k->kc, kb = (K + blocks - 1) / blocks;
            for (int form = 0; form < 8; form++) {
                const bool ta = form & 1, tb = form & 2, acc = form & 4;
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        float c = C0[(long)i * N + j];
                        for (int p0 = 0; p0 < K; p0 += kb) {
                            float part = 0.0f;
                            for (int q = p0; q < K && q < p0 + kb; q++)
                                part = fmaf(ta ? A[(long)q * M + i] : A[(long)i * K + q],
                                            tb ? B[(long)j * K + q] : B[(long)q * N + j], part);
                            c = p0 == 0 && !acc ? part : c + part;
                        }
                        want[(long)i * N + j] = c;
                    }
                memcpy(C, C0, sizeof(float) * M * N);
                ag_gemm(M, N, K, A, ta, B, tb, C, acc, scratch, need);
                if (!ag_gemm_packs(M, N, K, tb)) continue; /* gemm_small: its own test above */
                packed++;
                for (long e = 0; e < (long)M * N; e++)
                    if (memcmp(&C[e], &want[e], sizeof(float)) != 0) {
                        print_error("%s (%d,%d,%d) ta=%d tb=%d acc=%d: C[%ld,%ld] = %.9g, "
                                    "want %.9g\n",
                                    k->name, M, N, K, ta, tb, acc, e / N, e % N, C[e], want[e]);
                        fail();
                    }
            }
            free(A), free(B), free(C0), free(C), free(want);
            ag_free(scratch);
        }
        assert_true(packed >= 8 * 6);
    }
    restore_default();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generic_is_always_there),
        cmocka_unit_test(test_gemm_matches_reference),
        cmocka_unit_test(test_vector_maths_matches_libm),
        cmocka_unit_test(test_elementwise_loops),
        cmocka_unit_test(test_bias_act_is_add_row_then_activation),
        cmocka_unit_test(test_column_sums_over_many_rows),
        cmocka_unit_test(test_operands_ending_a_page),
        cmocka_unit_test(test_concat_rows),
        cmocka_unit_test(test_narrow_products_are_fma_chains),
        cmocka_unit_test(test_packed_products_are_fma_chains),
    };
    return cmocka_run_group_tests_name("kernels", tests, NULL, NULL);
}
