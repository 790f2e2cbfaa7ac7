/*
 * refs.h -- the references the benchmark compares against, run in the same invocation as ours:
 * PyTorch (a python3 coprocess per thread count, bench/torch_ref.py) and OpenBLAS's
 * cblas_sgemm (loaded with dlopen, so neither the library nor the benchmark links it).
 * Either may be missing; then it is skipped and the benchmark says so.
 */
#ifndef BACKPROP_BENCH_REFS_H
#define BACKPROP_BENCH_REFS_H

#include <stdbool.h>

/* ---- PyTorch ---- */
typedef struct torch_ref torch_ref;

/* Start bench/torch_ref.py (script path given) under /usr/bin/python3 with `threads` threads.
 * NULL, with the reason in why[], when python3 or torch is missing. */
torch_ref *torch_start(const char *script, int threads, char *why, int whylen);
/* Build a workload's model; false if torch could not. */
bool torch_setup(torch_ref *r, const char *workload);
/* Run `steps` steps; seconds per step, or -1 on failure. */
double torch_run(torch_ref *r, const char *workload, int steps);
/* Wait (at most a second) until the coprocess is idle: under 10% of a core over 5 ms. PyTorch's
 * BLAS threads (OpenBLAS's pthreads build) busy-wait about a tenth of a second after a call,
 * whatever OMP_WAIT_POLICY says, and would take a core from the measurement that runs next;
 * PyTorch's own samples keep that habit, as in a real training loop. */
void torch_settle(const torch_ref *r);
void torch_stop(torch_ref *r);
const char *torch_version(const torch_ref *r);

/* ---- OpenBLAS ---- */
/* Load libopenblas with dlopen; false, with the reason in why[], when it is not installed. */
bool blas_load(char *why, int whylen);
void blas_set_threads(int n);
/* C = op(A) op(B) with op(A) (M,K), op(B) (K,N), row-major; ta/tb as in ag_matmul_ex. */
void blas_sgemm(int M, int N, int K, const float *A, bool ta, const float *B, bool tb, float *C);

#endif
