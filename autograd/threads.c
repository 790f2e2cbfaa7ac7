/*
 * threads.c -- a small pool of worker threads (POSIX threads, no OpenMP) for the kernels.
 *
 * ag_parallel(n, fn, ctx) runs fn(ctx, 0) .. fn(ctx, n-1) on the calling thread and the
 * workers, and returns when all n tasks are done. Which thread runs which task is decided at
 * run time, so a kernel that wants the same bits whatever the thread count must make each task
 * compute a fixed part of the result in a fixed order (the gemm splits its output that way; no
 * task ever reduces into another's result).
 *
 * The hand-out of tasks is lock-free: one 64-bit ticket holds (job generation << 32 | next
 * task), and a thread claims task i of job g by compare-and-swap from (g, i) to (g, i + 1).
 * A job is published in three stores -- ticket = (g, CLOSED), then the job's function, context
 * and task count, then ticket = (g, 0) -- so a claim that succeeds always pairs a task with its
 * own job. Idle workers spin for some tens of microseconds (kernels come in quick bursts
 * during a step), then poll with sched_yield for a millisecond or two (still awake, but giving
 * the core to any other thread that wants it), then sleep on a condition variable until the
 * next job. Waking a sleeper can take longer than a whole task on a virtual machine; a worker
 * that slept between the products of one step came too late for each of them, and the caller
 * ran them alone.
 *
 * Built with AG_SINGLE_THREADED defined (the default for WebAssembly under WASI, whose libc has
 * no POSIX threads: `make web`), the pool is the calling thread alone: every task runs there,
 * in order, and ag_set_threads accepts 1 (or 0, "every CPU") and refuses more.
 */
#define _POSIX_C_SOURCE 200809L
#include "autograd_private.h"

#if defined(__wasi__) && !defined(_REENTRANT) && !defined(AG_SINGLE_THREADED)
#define AG_SINGLE_THREADED 1 /* wasm32-wasi without its threads proposal: no pthread.h */
#endif

static bool parallel_args_ok(int ntasks, ag_task_fn fn) {
    if (!fn) ag_set_last_error("ag_parallel: task function is NULL (%d tasks); nothing run", ntasks);
    else if (ntasks < 0) ag_set_last_error("ag_parallel: %d tasks (must be 0 or more)", ntasks);
    return fn && ntasks >= 0;
}

#ifdef AG_SINGLE_THREADED

int ag_set_threads(int n) {
    if (n > 1) {
        ag_set_last_error("ag_set_threads: this build is single-threaded (AG_SINGLE_THREADED); "
                          "asked for %d threads, running on 1", n);
        return -1;
    }
    return 0;
}

int ag_get_threads(void) { return 1; }

int ag_parallel(int ntasks, ag_task_fn fn, void *ctx) {
    if (!parallel_args_ok(ntasks, fn)) return -1;
    for (int i = 0; i < ntasks; i++) fn(ctx, i);
    return 0;
}

#else /* POSIX threads */

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 64
#define CLOSED 0xffffffffu      /* task index of a job being published: nothing to claim */
#define SPIN_ROUNDS 4000        /* idle polls with a pause each (some 80 us on a Zen 5), then */
#define YIELD_ROUNDS 2000       /* idle polls with a sched_yield each (a millisecond or more), then
                                   a worker sleeps on the condition variable */

static struct {
    pthread_once_t once;
    pthread_mutex_t lock;       /* guards sleeping and (re)configuration */
    pthread_cond_t wake;
    atomic_int nthreads;        /* the setting: the caller + nthreads-1 workers */
    int nworkers;
    pthread_t tid[MAX_THREADS];
    atomic_flag busy;           /* set while one caller runs a parallel job */
    atomic_int stop;
    atomic_int sleepers;
    _Atomic uint64_t ticket;    /* (generation << 32) | next task */
    _Atomic(ag_task_fn) fn;
    _Atomic(void *) ctx;
    atomic_uint ntasks;
    atomic_int pending;         /* tasks of the current job not yet finished */
} pool = {.once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER, .nthreads = 1, .busy = ATOMIC_FLAG_INIT};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Claim and run tasks of generation gen until none is left. */
static void run_tasks(uint32_t gen) {
    uint64_t t = atomic_load(&pool.ticket);
    while ((uint32_t)(t >> 32) == gen) {
        uint32_t i = (uint32_t)t;
        ag_task_fn fn = atomic_load(&pool.fn);
        void *ctx = atomic_load(&pool.ctx);
        uint32_t n = atomic_load(&pool.ntasks);
        if (i == CLOSED) { /* the job is still being published: wait for its first task */
            cpu_relax();
            t = atomic_load(&pool.ticket);
            continue;
        }
        if (i >= n) return;
        if (atomic_compare_exchange_weak(&pool.ticket, &t, t + 1)) {
            fn(ctx, (int)i); /* the claim succeeded: fn, ctx and n were this job's */
            atomic_fetch_sub(&pool.pending, 1);
            t = atomic_load(&pool.ticket);
        }
    }
}

static void *worker(void *arg) {
    uint32_t seen = (uint32_t)(uintptr_t)arg; /* the generation when we were started */
    for (;;) {
        uint32_t gen;
        int spins = 0;
        while ((gen = (uint32_t)(atomic_load(&pool.ticket) >> 32)) == seen && !atomic_load(&pool.stop)) {
            if (++spins < SPIN_ROUNDS) {
                cpu_relax();
                continue;
            }
            if (spins < SPIN_ROUNDS + YIELD_ROUNDS) {
                sched_yield(); /* awake, but any other thread that wants this core gets it */
                continue;
            }
            pthread_mutex_lock(&pool.lock);
            atomic_fetch_add(&pool.sleepers, 1);
            while ((uint32_t)(atomic_load(&pool.ticket) >> 32) == seen && !atomic_load(&pool.stop))
                pthread_cond_wait(&pool.wake, &pool.lock);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.lock);
            spins = 0;
        }
        if (atomic_load(&pool.stop)) return NULL;
        seen = gen;
        run_tasks(gen);
    }
}

static void wake_sleepers(void) {
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
}

/* Stop and join every worker; the pool is single-threaded afterwards. Caller holds busy. */
static void stop_workers(void) {
    atomic_store(&pool.stop, 1);
    pthread_mutex_lock(&pool.lock);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < pool.nworkers; i++) pthread_join(pool.tid[i], NULL);
    pool.nworkers = 0;
    atomic_store(&pool.stop, 0);
}

/* Start workers until there are n-1; returns how many threads (with the caller) there are. */
static int start_workers(int n) {
    uint32_t gen = (uint32_t)(atomic_load(&pool.ticket) >> 32);
    while (pool.nworkers < n - 1) {
        if (pthread_create(&pool.tid[pool.nworkers], NULL, worker, (void *)(uintptr_t)gen) != 0)
            break;
        pool.nworkers++;
    }
    return pool.nworkers + 1;
}

static int set_threads_locked(int n) {
    if (n < 1) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (int)cpus : 1;
    }
    if (n > MAX_THREADS) n = MAX_THREADS;
    while (atomic_flag_test_and_set(&pool.busy)) cpu_relax(); /* no job may be running */
    if (n != pool.nworkers + 1) {
        stop_workers();
        n = start_workers(n);
    }
    atomic_store(&pool.nthreads, n);
    atomic_flag_clear(&pool.busy);
    return n;
}

/* The first use reads BACKPROP_THREADS. */
static void init_from_env(void) {
    const char *s = getenv("BACKPROP_THREADS");
    if (!s || !*s) return;
    char *end;
    long n = strtol(s, &end, 10);
    if (*end == '\0' && n >= 0 && n <= MAX_THREADS) set_threads_locked((int)n);
}

int ag_set_threads(int n) {
    pthread_once(&pool.once, init_from_env);
    int got = set_threads_locked(n);
    if (got < (n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n)) {
        ag_set_last_error("ag_set_threads: could only start %d of %d threads", got, n);
        return -1;
    }
    return 0;
}

int ag_get_threads(void) {
    pthread_once(&pool.once, init_from_env);
    return atomic_load(&pool.nthreads);
}

int ag_parallel(int ntasks, ag_task_fn fn, void *ctx) {
    if (!parallel_args_ok(ntasks, fn)) return -1;
    if (ntasks == 0) return 0;
    if (ntasks == 1 || ag_get_threads() == 1 || atomic_flag_test_and_set(&pool.busy)) {
        /* One task, one thread, or another caller's job is running: do it all here. */
        for (int i = 0; i < ntasks; i++) fn(ctx, i);
        return 0;
    }
    uint32_t gen = (uint32_t)(atomic_load(&pool.ticket) >> 32) + 1;
    atomic_store(&pool.ticket, ((uint64_t)gen << 32) | CLOSED);
    atomic_store(&pool.fn, fn);
    atomic_store(&pool.ctx, ctx);
    atomic_store(&pool.ntasks, (unsigned)ntasks);
    atomic_store(&pool.pending, ntasks);
    atomic_store(&pool.ticket, (uint64_t)gen << 32);
    wake_sleepers();
    run_tasks(gen);
    while (atomic_load(&pool.pending) > 0) cpu_relax(); /* the workers' last tasks */
    atomic_flag_clear(&pool.busy);
    return 0;
}

#endif /* AG_SINGLE_THREADED */
