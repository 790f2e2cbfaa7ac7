/* peak.h -- the machine's measured fp32 multiply-add peak (bench/peak.c). */
#ifndef BACKPROP_BENCH_PEAK_H
#define BACKPROP_BENCH_PEAK_H

/* GFLOP/s of `threads` threads running independent multiply-adds at once, in the vector width
 * of the kernels the library uses (ag_kernels_name); -1 if the threads could not be started. */
double bench_fma_peak(int threads);

#endif
