/*
 * bench -- times the workloads of bench/workloads.c side by side with PyTorch and OpenBLAS.
 *
 * For each workload and thread count: warm-up, then rounds in which ours, PyTorch and (for the
 * matmul shapes) OpenBLAS each run a sample of consecutive steps, one after the other, so that
 * whatever else the machine is doing hits all of them alike. Each timed sample follows an
 * untimed one of the same steps: without it, the first steps after another one's turn (and
 * PyTorch's wait to go idle) came out slow often enough to move the medians, of ours and of the
 * references alike (symmetry 1.01 against 0.67 us on two threads, PyTorch's 205 against 116 on
 * one, matmul_mlp1 750-870 against 637-662 on two). A quarter sample was not always enough:
 * matmul_mlp1 on one thread, with PyTorch taking turns, 1,122 us against 1,062 without it; after
 * a whole sample 1,090, after two 1,061. A sample's time divided by its
 * steps is one measurement; the table gives the median, minimum and maximum over the rounds.
 *
 * Output: a table on stdout, the same figures in bench/results.csv
 * (workload,impl,threads,median_us,min_us,max_us), one line per workload and thread count
 *   ratio WORKLOAD threads=T reference/ours=R
 * (R > 1: we are faster; the reference is OpenBLAS for the matmul shapes, PyTorch otherwise),
 * for mlp_infer and rnn_infer (when their _fwd workload ran too) one line
 *   ratio mlp_infer threads=T training-forward/inference=R
 * (R > 1: the no-gradient forward is faster than the same forward with gradients on),
 * for each matrix product (matmul_*) one line
 *   peak WORKLOAD threads=T ours=P% (G of PEAK GFLOP/s) openblas=Q%
 * (the fraction of the machine's fp32 multiply-add peak, measured at start in the vector width
 * of the kernels in use: bench/peak.c), the allocator calls per steady-state step of every
 * workload, and the peak resident memory of the mlp workload (measured in a fresh process)
 * against what it needs.
 *
 * Usage: bench [--quick] [--only NAME[,NAME...]] [--threads 1,2] [--budget SECONDS]
 *              [--csv PATH] [--no-torch] [--no-blas] [--torch-script PATH]
 *        bench --profile NAME [STEPS]     (just STEPS steps of one workload, for a profiler)
 */
#define _POSIX_C_SOURCE 200809L
#include "backprop.h"
#include "peak.h"
#include "refs.h"
#include "workloads.h"

#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_ROUNDS 41
#define MAX_THREADS 8

/* ---- options ---------------------------------------------------------------------------------- */

static struct {
    double budget;      /* seconds of measurement per workload and thread count (soft) */
    double sample;      /* seconds one sample should last */
    int min_rounds;
    const char *only;
    int threads[MAX_THREADS], nthreads;
    const char *csv, *script;
    bool torch, blas;
} opt = {4.0, 0.02, 7, NULL, {1, 2}, 2, "bench/results.csv", "bench/torch_ref.py", true, true};

/* ---- the counting allocator: every byte the library takes goes through it --------------------- */

static long alloc_calls;
static void *count_alloc(size_t size, void *ctx) {
    (void)ctx;
    alloc_calls++;
    return malloc(size);
}
static void count_release(void *p, size_t size, void *ctx) {
    (void)size, (void)ctx;
    free(p);
}

/* ---- timing ------------------------------------------------------------------------------------ */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    const char *impl; /* "backprop", "pytorch", "openblas" */
    int threads;
    double v[MAX_ROUNDS]; /* seconds per step, one per round */
    int n;
    long steps, allocs;   /* steady-state steps measured and allocator calls during them */
    bool failed;
} series;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(const series *s) {
    double v[MAX_ROUNDS];
    memcpy(v, s->v, sizeof v);
    qsort(v, (size_t)s->n, sizeof v[0], cmp_double);
    return s->n % 2 ? v[s->n / 2] : 0.5 * (v[s->n / 2 - 1] + v[s->n / 2]);
}
static double vmin(const series *s) {
    double m = s->v[0];
    for (int i = 1; i < s->n; i++) m = fmin(m, s->v[i]);
    return m;
}
static double vmax(const series *s) {
    double m = s->v[0];
    for (int i = 1; i < s->n; i++) m = fmax(m, s->v[i]);
    return m;
}

/* ---- one implementation behind one interface ---------------------------------------------------- */

typedef struct {
    int kind; /* 0 ours, 1 pytorch, 2 openblas */
    const bench_workload *w;
    bench_state *st;
    torch_ref *torch;
    float *C; /* openblas output */
} impl;

/* Run `steps` steps; seconds per step, or -1 on failure. */
static double run(impl *m, int steps) {
    if (m->kind == 1) return torch_run(m->torch, m->w->name, steps);
    double t0 = now();
    if (m->kind == 0) {
        for (int i = 0; i < steps; i++)
            if (bench_step(m->st) != 0) return -1;
    } else {
        const float *A, *B;
        bench_matmul_operands(m->st, &A, &B);
        for (int i = 0; i < steps; i++)
            blas_sgemm(m->w->mm[0], m->w->mm[1], m->w->mm[2], A, m->w->ta, B, m->w->tb, m->C);
    }
    return (now() - t0) / steps;
}

/* Warm up (at least 3 steps and 0.1 s), then pick how many steps make one sample. */
static int calibrate(impl *m) {
    double spent = 0, per = 0;
    for (int i = 0; i < 3 || (spent < 0.1 && i < 1000); i++) {
        per = run(m, 1);
        if (per < 0) return -1;
        spent += per;
    }
    int k = (int)ceil(opt.sample / fmax(per, 1e-9));
    return k < 1 ? 1 : k > 1000000 ? 1000000 : k;
}

/* ---- the measurement of one workload at one thread count ----------------------------------------- */

static void measure(impl *m, int nimpl, series *out, int threads) {
    int k[3];
    double per_round = 0;
    ag_set_threads(threads);
    if (opt.blas) blas_set_threads(threads);
    for (int i = 0; i < nimpl; i++) {
        out[i].n = 0;
        out[i].steps = out[i].allocs = 0;
        out[i].failed = false;
        out[i].threads = threads;
        out[i].impl = m[i].kind == 0 ? "backprop" : m[i].kind == 1 ? "pytorch" : "openblas";
        k[i] = calibrate(&m[i]);
        if (k[i] < 0) {
            out[i].failed = true;
            continue;
        }
        per_round += k[i] * run(&m[i], 1);
        if (m[i].kind == 1) torch_settle(m[i].torch);
    }
    int rounds = (int)(opt.budget / fmax(per_round, 1e-9));
    rounds = rounds < opt.min_rounds ? opt.min_rounds : rounds > MAX_ROUNDS ? MAX_ROUNDS : rounds;
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < nimpl; i++) {
            if (out[i].failed) continue;
            /* a sample first, untimed: the thread pool, the caches and the CPU back in their
             * steady state after the other impl's turn and PyTorch's settling */
            if (run(&m[i], k[i]) < 0) {
                out[i].failed = true;
                continue;
            }
            long before = alloc_calls;
            double per = run(&m[i], k[i]);
            if (m[i].kind == 1) torch_settle(m[i].torch); /* the next measurement starts quiet */
            if (per < 0) {
                out[i].failed = true;
                continue;
            }
            out[i].v[out[i].n++] = per;
            out[i].steps += k[i];
            out[i].allocs += alloc_calls - before;
        }
}

/* ---- peak memory of the mlp workload, in a fresh process ----------------------------------------- */

/* The peak resident set of this process so far (VmHWM: unlike getrusage's ru_maxrss it is not
 * inherited from the process we were spawned by), in kB; -1 if unknown. */
static long maxrss_kb(void) {
    long kb = -1;
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return kb;
}

/* The child: train the mlp for a few steps and report the peak resident set. */
static int mlp_memory_child(int threads) {
    long base = maxrss_kb();
    ag_set_threads(threads);
    const bench_workload *w = NULL;
    for (int i = 0; i < bench_nworkloads; i++)
        if (!strcmp(bench_workloads[i].name, "mlp")) w = &bench_workloads[i];
    bench_state *s = w ? bench_setup(w) : NULL;
    if (!s) return 1;
    for (int i = 0; i < 20; i++)
        if (bench_step(s) != 0) return 1;
    printf("%ld %ld\n", maxrss_kb(), base);
    bench_teardown(s);
    ag_set_threads(1);
    return 0;
}

/* Spawn ourselves with --mlp-memory; peak and start-up resident set in kB, false on failure. */
static bool mlp_memory(const char *self, int threads, long *peak, long *base) {
    int fd[2];
    if (pipe(fd) != 0) return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    char nt[16];
    snprintf(nt, sizeof nt, "%d", threads);
    char *argv[] = {(char *)self, "--mlp-memory", nt, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, self, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    bool ok = false;
    if (rc == 0) {
        FILE *f = fdopen(fd[0], "r");
        ok = f && fscanf(f, "%ld %ld", peak, base) == 2;
        if (f) fclose(f);
        int status;
        waitpid(pid, &status, 0);
        ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    } else {
        close(fd[0]);
    }
    return ok;
}

/* ---- --profile NAME STEPS: just the steps, untimed, for a profiler (valgrind --tool=callgrind) */

static int profile(const char *name, int steps) {
    for (int i = 0; i < bench_nworkloads; i++)
        if (!strcmp(bench_workloads[i].name, name)) {
            bench_state *s = bench_setup(&bench_workloads[i]);
            if (!s) return 1;
            int rc = 0;
            for (int k = 0; k < steps && rc == 0; k++) rc = bench_step(s);
            bench_teardown(s);
            ag_set_threads(1);
            return rc ? 1 : 0;
        }
    fprintf(stderr, "bench: no workload %s\n", name);
    return 2;
}

/* ---- main ------------------------------------------------------------------------------------------ */

static bool selected(const char *name) {
    if (!opt.only) return true;
    size_t n = strlen(name);
    for (const char *p = opt.only; (p = strstr(p, name)); p += n)
        if ((p == opt.only || p[-1] == ',') && (p[n] == '\0' || p[n] == ',')) return true;
    return false;
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench [--quick] [--only NAME[,NAME...]] [--threads 1,2] [--budget SECONDS]\n"
               "             [--csv PATH] [--no-torch] [--no-blas] [--torch-script PATH]\n"
               "       bench --profile NAME [STEPS]\n"
               "workloads:");
    for (int i = 0; i < bench_nworkloads; i++) fprintf(f, " %s", bench_workloads[i].name);
    fprintf(f, "\n");
}

static double loadavg(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--mlp-memory") && v) return mlp_memory_child(atoi(v));
        if (!strcmp(a, "--profile") && v) return profile(v, i + 2 < argc ? atoi(argv[i + 2]) : 10);
        if (!strcmp(a, "--quick")) opt.budget = 1.0, opt.min_rounds = 5, opt.sample = 0.01;
        else if (!strcmp(a, "--no-torch")) opt.torch = false;
        else if (!strcmp(a, "--no-blas")) opt.blas = false;
        else if (!strcmp(a, "--only") && v) opt.only = v, i++;
        else if (!strcmp(a, "--csv") && v) opt.csv = v, i++;
        else if (!strcmp(a, "--torch-script") && v) opt.script = v, i++;
        else if (!strcmp(a, "--budget") && v) opt.budget = atof(v), i++;
        else if (!strcmp(a, "--threads") && v) {
            opt.nthreads = 0;
            for (char *p = argv[++i]; *p && opt.nthreads < MAX_THREADS; p += *p == ',')
                opt.threads[opt.nthreads++] = (int)strtol(p, &p, 10);
        } else {
            usage(strcmp(a, "--help") ? stderr : stdout);
            return strcmp(a, "--help") ? 2 : 0;
        }
    }
    ag_set_allocator(count_alloc, count_release, NULL);

    /* The references. */
    char why[256];
    torch_ref *torch[MAX_THREADS] = {0};
    const char *torch_skip = opt.torch ? NULL : "--no-torch";
    for (int t = 0; opt.torch && t < opt.nthreads; t++)
        if (!(torch[t] = torch_start(opt.script, opt.threads[t], why, sizeof why))) {
            static char reason[256];
            snprintf(reason, sizeof reason, "%s", why);
            torch_skip = reason;
            opt.torch = false;
        }
    const char *blas_skip = opt.blas ? NULL : "--no-blas";
    if (opt.blas && !blas_load(why, sizeof why)) {
        static char reason[256];
        snprintf(reason, sizeof reason, "%s", why);
        blas_skip = reason;
        opt.blas = false;
    }
    printf("backprop bench: %d workloads, threads", bench_nworkloads);
    for (int t = 0; t < opt.nthreads; t++) printf(" %d", opt.threads[t]);
    printf("; load average at start %.2f\n", loadavg());
    if (opt.torch) printf("reference: pytorch %s (OMP_WAIT_POLICY=PASSIVE)\n", torch_version(torch[0]));
    else printf("reference skipped: pytorch (%s)\n", torch_skip);
    if (opt.blas) printf("reference: openblas cblas_sgemm (matmul shapes; OPENBLAS_THREAD_TIMEOUT=%s)\n",
                         getenv("OPENBLAS_THREAD_TIMEOUT"));
    else printf("reference skipped: openblas (%s)\n", blas_skip);

    /* The ceiling the matrix products are read against. */
    double peak[MAX_THREADS];
    printf("kernels: %s; fp32 multiply-add peak measured", ag_kernels_name());
    for (int t = 0; t < opt.nthreads; t++) {
        peak[t] = bench_fma_peak(opt.threads[t]);
        if (peak[t] > 0) printf("%s %.1f GFLOP/s with %d thread%s", t ? "," : "", peak[t],
                                opt.threads[t], opt.threads[t] > 1 ? "s" : "");
        else printf("%s failed with %d threads", t ? "," : "", opt.threads[t]);
    }
    printf("\n");

    FILE *csv = fopen(opt.csv, "w");
    if (!csv) fprintf(stderr, "bench: cannot write %s; the table is on stdout only\n", opt.csv);
    else fprintf(csv, "workload,impl,threads,median_us,min_us,max_us\n");

    char ratios[64][160], allocs[64][160], peaks[64][160];
    int nratio = 0, nalloc = 0, npeak = 0;
    struct { const char *name; int threads; double median; } ours_seen[64]; /* for the _infer ratios */
    int nseen = 0;
    printf("\n%-15s %-9s %3s %12s %12s %12s %9s %8s\n", "workload", "impl", "thr", "median_us",
           "min_us", "max_us", "GFLOP/s", "allocs");
    int status = 0;
    for (int wi = 0; wi < bench_nworkloads; wi++) {
        const bench_workload *w = &bench_workloads[wi];
        if (!selected(w->name)) continue;
        impl m[3] = {{0, w, NULL, NULL, NULL}};
        int nimpl = 1;
        m[0].st = bench_setup(w);
        if (!m[0].st) {
            status = 1;
            continue;
        }
        bool use_blas = opt.blas && w->mm[0];
        if (use_blas) {
            m[nimpl] = (impl){2, w, m[0].st, NULL, malloc(sizeof(float) * w->mm[0] * w->mm[1])};
            if (m[nimpl].C) nimpl++;
        }
        int torch_slot = opt.torch ? nimpl++ : -1;
        for (int ti = 0; ti < opt.nthreads; ti++) {
            int T = opt.threads[ti];
            int n = nimpl;
            if (torch_slot >= 0) {
                m[torch_slot] = (impl){1, w, m[0].st, torch[ti], NULL};
                if (!torch_setup(torch[ti], w->name)) n = torch_slot; /* run without it */
            }
            series s[3];
            measure(m, n, s, T);
            double ours = s[0].failed ? NAN : median(&s[0]);
            for (int i = 0; i < n; i++) {
                if (s[i].failed || s[i].n == 0) {
                    printf("%-15s %-9s %3d   failed\n", w->name, s[i].impl, T);
                    if (i == 0) status = 1;
                    continue;
                }
                double med = median(&s[i]);
                printf("%-15s %-9s %3d %12.2f %12.2f %12.2f", w->name, s[i].impl, T, med * 1e6,
                       vmin(&s[i]) * 1e6, vmax(&s[i]) * 1e6);
                if (w->mm[0]) printf(" %9.1f", bench_flops(w) / med * 1e-9);
                else printf(" %9s", "");
                if (i == 0) printf(" %8.3g", (double)s[i].allocs / (double)s[i].steps);
                printf("\n");
                if (csv)
                    fprintf(csv, "%s,%s,%d,%.3f,%.3f,%.3f\n", w->name, s[i].impl, T, med * 1e6,
                            vmin(&s[i]) * 1e6, vmax(&s[i]) * 1e6);
            }
            if (!s[0].failed && nalloc < 64)
                snprintf(allocs[nalloc++], sizeof allocs[0],
                         "allocs %s threads=%d per_step=%.3g (%ld allocator calls in %ld steps)",
                         w->name, T, (double)s[0].allocs / (double)s[0].steps, s[0].allocs,
                         s[0].steps);
            if (!s[0].failed && nseen < 64)
                ours_seen[nseen].name = w->name, ours_seen[nseen].threads = T,
                ours_seen[nseen++].median = ours;
            const char *infer = strstr(w->name, "_infer");
            if (!s[0].failed && infer && !infer[6] && nratio < 64) {
                char fwd[64];
                snprintf(fwd, sizeof fwd, "%.*s_fwd", (int)(infer - w->name), w->name);
                for (int i = 0; i < nseen; i++)
                    if (!strcmp(ours_seen[i].name, fwd) && ours_seen[i].threads == T)
                        snprintf(ratios[nratio++], sizeof ratios[0],
                                 "ratio %s threads=%d training-forward/inference=%.2f", w->name, T,
                                 ours_seen[i].median / ours);
            }
            if (w->mm[0] && !s[0].failed && peak[ti] > 0 && npeak < 64) {
                double ours_gf = bench_flops(w) / ours * 1e-9;
                int k = snprintf(peaks[npeak], sizeof peaks[0],
                                 "peak %s threads=%d ours=%.0f%% (%.1f of %.1f GFLOP/s)", w->name, T,
                                 100 * ours_gf / peak[ti], ours_gf, peak[ti]);
                if (use_blas && !s[1].failed && k > 0 && k < (int)sizeof peaks[0])
                    snprintf(peaks[npeak] + k, sizeof peaks[0] - (size_t)k, " openblas=%.0f%%",
                             100 * bench_flops(w) / median(&s[1]) * 1e-9 / peak[ti]);
                npeak++;
            }
            int ref = use_blas ? 1 : torch_slot >= 0 && n > torch_slot ? torch_slot : -1;
            if (ref > 0 && !s[ref].failed && !s[0].failed && nratio < 64)
                snprintf(ratios[nratio++], sizeof ratios[0],
                         "ratio %s threads=%d reference/ours=%.2f", w->name, T,
                         median(&s[ref]) / ours);
        }
        free(m[1].C);
        if (use_blas) m[1].C = NULL;
        bench_teardown(m[0].st);
        fflush(stdout);
    }
    printf("\n");
    for (int i = 0; i < nratio; i++) printf("%s\n", ratios[i]);
    printf("\n");
    for (int i = 0; i < npeak; i++) printf("%s\n", peaks[i]);
    if (npeak) printf("\n");
    for (int i = 0; i < nalloc; i++) printf("%s\n", allocs[i]);
    if (selected("mlp")) {
        double need = bench_mlp_bytes_needed() / 1024.0;
        for (int ti = 0; ti < opt.nthreads; ti++) {
            long peak, base;
            if (mlp_memory("/proc/self/exe", opt.threads[ti], &peak, &base))
                printf("memory mlp threads=%d peak_rss_kb=%ld needed_kb=%.0f peak/needed=%.2f "
                       "(process start-up %ld kB)\n",
                       opt.threads[ti], peak, need, peak / need, base);
            else
                printf("memory mlp threads=%d: measurement failed\n", opt.threads[ti]);
        }
    }
    printf("\nload average at end %.2f; results in %s\n", loadavg(), csv ? opt.csv : "(not written)");
    if (csv) fclose(csv);
    for (int t = 0; t < opt.nthreads; t++) torch_stop(torch[t]);
    ag_set_threads(1);
    return status;
}
