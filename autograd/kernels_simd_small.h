/*
 * kernels_simd_small.h -- the matrix product for shapes too small to pack (gemm_small), part of
 * the kernels_simd.h template: included by it, once per instruction set, with its macros
 * (KV_NAME, VL, LOAD, ...) defined (no include guard on purpose). Split off to keep each file
 * short enough to read.
 */

/* ---- gemm: small shapes, no packing --------------------------------------------------------- */

/* Rows i0 .. i0+rows-1 (rows <= R, R = 4, 8 or 12, a constant after inlining) of one strip of
 * w <= VL columns of C (+)= op(A) @ B[:, strip], B not transposed: R accumulators in
 * registers while the K rank-1 updates go in, k in order (R independent sums keep the FMA
 * units busy despite their latency). Named accumulators, not an array, so that they stay in
 * registers; past the last row the offsets repeat row i0 (computed, never stored). `full`
 * (w == VL) is a constant too, so each case gets its own loop without tests. With `spill` (the
 * strip is a whole row of C of at least VL/2 columns, so that a whole vector reaches no further
 * than the row after next), each row of a partial strip but the block's last is stored as a
 * whole vector: its lanes past w land on the rows after it, which the next stores overwrite.
 * The block's last row stores its first w lanes only (STOREN): past it are the next block's
 * rows, whose old values may still be read, or C's end. Few partial stores: AVX2's masked
 * store is slow on the Zen 3 (kernels_x86.c). */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(small_block)(int R, int rows, int N, int K, const float *a, long si, long sk,
                     const float *B, long ldb, float *c, bool accumulate, long w, bool full,
                     bool spill) {
#define LD(p) (full ? LOAD(p) : LOADN(p, w))
#define ST(r, p, v) (full || (spill && rows > (r) + 1) ? STORE(p, v) : STOREN(p, v, w))
#define OFF(r) (rows > (r) ? (r) * si : 0)
    const long o1 = OFF(1), o2 = OFF(2), o3 = OFF(3), o4 = OFF(4), o5 = OFF(5), o6 = OFF(6),
               o7 = OFF(7), o8 = OFF(8), o9 = OFF(9), o10 = OFF(10), o11 = OFF(11);
#undef OFF
    vf c0 = KV_SPLAT(0.0f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0,
       c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    if (accumulate) {
        c0 = LD(c);
        if (rows > 1) c1 = LD(c + N);
        if (rows > 2) c2 = LD(c + 2 * N);
        if (rows > 3) c3 = LD(c + 3 * N);
        if (rows > 4) c4 = LD(c + 4 * N);
        if (rows > 5) c5 = LD(c + 5 * N);
        if (rows > 6) c6 = LD(c + 6 * N);
        if (rows > 7) c7 = LD(c + 7 * N);
        if (rows > 8) c8 = LD(c + 8 * N);
        if (rows > 9) c9 = LD(c + 9 * N);
        if (rows > 10) c10 = LD(c + 10 * N);
        if (rows > 11) c11 = LD(c + 11 * N);
    }
#pragma GCC unroll 4
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
        if (R > 8) {
            c8 = KV_FMA(KV_SPLAT(ak[o8]), b, c8);
            c9 = KV_FMA(KV_SPLAT(ak[o9]), b, c9);
            c10 = KV_FMA(KV_SPLAT(ak[o10]), b, c10);
            c11 = KV_FMA(KV_SPLAT(ak[o11]), b, c11);
        }
    }
    ST(0, c, c0);
    if (rows > 1) ST(1, c + N, c1);
    if (rows > 2) ST(2, c + 2 * N, c2);
    if (rows > 3) ST(3, c + 3 * N, c3);
    if (rows > 4) ST(4, c + 4 * N, c4);
    if (rows > 5) ST(5, c + 5 * N, c5);
    if (rows > 6) ST(6, c + 6 * N, c6);
    if (rows > 7) ST(7, c + 7 * N, c7);
    if (rows > 8) ST(8, c + 8 * N, c8);
    if (rows > 9) ST(9, c + 9 * N, c9);
    if (rows > 10) ST(10, c + 10 * N, c10);
    if (rows > 11) ST(11, c + 11 * N, c11);
#undef LD
#undef ST
}

/* One strip of columns, RB rows at a time (RB = 8, or 12 where op(A)'s rows are adjacent in
 * memory and their offsets constants; whole blocks have a constant row count and test none);
 * then the rest (fewer than RB rows) as one block of twelve (when RB is), eight or four. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(small_strip)(int RB, int M, int N, int K, const float *A, long si, long sk,
                     const float *B, long ldb, float *C, bool accumulate, long w, bool full,
                     bool spill) {
    int i = 0;
    for (; i + RB <= M; i += RB)
        KV_NAME(small_block)(RB, RB, N, K, A + i * si, si, sk, B, ldb, C + (long)i * N,
                             accumulate, w, full, spill);
    const int rows = M - i;
    if (RB > 8 && rows > 8)
        KV_NAME(small_block)(12, rows, N, K, A + i * si, si, sk, B, ldb, C + (long)i * N,
                             accumulate, w, full, spill);
    else if (rows > 4)
        KV_NAME(small_block)(8, rows, N, K, A + i * si, si, sk, B, ldb, C + (long)i * N,
                             accumulate, w, full, spill);
    else if (rows > 0)
        KV_NAME(small_block)(4, rows, N, K, A + i * si, si, sk, B, ldb, C + (long)i * N,
                             accumulate, w, full, spill);
}

/* Rows i0 .. i0+rows-1 (rows <= 6) of a strip of VL + w columns of C (+)= op(A) @ B[:, strip]
 * (0 < w <= VL; `full`, w == VL, is a constant after inlining): two vectors per row, so that each
 * broadcast of op(A)[i,k] serves two multiply-adds; 12 accumulators. Past the last row the
 * offsets repeat row i0 (computed, never stored). k in order, and `spill` as small_block. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(small_block2)(int rows, int N, int K, const float *a, long si, long sk, const float *B,
                      long ldb, float *c, bool accumulate, long w, bool full, bool spill) {
#define LD2(p) (full ? LOAD(p) : LOADN(p, w))
#define ST2(r, p, v) (full || (spill && rows > (r) + 1) ? STORE(p, v) : STOREN(p, v, w))
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
#pragma GCC unroll 4
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
    STORE(c, c00), ST2(0, c + VL, c01);
    if (rows > 1) STORE(c + N, c10), ST2(1, c + N + VL, c11);
    if (rows > 2) STORE(c + 2 * N, c20), ST2(2, c + 2 * N + VL, c21);
    if (rows > 3) STORE(c + 3 * N, c30), ST2(3, c + 3 * N + VL, c31);
    if (rows > 4) STORE(c + 4 * N, c40), ST2(4, c + 4 * N + VL, c41);
    if (rows > 5) STORE(c + 5 * N, c50), ST2(5, c + 5 * N + VL, c51);
#undef LD2
#undef ST2
}

/* A strip of VL + w columns, six rows at a time. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(small_strip2)(int M, int N, int K, const float *A, long si, long sk, const float *B,
                      long ldb, float *C, bool accumulate, long w, bool full, bool spill) {
    int i = 0;
    for (; i + 6 <= M; i += 6) /* whole blocks: a constant row count */
        KV_NAME(small_block2)(6, N, K, A + i * si, si, sk, B, ldb, C + (long)i * N, accumulate,
                              w, full, spill);
    if (i < M)
        KV_NAME(small_block2)(M - i, N, K, A + i * si, si, sk, B, ldb, C + (long)i * N,
                              accumulate, w, full, spill);
}

/* C (+)= op(A) @ B, B not transposed, a strip of columns at a time; op(A)[i,k] = A[i*si + k*sk],
 * where one of si, sk is 1 (a constant after inlining: the rows' offsets in A, or the steps
 * along k, are then constants, and fewer registers are needed for the others). */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(small_cols)(int RB, int M, int N, int K, const float *A, long si, long sk,
                    const float *B, long ldb, float *C, bool accumulate) {
    int j = 0;
    if (M >= 6) { /* strips of two vectors where there is more than one vector of columns left */
        for (; N - j > VL; j += 2 * VL) {
            if (N - j >= 2 * VL)
                KV_NAME(small_strip2)(M, N, K, A, si, sk, B + j, ldb, C + j, accumulate, VL, true, false);
            else /* the last strip: a whole row when it is the first */
                KV_NAME(small_strip2)(M, N, K, A, si, sk, B + j, ldb, C + j, accumulate, N - j - VL, false, j == 0);
        }
    }
    for (; j + VL <= N; j += VL) KV_NAME(small_strip)(RB, M, N, K, A, si, sk, B + j, ldb, C + j, accumulate, VL, true, false);
    if (j < N) KV_NAME(small_strip)(RB, M, N, K, A, si, sk, B + j, ldb, C + j, accumulate, N - j, false, j == 0 && 2 * N >= VL);
}

/* C (+)= op(A) @ op(B) for shapes too small to pay for packing, a strip of VL columns at a
 * time (the last one partial). A transposed B is first copied to the stack the right way round
 * (or, when too big for that, each element is a dot product). */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(small_rows)(int M, int N, int K, const float *A, bool ta, const float *B, bool tb,
                    float *C, bool accumulate) {
    const long lda = ta ? M : K;
    long ldb = tb ? K : N;
    float bt[AG_SMALL_BT];
    if (tb && (long)N * K <= AG_SMALL_BT) {
        for (int j = 0; j < N; j++)
#pragma GCC unroll 8
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
    /* ta and accumulate constants in each call: each case gets code without tests of them */
    if (ta && accumulate) KV_NAME(small_cols)(12, M, N, K, A, 1, lda, B, ldb, C, true);
    else if (ta) KV_NAME(small_cols)(12, M, N, K, A, 1, lda, B, ldb, C, false);
    else if (accumulate) KV_NAME(small_cols)(8, M, N, K, A, lda, 1, B, ldb, C, true);
    else KV_NAME(small_cols)(8, M, N, K, A, lda, 1, B, ldb, C, false);
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
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(few_rows)(int M, int N, int K, const float *A, bool ta, const float *B, float *C,
                  bool accumulate) {
    const long sr = ta ? 1 : K, sk = ta ? M : 1;
    if (M > 1) KV_NAME(few_rows_with)(2, N, K, A, sr, sk, B, N, C, accumulate);
    else KV_NAME(few_rows_with)(1, N, K, A, sr, sk, B, N, C, accumulate);
}
#ifdef KV_GATHER
/* The same with B given as its transpose Bt, row-major (N, K) (a layer's input X, when C^T is
 * (X W)^T): each vector of B's row k gathered from Bt's column k. N is a multiple of VL. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(few_rows_gathered)(int M, int N, int K, const float *A, bool ta, const float *Bt,
                           float *C, bool accumulate) {
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
