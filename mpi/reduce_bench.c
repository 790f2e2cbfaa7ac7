/*
 * reduce_bench -- what the ordered sum costs beside a plain MPI_Allreduce, with no training
 * around it: every rank holds its share of K micro-batch partial gradients of n floats each
 * (made-up values, the same on any number of ranks), and each method sums them `reps` times.
 * Each call starts after a barrier and is timed on every rank; the slowest rank's time counts.
 * Prints the median and the quartiles per method, and whether each method's sum has the bits of
 * the one-process left fold (the ordered sum must; the all-reduce need not).
 *
 *   mpirun --oversubscribe -np 2 build/mpi/reduce_bench --floats 203530 --micro-batches 4
 */
#include "cli.h"
#include "dp_train.h"
#include "mpi_reduce.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Partial k's element i: a value of varied size and sign, so that sums round differently in
 * different orders (as gradients do). */
static float partial_value(int k, int i) {
    const unsigned u = (unsigned)(k * 2654435761u) ^ (unsigned)(i * 40503u);
    return (float)((int)(u % 20001u) - 10000) * (1.0f + (float)(u % 7u)) * 1e-4f;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int n = 203530, K = 4, reps = 200;
    const cli_opt opts[] = {
        {"--floats", CLI_INT, &n, 1, 1 << 28, "floats per gradient (203530: the 784-256-10 net)"},
        {"--micro-batches", CLI_INT, &K, 1, 1024, "partials per step, shared over the ranks"},
        {"--reps", CLI_INT, &reps, 1, 100000, "timed calls per method"},
    };
    int rc = cli_parse(argc, argv, opts, 3, "time the ordered sum against MPI_Allreduce");
    if (rc != CLI_CONTINUE) {
        MPI_Finalize();
        return rc;
    }
    int first, count;
    dp_share(K, size, rank, &first, &count);
    float *partials = malloc((size_t)(count ? count : 1) * (size_t)n * sizeof(float));
    float *sum = malloc((size_t)n * sizeof(float)), *want = malloc((size_t)n * sizeof(float));
    float *one = malloc((size_t)n * sizeof(float));
    double *times = malloc((size_t)reps * sizeof(double));
    if (!partials || !sum || !want || !one || !times) {
        fprintf(stderr, "reduce_bench: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int j = 0; j < count; j++)
        for (int i = 0; i < n; i++) partials[(size_t)j * n + i] = partial_value(first + j, i);
    for (int i = 0; i < n; i++) want[i] = partial_value(0, i); /* the one-process left fold */
    for (int k = 1; k < K; k++) {
        for (int i = 0; i < n; i++) one[i] = partial_value(k, i);
        dp_fold(want, one, n);
    }
    if (rank == 0)
        printf("%d process%s, %d partials of %d floats (%.0f KiB) per sum, %d calls per method\n",
               size, size > 1 ? "es" : "", K, n, n * 4.0 / 1024, reps);
    const char *names[2] = {"ordered (chain + broadcast)", "MPI_Allreduce"};
    for (int m = 0; m < 2; m++) {
        for (int r = 0; r < reps; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            const double t0 = MPI_Wtime();
            const int bad = m == 0 ? mpi_reduce_ordered(rank, size, partials, count, K, sum, n)
                                   : mpi_reduce_plain(partials, count, sum, n);
            double dt = MPI_Wtime() - t0;
            if (bad) MPI_Abort(MPI_COMM_WORLD, 1);
            MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            times[r] = dt;
        }
        int same = memcmp(sum, want, (size_t)n * sizeof(float)) == 0;
        MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        qsort(times, (size_t)reps, sizeof *times, cmp_double);
        if (rank == 0)
            printf("%-28s median %8.3f ms  (quartiles %.3f .. %.3f ms)  sum %s the one-process "
                   "fold's bits\n", names[m], 1e3 * times[reps / 2], 1e3 * times[reps / 4],
                   1e3 * times[3 * reps / 4], same ? "has" : "does NOT have");
    }
    free(partials), free(sum), free(want), free(one), free(times);
    MPI_Finalize();
    return 0;
}
