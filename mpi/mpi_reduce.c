/* mpi_reduce.c -- see mpi_reduce.h. */
#include "mpi_reduce.h"

#include "dp_train.h"

#include <mpi.h>
#include <string.h>

#define CHAIN_CHUNK 65536 /* floats per message of the ordered chain: 256 KiB */
#define TAG_CHAIN 16

/* The ordered sum. Only ranks that hold micro-batches take part, in rank order (which is
 * micro-batch order, dp_share): the first starts acc = p_0 and adds its other partials in order,
 * sends acc to the next, which adds its own in order, and so on: one left fold over the
 * micro-batches, exactly the additions one process makes. The buffer travels in chunks, so the
 * ranks work on different chunks at once (a pipeline). The last one broadcasts the sum; a
 * broadcast copies bytes, it adds nothing. */
int mpi_reduce_ordered(int rank, int size, const float *partials, int count, int K, float *sum,
                       int n) {
    int prev = -1, next = -1, root = 0;
    for (int r = 0; r < size; r++) {
        int f, k;
        dp_share(K, size, r, &f, &k);
        if (k == 0) continue;
        if (r < rank) prev = r;
        if (r > rank && next < 0) next = r;
        root = r; /* holds micro-batch K-1 */
    }
    if (count > 0)
        for (int at = 0; at < n; at += CHAIN_CHUNK) {
            const int len = n - at < CHAIN_CHUNK ? n - at : CHAIN_CHUNK;
            int j = 0;
            if (prev < 0) {
                memcpy(sum + at, partials + at, (size_t)len * sizeof *sum);
                j = 1;
            } else if (MPI_Recv(sum + at, len, MPI_FLOAT, prev, TAG_CHAIN, MPI_COMM_WORLD,
                                MPI_STATUS_IGNORE) != MPI_SUCCESS)
                return -1;
            for (; j < count; j++) dp_fold(sum + at, partials + (size_t)j * n + at, len);
            if (next >= 0 &&
                MPI_Send(sum + at, len, MPI_FLOAT, next, TAG_CHAIN, MPI_COMM_WORLD) != MPI_SUCCESS)
                return -1;
        }
    return MPI_Bcast(sum, n, MPI_FLOAT, root, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

/* For comparison: each rank sums its own partials, then one MPI_Allreduce adds the ranks' sums
 * in whatever order the library picks: ((p0+p1)+(p2+p3)) on 2 ranks is not (((p0+p1)+p2)+p3). */
int mpi_reduce_plain(const float *partials, int count, float *sum, int n) {
    if (count == 0) memset(sum, 0, (size_t)n * sizeof *sum);
    else memcpy(sum, partials, (size_t)n * sizeof *sum);
    for (int j = 1; j < count; j++) dp_fold(sum, partials + (size_t)j * n, n);
    return MPI_Allreduce(MPI_IN_PLACE, sum, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) ==
                   MPI_SUCCESS ? 0 : -1;
}

