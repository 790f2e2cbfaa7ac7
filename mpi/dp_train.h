/*
 * dp_train.h -- data-parallel training of the Fashion-MNIST perceptron, with no MPI in it.
 *
 * Each step takes a global batch of B images (the shuffled order of examples/fashion_mnist) and
 * cuts it into K micro-batches of M images (the last one of an epoch may be shorter). Micro-batch
 * k's PARTIAL gradient is that of its mean cross-entropy scaled by its share of the batch
 * (m_k / b), computed on its own tape from zeroed gradients and packed with nn_grads_pack. The
 * batch gradient is the left fold of the partials in micro-batch order,
 *     g = ((p_0 + p_1) + p_2) + ... + p_{K-1}          (float additions, this order, always)
 * which is the mean over the batch. Which process computed which partial changes nothing: a
 * micro-batch's partial is the same bits wherever it is computed (same weights, same rows, same
 * kernels), and the fold's order is fixed by the micro-batch indices alone. So 1, 2 or 4 processes
 * and the single-process program (mpi/serial_train.c) take bit-identical steps.
 *
 * The communication is a table of functions (dp_comm): mpi/mpi_train.c fills it with MPI calls,
 * mpi/serial_train.c with one process's trivial ones. docs/scale-out.md has the whole story.
 */
#ifndef BACKPROP_MPI_DP_TRAIN_H
#define BACKPROP_MPI_DP_TRAIN_H

#include <stddef.h>
#include <stdint.h>

typedef struct dp_comm dp_comm;
struct dp_comm {
    int rank, size;     /* this process, and how many there are */
    const char *prog;   /* the program's name, for messages */
    void *ctx;          /* the implementation's own state */
    int plain_allreduce; /* set by dp_main from --reduce allreduce: sum each rank's partials
                            locally, then one MPI_Allreduce (fast, NOT the same bits for every
                            number of ranks; for comparison only) */
    /* Copy n bytes of rank 0's buf into every rank's buf. 0, or -1 after printing why. */
    int (*bcast)(dp_comm *c, void *buf, size_t n);
    /* One step's batch gradient. This rank holds partials[0 .. count-1] (n floats each) of
     * micro-batches first .. first+count-1 of the step's K (the share dp_share gives; count may
     * be 0); on return sum holds, on every rank, p_0 + p_1 + ... + p_{K-1} added in that order
     * (acc = p_0, then acc += p_k for k = 1 .. K-1; dp_fold). 0, or -1 after printing why. */
    int (*reduce)(dp_comm *c, const float *partials, int first, int count, int K, float *sum,
                  long n);
    /* v[0..n-1] summed over the ranks, on every rank (exact for integer counts). 0 or -1. */
    int (*sum_doubles)(dp_comm *c, double *v, int n);
    /* Every rank's h into all[0 .. size-1], on every rank. 0 or -1. */
    int (*gather_hash)(dp_comm *c, uint64_t h, uint64_t *all);
};

/* Micro-batches first .. first+*count-1 of K are rank r's of N: contiguous, in rank order,
 * sizes differing by at most one (some ranks get none when K < N). */
void dp_share(int K, int N, int r, int *first, int *count);

/* acc[i] += p[i] for i in 0..n-1: the only addition the batch gradient is made of. */
void dp_fold(float *restrict acc, const float *restrict p, long n);

/* Parse the options and train (every rank calls it). Returns the exit status: 0, 2 for a bad
 * command line, 1 for any other failure (said on stderr first). *help_only is set when --help
 * was asked for (status 0, nothing trained). */
int dp_main(dp_comm *c, int argc, char **argv, int *help_only);

#endif
