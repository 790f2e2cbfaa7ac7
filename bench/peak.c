/*
 * peak.c -- the machine's fp32 multiply-add peak, measured in the same run as the workloads, so
 * that a matrix product's GFLOP/s reads as a fraction of what the cores can do at most.
 *
 * Each thread runs a loop of independent fused multiply-adds on vectors as wide as the ones the
 * library's kernels use (ag_kernels_name: AVX-512 16 floats, AVX2+FMA 8; the generic kernels
 * get a multiply and an add on 4-float vectors, which is their ceiling too). Twelve
 * accumulators keep both FMA pipes of a core busy despite the four-cycle latency; each lane of
 * each FMA counts 2 flops. T threads start together; the figure is all their flops over the
 * wall time of the slowest, best of three tries. About 0.15 s a thread count at 4 GHz.
 */
#define _POSIX_C_SOURCE 200809L
#include "backprop.h"
#include "peak.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define ACCS 12

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Each loop runs `iters` rounds of ACCS independent (multiply-add)s of `lanes` floats and
 * returns a sum of the accumulators, so that the compiler cannot drop the work. acc * m + a
 * with m just below 1 stays finite and normal however long it runs. */
#define ROUND(OP) OP(0) OP(1) OP(2) OP(3) OP(4) OP(5) OP(6) OP(7) OP(8) OP(9) OP(10) OP(11)

typedef float v4 __attribute__((vector_size(16)));
static float loop_generic(long iters) {
    const v4 m = {0.999f, 0.999f, 0.999f, 0.999f}, a = {1e-3f, 1e-3f, 1e-3f, 1e-3f};
#define INIT(j) v4 c##j = a * (float)j;
    ROUND(INIT)
#undef INIT
    for (long i = 0; i < iters; i++) {
#define MAC(j) c##j = c##j * m + a;
        ROUND(MAC)
#undef MAC
    }
    v4 s = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11));
    return s[0];
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static float loop_avx2(long iters) {
    const __m256 m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(1e-3f);
#define INIT(j) __m256 c##j = _mm256_set1_ps(1e-3f * j);
    ROUND(INIT)
#undef INIT
    for (long i = 0; i < iters; i++) {
#define FMA(j) c##j = _mm256_fmadd_ps(c##j, m, a);
        ROUND(FMA)
#undef FMA
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}

__attribute__((target("avx512f"))) static float loop_avx512(long iters) {
    const __m512 m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(1e-3f);
#define INIT(j) __m512 c##j = _mm512_set1_ps(1e-3f * j);
    ROUND(INIT)
#undef INIT
    for (long i = 0; i < iters; i++) {
#define FMA(j) c##j = _mm512_fmadd_ps(c##j, m, a);
        ROUND(FMA)
#undef FMA
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                             _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
    float out[16];
    _mm512_storeu_ps(out, s);
    return out[0];
}
#endif

/* The threads wait until all of them exist, then start together (or give up, when one could not
 * be made). */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int state; /* 0 wait, 1 go, -1 give up */
} start_gate;

typedef struct {
    float (*loop)(long);
    long iters;
    start_gate *gate;
    double seconds;
    volatile float sink;
} peak_task;

static void *run_task(void *arg) {
    peak_task *t = arg;
    pthread_mutex_lock(&t->gate->lock);
    while (t->gate->state == 0) pthread_cond_wait(&t->gate->changed, &t->gate->lock);
    const int state = t->gate->state;
    pthread_mutex_unlock(&t->gate->lock);
    if (state < 0) return NULL;
    double t0 = now();
    t->sink = t->loop(t->iters);
    t->seconds = now() - t0;
    return NULL;
}

static void open_gate(start_gate *g, int state) {
    pthread_mutex_lock(&g->lock);
    g->state = state;
    pthread_cond_broadcast(&g->changed);
    pthread_mutex_unlock(&g->lock);
}

/* The loop for the kernels in use, and its floats per multiply-add. */
static float (*pick(int *lanes))(long) {
    const char *isa = ag_kernels_name();
#if defined(__x86_64__)
    if (!strcmp(isa, "avx512")) return *lanes = 16, loop_avx512;
    if (!strcmp(isa, "avx2")) return *lanes = 8, loop_avx2;
#endif
    (void)isa;
    return *lanes = 4, loop_generic;
}

double bench_fma_peak(int threads) {
    enum { MAX = 64 };
    if (threads < 1 || threads > MAX) return -1;
    int lanes;
    float (*loop)(long) = pick(&lanes);
    /* about 50 ms a try at 4 GHz with two FMA pipes: 12 FMAs a round, 6 cycles */
    const long iters = 30000000;
    double best = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        start_gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
        peak_task task[MAX];
        pthread_t tid[MAX];
        int made = 1; /* the calling thread is task 0 */
        for (int i = 0; i < threads; i++) task[i] = (peak_task){loop, iters, &gate, 0, 0};
        while (made < threads && pthread_create(&tid[made], NULL, run_task, &task[made]) == 0) made++;
        open_gate(&gate, made == threads ? 1 : -1);
        if (made == threads) run_task(&task[0]);
        double slowest = task[0].seconds;
        for (int i = 1; i < made; i++) {
            pthread_join(tid[i], NULL);
            if (task[i].seconds > slowest) slowest = task[i].seconds;
        }
        if (made < threads) return -1;
        double gflops = (double)threads * iters * ACCS * lanes * 2 / slowest * 1e-9;
        if (gflops > best) best = gflops;
    }
    return best;
}
