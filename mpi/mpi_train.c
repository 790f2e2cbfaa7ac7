/*
 * mpi_train -- Fashion-MNIST trained data-parallel over MPI, with the same weights, bit for bit,
 * for any number of processes (and as build/mpi/serial_train, the one-process reference).
 *
 *   mpirun --oversubscribe -np 4 build/mpi/mpi_train --batch 64 --micro-batch 16 \
 *       --epochs 2 --checkpoint ckpt.bin --save final.bin
 *
 * Rank 0 reads the data and broadcasts it; each step every rank computes the partial gradients
 * of its micro-batches (mpi/dp_train.c) and this file sums them across the ranks in the global
 * micro-batch order; after each epoch every rank checks that its weights hash as rank 0's, and
 * rank 0 writes the checkpoint (nn_save: atomic). Any failure ends the whole job (MPI_Abort);
 * a rank that dies is noticed by mpirun, which ends the others (docs/scale-out.md).
 */
#define _POSIX_C_SOURCE 200809L /* gethostname */
#include "dp_train.h"
#include "mpi_reduce.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int bcast_bytes(dp_comm *c, void *buf, size_t n) {
    (void)c;
    for (size_t at = 0; at < n; at += (size_t)1 << 30) { /* MPI counts are ints */
        const size_t len = n - at < ((size_t)1 << 30) ? n - at : (size_t)1 << 30;
        if (MPI_Bcast((char *)buf + at, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1;
    }
    return 0;
}

static int reduce(dp_comm *c, const float *partials, int first, int count, int K, float *sum,
                  long n) {
    (void)first;
    if (n > INT_MAX) {
        fprintf(stderr, "%s: %ld gradients are more than one MPI message holds\n", c->prog, n);
        return -1;
    }
    return c->plain_allreduce ? mpi_reduce_plain(partials, count, sum, (int)n)
                              : mpi_reduce_ordered(c->rank, c->size, partials, count, K, sum, (int)n);
}

static int sum_doubles(dp_comm *c, double *v, int n) {
    (void)c;
    return MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS
               ? 0 : -1;
}

static int gather_hash(dp_comm *c, uint64_t h, uint64_t *all) {
    (void)c;
    return MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD) == MPI_SUCCESS
               ? 0 : -1;
}

int main(int argc, char **argv) {
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "mpi_train: MPI_Init failed\n");
        return 1;
    }
    dp_comm c = {.prog = "mpi_train", .bcast = bcast_bytes, .reduce = reduce,
                 .sum_doubles = sum_doubles, .gather_hash = gather_hash};
    MPI_Comm_rank(MPI_COMM_WORLD, &c.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c.size);
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    fprintf(stderr, "mpi_train: rank %d of %d is pid %ld on %s\n", c.rank, c.size, (long)getpid(),
            host);
    int help_only;
    const int rc = dp_main(&c, argc, argv, &help_only);
    if (rc == 1) {
        /* A failure (said on stderr) may be this rank's alone while the others wait in a
         * collective call: end the whole job rather than leave it hanging. */
        fprintf(stderr, "mpi_train: rank %d failed: ending the job\n", c.rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Finalize(); /* 0, or 2 for a bad command line (the same on every rank) */
    return rc;
}
