/*
 * kernels_generic.c -- the kernels of kernels_simd.h in plain C for any CPU: 16-byte vectors,
 * which the compiler turns into SSE2 on x86-64, NEON on ARM64, or scalar code elsewhere.
 * Micro-tile 6 x 8 (12 accumulator vectors: fits the 16 registers of SSE2).
 */
#include "kernels.h"

#define KV_NAME(x) x##_generic
#define KV_TARGET
#define KV_ISA_NAME "generic"
#define KV_BYTES 16
#define KV_MR 6
#define KV_NV 2
#define KV_MC 120
#define KV_KC 256
#define KV_NC 256
#define KV_FMA(a, b, c) ((a) * (b) + (c))
#define KV_SPLAT(x) ((KV_NAME(vf)){(x), (x), (x), (x)})
#include "kernels_simd.h"
