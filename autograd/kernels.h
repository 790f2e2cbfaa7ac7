/*
 * kernels.h -- the kernel table: one set of number-crunching loops per instruction set, picked
 * once at run time, and the entry points the ops call.
 *
 * The loops are written once, in autograd/kernels_simd.h, with GCC/Clang vector extensions,
 * and compiled once per instruction set: kernels_generic.c (plain C: 16-byte vectors, any
 * compiler and CPU, ARM64 included) and, on x86-64 only, kernels_x86.c (AVX2+FMA and AVX-512,
 * each with a per-function target attribute, so nothing else in the library is compiled for
 * them). autograd/kernels.c asks the CPU what it has and picks the widest table it supports.
 */
#ifndef BACKPROP_AUTOGRAD_KERNELS_H
#define BACKPROP_AUTOGRAD_KERNELS_H

#include "autograd_private.h"

#include <stdatomic.h>

/* gemm_small copies a transposed B of at most this many values to the stack, the right way
 * round, before multiplying. */
#define AG_SMALL_BT 4096

/* concat_rows takes at most this many parts (their pointers and widths live on the stack). */
#define AG_CONCAT_MAX_PARTS 16

typedef struct ag_kernel_table {
    const char *name; /* "generic", "avx2", "avx512" */
    int mr, nr;       /* the gemm micro-tile: mr rows x nr columns of C */
    int mc, kc, nc;   /* cache blocking: packed A is (mc, kc), packed B (kc, nc) */

    /* ---- gemm pieces (see ag_gemm in kernels.c for how they fit together) ---- */
    /* Pack the (mc, kc) block of op(A) at A into panels of mr rows: panel p holds, for each k,
     * the mr values op(A)[p*mr .. p*mr+mr-1, k] (rows past mc are 0). op(A)[i,k] is
     * A[k*lda + i] when ta, else A[i*lda + k]. */
    void (*pack_a)(int mc, int kc, const float *A, long lda, bool ta, float *dst);
    /* Pack the (kc, nc) block of op(B) at B into panels of nr columns: panel q holds, for each
     * k, the nr values op(B)[k, q*nr .. q*nr+nr-1] (columns past nc are 0). op(B)[k,j] is
     * B[j*ldb + k] when tb, else B[k*ldb + j]. */
    void (*pack_b)(int kc, int nc, const float *B, long ldb, bool tb, float *dst);
    /* C (mc, nc), row stride ldc: C = A @ pb, or C += A @ pb when add. A is packed (pack_a)
     * when lda is 0, else the (mc, kc) block of a row-major A, row stride lda (no packing
     * needed). Each element is the sum over k in order, then stored or added once, whatever
     * tile it falls in and however A was given. */
    void (*macro)(int mc, int nc, int kc, const float *a, long lda, const float *pb, float *C,
                  long ldc, bool add);
    /* The whole product without packing, for small shapes: C (+)= op(A) @ op(B), (M,K) @ (K,N),
     * A stored (M,K) or (K,M) when ta, B stored (K,N) or (N,K) when tb. */
    void (*gemm_small)(int M, int N, int K, const float *A, bool ta, const float *B, bool tb,
                       float *C, bool accumulate);

    /* ---- elementwise, n values (any n, including 1) ---- */
    void (*sigmoid)(long n, const float *x, float *y);                   /* y = 1/(1+e^-x) */
    void (*sigmoid_vjp)(long n, const float *y, const float *dy, float *dx); /* dx += dy y(1-y) */
    void (*tanh)(long n, const float *x, float *y);                      /* y = tanh x */
    void (*tanh_vjp)(long n, const float *y, const float *dy, float *dx);    /* dx += dy (1-y^2) */
    void (*relu)(long n, const float *x, float *y);                      /* y = max(x, 0) */
    void (*relu_vjp)(long n, const float *x, const float *dy, float *dx);    /* dx += dy [x>0] */
    void (*exp)(long n, const float *x, float *y);                       /* y = e^x */
    void (*add)(long n, const float *a, const float *b, float *y);       /* y = a + b */
    void (*acc)(long n, const float *x, float *y);                       /* y += x */
    void (*copy)(long n, const float *x, float *y);                      /* y = x */
    /* y (rows, cols) = a (rows, cols) + b (cols): a row vector added to every row */
    void (*add_row)(long rows, long cols, const float *a, const float *b, float *y);
    /* y (cols) += the column sums of x (rows, cols), in a fixed order */
    void (*acc_colsum)(long rows, long cols, const float *x, float *y);
    /* y (rows, cols; row stride ldy >= cols) = x (rows, cols; row stride ldx >= cols), or +=
     * when add; may read x between its rows (never past its last row) */
    void (*copy_rows)(long rows, long cols, const float *x, long ldx, float *y, long ldy, bool add);
    /* out += c (y - d), or out = c (y - d) when !accumulate (a gradient nobody has written
     * yet: ag_grad_fresh): the losses' vjps */
    void (*diff_acc)(long n, float c, const float *y, const float *d, float *out, bool accumulate);
    /* sum of (y - d)^2, the squares and sums in double (a running sum per lane, in order) */
    double (*sqdiff_sum)(long n, const float *y, const float *d);
    /* dx = dy [x>0]: relu_vjp storing into a gradient nobody has written yet (ag_grad_fresh) */
    void (*relu_vjp_set)(long n, const float *x, const float *dy, float *dx);
    /* y[i] += x[t*ldx + i - t*dil] for t = 0..taps-1 in that order, the terms with
     * 0 <= i - t*dil < len only, for i = 0..n-1: col2im's taps along a row (a term that does
     * not exist adds 0) */
    void (*taps_acc)(long n, int taps, long dil, long len, const float *x, long ldx, float *y);

    /* ---- the fused dense layer (ops_linear.c) ---- */
    /* y (rows, cols) = act(y + b): the row b (cols) added to every row, then the activation, in
     * one pass; y = act(y) when b is NULL */
    void (*bias_act)(long rows, long cols, const float *b, ag_act act, float *y);
    /* dz = dy * act'(y), written (not added), act' from the forward's output y */
    void (*act_grad)(long n, ag_act act, const float *y, const float *dy, float *dz);

    /* ---- concat (ops_matrix.c) ---- */
    /* y (rows, T) = the parts x[p] (rows, cols[p]) side by side (T the sum of the cols), when
     * every part is narrower than a vector and there are at most AG_CONCAT_MAX_PARTS; else
     * false, y untouched (copy_rows a part at a time then) */
    bool (*concat_rows)(long rows, int parts, const long *cols, const float *const *x, float *y);
} ag_kernel_table;

extern const ag_kernel_table ag_kernels_generic;
#if defined(__x86_64__)
extern const ag_kernel_table ag_kernels_avx2, ag_kernels_avx512;
#endif

/* The table in use. Chosen at the first call: the widest instruction set the CPU (and the OS)
 * supports, or the one named by the environment variable BACKPROP_ISA (generic, avx2, avx512)
 * when the CPU has it. */
extern _Atomic(const ag_kernel_table *) ag_kernels_in_use;
const ag_kernel_table *ag_kernels_select(const char *name);
static inline const ag_kernel_table *ag_kernels(void) {
    const ag_kernel_table *k = atomic_load_explicit(&ag_kernels_in_use, memory_order_acquire);
    return k ? k : ag_kernels_select(NULL);
}

#endif /* BACKPROP_AUTOGRAD_KERNELS_H */
