/*
 * refs.c -- the PyTorch coprocess and the dlopen'ed OpenBLAS (see refs.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "refs.h"

#include <dirent.h>
#include <dlfcn.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- PyTorch -------------------------------------------------------------------------------- */

struct torch_ref {
    pid_t pid;
    FILE *to, *from;
    char version[256];
};

/* One reply line from the coprocess into buf; false at end of file. */
static bool reply(torch_ref *r, char *buf, int len) {
    if (!fgets(buf, len, r->from)) return false;
    buf[strcspn(buf, "\n")] = '\0';
    return true;
}

/* The environment of the coprocess: ours plus the thread settings PyTorch runs best with on a
 * shared machine (OMP_WAIT_POLICY=PASSIVE: idle threads sleep instead of spinning). */
static char **child_env(int threads, char store[4][64]) {
    int n = 0;
    while (environ[n]) n++;
    char **env = calloc((size_t)n + 5, sizeof *env);
    if (!env) return NULL;
    int k = 0;
    for (int i = 0; i < n; i++) {
        const char *e = environ[i];
        if (strncmp(e, "OMP_NUM_THREADS=", 16) && strncmp(e, "OPENBLAS_NUM_THREADS=", 21) &&
            strncmp(e, "MKL_NUM_THREADS=", 16) && strncmp(e, "OMP_WAIT_POLICY=", 16))
            env[k++] = environ[i];
    }
    snprintf(store[0], 64, "OMP_NUM_THREADS=%d", threads);
    snprintf(store[1], 64, "OPENBLAS_NUM_THREADS=%d", threads);
    snprintf(store[2], 64, "MKL_NUM_THREADS=%d", threads);
    snprintf(store[3], 64, "OMP_WAIT_POLICY=PASSIVE");
    for (int i = 0; i < 4; i++) env[k++] = store[i];
    env[k] = NULL;
    return env;
}

torch_ref *torch_start(const char *script, int threads, char *why, int whylen) {
    const char *python = "/usr/bin/python3";
    if (access(python, X_OK) != 0) {
        snprintf(why, (size_t)whylen, "%s not found", python);
        return NULL;
    }
    if (access(script, R_OK) != 0) {
        snprintf(why, (size_t)whylen, "%s not found", script);
        return NULL;
    }
    int in[2], out[2];
    if (pipe(in) != 0) return NULL;
    if (pipe(out) != 0) {
        close(in[0]), close(in[1]);
        return NULL;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    char nthreads[16];
    snprintf(nthreads, sizeof nthreads, "%d", threads);
    char *argv[] = {(char *)python, "-u", (char *)script, nthreads, NULL};
    char store[4][64];
    char **env = child_env(threads, store);
    pid_t pid;
    int rc = env ? posix_spawn(&pid, python, &fa, NULL, argv, env) : -1;
    free(env);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    torch_ref *r = rc == 0 ? calloc(1, sizeof *r) : NULL;
    if (!r) {
        close(in[1]), close(out[0]);
        snprintf(why, (size_t)whylen, "could not start %s", python);
        return NULL;
    }
    r->pid = pid;
    r->to = fdopen(in[1], "w");
    r->from = fdopen(out[0], "r");
    char line[256];
    if (!r->to || !r->from || !reply(r, line, sizeof line) || strncmp(line, "ready ", 6) != 0) {
        snprintf(why, (size_t)whylen, "%s -c \"import torch\" failed", python);
        torch_stop(r);
        return NULL;
    }
    snprintf(r->version, sizeof r->version, "%s", line + 6);
    return r;
}

const char *torch_version(const torch_ref *r) { return r ? r->version : ""; }

bool torch_setup(torch_ref *r, const char *workload) {
    char line[512];
    fprintf(r->to, "setup %s\n", workload);
    fflush(r->to);
    if (!reply(r, line, sizeof line)) return false;
    if (strcmp(line, "ok") != 0) {
        fprintf(stderr, "bench: pytorch %s: %s\n", workload, line);
        return false;
    }
    return true;
}

/* CPU time the coprocess's threads have run, in ns (the first field of each thread's
 * /proc/PID/task/TID/schedstat); -1 where /proc does not say. */
static double cpu_ns(pid_t pid) {
    char path[96];
    snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    double total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char stat[160];
        snprintf(stat, sizeof stat, "%s/%.32s/schedstat", path, e->d_name);
        FILE *f = fopen(stat, "r");
        double ns = 0;
        if (f && fscanf(f, "%lf", &ns) == 1) total += ns;
        if (f) fclose(f);
    }
    closedir(d);
    return total;
}

void torch_settle(const torch_ref *r) {
    const struct timespec window = {0, 5000000};
    double before = cpu_ns(r->pid);
    for (int i = 0; before >= 0 && i < 200; i++) {
        nanosleep(&window, NULL);
        const double after = cpu_ns(r->pid);
        if (after < 0 || after - before < 0.1 * 5e6) return;
        before = after;
    }
}

double torch_run(torch_ref *r, const char *workload, int steps) {
    char line[512];
    fprintf(r->to, "run %s %d\n", workload, steps);
    fflush(r->to);
    if (!reply(r, line, sizeof line)) return -1;
    char *end;
    double s = strtod(line, &end);
    return end == line ? -1 : s;
}

void torch_stop(torch_ref *r) {
    if (!r) return;
    if (r->to) {
        fprintf(r->to, "quit\n");
        fclose(r->to);
    }
    if (r->from) fclose(r->from);
    int status;
    waitpid(r->pid, &status, 0);
    free(r);
}

/* ---- OpenBLAS ------------------------------------------------------------------------------- */

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 }; /* the CBLAS enum values */
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *,
                         int, float, float *, int);
typedef void (*set_threads_fn)(int);
static sgemm_fn sgemm;
static set_threads_fn set_threads;

bool blas_load(char *why, int whylen) {
    /* OpenBLAS's idle workers spin for some 0.1 s after each call, taking a core from whatever
     * runs next; a short timeout lets them sleep at once, as OMP_WAIT_POLICY=PASSIVE does for
     * PyTorch's. Read when the library loads; a value already in the environment wins. */
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
    const char *names[] = {"libopenblas.so.0", "libopenblas.so"};
    void *h = NULL;
    for (int i = 0; i < 2 && !h; i++) h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(why, (size_t)whylen, "libopenblas not found (%s)", dlerror());
        return false;
    }
    /* POSIX guarantees the object-to-function pointer conversion dlsym needs. */
    void *f = dlsym(h, "cblas_sgemm"), *g = dlsym(h, "openblas_set_num_threads");
    if (!f || !g) {
        snprintf(why, (size_t)whylen, "libopenblas lacks cblas_sgemm");
        return false;
    }
    memcpy(&sgemm, &f, sizeof f);
    memcpy(&set_threads, &g, sizeof g);
    return true;
}

void blas_set_threads(int n) { set_threads(n); }

void blas_sgemm(int M, int N, int K, const float *A, bool ta, const float *B, bool tb, float *C) {
    sgemm(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS, M, N, K, 1.0f, A, ta ? M : K,
          B, tb ? K : N, 0.0f, C, N);
}
