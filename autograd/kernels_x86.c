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

/* The first n (0 < n < 8) lanes of v stored to p[0..n-1], the memory after them untouched: four,
 * two and one lanes at a time as n's bits say (at most three plain stores). Not vmaskmovps:
 * its store form runs as 42 micro-ops, about 12 cycles each, on AMD's Zen 2 and Zen 3 (the
 * uops.info tables; the load form is one micro-op there), the AVX2-only kind this project runs
 * on. Zen 5 runs it as fast as a plain store, so the AVX-512 machine does not show the cost. */
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
storen_avx2(float *p, __m256 v, long n) {
    __m128 x = _mm256_castps256_ps128(v);
    if (n & 4) {
        _mm_storeu_ps(p, x);
        x = _mm256_extractf128_ps(v, 1);
        p += 4;
    }
    if (n & 2) {
        _mm_storel_pi((__m64 *)(void *)p, x);
        x = _mm_movehl_ps(x, x);
        p += 2;
    }
    if (n & 1) _mm_store_ss(p, x);
}

/* An 8 x 8 block transposed in registers, for packing a transposed operand: dst[c*ldd + r] =
 * src[r*lds + c]. Rows r0..r7 -> pairs interleaved (unpack) -> quads (shuffle) -> the two
 * 128-bit halves swapped across (permute2f128): 24 shuffles for 64 values, against 64 scalar
 * stores across a panel. Shared by the AVX2 and AVX-512 tables (whose panels are multiples of
 * 8 wide). */
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
transpose8(const float *src, long lds, float *dst, long ldd) {
    __m256 r[8], t[8], u[8]; /* unrolled, so that the arrays stay in registers */
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
#pragma GCC unroll 4
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);     /* r_i0 r_j0 r_i1 r_j1 | r_i4 r_j4 .. */
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]); /* r_i2 r_j2 r_i3 r_j3 | r_i6 r_j6 .. */
    }
#pragma GCC unroll 2
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);     /* column 0 | 4 of rows i..i+3 */
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE); /* column 1 | 5 */
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44); /* column 2 | 6 */
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE); /* column 3 | 7 */
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        _mm256_storeu_ps(dst + c * ldd, _mm256_permute2f128_ps(u[c], u[c + 4], 0x20));
        _mm256_storeu_ps(dst + (c + 4) * ldd, _mm256_permute2f128_ps(u[c], u[c + 4], 0x31));
    }
}

/* AVX2 + FMA: 8 floats per vector; micro-tile 6 x 16 (12 accumulators of the 16 registers).
 * Blocks of 72 rows of A (72 KB of packed A at kc = 256): measured on the Zen 3 against 84-128
 * (docs/performance.md, "The Zen 3"). */
#define KV_NAME(x) x##_avx2
#define KV_TARGET __attribute__((target("avx2,fma")))
#define KV_ISA_NAME "avx2"
#define KV_BYTES 32
#define KV_MR 6
#define KV_NV 2
#define KV_MC 72
#define KV_KC 256
#define KV_NC 256
#define KV_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define KV_SPLAT(x) _mm256_set1_ps(x)
#define KV_LOADN(p, n) _mm256_maskload_ps((p), AVX2_MASK(n))
#define KV_STOREN(p, v, n) storen_avx2((p), (v), (n))
#define KV_TRANSPOSE8(src, lds, dst, ldd) transpose8(src, lds, dst, ldd)
#define KV_LOADR(p, lo, hi)                                                                     \
    _mm256_maskload_ps((p), _mm256_andnot_si256(AVX2_MASK(lo), AVX2_MASK(hi)))
#define KV_GATHER(p, idx) _mm256_i32gather_ps((p), (__m256i)(idx), 4)
#define KV_MIN(c, x) _mm256_min_ps((c), (x))
#define KV_MAX(c, x) _mm256_max_ps((c), (x))
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
#undef KV_TRANSPOSE8
#undef KV_LOADR
#undef KV_GATHER
#undef KV_MIN
#undef KV_MAX

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
#define KV_TRANSPOSE8(src, lds, dst, ldd) transpose8(src, lds, dst, ldd)
#define KV_LOADR(p, lo, hi)                                                                     \
    _mm512_maskz_loadu_ps((__mmask16)(((1u << (hi)) - 1) & ~((1u << (lo)) - 1)), (p))
#define KV_GATHER(p, idx) _mm512_i32gather_ps((__m512i)(idx), (p), 4)
#define KV_MIN(c, x) _mm512_min_ps((c), (x))
#define KV_MAX(c, x) _mm512_max_ps((c), (x))
#include "kernels_simd.h"

#else
typedef int ag_kernels_x86_none; /* not x86-64: nothing here (ISO C wants a declaration) */
#endif
