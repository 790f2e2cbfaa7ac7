/*
 * kernels_x86.c -- the kernels of kernels_simd.h for x86-64 CPUs with AVX2+FMA and with
 * AVX-512. Each function carries its own target attribute, so only these functions use the
 * wider instructions, and kernels.c calls them only after asking the CPU (and the OS) whether
 * it has them: the library as a whole still runs on any x86-64.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* AVX2's masked moves take a vector of lane masks: the first n of them from this window. */
static const int32_t lane_masks[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
#define AVX2_MASK(n) _mm256_loadu_si256((const __m256i *)(const void *)(lane_masks + 8 - (n)))

/* AVX2 + FMA: 8 floats per vector; micro-tile 6 x 16 (12 accumulators of the 16 registers). */
#define KV_NAME(x) x##_avx2
#define KV_TARGET __attribute__((target("avx2,fma")))
#define KV_ISA_NAME "avx2"
#define KV_BYTES 32
#define KV_MR 6
#define KV_NV 2
#define KV_MC 120
#define KV_KC 256
#define KV_NC 256
#define KV_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define KV_SPLAT(x) _mm256_set1_ps(x)
#define KV_LOADN(p, n) _mm256_maskload_ps((p), AVX2_MASK(n))
#define KV_STOREN(p, v, n) _mm256_maskstore_ps((p), AVX2_MASK(n), (v))
#define KV_GATHER(p, idx) _mm256_i32gather_ps((p), (__m256i)(idx), 4)
#include "kernels_simd.h"
#undef KV_NAME
#undef KV_TARGET
#undef KV_ISA_NAME
#undef KV_BYTES
#undef KV_MR
#undef KV_NV
#undef KV_MC
#undef KV_KC
#undef KV_NC
#undef KV_FMA
#undef KV_SPLAT
#undef KV_LOADN
#undef KV_STOREN
#undef KV_GATHER

/* AVX-512F: 16 floats per vector; micro-tile 8 x 32 (16 accumulators of the 32 registers). */
#define KV_NAME(x) x##_avx512
#define KV_TARGET __attribute__((target("avx512f,avx2,fma")))
#define KV_ISA_NAME "avx512"
#define KV_BYTES 64
#define KV_MR 8
#define KV_NV 2
#define KV_MC 128
#define KV_KC 256
#define KV_NC 256
#define KV_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define KV_SPLAT(x) _mm512_set1_ps(x)
#define KV_LOADN(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), (p))
#define KV_STOREN(p, v, n) _mm512_mask_storeu_ps((p), (__mmask16)((1u << (n)) - 1), (v))
#define KV_GATHER(p, idx) _mm512_i32gather_ps((__m512i)(idx), (p), 4)
#include "kernels_simd.h"

#else
typedef int ag_kernels_x86_none; /* not x86-64: nothing here (ISO C wants a declaration) */
#endif
