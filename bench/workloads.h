/*
 * workloads.h -- the benchmark's workloads, written with the public API as a user would.
 *
 * Each workload is one training step (forward, backward, the paper's momentum update) on
 * random data from a fixed seed, or, for the matmul shapes, one product. mlp_fwd and rnn_fwd
 * are the forward (with the loss) of mlp and rnn alone, gradients on; mlp_infer and rnn_infer
 * the same forward in the no-gradient mode (ag_tape_set_grad(t, false)). The same workloads
 * are written in PyTorch in bench/torch_ref.py; keep the two in step.
 */
#ifndef BACKPROP_BENCH_WORKLOADS_H
#define BACKPROP_BENCH_WORKLOADS_H

#include <stdbool.h>

typedef struct bench_state bench_state;

typedef struct bench_workload {
    const char *name;  /* "symmetry", "family", "mlp", "rnn", "mlp_infer", ..., "matmul_..." */
    const char *what;  /* one line for the table */
    int mm[3];         /* matmul shapes: M, N, K (0 for training workloads) */
    bool ta, tb;       /* matmul: which operand is stored transposed */
} bench_workload;

extern const bench_workload bench_workloads[];
extern const int bench_nworkloads;

/* Build the workload's model and data; NULL (message on stderr) on failure. */
bench_state *bench_setup(const bench_workload *w);
/* One step. Returns 0, or -1 (message on stderr) if the library reported an error. */
int bench_step(bench_state *s);
void bench_teardown(bench_state *s);

/* The operands of a matmul workload (as stored: transposed when ta/tb), for the references. */
void bench_matmul_operands(const bench_state *s, const float **A, const float **B);

/* Floating-point operations of one step (matmul shapes only; 0 otherwise). */
double bench_flops(const bench_workload *w);

/* The bytes the mlp workload needs: parameters, gradients, momentum, the input batch, and every
 * activation the step records with its gradient. Used for the peak-memory check. */
double bench_mlp_bytes_needed(void);

#endif
