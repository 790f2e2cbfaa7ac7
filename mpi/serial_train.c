/*
 * serial_train -- the single-process reference of mpi_train: the same training (mpi/dp_train.c)
 * in one process with no MPI, the batch gradient summed over the micro-batches in the same
 * fixed order. Its weights are the ones mpi_train must give, bit for bit, on any number of
 * processes (mpi/check.sh compares the saved files); with --micro-batch equal to --batch they
 * are also those of examples/fashion_mnist with the same flags.
 *
 *   build/mpi/serial_train --batch 64 --micro-batch 16 --epochs 2 --save serial.bin
 */
#include "dp_train.h"

#include <string.h>

static int bcast_nothing(dp_comm *c, void *buf, size_t n) {
    (void)c, (void)buf, (void)n; /* one process: rank 0's bytes are already everyone's */
    return 0;
}

/* One process holds every partial: fold them in micro-batch order. With one process a plain
 * all-reduce would return this same local sum, so --reduce allreduce gives the same bits. */
static int reduce_in_order(dp_comm *c, const float *partials, int first, int count, int K,
                           float *sum, long n) {
    (void)c, (void)first, (void)K;
    memcpy(sum, partials, (size_t)n * sizeof *sum);
    for (int k = 1; k < count; k++) dp_fold(sum, partials + (size_t)k * n, n);
    return 0;
}

static int sum_nothing(dp_comm *c, double *v, int n) {
    (void)c, (void)v, (void)n;
    return 0;
}

static int gather_own(dp_comm *c, uint64_t h, uint64_t *all) {
    (void)c;
    all[0] = h;
    return 0;
}

int main(int argc, char **argv) {
    dp_comm c = {.rank = 0, .size = 1, .prog = "serial_train", .bcast = bcast_nothing,
                 .reduce = reduce_in_order, .sum_doubles = sum_nothing, .gather_hash = gather_own};
    int help_only;
    return dp_main(&c, argc, argv, &help_only);
}
