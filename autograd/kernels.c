/*
 * kernels.c -- choosing the kernel table for this CPU, and the matrix product built from its
 * pieces: cache blocking, packing, the micro-kernel, and the split over threads.
 */
#include "kernels.h"

#include <stdlib.h>
#include <string.h>

/* ---- choosing the table -------------------------------------------------------------------- */

_Atomic(const ag_kernel_table *) ag_kernels_in_use;

static bool supported(const ag_kernel_table *k) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (k == &ag_kernels_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
    if (k == &ag_kernels_avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return k == &ag_kernels_generic;
}

const ag_kernel_table *ag_kernels_select(const char *name) {
    static const ag_kernel_table *const tables[] = { /* widest first */
#if defined(__x86_64__)
        &ag_kernels_avx512, &ag_kernels_avx2,
#endif
        &ag_kernels_generic};
    const int n = (int)(sizeof tables / sizeof tables[0]);
    const char *want = name ? name : getenv("BACKPROP_ISA");
    const ag_kernel_table *pick = NULL;
    for (int i = 0; i < n && !pick; i++)
        if (supported(tables[i]) && (!want || !*want || !strcmp(want, tables[i]->name)))
            pick = tables[i];
    if (!pick && name) return NULL; /* asked for by name, and this CPU lacks it */
    for (int i = 0; i < n && !pick; i++)
        if (supported(tables[i])) pick = tables[i];
    atomic_store_explicit(&ag_kernels_in_use, pick, memory_order_release);
    return pick;
}

const char *ag_kernels_name(void) { return ag_kernels()->name; }

/* ---- the matrix product ---------------------------------------------------------------------
 *
 *   C (M,N) (+)= op(A) (M,K) @ op(B) (K,N)
 *
 * For each block of nc columns, each block of kc along K (in order), each block of mc rows:
 * pack op(B)'s (kc, nc) block and op(A)'s (mc, kc) block into contiguous panels in the order
 * the micro-kernel reads them (this also undoes any transpose), then run the micro-kernel over
 * every (mr, nr) tile. The first K block stores into C (or adds, when accumulating), the later
 * ones add. So each element of C is the sum of its K blocks in order, each block summed over k
 * in order: the same bits however the rows and columns are cut into tiles, blocks or tasks.
 *
 * Threads: the output is cut into equal strips of columns (or of rows, when C is taller than
 * wide), one task each; a task packs its own panels in its own part of the scratch memory.
 * Tiny products skip all of this (gemm_small); which path a product takes depends only on its
 * shape.
 * ------------------------------------------------------------------------------------------- */

#define SMALL_WORK 32768.0   /* M*N*K below this: no packing */
/* M*N*K from which a product is split over threads, for 16-column micro-tiles (AVX2): some 20 us
 * of work. The table's nr scales it (a wider vector does the same work sooner), so that a
 * product is split only when each half is worth handing to another core: splitting the lstm's
 * (32,128)@(128,512) with the AVX-512 kernels made its step 10% slower on two threads. */
#define PARALLEL_WORK 2097152.0

static int imin(int a, int b) { return a < b ? a : b; }
static int round_up(int x, int unit) { return (x + unit - 1) / unit * unit; }

/* Products that skip packing: tiny ones, and those at most one vector wide (N <= nr/2), which
 * the unpacked kernel runs with every lane of its vectors busy while the packed one would pad
 * each row to nr columns (when B is stored transposed, only if it fits gemm_small's copy). */
static bool is_small(const ag_kernel_table *k, int M, int N, int K, bool tb) {
    return (double)M * N * K < SMALL_WORK || (N <= k->nr / 2 && (!tb || (long)N * K <= AG_SMALL_BT));
}

/* The K blocks: as few as the table's kc allows, of equal length (784 = 4 x 196, not
 * 3 x 256 + 16), so that no block is too short to pay for its loads and stores of C. */
static int block_k(const ag_kernel_table *k, int K) {
    const int blocks = (K + k->kc - 1) / k->kc;
    return (K + blocks - 1) / blocks;
}

/* How the product is cut into tasks: `tasks` strips of `chunk` columns (split_n) or rows. */
typedef struct {
    int tasks, chunk;
    bool split_n;
} gemm_plan;

static gemm_plan plan_for(const ag_kernel_table *k, int M, int N, int K, int threads) {
    gemm_plan p = {1, N, true};
    if (threads <= 1 || (double)M * N * K < PARALLEL_WORK * k->nr / 16) return p;
    /* Split the columns (every task then packs all of A, which keeps each task's packed B
     * small), unless there are too few of them to go round. */
    p.split_n = N >= 2 * threads * k->nr || N >= M;
    const int unit = p.split_n ? k->nr : k->mr, dim = p.split_n ? N : M;
    const int units = (dim + unit - 1) / unit;
    p.tasks = imin(threads, units);
    p.chunk = (units + p.tasks - 1) / p.tasks * unit;
    p.tasks = (dim + p.chunk - 1) / p.chunk;
    return p;
}

/* Rows of A in a block, for a task of m rows: the table's mc, or all m rows when they exceed it
 * by no more than two tiles (M = 140 with AVX-512's mc = 128), so that a product that nearly fits
 * runs as one block, B packed a few panels at a time (gemm_block), instead of a second block of
 * a few rows that reads all of B's packed block again. */
static int block_m(const ag_kernel_table *k, int m) {
    return m <= k->mc + 2 * k->mr ? round_up(m, k->mr) : k->mc;
}

/* Columns of B packed at a time when all of a task's rows fit in one block of A. */
#define NARROW_PANELS 2
static int narrow_nc(const ag_kernel_table *k) { return NARROW_PANELS * k->nr; }

/* Floats of packed A and packed B one task of the plan needs. */
static size_t task_floats(const ag_kernel_table *k, int M, int N, int K, gemm_plan p) {
    const int m = p.split_n ? M : p.chunk, n = p.split_n ? p.chunk : N;
    const size_t kc = (size_t)block_k(k, K);
    const int mc = block_m(k, m), nc = m <= mc ? narrow_nc(k) : k->nc;
    return kc * (size_t)mc + kc * (size_t)round_up(imin(nc, n), k->nr);
}

size_t ag_gemm_scratch(int M, int N, int K, int threads) {
    if (M < 1 || N < 1 || K < 1 || (double)M * N * K < SMALL_WORK) return 0;
    const ag_kernel_table *k = ag_kernels();
    const int order[6][3] = {{M, N, K}, {M, K, N}, {K, M, N}, {K, N, M}, {N, K, M}, {N, M, K}};
    size_t need = 0;
    for (int o = 0; o < 6; o++)
        for (int t = 1; t <= threads; t++) {
            const int m = order[o][0], n = order[o][1], kk = order[o][2];
            if (is_small(k, m, n, kk, false) && is_small(k, m, n, kk, true)) continue;
            gemm_plan p = plan_for(k, m, n, kk, t);
            size_t s = (size_t)p.tasks * task_floats(k, m, n, kk, p);
            if (s > need) need = s;
        }
    return need;
}

typedef struct {
    const ag_kernel_table *k;
    int M, N, K;
    const float *A, *B;
    bool ta, tb, accumulate;
    float *C;
    gemm_plan plan;
    float *scratch;
    size_t per_task;
    long ldb; /* B's row stride: its N (or K when tb) unless ag_gemm_serial says otherwise */
} gemm_job;

/* The (mc, kc) block of op(A) at row i0, column p0, as the macro-kernel takes it: A itself when
 * it is stored row-major (the micro-kernel reads its rows in place), else packed into pa. */
static const float *pack_a_block(const gemm_job *j, int i0, int mc, int p0, int kc, float *pa) {
    if (!j->ta) return j->A + (long)i0 * j->K + p0;
    j->k->pack_a(mc, kc, j->A + (long)p0 * j->M + i0, j->M, true, pa);
    return pa;
}

/* Rows m0..m1-1 and columns n0..n1-1 of C, with blocks of at most mc_max rows and nc_max
 * columns packed into pa and pb. When the rows fit in one block, A is packed once per K block
 * and B a few panels at a time (nc_narrow columns), so that B's packing memory stays small. */
static void gemm_block(const gemm_job *j, int m0, int m1, int n0, int n1, int mc_max, int nc_max,
                       int nc_narrow, float *pa, float *pb) {
    const ag_kernel_table *k = j->k;
    const long lda = j->ta ? j->M : j->K, ldb = j->ldb;
    const int kb = block_k(k, j->K);
    if (m1 - m0 <= mc_max) {
        for (int pc = 0; pc < j->K; pc += kb) {
            const int kc = imin(kb, j->K - pc), mc = m1 - m0;
            const float *a = pack_a_block(j, m0, mc, pc, kc, pa);
            for (int jc = n0; jc < n1; jc += nc_narrow) {
                const int nc = imin(nc_narrow, n1 - jc);
                k->pack_b(kc, nc, j->tb ? j->B + (long)jc * ldb + pc : j->B + (long)pc * ldb + jc,
                          ldb, j->tb, pb);
                k->macro(mc, nc, kc, a, a == pa ? 0 : lda, pb, j->C + (long)m0 * j->N + jc, j->N,
                         j->accumulate || pc > 0);
            }
        }
        return;
    }
    for (int jc = n0; jc < n1; jc += nc_max) {
        const int nc = imin(nc_max, n1 - jc);
        for (int pc = 0; pc < j->K; pc += kb) {
            const int kc = imin(kb, j->K - pc);
            k->pack_b(kc, nc, j->tb ? j->B + (long)jc * ldb + pc : j->B + (long)pc * ldb + jc, ldb,
                      j->tb, pb);
            for (int ic = m0; ic < m1; ic += mc_max) {
                const int mc = imin(mc_max, m1 - ic);
                const float *a = pack_a_block(j, ic, mc, pc, kc, pa);
                k->macro(mc, nc, kc, a, a == pa ? 0 : lda, pb, j->C + (long)ic * j->N + jc, j->N,
                         j->accumulate || pc > 0);
            }
        }
    }
}

static void gemm_task(void *ctx, int task) {
    const gemm_job *j = ctx;
    const ag_kernel_table *k = j->k;
    const int lo = task * j->plan.chunk;
    int m0 = 0, m1 = j->M, n0 = 0, n1 = j->N;
    if (j->plan.split_n) n0 = lo, n1 = imin(j->N, lo + j->plan.chunk);
    else m0 = lo, m1 = imin(j->M, lo + j->plan.chunk);
    const int mc_max = block_m(k, m1 - m0);
    float *pa = j->scratch + (size_t)task * j->per_task;
    float *pb = pa + (size_t)block_k(k, j->K) * mc_max;
    gemm_block(j, m0, m1, n0, n1, mc_max, k->nc, narrow_nc(k), pa, pb);
}

/* Without scratch memory: one micro-panel of each at a time, on the stack (same results). */
static void gemm_unbuffered(const gemm_job *j) {
    float pa[16 * 256], pb[256 * 64]; /* room for mr <= 16, nr <= 64, kc <= 256 */
    if (j->k->mr > 16 || j->k->nr > 64 || j->k->kc > 256) {
        j->k->gemm_small(j->M, j->N, j->K, j->A, j->ta, j->B, j->tb, j->C, j->accumulate);
        return;
    }
    gemm_block(j, 0, j->M, 0, j->N, j->k->mr, j->k->nr, j->k->nr, pa, pb);
}

void ag_gemm(int M, int N, int K, const float *A, bool ta, const float *B, bool tb, float *C,
             bool accumulate, float *scratch, size_t scratch_floats) {
    const ag_kernel_table *k = ag_kernels();
    if (is_small(k, M, N, K, tb)) {
        k->gemm_small(M, N, K, A, ta, B, tb, C, accumulate);
        return;
    }
    gemm_job j = {k, M, N, K, A, B, ta, tb, accumulate, C, {1, N, true}, scratch, 0, tb ? K : N};
    /* As many tasks as there are threads, or as the scratch memory allows. */
    for (int t = ag_get_threads(); t >= 1; t--) {
        j.plan = plan_for(k, M, N, K, t);
        j.per_task = task_floats(k, M, N, K, j.plan);
        if (scratch && (size_t)j.plan.tasks * j.per_task <= scratch_floats) break;
        j.plan.tasks = 0;
    }
    if (j.plan.tasks == 0) gemm_unbuffered(&j);
    else if (j.plan.tasks == 1) gemm_task(&j, 0);
    else ag_parallel(j.plan.tasks, gemm_task, &j);
}

/* ag_gemm_serial runs the plan ag_gemm makes for one thread, on the calling thread. */
size_t ag_gemm_serial_scratch(int M, int N, int K) {
    const ag_kernel_table *k = ag_kernels();
    if (M < 1 || N < 1 || K < 1 || is_small(k, M, N, K, false)) return 0;
    return task_floats(k, M, N, K, plan_for(k, M, N, K, 1));
}

bool ag_gemm_serial(int M, int N, int K, const float *A, bool ta, const float *B, long ldb,
                    float *C, bool accumulate, float *scratch, size_t scratch_floats) {
    const ag_kernel_table *k = ag_kernels();
    if (M < 1 || N < 1 || K < 1 || is_small(k, M, N, K, false) || ldb < N) return false;
    gemm_job j = {k, M, N, K, A, B, ta, false, accumulate, C, plan_for(k, M, N, K, 1), scratch,
                  0, ldb};
    j.per_task = task_floats(k, M, N, K, j.plan);
    if (!scratch || j.per_task > scratch_floats) return false;
    gemm_task(&j, 0);
    return true;
}

bool ag_gemm_packs(int M, int N, int K, bool tb) { return !is_small(ag_kernels(), M, N, K, tb); }
