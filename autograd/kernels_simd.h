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
 *   KV_GATHER(p, idx)  (optional) the floats p[idx[0]], p[idx[1]], ... (idx a vector of int32)
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

/* m ? a : b, lane by lane (m from a comparison: all ones or all zeros) */
KV_TARGET static inline vf KV_NAME(select)(vi m, vf a, vf b) {
    return (vf)(((vi)a & m) | ((vi)b & ~m));
}
#define SELECT KV_NAME(select)

/* e^x, within 1 ulp: x = n ln2 + f with |f| <= ln2/2 (Cody-Waite: ln2 in two parts), e^f by a
 * degree-7 polynomial (Cephes' expf coefficients), times 2^n built in the exponent bits. 2^n
 * is applied as two factors so that results near overflow and underflow (x > 88.7 -> inf,
 * x < -87.3 -> subnormal or 0) come out as IEEE arithmetic rounds them. NaN stays NaN. */
KV_TARGET static inline vf KV_NAME(vexp)(vf x) {
    const vf hi = KV_SPLAT(89.0f), lo = KV_SPLAT(-104.0f);
    x = SELECT(x > hi, hi, x); /* comparisons with NaN are false: NaN passes through */
    x = SELECT(x < lo, lo, x);
    const vf magic = KV_SPLAT(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    vf t = KV_FMA(x, KV_SPLAT(1.44269504088896341f), magic);
    vf n = t - magic;
    vi ni = (vi)t - (vi)magic;
    vf f = KV_FMA(n, KV_SPLAT(-0.693359375f), x);
    f = KV_FMA(n, KV_SPLAT(2.12194440e-4f), f);
    /* e^f = 1 + f + f^2 ((c0 + c1 f) + f^2 (c2 + c3 f) + f^4 (c4 + c5 f)): the pairs side by side
     * (Estrin's scheme), a shorter chain of dependent operations than one term at a time */
    const vf f2 = f * f, f4 = f2 * f2;
    const vf q0 = KV_FMA(KV_SPLAT(1.6666665459e-1f), f, KV_SPLAT(5.0000001201e-1f));
    const vf q1 = KV_FMA(KV_SPLAT(8.3334519073e-3f), f, KV_SPLAT(4.1665795894e-2f));
    const vf q2 = KV_FMA(KV_SPLAT(1.9875691500e-4f), f, KV_SPLAT(1.3981999507e-3f));
    const vf q = KV_FMA(f4, q2, KV_FMA(f2, q1, q0));
    const vf p = KV_FMA(q, f2, f) + KV_SPLAT(1.0f);
    vi n1 = ni >> 1, n2 = ni - n1;
    vf s1 = (vf)((vu)(n1 + 127) << 23), s2 = (vf)((vu)(n2 + 127) << 23);
    return p * s1 * s2;
}

/* 1 / (1 + e^-x): the paper's squashing function */
KV_TARGET static inline vf KV_NAME(vsigmoid)(vf x) { return KV_SPLAT(1.0f) / (KV_SPLAT(1.0f) + KV_NAME(vexp)(-x)); }

/* tanh x: an odd polynomial (Cephes' tanhf coefficients) for |x| < 0.625, where 1 - 2/(e^2|x|+1)
 * would lose relative accuracy; that formula elsewhere; both on |x|, then x's sign (so that
 * tanh(-0) = -0). */
KV_TARGET static inline vf KV_NAME(vtanh)(vf x) {
    const vi sign = (vi)KV_SPLAT(-0.0f);
    const vf ax = (vf)((vi)x & ~sign);
    const vf big = KV_SPLAT(1.0f) - KV_SPLAT(2.0f) / (KV_NAME(vexp)(ax + ax) + KV_SPLAT(1.0f));
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

/* out += c (y - d): the losses' vjps */
KV_TARGET static void KV_NAME(diff_acc)(long n, float c, const float *y, const float *d,
                                        float *out) {
    const vf cv = KV_SPLAT(c);
    long i = 0;
    for (; i + VL <= n; i += VL) STORE(out + i, KV_FMA(cv, LOAD(y + i) - LOAD(d + i), LOAD(out + i)));
    if (i < n)
        STOREN(out + i, KV_FMA(cv, LOADN(y + i, n - i) - LOADN(d + i, n - i), LOADN(out + i, n - i)), n - i);
}

/* sum of (y - d)^2 in double: the difference in float, its square and the sums in double (one
 * running sum per lane, the lanes added in order at the end) */
typedef float KV_NAME(vfh) __attribute__((vector_size(KV_BYTES / 2)));
typedef double KV_NAME(vd) __attribute__((vector_size(KV_BYTES)));
KV_TARGET static inline void KV_NAME(add_squares)(KV_NAME(vd) *s0, KV_NAME(vd) *s1, vf t) {
    KV_NAME(vfh) lo, hi;
    memcpy(&lo, &t, sizeof lo);
    memcpy(&hi, (const char *)&t + sizeof lo, sizeof hi);
    const KV_NAME(vd) a = __builtin_convertvector(lo, KV_NAME(vd));
    const KV_NAME(vd) b = __builtin_convertvector(hi, KV_NAME(vd));
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

/* y (rows, cols) = a (rows, cols) + b (cols) */
KV_TARGET static void KV_NAME(add_row)(long rows, long cols, const float *a, const float *b,
                                       float *y) {
    if (cols < VL) {
        float tile[VL * VL]; /* phase p: b[(p*VL + l) % cols] for l = 0..VL-1 */
        for (long i = 0, j = 0; i < cols * VL; i++, j = j + 1 == cols ? 0 : j + 1) tile[i] = b[j];
        const long n = rows * cols;
        long i = 0, p = 0;
        for (; i + VL <= n; i += VL, p = p + 1 == cols ? 0 : p + 1)
            STORE(y + i, LOAD(a + i) + LOAD(tile + p * VL));
        if (i < n) STOREN(y + i, LOADN(a + i, n - i) + LOAD(tile + p * VL), n - i);
        return;
    }
    for (long r = 0; r < rows; r++) KV_NAME(add)(cols, a + r * cols, b, y + r * cols);
}

/* y (cols) += the column sums of x (rows, cols). Narrow rows: one running sum per phase, the
 * lanes then added into their columns in order. Wide rows: four running sums (rows 0,4,8..;
 * 1,5,9..; ..) per vector of columns, so that the adds overlap, then (s0 + s1) + (s2 + s3). */
KV_TARGET static void KV_NAME(acc_colsum)(long rows, long cols, const float *x, float *y) {
    if (cols < VL) {
        vf part[VL];
        for (long p = 0; p < cols; p++) part[p] = KV_SPLAT(0.0f);
        const long n = rows * cols;
        long i = 0, p = 0;
        if (cols <= 2) { /* the same sums in registers (a layer of one or two units' bias) */
            vf s0 = KV_SPLAT(0.0f), s1 = s0;
            if (cols == 1)
                for (; i + VL <= n; i += VL) s0 += LOAD(x + i);
            else
                for (; i + 2 * VL <= n; i += 2 * VL) s0 += LOAD(x + i), s1 += LOAD(x + i + VL);
            part[0] = s0;
            if (cols == 2) part[1] = s1;
        }
        for (; i + VL <= n; i += VL, p = p + 1 == cols ? 0 : p + 1) part[p] += LOAD(x + i);
        if (i < n) part[p] += LOADN(x + i, n - i);
        float lanes[VL * VL]; /* flat index f of the phases is in column f % cols */
        for (long q = 0; q < cols; q++) STORE(lanes + q * VL, part[q]);
        for (long j = 0; j < cols; j++) {
            float t = 0.0f;
            for (long f = j; f < cols * VL; f += cols) t += lanes[f];
            y[j] += t;
        }
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
        if (add && ldy == cols && rows * cols <= 4096) {
            /* y is one flat block: gather x's rows next to each other first, then add the whole
             * block at once. (Adding row by row would read each row of y right after writing
             * the one before it, which shares its vector's span: the CPU stalls on that.) */
            float t[4096];
            for (long r = 0; r < rows; r++) STOREN(t + r * cols, LOADN(x + r * ldx, cols), cols);
            KV_NAME(acc)(rows * cols, t, y);
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

/* y (rows, cols) = act(y + b) for one activation: the bias row added to every row (the
 * narrow-row tiles of add_row), then the activation, in one pass; y = act(y) without b. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(bias_act_with)(ag_act act, long rows, long cols, const float *b, float *y) {
    const long n = rows * cols;
    long i = 0;
    if (!b) {
        for (; i + VL <= n; i += VL) STORE(y + i, KV_NAME(act)(act, LOAD(y + i)));
        if (i < n) STOREN(y + i, KV_NAME(act)(act, LOADN(y + i, n - i)), n - i);
        return;
    }
    if (cols < VL) {
        float tile[VL * VL]; /* phase p: b[(p*VL + l) % cols] for l = 0..VL-1 */
        for (long f = 0, j = 0; f < cols * VL; f++, j = j + 1 == cols ? 0 : j + 1) tile[f] = b[j];
        long p = 0;
        for (; i + VL <= n; i += VL, p = p + 1 == cols ? 0 : p + 1)
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

/* ---- gemm: packing ------------------------------------------------------------------------- */

/* Panels of W lanes from a matrix X: for `count` lanes (rows of op(A), columns of op(B)) and kc
 * steps of k, panel p holds for each k the W values X(p*W + l, k), lanes past count being 0.
 * X(i, k) is X[k*ldx + i] when `along` (the lanes are contiguous: a copy), else X[i*ldx + k]
 * (a transpose: read along each lane's row, write across the panel). */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(pack_panels)(int W, int count, int kc, const float *X, long ldx, bool along, float *dst) {
    for (int p = 0; p < count; p += W) {
        const int lanes = count - p < W ? count - p : W;
        float *d = dst + (long)p * kc;
        if (along) {
            for (int k = 0; k < kc; k++) {
                const float *s = X + (long)k * ldx + p;
                if (lanes == W && W % VL == 0) {
                    for (int v = 0; v < W / VL; v++) STORE(d + (long)k * W + v * VL, LOAD(s + v * VL));
                } else {
                    memcpy(d + (long)k * W, s, (size_t)lanes * sizeof(float));
                    for (int l = lanes; l < W; l++) d[(long)k * W + l] = 0.0f;
                }
            }
        } else {
            for (int l = 0; l < W; l++) {
                const float *s = X + (long)(p + l) * ldx;
                if (l < lanes)
                    for (int k = 0; k < kc; k++) d[(long)k * W + l] = s[k];
                else
                    for (int k = 0; k < kc; k++) d[(long)k * W + l] = 0.0f;
            }
        }
    }
}

KV_TARGET static void KV_NAME(pack_a)(int mc, int kc, const float *A, long lda, bool ta,
                                      float *dst) {
    KV_NAME(pack_panels)(MR, mc, kc, A, lda, ta, dst);
}

KV_TARGET static void KV_NAME(pack_b)(int kc, int nc, const float *B, long ldb, bool tb,
                                      float *dst) {
    KV_NAME(pack_panels)(NR, nc, kc, B, ldb, !tb, dst);
}

/* ---- gemm: the micro-kernel and the macro-kernel --------------------------------------------- */

/* Store or add the MR x NV accumulator tile into C (rows <= MR, cols <= NR; row stride ldc):
 * directly when it is whole, through a buffer at the ragged edges (the same adds either way). */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(tile_out)(vf acc[MR][KV_NV], float *restrict c, long ldc, int rows, int cols, bool add) {
    if (rows == MR && cols == NR) {
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
            for (int v = 0; v < KV_NV; v++) {
                float *p = c + r * ldc + v * VL;
                STORE(p, add ? LOAD(p) + acc[r][v] : acc[r][v]);
            }
        return;
    }
    float tile[MR * NR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
        for (int v = 0; v < KV_NV; v++) STORE(tile + r * NR + v * VL, acc[r][v]);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++)
            c[r * ldc + j] = add ? c[r * ldc + j] + tile[r * NR + j] : tile[r * NR + j];
}

/* acc (MR x NV) += the k = 0..kc-1 rank-1 updates: row r of A's tile at row[r][k * step],
 * broadcast against the NV vectors of b's k-th row. `step` is a constant after inlining. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(micro_loop)(vf acc[MR][KV_NV], int kc, const float *const row[MR], long step,
                    const float *restrict b) {
    for (int k = 0; k < kc; k++) {
        vf bv[KV_NV];
#pragma GCC unroll 8
        for (int v = 0; v < KV_NV; v++) bv[v] = LOAD(b + (long)k * NR + v * VL);
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            const vf ar = KV_SPLAT(row[r][k * step]);
#pragma GCC unroll 8
            for (int v = 0; v < KV_NV; v++) acc[r][v] = KV_FMA(ar, bv[v], acc[r][v]);
        }
    }
}

/* C (rows <= MR, cols <= NR) (+)= a @ b (kc, NR panel), the micro-kernel. The MR x NV
 * accumulators stay in registers for the whole k loop; each k broadcasts MR values of a against
 * NV vectors of b. a is a packed panel (kc, MR) when lda is 0; otherwise it is rows of A itself,
 * row stride lda (rows past `rows` repeat row 0: computed, never stored), which saves packing
 * an A that is already row-major. Both read the same values, so they give the same bits. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(micro)(int kc, const float *restrict a, long lda, const float *restrict b,
               float *restrict c, long ldc, int rows, int cols, bool add) {
    vf acc[MR][KV_NV];
    const float *row[MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
#pragma GCC unroll 8
        for (int v = 0; v < KV_NV; v++) acc[r][v] = KV_SPLAT(0.0f);
        row[r] = lda == 0 ? a + r : a + (r < rows ? r * lda : 0);
    }
    if (lda == 0) KV_NAME(micro_loop)(acc, kc, row, MR, b);
    else KV_NAME(micro_loop)(acc, kc, row, 1, b);
    KV_NAME(tile_out)(acc, c, ldc, rows, cols, add);
}

/* C (mc, nc) (+)= A (mc, kc) @ packed B (kc, nc): every micro-tile. A is packed panels when
 * lda is 0, else row-major with row stride lda. The B panel of a column strip stays in L1
 * while the A panels stream past it. */
KV_TARGET static void KV_NAME(macro)(int mc, int nc, int kc, const float *a, long lda,
                                     const float *pb, float *C, long ldc, bool add) {
    for (int jr = 0; jr < nc; jr += NR)
        for (int ir = 0; ir < mc; ir += MR) {
            const int rows = mc - ir < MR ? mc - ir : MR, cols = nc - jr < NR ? nc - jr : NR;
            if (lda == 0)
                KV_NAME(micro)(kc, a + (long)ir * kc, 0, pb + (long)jr * kc, C + ir * ldc + jr, ldc,
                               rows, cols, add);
            else
                KV_NAME(micro)(kc, a + (long)ir * lda, lda, pb + (long)jr * kc, C + ir * ldc + jr,
                               ldc, rows, cols, add);
        }
}

/* ---- gemm: small shapes, no packing --------------------------------------------------------- */

/* Rows i0 .. i0+rows-1 (rows <= R, R = 4 or 8, a constant after inlining) of one strip of
 * w <= VL columns of C (+)= op(A) @ B[:, strip], B not transposed: R accumulators in
 * registers while the K rank-1 updates go in, k in order (R independent sums keep the FMA
 * units busy despite their latency). Named accumulators, not an array, so that they stay in
 * registers; past the last row the offsets repeat row i0 (computed, never stored). `full`
 * (w == VL) is a constant too, so each case gets its own loop without tests. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(small_block)(int R, int rows, int N, int K, const float *a, long si, long sk,
                     const float *B, long ldb, float *c, bool accumulate, long w, bool full) {
#define LD(p) (full ? LOAD(p) : LOADN(p, w))
#define ST(p, v) (full ? STORE(p, v) : STOREN(p, v, w))
#define OFF(r) (rows > (r) ? (r) * si : 0)
    const long o1 = OFF(1), o2 = OFF(2), o3 = OFF(3), o4 = OFF(4), o5 = OFF(5), o6 = OFF(6),
               o7 = OFF(7);
#undef OFF
    vf c0 = KV_SPLAT(0.0f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    if (accumulate) {
        c0 = LD(c);
        if (rows > 1) c1 = LD(c + N);
        if (rows > 2) c2 = LD(c + 2 * N);
        if (rows > 3) c3 = LD(c + 3 * N);
        if (rows > 4) c4 = LD(c + 4 * N);
        if (rows > 5) c5 = LD(c + 5 * N);
        if (rows > 6) c6 = LD(c + 6 * N);
        if (rows > 7) c7 = LD(c + 7 * N);
    }
    for (int k = 0; k < K; k++) {
        const vf b = LD(B + k * ldb);
        const float *ak = a + k * sk;
        c0 = KV_FMA(KV_SPLAT(ak[0]), b, c0);
        c1 = KV_FMA(KV_SPLAT(ak[o1]), b, c1);
        c2 = KV_FMA(KV_SPLAT(ak[o2]), b, c2);
        c3 = KV_FMA(KV_SPLAT(ak[o3]), b, c3);
        if (R > 4) {
            c4 = KV_FMA(KV_SPLAT(ak[o4]), b, c4);
            c5 = KV_FMA(KV_SPLAT(ak[o5]), b, c5);
            c6 = KV_FMA(KV_SPLAT(ak[o6]), b, c6);
            c7 = KV_FMA(KV_SPLAT(ak[o7]), b, c7);
        }
    }
    ST(c, c0);
    if (rows > 1) ST(c + N, c1);
    if (rows > 2) ST(c + 2 * N, c2);
    if (rows > 3) ST(c + 3 * N, c3);
    if (rows > 4) ST(c + 4 * N, c4);
    if (rows > 5) ST(c + 5 * N, c5);
    if (rows > 6) ST(c + 6 * N, c6);
    if (rows > 7) ST(c + 7 * N, c7);
#undef LD
#undef ST
}

/* One strip of columns, eight rows at a time; four when no more than four are left. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(small_strip)(int M, int N, int K, const float *A, long si, long sk, const float *B,
                     long ldb, float *C, bool accumulate, long w, bool full) {
    for (int i = 0; i < M; i += 8) {
        const int rows = M - i < 8 ? M - i : 8;
        if (rows > 4)
            KV_NAME(small_block)(8, rows, N, K, A + i * si, si, sk, B, ldb, C + (long)i * N,
                                 accumulate, w, full);
        else
            KV_NAME(small_block)(4, rows, N, K, A + i * si, si, sk, B, ldb, C + (long)i * N,
                                 accumulate, w, full);
    }
}

/* C (+)= op(A) @ op(B) for shapes too small to pay for packing, a strip of VL columns at a
 * time (the last one partial). A transposed B is first copied to the stack the right way round
 * (or, when too big for that, each element is a dot product). */
/* Rows i0 .. i0+rows-1 (rows <= 6) of a strip of VL + w columns of C (+)= op(A) @ B[:, strip]
 * (0 < w <= VL; `full`, w == VL, is a constant after inlining): two vectors per row, so that each
 * broadcast of op(A)[i,k] serves two multiply-adds; 12 accumulators. Past the last row the
 * offsets repeat row i0 (computed, never stored). k in order, as small_block. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(small_block2)(int rows, int N, int K, const float *a, long si, long sk, const float *B,
                      long ldb, float *c, bool accumulate, long w, bool full) {
#define LD2(p) (full ? LOAD(p) : LOADN(p, w))
#define ST2(p, v) (full ? STORE(p, v) : STOREN(p, v, w))
#define OFF(r) (rows > (r) ? (r) * si : 0)
    const long o1 = OFF(1), o2 = OFF(2), o3 = OFF(3), o4 = OFF(4), o5 = OFF(5);
#undef OFF
    vf c00 = KV_SPLAT(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
       c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    if (accumulate) {
        c00 = LOAD(c), c01 = LD2(c + VL);
        if (rows > 1) c10 = LOAD(c + N), c11 = LD2(c + N + VL);
        if (rows > 2) c20 = LOAD(c + 2 * N), c21 = LD2(c + 2 * N + VL);
        if (rows > 3) c30 = LOAD(c + 3 * N), c31 = LD2(c + 3 * N + VL);
        if (rows > 4) c40 = LOAD(c + 4 * N), c41 = LD2(c + 4 * N + VL);
        if (rows > 5) c50 = LOAD(c + 5 * N), c51 = LD2(c + 5 * N + VL);
    }
    for (int k = 0; k < K; k++) {
        const vf b0 = LOAD(B + k * ldb), b1 = LD2(B + k * ldb + VL);
        const float *ak = a + k * sk;
        vf x = KV_SPLAT(ak[0]);
        c00 = KV_FMA(x, b0, c00), c01 = KV_FMA(x, b1, c01);
        x = KV_SPLAT(ak[o1]);
        c10 = KV_FMA(x, b0, c10), c11 = KV_FMA(x, b1, c11);
        x = KV_SPLAT(ak[o2]);
        c20 = KV_FMA(x, b0, c20), c21 = KV_FMA(x, b1, c21);
        x = KV_SPLAT(ak[o3]);
        c30 = KV_FMA(x, b0, c30), c31 = KV_FMA(x, b1, c31);
        x = KV_SPLAT(ak[o4]);
        c40 = KV_FMA(x, b0, c40), c41 = KV_FMA(x, b1, c41);
        x = KV_SPLAT(ak[o5]);
        c50 = KV_FMA(x, b0, c50), c51 = KV_FMA(x, b1, c51);
    }
    STORE(c, c00), ST2(c + VL, c01);
    if (rows > 1) STORE(c + N, c10), ST2(c + N + VL, c11);
    if (rows > 2) STORE(c + 2 * N, c20), ST2(c + 2 * N + VL, c21);
    if (rows > 3) STORE(c + 3 * N, c30), ST2(c + 3 * N + VL, c31);
    if (rows > 4) STORE(c + 4 * N, c40), ST2(c + 4 * N + VL, c41);
    if (rows > 5) STORE(c + 5 * N, c50), ST2(c + 5 * N + VL, c51);
#undef LD2
#undef ST2
}

/* A strip of VL + w columns, six rows at a time. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(small_strip2)(int M, int N, int K, const float *A, long si, long sk, const float *B,
                      long ldb, float *C, bool accumulate, long w, bool full) {
    for (int i = 0; i < M; i += 6)
        KV_NAME(small_block2)(M - i < 6 ? M - i : 6, N, K, A + i * si, si, sk, B, ldb,
                              C + (long)i * N, accumulate, w, full);
}

KV_TARGET static void KV_NAME(small_rows)(int M, int N, int K, const float *A, bool ta,
                                          const float *B, bool tb, float *C, bool accumulate) {
    const long lda = ta ? M : K;
    long ldb = tb ? K : N;
    float bt[AG_SMALL_BT];
    if (tb && (long)N * K <= AG_SMALL_BT) {
        for (int j = 0; j < N; j++)
            for (int k = 0; k < K; k++) bt[(long)k * N + j] = B[(long)j * K + k];
        B = bt, ldb = N, tb = false;
    }
    if (tb) { /* C[i,j] (+)= sum_k op(A)[i,k] B[j,k] */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float s = accumulate ? C[(long)i * N + j] : 0.0f;
                for (int k = 0; k < K; k++)
                    s += (ta ? A[(long)k * lda + i] : A[(long)i * lda + k]) * B[(long)j * ldb + k];
                C[(long)i * N + j] = s;
            }
        return;
    }
    const long si = ta ? 1 : lda, sk = ta ? lda : 1; /* op(A)[i,k] = A[i*si + k*sk] */
    int j = 0;
    if (M >= 6) { /* strips of two vectors where there is more than one vector of columns left */
        for (; N - j > VL; j += 2 * VL) {
            if (N - j >= 2 * VL)
                KV_NAME(small_strip2)(M, N, K, A, si, sk, B + j, ldb, C + j, accumulate, VL, true);
            else
                KV_NAME(small_strip2)(M, N, K, A, si, sk, B + j, ldb, C + j, accumulate, N - j - VL, false);
        }
    }
    for (; j + VL <= N; j += VL) KV_NAME(small_strip)(M, N, K, A, si, sk, B + j, ldb, C + j, accumulate, VL, true);
    if (j < N) KV_NAME(small_strip)(M, N, K, A, si, sk, B + j, ldb, C + j, accumulate, N - j, false);
}

/* Columns j .. j+w-1 (w <= VL; `full`, w == VL, and R, 1 or 2, are constants after inlining) of
 * C (R rows, row stride N) (+)= a (R, K) @ B (K, .), B's rows ldb apart, op(a)[r,k] being
 * a[r*sr + k*sk]: one vector of each row of C, its K multiply-adds in order. When `gathered`
 * (a constant; full strips only), B is given as its transpose, rows K apart: element (k, l) is
 * B[k + l*K], a gather with the offsets gidx. */
#ifdef KV_GATHER
#define FEW_ROWS_B(k) (gathered ? (vf)KV_GATHER(B + (k), *gidx) : LD(B + (k) * ldb))
#else
#define FEW_ROWS_B(k) LD(B + (k) * ldb)
#endif
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(few_rows_strip)(int R, bool full, long w, int N, int K, const float *a, long sr, long sk,
                        const float *B, long ldb, float *C, bool accumulate, bool gathered,
                        const vi *gidx) {
    (void)gathered, (void)gidx;
#define LD(p) (full ? LOAD(p) : LOADN(p, w))
#define STEP(k)                                                                                 \
    do {                                                                                        \
        const vf b_ = FEW_ROWS_B(k);                                                            \
        c0 = KV_FMA(KV_SPLAT(a[(k) * sk]), b_, c0);                                             \
        if (R > 1) c1 = KV_FMA(KV_SPLAT(a[sr + (k) * sk]), b_, c1);                             \
    } while (0)
    vf c0 = KV_SPLAT(0.0f), c1 = c0;
    if (accumulate) {
        c0 = LD(C);
        if (R > 1) c1 = LD(C + N);
    }
    int k = 0;
    for (; k + 4 <= K; k += 4) { /* four steps at a time: fewer instructions on the loop */
        STEP(k);
        STEP(k + 1);
        STEP(k + 2);
        STEP(k + 3);
    }
    for (; k < K; k++) STEP(k);
    if (full) {
        STORE(C, c0);
        if (R > 1) STORE(C + N, c1);
    } else {
        STOREN(C, c0, w);
        if (R > 1) STOREN(C + N, c1, w);
    }
#undef STEP
#undef LD
}
/* C (R rows, N columns) (+)= op(a) (R, K) @ B (K, N), a strip of VL columns at a time. Made for
 * the transposes of one- and two-column products (gemm_small), whose rows are long and whose
 * k loops may be as short as one step. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(few_rows_with)(int R, int N, int K, const float *a, long sr, long sk, const float *B,
                       long ldb, float *C, bool accumulate) {
    long j = 0;
    for (; j + VL <= N; j += VL)
        KV_NAME(few_rows_strip)(R, true, VL, N, K, a, sr, sk, B + j, ldb, C + j, accumulate, false, NULL);
    if (j < N)
        KV_NAME(few_rows_strip)(R, false, N - j, N, K, a, sr, sk, B + j, ldb, C + j, accumulate, false, NULL);
}
/* C (M = 1 or 2 rows, N) (+)= op(A) (M,K) @ B (K,N), B not transposed (row stride N). */
KV_TARGET static void KV_NAME(few_rows)(int M, int N, int K, const float *A, bool ta,
                                        const float *B, float *C, bool accumulate) {
    const long sr = ta ? 1 : K, sk = ta ? M : 1;
    if (M > 1) KV_NAME(few_rows_with)(2, N, K, A, sr, sk, B, N, C, accumulate);
    else KV_NAME(few_rows_with)(1, N, K, A, sr, sk, B, N, C, accumulate);
}
#ifdef KV_GATHER
/* The same with B given as its transpose Bt, row-major (N, K) (a layer's input X, when C^T is
 * (X W)^T): each vector of B's row k gathered from Bt's column k. N is a multiple of VL. */
KV_TARGET static void KV_NAME(few_rows_gathered)(int M, int N, int K, const float *A, bool ta,
                                                 const float *Bt, float *C, bool accumulate) {
    const long sr = ta ? 1 : K, sk = ta ? M : 1;
    vi idx;
    for (int l = 0; l < VL; l++) idx[l] = l * K;
    for (long j = 0; j < N; j += VL)
        if (M > 1)
            KV_NAME(few_rows_strip)(2, true, VL, N, K, A, sr, sk, Bt + j * K, 0, C + j, accumulate, true, &idx);
        else
            KV_NAME(few_rows_strip)(1, true, VL, N, K, A, sr, sk, Bt + j * K, 0, C + j, accumulate, true, &idx);
}
#endif
#undef FEW_ROWS_B

/* ZIP_LO(a, b) = a0 b0 a1 b1 ... over the first halves of a and b, ZIP_HI the same over the
 * second halves; UNZIP_EVEN(a, b) the even lanes of a then of b, UNZIP_ODD the odd ones (where
 * the compiler has __builtin_shufflevector). */
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#if KV_BYTES == 16
#define ZIP_LO(a, b) __builtin_shufflevector(a, b, 0, 4, 1, 5)
#define ZIP_HI(a, b) __builtin_shufflevector(a, b, 2, 6, 3, 7)
#define UNZIP_EVEN(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6)
#define UNZIP_ODD(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7)
#elif KV_BYTES == 32
#define ZIP_LO(a, b) __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define ZIP_HI(a, b) __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
#define UNZIP_EVEN(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#define UNZIP_ODD(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15)
#elif KV_BYTES == 64
#define ZIP_LO(a, b) __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define ZIP_HI(a, b) __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
#define UNZIP_EVEN(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
#define UNZIP_ODD(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
#endif
#endif
#endif

/* xt (cols, rows) = x (rows, cols) transposed, VL rows at a time: two columns by splitting two
 * vectors into their even and odd lanes, more by gathers (a column of VL rows is one strided
 * load) where the instruction set has them; the rest element by element. */
KV_TARGET static void KV_NAME(transpose)(int rows, int cols, const float *x, float *xt) {
    int i = 0;
#ifdef UNZIP_EVEN
    if (cols == 2) /* two columns: VL rows are two vectors, their even and odd lanes */
        for (; i + VL <= rows; i += VL) {
            const vf a = LOAD(x + 2 * i), b = LOAD(x + 2 * i + VL);
            STORE(xt + i, UNZIP_EVEN(a, b));
            STORE(xt + rows + i, UNZIP_ODD(a, b));
        }
#endif
#ifdef KV_GATHER
    vi idx;
    for (int l = 0; l < VL; l++) idx[l] = l * cols;
    for (; i + VL <= rows; i += VL)
        for (int j = 0; j < cols; j++) STORE(xt + (long)j * rows + i, KV_GATHER(x + (long)i * cols + j, idx));
#endif
    for (int j = 0; j < cols; j++)
        for (int r = i; r < rows; r++) xt[(long)j * rows + r] = x[(long)r * cols + j];
}

/* Whether C (M,N) is better computed as its transpose, C^T = op(B)^T @ op(A)^T (N,M), with C's
 * rows along the vectors' lanes: when C has one or two columns, they fill one or two lanes of
 * each vector, while its rows would fill them all. The price is copies: C^T back into C (not
 * for one column: C and C^T are the same memory then), C into C^T first when accumulating,
 * and op(A)^T unless A is stored transposed (its rows are op(A)'s columns then). Counted in
 * vector steps: a row of vectors costs its K multiply-adds plus its loads and stores (masked
 * ones, at the ragged edge of a narrow C, count three); a copied element half a step with
 * gathers and interleaving vectors (KV_GATHER, ZIP_LO), two without. */
KV_TARGET static inline bool KV_NAME(rows_in_lanes)(int M, int N, int K, bool ta, bool accumulate) {
    if (N > 2 || (long)M * N > AG_SMALL_BT || (!ta && (long)M * K > AG_SMALL_BT)) return false;
#ifdef KV_GATHER
    const long gather2 = 1; /* twice the cost of an element copied by a gather */
#else
    const long gather2 = 4;
#endif
#ifdef ZIP_LO
    const long zip2 = 1;
#else
    const long zip2 = 4;
#endif
    const long acc = accumulate ? 1 : 0;
    const long by_cols = 2 * (long)M * ((N + VL - 1) / VL) * (K + 3 * acc + 3);
    long by_rows = 2 * (long)N * ((M + VL - 1) / VL) * (K + acc + 1);
    if (!ta) by_rows += gather2 * (long)M * K;
    if (N == 2) by_rows += zip2 * (long)M * N + acc * gather2 * (long)M * N;
    return by_rows < by_cols;
}

/* C (+)= op(A) @ op(B), small shapes: as it is (small_rows), or as its transpose (rows_in_lanes,
 * few_rows). Either way each element of C is C's old value (or 0) plus the products over k in
 * order, one fused multiply-add at a time: the same bits whichever way it is computed. */
KV_TARGET static void KV_NAME(gemm_small)(int M, int N, int K, const float *A, bool ta,
                                          const float *B, bool tb, float *C, bool accumulate) {
    if (K == 1) ta = true, tb = false; /* (M,1) and (1,N) read the same either way round */
    if (!KV_NAME(rows_in_lanes)(M, N, K, ta, accumulate)) {
        KV_NAME(small_rows)(M, N, K, A, ta, B, tb, C, accumulate);
        return;
    }
    float at[AG_SMALL_BT], ct[AG_SMALL_BT];
    float *c = N == 1 ? C : ct;
    if (N > 1 && accumulate) KV_NAME(transpose)(M, N, C, ct);
    /* C^T (N,M) = op(B)^T (N,K) @ op(A)^T (K,M): B is op(B)^T stored transposed unless tb */
    bool done = false;
#ifdef KV_GATHER
    if (!ta && K > 2 && M % VL == 0) { /* op(A)^T's rows gathered from A as they are needed */
        KV_NAME(few_rows_gathered)(N, M, K, B, !tb, A, c, accumulate);
        done = true;
    }
#endif
    if (!done) {
        if (!ta) KV_NAME(transpose)(M, K, A, at), A = at; /* op(A)^T, stored (K,M) */
        KV_NAME(few_rows)(N, M, K, B, !tb, A, c, accumulate);
    }
    if (N == 2) { /* C's rows are the two rows of C^T side by side: interleave them */
        int i = 0;
#ifdef ZIP_LO
        for (; i + VL <= M; i += VL) {
            const vf a = LOAD(ct + i), b = LOAD(ct + M + i);
            STORE(C + 2 * i, ZIP_LO(a, b));
            STORE(C + 2 * i + VL, ZIP_HI(a, b));
        }
#endif
        for (; i < M; i++) C[2 * i] = ct[i], C[2 * i + 1] = ct[M + i];
    }
}

/* ---- the table ------------------------------------------------------------------------------ */

const ag_kernel_table KV_NAME(ag_kernels) = {
    KV_ISA_NAME, MR, NR, KV_MC, KV_KC, KV_NC,
    KV_NAME(pack_a), KV_NAME(pack_b), KV_NAME(macro), KV_NAME(gemm_small),
    KV_NAME(sigmoid), KV_NAME(sigmoid_vjp), KV_NAME(tanh), KV_NAME(tanh_vjp),
    KV_NAME(relu), KV_NAME(relu_vjp), KV_NAME(exp), KV_NAME(add), KV_NAME(acc), KV_NAME(copy),
    KV_NAME(add_row), KV_NAME(acc_colsum), KV_NAME(copy_rows), KV_NAME(diff_acc),
    KV_NAME(sqdiff_sum), KV_NAME(bias_act), KV_NAME(act_grad),
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
#undef VL
#undef MR
#undef NR
