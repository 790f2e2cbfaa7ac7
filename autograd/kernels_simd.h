/*
 * kernels_simd.h -- every vector kernel, written once; a TEMPLATE, included once per
 * instruction set by kernels_generic.c and kernels_x86.c (no include guard on purpose).
 *
 * The including file defines:
 *   KV_NAME(x)     x with this instantiation's suffix (x##_avx512 ...)
 *   KV_TARGET      the function attribute that enables the instruction set, or nothing
 *   KV_BYTES       the vector width in bytes: 16, 32 or 64
 *   KV_MR, KV_NV   the gemm micro-tile: KV_MR rows by KV_NV vectors of C
 *   KV_MC, KV_KC, KV_NC   cache blocking of the packed panels
 *   KV_FMA(a,b,c)  a*b + c on vectors (one fused instruction where the set has one)
 *   KV_SPLAT(x)    a vector holding the float x in every lane
 *   KV_ISA_NAME    the table's name ("generic", "avx2", "avx512")
 *   KV_LOADN(p,n), KV_STOREN(p,v,n)   (optional) the first n lanes, by masked moves
 *   KV_TRANSPOSE8(src,lds,dst,ldd)    (optional) an 8 x 8 block transposed in registers:
 *                  dst[c*ldd + r] = src[r*lds + c] for r, c < 8
 *   KV_GATHER(p, idx)  (optional) the floats p[idx[0]], p[idx[1]], ... (idx a vector of int32)
 *   KV_LOADR(p,lo,hi)  (optional) lanes lo..hi-1 of the vector at p by a masked load, the others 0
 *   KV_MIN(c,x), KV_MAX(c,x)  (optional) lane by lane c < x ? c : x and c > x ? c : x, giving x
 *                  wherever the comparison is false (x NaN too): x86's minps and maxps
 * and gets the table KV_NAME(ag_kernels) (see kernels.h for what each entry computes).
 *
 * Vectors are GCC/Clang vector extensions (`float __attribute__((vector_size(N)))`), so the
 * same source becomes SSE/NEON, AVX2 or AVX-512 code. Loads and stores go through memcpy
 * (unaligned-safe, compiled to one move). Every loop runs whole vectors and finishes a ragged
 * end by copying it through a small zero-padded buffer, so each element is computed by the
 * same instructions wherever it sits.
 */

#include <stdint.h>
#include <string.h>

#define VL (KV_BYTES / 4)    /* floats per vector */
#define MR KV_MR
#define NR (KV_NV * VL)

typedef float KV_NAME(vf) __attribute__((vector_size(KV_BYTES)));
typedef int32_t KV_NAME(vi) __attribute__((vector_size(KV_BYTES)));
typedef uint32_t KV_NAME(vu) __attribute__((vector_size(KV_BYTES)));
#define vf KV_NAME(vf)
#define vi KV_NAME(vi)
#define vu KV_NAME(vu)

/* ---- vector helpers ------------------------------------------------------------------------- */

KV_TARGET static inline vf KV_NAME(load)(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
KV_TARGET static inline void KV_NAME(store)(float *p, vf v) { memcpy(p, &v, sizeof v); }
#define LOAD KV_NAME(load)
#define STORE KV_NAME(store)

/* The first n (0 < n < VL) lanes from / to memory, the other lanes zero / untouched. With
 * masked moves where the instruction set has them (KV_LOADN, KV_STOREN), else one by one. */
#ifdef KV_LOADN
#define LOADN(p, n) ((vf)KV_LOADN(p, n))
#define STOREN(p, v, n) KV_STOREN(p, v, n)
#else
KV_TARGET static inline vf KV_NAME(loadn)(const float *p, long n) {
    float b[VL] = {0};
    for (long l = 0; l < n; l++) b[l] = p[l];
    return LOAD(b);
}
KV_TARGET static inline void KV_NAME(storen)(float *p, vf v, long n) {
    float b[VL];
    STORE(b, v);
    for (long l = 0; l < n; l++) p[l] = b[l];
}
#define LOADN(p, n) KV_NAME(loadn)(p, n)
#define STOREN(p, v, n) KV_NAME(storen)(p, v, n)
#endif

/* Lanes lo .. hi-1 (0 <= lo < hi <= VL) from p[lo] .. p[hi-1], the others zero; the lanes
 * outside are not read (p itself may point before the memory). */
#ifdef KV_LOADR
#define LOADR(p, lo, hi) ((vf)KV_LOADR(p, lo, hi))
#else
KV_TARGET static inline vf KV_NAME(loadr)(const float *p, long lo, long hi) {
    float b[VL] = {0};
    for (long l = lo; l < hi; l++) b[l] = p[l];
    return LOAD(b);
}
#define LOADR(p, lo, hi) KV_NAME(loadr)(p, lo, hi)
#endif

/* m ? a : b, lane by lane (m from a comparison: all ones or all zeros) */
KV_TARGET static inline vf KV_NAME(select)(vi m, vf a, vf b) {
    return (vf)(((vi)a & m) | ((vi)b & ~m));
}
#define SELECT KV_NAME(select)

/* CLAMP_ABOVE(c, x) = x > c ? c : x and CLAMP_BELOW(c, x) = x < c ? c : x, lane by lane, NaN
 * passing through: one instruction where the table has KV_MIN/KV_MAX, else a comparison and a
 * blend. */
#ifdef KV_MIN
#define CLAMP_ABOVE(c, x) ((vf)KV_MIN((c), (x)))
#define CLAMP_BELOW(c, x) ((vf)KV_MAX((c), (x)))
#else
#define CLAMP_ABOVE(c, x) SELECT((x) > (c), (c), (x))
#define CLAMP_BELOW(c, x) SELECT((x) < (c), (c), (x))
#endif

/* e^f for x = n ln2 + f, |f| <= ln2/2 (Cody-Waite: ln2 in two parts), by a degree-6 polynomial
 * fitted for the least maximum relative error over |f| <= 0.3468: 3.1e-9 in exact arithmetic,
 * about 1.2 units of 2^-24 in float arithmetic, as with Cephes' degree-7 expf polynomial (used
 * here before, two multiplications more); also n + bias, read off the bits of
 * t = x log2(e) + 1.5 * 2^23 (adding 1.5 * 2^23 rounds to an integer, which t's low bits hold).
 * x is already clamped. */
KV_TARGET static inline __attribute__((always_inline)) vf KV_NAME(exp_reduced)(vf x, int bias,
                                                                                vi *biased) {
    const vf magic = KV_SPLAT(12582912.0f); /* 1.5 * 2^23 */
    vf t = KV_FMA(x, KV_SPLAT(1.44269504088896341f), magic);
    vf n = t - magic;
    *biased = (vi)t - ((vi)magic - bias);
    vf f = KV_FMA(n, KV_SPLAT(-0.693359375f), x);
    f = KV_FMA(n, KV_SPLAT(2.12194440e-4f), f);
    /* e^f = 1 + f + f^2 ((c0 + c1 f) + f^2 ((c2 + c3 f) + f^2 c4)): the pairs side by side
     * (Estrin's scheme), a shorter chain of dependent operations than one term at a time */
    const vf f2 = f * f;
    const vf q0 = KV_FMA(KV_SPLAT(1.666651964e-1f), f, KV_SPLAT(4.999999404e-1f));
    const vf q1 = KV_FMA(KV_SPLAT(8.368755691e-3f), f, KV_SPLAT(4.166839272e-2f));
    const vf q = KV_FMA(f2, KV_FMA(f2, KV_SPLAT(1.381451730e-3f), q1), q0);
    return KV_FMA(q, f2, f) + KV_SPLAT(1.0f);
}

/* e^x, within 1.02 ulp (a scan of 42 million floats over [-100, 90] against libm): e^f as above,
 * times 2^n built in the exponent bits. 2^n is applied as two factors so that results near
 * overflow and underflow (x > 88.7 -> inf, x < -87.3 -> subnormal or 0) come out as IEEE
 * arithmetic rounds them. NaN stays NaN. */
KV_TARGET static inline vf KV_NAME(vexp)(vf x) {
    x = CLAMP_ABOVE(KV_SPLAT(89.0f), x); /* comparisons with NaN are false: NaN passes through */
    x = CLAMP_BELOW(KV_SPLAT(-104.0f), x);
    /* n1 + 127 = (n + 254) >> 1 and n2 + 127 = (n + 254) - (n1 + 127), the biased exponents of
     * 2^n1 and 2^n2, n1 = n >> 1 and n2 = n - n1 */
    vi biased;
    const vf p = KV_NAME(exp_reduced)(x, 254, &biased);
    const vi e1 = biased >> 1, e2 = biased - e1;
    vf s1 = (vf)((vu)e1 << 23), s2 = (vf)((vu)e2 << 23);
    return p * s1 * s2;
}

/* e^x where only a sum with 1 is wanted (the sigmoid's 1 + e^-x, tanh's e^2|x| + 1): x clamped to
 * [-87, 89], so that n runs from -126 to 128 and 2^n is one factor (2^128's bits are infinity's).
 * The same bits as vexp from -87 to 88.37. Below, 1 + e^x is 1 either way; above, this gives
 * infinity where e^x is still a float below 3.5e38, so a sigmoid of -88.72 .. -88.37 comes out 0
 * instead of a subnormal number below 4.2e-39 (tanh is 1 either way). Four vector operations
 * fewer than vexp. NaN stays NaN. */
KV_TARGET static inline vf KV_NAME(vexp_plus1)(vf x) {
    x = CLAMP_ABOVE(KV_SPLAT(89.0f), x);
    x = CLAMP_BELOW(KV_SPLAT(-87.0f), x);
    vi biased;
    const vf p = KV_NAME(exp_reduced)(x, 127, &biased);
    return p * (vf)((vu)biased << 23);
}

/* 1 / (1 + e^-x): the paper's squashing function */
KV_TARGET static inline vf KV_NAME(vsigmoid)(vf x) { return KV_SPLAT(1.0f) / (KV_SPLAT(1.0f) + KV_NAME(vexp_plus1)(-x)); }

/* tanh x: an odd polynomial (Cephes' tanhf coefficients) for |x| < 0.625, where 1 - 2/(e^2|x|+1)
 * would lose relative accuracy; that formula elsewhere; both on |x|, then x's sign (so that
 * tanh(-0) = -0). */
KV_TARGET static inline vf KV_NAME(vtanh)(vf x) {
    const vi sign = (vi)KV_SPLAT(-0.0f);
    const vf ax = (vf)((vi)x & ~sign);
    const vf big = KV_SPLAT(1.0f) - KV_SPLAT(2.0f) / (KV_NAME(vexp_plus1)(ax + ax) + KV_SPLAT(1.0f));
    const vf z = x * x;
    vf p = KV_SPLAT(-5.70498872745e-3f);
    p = KV_FMA(p, z, KV_SPLAT(2.06390887954e-2f));
    p = KV_FMA(p, z, KV_SPLAT(-5.37397155531e-2f));
    p = KV_FMA(p, z, KV_SPLAT(1.33314422036e-1f));
    p = KV_FMA(p, z, KV_SPLAT(-3.33332819422e-1f));
    const vf small = KV_FMA(p * z, ax, ax);
    return (vf)((vi)SELECT(ax < KV_SPLAT(0.625f), small, big) | ((vi)x & sign));
}

/* ---- elementwise loops ---------------------------------------------------------------------- */

/* out[i] = STEP(in1[i], in2[i], out[i]) over n values, a vector at a time; the ragged end
 * with partial loads and stores. STEP is a vector function of three vectors (the old out
 * matters to the vjps, which add into it). */
#define KV_DRIVE(STEP, n, in1, in2, out)                                                        \
    do {                                                                                        \
        long i_ = 0;                                                                            \
        for (; i_ + VL <= (n); i_ += VL)                                                        \
            STORE((out) + i_, STEP(LOAD((in1) + i_), LOAD((in2) + i_), LOAD((out) + i_)));      \
        if (i_ < (n)) {                                                                         \
            const long r_ = (n) - i_;                                                           \
            STOREN((out) + i_,                                                                  \
                   STEP(LOADN((in1) + i_, r_), LOADN((in2) + i_, r_), LOADN((out) + i_, r_)),   \
                   r_);                                                                         \
        }                                                                                       \
    } while (0)

/* A kernel over n values from a vector expression, one macro per signature:
 *   MAP1(name, f(x))           y = f(x)                            name(n, x, y)
 *   MAP2(name, f(x, u))        y = f(x, u)                         name(n, x, u, y)
 *   UPDATE(name, f(x, y))      y = f(x, y)  (y's old value)        name(n, x, y)
 *   VJP_Y(name, f(y, dy, dx))  dx = f(...), with y the forward's output   name(n, y, dy, dx)
 *   VJP_X(name, f(x, dy, dx))  dx = f(...), with x the forward's input    name(n, x, dy, dx) */
#define KV_ELEMENTWISE(fname, A, B, C, EXPR, IN1, IN2, OUT, ...)                               \
    KV_TARGET static inline vf KV_NAME(fname##_step)(vf A, vf B, vf C) {                        \
        (void)A, (void)B, (void)C;                                                              \
        return EXPR;                                                                            \
    }                                                                                           \
    KV_TARGET static void KV_NAME(fname)(long n, __VA_ARGS__) {                                 \
        KV_DRIVE(KV_NAME(fname##_step), n, IN1, IN2, OUT);                                      \
    }
#define MAP1(f, E) KV_ELEMENTWISE(f, x, u_, y_, E, x, x, y, const float *x, float *y)
#define MAP2(f, E) KV_ELEMENTWISE(f, x, u, y_, E, x, u, y, const float *x, const float *u, float *y)
#define UPDATE(f, E) KV_ELEMENTWISE(f, x, u_, y, E, x, x, y, const float *x, float *y)
#define VJP_Y(f, E)                                                                             \
    KV_ELEMENTWISE(f, y, dy, dx, E, y, dy, dx, const float *y, const float *dy, float *dx)
#define VJP_X(f, E)                                                                             \
    KV_ELEMENTWISE(f, x, dy, dx, E, x, dy, dx, const float *x, const float *dy, float *dx)
#define ONE KV_SPLAT(1.0f)
#define ZERO KV_SPLAT(0.0f)

MAP1(sigmoid, KV_NAME(vsigmoid)(x))          /* y = 1 / (1 + e^-x) */
MAP1(tanh, KV_NAME(vtanh)(x))                /* y = tanh x */
MAP1(relu, SELECT(x > ZERO, x, ZERO))        /* y = max(x, 0) */
MAP1(exp, KV_NAME(vexp)(x))                  /* y = e^x */
MAP1(copy, x)                                /* y = x */
MAP2(add, x + u)                             /* y = x + u */
UPDATE(acc, y + x)                           /* y += x */
VJP_Y(sigmoid_vjp, dx + dy * y * (ONE - y))  /* sigmoid: dx += dy y (1 - y) */
VJP_Y(tanh_vjp, dx + dy * (ONE - y * y))     /* tanh:    dx += dy (1 - y^2) */
VJP_X(relu_vjp, dx + SELECT(x > ZERO, dy, ZERO)) /* relu: dx += dy [x > 0] */
VJP_X(relu_vjp_set, SELECT(x > ZERO, dy, ZERO))  /* relu: dx = dy [x > 0] */

/* col2im's taps along a row (see the table entry): each vector of y once, every tap's term
 * added into it in order, the lanes a tap does not reach adding zeros */
KV_TARGET static void KV_NAME(taps_acc)(long n, int taps, long dil, long len, const float *x,
                                        long ldx, float *y) {
    for (long j0 = 0; j0 < n; j0 += VL) {
        const long m = n - j0 < VL ? n - j0 : VL;
        vf acc = m == VL ? LOAD(y + j0) : LOADN(y + j0, m);
        for (int t = 0; t < taps; t++) {
            const long s = t * dil; /* lane l: i = j0 + l, the term x[t*ldx + i - s] */
            long lo = s - j0, hi = s + len - j0;
            lo = lo < 0 ? 0 : lo;
            hi = hi > m ? m : hi;
            if (lo < hi) acc = acc + LOADR(x + t * ldx + (j0 - s), lo, hi);
        }
        if (m == VL) STORE(y + j0, acc);
        else STOREN(y + j0, acc, m);
    }
}

/* out += c (y - d), or out = c (y - d) without reading out (the same bits as adding into zeros,
 * but for the sign of a zero): the losses' vjps */
KV_TARGET static void KV_NAME(diff_acc)(long n, float c, const float *y, const float *d,
                                        float *out, bool accumulate) {
    const vf cv = KV_SPLAT(c);
    long i = 0;
    if (!accumulate) {
        for (; i + VL <= n; i += VL) STORE(out + i, cv * (LOAD(y + i) - LOAD(d + i)));
        if (i < n) STOREN(out + i, cv * (LOADN(y + i, n - i) - LOADN(d + i, n - i)), n - i);
        return;
    }
    for (; i + VL <= n; i += VL) STORE(out + i, KV_FMA(cv, LOAD(y + i) - LOAD(d + i), LOAD(out + i)));
    if (i < n)
        STOREN(out + i, KV_FMA(cv, LOADN(y + i, n - i) - LOADN(d + i, n - i), LOADN(out + i, n - i)), n - i);
}

/* sum of (y - d)^2 in double: the difference in float, its square and the sums in double (one
 * running sum per lane, the lanes added in order at the end) */
typedef double KV_NAME(vd) __attribute__((vector_size(KV_BYTES)));
KV_TARGET static inline void KV_NAME(add_squares)(KV_NAME(vd) *s0, KV_NAME(vd) *s1, vf t) {
    /* lane by lane, which the compilers turn into one widening conversion per half (GCC 12's
     * __builtin_convertvector of a half vector took two narrower ones, a spill and a reload) */
    KV_NAME(vd) a, b;
#pragma GCC unroll 16
    for (int l = 0; l < VL / 2; l++) a[l] = t[l], b[l] = t[VL / 2 + l];
    *s0 += a * a;
    *s1 += b * b;
}
KV_TARGET static double KV_NAME(sqdiff_sum)(long n, const float *y, const float *d) {
    KV_NAME(vd) s0 = {0}, s1 = {0};
    long i = 0;
    for (; i + VL <= n; i += VL) KV_NAME(add_squares)(&s0, &s1, LOAD(y + i) - LOAD(d + i));
    if (i < n) KV_NAME(add_squares)(&s0, &s1, LOADN(y + i, n - i) - LOADN(d + i, n - i));
    double s = 0.0;
    for (int l = 0; l < VL / 2; l++) s += s0[l];
    for (int l = 0; l < VL / 2; l++) s += s1[l];
    return s;
}

/* Rows narrower than a vector (cols < VL) are taken as one flat array of rows*cols values:
 * vector v starts at flat index v*VL, in column (v*VL) % cols, and that phase repeats every
 * `cols` vectors. So a row vector b is laid out once per phase (tile), and column sums are
 * kept per phase (part), which keeps every lane busy however narrow the rows. */

/* The bias row b (cols) laid out for a (rows, cols) block taken as one flat array: vector v
 * starts at flat index v*VL, in column (v*VL) % cols, and that phase repeats every
 * lcm(cols, VL) floats. Returns that period in vectors, with the floats of one period in tile
 * (for cols a multiple of VL, b itself is the period: *tile = b), or 0 when the period is longer
 * than BIAS_TILE floats (rows that wide are done row by row). buf holds BIAS_TILE + VL floats. */
#define BIAS_TILE (64 * VL)
KV_TARGET static inline long KV_NAME(bias_tile)(long cols, const float *b, float *buf,
                                                const float **tile) {
    long m = VL; /* lcm(cols, VL) = cols * m, m = VL / gcd: VL is a power of two */
    for (long c = cols; m > 1 && !(c & 1); c >>= 1) m >>= 1;
    const long period = cols * m;
    if (period > BIAS_TILE) return 0;
    if (period == cols) {
        *tile = b;
    } else { /* copies of b one after the other, a vector at a time: a copy's last vector may
              * run past it (into the next copy, written after it, or the VL floats of room past
              * BIAS_TILE in buf) */
        for (long f = 0; f < period; f += cols) {
            long j = 0;
            for (; j + VL <= cols; j += VL) STORE(buf + f + j, LOAD(b + j));
            if (j < cols) STORE(buf + f + j, LOADN(b + j, cols - j));
        }
        *tile = buf;
    }
    return period / VL;
}

/* y (rows, cols) = a (rows, cols) + b (cols): the block as one flat array (bias_tile), so that
 * every vector is whole but the last; row by row for rows too wide for a tile */
KV_TARGET static void KV_NAME(add_row)(long rows, long cols, const float *a, const float *b,
                                       float *y) {
    float buf[BIAS_TILE + VL]; /* room for bias_tile's last vector */
    const float *tile = NULL;
    const long phases = KV_NAME(bias_tile)(cols, b, buf, &tile);
    if (phases) {
        const long n = rows * cols;
        long i = 0, p = 0;
        for (; i + VL <= n; i += VL, p = p + 1 == phases ? 0 : p + 1)
            STORE(y + i, LOAD(a + i) + LOAD(tile + p * VL));
        if (i < n) STOREN(y + i, LOADN(a + i, n - i) + LOAD(tile + p * VL), n - i);
        return;
    }
    for (long r = 0; r < rows; r++) KV_NAME(add)(cols, a + r * cols, b, y + r * cols);
}

/* part[p] = the sum, in order, of the vectors of phase p (p < NP: those at flat index v*VL for v
 * = p, p + NP, p + 2 NP, ...) of n values x, for one NP (a constant after inlining, so that the
 * running sums of the whole periods stay in registers). */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(phase_sums)(int NP, long n, const float *x, vf *part) {
    vf acc[VL];
#pragma GCC unroll 16
    for (int p = 0; p < NP; p++) acc[p] = KV_SPLAT(0.0f);
    long i = 0;
    for (; i + NP * VL <= n; i += NP * VL)
#pragma GCC unroll 16
        for (int p = 0; p < NP; p++) acc[p] += LOAD(x + i + p * VL);
#pragma GCC unroll 16
    for (int p = 0; p < NP; p++) part[p] = acc[p];
    int p = 0;
    for (; i + VL <= n; i += VL, p++) part[p] += LOAD(x + i);
    if (i < n) part[p] += LOADN(x + i, n - i);
}

/* y (cols) += the column sums of x (rows, cols). Narrow rows: one running sum per phase
 * (phase_sums), the lanes then added into their columns in order. Wide rows: four running sums
 * (rows 0,4,8..; 1,5,9..; ..) per vector of columns, so that the adds overlap, then
 * (s0 + s1) + (s2 + s3). */
KV_TARGET static void KV_NAME(acc_colsum)(long rows, long cols, const float *x, float *y) {
    if (cols < VL) {
        vf part[VL];
        const long n = rows * cols;
        switch (cols) { /* each width its own loop; the widths a table cannot have fold away */
#define PHASES(c)                                                                               \
    case c:                                                                                     \
        if (c < VL) KV_NAME(phase_sums)(c < VL ? c : 1, n, x, part);                            \
        break;
            PHASES(1) PHASES(2) PHASES(3) PHASES(4) PHASES(5) PHASES(6) PHASES(7) PHASES(8)
            PHASES(9) PHASES(10) PHASES(11) PHASES(12) PHASES(13) PHASES(14) PHASES(15)
#undef PHASES
        }
        float lanes[VL * VL]; /* flat index f of the phases is in column f % cols */
        for (long q = 0; q < cols; q++) STORE(lanes + q * VL, part[q]);
        /* column j's sum is lanes[j] + lanes[j + cols] + ... in that order: the columns side by
         * side in the lanes of one vector, VL steps of cols floats */
        vf t = KV_SPLAT(0.0f);
        for (long q = 0; q < VL; q++) t += LOADN(lanes + q * cols, cols);
        STOREN(y, LOADN(y, cols) + t, cols);
        return;
    }
    for (long j = 0; j < cols; j += VL) {
        const long w = cols - j < VL ? cols - j : VL;
        vf s0 = KV_SPLAT(0.0f), s1 = s0, s2 = s0, s3 = s0;
        long r = 0;
        if (w == VL) {
            for (; r + 4 <= rows; r += 4) {
                const float *q = x + r * cols + j;
                s0 += LOAD(q), s1 += LOAD(q + cols), s2 += LOAD(q + 2 * cols), s3 += LOAD(q + 3 * cols);
            }
            for (; r < rows; r++) s0 += LOAD(x + r * cols + j);
            STORE(y + j, LOAD(y + j) + ((s0 + s1) + (s2 + s3)));
        } else {
            for (; r + 4 <= rows; r += 4) {
                const float *q = x + r * cols + j;
                s0 += LOADN(q, w), s1 += LOADN(q + cols, w), s2 += LOADN(q + 2 * cols, w),
                    s3 += LOADN(q + 3 * cols, w);
            }
            for (; r < rows; r++) s0 += LOADN(x + r * cols + j, w);
            STOREN(y + j, LOADN(y + j, w) + ((s0 + s1) + (s2 + s3)), w);
        }
    }
}

/* y (rows, cols; row stride ldy) = x (rows, cols; row stride ldx), or += when add: a block of
 * columns of a wider matrix (concat and its gradient) */
KV_TARGET static void KV_NAME(copy_rows)(long rows, long cols, const float *x, long ldx, float *y,
                                         long ldy, bool add) {
    if (cols < VL) { /* one partial vector per row */
        if (rows <= 0) return;
        /* Into a flat block (rows next to each other), a row whose whole vector ends inside the
         * block is stored whole: its lanes past cols land on the rows after it, stored after
         * it. The rest (the last row or rows) store their first cols lanes only. */
        const long whole = rows * cols >= VL ? (rows * cols - VL) / cols + 1 : 0;
        /* Those rows are read as whole vectors too: r cols + VL <= rows cols, with ldx >= cols,
         * gives r ldx + VL <= (rows - 1) ldx + cols, inside x's block. */
        if (add && ldy == cols && rows * cols <= 4096) {
            /* y is one flat block: gather x's rows next to each other first, then add the whole
             * block at once. (Adding row by row would read each row of y right after writing
             * the one before it, which shares its vector's span: the CPU stalls on that.) */
            float t[4096];
            long r = 0;
            for (; r < whole; r++) STORE(t + r * cols, LOAD(x + r * ldx));
            for (; r < rows; r++) STOREN(t + r * cols, LOADN(x + r * ldx, cols), cols);
            KV_NAME(acc)(rows * cols, t, y);
            return;
        }
        if (!add && ldy == cols) {
            long r = 0;
            for (; r < whole; r++) STORE(y + r * cols, LOAD(x + r * ldx));
            for (; r < rows; r++) STOREN(y + r * cols, LOADN(x + r * ldx, cols), cols);
            return;
        }
        for (long r = 0; r < rows; r++) {
            const vf v = LOADN(x + r * ldx, cols);
            STOREN(y + r * ldy, add ? LOADN(y + r * ldy, cols) + v : v, cols);
        }
        return;
    }
    for (long r = 0; r < rows; r++)
        if (add) KV_NAME(acc)(cols, x + r * ldx, y + r * ldy);
        else KV_NAME(copy)(cols, x + r * ldx, y + r * ldy);
}

/* concat_rows' rows of whole vectors: `rows` rows of the P parts at src[] (each advanced past
 * them), stored from *y on (advanced too). */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(concat_whole)(int P, long rows, const long *cols, const float **src, float **y) {
    const float *s[AG_CONCAT_MAX_PARTS];
    long c[AG_CONCAT_MAX_PARTS];
    float *d = *y;
    for (int p = 0; p < P; p++) s[p] = src[p], c[p] = cols[p];
    for (long r = 0; r < rows; r++)
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) {
            STORE(d, LOAD(s[p]));
            s[p] += c[p], d += c[p];
        }
    for (int p = 0; p < P; p++) src[p] = s[p];
    *y = d;
}

/* y (rows, T) = the parts x[p] (rows, cols[p]) side by side, T the sum of the cols, when every
 * part's row is narrower than a vector (else false, nothing written): concat's forward for narrow
 * parts, where one copy per part and row (copy_rows) would store each by lanes. Row by row, part
 * by part, each part's row as one whole vector: y is written in order, so its lanes past the
 * part's row land on values stored after it. The whole vector is read from inside x[p]; the
 * rows at the end, where it would reach past x[p] or past y, go by lanes. */
KV_TARGET static bool KV_NAME(concat_rows)(long rows, int parts, const long *cols,
                                           const float *const *x, float *y) {
    if (parts < 1 || parts > AG_CONCAT_MAX_PARTS) return false;
    const float *src[AG_CONCAT_MAX_PARTS];
    long whole = rows; /* rows 0 .. whole-1 go by whole vectors */
    for (int p = 0; p < parts; p++) {
        if (cols[p] >= VL) return false;
        src[p] = x[p];
        /* row r's vector ends inside x[p] while r * cols + VL <= rows * cols */
        const long in_x = rows * cols[p] >= VL ? (rows * cols[p] - VL) / cols[p] + 1 : 0;
        if (in_x < whole) whole = in_x;
    }
    /* Then the last part's vectors end inside y too: (rows - r) cols >= VL for it gives
     * (rows - r - 1) total >= VL - cols, the room its spare lanes need. */
    switch (parts) { /* a constant count of parts: their pointers stay in registers */
    case 2: KV_NAME(concat_whole)(2, whole, cols, src, &y); break;
    case 3: KV_NAME(concat_whole)(3, whole, cols, src, &y); break;
    case 4: KV_NAME(concat_whole)(4, whole, cols, src, &y); break;
    default: KV_NAME(concat_whole)(parts, whole, cols, src, &y); break;
    }
    for (long r = whole; r < rows; r++)
        for (int p = 0; p < parts; p++) {
            STOREN(y, LOADN(src[p], cols[p]), cols[p]);
            src[p] += cols[p], y += cols[p];
        }
    return true;
}

/* ---- the fused dense layer's epilogue and its derivative (ops_linear.c) -------------------- */

/* act(x) on a vector; act is a constant after inlining, so each activation gets its own loop.
 * The same formulas as the activation ops above, so a fused layer gives their bits. */
KV_TARGET static inline __attribute__((always_inline)) vf KV_NAME(act)(ag_act act, vf x) {
    switch (act) {
    case AG_ACT_SIGMOID: return KV_NAME(vsigmoid)(x);
    case AG_ACT_TANH: return KV_NAME(vtanh)(x);
    case AG_ACT_RELU: return SELECT(x > ZERO, x, ZERO);
    case AG_ACT_IDENTITY: break;
    }
    return x;
}

/* y (rows, cols) = act(y + b) for one activation: the bias row added to every row, then the
 * activation, in one pass over the block as one flat array (bias_tile), so that every vector is
 * whole but the last; row by row for rows too wide for a tile. y = act(y) without b. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(bias_act_with)(ag_act act, long rows, long cols, const float *b, float *y) {
    const long n = rows * cols;
    long i = 0;
    if (!b) {
        for (; i + VL <= n; i += VL) STORE(y + i, KV_NAME(act)(act, LOAD(y + i)));
        if (i < n) STOREN(y + i, KV_NAME(act)(act, LOADN(y + i, n - i)), n - i);
        return;
    }
    float buf[BIAS_TILE + VL]; /* room for bias_tile's last vector */
    const float *tile = NULL;
    const long phases = KV_NAME(bias_tile)(cols, b, buf, &tile);
    if (phases) {
        long p = 0;
        if (phases == 3) /* 6, 12 or 24 columns with 8-float vectors (the family net's layers):
                          * whole periods of three vectors, no phase to count */
            for (; i + 3 * VL <= n; i += 3 * VL)
#pragma GCC unroll 3
                for (int q = 0; q < 3; q++)
                    STORE(y + i + q * VL,
                          KV_NAME(act)(act, LOAD(y + i + q * VL) + LOAD(tile + q * VL)));
        if (phases == 1) { /* one vector (1, 2, 4 or 8 columns with 8-float vectors) */
            const vf t = LOAD(tile);
            for (; i + VL <= n; i += VL) STORE(y + i, KV_NAME(act)(act, LOAD(y + i) + t));
        }
        for (; i + VL <= n; i += VL, p = p + 1 == phases ? 0 : p + 1)
            STORE(y + i, KV_NAME(act)(act, LOAD(y + i) + LOAD(tile + p * VL)));
        if (i < n) STOREN(y + i, KV_NAME(act)(act, LOADN(y + i, n - i) + LOAD(tile + p * VL)), n - i);
        return;
    }
    for (long r = 0; r < rows; r++) {
        float *yr = y + r * cols;
        long j = 0;
        for (; j + VL <= cols; j += VL) STORE(yr + j, KV_NAME(act)(act, LOAD(yr + j) + LOAD(b + j)));
        if (j < cols)
            STOREN(yr + j, KV_NAME(act)(act, LOADN(yr + j, cols - j) + LOADN(b + j, cols - j)), cols - j);
    }
}
KV_TARGET static void KV_NAME(bias_act)(long rows, long cols, const float *b, ag_act act, float *y) {
    switch (act) {
    case AG_ACT_SIGMOID: KV_NAME(bias_act_with)(AG_ACT_SIGMOID, rows, cols, b, y); return;
    case AG_ACT_TANH: KV_NAME(bias_act_with)(AG_ACT_TANH, rows, cols, b, y); return;
    case AG_ACT_RELU: KV_NAME(bias_act_with)(AG_ACT_RELU, rows, cols, b, y); return;
    case AG_ACT_IDENTITY: KV_NAME(bias_act_with)(AG_ACT_IDENTITY, rows, cols, b, y); return;
    }
}

/* dz = dy * act'(y), written: the activation vjps above with nothing to add to */
KV_TARGET static inline __attribute__((always_inline)) vf KV_NAME(act_grad_step)(ag_act act, vf y,
                                                                                  vf dy) {
    switch (act) {
    case AG_ACT_SIGMOID: return dy * y * (ONE - y);
    case AG_ACT_TANH: return dy * (ONE - y * y);
    case AG_ACT_RELU: return SELECT(y > ZERO, dy, ZERO); /* y > 0 exactly where x > 0 */
    case AG_ACT_IDENTITY: break;
    }
    return dy;
}
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(act_grad_with)(ag_act act, long n, const float *y, const float *dy, float *dz) {
    long i = 0;
    for (; i + VL <= n; i += VL) STORE(dz + i, KV_NAME(act_grad_step)(act, LOAD(y + i), LOAD(dy + i)));
    if (i < n)
        STOREN(dz + i, KV_NAME(act_grad_step)(act, LOADN(y + i, n - i), LOADN(dy + i, n - i)), n - i);
}
KV_TARGET static void KV_NAME(act_grad)(long n, ag_act act, const float *y, const float *dy,
                                        float *dz) {
    switch (act) {
    case AG_ACT_SIGMOID: KV_NAME(act_grad_with)(AG_ACT_SIGMOID, n, y, dy, dz); return;
    case AG_ACT_TANH: KV_NAME(act_grad_with)(AG_ACT_TANH, n, y, dy, dz); return;
    case AG_ACT_RELU: KV_NAME(act_grad_with)(AG_ACT_RELU, n, y, dy, dz); return;
    case AG_ACT_IDENTITY: KV_NAME(act_grad_with)(AG_ACT_IDENTITY, n, y, dy, dz); return;
    }
}

#include "kernels_simd_gemm.h" /* pack_a, pack_b, macro and their pieces */

#include "kernels_simd_small.h" /* gemm_small and its pieces */

/* ---- the table ------------------------------------------------------------------------------ */

const ag_kernel_table KV_NAME(ag_kernels) = {
    KV_ISA_NAME, MR, NR, KV_MC, KV_KC, KV_NC,
    KV_NAME(pack_a), KV_NAME(pack_b), KV_NAME(macro), KV_NAME(gemm_small),
    KV_NAME(sigmoid), KV_NAME(sigmoid_vjp), KV_NAME(tanh), KV_NAME(tanh_vjp),
    KV_NAME(relu), KV_NAME(relu_vjp), KV_NAME(exp), KV_NAME(add), KV_NAME(acc), KV_NAME(copy),
    KV_NAME(add_row), KV_NAME(acc_colsum), KV_NAME(copy_rows), KV_NAME(diff_acc),
    KV_NAME(sqdiff_sum), KV_NAME(relu_vjp_set), KV_NAME(taps_acc), KV_NAME(bias_act),
    KV_NAME(act_grad), KV_NAME(concat_rows),
};

#undef KV_DRIVE
#undef KV_ELEMENTWISE
#undef MAP1
#undef MAP2
#undef UPDATE
#undef VJP_Y
#undef VJP_X
#undef ONE
#undef ZERO
#undef LOAD
#undef STORE
#undef LOADN
#undef STOREN
#undef SELECT
#undef ZIP_LO
#undef ZIP_HI
#undef UNZIP_EVEN
#undef UNZIP_ODD
#undef vf
#undef vi
#undef vu
#undef BIAS_TILE
#undef CLAMP_ABOVE
#undef CLAMP_BELOW
#undef VL
#undef MR
#undef NR
