/*
 * mpi_reduce.h -- one step's batch gradient summed across MPI ranks: the ordered sum that gives
 * the same bits for any number of ranks, and a plain MPI_Allreduce beside it for comparison.
 * Every rank of MPI_COMM_WORLD calls the same function with the same K and n.
 */
#ifndef BACKPROP_MPI_REDUCE_H
#define BACKPROP_MPI_REDUCE_H

/* This rank (of size) holds partials[0 .. count-1] (n floats each) of its share of the K
 * micro-batches (dp_share). On return sum holds p_0 + p_1 + ... + p_{K-1} on every rank, added
 * in micro-batch order, the same additions one process makes. 0, or -1 when MPI fails. */
int mpi_reduce_ordered(int rank, int size, const float *partials, int count, int K, float *sum,
                       int n);

/* The same sum the usual way: this rank's partials added locally, then MPI_Allreduce(SUM):
 * its order depends on the number of ranks (and on the library's algorithm). 0 or -1. */
int mpi_reduce_plain(const float *partials, int count, float *sum, int n);

#endif
