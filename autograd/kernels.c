/*
 * kernels.c -- the number-crunching loops the ops call. Ops decide what to compute; kernels
 * decide how fast. Plain C that the compiler vectorises.
 */
#include "internal.h"

#include <string.h>

/* C (+)= op(A) @ op(B)      (M,K) @ (K,N) -> (M,N)
 * A stored (M,K) [lda = K] or, when ta, (K,M) [lda = M]; B stored (K,N) or, when tb, (N,K).
 * Each case keeps its innermost loop running along contiguous memory. */
void ag_gemm(int M, int N, int K, const float *A, bool ta, const float *B, bool tb, float *C,
             bool accumulate) {
    if (!accumulate) memset(C, 0, (size_t)M * N * sizeof(float));
    if (!tb) {
        /* C[i,:] += A(i,k) * B[k,:]   -- a row of B scaled into a row of C */
        for (int i = 0; i < M; i++) {
            float *c = C + (long)i * N;
            for (int k = 0; k < K; k++) {
                const float a = ta ? A[(long)k * M + i] : A[(long)i * K + k];
                const float *b = B + (long)k * N;
                for (int j = 0; j < N; j++) c[j] += a * b[j];
            }
        }
    } else if (!ta) {
        /* C[i,j] += A[i,:] . B[j,:]   -- dot products of contiguous rows */
        for (int i = 0; i < M; i++) {
            const float *a = A + (long)i * K;
            for (int j = 0; j < N; j++) {
                const float *b = B + (long)j * K;
                float s = 0.0f;
                for (int k = 0; k < K; k++) s += a[k] * b[k];
                C[(long)i * N + j] += s;
            }
        }
    } else {
        /* C[i,j] += sum_k A[k,i] B[j,k]   -- both transposed: rare, kept simple */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                const float *b = B + (long)j * K;
                float s = 0.0f;
                for (int k = 0; k < K; k++) s += A[(long)k * M + i] * b[k];
                C[(long)i * N + j] += s;
            }
    }
}
